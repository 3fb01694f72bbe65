"""Chapter `how_it_compares`: the MONAI baselines, the prompt derivations, the prompted AFTer-SAM, the 3D path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sambook.build import build_model
from sambook.config import BASELINE_NETWORKS, config_from_dict
from sambook.datasets.patches import PatchDataset, pad_to
from sambook.datasets.prompts import (
    TOKENS,
    PromptedGroups,
    box_prompt,
    interior_point,
    point_prompts,
    prompt_plane,
    prompt_tokens,
    read_prompt_plane,
)
from sambook.datasets.volumes import GroupDataset, VolumeSet
from sambook.errors import ConfigError
from sambook.evaluate.sliding_window import predict_volume_3d
from sambook.models.baselines import network
from sambook.models.prompted import embed_prompt
from sambook.profiles import PROFILES
from sambook.train.baselines import train_volume_model
from sambook.train.volumes import split_cases

CI = PROFILES["ci"]
SIDE = CI.baseline_image_size


def _keys(kind: str, **more) -> dict:
    return {"model": kind, "num_classes": 4, "lambda_iou": 0, "checkpoint": None, **more}


@pytest.mark.parametrize("network_name", BASELINE_NETWORKS)
@pytest.mark.parametrize("layout", ["", "_per_slice", "_3d"])
def test_every_baseline_kind_trains_and_has_the_right_shapes(network_name, layout):
    torch.manual_seed(0)
    model = build_model(_keys(network_name + layout), profile=CI)
    depth, side = CI.patch_3d[0], SIDE
    x = {
        "": torch.randn(2, 4, side, side),
        "_per_slice": torch.randn(2, 1, 1, side, side),
        "_3d": torch.randn(2, 1, depth, side, side),
    }[layout]
    logits, iou = model(x)
    assert logits.shape == ((2, 4, depth, side, side) if layout == "_3d" else (2, 4, side, side))
    assert iou.shape == (2, 4) and not iou.any()
    logits.logsumexp(1).mean().backward()
    idle = [n for n, p in model.named_parameters() if p.grad is None]
    assert all("norm_cross_attn" in n for n in idle), idle  # MONAI's ViT blocks build a cross-attention norm unused


@pytest.mark.parametrize("slices", [1, 2, 3, 4, 5])
def test_per_slice_baseline_reads_only_the_slice_the_group_is_centred_on(slices):
    """The slice the datasets label (middle_index: floor(N_A / 2)), for odd N_A (even group sizes) too."""
    torch.manual_seed(0)
    model = build_model(_keys("unet_per_slice"), profile=CI).eval()
    x = torch.randn(1, slices, 1, SIDE, SIDE)
    d = (slices - 1) // 2
    changed = x.clone()
    others = [n for n in range(slices) if n != d]
    changed[:, others] = torch.randn(1, len(others), 1, SIDE, SIDE)
    torch.testing.assert_close(model(x).logits, model(changed).logits)
    torch.testing.assert_close(model(x).logits, model(x[:, d : d + 1]).logits)


def test_baselines_refuse_an_iou_loss_and_bad_sizes():
    with pytest.raises(ConfigError, match="lambda_iou: 0"):
        build_model({"model": "unet", "checkpoint": None, "lambda_iou": 1.0}, profile=CI)
    with pytest.raises(ValueError, match="swin_unetr.*divisible by 32"):
        network("swin_unetr", spatial_dims=2, in_channels=1, out_channels=2, width=12, image_size=32)
    with pytest.raises(ValueError, match="multiple of 12"):
        network("swin_unetr", spatial_dims=2, in_channels=1, out_channels=2, width=16, image_size=64)
    with pytest.raises(ValueError, match="unetr.*divisible by its ViT patch"):
        network("unetr", spatial_dims=2, in_channels=1, out_channels=2, width=12, image_size=40)


def test_prompt_keys_are_checked():
    with pytest.raises(ConfigError, match="x.yaml: prompt: 'text' is not allowed"):
        config_from_dict({"model": "aftersam_prompted", "prompt": "text"}, "x.yaml")
    with pytest.raises(ConfigError, match="x.yaml: prompt 'box' needs model aftersam_prompted"):
        config_from_dict({"model": "aftersam", "prompt": "box"}, "x.yaml")


def _blob(seed: int = 0, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), bool)
    y0, x0 = rng.integers(2, 12, size=2)
    mask[y0 : y0 + rng.integers(4, 16), x0 : x0 + rng.integers(4, 16)] = True
    mask[y0, x0 + 20 if x0 + 20 < size else 0] = True  # a stray pixel the box must include
    return mask


@pytest.mark.parametrize("seed", range(5))
def test_box_is_the_tight_bounding_box(seed):
    mask = _blob(seed)
    x0, y0, x1, y1 = box_prompt(mask)
    ys, xs = np.nonzero(mask)
    assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max(), ys.max())
    tokens = prompt_tokens(mask, "box", np.random.default_rng(0))
    np.testing.assert_array_equal(tokens, [[x0, y0, 2], [x1, y1, 3]])


@pytest.mark.parametrize("seed", range(5))
def test_points_lie_in_the_mask_and_are_deterministic_under_a_seed(seed):
    mask = _blob(seed)
    first = interior_point(mask)
    assert mask[int(first[1]), int(first[0])]
    points = point_prompts(mask, 3, np.random.default_rng(7))
    assert all(mask[int(y), int(x)] for x, y in points)
    np.testing.assert_array_equal(points[0], first)  # the one-point prompt is the first of the three
    assert len({tuple(p) for p in points}) == 3  # drawn without replacement
    np.testing.assert_array_equal(points, point_prompts(mask, 3, np.random.default_rng(7)))
    tokens = prompt_tokens(mask, "points3", np.random.default_rng(7))
    np.testing.assert_array_equal(tokens[:3, :2], points)
    assert tokens[:, 2].tolist() == [1, 1, 1, -1]  # SAM's padding token closes a point prompt


def test_interior_point_is_farthest_from_the_background():
    mask = np.zeros((21, 31), bool)
    mask[2:19, 3:28] = True  # a 17 x 25 rectangle: its centre row is 10, centre column 15
    x, y = interior_point(mask)
    assert y == 10 and 11 <= x <= 19  # 9 pixels from the background above and below


def test_an_empty_mask_gives_only_not_a_point_tokens():
    empty = np.zeros((16, 16), bool)
    assert box_prompt(empty) is None and interior_point(empty) is None
    for kind, count in TOKENS.items():
        tokens = prompt_tokens(empty, kind, np.random.default_rng(0))
        assert tokens.shape == (count, 3) and (tokens[:, 2] == -1).all()


def test_the_prompt_plane_round_trips():
    tokens = prompt_tokens(_blob(1), "points3", np.random.default_rng(3))
    plane = torch.from_numpy(np.stack([prompt_plane(tokens, 32)] * 2))
    coords, labels = read_prompt_plane(plane, len(tokens))
    torch.testing.assert_close(coords[0], torch.from_numpy(tokens[:, :2]))
    assert labels[1].tolist() == tokens[:, 2].astype(int).tolist()
    with pytest.raises(ValueError, match="do not fit"):
        prompt_plane(np.zeros((400, 3), np.float32), 16)


def test_prompt_embedding_matches_sams_prompt_encoder():
    from sambook.models.sam_core import build_sam

    torch.manual_seed(0)
    encoder = build_sam("mini", image_size=32).prompt_encoder
    points = torch.rand(2, 3, 2) * 31
    labels = torch.tensor([[1, 1, -1], [1, -1, -1]])
    ours = embed_prompt(encoder, points, labels)
    torch.testing.assert_close(ours, encoder._embed_points(points, labels.float(), pad=False))
    boxes = torch.tensor([[3.0, 4.0, 20.0, 25.0]])
    box_labels = torch.tensor([[2, 3]])
    torch.testing.assert_close(embed_prompt(encoder, boxes.reshape(1, 2, 2), box_labels), encoder._embed_boxes(boxes))


def _volumes(cases: int = 4, depth: int = 12, side: int = 32) -> VolumeSet:
    rng = np.random.default_rng(0)
    images, labels = [], []
    for _ in range(cases):
        label = np.zeros((depth, side, side), np.uint8)
        label[3:9, 8:20, 10:22] = 2
        label[4:7, 11:16, 13:18] = 3
        images.append((rng.normal(size=label.shape) + label).astype(np.float32))
        labels.append(label)
    ids = [f"case{i}" for i in range(cases)]
    return VolumeSet(images, labels, ids, [(depth, side, side)] * cases, [(1.0, 1.0)] * cases)


@pytest.mark.parametrize("prompt", ["box", "point", "points3", "none"])
def test_prompted_aftersam_trains_on_prompted_groups(prompt):
    volumes = _volumes()
    groups = GroupDataset(volumes, [0, 1], neighbours=2, interval=1)
    torch.manual_seed(0)
    item = PromptedGroups(groups, prompt)[0]
    assert item["image"].shape == (4, 1, 32, 32)
    torch.manual_seed(0)
    model = build_model(
        {
            "model": "aftersam_prompted",
            "prompt": prompt,
            "backbone": "mini",
            "image_size": 32,
            "checkpoint": None,
            "neighbours": 2,
            "fusion_blocks": 1,
            "lora_rank": 2,
            "num_classes": 4,
        },
        profile=CI,
    )
    logits, iou = model(item["image"][None])
    assert logits.shape == (1, 4, 32, 32) and iou.shape == (1, 4)
    logits.mean().backward()
    point_embedding = model.aftersam.decoder.prompt_encoder.point_embeddings[1].weight
    assert point_embedding.requires_grad == (prompt != "none")
    if prompt in ("point", "points3"):
        assert point_embedding.grad is not None and point_embedding.grad.abs().sum() > 0


def test_patches_pad_and_cover_the_tumour():
    volumes = _volumes(depth=12)
    assert pad_to(volumes.images[0], (16, 32, 32)).shape == (16, 32, 32)
    data = PatchDataset(volumes, [0, 1], patch=(16, 16, 16), patches_per_volume=3, foreground_share=1.0)
    torch.manual_seed(0)
    items = [data[i] for i in range(len(data))]
    assert len(items) == 6 and all(i["image"].shape == (1, 16, 16, 16) for i in items)
    assert all(i["label"].shape == (16, 16, 16) and (i["label"] > 0).any() for i in items)


def test_the_3d_path_end_to_end(tmp_path):
    volumes = _volumes(cases=4, depth=12, side=64)
    keys = _keys("unet_3d", image_size=64, patch_3d=[16, 32, 32], width=4, epochs=2, batch_size=2, seed=0)
    cfg = config_from_dict(keys).resolved(CI)
    model, history, scores = train_volume_model(cfg, tmp_path / "run", progress=False, volumes=volumes)
    assert len(history) == 2 and np.isfinite(history[-1]["train_loss"])
    assert (tmp_path / "run" / "volume_scores.json").is_file()
    assert set(scores["mean_per_class"]) == {"1", "2", "3"}
    assert all(0.0 <= v <= 100.0 for v in scores["mean_per_class"].values())
    prediction = predict_volume_3d(model, volumes.images[0], patch=cfg.patch_3d)
    assert prediction.shape == volumes.labels[0].shape and prediction.max() <= 3
    _, _, again = train_volume_model(cfg, tmp_path / "again", progress=False, volumes=volumes)
    assert again == scores  # seeded: the same run twice


def test_volume_baselines_validate_and_report_like_aftersam(tmp_path):
    """The baselines train as AFTer-SAM does: patients held out for validation, never scored on the test split, and
    the reported epoch's model scored once."""
    volumes = _volumes(cases=6, depth=12, side=64)
    keys = _keys("unet_per_slice", image_size=64, width=4, epochs=3, batch_size=2, seed=0, report_epoch="validation")
    cfg = config_from_dict(keys).resolved(CI)
    _, history, scores = train_volume_model(cfg, tmp_path / "run", progress=False, volumes=volumes)
    assert all("val_dice" in row for row in history)
    best = max(history, key=lambda row: (row["val_dice"], row["epoch"]))["epoch"]
    assert scores["report_epoch"] == "validation" and scores["epoch"] == best
    train_cases, test_cases = split_cases(6, seed=0)
    assert len(scores["per_case"]) == len(test_cases) and len(train_cases) == 4


def test_baseline_parameter_counts_quote_table3_and_count_the_built_model():
    from sambook.estimate.params import baseline_parameters, format_baseline_table

    rows = {r["model"]: r for r in baseline_parameters(width=12, image_size=64)}
    model = build_model({"model": "unetr", "num_classes": 1, "width": 12, "image_size": 64, "lambda_iou": 0})
    assert rows["unetr"]["all"] == sum(p.numel() for p in model.parameters())
    assert rows["unetr"]["paper"] == (93, 93, 100) and rows["swin_unetr"]["paper"] == (43, 43, 100)
    assert rows["unetr"]["unused"] > 0 and rows["unet"]["unused"] == 0
    assert "Trans-Unet: 93M / 93M / 100%" in format_baseline_table(list(rows.values()))


def test_the_prompted_model_without_a_prompt_is_aftersam_itself():
    """Table 3's w.o. arm: with prompt none, PromptedAfterSAM predicts what its AfterSAM predicts for the group."""
    volumes = _volumes()
    groups = PromptedGroups(GroupDataset(volumes, [0], neighbours=3, interval=1), "none")
    keys = {
        "model": "aftersam_prompted",
        "prompt": "none",
        "backbone": "mini",
        "image_size": 32,
        "checkpoint": None,
        "neighbours": 3,
        "fusion_blocks": 1,
        "lora_rank": 2,
        "num_classes": 4,
    }
    torch.manual_seed(0)
    model = build_model(keys, profile=CI).eval()
    for p in model.parameters():  # away from the zero start, so that the fusion and LoRA take part
        p.data.add_(0.01 * torch.randn_like(p))
    x = groups[0]["image"][None]
    with torch.no_grad():
        torch.testing.assert_close(model(x).logits, model.aftersam(x[:, :-1]).logits)
