from otter.test_files import test_case

OK_FORMAT = False

name = "diagonal_mm"
points = 2

@test_case(points=None, hidden=False)
def test_square_pixels(diagonal_mm):
    assert abs(diagonal_mm((3, 4), (1.0, 1.0)) - 5.0) < 1e-09, 'a 3 x 4 image of 1 mm pixels: diagonal 5 mm'

