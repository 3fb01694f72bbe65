from otter.test_files import test_case

OK_FORMAT = False

name = "axial_step"
points = 3

@test_case(points=None, hidden=False)
def test_shape(axial_step):
    import torch
    from torch import nn
    z = torch.randn(1, 3, 2, 2, 8)
    assert tuple(axial_step(z, nn.Linear(8, 24), nn.Linear(8, 8), 2).shape) == (1, 3, 2, 2, 8)

