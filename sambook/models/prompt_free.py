"""Prompt-free mask decoding over a batch (chapter `sam_taken_apart`).

Both papers drop prompts. With no points, boxes or masks, SAM's prompt encoder returns an empty sparse embedding
and its learned "no mask" dense embedding ``e_nm``; the decoder's output tokens then attend to the image alone:

    src = E + e_nm,   (tokens', src') = TwoWayTransformer(src, PE, [t_iou; t_1..t_K])
    mask_k = MLP_k(t_k') · Upscale(src')        (k = 1..K)

The official ``MaskDecoder.predict_masks`` repeats the image embeddings once per *prompt*, which with a batch of
images and no prompts would give B² rows; this module calls the same sub-modules with one row per image.
``num_classes == 1``: the first mask token gives one logit map (binary, sigmoid). ``num_classes == K > 1``: the
decoder must hold K mask tokens, one logit map per class including background (softmax).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from segment_anything.modeling import MaskDecoder, PromptEncoder
from torch import nn


class PromptFreeDecoder(nn.Module):
    def __init__(self, prompt_encoder: PromptEncoder, mask_decoder: MaskDecoder, num_classes: int = 1):
        """
        Arguments:
          prompt_encoder: SAM's prompt encoder; only its "no mask" embedding and positional encoding are used.
          mask_decoder: SAM's mask decoder, with at least ``num_classes`` mask tokens.
          num_classes: output channels: 1 (binary logit) or K > 1 (class logits including background).
        """
        super().__init__()
        if num_classes > mask_decoder.num_mask_tokens:
            raise ValueError(
                f"num_classes={num_classes} needs as many mask tokens; the decoder has "
                f"{mask_decoder.num_mask_tokens} (build_sam(num_mask_tokens=...))"
            )
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.num_classes = num_classes

    def forward(
        self, embeddings: torch.Tensor, output_size: tuple[int, int], sparse: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """embeddings (B, C, h, w) -> logits (B, num_classes, H, W) at ``output_size``, IoU predictions (B, K).

        ``sparse``: optional prompt tokens (B, P, C), appended to the output tokens as in SAM's ``predict_masks``
        (the prompt ablation of chapter `how_it_compares`; :mod:`sambook.models.prompted`)."""
        decoder = self.mask_decoder
        batch = embeddings.shape[0]
        dense = self.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)  # (1, C, 1, 1)
        src = embeddings + dense  # (B, C, h, w)
        pos = self.prompt_encoder.get_dense_pe().expand(batch, -1, -1, -1)  # (B, C, h, w)
        tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)  # (1 + T, C)
        tokens = tokens.unsqueeze(0).expand(batch, -1, -1)  # (B, 1 + T, C)
        if sparse is not None:
            tokens = torch.cat([tokens, sparse.to(tokens.dtype)], dim=1)  # (B, 1 + T + P, C)

        hs, src = decoder.transformer(src, pos, tokens)  # (B, 1 + T, C), (B, h*w, C)
        b, c, h, w = embeddings.shape
        upscaled = decoder.output_upscaling(src.transpose(1, 2).reshape(b, c, h, w))  # (B, C/8, 4h, 4w)
        hyper = torch.stack(
            [decoder.output_hypernetworks_mlps[k](hs[:, 1 + k]) for k in range(self.num_classes)], dim=1
        )  # (B, K, C/8)
        masks = (hyper @ upscaled.flatten(2)).reshape(b, self.num_classes, *upscaled.shape[-2:])  # (B, K, 4h, 4w)
        iou = decoder.iou_prediction_head(hs[:, 0])[:, : self.num_classes]  # (B, K)
        logits = F.interpolate(masks, size=output_size, mode="bilinear", align_corners=False)
        return logits, iou
