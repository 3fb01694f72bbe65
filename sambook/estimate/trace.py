"""Peak memory and FLOPs of one step, traced on fake tensors (chapter `training_runs`).

The model is built *inside* ``FakeTensorMode`` (on device "cpu", with the wanted default dtype): every tensor has
a shape, dtype and device but no storage, so a ViT-H at batch 64 costs nothing to "run". One step is traced —
forward, loss, backward and the AdamW step, or the forward alone for inference — under torch's ``MemTracker``
(live bytes per category: parameters, buffers, gradients, optimiser state, activations, temporaries; the peak is
the moment the total is highest) and ``FlopCounterMode`` (matmul, convolution and attention FLOPs).

The traced step mirrors the book's training loop (:func:`sambook.train.loop.fit`): fp32 weights and AdamW state,
the forward and loss under autocast for bf16/fp16. Inference follows the segment-anything-fast measurements
(weights converted to the dtype, ``torch.no_grad``; autocast as well, because SAM's
dense positional encoding is made in fp32 whatever the weights).

Left out (a real card needs more): the CUDA context, cuBLAS/cuDNN workspaces, and the caching allocator's
fragmentation and rounding. The trace runs CPU kernels; CUDA differs only where another kernel is chosen (mainly
``scaled_dot_product_attention``, whose fused kernels on both need no mask and equal query/value head sizes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.distributed._tools.mem_tracker import _TOTAL_KEY, MemTracker, _MemRefType
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

from sambook.build import build_model

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
MODELS = ("sam", "early", "cmaa", "aftersam")
AFTERSAM_SLICES = 9  # paper: N_A = 8 neighbours, so groups of 9 slices
CATEGORIES = {  # MemTracker's names -> the book's
    "Parameter": "parameters",
    "Buffer": "buffers",
    "Gradient": "gradients",
    "Optstate": "optimizer_state",
    "Activation": "activations",
    "Temp": "temporaries",
    "Other": "other",
}
MIB = 2**20


@dataclass(frozen=True)
class Setting:
    """One run to estimate. ``slices``: slices per group, AFTer-SAM only (default 9); ``fusion_blocks`` and
    ``lora_rank``: AFTer-SAM's L and LoRA rank; ``model_options``: any other model key of a training config
    (:data:`sambook.estimate.configs.MODEL_OPTIONS`), so the traced model is the one the config trains."""

    model: str
    backbone: str = "vit_b"
    batch: int = 1
    size: int = 256
    slices: int | None = None
    dtype: str = "fp32"
    attention: str = "stock"
    checkpointing: bool = False
    inference: bool = False
    num_classes: int = 1
    adapter_blocks: int = 6
    modality: str = "flair"
    fusion_blocks: int = 6
    lora_rank: int = 4
    model_options: tuple[tuple[str, object], ...] = ()  # further config keys of the model (e.g. ("fresh", True))


@dataclass
class Estimate:
    setting: Setting
    peak_bytes: int  # total at the traced peak
    categories: dict[str, int]  # bytes per category at that moment
    flops: int  # per step (forward, backward and optimiser; forward only for inference)

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / MIB

    def to_dict(self) -> dict:
        return {
            "setting": dataclasses.asdict(self.setting),
            "peak_mib": round(self.peak_mib, 1),
            "peak_gb": round(self.peak_bytes / 1e9, 3),
            "categories_mib": {k: round(v / MIB, 1) for k, v in self.categories.items()},
            "gflops": round(self.flops / 1e9, 2),
        }


# torch's counter knows the CUDA fused attention kernels but not the CPU one the trace runs: same formulas.
@flop_counter.register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu)
def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)


@flop_counter.register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward)
def _cpu_sdpa_backward_flop(
    grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs
) -> int:
    return flop_counter.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def traced_loss(prediction, labels: torch.Tensor) -> torch.Tensor:
    """Dice + cross-entropy + IoU-MSE as :class:`sambook.train.losses.SegmentationLoss`, in plain torch ops.

    MONAI's loss calls ``.tolist()``, which fake tensors cannot answer; the loss's tensors are (B, K, H, W) and
    negligible beside the encoder's, so this stand-in changes the estimate by little.
    """
    logits, iou = prediction  # (B, K, H, W), (B, K)
    if logits.shape[1] == 1:
        target = (labels[:, None] > 0).to(logits.dtype)  # (B, 1, H, W)
        probs, ce = logits.sigmoid(), F.binary_cross_entropy_with_logits(logits, target)
    else:
        target = F.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype)
        probs, ce = logits.softmax(dim=1), F.cross_entropy(logits, labels)
    overlap = (probs * target).sum((2, 3))
    dice = 1 - (2 * overlap + 1e-5) / (probs.sum((2, 3)) + target.sum((2, 3)) + 1e-5)  # (B, K)
    return dice.mean() + ce + F.mse_loss(iou, (overlap / (probs + target).sum((2, 3)).clamp_min(1e-5)).detach())


class _Tracker(MemTracker):
    """``MemTracker`` that hooks gradients only of parameters that get one (SAM's encoder is frozen), and keeps
    the per-device peak only (not every module's, which costs a loop over all modules per operation)."""

    def _update_peak_stats(self, peak_state) -> None:
        for device, snap in self._curr_mem_snap.items():
            if self._peak_mem.get(device, 0) < snap[_TOTAL_KEY]:
                self._peak_mem[device] = snap[_TOTAL_KEY]
                self._peak_mem_snap[device] = dict(snap)

    def _track_module_params_and_buffers(self, module: nn.Module, install_grad_hooks: bool = True):
        memory = super()._track_module_params_and_buffers(module, install_grad_hooks=False)

        def grad_hook(grad: torch.Tensor) -> None:
            self._update_and_maybe_create_winfos(grad, _MemRefType.GRAD)

        for param in module.parameters():
            if install_grad_hooks and param.requires_grad and param not in self._param_to_grad_hook_handles:
                self._param_to_grad_hook_handles[param] = (
                    param.register_hook(grad_hook),
                    param.register_post_accumulate_grad_hook(lambda p: grad_hook(p.grad)),
                )
        return memory


def model_names() -> tuple[str, ...]:
    return MODELS


def model_config(setting: Setting) -> dict:
    """The training config (keys of :class:`~sambook.config.TrainConfig`) that ``setting`` traces."""
    config = {
        "model": setting.model,
        "backbone": setting.backbone,
        "image_size": setting.size,
        "num_classes": setting.num_classes,
        "adapter_blocks": setting.adapter_blocks,
        "modality": setting.modality,
        "attention": setting.attention,
        "checkpointing": setting.checkpointing,
        "checkpoint": None,
    }
    if setting.model == "aftersam":
        config.update(
            neighbours=(setting.slices or AFTERSAM_SLICES) - 1,
            interval=1,
            fusion_blocks=setting.fusion_blocks,
            lora_rank=setting.lora_rank,
        )
    return {**config, **dict(setting.model_options)}


def build(setting: Setting) -> nn.Module:
    """The model of ``setting`` with random weights, through the one builder training uses (call inside the fake
    mode)."""
    if setting.model not in MODELS:
        raise ValueError(f"unknown model {setting.model!r}; choose one of {MODELS}")
    with warnings.catch_warnings():  # AFTer-SAM's deep copies of fake weights warn about data pointers: see _adopt
        warnings.simplefilter("ignore", UserWarning)
        return build_model(model_config(setting))


def _adopt(model: nn.Module, mode: FakeTensorMode) -> nn.Module:
    """Give ``mode`` every parameter and buffer that ``copy.deepcopy`` moved to a fresh fake mode (AFTer-SAM
    copies SAM's weights into its axial attention); values do not matter here, only shapes and dtypes."""
    for module in model.modules():
        for table in (module._parameters, module._buffers):
            for name, tensor in table.items():
                if tensor is not None and getattr(tensor, "fake_mode", mode) is not mode:
                    fresh = torch.empty(tensor.shape, dtype=tensor.dtype)
                    table[name] = nn.Parameter(fresh, tensor.requires_grad) if table is module._parameters else fresh
    return model


def _inputs(setting: Setting, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch as the data loader gives it: images (B, 4, S, S) or slice groups (B, N, 1, S, S) for AFTer-SAM,
    and labels (B, S, S)."""
    B, S = setting.batch, setting.size
    shape = (B, setting.slices or AFTERSAM_SLICES, 1, S, S) if setting.model == "aftersam" else (B, 4, S, S)
    return torch.randn(*shape, dtype=dtype), torch.zeros(B, S, S, dtype=torch.long)


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype):
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def estimate(setting: Setting) -> Estimate:
    """Trace one step of ``setting`` on fake tensors; return its peak memory by category and its FLOPs."""
    if setting.dtype not in DTYPES:
        raise ValueError(f"unknown dtype {setting.dtype!r}; choose one of {sorted(DTYPES)}")
    if setting.batch < 1 or setting.size < 1:
        raise ValueError(f"batch and size must be positive, got batch {setting.batch}, size {setting.size}")
    dtype = DTYPES[setting.dtype]
    # Inference converts the weights (as segment-anything-fast does); training keeps fp32 weights + autocast.
    weight_dtype = dtype if setting.inference else torch.float32
    with FakeTensorMode() as mode, torch.device("cpu"):
        with _default_dtype(weight_dtype):
            model = _adopt(build(setting), mode)
        images, labels = _inputs(setting, weight_dtype)
        autocast = torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32)
        if setting.inference:
            model.eval()
            external = (model,)

            def step() -> None:
                with torch.no_grad(), autocast:
                    model(images)
        else:
            model.train()
            trainable = [p for p in model.parameters() if p.requires_grad]
            optimizer = torch.optim.AdamW(trainable, lr=1e-3)
            for p in trainable:  # a step after the first: AdamW's moments already exist (as _init_group makes them)
                optimizer.state[p] = {
                    "step": torch.tensor(1.0),
                    "exp_avg": torch.zeros_like(p),
                    "exp_avg_sq": torch.zeros_like(p),
                }
            external = (model, optimizer)

            def step() -> None:
                with autocast:
                    loss = traced_loss(model(images), labels)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

        # Two passes: FlopCounterMode's module hooks keep checkpointed activations alive, so it must not watch the
        # memory trace.
        tracker = _Tracker()
        tracker.track_external(*external)
        with tracker:
            step()
        flops = FlopCounterMode(display=False)
        with flops:
            step()
        snapshot = tracker.get_tracker_snapshot("peak")
    device = next(iter(snapshot))
    peak = snapshot[device]
    categories = {
        CATEGORIES.get(getattr(k, "value", str(k)), str(k)): int(v)
        for k, v in peak.items()
        if getattr(k, "value", k) != "Total"
    }
    return Estimate(setting, int(peak["Total"]), categories, int(flops.get_total_flops()))
