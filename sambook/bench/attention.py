"""CPU time of SAM's image encoder, stock vs lean attention, measured side by side (chapter `training_runs`).

``python -m sambook bench-attention --backbone vit_b --sizes 256 1024`` builds one encoder (random weights: the
time does not depend on them), a copy switched to the lean attention, and times forward passes of both,
alternating stock and lean so that both see the same load on a shared machine; it prints the median.
"""

from __future__ import annotations

import copy
import statistics
import time

import torch

from sambook.models.lean_attention import set_attention
from sambook.models.sam_core import build_sam


def time_encoders(backbone: str, size: int, *, batch: int = 1, repeats: int = 3, seed: int = 0) -> dict:
    """Median seconds per encoder forward (no grad, fp32) for the stock and the lean attention."""
    torch.manual_seed(seed)
    stock = build_sam(backbone, image_size=size).image_encoder.eval()
    encoders = {"stock": stock, "lean": set_attention(copy.deepcopy(stock), "lean")}
    x = torch.randn(batch, 3, size, size)  # (B, 3, S, S)
    times: dict[str, list[float]] = {name: [] for name in encoders}
    with torch.no_grad():
        for encoder in encoders.values():
            encoder(x)  # warm-up
        for _ in range(repeats):
            for name, encoder in encoders.items():
                started = time.perf_counter()
                encoder(x)
                times[name].append(time.perf_counter() - started)
    return {
        "backbone": backbone,
        "size": size,
        "batch": batch,
        "threads": torch.get_num_threads(),
        **{f"{name}_s": round(statistics.median(t), 4) for name, t in times.items()},
    }
