"""``python -m sambook estimate``: peak memory and FLOPs of one step, and which GPUs it fits (chapter `training_runs`).

Example: ``python -m sambook estimate --model cmaa --backbone vit_b --batch 24 --size 256 --dtype bf16``.
"""

from __future__ import annotations

from sambook.estimate.gpus import CONTEXT_RESERVE_MIB, table
from sambook.estimate.trace import Estimate

LEFT_OUT = (
    f"Estimate of live tensors only: leaves out the CUDA context, cuBLAS/cuDNN workspaces and the "
    f"allocator's fragmentation (the table keeps {CONTEXT_RESERVE_MIB} MiB for them)."
)


def result(est: Estimate) -> dict:
    """The estimate, the GPU table and the caveat, as one JSON-ready dict."""
    return {**est.to_dict(), "gpus": table(est.peak_mib, est.flops, est.setting.dtype), "left_out": LEFT_OUT}


def format_result(res: dict) -> str:
    s = res["setting"]
    step = "inference (forward)" if s["inference"] else "training step (forward, backward, AdamW)"
    lines = [
        f"{s['model']} {s['backbone']}, batch {s['batch']}, {s['size']}x{s['size']}"
        + (f", {s['slices']} slices" if s["slices"] else "")
        + f", {s['dtype']}, attention {s['attention']}"
        + (", checkpointing" if s["checkpointing"] else "")
        + f": {step}",
        f"estimated peak memory: {res['peak_gb']:.2f} GB ({res['peak_mib']:,.0f} MiB)",
    ]
    lines += [f"  {name:<16}{mib:>12,.1f} MiB" for name, mib in res["categories_mib"].items() if mib]
    lines += [
        f"FLOPs per step: {res['gflops']:,.1f} GFLOP",
        "",
        f"  {'GPU':<11}{'memory':>8}  {'fits':<5}{'peak TFLOP/s':>13}  {'step >= (ms)':>12}",
    ]
    for row in res["gpus"]:
        rate = "n/a" if row["peak_tflops"] is None else f"{row['peak_tflops']:g}"
        step_ms = "n/a" if row["min_step_ms"] is None else f"{row['min_step_ms']:,.1f}"
        lines.append(
            f"  {row['gpu']:<11}{row['memory_gib']:>5g} GiB  {'yes' if row['fits'] else 'no':<5}"
            f"{rate:>13}  {step_ms:>12}"
        )
    lines += ["", res["left_out"], "Step times are lower bounds: FLOPs at the card's peak dense rate."]
    return "\n".join(lines)
