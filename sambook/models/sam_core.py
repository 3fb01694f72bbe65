"""SAM built from the official ``segment_anything`` modules at any input size (chapter `sam_taken_apart`).

``build_sam`` mirrors ``segment_anything.build_sam`` (same classes, same keys), with two differences: the input size
is a parameter (the CMAA paper uses 256 instead of 1024), and a small ``mini`` configuration of the same
architecture exists for CPU runs. At 256x256 a ViT-B sees 16x16 tokens; the mini backbone (patch 8) sees the same
16x16 grid at 128x128.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from sambook.models.grad_checkpointing import set_checkpointing
from sambook.models.lean_attention import set_attention

PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class SamConfig:
    """Every size of one SAM variant."""

    embed_dim: int  # encoder width
    depth: int  # encoder blocks
    num_heads: int
    global_attn_indexes: tuple[int, ...]  # blocks with global attention; the others use windows
    patch_size: int = 16
    window_size: int = 14
    prompt_embed_dim: int = 256  # neck output = decoder width
    decoder_depth: int = 2
    decoder_heads: int = 8
    decoder_mlp_dim: int = 2048
    iou_head_hidden_dim: int = 256


SAM_CONFIGS: dict[str, SamConfig] = {
    "vit_b": SamConfig(768, 12, 12, (2, 5, 8, 11)),
    "vit_l": SamConfig(1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": SamConfig(1280, 32, 16, (7, 15, 23, 31)),
    # The book's CPU-sized SAM: same classes and key layout, about 1/60 of ViT-B's parameters.
    "mini": SamConfig(
        128,
        6,
        4,
        (2, 5),
        patch_size=8,
        window_size=4,
        prompt_embed_dim=64,
        decoder_heads=4,
        decoder_mlp_dim=256,
        iou_head_hidden_dim=64,
    ),
}


def build_sam(
    backbone: str,
    *,
    image_size: int,
    num_mask_tokens: int = 4,
    checkpoint: str | Path | None = None,
    attention: str = "stock",
    checkpointing: bool = False,
) -> Sam:
    """A SAM of ``backbone`` for square inputs of ``image_size`` pixels (a multiple of the patch size).

    ``num_mask_tokens`` is the number of mask tokens / output hypernetworks of the decoder (official: 4; a
    K-class prompt-free model needs K). ``checkpoint`` is loaded with :func:`sambook.models.checkpoint.load_into`.
    ``attention``: "stock" or "lean" (:mod:`sambook.models.lean_attention`, same weights, no N x N matrix);
    ``checkpointing``: recompute encoder blocks in the backward pass (:mod:`sambook.models.grad_checkpointing`).
    """
    if backbone not in SAM_CONFIGS:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(SAM_CONFIGS)}")
    cfg = SAM_CONFIGS[backbone]
    if image_size % cfg.patch_size:
        raise ValueError(f"image_size {image_size} is not a multiple of the patch size {cfg.patch_size}")
    grid = image_size // cfg.patch_size
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=cfg.depth,
            embed_dim=cfg.embed_dim,
            img_size=image_size,
            mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=cfg.num_heads,
            patch_size=cfg.patch_size,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=cfg.global_attn_indexes,
            window_size=cfg.window_size,
            out_chans=cfg.prompt_embed_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=cfg.prompt_embed_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(image_size, image_size),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=num_mask_tokens - 1,
            transformer=TwoWayTransformer(
                depth=cfg.decoder_depth,
                embedding_dim=cfg.prompt_embed_dim,
                mlp_dim=cfg.decoder_mlp_dim,
                num_heads=cfg.decoder_heads,
            ),
            transformer_dim=cfg.prompt_embed_dim,
            iou_head_depth=3,
            iou_head_hidden_dim=cfg.iou_head_hidden_dim,
        ),
        pixel_mean=list(PIXEL_MEAN),
        pixel_std=list(PIXEL_STD),
    )
    if checkpoint is not None:
        from sambook.models.checkpoint import load_into

        load_into(sam, checkpoint)
    set_checkpointing(set_attention(sam, attention), checkpointing)
    return sam
