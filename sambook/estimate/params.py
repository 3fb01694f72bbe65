"""``python -m sambook params``: the CMAA paper's Table 3 (All / Training / Percent) from a parameter counter
(chapter `sam_taken_apart`).

"Training" counts parameters that **actually receive a gradient** in one training step of the model: a forward
and backward pass on the ``meta`` device (no memory, no arithmetic), then every parameter whose ``.grad`` is set.
That is what the paper's numbers imply: SAM's mask decoder has 4,058,340 parameters, but with a single output mask
three of its four hypernetwork MLPs (3 x 139,808) never get a gradient, which leaves the paper's 3.64M.
"""

from __future__ import annotations

import torch
from torch import nn

from sambook.build import build_model
from sambook.train.losses import SegmentationLoss

#: Table 3 of the CMAA paper (millions): all parameters, trained parameters, percentage.
PAPER_TABLE3 = {"sam": (93.7, 3.64, 3.88), "early": (93.7, 3.64, 3.88), "cmaa": (98.0, 10.80, 11.02)}


def count(model: nn.Module, image_size: int, device: str = "meta") -> dict[str, int]:
    """All parameters, those marked trainable, and those that receive a gradient in one step."""
    x = torch.randn(1, 4, image_size, image_size, device=device)
    y = torch.zeros(1, image_size, image_size, dtype=torch.long, device=device)
    SegmentationLoss()(model(x), y).backward()
    return {
        "all": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "with_gradient": sum(p.numel() for p in model.parameters() if p.grad is not None),
    }


def table3(
    backbone: str = "vit_b",
    image_size: int = 256,
    adapter_blocks: int = 6,
    models: tuple[str, ...] = ("sam", "early", "cmaa"),
) -> list[dict]:
    """One row per model with our exact counts (built on the meta device) and the paper's figures."""
    rows = []
    for name in models:
        with torch.device("meta"):
            model = build_model(
                {
                    "model": name,
                    "backbone": backbone,
                    "image_size": image_size,
                    "checkpoint": None,
                    "adapter_blocks": adapter_blocks,
                }
            )
        counts = count(model, image_size)
        rows.append(
            {
                "model": name,
                **counts,
                "percent": 100 * counts["with_gradient"] / counts["all"],
                "paper": PAPER_TABLE3.get(name) if backbone == "vit_b" else None,
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [
        f"{'model':6s} {'All':>12s} {'Training':>11s} {'Percent':>8s} | {'paper All':>9s} {'Training':>9s} "
        f"{'Percent':>8s}"
    ]
    for r in rows:
        paper = r["paper"]
        ours = f"{r['model']:6s} {r['all']:>12,d} {r['with_gradient']:>11,d} {r['percent']:>7.2f}%"
        ours += f"   ({r['all'] / 1e6:.2f}M / {r['with_gradient'] / 1e6:.2f}M)"
        theirs = f" | {paper[0]:>8.1f}M {paper[1]:>8.2f}M {paper[2]:>7.2f}%" if paper else " | (no paper figure)"
        lines.append(ours + theirs)
    return "\n".join(lines)


#: Table 3 of the CMAA paper for its two non-SAM baselines (millions): all, trained, percent — beside the MONAI
#: network the book trains in their place (chapter `how_it_compares`).
PAPER_TABLE3_BASELINES = {"unetr": ("Trans-Unet", (93, 93, 100)), "swin_unetr": ("Swin-Unet", (43, 43, 100))}


def baseline_parameters(width: int = 48, image_size: int = 256) -> list[dict]:
    """Parameters of the 2D MONAI baselines on the Table 1 input (4 modalities, one output map), all trained from
    scratch; ``unused``: MONAI's ViT blocks build a cross-attention norm that nothing calls (counted in ``all``)."""
    from sambook.config import BASELINE_NETWORKS

    rows = []
    for name in BASELINE_NETWORKS:
        model = build_model(
            {"model": name, "num_classes": 1, "width": width, "image_size": image_size, "lambda_iou": 0}
        )
        named = dict(model.named_parameters())
        paper = PAPER_TABLE3_BASELINES.get(name)
        rows.append(
            {
                "model": name,
                "all": sum(p.numel() for p in named.values()),
                "trainable": sum(p.numel() for p in named.values() if p.requires_grad),
                "unused": sum(p.numel() for n, p in named.items() if "norm_cross_attn" in n),
                "paper_method": paper[0] if paper else None,
                "paper": paper[1] if paper else None,
            }
        )
    return rows


def format_baseline_table(rows: list[dict]) -> str:
    lines = [f"{'model (ours, MONAI 2D)':24s} {'All':>12s} {'Training':>12s} | paper (CMAA Table 3)"]
    for r in rows:
        ours = f"{r['model']:24s} {r['all']:>12,d} {r['trainable']:>12,d}"
        paper = r["paper"]
        theirs = f"{r['paper_method']}: {paper[0]}M / {paper[1]}M / {paper[2]}%" if paper else "(no paper row)"
        lines.append(f"{ours} | {theirs}")
    return "\n".join(lines)
