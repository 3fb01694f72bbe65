from otter.test_files import test_case

OK_FORMAT = False

name = "factorised_scores"
points = 3

@test_case(points=None, hidden=False)
def test_one_slice_is_in_slice_attention(factorised_scores):
    assert factorised_scores(1, 4, 4) == 256 + 16, 'one slice: 16 x 16 in-slice scores and 16 one-key axial ones'

