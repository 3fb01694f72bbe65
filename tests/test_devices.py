"""Device-correct by test, without a GPU: every model kind trains a step with its weights and inputs on a device other
than the default, and the paths that carry data to a model (volume inference, the feature cache) hand it tensors on
its own device.

The other device is ``meta`` (shapes and dtypes only, no data): a tensor that the library makes on the CPU, when it
meets a meta tensor, raises "Tensor on device cpu is not on the expected device meta!", and ``.cpu()`` or
``.numpy()`` of a meta tensor raises too, just as a CPU tensor meeting a CUDA one does on a GPU.

The MONAI baselines run on ``meta`` as they are. MONAI's sliding-window inference does not: its
``monai.data.utils.compute_importance_map`` reads the minimum of the window weights with ``.item()``, which a meta
tensor cannot give, so that one step is computed on the host and handed to MONAI on the device it asked for.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.inferers import utils as inferer_utils
from torch import nn
from torch.utils.data import DataLoader

from sambook.build import MODEL_KINDS, build_model, resolve_config
from sambook.config import BASELINE_NETWORKS, config_from_dict
from sambook.datasets.prompts import prompt_plane, prompt_tokens
from sambook.datasets.volumes import GroupDataset, VolumeSet
from sambook.errors import ConfigError
from sambook.evaluate import sliding_window
from sambook.evaluate.prompted import predict_prompted_volume
from sambook.evaluate.sliding_window import predict_volume_3d
from sambook.evaluate.volumes import predict_volume
from sambook.models.aftersam import AfterSAM
from sambook.models.feature_cache import CachedGroups, FeatureCache
from sambook.train.loop import fit_arguments
from sambook.train.losses import SegmentationLoss

SIZE = 32
#: A mini config of every model kind, with the options that change its forward path.
MINI = {
    "sam": {"model": "sam"},
    "early": {"model": "early"},
    "cmaa": {"model": "cmaa", "adapter_blocks": 1, "separate_encoders": True},
    "aftersam": {"model": "aftersam", "neighbours": 2, "interval": 1, "fusion_blocks": 1, "lora_rank": 2},
    "aftersam_prompted": {
        "model": "aftersam_prompted",
        "neighbours": 2,
        "interval": 1,
        "fusion_blocks": 1,
        "lora_rank": 2,
        "num_classes": 4,
    },
    "pretrain": {"model": "pretrain", "image_size": SIZE},
}
for _network in BASELINE_NETWORKS:
    # SwinUNETR: width a multiple of 12, sides divisible by 32 and more than one element at 1/32 (its rules).
    _swin = _network == "swin_unetr"
    _common = {"num_classes": 4, "lambda_iou": 0, "width": 12 if _swin else 4, "image_size": 64 if _swin else SIZE}
    MINI[_network] = {"model": _network, **_common}
    MINI[f"{_network}_per_slice"] = {"model": f"{_network}_per_slice", **_common, "neighbours": 2}
    MINI[f"{_network}_3d"] = {"model": f"{_network}_3d", **_common, "patch_3d": (32, 32, 64) if _swin else (16, 32, 32)}
VARIANTS = [
    ("sam", {}),
    ("early", {"num_classes": 4}),
    ("cmaa", {}),
    ("aftersam", {"num_classes": 4}),
    ("aftersam", {"num_classes": 4, "fresh": True, "fusion_heads": 2, "attention": "lean"}),
    ("aftersam", {"num_classes": 4, "decoder_lora": True, "checkpointing": True}),
    ("sam", {"attention": "lean", "checkpointing": True}),
    ("pretrain", {}),
    ("aftersam_prompted", {"prompt": "box"}),
    ("aftersam_prompted", {"prompt": "points3", "prompt_encoder": "frozen"}),
    ("aftersam_prompted", {"prompt": "none"}),
    *[(f"{network}{layout}", {}) for network in BASELINE_NETWORKS for layout in ("", "_per_slice", "_3d")],
]


def _keys(kind: str, options: dict) -> dict:
    if kind == "pretrain":
        return MINI[kind]
    return {"backbone": "mini", "image_size": SIZE, "checkpoint": None, **MINI[kind], **options}


def _prompt_planes(kind: str, count: int, side: int) -> torch.Tensor:
    """``count`` prompt planes (count, 1, 1, S, S) of a square's prompt, as the loaders append them to a group."""
    mask = np.zeros((side, side), bool)
    mask[8:20, 8:20] = True
    plane = prompt_plane(prompt_tokens(mask, kind, np.random.default_rng(0)), side)
    return torch.from_numpy(plane).expand(count, 1, 1, side, side)


def _batch(kind: str, keys: dict, device: str, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor, nn.Module]:
    """Inputs as the loaders give them, labels, and the loss the loop would use (its config's, via fit_arguments);
    made on the host and moved to ``device``, as the loop moves a batch."""
    if kind == "pretrain":
        images, labels = torch.randn(2, 1, SIZE, SIZE), torch.zeros(2, SIZE, SIZE, dtype=torch.long)
        return images.to(device, dtype), labels.to(device), SegmentationLoss()
    cfg = resolve_config(keys)
    side = cfg.image_size
    if kind.endswith("_3d"):  # patches (B, 1, D, H, W), labels (B, D, H, W)
        images, labels = torch.randn(2, 1, *cfg.patch_3d), torch.zeros(2, *cfg.patch_3d, dtype=torch.long)
    elif kind.startswith("aftersam") or kind.endswith("_per_slice"):  # slice groups (B, N, 1, S, S)
        images, labels = torch.randn(2, cfg.neighbours + 1, 1, side, side), torch.zeros(2, side, side, dtype=torch.long)
        if kind == "aftersam_prompted":  # and the prompt plane of the middle slice
            images = torch.cat([images, _prompt_planes(cfg.prompt, 2, side)], dim=1)
    else:  # the Table 1 slices (B, 4, S, S)
        images, labels = torch.randn(2, 4, side, side), torch.zeros(2, side, side, dtype=torch.long)
    return images.to(device, dtype), labels.to(device), fit_arguments(cfg)["loss_fn"]


def test_the_variants_cover_every_model_kind():
    assert {kind for kind, _ in VARIANTS} == set(MODEL_KINDS)


@pytest.mark.parametrize(("kind", "options"), VARIANTS, ids=lambda v: v if isinstance(v, str) else repr(v))
def test_every_model_kind_trains_a_step_on_the_device_of_its_weights(kind, options):
    keys = _keys(kind, options)
    torch.manual_seed(0)
    model = build_model(keys).to("meta").train()
    images, labels, loss_fn = _batch(kind, keys, "meta")
    loss = loss_fn(model(images), labels)
    loss.backward()
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert loss.device.type == "meta" and trained
    assert all(p.grad is not None and p.grad.device.type == "meta" for n, p in trained if p.grad is not None)
    assert any(p.grad is not None for _, p in trained)
    leftovers = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.device.type != "meta"]
    assert not leftovers


FIRST_OF_EACH_KIND = [v for i, v in enumerate(VARIANTS) if v[0] not in {k for k, _ in VARIANTS[:i]}]
#: Under bf16 (computed for real on the CPU) the ``_per_slice`` baselines are left out: the same 2D network as
#: ``<net>``, on one slice; so is ``swin_unetr_3d``, whose one bf16 step takes over a minute on these 2-core machines
#: (its fp32 step is in tests/test_baselines.py, its meta step above).
BF16_VARIANTS = [(k, o) for k, o in FIRST_OF_EACH_KIND if not k.endswith("_per_slice") and k != "swin_unetr_3d"]


@pytest.mark.parametrize(("kind", "options"), BF16_VARIANTS, ids=lambda v: v if isinstance(v, str) else repr(v))
def test_every_model_kind_trains_a_step_under_bf16_autocast(kind, options):
    """The GPU loop's precision, on the CPU: bf16 autocast, fp32 weights, a finite loss and finite gradients."""
    keys = _keys(kind, options)
    torch.manual_seed(0)
    model = build_model(keys).train()
    images, labels, loss_fn = _batch(kind, keys, "cpu")
    labels[:, 8:20, 8:20] = 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = loss_fn(model(images), labels)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


class DeviceRecorder(nn.Module):
    """A stub model on ``device`` that records the device of every input and answers with host logits."""

    def __init__(self, device: str, classes: int = 4):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, device=device))
        self.classes, self.seen = classes, []

    def forward(self, x: torch.Tensor):
        self.seen.append(x.device)
        return (torch.zeros(x.shape[0], self.classes, *x.shape[-2:]),)


def test_volume_prediction_feeds_the_model_on_its_device():
    model = DeviceRecorder("meta")
    volume = np.zeros((5, SIZE, SIZE), np.float32)
    labels = predict_volume(model, volume, neighbours=2, interval=1, batch_size=2)
    assert labels.shape == (5, SIZE, SIZE) and labels.dtype == np.uint8
    assert model.seen == [torch.device("meta")] * 3


class HostLogits(nn.Module):
    """A real model on ``meta`` that records the device of every input and answers with host logits of its output's
    shape: what a GPU -> host copy would give (a meta tensor has no values to copy)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.seen = model.to("meta"), []

    def forward(self, x: torch.Tensor):
        self.seen.append(x.device)
        logits = self.model(x)[0]  # raises if anything in it is made on the host
        return (torch.zeros(logits.shape, dtype=logits.dtype),)


SLICE_BY_SLICE = ["aftersam", *[f"{network}_per_slice" for network in BASELINE_NETWORKS]]


@pytest.mark.parametrize("kind", SLICE_BY_SLICE)
def test_every_slice_by_slice_kind_predicts_a_volume_on_its_device(kind):
    keys = _keys(kind, {"num_classes": 4})
    side = resolve_config(keys).image_size
    torch.manual_seed(0)
    model = HostLogits(build_model(keys))
    labels = predict_volume(model, np.zeros((5, side, side), np.float32), neighbours=2, interval=1, batch_size=2)
    assert labels.shape == (5, side, side) and labels.dtype == np.uint8
    assert model.seen == [torch.device("meta")] * 3


@pytest.mark.parametrize("prompt", ["box", "points3", "none"])
def test_prompted_volume_prediction_feeds_the_groups_and_their_prompts_on_the_device_of_the_model(prompt):
    """The prompted AFTer-SAM's volume inference: the groups and prompt planes made on the host go to the model."""
    keys = _keys("aftersam_prompted", {"prompt": prompt})
    torch.manual_seed(0)
    model = HostLogits(build_model(keys))
    volume, truth = np.zeros((5, SIZE, SIZE), np.float32), np.zeros((5, SIZE, SIZE), np.uint8)
    truth[:, 8:20, 8:20] = 2
    labels = predict_prompted_volume(
        model, volume, truth, prompt=prompt, neighbours=2, interval=1, case=0, batch_size=2
    )
    assert labels.shape == (5, SIZE, SIZE) and labels.dtype == np.uint8
    assert model.seen == [torch.device("meta")] * 3


@pytest.mark.parametrize("network", BASELINE_NETWORKS)
def test_sliding_window_prediction_feeds_the_model_on_its_device(network, monkeypatch):
    """The 3D baselines' volume inference: MONAI tiles the volume on the device it is given, so the volume must go
    to the model's device. MONAI's window weights cannot be made on ``meta`` (``compute_importance_map`` calls
    ``.item()``): they are made on the host and handed over on the device MONAI asked for; MONAI's blended logits
    (on ``meta``) come back as host zeros, what a GPU -> host copy would give."""
    compute, weights_on = inferer_utils.compute_importance_map, []

    def host_weights(patch_size, **options):
        weights_on.append(torch.device(options.pop("device")))
        return compute(patch_size, **options, device="cpu").to(weights_on[-1])

    infer, blended_on = sliding_window.sliding_window_inference, []

    def to_host(inputs: torch.Tensor, **options) -> torch.Tensor:
        logits = infer(inputs, **options)
        blended_on.append(logits.device)
        return torch.zeros(logits.shape, dtype=logits.dtype)

    monkeypatch.setattr(inferer_utils, "compute_importance_map", host_weights)
    monkeypatch.setattr(sliding_window, "sliding_window_inference", to_host)
    keys = _keys(f"{network}_3d", {})
    cfg = resolve_config(keys)
    torch.manual_seed(0)
    model, seen = build_model(keys).to("meta"), []
    model.register_forward_pre_hook(lambda module, args: seen.append(args[0].device))
    volume = np.zeros((12, 48, 48), np.float32)  # thinner than a patch (padded) and wider (several windows)
    labels = predict_volume_3d(model, volume, patch=cfg.patch_3d)
    assert labels.shape == volume.shape and labels.dtype == np.uint8
    assert weights_on == blended_on == [torch.device("meta")]
    assert seen and set(seen) == {torch.device("meta")}


def _volumes(count: int = 2, depth: int = 6) -> VolumeSet:
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(depth, SIZE, SIZE)).astype(np.float32) for _ in range(count)]
    labels = [np.zeros((depth, SIZE, SIZE), np.uint8) for _ in range(count)]
    return VolumeSet(
        images, labels, [f"c{i}" for i in range(count)], [(depth, SIZE, SIZE)] * count, [(1.0, 1.0)] * count
    )


def _aftersam() -> AfterSAM:
    torch.manual_seed(0)
    keys = _keys("aftersam", {"num_classes": 4})
    return build_model(keys)


def test_the_feature_cache_runs_the_frozen_blocks_on_the_device_of_the_model():
    """The bug of Colab's ``cache: true``: host slices fed to a model that ``fit`` had moved to the GPU."""
    model = _aftersam()
    cache = FeatureCache(model)  # the weights' hash is taken where the weights are readable
    model.to("meta")
    frozen_features, seen = model.frozen_features, []

    def recorded(slices: torch.Tensor) -> torch.Tensor:
        seen.append(slices.device)
        features = frozen_features(slices)  # raises if anything in it is made on the host
        return torch.zeros(features.shape, dtype=features.dtype)  # what a GPU -> host copy would give

    model.frozen_features = recorded
    groups = CachedGroups(GroupDataset(_volumes(), [0, 1], neighbours=2, interval=1), cache)
    item = groups[0]
    assert seen == [torch.device("meta")]
    assert item["image"].device.type == "cpu" and item["image"].shape[0] == 3  # kept on the host, batched by the loop


def test_the_feature_cache_refuses_dataloader_workers():
    model = _aftersam()
    groups = CachedGroups(GroupDataset(_volumes(), [0, 1], neighbours=2, interval=1), FeatureCache(model))
    with pytest.raises(RuntimeError, match="main process"):
        next(iter(DataLoader(groups, batch_size=1, num_workers=1)))
    with pytest.raises(ConfigError, match="num_workers: 0"):
        config_from_dict({"model": "aftersam", "cache": True, "elastic": False, "num_workers": 2}, "configs/x.yaml")


def test_the_linear_probe_runs_the_encoder_on_its_device():
    from sambook.foundation.probe import token_features

    class Encoder(DeviceRecorder):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.seen.append(x.device)
            return torch.zeros(x.shape[0], 8, 4, 4)  # (B, C, h, w) as a GPU -> host copy would give

    encoder = Encoder("meta")
    items = [{"image": torch.randn(4, SIZE, SIZE), "label": torch.zeros(SIZE, SIZE, dtype=torch.long)}] * 3
    features, labels = token_features(encoder, items, "flair", batch_size=2)
    assert encoder.seen == [torch.device("meta")] * 2
    assert features.shape == (3, 8, 4, 4) and labels.shape == (3, 4, 4)
