"""``python -m sambook predict`` and the volume evaluation of runs: predict, then score, gives the library's own
volume scores; outputs lie on the T2 grid; broken cases are named and skipped."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from sambook.__main__ import main
from sambook.data.labels import to_internal


@pytest.fixture(scope="module")
def ci(tmp_path_factory):
    """The ci profile, with one Table 1 run (early fusion, binary) and one AFTer-SAM run (multi-class) trained."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SAMBOOK_PROFILE", "ci")
        from sambook.config import load_config
        from sambook.datasets.slices import registered_phantom
        from sambook.paths import CONFIGS
        from sambook.profiles import get_profile
        from sambook.train.runs import train

        runs = tmp_path_factory.mktemp("runs")
        for name in ("early", "aftersam"):
            train(load_config(CONFIGS / f"{name}.yaml").resolved(), runs / name, progress=False)
        yield {"runs": runs, "registered": registered_phantom(get_profile())}


def ground_truths(cases: list[str], root: Path, out: Path) -> Path:
    """A folder holding only the label maps of ``cases`` (so that `score` looks for no other prediction)."""
    out.mkdir()
    for case in cases:
        shutil.copy(root / case / f"{case}_seg.nii.gz", out)
    return out


@pytest.mark.parametrize(
    ("run", "registered"),
    [("early", True), ("aftersam", True), ("early", False)],
    ids=["early-registered", "aftersam-registered", "early-raw"],
)
def test_predict_then_score_gives_the_volume_evaluation(ci, run, registered, tmp_path, capsys):
    """On the registered copies (``--skip-registration``) the numbers are equal; on the raw cases ``predict``
    registers again with the same seed, reproducible up to ITK's multi-threaded sums."""
    from sambook.data.phantom import ensure_phantom
    from sambook.train.run_volumes import evaluate_run_volumes, test_case_ids
    from sambook.train.runs import load_run

    run_dir = ci["runs"] / run
    root = ci["registered"] if registered else ensure_phantom()
    expected = evaluate_run_volumes(run_dir)
    cases = test_case_ids(load_run(run_dir)[0])
    assert set(expected["cases"]) == set(cases) and cases
    assert expected["regions"] == (["WT"] if run == "early" else ["WT", "TC", "ET"])
    out = tmp_path / "pred"
    options = ["--skip-registration"] if registered else []
    assert main(["predict", str(run_dir), *(str(root / c) for c in cases), "--out", str(out), *options]) == 0
    gt = ground_truths(cases, root, tmp_path / "gt")
    assert main(["score", str(out), str(gt), "--json", str(tmp_path / "scores.json")]) == 0
    scored = json.loads((tmp_path / "scores.json").read_text())
    tolerance = 0.0 if registered else 1e-6  # 0: equal to the last bit
    for case in cases:
        for name in expected["regions"]:
            got, want = scored["cases"][case][name], expected["cases"][case][name]
            assert got == pytest.approx(want, rel=0, abs=tolerance), (case, name)
    for name in expected["regions"]:
        assert scored["mean"][name] == pytest.approx(expected["mean"][name], rel=0, abs=tolerance)
    assert all(0 <= s["legacy_dice"] <= 1 for s in expected["mean"].values())
    capsys.readouterr()


def test_outputs_lie_on_the_t2_grid_in_the_codes_asked_for(ci, tmp_path):
    from sambook.data.phantom import ensure_phantom

    raw = ensure_phantom()  # unregistered: every modality on its own grid, registered by predict
    case = sorted(p.name for p in raw.iterdir() if p.is_dir())[0]
    run_dir = ci["runs"] / "aftersam"
    for layout, codes in (("brats2021", {0, 1, 2, 4}), ("brats2023", {0, 1, 2, 3})):
        out = tmp_path / layout
        assert main(["predict", str(run_dir), str(raw / case), "--out", str(out), "--labels", layout]) == 0
        seg, t2 = sitk.ReadImage(str(out / f"{case}_seg.nii.gz")), sitk.ReadImage(str(raw / case / f"{case}_t2.nii.gz"))
        assert seg.GetSize() == t2.GetSize() and seg.GetSpacing() == t2.GetSpacing()
        assert seg.GetOrigin() == t2.GetOrigin() and seg.GetDirection() == t2.GetDirection()
        values = sitk.GetArrayFromImage(seg)
        assert set(np.unique(values)) <= codes and values.dtype == np.uint8
        assert (out / f"{case}_seg.png").read_bytes()[:4] == b"\x89PNG"
        assert not list(out.glob(".*tmp"))
        if layout == "brats2021":
            first = to_internal(values, layout)
        else:  # the same prediction in other codes (registration runs again, with the same seed)
            np.testing.assert_array_equal(to_internal(values, layout), first)


def test_explicit_files_equal_the_case_folder(ci, tmp_path):
    root, run_dir = ci["registered"], ci["runs"] / "early"
    case = sorted(p.name for p in root.iterdir() if p.is_dir())[0]
    files = [f"--{m}={root / case / f'{case}_{m}.nii.gz'}" for m in ("t1", "t1ce", "t2", "flair")]
    common = ["--skip-registration", "--out"]
    assert main(["predict", str(run_dir), *files, *common, str(tmp_path / "a")]) == 0
    assert main(["predict", str(run_dir), str(root / case), *common, str(tmp_path / "b")]) == 0
    a, b = (sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / s / f"{case}_seg.nii.gz"))) for s in "ab")
    np.testing.assert_array_equal(a, b)  # the case is named after the T2 file: <case>_t2.nii.gz


def test_broken_cases_are_named_and_skipped(ci, tmp_path, capsys):
    root, run_dir = ci["registered"], ci["runs"] / "early"
    good, missing, broken = sorted(p.name for p in root.iterdir() if p.is_dir())[:3]
    cases = tmp_path / "cases"
    for case in (good, missing, broken):
        shutil.copytree(root / case, cases / case)
    (cases / missing / f"{missing}_flair.nii.gz").unlink()  # early fusion reads all four modalities
    truncated = cases / broken / f"{broken}_t1ce.nii.gz"
    truncated.write_bytes(gzip.compress(gzip.decompress(truncated.read_bytes())[:2000]))
    out = tmp_path / "out"
    args = ["predict", str(run_dir), *(str(cases / c) for c in (good, missing, broken)), str(tmp_path / "nothing")]
    assert main([*args, "--out", str(out), "--skip-registration"]) == 1
    printed = capsys.readouterr().out
    assert f"{missing}: skipped: {cases / missing}: missing modality flair" in printed
    assert f"{broken}: skipped: {truncated}: unreadable or truncated image" in printed
    assert f"nothing: skipped: {tmp_path / 'nothing'}: case folder is missing" in printed
    assert "1 case(s) segmented, 3 not" in printed
    assert sorted(p.name for p in out.iterdir()) == [f"{good}_seg.nii.gz", f"{good}_seg.png"]
    before = (out / f"{good}_seg.nii.gz").stat().st_mtime_ns
    assert main(["predict", str(run_dir), str(cases / good), "--out", str(out), "--skip-registration"]) == 1
    assert "already exists (pass --overwrite to replace it)" in capsys.readouterr().out
    assert (out / f"{good}_seg.nii.gz").stat().st_mtime_ns == before
    assert main(["predict", str(run_dir), "--out", str(out)]) == 2  # nothing to segment


def test_evaluate_volumes_command_prints_the_volume_scores(ci, capsys):
    from sambook.train.run_volumes import evaluate_run_volumes

    run_dir = ci["runs"] / "early"
    expected = evaluate_run_volumes(run_dir)
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--volumes"]) == 0
    printed = capsys.readouterr().out
    case, scores = next(iter(expected["cases"].items()))
    assert f"{case}  WT           {scores['WT']['legacy_dice']:.4f}" in printed
    assert " TC " not in printed and "every slice, regions WT" in printed


def test_volume_evaluation_refuses_what_it_cannot_score(ci, tmp_path):
    from sambook.config import TrainConfig
    from sambook.errors import ConfigError
    from sambook.train.run_volumes import evaluate_run_volumes, test_case_ids

    with pytest.raises(ConfigError, match="split 'slice'"):
        test_case_ids(TrainConfig(model="early", split="slice").resolved())
    with pytest.raises(ConfigError, match=r"config\.yaml: missing"):
        evaluate_run_volumes(tmp_path)
