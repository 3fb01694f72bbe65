from otter.test_files import test_case

OK_FORMAT = False

name = "lora_output"
points = 3

@test_case(points=None, hidden=False)
def test_zero_b_is_the_frozen_layer(lora_output):
    import torch
    x, w, bias = (torch.randn(4, 6), torch.randn(5, 6), torch.randn(5))
    got = lora_output(x, w, bias, torch.randn(2, 6), torch.zeros(5, 2), 2.0)
    assert torch.allclose(got, x @ w.T + bias, atol=1e-05), 'with B = 0 the layer is exactly the frozen one'

