from otter.test_files import test_case

OK_FORMAT = False

name = "lora_params"
points = 2

@test_case(points=None, hidden=False)
def test_small_layer(lora_params):
    assert lora_params(10, 20, 2) == 60, 'A is 2 x 10 and B is 20 x 2'

