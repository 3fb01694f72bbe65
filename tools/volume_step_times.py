"""CPU seconds of one training step of each volume model of the AFTer-SAM comparison (chapter `how_it_compares`),
side by side in one run, and each as a multiple of the first: what a `python -m sambook claims` run of
`aftersam_vs_baselines` will cost under a profile, before it is started.

    SAMBOOK_PROFILE=cpu python tools/volume_step_times.py [--batch 4] [--steps 2] [--threads 1]

Each model is built from its arm's resolved config (`sambook.claims.variant_config`) and steps forward and backward
on random inputs of its training shape: a slice group (AFTer-SAM), a slice (2D), a ``patch_3d`` patch (3D).
Figures are CPU ratios on this machine, not GPU times.
"""

from __future__ import annotations

import argparse
import time

import torch

from sambook import build_model
from sambook.claims import CLAIMS, variant_config
from sambook.profiles import get_profile


def training_input(cfg, batch: int) -> torch.Tensor:
    """Random inputs of the shape one training batch of ``cfg``'s model has."""
    if cfg.model.endswith("_3d"):
        return torch.randn(batch, 1, *cfg.patch_3d)
    side = cfg.image_size
    if cfg.model.endswith("_per_slice"):
        return torch.randn(batch, 1, 1, side, side)
    return torch.randn(batch, cfg.neighbours + 1, 1, side, side)


def step_seconds(model: torch.nn.Module, x: torch.Tensor, steps: int) -> float:
    """Mean seconds of a forward and backward pass of ``model`` on ``x``, after one untimed pass (allocations)."""

    def step() -> None:
        model(x).logits.float().mean().backward()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    profile = get_profile()
    claim = next(c for c in CLAIMS if c.key == "aftersam_vs_baselines")
    print(f"profile {profile.name}, batch {args.batch}, {args.threads} thread(s), mean of {args.steps} steps")
    first = None
    for variant in claim.variants:
        cfg = variant_config(variant, 0, profile)
        torch.manual_seed(0)
        x = training_input(cfg, args.batch)
        seconds = step_seconds(build_model(cfg).train(), x, args.steps)
        first = first or seconds
        print(f"{variant.label:18s} input {tuple(x.shape)!s:24s} {seconds:7.2f} s per step  x{seconds / first:5.1f}")


if __name__ == "__main__":
    main()
