from otter.test_files import test_case

OK_FORMAT = False

name = "qv_params"
points = 2

@test_case(points=None, hidden=False)
def test_is_an_integer(qv_params):
    assert isinstance(qv_params(8, 1), int)

