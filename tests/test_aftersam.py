"""AFTer-SAM: shapes, frozen parts, the middle slice, slice groups at the edges, reassembly, and the cache."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from sambook.datasets.volumes import (
    AllGroups,
    GroupDataset,
    VolumeSet,
    group,
    middle_index,
    neighbour_indices,
    to_original_grid,
)
from sambook.errors import ConfigError
from sambook.evaluate.volumes import dice_3d, predict_volume
from sambook.models.aftersam import AfterSAM
from sambook.models.feature_cache import CachedGroups, FeatureCache, FromFeatures
from sambook.models.sam_core import build_sam
from sambook.models.sam_parts import neck
from sambook.train.loop import fit


def _model(slices=3, seed=0, **kw):
    torch.manual_seed(seed)
    return AfterSAM(build_sam("mini", image_size=32), slices=slices, fusion_blocks=2, rank=2, num_classes=4, **kw)


def test_neighbour_indices_centre_and_edges():
    assert neighbour_indices(10, 30, 8, 1) == list(range(6, 15))
    assert neighbour_indices(10, 30, 4, 2) == [6, 8, 10, 12, 14]
    assert neighbour_indices(0, 30, 4, 1) == [0, 0, 0, 1, 2]  # clamped, no wrap-around
    assert neighbour_indices(29, 30, 4, 1) == [27, 28, 29, 29, 29]
    assert neighbour_indices(5, 30, 3, 1) == [4, 5, 6, 7]  # even group: the middle is index N_A // 2


@pytest.mark.parametrize("slices", [1, 2, 3, 5])
@pytest.mark.parametrize("fresh", [False, True])
def test_shapes(slices, fresh):
    model = _model(slices, fresh=fresh, heads=4)
    out = model(torch.randn(2, slices, 1, 32, 32))
    assert out.logits.shape == (2, 4, 32, 32) and out.iou.shape == (2, 4)


def test_frozen_parts_get_no_gradient_and_lora_does():
    model = _model()
    out = model(torch.randn(2, 3, 1, 32, 32))
    (out.logits.mean() + out.iou.mean()).backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            continue
        assert p.grad is None, name
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trained) and any(n.startswith("decoder.mask_decoder") for n in trained)
    assert not any(n.startswith("frozen_blocks") and "lora" not in n for n in trained)


def test_decoder_lora_option_trains_lora_in_the_transformer_and_the_class_heads():
    from sambook.models.lora import CLASS_HEADS

    model = _model(decoder_lora=True)
    trained = [n for n, p in model.named_parameters() if p.requires_grad and n.startswith("decoder.")]
    in_transformer = [n for n in trained if ".transformer." in n]
    assert in_transformer and all("lora_" in n for n in in_transformer)
    assert all(any(f".{head}" in n for head in CLASS_HEADS) for n in set(trained) - set(in_transformer))
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad and ".transformer." in n]
    assert any("q_proj.base" in n or "q_proj.weight" in n for n in frozen)  # the pretrained projections stay


def test_the_middle_slice_is_the_one_returned():
    """With fusion blocks that are the identity, the output is the plain SAM decoding of slice N // 2."""
    model = _model(slices=3, fresh=True, heads=4).eval()
    for block in model.fusion.blocks:  # make the fusion blocks the identity
        for linear in (block.axial_proj, block.slice_proj, block.mlp[2]):
            torch.nn.init.zeros_(linear.weight)
            torch.nn.init.zeros_(linear.bias)
    x = torch.randn(1, 3, 1, 32, 32)
    single = model.decoder(neck(model.encoder, model.frozen_features(x[:, 1])), (32, 32))[0]
    with torch.no_grad():
        torch.testing.assert_close(model(x).logits, single, atol=1e-5, rtol=1e-5)


def _pair(neighbours=2, **baseline):
    """AFTer-SAM and a 2D baseline on the same SAM weights (random mini SAM, seed 0)."""
    torch.manual_seed(0)
    sam = build_sam("mini", image_size=32)
    after = AfterSAM(copy.deepcopy(sam), slices=neighbours + 1, fusion_blocks=2, rank=2, num_classes=4).eval()
    options = baseline or {"fusion_blocks": 0}
    options = {"fusion_blocks": 2, "rank": 2, **options}
    return after, AfterSAM(copy.deepcopy(sam), slices=1, num_classes=4, **options).eval()


@pytest.mark.parametrize("baseline", [{"fusion_blocks": 0}, {"axial": False}], ids=["sam", "fair"])
def test_aftersam_starts_as_the_2d_baseline_on_the_middle_slice(baseline):
    """Zero gate, zero position embedding, zero LoRA B: at initialisation AFTer-SAM's prediction for a group is the
    2D baseline's for the group's middle slice, with the same weights."""
    after, plain = _pair(neighbours=4, **baseline)
    x = torch.randn(2, 5, 1, 32, 32)
    with torch.no_grad():
        out, reference = after(x), plain(x[:, 2:3])
    torch.testing.assert_close(out.logits, reference.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.iou, reference.iou, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("neighbours", range(1, 9))
def test_the_middle_slice_for_every_group_size(neighbours):
    """The dataset centres a group on slice d and the model keeps the tokens of slice d, for odd N_A too."""
    slices, d = neighbours + 1, 6
    assert neighbour_indices(d, 20, neighbours, 1)[middle_index(slices)] == d
    model = _model(slices=slices, fresh=True, heads=4).eval()
    for block in model.fusion.blocks:  # identity fusion blocks: the output is the decoding of the kept slice
        for linear in (block.axial_proj, block.slice_proj, block.mlp[2]):
            torch.nn.init.zeros_(linear.weight)
            torch.nn.init.zeros_(linear.bias)
    volume = np.random.default_rng(neighbours).normal(size=(12, 32, 32)).astype(np.float32)
    x = torch.from_numpy(group(volume, d, neighbours, 1))[None, :, None]
    with torch.no_grad():
        single = model.decoder(neck(model.encoder, model.frozen_features(x[:, middle_index(slices)])), (32, 32))[0]
        alone = model.decoder(
            neck(model.encoder, model.frozen_features(torch.from_numpy(volume[d])[None, None])), (32, 32)
        )[0]
        torch.testing.assert_close(model(x).logits, single, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(single, alone)  # the kept slice is slice d


@pytest.mark.parametrize("neighbours", range(1, 9))
def test_volume_inference_is_not_shifted(neighbours):
    """At initialisation AFTer-SAM's volume prediction is SAM's slice by slice: no slice moves, for every N_A."""
    after, plain = _pair(neighbours=neighbours)
    volume = np.random.default_rng(0).normal(size=(4, 32, 32)).astype(np.float32)
    after_labels = predict_volume(after, volume, neighbours=neighbours, interval=1, batch_size=4)
    plain_labels = predict_volume(plain, volume, neighbours=0, interval=1, batch_size=4)
    assert len(np.unique(plain_labels)) > 1 and np.array_equal(after_labels, plain_labels)


def test_the_fair_baseline_trains_everything_but_the_attention_across_slices():
    after, fair = _pair(neighbours=2, axial=False)
    trained = {n: tuple(p.shape) for n, p in after.named_parameters() if p.requires_grad}
    baseline = {n: tuple(p.shape) for n, p in fair.named_parameters() if p.requires_grad}
    across = {n for n in trained if ".axial_" in n or n == "fusion.pos_embed.axial"}
    assert across and all("axial" in n for n in across)
    assert baseline == {n: s for n, s in trained.items() if n not in across}
    assert "fusion.pos_embed.spatial" in baseline and any(n.startswith("decoder.") for n in baseline)
    assert any(".attn.qkv.lora_" in n and ".axial" not in n for n in baseline)  # the same in-slice LoRA


def test_heads_of_sam_derived_blocks_are_sam_s():
    with pytest.raises(ConfigError, match="keep SAM's 4 heads"):
        _model(heads=8)
    assert _model(heads=4).fusion.blocks[0].heads == 4  # the same value is accepted
    assert _model(fresh=True, heads=2).fusion.blocks[0].heads == 2  # fresh blocks take M


def _volumes(depth=7, size=32, cases=3):
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(depth, size, size)).astype(np.float32) for _ in range(cases)]
    labels = [(rng.random((depth, size, size)) > 0.9).astype(np.uint8) * rng.integers(1, 4) for _ in range(cases)]
    return VolumeSet(images, labels, [f"c{i}" for i in range(cases)], [(depth, 30, 24)] * cases, [(1.0, 1.0)] * cases)


def test_volume_inference_restores_shape_and_orientation():
    volumes = _volumes()
    labels = predict_volume(_model(), volumes.images[0], neighbours=2, interval=1, batch_size=3)
    assert labels.shape == (7, 32, 32)
    marker = np.zeros((7, 32, 32), dtype=np.uint8)
    marker[2, 5:9, 20:26] = 3  # an asymmetric block keeps its slice and corner after reassembly
    back = to_original_grid(marker, (7, 30, 24))
    assert back.shape == (7, 30, 24)
    z, y, x = np.nonzero(back)
    assert set(z) == {2} and y.mean() < 15 and x.mean() > 12
    assert dice_3d(marker, marker) == {1: 100.0, 2: 100.0, 3: 100.0}


def test_group_dataset_items():
    volumes = _volumes()
    item = GroupDataset(volumes, [0, 1], neighbours=2, interval=1)[0]
    assert item["image"].shape == (3, 1, 32, 32) and item["label"].shape == (32, 32)
    assert len(AllGroups(volumes, [0, 1], neighbours=2, interval=1)) == 14


def test_cached_and_uncached_training_give_the_same_losses(tmp_path):
    volumes = _volumes()
    plain = _model(seed=1)
    cached_model = _model(seed=1)
    groups = GroupDataset(volumes, [0, 1, 2], neighbours=2, interval=1)
    h1 = fit(plain, groups, None, out=tmp_path / "a", epochs=2, batch_size=2, lr=1e-3, seed=4, progress=False)
    cache = FeatureCache(cached_model)
    cached = CachedGroups(GroupDataset(volumes, [0, 1, 2], neighbours=2, interval=1), cache)
    h2 = fit(
        FromFeatures(cached_model, 32),
        cached,
        None,
        out=tmp_path / "b",
        epochs=2,
        batch_size=2,
        lr=1e-3,
        seed=4,
        progress=False,
    )
    for a, b in zip(h1, h2):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
    assert 0 < cache.computed <= 3 * 7  # every slice computed at most once


def test_cache_refuses_augmented_groups():
    from monai.transforms import RandFlipd

    volumes = _volumes()
    groups = GroupDataset(
        volumes, [0], neighbours=2, interval=1, transform=RandFlipd(keys=["image", "label"], prob=1.0, spatial_axis=0)
    )
    with pytest.raises(ValueError, match="without input augmentation"):
        CachedGroups(groups, FeatureCache(_model()))


def test_several_groups_per_volume():
    volumes = _volumes()
    groups = GroupDataset(volumes, [0, 2], neighbours=2, interval=1, groups_per_volume=3)
    assert len(groups) == 6 and [groups.case_of(i) for i in range(6)] == [0, 2, 0, 2, 0, 2]
    assert groups[5]["case"] == volumes.case_ids[2]


def test_elastic_groups_repeat_under_a_seed():
    from sambook.train.volumes import elastic_deformation

    volumes = _volumes()
    transform = elastic_deformation(32)
    transform.prob = 1.0  # deform every group

    def draw(seed):
        torch.manual_seed(seed)
        groups = GroupDataset(volumes, [0, 1], neighbours=2, interval=1, transform=transform)
        return torch.stack([groups[i]["image"] for i in range(2)])

    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


def test_a_config_asking_other_heads_of_sam_derived_blocks_is_refused():
    from sambook.build import build_model
    from sambook.config import TrainConfig
    from sambook.profiles import PROFILES

    keys = {"model": "aftersam", "backbone": "mini", "image_size": 32, "checkpoint": None, "num_classes": 4}
    assert TrainConfig(**keys).resolved(PROFILES["gpu"]).fusion_heads is None  # the profile's M is for fresh blocks
    assert TrainConfig(**keys, fresh=True).resolved(PROFILES["gpu"]).fusion_heads == 8
    with pytest.raises(ConfigError, match="fusion_heads 8: SAM-derived fusion blocks keep SAM's 4 heads"):
        build_model({**keys, "fusion_heads": 8}, profile=PROFILES["ci"])


class _Whole(torch.nn.Module):
    """The same AFTer-SAM behind a plain module: volume inference feeds it each group whole."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)


@pytest.mark.parametrize("slices, interval", [(3, 1), (4, 2), (1, 1)])
def test_volume_inference_from_shared_slice_features_equals_feeding_each_group(slices, interval):
    """AFTer-SAM's frozen blocks run once per slice in volume inference; the label map, and the logits of every
    group, are those of feeding every group through the whole model."""
    model = _model(slices).eval()
    with torch.no_grad():  # a trained-looking model: the zero-started gates open, so the slices matter
        for name, p in model.named_parameters():
            if "gate" in name:
                p.fill_(0.5)
    volume = _volumes(depth=9).images[0]
    neighbours = slices - 1
    fast = predict_volume(model, volume, neighbours=neighbours, interval=interval, batch_size=4)
    whole = predict_volume(_Whole(model), volume, neighbours=neighbours, interval=interval, batch_size=4)
    assert np.array_equal(fast, whole)
    with torch.no_grad():
        x = torch.from_numpy(volume)[:, None]
        features = model.frozen_features(x)
        index = torch.tensor([neighbour_indices(d, 9, neighbours, interval) for d in range(9)])
        groups = torch.from_numpy(np.stack([volume[i] for i in index.numpy()]))[:, :, None]
        torch.testing.assert_close(model.head(features[index], (32, 32)).logits, model(groups).logits)
