from otter.test_files import test_case

OK_FORMAT = False

name = "relpos_rows"
points = 3

@test_case(points=None, hidden=False)
def test_vit_b_at_1024(relpos_rows):
    assert relpos_rows('vit_b', 1024, 2) == 127, 'block 2 of ViT-B is global: 64 tokens a side'

