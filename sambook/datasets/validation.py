"""Validation split: patients held out of the training side, seeded (chapters `fusing_modalities` and
`aftersam_volumes`).

The test split is scored once, after training, on the model the config reports (``report_epoch``: the last epoch,
or the epoch with the best validation Dice). Every choice made during training (the epoch, a comparison between
settings) is made on the validation patients, never on the test patients.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The validation draw's own random stream (the test split uses the plain seed).
VALIDATION_STREAM = 1


def hold_out(cases: Sequence, *, share: float, seed: int) -> tuple[list, list]:
    """``cases`` (the training side's patients) as (train, validation): ``round(share · n)`` patients drawn under
    ``seed``, at least one when ``share > 0``, and at least one left to train on. Both lists keep the input order."""
    if not 0 <= share < 1:
        raise ValueError(f"validation share {share} must lie in [0, 1)")
    cases = list(cases)
    n_val = 0 if share == 0 else min(max(1, int(round(len(cases) * share))), len(cases) - 1)
    chosen = set(np.random.default_rng([seed, VALIDATION_STREAM]).permutation(len(cases))[:n_val].tolist())
    return [c for i, c in enumerate(cases) if i not in chosen], [c for i, c in enumerate(cases) if i in chosen]
