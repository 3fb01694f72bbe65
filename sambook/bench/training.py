"""``python -m sambook bench``: training throughput and peak memory of the Table 1 models (chapter `fusing_modalities`).

Times ``--steps`` training steps (forward, loss, backward, AdamW) on random inputs after one warm-up step and
prints images per second. Peak memory is ``torch.cuda.max_memory_allocated`` on a GPU; on a CPU it is the
process's peak resident set size (``ru_maxrss``), which includes Python, libraries and the dataset, so compare
CPU figures only with each other. GPU figures need a GPU: the command names the device it ran on.
"""

from __future__ import annotations

import resource
import time

import torch

from sambook.build import build_model
from sambook.train.loop import autocast_dtype
from sambook.train.losses import SegmentationLoss


def bench(
    model_name: str,
    *,
    backbone: str,
    batch: int,
    size: int,
    steps: int = 3,
    dtype: str = "auto",
    adapter_blocks: int = 6,
    device: str | None = None,
) -> dict:
    """Images per second and peak memory (MiB) of ``steps`` training steps."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(0)
    model = (
        build_model(
            {
                "model": model_name,
                "backbone": backbone,
                "image_size": size,
                "checkpoint": None,
                "adapter_blocks": adapter_blocks,
            }
        )
        .to(device)
        .train()
    )
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    loss_fn = SegmentationLoss()
    amp = autocast_dtype(device, dtype)
    x = torch.randn(batch, 4, size, size, device=device)
    y = (torch.rand(batch, size, size, device=device) > 0.8).long()

    def step() -> None:
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up: allocations, kernel selection
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak, kind = torch.cuda.max_memory_allocated() / 2**20, "max_memory_allocated"
        name = torch.cuda.get_device_name()
    else:
        peak, kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "peak RSS of the process"
        name = f"CPU ({torch.get_num_threads()} threads)"
    seconds = time.perf_counter() - start
    return {
        "model": model_name,
        "backbone": backbone,
        "batch": batch,
        "size": size,
        "device": name,
        "images_per_s": batch * steps / seconds,
        "peak_mib": peak,
        "memory_kind": kind,
        "dtype": str(amp or torch.float32).replace("torch.", ""),
    }
