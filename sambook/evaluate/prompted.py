"""Volume inference of the prompted AFTer-SAM (chapter `how_it_compares`): AFTer-SAM's slide over the volume, each
slice group with the prompt of its middle slice's ground truth (:mod:`sambook.datasets.prompts`; the three-point
draws seeded per slice by :func:`~sambook.datasets.prompts.slice_rng`, so every model sees the same prompts)."""

from __future__ import annotations

import numpy as np
import torch

from sambook.datasets.prompts import prompt_plane, prompt_tokens, slice_rng
from sambook.datasets.volumes import group


@torch.no_grad()
def predict_prompted_volume(
    model: torch.nn.Module,
    volume: np.ndarray,
    labels: np.ndarray,
    *,
    prompt: str,
    neighbours: int,
    interval: int,
    case: int,
    seed: int = 0,
    batch_size: int = 8,
) -> np.ndarray:
    """The label map (D, S, S) of ``volume`` (D, S, S), prompts drawn from ``labels`` (D, S, S); the groups and their
    prompt planes go to the model's device, the labels come back to the host."""
    model.eval()
    device = next(model.parameters()).device
    size, out = volume.shape[-1], []
    for start in range(0, len(volume), batch_size):
        items = []
        for d in range(start, min(start + batch_size, len(volume))):
            tokens = prompt_tokens(labels[d] > 0, prompt, slice_rng(seed, case, d))
            items.append(np.concatenate([group(volume, d, neighbours, interval), prompt_plane(tokens, size)[None]]))
        logits = model(torch.from_numpy(np.stack(items))[:, :, None].to(device))[0]
        out.append(((logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)).cpu())
    return torch.cat(out).numpy().astype(np.uint8)
