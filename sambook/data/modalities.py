"""The four MRI modalities of both BraTS layouts, in the order every array of the book uses (chapter
`multimodal_mri`), and the brain mask the book z-scores over."""

from __future__ import annotations

import numpy as np

#: Channel order of every multimodal array: T1, T1 with contrast, T2, FLAIR.
MODALITIES = ("t1", "t1ce", "t2", "flair")


def brain_mask(t2: np.ndarray) -> np.ndarray:
    """The brain of a skull-stripped T2 volume or slice: voxels brighter than the image's mean (the background is
    zero, so the mean sits well below any tissue)."""
    return t2 > t2.mean()
