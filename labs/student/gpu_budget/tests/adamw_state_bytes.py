from otter.test_files import test_case

OK_FORMAT = False

name = "adamw_state_bytes"
points = 2

@test_case(points=None, hidden=False)
def test_one_parameter(adamw_state_bytes):
    assert adamw_state_bytes(1) == 8, 'exp_avg and exp_avg_sq, 4 bytes each'

