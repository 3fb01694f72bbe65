from otter.test_files import test_case

OK_FORMAT = False

name = "group_extent_mm"
points = 2

@test_case(points=None, hidden=False)
def test_neighbours_only(group_extent_mm):
    assert abs(group_extent_mm(2, 1, 1.0) - 2.0) < 1e-09, 'three slices 1 mm apart span 2 mm'

