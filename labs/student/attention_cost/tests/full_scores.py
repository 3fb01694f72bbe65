from otter.test_files import test_case

OK_FORMAT = False

name = "full_scores"
points = 2

@test_case(points=None, hidden=False)
def test_one_slice(full_scores):
    assert full_scores(1, 2, 2) == 16, '4 tokens, each attending to 4 keys'

