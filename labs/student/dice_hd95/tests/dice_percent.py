from otter.test_files import test_case

OK_FORMAT = False

name = "dice_percent"
points = 3

@test_case(points=None, hidden=False)
def test_two_squares(dice_percent):
    import torch
    a = torch.zeros(8, 8, dtype=torch.bool)
    b = torch.zeros(8, 8, dtype=torch.bool)
    a[0:4, 0:4] = True
    b[2:6, 0:4] = True
    assert abs(dice_percent(a, b) - 50.0) < 1e-06, 'two 16-pixel squares sharing 8 pixels: Dice 50 %'

