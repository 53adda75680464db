"""The eBx dose engine: dwell time from the commissioned reference dose rate, checks, dose plane.

Beam data here are synthetic (tests/dose/kv_fixtures.py: PDD = 100·exp(−μz)) so every number has
a closed form; the Monte Carlo path is exercised by tests/ui/test_ebx_in_window.py.
"""

import json
import math
from dataclasses import replace

import pytest

from planner.core.prescription import Prescription, PrescriptionPoint
from planner.dose.commissioning import CommissioningError
from planner.dose.grid_axes import dose_grid_axes
from planner.dose.result import DWELL_TIME
from planner.imaging.planning_image import calibrated_image
from planner.techniques.new_plan import default_prescription, default_setup, open_demo_case
from planner.techniques.registry import discover_techniques
from plugins.ebx_surface.applicator_dose import applicator_dose
from plugins.ebx_surface.commissioning import (demo_commissioning_path, load_applicator_commissioning,
                                               load_demo_commissioning)
from plugins.ebx_surface.dose_engine import EbxDoseEngine
from plugins.ebx_surface.machine_data import ESTEYA_UNIT, XOFT_UNIT
from tests.dose.kv_fixtures import synthetic_beam

MU_PER_MM = 0.05   # 5 %/mm, about what the applicator model gives at 69.5 kV


def beam_source(machine, applicator, ssd_cm):
    return synthetic_beam(MU_PER_MM, applicator.diameter_mm, ssd_cm, machine.energies[0].kvp, 1.85)


@pytest.fixture(scope="module")
def demo():
    registry = discover_techniques()
    planning_image, plan = open_demo_case(registry)
    technique = registry.get("ebx-surface")
    plan = replace(plan, setup=default_setup(technique), prescription=default_prescription(technique))
    plan = plan.with_setup(applicator_id="applicator-20mm")
    axes = dose_grid_axes(calibrated_image(planning_image.image, plan))
    return technique, plan, axes


def engine():
    return EbxDoseEngine((ESTEYA_UNIT, XOFT_UNIT), beam_source=beam_source)


def esteya():
    return load_demo_commissioning(ESTEYA_UNIT)


def test_dwell_time_at_the_reference_depth_is_the_prescription_over_the_commissioned_rate(demo):
    technique, plan, axes = demo
    result = engine().compute(plan, axes, esteya())
    entry = esteya().entry("69.5kV", "applicator-20mm")
    assert result.time_name == DWELL_TIME
    assert result.treatment_time_min == pytest.approx(5.0 / entry.reference_dose_rate_gy_per_min.value, rel=1e-12)
    assert result.dose_at_prescription_depth_gy == pytest.approx(5.0)
    assert result.surface_dose_gy == pytest.approx(5.0 / math.exp(-MU_PER_MM * 3.0), rel=1e-3)
    assert result.ssd_cm == entry.ssd_cm.value
    assert not result.refused and "demo-commissioning" in {f.code for f in result.findings}


def test_dwell_time_at_another_depth_follows_the_pdd_between_the_two_depths():
    entry = esteya().entry("69.5kV", "applicator-20mm")          # 3.3 Gy/min at 3 mm
    pdd = synthetic_beam(MU_PER_MM).pdd
    dose = applicator_dose(Prescription(7.0, 6), PrescriptionPoint.at_depth(5.0), pdd, entry)
    # Ḋ(5 mm) = Ḋ(3 mm) · PDD(5)/PDD(3) = 3.3 · exp(−0.05·2); t = 7 Gy / Ḋ(5 mm).
    assert dose.treatment_time_min == pytest.approx(7.0 / (3.3 * math.exp(-MU_PER_MM * 2.0)), rel=1e-3)
    assert dose.surface_dose_rate_gy_per_min == pytest.approx(3.3 / math.exp(-MU_PER_MM * 3.0), rel=1e-3)
    surface = applicator_dose(Prescription(7.0, 6), PrescriptionPoint.surface(), pdd, entry)
    assert surface.treatment_time_min == pytest.approx(7.0 / surface.surface_dose_rate_gy_per_min)


def test_the_end_effect_is_added_to_the_dwell_time():
    entry = esteya().entry("69.5kV", "applicator-10mm")
    entry = replace(entry, timer_end_effect_min=replace(entry.timer_end_effect_min, value=0.01))
    dose = applicator_dose(Prescription(5.0, 8), PrescriptionPoint.at_depth(3.0), synthetic_beam(MU_PER_MM).pdd, entry)
    assert dose.treatment_time_min == pytest.approx(5.0 / 3.3 + 0.01)


def test_an_uncommissioned_output_shows_the_dose_but_gives_no_dwell_time(demo):
    technique, plan, axes = demo
    plan = plan.with_setup(machine_id="xoft-class", energy_id="50kV", applicator_id="surface-20mm")
    result = engine().compute(plan, axes, load_demo_commissioning(XOFT_UNIT))
    assert result.dose_grid_gy is not None and result.dose_at_prescription_depth_gy == pytest.approx(5.0)
    assert result.treatment_time_min is None and "not commissioned" in result.treatment_time_reason
    codes = {f.code for f in result.findings}
    assert {"output-not-commissioned", "hvl-stand-in"} <= codes and result.refused


def test_refusals_say_why(demo):
    technique, plan, axes = demo
    e = engine()
    assert "not-commissioned" in {f.code for f in e.compute(plan, axes, None).findings}
    narrow = e.compute(plan.with_setup(applicator_id="applicator-10mm"), axes, esteya())   # lesion 8.95 mm
    margin = [f for f in narrow.findings if f.code == "cone-margin"]
    assert margin and "Ø 10 mm applicator is smaller than the lesion width 8.95 mm" in margin[0].message
    other = e.compute(plan.with_setup(machine_id="no-such-unit"), axes, esteya())
    assert other.refused and other.dose_grid_gy is None
    deep = e.compute(plan.with_prescription(plan.prescription.with_point(PrescriptionPoint.at_depth(6.0))), axes,
                     esteya())
    assert "depth-beyond-published" in {f.code for f in deep.findings}


def test_a_lesion_wider_than_the_treatable_diameter_is_flagged(demo):
    technique, plan, axes = demo          # demo lesion 8.95 mm wide; the 10 mm 50 kV applicator treats 5 mm
    plan = plan.with_setup(machine_id="xoft-class", energy_id="50kV", applicator_id="surface-10mm")
    result = engine().compute(plan, axes, load_demo_commissioning(XOFT_UNIT))
    assert "applicator-treatable-diameter" in {f.code for f in result.findings}


def test_the_applicator_recommendation_covers_the_lesion_and_margin(demo):
    technique, plan, axes = demo
    energy, applicator, note = engine().recommend(plan, esteya(), lateral_margin_mm=5.0)
    assert energy is None and "one beam quality" in note
    assert applicator.choice_id == "applicator-20mm"      # 8.95 + 2 × 5 = 18.95 mm


def test_commissioning_files_are_checked_field_by_field(tmp_path):
    data = json.loads(demo_commissioning_path(ESTEYA_UNIT).read_text(encoding="utf-8"))
    data["entries"][1]["reference_dose_rate_gy_per_min"]["value"] = -3.3
    bad = tmp_path / "esteya.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CommissioningError, match=r"entries\[1\].*reference_dose_rate_gy_per_min must be above 0"):
        load_applicator_commissioning(bad, ESTEYA_UNIT)
    data["entries"][1]["reference_dose_rate_gy_per_min"]["value"] = 3.0
    data["entries"][1]["air_kerma_rate_gy_per_min"] = {"value": 1.0, "source": "a kV quantity"}
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CommissioningError, match="unknown field.*air_kerma_rate_gy_per_min"):
        load_applicator_commissioning(bad, ESTEYA_UNIT)
    with pytest.raises(CommissioningError, match="not 'xoft-class'"):
        load_applicator_commissioning(demo_commissioning_path(ESTEYA_UNIT), XOFT_UNIT)


def test_both_demo_files_are_marked_demo_and_every_value_has_a_source():
    for machine in (ESTEYA_UNIT, XOFT_UNIT):
        c = load_demo_commissioning(machine)
        assert c.is_demo and len(c.entries) == len(machine.applicators)
        for entry in c.entries:
            for name, value in c.schema.rows(entry):
                assert value.source.strip(), (machine.id, entry.applicator_id, name)
                if value.value is not None:
                    assert value.source.startswith("ILLUSTRATIVE DEMO VALUE"), (entry.applicator_id, name)
