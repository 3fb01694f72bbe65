from otter.test_files import test_case

OK_FORMAT = False

name = "middle_slices"
points = 2

@test_case(points=None, hidden=False)
def test_shape(middle_slices):
    import torch
    assert tuple(middle_slices(torch.zeros(2, 9, 4, 4)).shape) == (2, 4, 4)

