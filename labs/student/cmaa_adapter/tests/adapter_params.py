from otter.test_files import test_case

OK_FORMAT = False

name = "adapter_params"
points = 2

@test_case(points=None, hidden=False)
def test_tiny(adapter_params):
    assert adapter_params(1) == 3, 'a 2 -> 1 map: two weights and a bias'

