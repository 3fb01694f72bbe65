"""SegTHOR loader: layout, windowing, resizing, and a clear error for each bad input (on files written here)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from sambook.datasets.segthor import ORGANS, load_segthor, window
from sambook.errors import DataError


def _write(path, array, spacing=(0.9, 0.9, 2.5)):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))


def _patient(root, name, depth=6, height=40, width=40, organ=2, label_value=None):
    ct = np.full((depth, height, width), -1000, np.int16)  # air
    ct[:, 8:32, 8:32] = 40  # soft tissue
    gt = np.zeros((depth, height, width), np.uint8)
    gt[2:4, 15:25, 15:25] = organ if label_value is None else label_value
    _write(root / "train" / name / f"{name}.nii.gz", ct)
    _write(root / "train" / name / "GT.nii.gz", gt)


def test_loads_the_layout_into_volumes(tmp_path):
    for i in (1, 2):
        _patient(tmp_path, f"Patient_0{i}", organ=i + 1)
    volumes = load_segthor(tmp_path, image_size=20)
    assert volumes.case_ids == ["Patient_01", "Patient_02"]
    assert volumes.images[0].shape == (6, 20, 20) and volumes.labels[1].shape == (6, 20, 20)
    assert volumes.shapes[0] == (6, 40, 40)
    assert volumes.spacing_mm[0] == pytest.approx((1.8, 1.8))  # 40 px of 0.9 mm resized to 20
    assert set(np.unique(volumes.labels[0])) == {0, 2} and set(np.unique(volumes.labels[1])) == {0, 3}
    assert volumes.images[0].min() == pytest.approx(-1.0) and volumes.images[0].max() <= 1.0
    assert load_segthor(tmp_path / "train", image_size=20, limit=1).case_ids == ["Patient_01"]


def test_window_maps_hounsfield_units_to_minus_one_one():
    hu = np.array([-3000.0, -1000.0, 0.0, 500.0, 1000.0, 3000.0])
    assert window(hu).tolist() == [-1.0, -1.0, 0.0, 0.5, 1.0, 1.0]
    assert len(ORGANS) == 5


def test_missing_ground_truth_names_the_file(tmp_path):
    _patient(tmp_path, "Patient_01")
    (tmp_path / "train" / "Patient_01" / "GT.nii.gz").unlink()
    with pytest.raises(DataError, match=r"Patient_01/GT\.nii\.gz: file is missing"):
        load_segthor(tmp_path, image_size=20)


def test_unknown_label_value(tmp_path):
    _patient(tmp_path, "Patient_01", label_value=7)
    with pytest.raises(DataError, match=r"GT\.nii\.gz: unknown label values \[7\]"):
        load_segthor(tmp_path, image_size=20)


def test_label_of_another_size(tmp_path):
    _patient(tmp_path, "Patient_01")
    _write(tmp_path / "train" / "Patient_01" / "GT.nii.gz", np.zeros((5, 40, 40), np.uint8))
    with pytest.raises(DataError, match=r"GT\.nii\.gz: label size"):
        load_segthor(tmp_path, image_size=20)


def test_not_a_segthor_folder(tmp_path):
    with pytest.raises(DataError, match="no Patient_XX folders"):
        load_segthor(tmp_path, image_size=20)
