from otter.test_files import test_case

OK_FORMAT = False

name = "fuse_linear"
points = 3

@test_case(points=None, hidden=False)
def test_shape(fuse_linear):
    import torch
    f = torch.randn(2, 3, 3, 4)
    assert tuple(fuse_linear(f, f, torch.randn(4, 8), torch.randn(4)).shape) == (2, 3, 3, 4)

