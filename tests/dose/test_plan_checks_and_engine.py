"""Every refusal and warning path, and the engine end to end on the demo case (fixture beam data)."""

import json

import numpy as np
import pytest

from planner.core.prescription import Prescription
from planner.dose.commissioning import commissioning_from_dict, demo_commissioning_path, load_demo_commissioning
from planner.dose.dose_plane import image_axes
from planner.dose.kv_dose import AbsoluteDose, PrescriptionPoint
from planner.dose.plan_checks import (Finding, SafetyLimits, check_commissioning, check_cone, check_doses,
                                      check_energy, check_prescription_depth)
from planner.techniques import discover_techniques
from planner.techniques.new_plan import open_demo_case
from plugins.superficial_kv.dose_engine import SuperficialDoseEngine, beam_data_report
from plugins.superficial_kv.machine_data import SUPERFICIAL_UNIT as M
from tests.dose.kv_fixtures import fixture_source, synthetic_beam

PDD = synthetic_beam(mu_per_mm=0.1).pdd


def codes(findings):
    return {(f.severity, f.code) for f in findings}


def test_energy_and_cone_checks():
    assert codes(check_energy(M, "80kV")) == {("refuse", "unknown-energy")}
    assert check_energy(M, "50kV") == []
    assert codes(check_cone(M, "cone-12mm", 5.0)) == {("refuse", "unknown-cone")}
    assert codes(check_cone(M, "cone-15mm", 16.0)) == {("refuse", "cone-smaller-than-lesion")}
    assert codes(check_cone(M, "cone-15mm", 8.95)) == {("warn", "cone-margin")}
    assert check_cone(M, "cone-20mm", 8.95) == []
    assert check_cone(M, "cone-15mm", None) == []


def test_commissioning_checks():
    demo = load_demo_commissioning(M)
    assert codes(check_commissioning(None, None)) == {("refuse", "not-commissioned")}
    assert codes(check_commissioning(demo.entry("50kV", "cone-15mm"), demo)) == {("warn", "demo-commissioning")}
    d = json.loads(demo_commissioning_path().read_text(encoding="utf-8"))
    d["demo"] = False
    for name in ("ssd_cm", "air_kerma_rate_gy_per_min", "timer_end_effect_min"):
        d["entries"][0][name]["value"] = None
    c = commissioning_from_dict(d, M)
    assert codes(check_commissioning(c.entry("50kV", "cone-15mm"), c)) == {
        ("refuse", "ssd-not-commissioned"), ("refuse", "output-not-commissioned"),
        ("refuse", "end-effect-not-commissioned")}


def test_depth_and_coverage_checks():
    assert check_prescription_depth(PDD, 5.0) == []                                  # 60.7 %
    f = check_prescription_depth(PDD, 8.0)                                           # 44.9 % < 50 %
    assert codes(f) == {("refuse", "depth-not-useful")} and "44.9 %" in f[0].message
    assert codes(check_prescription_depth(PDD, 35.0)) == {("refuse", "depth-outside-data")}
    assert check_prescription_depth(PDD, 8.0, SafetyLimits(min_useful_pdd_percent=40)) == []


def absolute(**kw):
    base = dict(prescription_point=PrescriptionPoint.surface(), prescribed_dose_gy=5.0, normalisation_percent=100.0,
                surface_dose_gy=5.0, prescription_depth_mm=0.0, dose_at_prescription_depth_gy=5.0,
                surface_dose_rate_gy_per_min=2.0, mu_en_ratio_water_air=1.03, backscatter_factor=1.06,
                backscatter_uncertainty=0.001, air_kerma_rate_gy_per_min=1.8, timer_end_effect_min=0.0,
                treatment_time_min=2.5, treatment_time_unavailable_reason=None)
    base.update(kw)
    return AbsoluteDose(**base)


def test_dose_checks():
    assert check_doses(absolute()) == []
    assert ("refuse", "non-positive-dose") in codes(check_doses(absolute(prescribed_dose_gy=0.0)))
    assert ("refuse", "non-positive-dose") in codes(check_doses(absolute(dose_at_prescription_depth_gy=-1.0)))
    f = check_doses(absolute(surface_dose_gy=25.0))
    assert codes(f) == {("refuse", "dose-above-limit")} and "22.5 Gy" in f[0].message
    assert check_doses(absolute(surface_dose_gy=25.0), SafetyLimits(max_surface_dose_per_fraction_gy=30)) == []
    assert codes(check_doses(absolute(treatment_time_min=-1.0))) == {("refuse", "bad-time")}
    with pytest.raises(ValueError):
        SafetyLimits(max_surface_dose_per_fraction_gy=0)
    with pytest.raises(ValueError):
        SafetyLimits(lateral_margin_mm=float("nan"))
    with pytest.raises(ValueError):
        Finding("error", "x")


@pytest.fixture(scope="module")
def demo():
    """The demo lesion at 50 kV with the Ø 15 mm cone (the refusals below are for this beam)."""
    planning_image, plan = open_demo_case(discover_techniques())
    plan = plan.with_setup(energy_id="50kV", applicator_id="cone-15mm")
    image = planning_image.image
    return plan, image_axes(image.calibration, image.rows, image.cols)


def engine():
    return SuperficialDoseEngine(beam_source=fixture_source)


def test_engine_on_the_demo_plan(demo):
    plan, axes = demo
    eng = engine()
    com = load_demo_commissioning(M)
    plan = plan.with_setup(energy_id="100kV", applicator_id="cone-20mm").with_prescription(Prescription(18.0, 1))
    r = eng.compute(plan, axes, com)
    assert not r.refused and r.dose_grid_gy.shape == (480, 640)
    assert codes(r.findings) == {("warn", "demo-commissioning")}
    assert r.surface_dose_gy == pytest.approx(20.0)                    # 18 Gy to the 90 % isodose
    # the 90 % isodose lies where 100·exp(−0.03 z) = 90 (fixture μ of 100 kV): z = −ln 0.9 / 0.03 = 3.512 mm
    assert r.prescription_depth_mm == pytest.approx(-np.log(0.9) / 0.03, rel=1e-3)
    assert r.dose_at_prescription_depth_gy == pytest.approx(18.0, rel=1e-3)
    assert r.prescription_isodose_percent == 90.0 and r.dmax_gy == pytest.approx(20.0)
    entry = com.entry("100kV", "cone-20mm")
    rate = entry.air_kerma_rate_gy_per_min.value * 1.06 * 1.0186      # fixture B_w; Table IV at 2.20 mm Al
    assert r.surface_dose_rate_gy_per_min == pytest.approx(rate, rel=1e-3)
    assert r.treatment_time_min == pytest.approx(20.0 / rate + 0.0006, rel=1e-3)
    assert r.cone_axis_x_mm == pytest.approx(plan.outline.lateral_centre_mm)
    assert "demo commissioning" in r.model_description and "TG-61 in-air" in r.model_description
    depth = r.metrics.deepest_point_depth_mm
    assert r.metrics.lesion_d98_gy > 0 and r.coverage.deepest_point_depth_mm == depth
    # the deepest point lies inside the flat field: 100·exp(−0.03·depth) % of Dmax, inside the 90 % isodose
    assert r.coverage.deepest_point_percent_of_dmax == pytest.approx(100 * np.exp(-0.03 * depth), rel=1e-3)
    assert r.coverage.covered
    e, c, _ = eng.recommend(plan, com)
    assert c.choice_id == "cone-20mm" and e.choice_id == "100kV"        # fixture 100 kV reaches 3.5 mm


def test_engine_refusals(demo):
    plan, axes = demo
    eng = engine()
    r = eng.compute(plan, axes, None)
    assert r.refused and r.dose_grid_gy is None and r.treatment_time_min is None
    assert "not commissioned" in r.treatment_time_reason
    r = eng.compute(plan.with_setup(energy_id="80kV"), axes, load_demo_commissioning(M))
    assert ("refuse", "unknown-energy") in codes(r.findings) and r.dose_grid_gy is None
    r = eng.compute(plan.with_skin_surface(None), axes, load_demo_commissioning(M))
    assert ("refuse", "no-skin") in codes(r.findings)
    r = eng.compute(plan.with_outline(None).with_cone_axis(None), axes, load_demo_commissioning(M))
    assert ("refuse", "no-outline") in codes(r.findings)
    doubtful = plan.skin_surface.__class__(plan.skin_surface.points_mm, ("burned-in text crosses the skin line",))
    r = eng.compute(plan.with_skin_surface(doubtful), axes, load_demo_commissioning(M))
    assert ("refuse", "skin-not-confirmed") in codes(r.findings) and r.dose_grid_gy is None
    assert "burned-in text crosses the skin line" in r.findings[-1].message
    r = eng.compute(plan.with_skin_surface(doubtful.confirm()), axes, load_demo_commissioning(M))
    assert not r.refused
    above = plan.outline.__class__(tuple((x, y - 5.0) for x, y in plan.outline.vertices_mm))
    r = eng.compute(plan.with_outline(above), axes, load_demo_commissioning(M))
    assert ("refuse", "lesion-above-skin") in codes(r.findings) and r.dose_grid_gy is None
    # 50 kV, prescription at 8 mm depth: 44.9 % of the surface dose → refused, no time, but a dose grid to look at
    r = eng.compute(plan.with_prescription(Prescription(2.0, 1)), axes, load_demo_commissioning(M),
                    prescription_point=PrescriptionPoint.at_depth(8.0))
    assert ("refuse", "depth-not-useful") in codes(r.findings)
    assert r.treatment_time_min is None and r.treatment_time_reason.startswith("refused")
    assert r.dose_grid_gy is not None
    # 22.5 Gy to the 90 % isodose = 25 Gy at the surface > 22.5 Gy limit
    r = eng.compute(plan.with_prescription(Prescription(22.5, 1)), axes, load_demo_commissioning(M))
    assert ("refuse", "dose-above-limit") in codes(r.findings) and r.treatment_time_min is None


def test_engine_uses_measured_data(demo, tmp_path):
    plan, axes = demo
    eng = SuperficialDoseEngine(beam_source=lambda *a: pytest.fail("computed data requested"))
    (tmp_path / "pdd.csv").write_text("depth_mm,percent\n0,100\n1,90\n2,80\n5,55\n30,5\n")
    (tmp_path / "prof.csv").write_text("depth_mm,off_axis_mm,percent_of_central_axis\n0,0,100\n0,7,100\n0,8,0\n"
                                       "0,20,0\n")
    (tmp_path / "bw.csv").write_text("backscatter_factor,uncertainty\n1.05,0.005\n")
    for kind, name in (("pdd", "pdd.csv"), ("profiles", "prof.csv"), ("backscatter", "bw.csv")):
        eng.load_measured(kind, tmp_path / name, "50kV", "cone-15mm", 15.0)
    r = eng.compute(plan, axes, load_demo_commissioning(M), prescription_point=PrescriptionPoint.surface())
    assert r.absolute.backscatter_factor == 1.05
    assert all(v.startswith("measured: ") for v in r.data_sources.values())
    assert "measured beam data" in r.model_description and "pdd.csv" in r.model_description
    c = int(np.argmin(np.abs(axes[0] - r.cone_axis_x_mm)))
    # first pixel below the skin: measured PDD is linear 100 → 90 % over the first mm
    col = r.dose_grid_gy[:, c]
    k = int(np.argmax(col > 0))
    d = axes[1][k] - plan.skin_surface.depth_at(axes[0][c])
    assert col[k] == pytest.approx(r.surface_dose_gy * (1 - 0.1 * d), rel=1e-4)


def test_output_factors_scale_the_reference_cone(demo, tmp_path):
    plan, axes = demo
    eng = engine()
    com = load_demo_commissioning(M)
    (tmp_path / "of.csv").write_text("cone_mm,output_factor\n15,1.000\n20,1.020\n")
    eng.load_output_factors(tmp_path / "of.csv", "50kV", 15.0)
    p = plan.with_setup(applicator_id="cone-20mm")
    r = eng.compute(p, axes, com, prescription_point=PrescriptionPoint.surface())
    ref_rate = com.entry("50kV", "cone-15mm").air_kerma_rate_gy_per_min.value * 1.06 * 1.0276
    assert r.surface_dose_rate_gy_per_min == pytest.approx(ref_rate * 1.020, rel=1e-3)
    r = eng.compute(plan.with_setup(applicator_id="cone-30mm"), axes, com)
    assert ("warn", "no-output-factor") in codes(r.findings)


def test_beam_data_report_small_run(tmp_path):
    rep = beam_data_report(50, 0.52, 15, 15, n_photons=5_000, cache_folder=tmp_path)
    assert rep["pdd"][0] == [0.0, pytest.approx(100.0)] and len(rep["pdd"]) == 61
    assert 1.0 < rep["backscatter_factor"] < 1.15 and rep["backscatter_uncertainty"] > 0
    assert rep["mu_en_ratio_water_air"] == pytest.approx(1.0276, abs=1e-3)
    assert rep["tg61_backscatter_factor"] is not None
    assert {"pdd", "profiles", "backscatter_factor", "mu_en_ratio_water_air"} <= set(rep["provenance"])
    with pytest.raises(ValueError, match="SSD"):
        beam_data_report(50, 0.52, 15, 0)
