from otter.test_files import test_case

OK_FORMAT = False

name = "group_indices"
points = 3

@test_case(points=None, hidden=False)
def test_inside_the_volume(group_indices):
    assert list(group_indices(10, 40, 4, 2)) == [6, 8, 10, 12, 14]

