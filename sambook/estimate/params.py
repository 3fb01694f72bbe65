"""``python -m sambook params``: the CMAA paper's Table 3 (All / Training / Percent) as printed, beside the book's
own counts (chapter `sam_taken_apart`).

"Training" counts parameters that **actually receive a gradient** in one training step of the model: a forward
and backward pass on the ``meta`` device (no memory, no arithmetic), then every parameter whose ``.grad`` is set.
SAM's mask decoder has 4,058,340 parameters, but with a single output mask three of its four hypernetwork MLPs
(3 x 139,808) never get a gradient. Two readings give the paper's "3.64M" for SAM:

* the decoder path that receives a gradient **with SAM's IoU-prediction term** in the loss: 3,638,916 (the IoU head,
  132,612, included). With the papers' Dice + CE only (the book's default, ``lambda_iou: 0``) the IoU head gets no
  gradient and the count is 3,506,304;
* a decoder built with **one mask token**, counted by ``requires_grad``: 3,637,377.

:func:`table3` gives all of them; :func:`format_table` prints the paper's rows as printed and says which of the
book's counts round to the printed figures (Trans-Unet and Swin-Unet are not built here; the paper has no
early-fusion row).
"""

from __future__ import annotations

import torch
from torch import nn

from sambook.build import build_model
from sambook.train.losses import SegmentationLoss

#: Table 3 of the CMAA paper exactly as printed: (method, All, Training, Percent).
PAPER_TABLE3 = (
    ("Trans-Unet", "93M", "93M", "100%"),
    ("Swin-Unet", "43M", "43M", "100%"),
    ("SAM", "91M", "3.64M", "4%"),
    ("Our method", "98M", "10.80M", "11%"),
)

#: The paper's row that each of the book's models corresponds to (early fusion has none).
PAPER_ROW = {"sam": "SAM", "cmaa": "Our method"}


def count(model: nn.Module, image_size: int, device: str = "meta", *, lambda_iou: float = 1.0) -> dict[str, int]:
    """All parameters, those marked trainable, and those that receive a gradient in one step of the loss
    Dice + CE + ``lambda_iou`` · IoU-MSE (0: the papers' Dice + CE, under which the IoU head gets none)."""
    model.zero_grad(set_to_none=True)
    x = torch.randn(1, 4, image_size, image_size, device=device)
    y = torch.zeros(1, image_size, image_size, dtype=torch.long, device=device)
    SegmentationLoss(lambda_iou=lambda_iou)(model(x), y).backward()
    return {
        "all": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "with_gradient": sum(p.numel() for p in model.parameters() if p.grad is not None),
        "decoder_with_gradient": sum(
            p.numel() for name, p in model.named_parameters() if p.grad is not None and "mask_decoder" in name
        ),
    }


def one_mask_token_trainable(backbone: str, image_size: int) -> int:
    """The other reading of "3.64M": the trainable (``requires_grad``) mask decoder of SAM's single-modality model
    when the decoder is built with one mask token (the 1->3 input convolution left out)."""
    from sambook.models.sam_core import build_sam
    from sambook.models.table1 import SingleModalitySAM

    with torch.device("meta"):
        model = SingleModalitySAM(build_sam(backbone, image_size=image_size, num_mask_tokens=1))
    return sum(p.numel() for name, p in model.named_parameters() if p.requires_grad and "mask_decoder" in name)


def table3(
    backbone: str = "vit_b",
    image_size: int = 256,
    adapter_blocks: int = 6,
    models: tuple[str, ...] = ("sam", "early", "cmaa"),
) -> list[dict]:
    """One row per model: our exact counts (built on the meta device) under both losses, and the paper's row."""
    rows = []
    for name in models:
        keys = {"model": name, "backbone": backbone, "image_size": image_size, "checkpoint": None}
        with torch.device("meta"):
            model = build_model({**keys, "adapter_blocks": adapter_blocks})
        with_iou = count(model, image_size, lambda_iou=1.0)
        dice_ce = count(model, image_size, lambda_iou=0.0)
        paper = dict((row[0], row) for row in PAPER_TABLE3).get(PAPER_ROW.get(name)) if backbone == "vit_b" else None
        rows.append(
            {
                "model": name,
                "all": with_iou["all"],
                "trainable": with_iou["trainable"],
                "with_gradient": with_iou["with_gradient"],  # the paper's reading: the IoU term on
                "with_gradient_dice_ce": dice_ce["with_gradient"],  # the book's default loss
                "one_mask_token": one_mask_token_trainable(backbone, image_size) if name == "sam" else None,
                "decoder_with_gradient": with_iou["decoder_with_gradient"],
                "percent": 100 * with_iou["with_gradient"] / with_iou["all"],
                "paper": paper,
            }
        )
    return rows


def agrees(ours: float, printed: str) -> bool:
    """Whether ``ours`` (a count, or a percentage when ``printed`` ends in %) rounds to the printed figure at the
    printed precision ("91M": millions, no decimal; "10.80M": two decimals; "4%": whole percent)."""
    value = printed.rstrip("M%")
    decimals = len(value.split(".")[1]) if "." in value else 0
    scaled = ours if printed.endswith("%") else ours / 1e6
    return round(scaled, decimals) == float(value)


def format_table(rows: list[dict]) -> str:
    """The paper's Table 3 as printed, each row with the book's count beside it and whether they agree."""
    ours = {PAPER_ROW[r["model"]]: r for r in rows if r["paper"] is not None}
    lines = [
        "Training = parameters receiving a gradient with SAM's IoU term in the loss (the reading that gives the "
        "paper's 3.64M); 'Dice+CE' = the same under the papers' and the book's default loss (lambda_iou 0).",
        f"{'paper, as printed':30s} | {'book':5s} {'All':>12s} {'Training':>11s} {'Percent':>8s} "
        f"{'Dice+CE':>11s} | agrees (All, Training, Percent)",
    ]
    for method, all_, training, percent in PAPER_TABLE3:
        printed = f"{method:12s} {all_:>4s} {training:>7s} {percent:>4s}"
        r = ours.get(method)
        if r is None:
            note = "(paper: ViT-B; counted here on another backbone)" if method in PAPER_ROW.values() else None
            lines.append(f"{printed:30s} | {note or '(not built in the book)'}")
            continue
        checks = (agrees(r["all"], all_), agrees(r["with_gradient"], training), agrees(r["percent"], percent))
        lines.append(
            f"{printed:30s} | {r['model']:5s} {r['all']:>12,d} {r['with_gradient']:>11,d} {r['percent']:>7.2f}% "
            f"{r['with_gradient_dice_ce']:>11,d} | " + ", ".join("yes" if c else "no" for c in checks)
        )
    for r in rows:
        if r["paper"] is None:
            lines.append(
                f"{'(no row in the paper)':30s} | {r['model']:5s} {r['all']:>12,d} {r['with_gradient']:>11,d} "
                f"{r['percent']:>7.2f}% {r['with_gradient_dice_ce']:>11,d} |"
            )
        if r["one_mask_token"] is not None:
            lines.append(
                f"{'':30s} | {r['model']}: decoder with one mask token, by requires_grad: {r['one_mask_token']:,}; "
                f"decoder path with a gradient (IoU term on): {r['decoder_with_gradient']:,}"
            )
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
