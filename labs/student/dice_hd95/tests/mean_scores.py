from otter.test_files import test_case

OK_FORMAT = False

name = "mean_scores"
points = 2

@test_case(points=None, hidden=False)
def test_returns_two_numbers(mean_scores):
    import torch
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[:, 2:5, 2:5] = True
    dice, hd95 = mean_scores(masks, masks, (1.0, 1.0))
    assert abs(dice - 100.0) < 0.0001 and abs(hd95) < 1e-06, 'perfect predictions: Dice 100, HD95 0'

