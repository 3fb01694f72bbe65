"""The 2D slice dataset: shapes, channel order, selection, patient split, cache, MONAI transforms."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from sambook.data import phantom
from sambook.datasets.slices import (
    SliceDataset,
    build_slices,
    normalise,
    select_slices,
    split_by_patient,
    split_by_slice,
)
from sambook.profiles import PROFILES
from sambook.registration.batch import register_dataset

PROFILE = dataclasses.replace(PROFILES["ci"], image_size=48, slices_per_case=3)


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    root = tmp_path_factory.mktemp("slices")
    phantom.generate(root / "raw", cases=4, seed=9, spacing_mm=4.0)
    register_dataset(root / "raw", root / "registered", jobs=1)
    return root / "registered"


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMBOOK_DATA", str(tmp_path))
    return tmp_path


def test_shapes_and_types(registered, data_dir):
    slices = build_slices(PROFILE, registered=registered)
    n = len(slices)
    assert slices.images.shape == (n, 4, 48, 48) and slices.images.dtype == np.float32
    assert slices.labels.shape == (n, 48, 48) and set(np.unique(slices.labels)) <= {0, 1, 2, 3}
    assert slices.spacing_mm.shape == (n, 2) and np.all(slices.spacing_mm > 4.0)  # resized down from 4 mm
    assert len(np.unique(slices.case_ids)) == 4


def test_channel_order_is_t1_t1ce_t2_flair(registered, data_dir):
    """Measured contrasts identify the channels: contrast uptake (T1ce over T1) on enhancing tumour only, and
    FLAIR brightest on oedema (values are per-case z-scores)."""
    slices = build_slices(PROFILE, registered=registered)
    enhancing, oedema, healthy = slices.labels == 3, slices.labels == 2, slices.labels == 0

    def mean(c, mask):
        return float(slices.images[:, c][mask].mean())

    assert mean(1, enhancing) - mean(0, enhancing) > 1.0 > abs(mean(1, healthy) - mean(0, healthy))
    assert mean(3, oedema) > mean(2, oedema) > mean(0, oedema)  # FLAIR > T2 > T1 on oedema (z-scores)


def test_selection_has_tumour_and_tumour_free_slices(registered, data_dir):
    slices = build_slices(PROFILE, registered=registered, tumour_free_share=0.25)
    has_tumour = (slices.labels > 0).any(axis=(1, 2))
    per_case = {c: has_tumour[slices.case_ids == c].sum() for c in np.unique(slices.case_ids)}
    assert all(v == PROFILE.slices_per_case for v in per_case.values())
    assert (~has_tumour).sum() == 4  # round(3 * 0.25 / 0.75) = 1 tumour-free slice per case


def test_select_slices_spreads_through_the_tumour():
    labels = np.zeros((20, 4, 4), dtype=np.uint8)
    labels[5:15, 1, 1] = 2
    brain = np.ones_like(labels, dtype=bool)
    picked = select_slices(labels, brain, 3, 0.0, np.random.default_rng(0))
    assert picked == [5, 9, 14] or picked == [5, 10, 14]


def test_normalise_is_a_zscore_over_the_brain():
    rng = np.random.default_rng(0)
    volume = rng.normal(100, 10, (5, 6, 7)).astype(np.float32)
    brain = np.zeros(volume.shape, dtype=bool)
    brain[1:4] = True
    out = normalise(volume, brain)
    assert abs(out[brain].mean()) < 1e-5 and abs(out[brain].std() - 1) < 1e-4
    assert np.all(out[~brain] == 0)


def test_patient_split_never_leaks(registered, data_dir):
    slices = build_slices(PROFILE, registered=registered)
    for seed in range(5):
        sides = split_by_patient(slices, test_share=0.25, seed=seed)
        train_cases, test_cases = set(slices.case_ids[sides["train"]]), set(slices.case_ids[sides["test"]])
        assert train_cases and test_cases and not train_cases & test_cases
        assert len(sides["train"]) + len(sides["test"]) == len(slices)


def test_slice_split_can_leak(registered, data_dir):
    slices = build_slices(PROFILE, registered=registered)
    leaks = [
        set(slices.case_ids[s["train"]]) & set(slices.case_ids[s["test"]])
        for s in (split_by_slice(slices, seed=seed) for seed in range(5))
    ]
    assert any(leaks)


def test_cache_is_reused_and_invalidated(registered, data_dir):
    first = build_slices(PROFILE, registered=registered)
    caches = sorted((data_dir / "cache" / "slices").glob("*.npz"))
    assert len(caches) == 1
    again = build_slices(PROFILE, registered=registered)
    np.testing.assert_array_equal(first.images, again.images)
    assert sorted((data_dir / "cache" / "slices").glob("*.npz")) == caches
    build_slices(dataclasses.replace(PROFILE, image_size=32), registered=registered)
    build_slices(PROFILE, registered=registered, tumour_free_share=0.5)
    assert len(list((data_dir / "cache" / "slices").glob("*.npz"))) == 3


def test_dataset_items_and_monai_transform(registered, data_dir):
    from monai.transforms import Compose, RandFlipd, RandRotate90d

    slices = build_slices(PROFILE, registered=registered)
    item = SliceDataset(slices)[0]
    assert item["image"].shape == (4, 48, 48) and item["label"].dtype == torch.int64
    assert set(item["label"].unique().tolist()) <= {0, 1}
    sub = SliceDataset(slices, regions="subregions")
    assert max(int(sub[i]["label"].max()) for i in range(len(sub))) == 3
    flip = Compose(
        [RandFlipd(keys=["image", "label"], prob=1.0, spatial_axis=1), RandRotate90d(keys=["image", "label"], prob=0.0)]
    )
    flipped = SliceDataset(slices, transform=flip)[0]
    torch.testing.assert_close(flipped["image"], item["image"].flip(-1))
    torch.testing.assert_close(flipped["label"], item["label"].flip(-1))
    with pytest.raises(ValueError, match="regions"):
        SliceDataset(slices, regions="core")
