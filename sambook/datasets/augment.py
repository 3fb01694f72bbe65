"""Augmentation that repeats under a seed (chapters `fusing_modalities` and `aftersam_volumes`).

MONAI's random transforms keep their own NumPy generator, seeded from the operating system unless told otherwise:
a seeded run would not repeat, and a resumed run would not continue where it stopped. :func:`apply_seeded` reseeds
the transform from torch's global generator before each sample, which ties it to the state that the training loop
seeds (``seed_everything``) and saves in its checkpoints.
"""

from __future__ import annotations

import torch
from monai.transforms import Randomizable


def apply_seeded(transform, sample: dict) -> dict:
    """``transform(sample)`` with the transform's randomness drawn from torch's global generator."""
    if isinstance(transform, Randomizable):
        transform.set_random_state(seed=int(torch.randint(2**31 - 1, (1,))))
    return transform(sample)
