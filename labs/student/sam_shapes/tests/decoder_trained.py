from otter.test_files import test_case

OK_FORMAT = False

name = "decoder_trained"
points = 3

@test_case(points=None, hidden=False)
def test_vit_b(decoder_trained):
    import torch
    from sambook.models.sam_core import build_sam
    with torch.device('meta'):
        decoder = build_sam('vit_b', image_size=256).mask_decoder
    assert decoder_trained(decoder) == 3638916, "the paper's 3.64M"

