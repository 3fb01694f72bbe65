from otter.test_files import test_case

OK_FORMAT = False

name = "token_grid"
points = 2

@test_case(points=None, hidden=False)
def test_vit_b_at_256(token_grid):
    assert token_grid('vit_b', 256) == 16

