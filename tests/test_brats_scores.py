"""BraTS regions and scoring rules: hand-computed values, and a cross-check against the BraTS 2023 metrics script and
the BraTS_evaluation package on the synthetic cases of ``tests/brats_cases.py``."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from brats_cases import box, cases  # tests/ is on sys.path under pytest

from sambook.errors import DataError
from sambook.evaluate import brats
from sambook.evaluate.regions import region_masks

CASES = cases()
NAN, INF = math.nan, math.inf

# (legacy Dice, legacy HD95 mm, lesion-wise Dice, lesion-wise HD95 mm) worked out by hand (see tests/brats_cases.py
# for the geometry; the cube is 6^3 = 216 voxels, a face 36 voxels = 1/6 of its surface). HD95 values are those where
# the 95th percentile falls on a whole face at one distance; None where it does not (checked against the script).
HAND = {
    "both_empty": (1.0, 0.0, 1.0, 0.0),
    "pred_empty": (0.0, 374.0, 0.0, 374.0),
    "gt_empty": (0.0, 374.0, 0.0, 374.0),
    "identical": (1.0, 0.0, 1.0, 0.0),
    "far_small_fp": (2 * 216 / (216 + 8 + 216), None, (1 + 0) / (1 + 1), (0 + 374) / (1 + 1)),
    "small_lesion": (2 * 216 / (216 + 216 + 27), None, 1.0, 0.0),  # the 27-voxel lesion is dropped
    "disjoint_far": (0.0, 16.0, 0 / (1 + 1), (374 + 374) / (1 + 1)),  # far faces 16 apart
    "shift_one": (2 * 180 / 432, 1.0, 2 * 180 / 432, 1.0),
    "within_dilation": (0.0, 8.0, 0.0, 8.0),  # matched: a lesion with Dice 0, no false positive
    "diagonal_voxel": (2 * 216 / 433, 0.0, (1 + 0) / (1 + 1), (0 + 374) / (1 + 1)),  # 6 of 222 faces: < 5 %
    "merged_lesions": (2 * 216 / 648, 10.0, 2 * 216 / 648, 10.0),  # one lesion of 432 voxels
    "anisotropic_shift": (2 * 180 / 432, 2.5, 2 * 180 / 432, 2.5),
    "anisotropic_floor": (2 * 216 / (216 + 216 + 27), None, (1 + 0) / (1 + 1), (0 + 374) / (1 + 1)),  # 67.5 mm3 kept
    "at_the_border": (2 * 180 / 432, 1.0, 2 * 180 / 432, 1.0),
}

# Printed by `python tests/brats_reference.py official PATH` with the BraTS 2023 metrics script
# (rachitsaluja/BraTS-2023-Metrics, commit 43c9052, metrics.py with its surface_distance copy) under the versions
# its requirements.txt pins (numpy 1.24.3, pandas 1.3.4, scipy 1.11.1, connected-components-3d 3.12.1).
OFFICIAL_2023 = {
    "both_empty": (1.0, 0.0, 1.0, 0.0),
    "pred_empty": (0.0, 374.0, 0.0, 374.0),
    "gt_empty": (0.0, 374.0, 0.0, 374.0),
    "identical": (1.0, 0.0, 1.0, 0.0),
    "far_small_fp": (0.9818181818181818, 22.0, 0.5, 187.0),
    "small_lesion": (0.9411764705882353, 24.289915602982237, 1.0, 0.0),
    "disjoint_far": (0.0, 16.0, 0.0, 374.0),
    "shift_one": (0.8333333333333334, 1.0, 0.8333333333333334, 1.0),
    "within_dilation": (0.0, 8.0, 0.0, 8.0),
    "diagonal_voxel": (0.9976905311778291, 0.0, 0.5, 187.0),
    "merged_lesions": (0.6666666666666666, 10.0, 0.6666666666666666, 10.0),
    "anisotropic_shift": (0.8333333333333334, 2.5, 0.8333333333333334, 2.5),
    "anisotropic_floor": (0.9411764705882353, 40.23679907746142, 0.5, 187.0),
    "at_the_border": (0.8333333333333334, 1.0, 0.8333333333333334, 1.0),
    "random_blobs": (0.7476833465713529, 7.280109889280518, 0.3547418133612643, 187.83982729549075),
    "random_blobs_anisotropic": (0.7340959821428571, 11.007270657352752, 0.39563855107674867, 169.97377033618187),
}

# Printed by `python tests/brats_reference.py panoptica` with BraTS_evaluation 0.0.10 (panoptica 2.1.7, config_gli):
# (global_bin_dsc, global_bin_hd95, sq_dsc, sq_hd95) of the whole tumour.
BRATS_EVALUATION = {
    "both_empty": (NAN, NAN, NAN, NAN),
    "pred_empty": (0.0, INF, 0.0, INF),
    "gt_empty": (0.0, INF, 0.0, INF),
    "identical": (1.0, 0.0, 1.0, 0.0),
    "far_small_fp": (0.9818181818181818, 0.0, 1.0, 0.0),
    "small_lesion": (0.9411764705882353, 23.727621035409346, 1.0, 0.0),
    "disjoint_far": (0.0, INF, 0.0, INF),
    "shift_one": (0.8333333333333334, 1.0, 0.8333333333333334, 1.0),
    "within_dilation": (0.0, INF, 0.0, INF),
    "diagonal_voxel": (0.9976905311778291, 0.0, 1.0, 0.0),
    "merged_lesions": (0.6666666666666666, 10.0, 1.0, 0.0),
    "anisotropic_shift": (0.8333333333333334, 1.0, 0.8333333333333334, 0.800000011920929),
    "anisotropic_floor": (0.9411764705882353, 23.727621035409346, 1.0, 0.0),
    "at_the_border": (0.8333333333333334, 1.0, 0.8333333333333334, 1.0),
    "random_blobs": (0.7476833465713529, 3.0, 0.5796303746863912, 2.373094885057888),
    "random_blobs_anisotropic": (0.7340959821428571, 2.449489742783178, 0.641261547083109, 3.04500154189689),
}


def ours(name: str) -> tuple[float, float, float, float]:
    pred, true, spacing = CASES[name]
    legacy = brats.legacy_scores(pred, true, spacing)
    lesionwise = brats.lesionwise_scores(pred, true, spacing)
    return (*legacy, lesionwise.dice, lesionwise.hd95)


@pytest.fixture(scope="module")
def scores() -> dict[str, tuple[float, float, float, float]]:
    return {name: ours(name) for name in CASES}


@pytest.mark.parametrize("name", HAND)
def test_hand_computed(scores, name):
    for got, expected in zip(scores[name], HAND[name]):
        if expected is not None:
            assert got == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_matches_the_brats_2023_script(scores, name):
    assert scores[name] == pytest.approx(OFFICIAL_2023[name], abs=1e-5)


def test_recorded_cases_are_the_current_cases():
    assert set(OFFICIAL_2023) == set(CASES) == set(BRATS_EVALUATION)
    assert set(HAND) <= set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_legacy_dice_matches_brats_evaluation_where_it_is_defined(scores, name):
    """BraTS_evaluation leaves both-empty undefined (NaN); every other legacy Dice agrees."""
    reference = BRATS_EVALUATION[name][0]
    if math.isnan(reference):
        assert name == "both_empty" and scores[name][0] == 1.0
    else:
        assert scores[name][0] == pytest.approx(reference, abs=1e-6)


def test_brats_evaluation_disagreements_are_the_documented_ones(scores):
    """Its lesion-wise Dice ignores false positives and misses (far_small_fp: 1 here 0.5), matches without dilation
    (within_dilation: FP + FN there), keeps small lesions (small_lesion: an FN there, dropped here)."""
    assert BRATS_EVALUATION["far_small_fp"][2] == 1.0 and scores["far_small_fp"][2] == 0.5
    assert BRATS_EVALUATION["merged_lesions"][2] == 1.0 and scores["merged_lesions"][2] == pytest.approx(2 / 3)
    assert math.isinf(BRATS_EVALUATION["within_dilation"][3]) and scores["within_dilation"][3] == 8.0
    # its whole-volume HD95 pools both directions before the percentile: the 2x2x2 false positive vanishes
    assert BRATS_EVALUATION["far_small_fp"][1] == 0.0 and scores["far_small_fp"][1] == 22.0


def _reference(implementation: str, python: str, *extra: str) -> dict:
    script = Path(__file__).with_name("brats_reference.py")
    out = subprocess.run([python, str(script), implementation, *extra], check=True, capture_output=True, text=True)
    return {name: tuple(float(row[k]) for k in brats.SCORE_KEYS) for name, row in json.loads(out.stdout).items()}


def _brats_evaluation_python() -> str | None:
    if importlib.util.find_spec("brats_evaluation") is not None:
        return sys.executable
    return os.environ.get("SAMBOOK_BRATS_EVALUATION_PYTHON")


@pytest.mark.skipif(
    _brats_evaluation_python() is None,
    reason="BraTS_evaluation is not installed here (it pins numpy and pandas below the book's): "
    "`make brats-reference` runs this test with it in its own venv",
)
def test_brats_evaluation_live():
    live = _reference("panoptica", _brats_evaluation_python())
    for name, row in live.items():
        assert row == pytest.approx(BRATS_EVALUATION[name], abs=1e-6, nan_ok=True), name


@pytest.mark.skipif(
    not (os.environ.get("SAMBOOK_BRATS2023_PYTHON") and os.environ.get("SAMBOOK_BRATS2023_SCRIPT")),
    reason="the BraTS 2023 metrics script is not on the package registry: set SAMBOOK_BRATS2023_SCRIPT "
    "to a copy of it and SAMBOOK_BRATS2023_PYTHON to a Python with its pinned requirements",
)
def test_brats_2023_script_live(scores):
    live = _reference("official", os.environ["SAMBOOK_BRATS2023_PYTHON"], os.environ["SAMBOOK_BRATS2023_SCRIPT"])
    for name, row in live.items():
        assert scores[name] == pytest.approx(row, abs=1e-5), name


def test_18_neighbourhood_dilation_decides_the_diagonal_voxel(monkeypatch):
    """With the full 3x3x3 cube as dilation element the corner voxel would be matched instead of a false positive."""
    pred, true, spacing = CASES["diagonal_voxel"]
    assert brats.lesionwise_scores(pred, true, spacing).false_positives == 1
    monkeypatch.setattr(brats, "DILATION", np.ones((3, 3, 3), dtype=bool))
    assert brats.lesionwise_scores(pred, true, spacing).false_positives == 0


def test_floor_is_strict_and_in_mm3():
    """A lesion of exactly 50 mm3 is dropped, one voxel more is kept; the volume counts the voxel size."""
    true = box((4, 5), (4, 5), (4, 2))  # 50 voxels
    empty = np.zeros_like(true)
    assert brats.lesionwise_scores(empty, true, (1.0, 1.0, 1.0)).dropped == 1
    assert brats.lesionwise_scores(empty, true, (1.0, 1.0, 1.0)).dice == 1.0  # nothing left to score
    assert brats.lesionwise_scores(empty, true, (1.0, 1.0, 1.01)).lesions == 1
    assert brats.lesionwise_scores(empty, true | box((9, 1), (4, 1), (4, 1)), (1.0, 1.0, 1.0)).lesions == 1


def test_prediction_on_a_dropped_lesion_is_not_a_false_positive():
    pred, true, spacing = CASES["small_lesion"]
    score = brats.lesionwise_scores(pred | true, true, spacing)
    assert (score.false_positives, score.dropped, score.lesions, score.dice) == (0, 1, 1, 1.0)


def test_counts_of_random_blobs_are_consistent():
    pred, true, spacing = CASES["random_blobs"]
    score = brats.lesionwise_scores(pred, true, spacing)
    merged, n_merged = brats.ground_truth_lesions(true)
    assert n_merged == score.lesions + score.dropped and score.detected <= score.lesions
    assert score.lesions > 1 and score.dropped > 0 and score.false_positives > 0
    assert (merged > 0).sum() == true.sum()


@pytest.mark.parametrize("score", [brats.legacy_scores, brats.lesionwise_scores])
def test_bad_inputs(score):
    cube = CASES["identical"][0]
    with pytest.raises(ValueError, match="one shape"):
        score(cube, cube[:-1], (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="3D"):
        score(cube[0], cube[0], (1.0, 1.0))


def test_score_regions_omits_rules_not_asked_for():
    pred, true, spacing = CASES["shift_one"]
    regions = {"WT": true}
    only_legacy = brats.score_regions({"WT": pred}, regions, spacing, ("legacy",))["WT"]
    assert only_legacy["lesion_dice"] is None and only_legacy["lesion_hd95"] is None
    assert only_legacy["legacy_dice"] == pytest.approx(2 * 180 / 432)
    with pytest.raises(ValueError, match="unknown rules"):
        brats.score_regions({"WT": pred}, regions, spacing, ("bogus",))


@pytest.mark.parametrize(
    ("layout", "labels", "expected"),
    [
        ("brats2021", [0, 1, 2, 4], {"WT": [0, 1, 1, 1], "TC": [0, 1, 0, 1], "ET": [0, 0, 0, 1]}),
        ("brats2023", [0, 1, 2, 3], {"WT": [0, 1, 1, 1], "TC": [0, 1, 0, 1], "ET": [0, 0, 0, 1]}),
        ("msd", [0, 1, 2, 3], {"WT": [0, 1, 1, 1], "TC": [0, 0, 1, 1], "ET": [0, 0, 0, 1]}),
        ("internal", [0, 1, 2, 3], {"WT": [0, 1, 1, 1], "TC": [0, 1, 0, 1], "ET": [0, 0, 0, 1]}),
    ],
)
def test_regions_per_layout(layout, labels, expected):
    masks = region_masks(np.array(labels), layout)
    assert {name: mask.astype(int).tolist() for name, mask in masks.items()} == expected


@pytest.mark.parametrize(
    ("layout", "labels", "bad"), [("brats2023", [0, 4], "4"), ("brats2021", [0, 3], "3"), ("msd", [0, 1.5], "1.5")]
)
def test_unknown_label_names_file_and_values(layout, labels, bad):
    with pytest.raises(DataError, match=rf"case_seg\.nii\.gz: .*{bad}.* {layout}"):
        region_masks(np.array(labels), layout, "case_seg.nii.gz")
