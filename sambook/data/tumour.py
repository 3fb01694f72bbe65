"""A synthetic glioma with the BraTS sub-regions (chapter `multimodal_mri`).

The tumour is a blobby star-shaped region: a voxel at ``x`` belongs to it when its scaled distance to the centre,
perturbed by a smooth random field, is below 1:

    rho(x) = |A (x - c)| / R + 0.35 * noise(x)         (A: a random rotation-free anisotropy)

Nested level sets of ``rho`` give the sub-regions: necrotic core (rho < k_core), enhancing rim (rho < 1),
and oedema, which spreads further (rho < k_edema) but only where white matter or grey matter is present, and
preferentially along white matter (the threshold grows with the local white-matter probability).
"""

from __future__ import annotations

import numpy as np

from sambook.data.anatomy import Anatomy, smooth_field
from sambook.data.labels import ED, ET, NCR


def place_centre(rng: np.random.Generator, anatomy: Anatomy, radius_vox: float) -> np.ndarray:
    """A random voxel (z, y, x) deep enough in white/grey matter for a tumour of ``radius_vox`` voxels."""
    from scipy import ndimage

    tissue = (anatomy.probs["wm"] + anatomy.probs["gm"]) > 0.5
    depth = ndimage.distance_transform_edt(tissue)
    candidates = np.argwhere(depth >= max(1.0, 0.6 * radius_vox))
    if len(candidates) == 0:  # a very coarse grid: fall back on the deepest voxels
        candidates = np.argwhere(depth >= depth.max())
    return candidates[rng.integers(len(candidates))].astype(np.float64)


def glioma_labels(rng: np.random.Generator, anatomy: Anatomy, spacing_mm: float) -> np.ndarray:
    """Internal label map (0 bg, 1 NCR, 2 ED, 3 ET) of one random glioma on the anatomy's grid, (z, y, x)."""
    shape = anatomy.probs["wm"].shape
    radius_mm = rng.uniform(9.0, 22.0)
    core_fraction = rng.uniform(0.35, 0.65)
    edema_reach = rng.uniform(1.5, 2.2)
    centre = place_centre(rng, anatomy, radius_mm / spacing_mm)
    anisotropy = rng.uniform(0.8, 1.25, size=3)

    zz, yy, xx = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")
    offset = np.stack([zz - centre[0], yy - centre[1], xx - centre[2]]) * spacing_mm  # (3, z, y, x) in mm
    distance = np.sqrt(((offset * anisotropy[:, None, None, None]) ** 2).sum(axis=0))
    rho = distance / radius_mm + 0.35 * smooth_field(rng, shape, coarse=6)
    rho_edema = distance / radius_mm + 0.5 * smooth_field(rng, shape, coarse=6)

    labels = np.zeros(shape, dtype=np.uint8)
    tissue = anatomy.probs["wm"] + anatomy.probs["gm"]
    edema_limit = edema_reach * (0.7 + 0.6 * anatomy.probs["wm"])  # spreads further along white matter
    labels[(rho_edema < edema_limit) & (tissue > 0.3)] = ED
    labels[(rho < 1.0) & (anatomy.brain > 0.2)] = ET
    labels[(rho < core_fraction) & (anatomy.brain > 0.2)] = NCR
    return labels
