"""Loss and metrics against hand computations, including every empty-mask case of the convention."""

from __future__ import annotations

import math

import pytest
import torch

from sambook.evaluate.metrics import aggregate, dice_hd95, score_batch
from sambook.train.losses import SegmentationLoss, mask_iou


def _square(size: int, y0: int, x0: int, side: int) -> torch.Tensor:
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[y0 : y0 + side, x0 : x0 + side] = True
    return mask


def test_dice_by_hand():
    pred, true = _square(10, 0, 0, 4), _square(10, 0, 2, 4)  # overlap 4x2 = 8 of 16 + 16
    dice, _ = dice_hd95(pred, true, (1.0, 1.0))
    assert dice == pytest.approx(100 * 2 * 8 / 32)


def test_hd95_in_millimetres_uses_spacing():
    pred, true = _square(20, 5, 5, 4), _square(20, 5, 8, 4)  # shifted by 3 pixels along x
    _, hd_px = dice_hd95(pred, true, (1.0, 1.0))
    _, hd_mm = dice_hd95(pred, true, (1.0, 2.5))
    assert hd_px == pytest.approx(3.0)
    assert hd_mm == pytest.approx(7.5)


def test_empty_mask_convention():
    empty, square = torch.zeros(8, 8, dtype=torch.bool), _square(8, 2, 2, 3)
    diagonal = math.hypot(8 * 0.5, 8 * 2.0)
    assert dice_hd95(empty, empty, (0.5, 2.0)) == (100.0, 0.0)  # both empty
    assert dice_hd95(empty, square, (0.5, 2.0)) == (0.0, pytest.approx(diagonal))  # missed tumour
    assert dice_hd95(square, empty, (0.5, 2.0)) == (0.0, pytest.approx(diagonal))  # false positive


def test_score_batch_and_aggregate_keep_every_image():
    logits = torch.full((2, 1, 8, 8), -5.0)
    logits[0, 0, 2:5, 2:5] = 5.0  # image 0 predicts the square; image 1 predicts nothing
    labels = torch.zeros(2, 8, 8, dtype=torch.long)
    labels[0, 2:5, 2:5] = 1
    labels[1, 0:2, 0:2] = 1  # missed
    rows = score_batch(logits, labels, torch.ones(2, 2))
    assert [r["dice"] for r in rows] == [100.0, 0.0]
    summary = aggregate(rows)
    assert summary["dice"] == 50.0 and summary["n"] == 2 and summary["hd95"] == pytest.approx(math.hypot(8, 8) / 2)


def test_multiclass_scores_each_class():
    labels = torch.zeros(1, 6, 6, dtype=torch.long)
    labels[0, :3] = 1
    labels[0, 3:] = 2
    logits = torch.nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).float() * 10
    rows = score_batch(logits, labels, torch.ones(1, 2), classes=(1, 2))
    assert [(r["class"], r["dice"]) for r in rows] == [(1, 100.0), (2, 100.0)]


def test_loss_is_dice_plus_ce_by_hand():
    logits = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]])  # (1, 1, 2, 2)
    labels = torch.tensor([[[1, 0], [1, 1]]])
    p = torch.sigmoid(logits)[0, 0]
    t = labels[0].float()
    bce = torch.nn.functional.binary_cross_entropy(p, t)
    dice = 1 - (2 * (p * t).sum() + 1e-5) / (p.sum() + t.sum() + 1e-5)
    loss = SegmentationLoss(lambda_dice=0.7, lambda_ce=0.3, lambda_iou=0)(logits, labels)
    assert loss.item() == pytest.approx((0.7 * dice + 0.3 * bce).item(), rel=1e-5)


def test_iou_term_trains_the_iou_head_towards_the_true_iou():
    logits = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]])
    labels = torch.tensor([[[1, 0], [1, 1]]])
    assert mask_iou(logits, labels).item() == pytest.approx(2 / 3)
    iou = torch.tensor([[0.2]], requires_grad=True)
    base = SegmentationLoss(lambda_iou=0)(logits, labels)
    full = SegmentationLoss(lambda_iou=2.0)((logits, iou), labels)
    assert (full - base).item() == pytest.approx(2.0 * (0.2 - 2 / 3) ** 2, rel=1e-5)
    full.backward()
    assert iou.grad.item() < 0  # pushes the prediction up towards 2/3


def test_dice_plus_ce_is_the_default_in_the_loss_and_the_configs():
    """Both papers train with Dice + CE only: the IoU term is an option, off by default."""
    from sambook.config import TrainConfig
    from sambook.train.loop import fit_arguments

    logits, labels = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]]), torch.tensor([[[1, 0], [1, 1]]])
    iou = torch.tensor([[0.2]], requires_grad=True)
    assert SegmentationLoss()((logits, iou), labels).item() == pytest.approx(SegmentationLoss()(logits, labels).item())
    assert TrainConfig(model="sam").lambda_iou == 0
    assert fit_arguments(TrainConfig(model="sam").resolved()).get("loss_fn").lambda_iou == 0


def test_multiclass_loss_runs_and_is_lower_for_the_right_answer():
    labels = torch.randint(0, 4, (2, 8, 8))
    right = torch.nn.functional.one_hot(labels, 4).permute(0, 3, 1, 2).float() * 8
    wrong = right.roll(1, dims=1)
    loss = SegmentationLoss(lambda_iou=0)
    assert loss(right, labels) < loss(wrong, labels)
