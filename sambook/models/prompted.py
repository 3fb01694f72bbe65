"""AFTer-SAM with SAM's prompt encoder kept: the paper's Table 3 ablation (chapter `how_it_compares`).

The paper drops the prompt encoder and shows in Table 3 that box, one-point, three-point and text prompts did not
help. This wrapper puts prompts back into an :class:`~sambook.models.aftersam.AfterSAM` without changing it: the
same frozen blocks, fusion blocks and middle slice, and the decoder now also reads the prompt's sparse tokens, as in
SAM's ``MaskDecoder.predict_masks``:

    e_i = PE(x_i + 0.5, y_i + 0.5) + e_{label_i}     (label 1: positive point; 2, 3: box corners)
    e_i = e_{not a point}                           (label -1: padding, or no foreground on the slice)

(SAM's ``PromptEncoder._embed_points`` and ``_embed_boxes`` in one formula; PE: its random Fourier features.)
Input: x (B, N + 1, 1, H, W) — the slice group and the prompt plane of :mod:`sambook.datasets.prompts`.
The paper does not say whether the prompt encoder trained; ``prompt_encoder="trained"`` (the default) trains its
point and box-corner embeddings (the book's mini SAM never trained them; the Fourier features are fixed in SAM),
``"frozen"`` keeps them. The dense "no mask" embedding stays frozen: there are no mask prompts. SAM's text prompt
cannot be reproduced: its text encoder was never released.
"""

from __future__ import annotations

import torch
from segment_anything.modeling import PromptEncoder
from torch import nn

from sambook.datasets.prompts import NOT_A_POINT, TOKENS, read_prompt_plane
from sambook.models.aftersam import AfterSAM
from sambook.models.sam_parts import Prediction


def embed_prompt(prompt_encoder: PromptEncoder, coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sparse tokens (B, T, C) of points (B, T, 2) as (x, y) pixels with labels (B, T) in {-1, 1, 2, 3}."""
    position = prompt_encoder.pe_layer.forward_with_coords(coords + 0.5, prompt_encoder.input_image_size)
    kinds = torch.stack(
        [prompt_encoder.not_a_point_embed.weight[0]] + [e.weight[0] for e in prompt_encoder.point_embeddings]
    )  # (5, C): not a point, then point_embeddings[0..3] (negative, positive, top-left, bottom-right)
    absent = (labels == NOT_A_POINT)[..., None]
    return torch.where(absent, 0.0, position) + kinds[labels + 1]


class PromptedAfterSAM(nn.Module):
    def __init__(self, aftersam: AfterSAM, *, prompt: str, prompt_encoder: str = "trained"):
        """
        Arguments:
          aftersam: the AFTer-SAM whose decoder gets the prompts.
          prompt: none, box, point or points3 (:mod:`sambook.datasets.prompts`).
          prompt_encoder: ``trained`` (point and box-corner embeddings train) or ``frozen``.
        """
        super().__init__()
        if prompt not in TOKENS:
            raise ValueError(f"unknown prompt {prompt!r}; choose one of {sorted(TOKENS)}")
        self.aftersam, self.prompt = aftersam, prompt
        encoder = aftersam.decoder.prompt_encoder
        for embedding in [encoder.not_a_point_embed, *encoder.point_embeddings]:
            embedding.weight.requires_grad_(prompt_encoder == "trained" and prompt != "none")

    def train(self, mode: bool = True):
        super().train(mode)
        self.aftersam.train(mode)  # keeps AfterSAM's frozen blocks in eval mode
        return self

    def forward(self, x: torch.Tensor) -> Prediction:
        """x (B, N + 1, 1, H, W) -> Prediction(logits (B, K, H, W), iou (B, K)) of the middle slice."""
        group, plane = x[:, :-1], x[:, -1, 0]
        b, n, _, h, w = group.shape
        model = self.aftersam
        sparse = None
        if self.prompt != "none":
            coords, labels = read_prompt_plane(plane, TOKENS[self.prompt])
            sparse = embed_prompt(model.decoder.prompt_encoder, coords, labels)
        features = model.frozen_features(group.reshape(b * n, 1, h, w))
        return model.head(features.reshape(b, n, *features.shape[1:]), (h, w), sparse=sparse)
