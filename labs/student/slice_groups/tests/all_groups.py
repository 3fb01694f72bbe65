from otter.test_files import test_case

OK_FORMAT = False

name = "all_groups"
points = 3

@test_case(points=None, hidden=False)
def test_one_group_per_slice(all_groups):
    import numpy as np
    assert all_groups(np.zeros((7, 3, 3)), 4, 1).shape == (7, 5, 3, 3)

