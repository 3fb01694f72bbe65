"""The papers' non-SAM baselines, as maintained MONAI networks trained from scratch (chapter `how_it_compares`).

The CMAA paper's Table 2 compares with TransUNet and Swin-Unet; AFTer-SAM's Tables 1-2 with U-Net, Attention U-Net,
TransUNet, Swin-Unet, Swin UNETR and others. Neither paper's code is public, and neither is TransUNet's or
Swin-Unet's in a maintained package, so the book trains their closest maintained relatives, named for what they are:

* ``unet`` — MONAI's residual ``UNet`` (channels w, 2w, 4w, 8w, 16w; four stride-2 stages; two residual units);
* ``attention_unet`` — MONAI's ``AttentionUnet`` (attention-gated skips, Oktay et al.; same channels and strides);
* ``swin_unetr`` — MONAI's ``SwinUNETR`` (a Swin Transformer encoder, a convolutional decoder): **not** Swin-Unet,
  whose decoder is a Swin Transformer too; ``feature_size`` = w (a multiple of 12, MONAI's rule), image sides
  divisible by 32;
* ``unetr`` — MONAI's ``UNETR``: a plain ViT encoder (patch 16, 12 layers, hidden size 16w, one head per 64
  channels, MLP 4 x hidden; w = 48 is ViT-B) with a convolutional decoder (feature size w/3) fed from four of its
  depths, the closest maintained relative of TransUNet (whose ViT runs on ResNet-50 features instead of pixels);
  image sides divisible by 16.

Each comes in three layouts, one model kind each (``sambook.build.MODEL_KINDS``):

* ``<net>`` — 2D on the Table 1 slices: x (B, 4, H, W), the four modalities as channels;
* ``<net>_per_slice`` — 2D on volumes slice by slice: x (B, N, 1, H, W) a slice group, only its middle slice read
  (the configs use N = 1), so volume inference is AFTer-SAM's (:func:`sambook.evaluate.volumes.predict_volume`);
* ``<net>_3d`` — 3D on volumes: x (B, 1, D, H, W) patches, whole volumes by sliding windows
  (:mod:`sambook.evaluate.sliding_window`).

All return the book's :class:`~sambook.models.sam_parts.Prediction`. These networks predict no IoU: the ``iou``
field is zeros, and their configs set ``lambda_iou: 0`` (the builder refuses anything else).
"""

from __future__ import annotations

import math

import torch
from monai.networks.nets import UNETR, AttentionUnet, SwinUNETR, UNet
from torch import nn

from sambook.datasets.volumes import middle_index
from sambook.models.sam_parts import Prediction

NETWORKS = ("unet", "attention_unet", "swin_unetr", "unetr")
LAYOUTS = ("slices", "per_slice", "3d")  # Table 1 slices (4 modalities), volumes slice by slice, volumes in 3D


def network(name: str, *, spatial_dims: int, in_channels: int, out_channels: int, width: int, image_size) -> nn.Module:
    """The MONAI network ``name`` at width ``w = width``; ``image_size``: the input's spatial size (UNETR's
    position table depends on it; a side for 2D, (D, H, W) for 3D)."""
    common = {"spatial_dims": spatial_dims, "in_channels": in_channels, "out_channels": out_channels}
    sizes = (image_size,) * spatial_dims if isinstance(image_size, int) else tuple(image_size)
    channels, strides = tuple(width * 2**i for i in range(5)), (2, 2, 2, 2)
    if name == "unet":
        return UNet(**common, channels=channels, strides=strides, num_res_units=2)
    if name == "attention_unet":
        return AttentionUnet(**common, channels=channels, strides=strides)
    if name == "swin_unetr":
        if width % 12:
            raise ValueError(f"swin_unetr: width {width} must be a multiple of 12 (MONAI's feature_size rule)")
        if any(s % 32 for s in sizes) or math.prod(s // 32 for s in sizes) < 2:
            raise ValueError(
                f"swin_unetr: input {sizes} must have sides divisible by 32 and more than one element at 1/32 "
                "(its bottleneck is instance-normalised): use at least 64 in-plane"
            )
        return SwinUNETR(**common, feature_size=width)
    if name == "unetr":
        if any(s % 16 for s in sizes):
            raise ValueError(f"unetr: input {sizes} must have sides divisible by its ViT patch, 16")
        hidden = 16 * width  # w = 48: 768, the ViT-B of TransUNet and of MONAI's default
        return UNETR(
            **common,
            img_size=sizes,
            feature_size=max(width // 3, 4),  # w = 48: MONAI's default 16
            hidden_size=hidden,
            mlp_dim=4 * hidden,
            num_heads=max(hidden // 64, 1),
        )
    raise ValueError(f"unknown baseline network {name!r}; choose one of {NETWORKS}")


def _with_zero_iou(logits: torch.Tensor) -> Prediction:
    return Prediction(logits, logits.new_zeros(logits.shape[:2]))


class SliceBaseline(nn.Module):
    """A 2D network on the Table 1 slices: x (B, 4, H, W) -> Prediction(logits (B, K, H, W), zeros (B, K))."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> Prediction:
        return _with_zero_iou(self.net(x))


class PerSliceBaseline(nn.Module):
    """A 2D network on slice groups: x (B, N, 1, H, W) -> Prediction of the middle slice (B, K, H, W)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> Prediction:
        return _with_zero_iou(self.net(x[:, middle_index(x.shape[1])]))  # the slice the group is centred on


class VolumeBaseline(nn.Module):
    """A 3D network: x (B, 1, D, H, W) -> Prediction(logits (B, K, D, H, W), zeros (B, K))."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> Prediction:
        return _with_zero_iou(self.net(x))


def build_baseline(
    name: str, layout: str, *, num_classes: int, width: int, image_size: int, patch_size: tuple[int, int, int]
) -> nn.Module:
    """The baseline ``name`` in ``layout`` (see the module docstring); ``patch_size``: the 3D training patch."""
    if layout == "slices":
        return SliceBaseline(
            network(name, spatial_dims=2, in_channels=4, out_channels=num_classes, width=width, image_size=image_size)
        )
    if layout == "per_slice":
        return PerSliceBaseline(
            network(name, spatial_dims=2, in_channels=1, out_channels=num_classes, width=width, image_size=image_size)
        )
    if layout == "3d":
        return VolumeBaseline(
            network(name, spatial_dims=3, in_channels=1, out_channels=num_classes, width=width, image_size=patch_size)
        )
    raise ValueError(f"unknown baseline layout {layout!r}; choose one of {LAYOUTS}")
