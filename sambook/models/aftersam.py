"""AFTer-SAM: SAM features of neighbouring slices fused by an axial fusion transformer (chapter `aftersam_volumes`).

Input: a group of N = N_A + 1 slices (B, N, 1, H, W). Each slice is repeated to SAM's three channels and runs
through the **frozen** first (depth - L) blocks of SAM's encoder; the last L blocks become axial fusion blocks
(:class:`~sambook.models.axial.SamAxialBlock`, LoRA on Q/V) that also attend across the N slices; the **middle**
slice's tokens go through SAM's neck and the prompt-free mask decoder, which is fine-tuned fully (or, as the
paper's Table 4 alternative, with LoRA on its attention's Q/V projections and its per-class heads trained).
Output: logits of the middle slice (index :func:`~sambook.datasets.volumes.middle_index`, the same slice the
datasets centre a group on, for odd and even N_A alike).

At initialisation the model **is** SAM on the middle slice: the axial branches start at zero (a zero gate), the
position embedding is zero and LoRA's B is zero, so training starts from the 2D baseline's prediction
(chapter `aftersam_volumes`).

Because nothing before the fusion blocks trains, their output per slice never changes during training:
:meth:`AfterSAM.frozen_features` computes it, and :class:`sambook.models.feature_cache.FeatureCache` stores it so
that later epochs skip that work. Two 2D baselines: ``fusion_blocks=0`` is SAM with only its decoder trained;
``axial=False`` is the fair one, training everything AFTer-SAM trains (LoRA on the same blocks, the in-slice position
embedding e_(h,w), the decoder) except attention across slices.
"""

from __future__ import annotations

import torch
from segment_anything.modeling import Sam
from torch import nn

from sambook.datasets.volumes import middle_index
from sambook.errors import ConfigError
from sambook.models.axial import AxialFusionBlock, AxialFusionTransformer, SamAxialBlock
from sambook.models.lora import lora_on_decoder
from sambook.models.prompt_free import PromptFreeDecoder
from sambook.models.sam_parts import Prediction, embed_tokens, freeze, neck


class AfterSAM(nn.Module):
    def __init__(
        self,
        sam: Sam,
        *,
        slices: int,
        fusion_blocks: int = 6,
        rank: int = 4,
        num_classes: int = 4,
        fresh: bool = False,
        heads: int | None = None,
        decoder_lora: bool = False,
        axial: bool = True,
        position: str = "factorised",
    ):
        """
        Arguments:
          sam: a SAM (its encoder is frozen here; the last ``fusion_blocks`` blocks become fusion blocks).
          slices: N = N_A + 1, the slices of a group.
          fusion_blocks: L (paper: 6); 0 gives the 2D baseline without fusion.
          rank: LoRA rank on Q/V of the fusion blocks' attentions (and of the decoder with ``decoder_lora``).
          num_classes: output maps including background (phantom: 4).
          fresh: instead of reusing SAM's last blocks, add L new, fully trained fusion blocks after the encoder.
          heads: M, heads of the fresh fusion blocks (paper: 8). SAM-derived blocks keep SAM's heads (12 at ViT-B):
            their pretrained Q/K/V are cut into those heads, so another M is a ConfigError there.
          decoder_lora: tune the mask decoder with LoRA instead of fully (Table 4).
          axial: False builds the fusion blocks without attention across slices (the fair 2D baseline).
          position: ``"factorised"`` e_(h,w) + e_n or ``"full"`` e_((h,w),n)
            (:class:`~sambook.models.axial.PositionEmbedding`).
        """
        super().__init__()
        encoder = freeze(sam.image_encoder)
        freeze(sam.prompt_encoder)
        self.encoder, self.slices = encoder, slices
        depth, dim = len(encoder.blocks), encoder.patch_embed.proj.out_channels
        grid = encoder.pos_embed.shape[1:3]
        split = depth if fresh else depth - fusion_blocks
        self.frozen_blocks = nn.ModuleList(encoder.blocks[:split])
        sam_heads = encoder.blocks[0].attn.num_heads
        if fresh:
            if not axial:
                raise ConfigError("axial: false is the fair 2D baseline of SAM-derived fusion blocks; not with fresh")
            blocks = [AxialFusionBlock(dim, heads or sam_heads) for _ in range(fusion_blocks)]
        else:
            if heads is not None and heads != sam_heads:
                raise ConfigError(
                    f"fusion_heads {heads}: SAM-derived fusion blocks keep SAM's {sam_heads} heads (their pretrained "
                    "Q/K/V are cut into them); the paper's M applies to fresh blocks only (fresh: true)"
                )
            blocks = [SamAxialBlock(block, rank=rank, axial=axial) for block in encoder.blocks[split:]]
        self.fusion = AxialFusionTransformer(
            blocks, slices=slices, grid=tuple(grid), dim=dim, position=position, across_slices=axial
        )
        if fusion_blocks == 0:
            self.fusion.pos_embed.requires_grad_(False)  # nothing to fuse: the 2D baseline
        self.decoder = PromptFreeDecoder(sam.prompt_encoder, sam.mask_decoder, num_classes)
        if decoder_lora:
            lora_on_decoder(sam.mask_decoder, rank)

    def train(self, mode: bool = True):
        super().train(mode)
        self.frozen_blocks.eval()
        return self

    @torch.no_grad()
    def frozen_features(self, slices: torch.Tensor) -> torch.Tensor:
        """Single slices (M, 1, H, W) -> tokens after the frozen blocks (M, h, w, c). No gradient is needed."""
        tokens = embed_tokens(self.encoder, slices.expand(-1, 3, -1, -1))  # grey -> SAM's three channels
        for block in self.frozen_blocks:
            tokens = block(tokens)
        return tokens

    def head(self, features: torch.Tensor, size: tuple[int, int], sparse: torch.Tensor | None = None) -> Prediction:
        """Frozen features of groups (B, N, h, w, c) -> prediction for the middle slice (B, K, H, W); ``sparse``:
        prompt tokens for the decoder (the prompted model of chapter `how_it_compares`), None for none."""
        middle = self.fusion(features, keep=middle_index(self.slices))  # only the middle slice is kept: (B, h, w, c)
        return Prediction(*self.decoder(neck(self.encoder, middle), size, sparse=sparse))

    def forward(self, x: torch.Tensor) -> Prediction:
        """x (B, N, 1, H, W) -> Prediction(logits (B, K, H, W), iou (B, K)) of the middle slice."""
        b, n, _, h, w = x.shape
        features = self.frozen_features(x.reshape(b * n, 1, h, w))
        return self.head(features.reshape(b, n, *features.shape[1:]), (h, w))
