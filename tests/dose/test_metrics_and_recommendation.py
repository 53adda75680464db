"""Lesion metrics on a synthetic outline; energy and cone recommendation cases."""

import numpy as np
import pytest

from planner.core.outline import LesionOutline
from planner.core.skin_surface import SkinSurface
from planner.dose.dose_plane import BeamModel, dose_plane_gy
from planner.dose.metrics import compute_metrics, deepest_point, polygon_mask
from planner.dose.recommendation import (EnergyCandidate, recommend_cone, recommend_energy,
                                         recommend_energy_and_cone)
from plugins.superficial_kv.machine_data import SUPERFICIAL_UNIT as M
from tests.dose.kv_fixtures import MU_PER_MM, pdd_value, synthetic_beam

X = -10.0 + 0.05 * np.arange(401)          # pixel centres every 0.05 mm
Y = 0.025 * np.arange(321)
FLAT = SkinSurface(((-20.0, 1.0), (20.0, 1.0)))


def test_polygon_mask_even_odd_rule():
    # rectangle x ∈ [-2, 2], y ∈ [2, 4] mm: centres strictly inside 3.975/0.05... count by hand
    rect = LesionOutline(((-2.0, 2.0), (2.0, 2.0), (2.0, 4.0), (-2.0, 4.0)))
    rows, cols, mask = polygon_mask(rect, X, Y)
    full = np.zeros((Y.size, X.size), bool)
    full[rows, cols] = mask
    xx, yy = np.meshgrid(X, Y)
    expected = (xx > -2.0 + 1e-9) & (xx < 2.0 - 1e-9) & (yy > 2.0 + 1e-9) & (yy < 4.0 - 1e-9)
    # pixel centres exactly on an edge may fall either side; compare away from the edges
    edge = (np.abs(np.abs(xx) - 2.0) < 1e-6) | (np.abs(yy - 2.0) < 1e-6) | (np.abs(yy - 4.0) < 1e-6)
    assert np.array_equal(full[~edge], expected[~edge])
    # a concave (U-shaped) outline: the notch is outside
    u = LesionOutline(((-3, 2), (3, 2), (3, 5), (1, 5), (1, 3), (-1, 3), (-1, 5), (-3, 5)))
    rows, cols, mask = polygon_mask(u, X, Y)
    full[:] = False
    full[rows, cols] = mask
    assert not full[np.argmin(np.abs(Y - 4.0)), np.argmin(np.abs(X - 0.025))]
    assert full[np.argmin(np.abs(Y - 4.0)), np.argmin(np.abs(X - 2.025))]


def test_metrics_on_a_rectangle_in_a_flat_field():
    model = BeamModel(synthetic_beam(mu_per_mm=0.1, diameter_mm=30.0))
    grid = dose_plane_gy(model, X, Y, FLAT, 0.0, 20.0)
    # edges between pixel centres, so the inside set is unambiguous; depth 0.51–3.01 mm below the skin
    rect = LesionOutline(((-2.01, 1.51), (2.01, 1.51), (2.01, 4.01), (-2.01, 4.01)))

    def point_dose(px, py):
        return 20.0 * model.relative_dose(py - 1.0, px)

    m = compute_metrics(grid, X, Y, rect, FLAT, 20.0, model.beam.pdd, point_dose)
    assert m.deepest_point_depth_mm == pytest.approx(3.01)
    assert m.dose_at_deepest_point_gy == pytest.approx(20.0 * np.interp(3.01, *np.array(model.beam.pdd).T) / 100, rel=1e-5)
    inside = grid[(Y > 1.51) & (Y < 4.01)][:, (X > -2.01) & (X < 2.01)]
    assert inside.shape == (100, 81)
    assert m.lesion_pixel_count == inside.size
    assert m.lesion_dmin_gy == pytest.approx(inside.min(), rel=1e-6)
    assert m.lesion_dmean_gy == pytest.approx(inside.mean(), rel=1e-5)
    assert m.lesion_d98_gy == pytest.approx(np.percentile(inside, 2), rel=1e-6)
    assert m.lesion_d90_gy == pytest.approx(np.percentile(inside, 10), rel=1e-6)
    assert m.lesion_dmin_gy <= m.lesion_d98_gy <= m.lesion_d90_gy <= m.lesion_dmean_gy
    # the flat field makes the lesion minimum the central-axis PDD at its deepest row (~3.0 mm): 20·e^−0.3 = 14.8 Gy
    assert m.lesion_dmin_gy == pytest.approx(20.0 * pdd_value(3.0, 0.1) / 100, rel=0.01)
    assert m.depth_90_percent_isodose_mm == pytest.approx(1.05481, abs=1e-4)
    assert m.depth_80_percent_isodose_mm == pytest.approx(2.0 + (81.8731 - 80) / (81.8731 - 77.8801) * 0.5, abs=1e-3)


def test_metrics_report_missing_data_rather_than_inventing_it():
    model = BeamModel(synthetic_beam(mu_per_mm=0.1))
    grid = dose_plane_gy(model, X, Y, FLAT, 0.0, 20.0)
    tiny = LesionOutline(((0.001, 2.001), (0.002, 2.001), (0.002, 2.002)))
    m = compute_metrics(grid, X, Y, tiny, FLAT, 20.0, model.beam.pdd, lambda x, y: 1.0)
    assert m.lesion_pixel_count == 0 and m.lesion_d98_gy is None and "encloses no grid point" in m.notes[0]
    m = compute_metrics(grid, X, Y, tiny, FLAT, 20.0, model.beam.pdd, lambda x, y: float("nan"))
    assert m.dose_at_deepest_point_gy is None and "outside the beam data" in m.notes[0]


def test_deepest_point_matches_the_core_definition():
    skin = SkinSurface(((-10.0, 1.0), (0.0, 1.4), (10.0, 0.8)))
    outline = LesionOutline(((-3, 1.5), (3, 1.2), (2, 3.1), (-1, 3.3)))
    x, y, depth = deepest_point(outline, skin)
    assert depth == pytest.approx(outline.max_depth_below_skin_mm(skin.depth_at), abs=1e-9)
    assert y - skin.depth_at(x) == pytest.approx(depth)


def candidates():
    return [EnergyCandidate(e, kv, synthetic_beam(mu_per_mm=MU_PER_MM[e]).pdd)
            for e, kv in (("100kV", 100.0), ("50kV", 50.0), ("70kV", 70.0))]


def test_energy_recommendation_cases():
    # fixture 90 % depths: 50 kV 1.05 mm, 70 kV ≈ 2.1 mm, 100 kV ≈ 3.5 mm (piecewise-linear PDD)
    shallow = recommend_energy(candidates(), lesion_max_depth_mm=0.4)
    assert shallow.choice_id == "50kV" and "lowest energy" in shallow.reason
    mid = recommend_energy(candidates(), lesion_max_depth_mm=1.2)
    assert mid.choice_id == "70kV" and mid.requirement_mm == pytest.approx(1.7)
    deep = recommend_energy(candidates(), lesion_max_depth_mm=2.9)
    assert deep.choice_id == "100kV"
    # 3.2 mm + 0.5 mm margin = 3.7 mm: no energy reaches it, but 100 kV's 90 % isodose (−ln 0.9 / 0.03 =
    # 3.512 mm) reaches the lesion itself, so it is offered with the margin it misses: 3.7 − 3.512 = 0.19 mm
    short = recommend_energy(candidates(), lesion_max_depth_mm=3.2)
    assert short.choice_id == "100kV" and short.margin_missed_mm == pytest.approx(3.7 - 3.512, abs=0.002)
    assert short.reason.endswith("reaches the lesion's maximum depth 3.20 mm, but it misses the 0.5 mm margin "
                                 "by 0.19 mm")
    none = recommend_energy(candidates(), lesion_max_depth_mm=3.6)
    assert none.choice_id is None and "no energy suffices" in none.reason and "100 kV" in none.reason
    assert none.achieved_mm == pytest.approx(3.51, abs=0.02) and none.margin_missed_mm is None
    # at 80 % the 70 kV fixture reaches ln(1.25)/0.05 ≈ 4.46 mm ≥ 4.0 mm
    at80 = recommend_energy(candidates(), 3.5, isodose_percent=80)
    assert at80.choice_id == "70kV" and at80.margin_missed_mm is None
    assert recommend_energy(candidates(), 0.9, depth_margin_mm=0.0).choice_id == "50kV"
    with pytest.raises(ValueError):
        recommend_energy(candidates(), -1.0)
    with pytest.raises(ValueError):
        recommend_energy(candidates(), 1.0, isodose_percent=0)


def test_a_wider_cone_is_recommended_when_only_it_reaches_the_margin():
    # Per cone, a 100 kV beam whose 90 % isodose lies at −ln 0.9 / μ: 3.07 mm with Ø 20 mm, 3.56 mm with
    # Ø 25 mm (the Monte Carlo demo beams' figures); 50 and 70 kV as the fixture. Demo lesion: 8.95 mm wide,
    # 2.69 mm deep → the Ø 20 mm cone covers the width, but only Ø 25 mm reaches 2.69 + 0.5 = 3.19 mm.
    import math
    mu_100 = {"cone-15mm": -math.log(0.9) / 2.92, "cone-20mm": -math.log(0.9) / 3.07,
              "cone-25mm": -math.log(0.9) / 3.56, "cone-30mm": -math.log(0.9) / 3.43,
              "cone-40mm": -math.log(0.9) / 3.90, "cone-50mm": -math.log(0.9) / 3.59}
    asked = []

    def per_cone(cone_id):
        asked.append(cone_id)
        return [EnergyCandidate("50kV", 50.0, synthetic_beam(mu_per_mm=0.10).pdd),
                EnergyCandidate("70kV", 70.0, synthetic_beam(mu_per_mm=0.05).pdd),
                EnergyCandidate("100kV", 100.0, synthetic_beam(mu_per_mm=mu_100[cone_id]).pdd)]

    cone, energy = recommend_energy_and_cone(M, 8.95, 2.69, per_cone)
    assert (cone.choice_id, energy.choice_id) == ("cone-25mm", "100kV") and energy.margin_missed_mm is None
    assert asked == ["cone-20mm", "cone-25mm"]                  # stops at the first cone that meets the margin
    assert cone.reason.startswith("Ø 25 mm: wider than the Ø 20 mm") and "3.19 mm" in cone.reason
    assert "reaches 3.07 mm at most" in cone.reason
    # with a 0.2 mm margin the Ø 20 mm cone suffices at 100 kV (3.07 ≥ 2.89 mm)
    cone, energy = recommend_energy_and_cone(M, 8.95, 2.69, per_cone, depth_margin_mm=0.2)
    assert (cone.choice_id, energy.choice_id) == ("cone-20mm", "100kV")
    # 3.45 mm: no cone reaches 3.95 mm; the smallest covering cone is named, and its energies do not reach
    # the lesion at all (3.07 mm at 100 kV), so no energy
    cone, energy = recommend_energy_and_cone(M, 8.95, 3.45, per_cone)
    assert cone.choice_id == "cone-20mm" and energy.choice_id is None and "no energy suffices" in energy.reason
    # 3.0 mm: no cone reaches 3.5 mm but Ø 25 (3.56 mm) — a wider cone meeting the margin wins over 100 kV at
    # Ø 20 mm covering the lesion (3.07 ≥ 3.0 mm) with the margin missed by 0.43 mm
    cone, energy = recommend_energy_and_cone(M, 8.95, 3.0, per_cone)
    assert (cone.choice_id, energy.choice_id, energy.margin_missed_mm) == ("cone-25mm", "100kV", None)
    # a 1 mm margin no cone meets (4.0 mm): the smallest covering cone and the energy that covers the lesion
    # itself, 100 kV (3.07 ≥ 3.0 mm), missing the margin by 4.0 − 3.07 = 0.93 mm
    cone, energy = recommend_energy_and_cone(M, 8.95, 3.0, per_cone, depth_margin_mm=1.0)
    assert (cone.choice_id, energy.choice_id) == ("cone-20mm", "100kV")
    assert energy.margin_missed_mm == pytest.approx(0.93, abs=0.005)


def test_cone_recommendation_cases():
    r = recommend_cone(M, 8.95)                      # demo lesion width (physics: 8.95 + 2 × 5 = 18.95 mm)
    assert r.choice_id == "cone-20mm" and "18.95 mm" in r.reason
    assert recommend_cone(M, 5.0).choice_id == "cone-15mm"
    assert recommend_cone(M, 8.95, lateral_margin_mm=10.0).choice_id == "cone-30mm"
    none = recommend_cone(M, 45.0)
    assert none.choice_id is None and "no cone suffices" in none.reason and none.achieved_mm == 50.0
    with pytest.raises(ValueError):
        recommend_cone(M, float("nan"))
