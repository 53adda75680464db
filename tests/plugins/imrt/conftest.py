"""One coarse TG-119 dose-influence matrix shared by the IMRT tests (5 mm voxels and bixels)."""

import pytest

from plugins.imrt_photon.pencil_beam import BeamSettings, dose_influence
from plugins.imrt_photon.phantom import tg119_c_shape


@pytest.fixture(scope="package")
def tg119():
    phantom = tg119_c_shape(spacing_mm=5.0)
    # a lighter scatter tail and no bixel margin keep the suite fast; the benchmark uses defaults
    influence = dose_influence(phantom, settings=BeamSettings(tail_radius_mm=40.0, target_margin_mm=0.0))
    rows = {name: influence.rows_for(mask) for name, mask in phantom.masks.items()}
    return phantom, influence, rows
