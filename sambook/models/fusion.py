"""The models of the CMAA paper's Table 1 (chapter 4, "Fusing modalities").

Every model takes ``x`` (B, 4, H, W) with channels (T1, T1ce, T2, FLAIR) and returns a :class:`Prediction`.

* ``SingleModalitySAM`` — one modality through a 1x1 convolution 1 -> 3 (SAM wants RGB), then SAM.
* ``EarlyFusionSAM`` — all four modalities through one 1x1 convolution 4 -> 3, then SAM.
* ``CMAASAM`` — the T1-based (T1, T1ce) and T2-based (T2, FLAIR) groups each through their own 2 -> 3 convolution
  and an encoder branch; after each of the first n blocks a :class:`CrossModalityAdapter` fuses the branches;
  the two final feature maps are summed and decoded without prompts.

Freezing follows the paper: the ViT encoder (and the prompt encoder) are frozen; the input convolutions, the
adapters and the mask decoder train. Inputs are the slice dataset's z-scores, fed without SAM's RGB
normalisation: the input convolutions learn the scale.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import torch
from segment_anything.modeling import ImageEncoderViT, Sam
from torch import nn

from sambook.models.adapter import CrossModalityAdapter
from sambook.models.checkpoint import load_into, resolve_checkpoint
from sambook.models.prompt_free import PromptFreeDecoder
from sambook.models.sam_core import build_sam

MODALITIES = ("t1", "t1ce", "t2", "flair")


class Prediction(NamedTuple):
    logits: torch.Tensor  # (B, K, H, W)
    iou: torch.Tensor  # (B, K): the decoder's predicted IoU of each output map


def freeze(module: nn.Module) -> nn.Module:
    """Mark every parameter of ``module`` as frozen and return it."""
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def grey_stem(in_channels: int) -> nn.Conv2d:
    """A trainable 1x1 convolution ``in_channels -> 3`` that starts as a grey image: the mean of its inputs in all
    three RGB channels, which is how a grey slice reaches SAM (and how the book's mini SAM was pretrained)."""
    conv = nn.Conv2d(in_channels, 3, kernel_size=1)
    nn.init.constant_(conv.weight, 1.0 / in_channels)
    nn.init.zeros_(conv.bias)
    return conv


def embed_tokens(encoder: ImageEncoderViT, x: torch.Tensor) -> torch.Tensor:
    """Patch embedding plus absolute position embedding: (B, 3, H, W) -> (B, h, w, c)."""
    tokens = encoder.patch_embed(x)
    return tokens + encoder.pos_embed if encoder.pos_embed is not None else tokens


def neck(encoder: ImageEncoderViT, tokens: torch.Tensor) -> torch.Tensor:
    """SAM's neck: (B, h, w, c) -> image embeddings (B, C, h, w)."""
    return encoder.neck(tokens.permute(0, 3, 1, 2))


class _SamSegmenter(nn.Module):
    """Shared parts: a frozen SAM encoder and a prompt-free decoder."""

    def __init__(self, sam: Sam, num_classes: int):
        super().__init__()
        self.encoder = freeze(sam.image_encoder)
        freeze(sam.prompt_encoder)
        self.decoder = PromptFreeDecoder(sam.prompt_encoder, sam.mask_decoder, num_classes)

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.eval()  # frozen: no dropout or statistics updates, whatever the mode
        return self

    def decode(self, embeddings: torch.Tensor, size: tuple[int, int]) -> Prediction:
        return Prediction(*self.decoder(embeddings, size))


class SingleModalitySAM(_SamSegmenter):
    def __init__(self, sam: Sam, *, modality: str = "flair", num_classes: int = 1):
        """
        Arguments:
          sam: a SAM (its encoder is frozen here).
          modality: the input channel used: t1, t1ce, t2 or flair.
          num_classes: 1 (binary) or K (classes including background).
        """
        super().__init__(sam, num_classes)
        self.channel = MODALITIES.index(modality)
        self.to_rgb = grey_stem(1)

    def forward(self, x: torch.Tensor) -> Prediction:
        rgb = self.to_rgb(x[:, self.channel : self.channel + 1])  # (B, 3, H, W)
        return self.decode(self.encoder(rgb), x.shape[-2:])


class EarlyFusionSAM(_SamSegmenter):
    def __init__(self, sam: Sam, *, num_classes: int = 1):
        super().__init__(sam, num_classes)
        self.to_rgb = grey_stem(4)

    def forward(self, x: torch.Tensor) -> Prediction:
        return self.decode(self.encoder(self.to_rgb(x)), x.shape[-2:])


class CMAASAM(_SamSegmenter):
    def __init__(self, sam: Sam, *, adapter_blocks: int = 6, num_classes: int = 1, zero_init: bool = True,
                 separate_encoders: bool = False):
        """
        Arguments:
          sam: a SAM whose frozen encoder serves both branches (the paper's "98M in all" implies one shared copy).
          adapter_blocks: n, the number of first encoder blocks followed by an adapter (paper: 6 of 12).
          num_classes: 1 (binary) or K (classes including background).
          zero_init: adapters start at zero (training starts from two plain SAM branches).
          separate_encoders: give the T2-based branch its own frozen copy of the encoder.
        """
        super().__init__(sam, num_classes)
        depth = len(self.encoder.blocks)
        if not 0 <= adapter_blocks <= depth:
            raise ValueError(f"adapter_blocks must be in [0, {depth}], got {adapter_blocks}")
        self.encoder_t2 = freeze(copy.deepcopy(self.encoder)) if separate_encoders else None
        dim = self.encoder.patch_embed.proj.out_channels
        self.t1_to_rgb = grey_stem(2)
        self.t2_to_rgb = grey_stem(2)
        self.adapters = nn.ModuleList(CrossModalityAdapter(dim, zero_init=zero_init) for _ in range(adapter_blocks))

    def train(self, mode: bool = True):
        super().train(mode)
        if self.encoder_t2 is not None:
            self.encoder_t2.eval()
        return self

    def forward(self, x: torch.Tensor) -> Prediction:
        a = self.t1_to_rgb(x[:, 0:2])  # T1-based group (T1, T1ce) -> (B, 3, H, W)
        b = self.t2_to_rgb(x[:, 2:4])  # T2-based group (T2, FLAIR)
        enc_a = self.encoder
        enc_b = self.encoder if self.encoder_t2 is None else self.encoder_t2
        f_a, f_b = embed_tokens(enc_a, a), embed_tokens(enc_b, b)  # (B, h, w, c) each
        for index, (block_a, block_b) in enumerate(zip(enc_a.blocks, enc_b.blocks)):
            if block_a is block_b:  # shared encoder: one pass over both branches
                f_a, f_b = block_a(torch.cat([f_a, f_b])).chunk(2)
            else:
                f_a, f_b = block_a(f_a), block_b(f_b)
            if index < len(self.adapters):
                f_a, f_b = self.adapters[index](f_a, f_b)  # eq. 1-2
        embeddings = neck(enc_a, f_a) + neck(enc_b, f_b)  # the two final maps summed
        return self.decode(embeddings, x.shape[-2:])


def build_model(name: str, *, backbone: str, image_size: int, num_classes: int = 1,
                checkpoint: str | None = "auto", adapter_blocks: int = 6, modality: str = "flair",
                zero_init: bool = True, separate_encoders: bool = False, verbose: bool = False,
                attention: str = "stock", checkpointing: bool = False) -> nn.Module:
    """One of Table 1's models: ``"sam"`` (single modality), ``"early"`` or ``"cmaa"``, on ``backbone`` weights
    chosen by :func:`resolve_checkpoint` (``"auto"``: the official or the book's checkpoint when present);
    ``attention`` and ``checkpointing`` go to :func:`build_sam`."""
    sam = build_sam(backbone, image_size=image_size, num_mask_tokens=max(4, num_classes), attention=attention,
                    checkpointing=checkpointing)
    path, description = resolve_checkpoint(backbone, checkpoint)
    if path is not None:
        report = load_into(sam, path)
        description += f" [{report}]" if verbose else ""
    if verbose:
        print(description)
    if name == "sam":
        return SingleModalitySAM(sam, modality=modality, num_classes=num_classes)
    if name == "early":
        return EarlyFusionSAM(sam, num_classes=num_classes)
    if name == "cmaa":
        return CMAASAM(sam, adapter_blocks=adapter_blocks, num_classes=num_classes, zero_init=zero_init,
                       separate_encoders=separate_encoders)
    raise ValueError(f"unknown model {name!r}; choose sam, early or cmaa")


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the paper trains (everything not frozen)."""
    return [p for p in model.parameters() if p.requires_grad]
