from otter.test_files import test_case

OK_FORMAT = False

name = "merged_weight"
points = 3

@test_case(points=None, hidden=False)
def test_shape(merged_weight):
    from torch import nn
    from sambook.models.lora import LoRALinear
    assert tuple(merged_weight(LoRALinear(nn.Linear(6, 5), rank=2)).shape) == (5, 6)

