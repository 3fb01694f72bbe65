"""SegTHOR loader: layout, windowing, resizing, and a clear error for each bad input (on files written here)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch

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
    volumes = load_segthor(tmp_path, image_size=20, spacing_mm=(2.5, 0.9, 0.9))  # the files' own spacing
    assert volumes.case_ids == ["Patient_01", "Patient_02"]
    assert volumes.images[0].shape == (6, 20, 20) and volumes.labels[1].shape == (6, 20, 20)
    assert volumes.shapes[0] == (6, 40, 40)
    assert volumes.spacing_mm[0] == pytest.approx((1.8, 1.8))  # 40 px of 0.9 mm resized to 20
    assert set(np.unique(volumes.labels[0])) == {0, 2} and set(np.unique(volumes.labels[1])) == {0, 3}
    assert volumes.images[0].min() == pytest.approx(-1.0) and volumes.images[0].max() <= 1.0
    assert load_segthor(tmp_path / "train", image_size=20, limit=1).case_ids == ["Patient_01"]


def test_volumes_are_resampled_to_the_paper_s_spacing(tmp_path):
    """2.5 x 1.0 x 1.0 mm (depth x height x width) before grouping: 12 slices of 1.25 mm become 6 of 2.5 mm, 40 px of
    0.8 mm become 32 of 1 mm; linear for the CT (a ramp stays a ramp), nearest neighbour for the labels."""
    ct = np.broadcast_to((10 * np.arange(40)).astype(np.int16), (12, 40, 40)).copy()  # 10 HU per column
    gt = np.zeros((12, 40, 40), np.uint8)
    gt[4:8, 10:30, 10:30], gt[4:8, 16:24, 16:24] = 2, 4
    _write(tmp_path / "train/Patient_01/Patient_01.nii.gz", ct, spacing=(0.8, 0.8, 1.25))
    _write(tmp_path / "train/Patient_01/GT.nii.gz", gt, spacing=(0.8, 0.8, 1.25))
    volumes = load_segthor(tmp_path, image_size=32)
    assert volumes.shapes[0] == (6, 32, 32) and volumes.images[0].shape == (6, 32, 32)
    assert volumes.spacing_mm[0] == pytest.approx((1.0, 1.0))
    assert set(np.unique(volumes.labels[0])) == {0, 2, 4}  # no value in between
    # first voxels share their corner: column k of 1 mm is centred at (k + 0.5) mm = old column 1.25 k + 0.125
    hounsfield = volumes.images[0][3, 10, :31] * 1000
    assert hounsfield == pytest.approx(10 * (1.25 * np.arange(31) + 0.125), abs=1e-3)
    assert volumes.original_labels[0].shape == (12, 40, 40)


def test_dice_is_scored_on_the_original_grid(tmp_path):
    """A thick organ survives the round trip native -> 2.5 mm -> native exactly; a one-slice organ (1.25 mm) cannot be
    drawn on the 2.5 mm grid: scored on the original grid, even a perfect working-grid prediction loses Dice there."""
    from sambook.datasets.volumes import to_case_grid
    from sambook.evaluate.volumes import dice_3d, score_volumes

    gt = np.zeros((12, 40, 40), np.uint8)
    gt[4:8, 10:30, 10:30] = 2  # 5 mm thick
    gt[10, 10:30, 10:30] = 3  # one native slice
    _write(tmp_path / "train/Patient_01/Patient_01.nii.gz", np.zeros((12, 40, 40), np.int16), spacing=(0.5, 0.5, 1.25))
    _write(tmp_path / "train/Patient_01/GT.nii.gz", gt, spacing=(0.5, 0.5, 1.25))
    volumes = load_segthor(tmp_path, image_size=16)
    back = to_case_grid(volumes.labels[0], volumes, 0)  # the working-grid truth taken back to the native grid
    assert back.shape == (12, 40, 40) and np.array_equal(back == 2, gt == 2)

    class Oracle(torch.nn.Module):
        """Predicts the working-grid truth of the middle slice (found by its intensity code)."""

        def __init__(self):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            index = x[:, x.shape[1] // 2, 0, 0, 0].round().long()
            labels = torch.from_numpy(volumes.labels[0].astype(np.int64))[index]
            return (torch.nn.functional.one_hot(labels, 5).permute(0, 3, 1, 2).float(), None)

    volumes.images[0] = np.broadcast_to(np.arange(6, dtype=np.float32)[:, None, None], (6, 16, 16)).copy()
    scores = score_volumes(Oracle(), volumes, [0], neighbours=0, interval=1, num_classes=4)["per_case"]["Patient_01"]
    assert scores["2"] == 100.0
    assert scores["3"] == pytest.approx(dice_3d(back, gt, (3,))[3]) and scores["3"] < 80  # 2 native slices for 1

    # The baselines' label maps are scored the same way (the same per-case table on the same grid), with no model.
    from sambook.evaluate.volumes import score_label_maps

    maps = score_label_maps({0: volumes.labels[0]}, volumes, num_classes=4)["per_case"]["Patient_01"]
    assert maps == scores


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
