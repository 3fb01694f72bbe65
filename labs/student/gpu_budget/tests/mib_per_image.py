from otter.test_files import test_case

OK_FORMAT = False

name = "mib_per_image"
points = 3

@test_case(points=None, hidden=False)
def test_fixed_cost_is_not_charged_per_image(mib_per_image):
    assert abs(mib_per_image(110.0, 1, 130.0, 3) - 10.0) < 1e-09, '100 MiB fixed, 10 MiB per image'

