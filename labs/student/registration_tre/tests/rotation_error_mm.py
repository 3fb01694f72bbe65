from otter.test_files import test_case

OK_FORMAT = False

name = "rotation_error_mm"
points = 2

@test_case(points=None, hidden=False)
def test_half_turn(rotation_error_mm):
    assert abs(rotation_error_mm(10.0, 180.0) - 20.0) < 1e-09, 'half a turn moves a point across the diameter'

