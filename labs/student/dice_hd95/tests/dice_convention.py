from otter.test_files import test_case

OK_FORMAT = False

name = "dice_convention"
points = 3

@test_case(points=None, hidden=False)
def test_both_empty(dice_convention):
    import torch
    empty = torch.zeros(6, 6, dtype=torch.bool)
    assert dice_convention(empty, empty) == 100.0, 'nothing to find and nothing found: Dice 100'

