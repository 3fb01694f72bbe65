from otter.test_files import test_case

OK_FORMAT = False

name = "fits_card"
points = 3

@test_case(points=None, hidden=False)
def test_small_run_fits(fits_card):
    assert fits_card(100.0, 15) is True

