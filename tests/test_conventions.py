"""The four Dice/HD95 conventions of :mod:`sambook.evaluate.conventions` on the four kinds of slice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sambook.evaluate.conventions import CONVENTIONS, compare, format_table

SPACING = (2.0, 0.5)  # mm per pixel (y, x): HD95 in mm and in pixels differ
EMPTY = np.zeros((16, 16), dtype=bool)
BOX = EMPTY.copy()
BOX[4:8, 4:8] = True
SHIFTED = np.roll(BOX, 2, axis=0)  # two rows down: 4 mm, 2 pixels
DIAGONAL = math.hypot(16 * 2.0, 16 * 0.5)


def scores(pred, true):
    return {name: function(pred, true, SPACING) for name, function in CONVENTIONS.items()}


def test_both_empty():
    s = scores(EMPTY, EMPTY)
    assert s["this book"] == (100.0, 0.0) and s["BraTS legacy"] == (100.0, 0.0)
    assert s["SAMed/TransUNet"] == (0.0, 0.0)  # TransUNet's last branch: not (pred and truth), not pred
    assert all(math.isnan(v) for v in s["MONAI defaults"])


def test_a_false_positive_on_an_empty_truth():
    s = scores(BOX, EMPTY)
    assert s["this book"] == (0.0, pytest.approx(DIAGONAL)) and s["BraTS legacy"] == (0.0, 374.0)
    assert s["SAMed/TransUNet"] == (100.0, 0.0)
    assert all(math.isnan(v) for v in s["MONAI defaults"])


def test_a_missed_tumour():
    s = scores(EMPTY, BOX)
    assert s["this book"] == (0.0, pytest.approx(DIAGONAL)) and s["BraTS legacy"] == (0.0, 374.0)
    assert s["SAMed/TransUNet"] == (0.0, 0.0)
    dice, hd95 = s["MONAI defaults"]
    assert dice == 0.0 and math.isnan(hd95)


def test_overlapping_masks_agree_on_dice_and_differ_in_units():
    s = scores(SHIFTED, BOX)
    assert {round(d, 6) for d, _ in s.values()} == {50.0}
    assert s["this book"][1] == pytest.approx(4.0) and s["BraTS legacy"][1] == pytest.approx(4.0)
    assert s["SAMed/TransUNet"][1] == pytest.approx(2.0) and s["MONAI defaults"][1] == pytest.approx(2.0)


def test_means_over_the_same_slices():
    table = compare([(SHIFTED, BOX, SPACING), (BOX, EMPTY, SPACING), (EMPTY, EMPTY, SPACING)])
    assert table["this book"]["dice"] == pytest.approx((50 + 0 + 100) / 3)
    assert table["SAMed/TransUNet"]["dice"] == pytest.approx((50 + 100 + 0) / 3)
    assert table["MONAI defaults"]["dice"] == pytest.approx(50.0)  # the two empty truths drop out
    assert table["MONAI defaults"]["hd95"] == pytest.approx(2.0)
    assert table["BraTS legacy"]["hd95"] == pytest.approx((4 + 374 + 0) / 3)
    assert [len(t["slices"]) for t in table.values()] == [3] * 4
    text = format_table(table, ["shifted", "false positive", "both empty"]).splitlines()
    assert len(text) == 2 + 3 + 1 and text[-1].startswith("mean") and "nan" in text[3]
