"""Flattened applicator beam model: exact filter design, HVL bookkeeping, labelled assumptions, bad input."""

import numpy as np
import pytest

from planner.dose.attenuation import interaction_data
from planner.dose.monte_carlo import primary_kerma_kev_per_g
from planner.dose.spectrum import HVL_RELATIVE_TOLERANCE, fitted_spectrum
from plugins.ebx_surface.applicator_model import (ApplicatorModelError, applicator_model,
                                                  central_axis_hvl_mm_al)


def _primary_profile(model, depth_cm):
    spectrum = fitted_spectrum(model.kvp, model.pre_filter_hvl_mm_al)
    # Points on the design plane whose rays enter the skin inside the field.
    radius = model.field_diameter_mm / 20.0 * (model.ssd_cm + depth_cm) / model.ssd_cm
    r = np.linspace(0.0, 0.999 * radius, 25)
    k = primary_kerma_kev_per_g(spectrum, model.geometry, interaction_data("water"), r, np.full_like(r, depth_cm))
    return k / k[0]


@pytest.mark.parametrize("machine, applicator", [("esteya-class", "applicator-30mm"), ("xoft-class", "surface-50mm")])
def test_filter_makes_the_primary_kerma_uniform_on_the_surface(machine, applicator):
    model = applicator_model(machine, applicator)
    # Exact by construction (Brent root per radius, xtol 1e-9 cm); linear interpolation between the
    # 41 tabulated radii leaves < 0.05 %.
    assert np.max(np.abs(_primary_profile(model, 0.0) - 1.0)) < 5e-4
    t = np.array(model.flattening_filter.thickness_cm)
    assert t[-1] == 0.0 and np.all(np.diff(t) <= 0) and t[0] > 0
    # Without the filter the same points fall by the inverse square, cos²θ at the edge.
    edge_cos2 = model.ssd_cm ** 2 / (model.ssd_cm ** 2 + (model.field_diameter_mm / 20.0) ** 2)
    assert edge_cos2 < 0.95


def test_a_filter_designed_at_depth_is_flat_at_that_depth():
    model = applicator_model("esteya-class", "applicator-30mm", design_depth_mm=3.0)
    assert np.max(np.abs(_primary_profile(model, 0.3) - 1.0)) < 5e-4


@pytest.mark.parametrize("machine, applicator, hvl", [("esteya-class", "applicator-30mm", 1.85),
                                                     ("xoft-class", "surface-50mm", 0.52)])
def test_the_central_axis_beam_keeps_the_published_hvl(machine, applicator, hvl):
    model = applicator_model(machine, applicator)
    assert model.pre_filter_hvl_mm_al < hvl                      # the filter hardens the beam
    assert abs(central_axis_hvl_mm_al(model) / hvl - 1.0) <= HVL_RELATIVE_TOLERANCE


def test_assumptions_are_labelled_and_replaced_by_commissioned_values():
    model = applicator_model("xoft-class", "surface-20mm")
    text = model.description()
    assert "SSD 2 cm is a modelling assumption" in text and "HVL 0.52 mm Al is a stand-in" in text
    measured = applicator_model("xoft-class", "surface-20mm", ssd_cm=2.5, hvl_mm_al=0.6)
    assert measured.ssd_cm == 2.5 and measured.central_axis_hvl_mm_al == 0.6
    assert not any(a.startswith(("SSD", "HVL")) for a in measured.assumptions)
    assert "SSD 6 cm is a modelling assumption" in applicator_model("esteya-class", "applicator-10mm").description()


@pytest.mark.parametrize("kwargs, message", [
    ({"ssd_cm": -1.0}, "commissioned SSD must be a positive number"),
    ({"ssd_cm": float("nan")}, "commissioned SSD must be a positive number"),
    ({"hvl_mm_al": 0.0}, "commissioned HVL must be a positive number"),
    ({"design_depth_mm": 12.0}, "filter design depth must be 0–10 mm"),
])
def test_bad_input_gets_a_specific_message(kwargs, message):
    with pytest.raises(ApplicatorModelError, match=message):
        applicator_model("esteya-class", "applicator-10mm", **kwargs)


def test_a_field_that_aluminium_cannot_flatten_is_refused():
    # 50 mm field 1 cm from the source: the edge gets cos²θ = 0.14 of the axis fluence; flattening it needs
    # far more Al than the whole beam's fitted filtration.
    with pytest.raises(ApplicatorModelError, match="cannot be flattened"):
        applicator_model("xoft-class", "surface-50mm", ssd_cm=1.0)
