"""Whole-volume inference of the 3D baselines by sliding windows (chapter `how_it_compares`).

MONAI's ``sliding_window_inference`` tiles the volume with windows of the training patch size (overlap 25 %,
Gaussian-weighted blending of the overlapping logits), zero-padding where the volume is smaller than a window; the
label map is the arg-max over classes (or logit > 0 for one output map), scored with the same
:func:`~sambook.evaluate.volumes.dice_3d` as AFTer-SAM.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.inferers import sliding_window_inference


def label_map(logits: torch.Tensor) -> torch.Tensor:
    """Logits (B, K, ...) -> labels (B, ...): arg-max over K, or logit > 0 for K = 1."""
    return (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)


@torch.no_grad()
def predict_volume_3d(
    model: torch.nn.Module, volume: np.ndarray, *, patch: tuple[int, int, int], overlap: float = 0.25
) -> np.ndarray:
    """The label map (D, S, S) of a 3D model over ``volume`` (D, S, S)."""
    model.eval()
    device = next(model.parameters()).device
    x = torch.from_numpy(volume)[None, None].float().to(device)
    logits = sliding_window_inference(
        x, roi_size=tuple(patch), sw_batch_size=2, predictor=lambda p: model(p)[0], overlap=overlap, mode="gaussian"
    )
    return label_map(logits)[0].cpu().numpy().astype(np.uint8)
