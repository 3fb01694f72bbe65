"""Label-preserving augmentation of the pretext slices (chapter `foundation_model`)."""

from __future__ import annotations

import torch


def augment(image: torch.Tensor, label: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Label-preserving augmentation of one slice (1, S, S): contrast and brightness, a monotone intensity warp,
    noise, flips and 90-degree rotations. Polarity is kept: which way a region differs is information."""
    r = torch.rand(5, generator=g)
    image = image * (0.7 + 0.6 * r[0]) + 0.6 * (r[1] - 0.5)  # contrast and brightness
    image = torch.sign(image) * image.abs() ** (0.8 + 0.4 * r[2])  # monotone intensity warp
    image = image + 0.15 * r[3] * torch.randn(image.shape, generator=g)
    k = int(r[4] * 4)
    image, label = torch.rot90(image, k, (-2, -1)), torch.rot90(label, k, (-2, -1))
    if torch.rand(1, generator=g) < 0.5:
        image, label = image.flip(-1), label.flip(-1)
    return image, label
