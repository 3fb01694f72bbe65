"""Pieces every SAM-based model of the book shares (chapter `sam_taken_apart`).

* :class:`Prediction` — what every model returns: logit maps and the decoder's predicted IoU of each.
* :func:`freeze` — both papers keep SAM's image encoder (and prompt encoder) frozen.
* :func:`grey_stem` — the trainable 1x1 convolution ``C -> 3`` in front of SAM, started as a grey image.
* :func:`embed_tokens` and :func:`neck` — the encoder's first and last steps, for models that run the blocks in
  between themselves (CMAA's two branches, AFTer-SAM's fusion blocks, the linear probe).
* :class:`SamSegmenter` — a frozen encoder with a prompt-free decoder, the base of the Table 1 models.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from segment_anything.modeling import ImageEncoderViT, Sam
from torch import nn

from sambook.models.prompt_free import PromptFreeDecoder


class Prediction(NamedTuple):
    logits: torch.Tensor  # (B, K, H, W)
    iou: torch.Tensor  # (B, K): the decoder's predicted IoU of each output map


def freeze(module: nn.Module) -> nn.Module:
    """Mark every parameter of ``module`` as frozen and return it."""
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the papers train (everything not frozen)."""
    return [p for p in model.parameters() if p.requires_grad]


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


class SamSegmenter(nn.Module):
    """A frozen SAM encoder and a prompt-free decoder (the shared part of the Table 1 models)."""

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
