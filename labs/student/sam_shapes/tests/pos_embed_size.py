from otter.test_files import test_case

OK_FORMAT = False

name = "pos_embed_size"
points = 2

@test_case(points=None, hidden=False)
def test_vit_b_shrinks_at_256(pos_embed_size):
    assert pos_embed_size('vit_b', 1024) - pos_embed_size('vit_b', 256) == 2949120, 'chapter sam_taken_apart'

