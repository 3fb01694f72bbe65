"""Label conventions (chapter `multimodal_mri`).

Inside sambook every tumour label map uses one **internal convention**, contiguous so that it can index the
output channels of a multi-class model:

====  =========================================  ===========  ===========  ===============
code  region                                     BraTS 2021   BraTS 2023   MSD Task01
====  =========================================  ===========  ===========  ===============
0     background (healthy tissue, outside)       0            0            0
1     necrotic / non-enhancing tumour core (NCR) 1            1            2
2     peritumoural oedema (ED)                   2            2            1
3     enhancing tumour (ET)                      4            3            3
====  =========================================  ===========  ===========  ===============

BraTS regions (whole tumour WT = {1, 2, 3}, tumour core TC = {1, 3}, enhancing tumour ET = {3}) are in
:mod:`sambook.evaluate.regions`. The convention ``internal`` reads files that hold the internal codes themselves.
The phantom writes BraTS 2021 values to disk, as the real BraTS 2021 release does.
"""

from __future__ import annotations

import numpy as np

BACKGROUND, NCR, ED, ET = 0, 1, 2, 3
CLASS_NAMES = ("background", "necrotic core", "oedema", "enhancing")

#: file convention -> {value on disk: internal code}
TO_INTERNAL: dict[str, dict[int, int]] = {
    "brats2021": {0: BACKGROUND, 1: NCR, 2: ED, 4: ET},
    "brats2023": {0: BACKGROUND, 1: NCR, 2: ED, 3: ET},
    "msd": {0: BACKGROUND, 1: ED, 2: NCR, 3: ET},
    "internal": {0: BACKGROUND, 1: NCR, 2: ED, 3: ET},
}

#: tissue classes of the phantom's anatomy (used for pretraining, never tumour labels)
TISSUE_NAMES = ("background", "CSF", "grey matter", "white matter")
#: The mini SAM's pretext classes (chapter `foundation_model`): synthetic anomalies first, then the tissues.
PRETEXT_CLASSES = ("anomaly", *TISSUE_NAMES)


def to_internal(labels: np.ndarray, convention: str) -> np.ndarray:
    """Map a label array from a file convention to the internal one.

    Raises ``ValueError`` listing the values that the convention does not know.
    """
    table = TO_INTERNAL[convention]
    values = np.unique(labels)
    unknown = sorted(v.item() for v in values if v != int(v) or int(v) not in table)  # 1.5 is named as 1.5
    if unknown:
        raise ValueError(f"unknown label values {unknown} for {convention} (expected {sorted(table)})")
    lookup = np.zeros(max(table) + 1, dtype=np.uint8)
    for disk, internal in table.items():
        lookup[disk] = internal
    return lookup[labels.astype(np.int64)]


def from_internal(labels: np.ndarray, convention: str) -> np.ndarray:
    """Map internal codes back to a file convention (e.g. to write BraTS 2021 files)."""
    inverse = {internal: disk for disk, internal in TO_INTERNAL[convention].items()}
    lookup = np.array([inverse[i] for i in range(len(inverse))], dtype=np.uint8)
    return lookup[labels.astype(np.int64)]
