from otter.test_files import test_case

OK_FORMAT = False

name = "physical_point"
points = 3

@test_case(points=None, hidden=False)
def test_origin(physical_point):
    import numpy as np
    import SimpleITK as sitk
    image = sitk.Image(4, 5, 6, sitk.sitkFloat32)
    image.SetOrigin((10.0, -5.0, 2.0))
    assert np.allclose(physical_point(image, (0, 0, 0)), (10.0, -5.0, 2.0))

