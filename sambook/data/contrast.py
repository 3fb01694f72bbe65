"""MR contrast of the phantom: what each modality makes of each tissue (chapter `multimodal_mri`).

An image is a partial-volume mixture of tissue intensities, ``I(x) = sum_t p_t(x) * mu_t``, where ``p_t`` are the
tissue fractions of the voxel and ``mu_t`` the modality's intensity for tissue ``t`` (table ``INTENSITY``, in
arbitrary units, white matter of T1 = 1). Scanner effects follow in the acquisition: a smooth multiplicative bias
field and Rician noise, ``|I * b + n_1 + i n_2|`` with ``n_1, n_2 ~ N(0, sigma^2)``.

The table orders tissues as real scans do: T1 — white matter brighter than grey, CSF dark; T1ce — as T1, with
the enhancing rim bright; T2 — CSF brightest, oedema bright; FLAIR — CSF suppressed, oedema bright.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from sambook.data.anatomy import Anatomy, smooth_field
from sambook.data.labels import ED, ET, NCR
from sambook.data.modalities import MODALITIES

COMPONENTS = ("csf", "gm", "wm", "ncr", "ed", "et")

INTENSITY: dict[str, dict[str, float]] = {
    #         CSF   grey  white  necrosis oedema enhancing
    "t1":    {"csf": 0.30, "gm": 0.68, "wm": 1.00, "ncr": 0.25, "ed": 0.55, "et": 0.62},
    "t1ce":  {"csf": 0.32, "gm": 0.70, "wm": 1.00, "ncr": 0.25, "ed": 0.58, "et": 1.45},
    "t2":    {"csf": 1.60, "gm": 0.85, "wm": 0.62, "ncr": 1.35, "ed": 1.25, "et": 0.95},
    "flair": {"csf": 0.15, "gm": 0.85, "wm": 0.65, "ncr": 0.80, "ed": 1.50, "et": 1.10},
}


def component_fractions(anatomy: Anatomy, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Fractions of every component per voxel: tumour labels (softened over about one voxel) displace tissue."""
    soft = {name: np.clip(ndimage.gaussian_filter((labels == code).astype(np.float32), 0.6), 0, 1)
            for name, code in (("ncr", NCR), ("ed", ED), ("et", ET))}
    tumour = np.clip(soft["ncr"] + soft["ed"] + soft["et"], 0, 1)
    brain = anatomy.brain
    fractions = {t: anatomy.probs[t] * (1.0 - tumour) for t in ("csf", "gm", "wm")}
    fractions.update({name: soft[name] * brain for name in soft})
    return fractions


def clean_image(fractions: dict[str, np.ndarray], modality: str, rng: np.random.Generator,
                texture: float = 0.04) -> np.ndarray:
    """Noise-free image of one modality: the partial-volume mixture plus a faint smooth tissue texture."""
    image = sum(fractions[c] * INTENSITY[modality][c] for c in COMPONENTS)
    shape = image.shape
    return (image * (1.0 + texture * smooth_field(rng, shape, coarse=9))).astype(np.float32)


def bias_field(rng: np.random.Generator, shape: tuple[int, ...], strength: float = 0.15) -> np.ndarray:
    """A smooth multiplicative field, exp(strength * smooth noise): a few per cent to ~15 % up or down."""
    return np.exp(strength * smooth_field(rng, shape, coarse=3)).astype(np.float32)


def rician(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise on both channels (Rician noise)."""
    real = image + rng.normal(0.0, sigma, image.shape)
    imaginary = rng.normal(0.0, sigma, image.shape)
    return np.sqrt(real**2 + imaginary**2).astype(np.float32)
