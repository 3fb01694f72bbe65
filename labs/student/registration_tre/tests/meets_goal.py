from otter.test_files import test_case

OK_FORMAT = False

name = "meets_goal"
points = 2

@test_case(points=None, hidden=False)
def test_small_errors_pass(meets_goal):
    import numpy as np
    assert meets_goal(np.full(100, 0.3)) is True

