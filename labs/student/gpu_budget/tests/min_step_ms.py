from otter.test_files import test_case

OK_FORMAT = False

name = "min_step_ms"
points = 2

@test_case(points=None, hidden=False)
def test_one_teraflop(min_step_ms):
    assert abs(min_step_ms(1000000000000.0, 1.0) - 1000.0) < 1e-06, '1 TFLOP at 1 TFLOP/s: one second'

