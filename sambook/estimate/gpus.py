"""Common training GPUs: memory and peak dense FLOP/s per dtype (chapter `training_runs`).

Peak figures are the vendors' dense (no structured sparsity) numbers:

* T4: NVIDIA T4 datasheet — 8.1 TFLOPS FP32, 65 TFLOPS FP16 tensor cores; no bf16 support (Turing).
  16 GB on the box; Colab reports 15 GiB usable, the figure used here.
* RTX 3090: NVIDIA Ampere GA102 whitepaper — 35.6 TFLOPS FP32; 71 TFLOPS FP16/BF16 tensor with FP32
  accumulation (what PyTorch uses; 142 with FP16 accumulation). 24 GB.
* A100: NVIDIA A100 datasheet — 19.5 TFLOPS FP32 (no TF32), 312 TFLOPS FP16/BF16 tensor. 40 or 80 GB.
* H100 SXM: NVIDIA H100 datasheet — 67 TFLOPS FP32, 989 TFLOPS FP16/BF16 tensor (dense). 80 GB.

fp32 uses the plain FP32 rate: PyTorch does not use TF32 for matmuls unless told to
(``torch.backends.cuda.matmul.allow_tf32``), so that is the honest ceiling for an fp32 run.
"""

from __future__ import annotations

from dataclasses import dataclass

# The CUDA context and the kernels' libraries (cuBLAS, cuDNN) take memory the estimate does not see; a card
# "fits" a run when the estimated peak plus this reserve is at most its memory.
CONTEXT_RESERVE_MIB = 1024


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gib: float
    tflops: dict[str, float | None]  # dtype -> peak dense TFLOP/s (None: dtype not supported)


GPUS: tuple[Gpu, ...] = (
    Gpu("T4", 15, {"fp32": 8.1, "fp16": 65.0, "bf16": None}),
    Gpu("RTX 3090", 24, {"fp32": 35.6, "fp16": 71.0, "bf16": 71.0}),
    Gpu("A100 40GB", 40, {"fp32": 19.5, "fp16": 312.0, "bf16": 312.0}),
    Gpu("A100 80GB", 80, {"fp32": 19.5, "fp16": 312.0, "bf16": 312.0}),
    Gpu("H100 80GB", 80, {"fp32": 67.0, "fp16": 989.0, "bf16": 989.0}),
)


def gpu(name: str) -> Gpu:
    for card in GPUS:
        if card.name == name:
            return card
    raise ValueError(f"unknown GPU {name!r}; choose one of {[c.name for c in GPUS]}")


def fits(peak_mib: float, card: Gpu) -> bool:
    """Whether an estimated peak (MiB) plus the context reserve fits the card's memory."""
    return peak_mib + CONTEXT_RESERVE_MIB <= card.memory_gib * 1024


def min_step_seconds(flops: float, card: Gpu, dtype: str) -> float | None:
    """Lower bound on a step's time: its FLOPs at the card's peak rate (None where the dtype is unsupported)."""
    rate = card.tflops[dtype]
    return None if rate is None else flops / (rate * 1e12)


def table(peak_mib: float, flops: float, dtype: str) -> list[dict]:
    """One row per card: memory, fits, and the lower bound on step time in milliseconds."""
    rows = []
    for card in GPUS:
        seconds = min_step_seconds(flops, card, dtype)
        rows.append(
            {
                "gpu": card.name,
                "memory_gib": card.memory_gib,
                "fits": fits(peak_mib, card),
                "peak_tflops": card.tflops[dtype],
                "min_step_ms": None if seconds is None else round(seconds * 1e3, 3),
            }
        )
    return rows
