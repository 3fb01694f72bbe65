"""Loaders: round trips from phantom export for each layout, and one clear error per bad input."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from sambook.data import loaders, phantom
from sambook.errors import DataError


@pytest.fixture(scope="module")
def phantom_case() -> phantom.PhantomCase:
    return phantom.make_case(11, spacing_mm=4.0)


@pytest.fixture()
def brats_dir(phantom_case, tmp_path):
    return phantom.write_case(phantom_case, tmp_path)


def _aligned(case: loaders.Case) -> loaders.Case:
    """Every modality resampled onto the T2 grid with the ground truth (as registration would)."""
    t2 = case.images["t2"]
    images = {
        m: img if m == "t2" else sitk.Resample(img, t2, case.gt_transforms[m], sitk.sitkLinear)
        for m, img in case.images.items()
    }
    return loaders.Case(case.case_id, images, case.label)


def test_brats2021_round_trip(phantom_case, brats_dir):
    case = loaders.load_case(brats_dir.parent, phantom_case.case_id)
    seg = sitk.GetArrayFromImage(phantom_case.seg)
    label = sitk.GetArrayFromImage(case.label)
    np.testing.assert_array_equal(label[seg == 4], 3)  # enhancing 4 -> internal 3
    np.testing.assert_array_equal(label[seg == 1], 1)
    np.testing.assert_array_equal(label[seg == 2], 2)
    assert set(case.gt_transforms) == {"t1", "t1ce", "flair"}
    for m in loaders.MODALITIES:
        np.testing.assert_array_equal(
            sitk.GetArrayFromImage(case.images[m]), sitk.GetArrayFromImage(phantom_case.images[m])
        )


@pytest.mark.parametrize("layout", ["brats2023", "msd"])
def test_other_layouts_round_trip(brats_dir, tmp_path, layout):
    case = _aligned(loaders.load_case(brats_dir.parent, brats_dir.name))
    root = tmp_path / layout
    loaders.write_case(case, root, layout)
    assert loaders.list_cases(root, layout) == [case.case_id]
    again = loaders.load_case(root, case.case_id, layout)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(again.label), sitk.GetArrayFromImage(case.label))
    for m in loaders.MODALITIES:
        np.testing.assert_allclose(sitk.GetArrayFromImage(again.images[m]), sitk.GetArrayFromImage(case.images[m]))
        assert again.images[m].GetSpacing() == pytest.approx(case.images[m].GetSpacing())


def test_msd_disk_labels_follow_msd_meaning(brats_dir, tmp_path):
    case = _aligned(loaders.load_case(brats_dir.parent, brats_dir.name))
    loaders.write_case(case, tmp_path, "msd")
    on_disk = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "labelsTr" / f"{case.case_id}.nii.gz")))
    internal = sitk.GetArrayFromImage(case.label)
    assert (on_disk[internal == 2] == 1).all() and (on_disk[internal == 1] == 2).all()  # oedema is 1 in MSD


def test_missing_modality(brats_dir):
    path = brats_dir / f"{brats_dir.name}_flair.nii.gz"
    path.unlink()
    with pytest.raises(DataError, match=r"_flair\.nii\.gz: missing modality flair"):
        loaders.load_brats(brats_dir)


def test_truncated_file(brats_dir):
    path = brats_dir / f"{brats_dir.name}_t1.nii.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"_t1\.nii\.gz: unreadable or truncated"):
        loaders.load_brats(brats_dir)


def test_unreadable_file(brats_dir):
    path = brats_dir / f"{brats_dir.name}_t2.nii.gz"
    path.write_bytes(gzip.compress(b"this is not a NIfTI header"))
    with pytest.raises(DataError, match=r"_t2\.nii\.gz: unreadable"):
        loaders.load_brats(brats_dir)


def _set_voxels(path, index, value) -> None:
    """Rewrite a NIfTI file with ``array[index] = value``, geometry kept."""
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    array[index] = value
    bad = sitk.GetImageFromArray(array)
    bad.CopyInformation(image)
    sitk.WriteImage(bad, str(path))


def test_nan_voxels(brats_dir):
    path = brats_dir / f"{brats_dir.name}_t1ce.nii.gz"
    _set_voxels(path, (0, 0, slice(0, 3)), np.nan)
    with pytest.raises(DataError, match=r"_t1ce\.nii\.gz: 3 NaN/Inf voxels"):
        loaders.load_brats(brats_dir)


def test_unknown_label_values(brats_dir):
    path = brats_dir / f"{brats_dir.name}_seg.nii.gz"
    _set_voxels(path, (0, 0, 0), 3)  # 3 does not exist in BraTS 2021
    with pytest.raises(DataError, match=r"_seg\.nii\.gz: unknown label values \[3\]"):
        loaders.load_brats(brats_dir)


@pytest.mark.parametrize("change", ["size", "spacing", "origin"])
def test_label_grid_must_match_t2(brats_dir, change):
    path = brats_dir / f"{brats_dir.name}_seg.nii.gz"
    seg = sitk.ReadImage(str(path))
    if change == "size":
        seg = seg[:-1, :, :]
    elif change == "spacing":
        seg.SetSpacing([s * 1.5 for s in seg.GetSpacing()])
    else:
        seg.SetOrigin([o + 3.0 for o in seg.GetOrigin()])
    sitk.WriteImage(seg, str(path))
    with pytest.raises(DataError, match=rf"_seg\.nii\.gz: label grid does not match its T2 image: {change}"):
        loaders.load_brats(brats_dir)


def test_msd_image_must_have_four_channels(brats_dir, tmp_path):
    case = _aligned(loaders.load_case(brats_dir.parent, brats_dir.name))
    loaders.write_case(case, tmp_path, "msd")
    image_path = tmp_path / "imagesTr" / f"{case.case_id}.nii.gz"
    sitk.WriteImage(case.images["t2"], str(image_path))  # a 3D image where 4D is expected
    with pytest.raises(DataError, match=r"imagesTr/.*: expected a 4D image with 4 channels"):
        loaders.load_msd(tmp_path, case.case_id)


def test_missing_label_map(brats_dir):
    (brats_dir / f"{brats_dir.name}_seg.nii.gz").unlink()
    with pytest.raises(DataError, match=r"_seg\.nii\.gz: missing label map"):
        loaders.load_brats(brats_dir)


def test_failed_write_leaves_no_partial_case(brats_dir, tmp_path, monkeypatch):
    case = loaders.load_case(brats_dir.parent, brats_dir.name)
    real_write = sitk.WriteImage
    calls = []

    def failing(image, path, *args):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        real_write(image, path, *args)

    monkeypatch.setattr(sitk, "WriteImage", failing)
    out = tmp_path / "out"
    with pytest.raises(OSError):
        loaders.write_case(case, out, "brats2023")
    assert not (out / case.case_id).exists()
    shutil.rmtree(out, ignore_errors=True)
