from otter.test_files import test_case

OK_FORMAT = False

name = "fusion_map"
points = 3

@test_case(points=None, hidden=False)
def test_shape(fusion_map):
    import torch
    from torch import nn
    f = torch.randn(1, 2, 3, 4)
    assert tuple(fusion_map(nn.Conv2d(8, 4, 1), f, f).shape) == (1, 2, 3, 4)

