"""Monte Carlo of the modelled applicators against the published figures (fast subset, 200 000 photons).

Definitions in plugins/ebx_surface/beam_metrics.py; the full set (every applicator, 10⁶ photons, SSD
sensitivity) is scripts/validate_ebx.py. Statistical noise at 2·10⁵ photons: ≈ 1 % (k = 1) per 0.5 mm
annulus of the profiles, ≈ 0.2–0.9 % on the PDD points.
"""

import pytest

from plugins.ebx_surface.applicator_model import applicator_beam_data
from plugins.ebx_surface.beam_metrics import (depth_dose_gradient_percent_per_mm, flatness_percent,
                                              penumbra_80_20_mm, uniformity_percent)
from plugins.ebx_surface.machine_data import XOFT_TREATABLE_DIAMETER_MM

PHOTONS = 200_000


@pytest.fixture(scope="module")
def esteya_30(tmp_path_factory):
    return applicator_beam_data("esteya-class", "applicator-30mm", PHOTONS, seed=1,
                                cache_folder=tmp_path_factory.mktemp("ebx-mc"))


def test_provenance_names_the_model_and_its_assumptions(esteya_30):
    text = esteya_30.provenance["applicator_model"]
    assert "flattening filter: Al" in text and "modelling assumption" in text
    assert esteya_30.filter_description is not None


def test_esteya_flatness_better_than_5_percent_at_the_surface(esteya_30):
    # Published: flatness and symmetry better than 5 % (Garcia-Martinez 2014). Noise inflates max − min,
    # so the model's true flatness is at most this value.
    assert flatness_percent(esteya_30, 0.0) < 5.0


def test_esteya_penumbra_at_most_2_mm(esteya_30):
    # Published: about 1 mm. The model has a point focal spot and no collimator transmission, so its
    # penumbra is sharper; 0.5 mm scoring annuli limit what can be resolved. Defensible bound: ≤ 2 mm.
    p = penumbra_80_20_mm(esteya_30, 0.0)
    assert 0.0 < p <= 2.0


@pytest.mark.xfail(strict=True, reason=(
    "known miss: at the ASSUMED SSD of 6 cm the 0–5 mm PDD slope is ≈ 4.8 %/mm, not the published ≈ 7 %/mm "
    "(accepted 6.5–7.5). The SSD is not published; the model reproduces 7 %/mm only near SSD 3 cm. "
    "Not tuned: see scripts/validate_ebx.py and the report."))
def test_esteya_depth_dose_gradient_about_7_percent_per_mm(esteya_30):
    assert 6.5 <= depth_dose_gradient_percent_per_mm(esteya_30, 0.0, 5.0) <= 7.5


@pytest.mark.parametrize("diameter", [10, 50])
def test_xoft_uniformity_within_15_percent_at_2_mm(diameter, tmp_path_factory):
    beam = applicator_beam_data("xoft-class", f"surface-{diameter}mm", PHOTONS, seed=1,
                                cache_folder=tmp_path_factory.mktemp("ebx-mc"))
    assert uniformity_percent(beam, XOFT_TREATABLE_DIAMETER_MM[diameter] / 2.0, 2.0) <= 15.0
