"""``python -m sambook estimate``: peak memory and FLOPs of one step, and which GPUs it fits (chapter 8).

Example: ``python -m sambook estimate --model cmaa --backbone vit_b --batch 24 --size 256 --dtype bf16``.
"""

from __future__ import annotations

import argparse
import json

from sambook.estimate.gpus import CONTEXT_RESERVE_MIB, table
from sambook.estimate.trace import DTYPES, MIB, Estimate, Setting, estimate, model_names

LEFT_OUT = (f"Estimate of live tensors only: leaves out the CUDA context, cuBLAS/cuDNN workspaces and the "
            f"allocator's fragmentation (the table keeps {CONTEXT_RESERVE_MIB} MiB for them).")


def result(est: Estimate) -> dict:
    """The estimate, the GPU table and the caveat, as one JSON-ready dict."""
    return {**est.to_dict(), "gpus": table(est.peak_mib, est.flops, est.setting.dtype), "left_out": LEFT_OUT}


def format_result(res: dict) -> str:
    s = res["setting"]
    step = "inference (forward)" if s["inference"] else "training step (forward, backward, AdamW)"
    lines = [f"{s['model']} {s['backbone']}, batch {s['batch']}, {s['size']}x{s['size']}"
             + (f", {s['slices']} slices" if s["slices"] else "")
             + f", {s['dtype']}, attention {s['attention']}" + (", checkpointing" if s["checkpointing"] else "")
             + f": {step}",
             f"estimated peak memory: {res['peak_gb']:.2f} GB ({res['peak_mib']:,.0f} MiB)"]
    lines += [f"  {name:<16}{mib:>12,.1f} MiB" for name, mib in res["categories_mib"].items() if mib]
    lines += [f"FLOPs per step: {res['gflops']:,.1f} GFLOP", "",
              f"  {'GPU':<11}{'memory':>8}  {'fits':<5}{'peak TFLOP/s':>13}  {'step >= (ms)':>12}"]
    for row in res["gpus"]:
        rate = "n/a" if row["peak_tflops"] is None else f"{row['peak_tflops']:g}"
        step_ms = "n/a" if row["min_step_ms"] is None else f"{row['min_step_ms']:,.1f}"
        lines.append(f"  {row['gpu']:<11}{row['memory_gib']:>5g} GiB  {'yes' if row['fits'] else 'no':<5}"
                     f"{rate:>13}  {step_ms:>12}")
    lines += ["", res["left_out"], "Step times are lower bounds: FLOPs at the card's peak dense rate."]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=model_names())
    parser.add_argument("--backbone", default="vit_b", choices=["mini", "vit_b", "vit_l", "vit_h"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--slices", type=int, help="slices per group (aftersam)")
    parser.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    parser.add_argument("--attention", default="stock", choices=["stock", "lean"])
    parser.add_argument("--checkpointing", action="store_true", help="recompute encoder blocks in backward")
    parser.add_argument("--inference", action="store_true", help="forward only, no grad")
    parser.add_argument("--num-classes", type=int, default=1)
    parser.add_argument("--json", action="store_true")


def main(args: argparse.Namespace) -> int:
    setting = Setting(model=args.model, backbone=args.backbone, batch=args.batch, size=args.size,
                      slices=args.slices, dtype=args.dtype, attention=args.attention,
                      checkpointing=args.checkpointing, inference=args.inference, num_classes=args.num_classes)
    res = result(estimate(setting))
    print(json.dumps(res, indent=2) if args.json else format_result(res))
    return 0


__all__ = ["MIB", "add_arguments", "format_result", "main", "result"]
