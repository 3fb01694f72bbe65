from otter.test_files import test_case

OK_FORMAT = False

name = "axial_rows"
points = 3

@test_case(points=None, hidden=False)
def test_shape(axial_rows):
    import torch
    assert tuple(axial_rows(torch.zeros(2, 3, 4, 5, 6)).shape) == (40, 3, 6)

