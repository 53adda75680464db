"""One coarse TG-119 dose-influence matrix shared by the IMRT tests (5 mm voxels and bixels)."""

import pytest

from plugins.imrt_photon.pencil_beam import dose_influence
from plugins.imrt_photon.phantom import tg119_c_shape


@pytest.fixture(scope="package")
def tg119():
    phantom = tg119_c_shape(spacing_mm=5.0)
    influence = dose_influence(phantom)
    rows = {name: influence.rows_for(mask) for name, mask in phantom.masks.items()}
    return phantom, influence, rows
