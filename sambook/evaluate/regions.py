"""The BraTS regions WT, TC and ET of a label map, for each dataset layout's label codes.

The regions are unions of tumour labels, written here in the internal codes of :mod:`sambook.data.labels`
(0 background, 1 necrotic core NCR, 2 oedema ED, 3 enhancing ET):

    WT (whole tumour)     = NCR ∪ ED ∪ ET
    TC (tumour core)      = NCR ∪ ET
    ET (enhancing tumour) = ET

On disk the codes depend on the layout, and so do the regions' values:

============  =====================================  =========  =========  =====
layout        codes                                  WT         TC         ET
============  =====================================  =========  =========  =====
``brats2021`` 1 NCR, 2 ED, 4 ET                      {1, 2, 4}  {1, 4}     {4}
``brats2023`` 1 NCR, 2 ED, 3 ET                      {1, 2, 3}  {1, 3}     {3}
``msd``       1 ED, 2 non-enhancing tumour, 3 ET     {1, 2, 3}  {2, 3}     {3}
``internal``  1 NCR, 2 ED, 3 ET (this library's)     {1, 2, 3}  {1, 3}     {3}
============  =====================================  =========  =========  =====

A value the layout does not know (a 4 in a BraTS 2023 file, a 3 read as ``brats2021``...) is an error, never
silently background: the BraTS 2023 metrics script, for one, would drop BraTS 2021's label 4 from every region.
Used by chapters `fusing_modalities` and `aftersam_volumes`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sambook.data.labels import ED, ET, NCR, TO_INTERNAL, to_internal
from sambook.errors import DataError

LAYOUTS = tuple(TO_INTERNAL)  # brats2021, brats2023, msd, internal
#: BraTS region -> the internal codes it unites
REGIONS: dict[str, tuple[int, ...]] = {"WT": (NCR, ED, ET), "TC": (NCR, ET), "ET": (ET,)}


def internal_labels(labels: np.ndarray, layout: str, source: str | Path = "label map") -> np.ndarray:
    """Map a label map of ``layout`` to internal codes (uint8).

    Raises :class:`sambook.errors.DataError` naming ``source`` (the file) and the values that ``layout`` does not
    know, non-integer values included.
    """
    if layout not in TO_INTERNAL:
        raise ValueError(f"unknown layout {layout!r} (expected one of {LAYOUTS})")
    try:
        return to_internal(labels, layout)
    except ValueError as error:
        raise DataError(source, str(error)) from None


def region(internal: np.ndarray, name: str) -> np.ndarray:
    """Boolean mask of the BraTS region ``name`` (``"WT"``, ``"TC"`` or ``"ET"``) of an internal label map."""
    return np.isin(internal, REGIONS[name])


def region_masks(labels: np.ndarray, layout: str, source: str | Path = "label map") -> dict[str, np.ndarray]:
    """``{"WT": mask, "TC": mask, "ET": mask}`` of a label map of ``layout`` (see :func:`internal_labels`)."""
    internal = internal_labels(labels, layout, source)
    return {name: region(internal, name) for name in REGIONS}
