from otter.test_files import test_case

OK_FORMAT = False

name = "cmaa_trained"
points = 3

@test_case(points=None, hidden=False)
def test_vit_b(cmaa_trained):
    assert cmaa_trained(768, 6, 3638916) == 10721430, "the book's count for ViT-B (chapter sam_taken_apart)"

