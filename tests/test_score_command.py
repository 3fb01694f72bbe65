"""``python -m sambook score``: end to end on label maps written here, the error cases and the exit status."""

from __future__ import annotations

import json

import nibabel
import numpy as np
import pytest
import SimpleITK as sitk

from sambook.__main__ import main

SHAPE = (20, 20, 20)  # SimpleITK array order (z, y, x)


def labels(*boxes: tuple[int, tuple[slice, slice, slice]]) -> np.ndarray:
    """A label map with ``value`` in each ``(value, box)``, later boxes over earlier ones."""
    out = np.zeros(SHAPE, dtype=np.uint8)
    for value, where in boxes:
        out[where] = value
    return out


def write(path, array: np.ndarray, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), direction=None) -> None:
    """Write a label map with SimpleITK (``spacing``, ``origin`` in x, y, z)."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    sitk.WriteImage(image, str(path))


BOX = (slice(5, 11), slice(5, 11), slice(5, 11))
SHIFTED = (slice(6, 12), slice(5, 11), slice(5, 11))
CORE = (slice(7, 9), slice(7, 9), slice(7, 9))
TUMOUR = labels((2, BOX), (4, CORE))  # BraTS 2021: oedema around an enhancing core


@pytest.fixture()
def folders(tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    write(gt / "case_a_seg.nii.gz", TUMOUR)
    write(pred / "case_a.nii.gz", TUMOUR)
    write(gt / "case-b-seg.nii.gz", labels((2, BOX)), spacing=(0.8, 1.0, 2.5))
    write(pred / "case-b_seg.nii.gz", labels((2, SHIFTED)), spacing=(0.8, 1.0, 2.5))  # shifted along z: 2.5 mm
    return pred, gt


def run(pred, gt, *options):
    return main(["score", str(pred), str(gt), *options])


def test_scores_and_json(folders, tmp_path, capsys):
    pred, gt = folders
    out = tmp_path / "scores.json"
    assert run(pred, gt, "--json", str(out)) == 0
    printed = capsys.readouterr().out
    assert "case_a" in printed and "case-b" in printed and "2 case(s) scored, 0 not" in printed
    result = json.loads(out.read_text())
    assert set(result["cases"]) == {"case_a", "case-b"} and result["errors"] == {}
    a, b = result["cases"]["case_a"], result["cases"]["case-b"]
    assert set(a) == {"WT", "TC", "ET"} and set(a["WT"]) == {"legacy_dice", "legacy_hd95", "lesion_dice", "lesion_hd95"}
    assert all(a[r] == {"legacy_dice": 1.0, "legacy_hd95": 0.0, "lesion_dice": 1.0, "lesion_hd95": 0.0} for r in a)
    assert b["WT"]["legacy_dice"] == pytest.approx(5 / 6) and b["WT"]["legacy_hd95"] == pytest.approx(2.5)
    assert b["WT"]["lesion_dice"] == pytest.approx(5 / 6) and b["WT"]["lesion_hd95"] == pytest.approx(2.5)
    # case-b has no core: TC and ET empty on both sides score 1 / 0 under both rules
    assert b["ET"] == {"legacy_dice": 1.0, "legacy_hd95": 0.0, "lesion_dice": 1.0, "lesion_hd95": 0.0}
    assert result["mean"]["WT"]["legacy_dice"] == pytest.approx((1 + 5 / 6) / 2)
    assert result["mean"]["WT"]["lesion_hd95"] == pytest.approx(2.5 / 2)


def test_rules_not_requested_are_null(folders, tmp_path, capsys):
    pred, gt = folders
    out = tmp_path / "legacy.json"
    assert run(pred, gt, "--rules", "legacy", "--json", str(out)) == 0
    result = json.loads(out.read_text())
    for scores in [*result["cases"].values(), result["mean"]]:
        for region in scores.values():
            assert region["lesion_dice"] is None and region["lesion_hd95"] is None
            assert region["legacy_dice"] is not None
    assert result["rules"] == ["legacy"]
    assert " - " in capsys.readouterr().out


def test_layouts_read_the_codes_differently(tmp_path):
    """MSD's 2 is non-enhancing tumour (in TC), BraTS 2023's 2 is oedema (not in TC)."""
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    write(gt / "c.nii.gz", labels((2, BOX), (3, CORE)))
    write(pred / "c.nii.gz", labels((3, CORE)))
    tc = {}
    for layout in ("brats2023", "msd"):
        assert run(pred, gt, "--labels", layout, "--json", str(tmp_path / f"{layout}.json")) == 0
        tc[layout] = json.loads((tmp_path / f"{layout}.json").read_text())["cases"]["c"]["TC"]["legacy_dice"]
    assert tc["brats2023"] == 1.0 and tc["msd"] == pytest.approx(2 * 8 / (8 + 216))


def test_every_error_is_named_and_the_other_cases_still_scored(folders, tmp_path, capsys):
    pred, gt = folders
    write(gt / "only_gt_seg.nii.gz", TUMOUR)
    write(pred / "only_pred.nii.gz", TUMOUR)
    write(gt / "spacing.nii.gz", TUMOUR)
    write(pred / "spacing.nii.gz", TUMOUR, spacing=(1.0, 1.0, 2.0))
    write(gt / "origin.nii.gz", TUMOUR)
    write(pred / "origin.nii.gz", TUMOUR, origin=(0.0, 0.0, 5.0))
    write(gt / "direction.nii.gz", TUMOUR)
    write(pred / "direction.nii.gz", TUMOUR, direction=(-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))
    write(gt / "shape.nii.gz", TUMOUR)
    write(pred / "shape.nii.gz", TUMOUR[:-1])
    write(gt / "label.nii.gz", TUMOUR)
    write(pred / "label.nii.gz", labels((3, BOX)))  # 3 is not a BraTS 2021 code
    write(gt / "twice.nii.gz", TUMOUR)
    write(gt / "twice_seg.nii.gz", TUMOUR)
    write(pred / "twice.nii.gz", TUMOUR)
    (pred / "broken.nii.gz").write_bytes(b"not a nifti")
    write(gt / "broken.nii.gz", TUMOUR)
    out = tmp_path / "scores.json"
    assert run(pred, gt, "--json", str(out)) == 1
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert set(result["cases"]) == {"case_a", "case-b"}
    errors = result["errors"]
    expected = {
        "only_gt": ["only_gt_seg.nii.gz", "no prediction"],
        "only_pred": ["only_pred.nii.gz", "no ground truth"],
        "spacing": [str(pred / "spacing.nii.gz"), "spacing"],
        "origin": [str(pred / "origin.nii.gz"), "origin"],
        "direction": [str(pred / "direction.nii.gz"), "direction (-1.0, 0.0"],
        "shape": [str(pred / "shape.nii.gz"), "size"],
        "label": [str(pred / "label.nii.gz"), "unknown label values [3]"],
        "twice": ["twice.nii.gz, twice_seg.nii.gz", "several files"],
        "broken": [str(pred / "broken.nii.gz"), "unreadable"],
    }
    assert set(errors) == set(expected)
    for case, fragments in expected.items():
        for fragment in fragments:
            assert fragment in errors[case], (case, errors[case])
            assert fragment in printed


def test_missing_folder_and_empty_folders(tmp_path, capsys):
    (tmp_path / "gt").mkdir()
    assert run(tmp_path / "nowhere", tmp_path / "gt") == 1
    assert "nowhere: folder is missing" in capsys.readouterr().out
    (tmp_path / "pred").mkdir()
    assert run(tmp_path / "pred", tmp_path / "gt") == 1  # nothing scored is not success


def test_nibabel_files_and_axis_order(tmp_path):
    """A file written by nibabel (voxel axes i, j, k; 2.5 mm along i) gives the same physical HD95."""
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    affine = np.diag([2.5, 1.0, 0.8, 1.0])
    true = np.zeros(SHAPE, dtype=np.uint8)
    true[BOX] = 1
    shifted = np.zeros(SHAPE, dtype=np.uint8)
    shifted[SHIFTED] = 1  # one voxel along i
    nibabel.save(nibabel.Nifti1Image(true, affine), str(gt / "n_seg.nii.gz"))
    nibabel.save(nibabel.Nifti1Image(shifted, affine), str(pred / "n.nii.gz"))
    assert run(pred, gt, "--json", str(tmp_path / "n.json")) == 0
    wt = json.loads((tmp_path / "n.json").read_text())["cases"]["n"]["WT"]
    assert wt["legacy_hd95"] == pytest.approx(2.5) and wt["lesion_hd95"] == pytest.approx(2.5)


def test_brats_dataset_folder_as_ground_truth(tmp_path):
    """The phantom's BraTS 2021 layout (``<case>/<case>_seg.nii.gz`` beside the images) is read as it is."""
    from sambook.data import phantom

    case = phantom.make_case(11, spacing_mm=4.0)
    gt = tmp_path / "dataset"
    phantom.write_case(case, gt)
    pred = tmp_path / "pred"
    pred.mkdir()
    sitk.WriteImage(case.seg, str(pred / f"{case.case_id}.nii.gz"))
    out = tmp_path / "scores.json"
    assert run(pred, gt, "--json", str(out)) == 0
    result = json.loads(out.read_text())
    assert list(result["cases"]) == [case.case_id]
    for region, scores in result["cases"][case.case_id].items():
        assert scores == {"legacy_dice": 1.0, "legacy_hd95": 0.0, "lesion_dice": 1.0, "lesion_hd95": 0.0}, region
    # enhancing (4) predicted as necrotic core (1): ET missed, WT and TC unchanged
    seg = sitk.GetArrayFromImage(case.seg)
    assert (seg == 4).any()
    image = sitk.GetImageFromArray(np.where(seg == 4, 1, seg).astype(np.uint8))
    image.CopyInformation(case.seg)
    sitk.WriteImage(image, str(pred / f"{case.case_id}.nii.gz"))
    assert run(pred, gt, "--json", str(out)) == 0
    scores = json.loads(out.read_text())["cases"][case.case_id]
    assert scores["WT"]["legacy_dice"] == scores["TC"]["legacy_dice"] == 1.0
    assert scores["ET"] == {"legacy_dice": 0.0, "legacy_hd95": 374.0, "lesion_dice": 0.0, "lesion_hd95": 374.0}
