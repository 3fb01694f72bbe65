"""The offline phantom: determinism, labels, contrast, acquisition geometry and ground-truth transforms."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from sambook.data import phantom
from sambook.data.contrast import INTENSITY

SPACING = 4.0


@pytest.fixture(scope="module")
def case() -> phantom.PhantomCase:
    return phantom.make_case(7, spacing_mm=SPACING)


def _arrays(case: phantom.PhantomCase) -> dict[str, np.ndarray]:
    return {m: sitk.GetArrayFromImage(img) for m, img in case.images.items()}


def test_same_seed_same_voxels_and_geometry(case):
    again = phantom.make_case(7, spacing_mm=SPACING)
    for modality in phantom.MODALITIES:
        a, b = case.images[modality], again.images[modality]
        assert (a.GetOrigin(), a.GetSpacing(), a.GetDirection()) == (b.GetOrigin(), b.GetSpacing(), b.GetDirection())
        np.testing.assert_array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(case.seg), sitk.GetArrayFromImage(again.seg))


def test_different_seeds_differ(case):
    other = phantom.make_case(8, spacing_mm=SPACING)
    assert not np.array_equal(sitk.GetArrayFromImage(case.seg), sitk.GetArrayFromImage(other.seg))
    assert not np.allclose(sitk.GetArrayFromImage(case.tissue), sitk.GetArrayFromImage(other.tissue))


def test_labels_are_brats2021_with_every_subregion(case):
    values, counts = np.unique(sitk.GetArrayFromImage(case.seg), return_counts=True)
    assert set(values) == {0, 1, 2, 4}
    assert all(counts > 0)


def test_tumour_lies_inside_the_brain(case):
    seg, tissue = sitk.GetArrayFromImage(case.seg), sitk.GetArrayFromImage(case.tissue)
    from scipy import ndimage

    brain = ndimage.binary_dilation(tissue > 0, iterations=1)
    assert (brain[seg > 0]).mean() > 0.98


def test_tumour_free_cases_have_no_tumour():
    free = phantom.make_case(7, spacing_mm=SPACING, with_tumour=False)
    assert sitk.GetArrayFromImage(free.seg).max() == 0


def _on_t2_grid(case: phantom.PhantomCase, modality: str) -> np.ndarray:
    image = case.images[modality]
    if modality != "t2":  # undo the acquisition with the ground truth
        image = sitk.Resample(image, case.seg, case.gt_transforms[modality], sitk.sitkLinear)
    return sitk.GetArrayFromImage(image)


@pytest.mark.parametrize("modality", phantom.MODALITIES)
def test_tissue_contrast_ordering(case, modality):
    """Median intensity per tissue, measured on the generated volume, orders tissues as real MRI does."""
    image, seg, tissue = (
        _on_t2_grid(case, modality),
        sitk.GetArrayFromImage(case.seg),
        sitk.GetArrayFromImage(case.tissue),
    )
    healthy = seg == 0
    csf, gm, wm = (np.median(image[(tissue == k) & healthy]) for k in (1, 2, 3))
    ncr, ed, et = (np.median(image[seg == k]) for k in (1, 2, 4))
    if modality in ("t1", "t1ce"):
        assert wm > gm > csf
    if modality == "t1ce":
        assert et > max(wm, gm, ncr, ed)
    if modality == "t2":
        assert csf > gm > wm and ed > wm
    if modality == "flair":
        assert gm > csf and wm > csf and ed > max(gm, wm)


def test_intensity_table_orders_pure_tissues():
    t = INTENSITY
    assert t["t1"]["wm"] > t["t1"]["gm"] > t["t1"]["csf"]
    assert t["t2"]["csf"] == max(t["t2"].values())
    assert t["flair"]["ed"] == max(t["flair"].values()) and t["flair"]["csf"] == min(t["flair"].values())


def test_each_modality_has_its_own_grid(case):
    t2 = case.images["t2"]
    assert t2.GetSpacing() == (SPACING,) * 3
    assert t2.GetSize() == case.seg.GetSize()
    spacings = {m: case.images[m].GetSpacing() for m in phantom.MOVING}
    assert all(s != t2.GetSpacing() for s in spacings.values())
    assert len(set(spacings.values())) > 1


def test_misalignment_is_real(case):
    """Brain points of the T2 grid move by more than a voxel under each ground-truth transform."""
    tissue = sitk.GetArrayFromImage(case.tissue)
    points = [
        case.tissue.TransformIndexToPhysicalPoint([int(i) for i in idx[::-1]]) for idx in np.argwhere(tissue > 0)[::50]
    ]
    for modality, transform in case.gt_transforms.items():
        moved = np.array([transform.TransformPoint(p) for p in points])
        assert np.median(np.linalg.norm(moved - np.array(points), axis=1)) > 1.0, modality


def test_written_case_is_complete_and_readable(case, tmp_path):
    folder = phantom.write_case(case, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in phantom.case_files(folder))
    for modality, transform in case.gt_transforms.items():
        read = sitk.ReadTransform(str(folder / f"{case.case_id}_{modality}_gt.tfm"))
        point = (10.0, -20.0, 30.0)
        np.testing.assert_allclose(read.TransformPoint(point), transform.TransformPoint(point), atol=1e-6)
    t2 = sitk.ReadImage(str(folder / f"{case.case_id}_t2.nii.gz"))
    assert t2.GetSpacing() == pytest.approx(case.images["t2"].GetSpacing())


def test_interrupted_export_leaves_no_case_folder(case, tmp_path, monkeypatch):
    real_write = sitk.WriteImage
    calls = []

    def failing_write(image, path, *args):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_write(image, path, *args)

    monkeypatch.setattr(sitk, "WriteImage", failing_write)
    with pytest.raises(KeyboardInterrupt):
        phantom.write_case(case, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_generate_is_deterministic_and_skips_complete_cases(tmp_path):
    folders = phantom.generate(tmp_path, cases=2, seed=3, spacing_mm=SPACING)
    assert [f.name for f in folders] == ["phantom_s3_000", "phantom_s3_001"]
    stamp = folders[0].stat().st_mtime_ns
    again = phantom.generate(tmp_path, cases=2, seed=3, spacing_mm=SPACING)
    assert again == folders and folders[0].stat().st_mtime_ns == stamp


def test_cli_writes_cases(tmp_path):
    from sambook.__main__ import main

    assert main(["phantom", "--out", str(tmp_path), "--cases", "1", "--seed", "5", "--spacing", "4"]) == 0
    assert (tmp_path / "phantom_s5_000" / "phantom_s5_000_flair_gt.tfm").is_file()
