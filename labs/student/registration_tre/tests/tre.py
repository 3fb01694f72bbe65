from otter.test_files import test_case

OK_FORMAT = False

name = "tre"
points = 3

@test_case(points=None, hidden=False)
def test_a_shift(tre):
    import numpy as np
    import SimpleITK as sitk
    truth = sitk.TranslationTransform(3, (3.0, 4.0, 0.0))
    points = np.zeros((5, 3))
    assert np.allclose(tre(points, None, truth), 5.0), 'identity against a 3-4-0 shift: 5 mm everywhere'

