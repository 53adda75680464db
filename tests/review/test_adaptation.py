"""Adaptation findings of a course's imaging session against the plan (issue 17, point 3, the findings).

Every expected depth is a hand interpolation written here of a depth-dose table given here, never a
number from the code under test. Where the tables come from:
- eBx (Esteya, 69.5 kV): the one published depth-dose figure the plugin cites, "depth-dose gradient about
  7 %/mm" (Garcia-Martinez 2014, plugins/ebx_surface/machine_data.py), read as PDD(z) = 100 − 7·z % of the
  surface dose for every applicator.
- superficial kV: no published kV depth-dose table is retrievable (shared/reference/physics-data.md: SRT-100
  PDDs and the BJR-25 kV tables NOT FOUND), so the tables below stand in for a clinic's measured PDDs (the
  engine's measured-data path replaces the Monte Carlo the same way); they are the outside source here.
"""

from dataclasses import replace
from datetime import date

import pytest

from planner.core.course_imaging import ImagingSession, SessionTime
from planner.core.outline import LesionOutline
from planner.core.plan import Plan, TreatmentSetup
from planner.core.prescription import Prescription, PrescriptionPoint
from planner.core.skin_surface import SkinSurface
from planner.review.adaptation import NOT_JUDGED, REPLAN, SMALLER_OPTION, adaptation_findings
from planner.techniques.registry import TechniqueRegistry
from plugins.ebx_surface import ElectronicBrachytherapySurface
from plugins.ebx_surface.dose_engine import EbxDoseEngine
from plugins.ebx_surface.machine_data import ESTEYA_UNIT, XOFT_UNIT
from plugins.superficial_kv import SuperficialKV
from plugins.superficial_kv.dose_engine import SuperficialDoseEngine
from tests.dose.kv_fixtures import synthetic_beam

FLAT_SKIN = SkinSurface(((-20.0, 1.0), (20.0, 1.0)))     # skin 1.0 mm below the transducer everywhere
SCALE = "Sequence of Ultrasound Regions, region 1 (2-D tissue, cm)"

# % of the surface dose (= % of Dmax for these beams) at 0, 1, 2, … mm; the same for every cone.
KV_PDD = {
    "50kV": (100.0, 88.0, 77.0, 67.0, 59.0, 52.0, 46.0, 41.0, 36.0, 32.0, 28.0),
    "70kV": (100.0, 93.0, 86.0, 80.0, 74.0, 69.0, 64.0, 59.0, 55.0, 51.0, 47.0),
    "100kV": (100.0, 95.0, 90.5, 86.0, 82.0, 78.0, 74.0, 70.0, 66.5, 63.0, 60.0),
}
# The 90 % isodose by hand, linear between the table's points:
KV_90_50 = 0 + (100.0 - 90.0) / (100.0 - 88.0) * 1.0        # 0.8333 mm
KV_90_70 = 1 + (93.0 - 90.0) / (93.0 - 86.0) * 1.0          # 1.4286 mm
KV_90_100 = 2 + (90.5 - 90.0) / (90.5 - 86.0) * 1.0         # 2.1111 mm
KV_MARGIN_MM = 0.5   # the kV recommendation's depth margin (planner.dose.recommendation, physics-data §5)

EBX_GRADIENT_PERCENT_PER_MM = 7.0                          # Garcia-Martinez 2014
EBX_80 = (100.0 - 80.0) / EBX_GRADIENT_PERCENT_PER_MM      # 2.857 mm


def tabulated(beam, values, step_mm=1.0):
    depths = [step_mm * k for k in range(len(values))]
    return replace(beam, pdd=tuple(zip(depths, values)), pdd_uncertainty=tuple((z, 0.0) for z in depths))


def kv_source(energy, cone, ssd_cm):
    return tabulated(synthetic_beam(0.05, cone.diameter_mm, ssd_cm, energy.kvp, energy.hvl_mm_al), KV_PDD[energy.id])


def ebx_source(machine, applicator, ssd_cm):
    values = tuple(100.0 - EBX_GRADIENT_PERCENT_PER_MM * z for z in range(11))   # to 10 mm: 30 %
    return tabulated(synthetic_beam(0.05, applicator.diameter_mm, ssd_cm, machine.energies[0].kvp, 1.85), values)


@pytest.fixture(scope="module")
def registry():
    return TechniqueRegistry((SuperficialKV(dose_engine=SuperficialDoseEngine(beam_source=kv_source)),
                              ElectronicBrachytherapySurface(
                                  dose_engine=EbxDoseEngine((ESTEYA_UNIT, XOFT_UNIT), beam_source=ebx_source))))


def kv_plan():
    """70 kV, Ø 20 mm cone, 7 Gy × 5 to the 90 % isodose."""
    return Plan("Left cheek BCC", "Doe^Jane", "P-1", "/images/us.dcm",
                TreatmentSetup("superficial-kv", "srt100-class", "70kV", "cone-20mm"), Prescription(7.0, 5))


def ebx_plan():
    """Esteya 69.5 kV, Ø 30 mm applicator, 7 Gy × 6 to the 80 % isodose."""
    return Plan("Nose BCC", "Doe^Jane", "P-1", "/images/us.dcm",
                TreatmentSetup("ebx-surface", ESTEYA_UNIT.id, "69.5kV", "applicator-30mm"),
                Prescription(7.0, 6, PrescriptionPoint.isodose(80.0)))


def session(depth_mm, width_mm, when="after:3", on=date(2026, 11, 20), scale=SCALE):
    """A rectangular lesion from the skin line down to ``depth_mm``, ``width_mm`` wide."""
    outline = LesionOutline(((-width_mm / 2, 1.0), (width_mm / 2, 1.0), (width_mm / 2, 1.0 + depth_mm),
                             (-width_mm / 2, 1.0 + depth_mm)))
    return ImagingSession(SessionTime.parse(when), on, f"/images/{when}.dcm", scale, "P-1", "Doe^Jane",
                          outline if scale else None, FLAT_SKIN if scale else None)


def only(kind, plan, registry, one_session):
    """The one finding of ``one_session`` against ``plan``, which must be of ``kind``."""
    (finding,) = adaptation_findings(plan, registry, one_session)
    assert finding.kind == kind, finding.message
    return finding


# ------------------------------------------------------------------------------------- re-plan

@pytest.mark.parametrize("plan, lesion, isodose_mm, message", [
    (kv_plan(), session(2.0, 8.0), KV_90_70,
     "lesion 2.00 mm deep (after fraction 3, 2026-11-20) but the 90 % isodose (90 % of Dmax) of the plan "
     "(70 kV, Ø 20 mm) reaches 1.43 mm: re-plan"),
    (ebx_plan(), session(3.5, 16.0, "before:4", date(2026, 12, 1)), EBX_80,
     "lesion 3.50 mm deep (before fraction 4, 2026-12-01) but the 80 % isodose (80 % of Dmax) of the plan "
     "(69.5 kV, Ø 30 mm) reaches 2.86 mm: re-plan"),
], ids=["kV 90 % isodose", "eBx 80 % isodose"])
def test_a_lesion_deeper_than_the_prescription_isodose_asks_for_a_re_plan_with_both_depths(registry, plan, lesion,
                                                                                          isodose_mm, message):
    finding = only(REPLAN, plan, registry, lesion)
    assert finding.isodose_depth_mm == pytest.approx(isodose_mm, abs=1e-9)
    assert finding.lesion_depth_mm == pytest.approx(float(message.split()[1]))   # the box's depth, 2.00 / 3.50 mm
    assert finding.message == message


# ------------------------------------------------------------------------------------- superficial kV

def test_kv_a_shrunk_lesion_names_the_lower_energy_that_covers_it_with_the_margin(registry):
    # 0.3 mm + 0.5 mm margin = 0.8 mm ≤ the 50 kV 90 % depth 0.833 mm; cone: 8 + 2 × 5 mm = 18 mm → Ø 20 mm
    finding = only(SMALLER_OPTION, kv_plan(), registry, session(0.3, 8.0))
    assert (finding.option_energy_id, finding.option_applicator_id) == ("50kV", "cone-20mm")
    assert finding.option_isodose_depth_mm == pytest.approx(KV_90_50, abs=1e-9)
    assert finding.isodose_depth_mm == pytest.approx(KV_90_70, abs=1e-9)
    assert finding.message == (
        "lesion 0.30 mm deep (after fraction 3, 2026-11-20): 50 kV, Ø 20 mm would cover it with margin, its 90 % "
        "isodose (90 % of Dmax) reaching 0.83 mm (≥ 0.80 mm, the lesion's depth and the recommendation's margin); "
        "the plan (70 kV, Ø 20 mm) reaches 1.43 mm")


@pytest.mark.parametrize("energy_id, option_energy_id", [("70kV", "50kV"), ("50kV", "50kV")])
def test_kv_a_narrower_lesion_names_the_smaller_cone_with_the_energy_that_covers_it(registry, energy_id,
                                                                                   option_energy_id):
    # planned with the Ø 30 mm cone; the lesion, 8 + 2 × 5 mm = 18 mm, needs Ø 20 mm; 0.3 + 0.5 mm ≤ 0.833 mm at 50 kV
    plan = kv_plan().with_setup(energy_id=energy_id, applicator_id="cone-30mm")
    finding = only(SMALLER_OPTION, plan, registry, session(0.3, 8.0))
    assert (finding.option_energy_id, finding.option_applicator_id) == (option_energy_id, "cone-20mm")
    assert finding.option_isodose_depth_mm == pytest.approx(KV_90_50, abs=1e-9)


@pytest.mark.parametrize("depth_mm", [1.0, KV_90_70])
def test_kv_a_lesion_the_plan_covers_and_no_lower_energy_covers_with_margin_gives_no_finding(registry, depth_mm):
    # 50 kV reaches 0.833 mm < depth + 0.5 mm; 70 kV reaches 1.429 mm ≥ depth
    assert KV_90_50 < depth_mm + KV_MARGIN_MM and depth_mm <= KV_90_70 < KV_90_100
    assert adaptation_findings(kv_plan(), registry, session(depth_mm, 8.0)) == ()


def test_kv_the_prescription_isodose_of_a_plan_prescribed_at_depth_is_its_depth(registry):
    # 7 Gy at 1.2 mm: the prescription isodose is PDD(1.2 mm) = 93 − 0.2 × 7 = 91.6 % of Dmax, reaching 1.2 mm
    plan = replace(kv_plan(), prescription=Prescription(7.0, 5, PrescriptionPoint.at_depth(1.2)))
    finding = only(REPLAN, plan, registry, session(1.5, 8.0))
    assert finding.prescription_isodose_percent == pytest.approx(93.0 - 0.2 * 7.0)
    assert finding.isodose_depth_mm == pytest.approx(1.2)
    assert "the 91.6 % isodose (91.6 % of Dmax) of the plan (70 kV, Ø 20 mm) reaches 1.20 mm" in finding.message


# ------------------------------------------------------------------------------------- eBx

def test_ebx_a_shrunk_lesion_names_the_smaller_applicator_that_still_covers_its_depth(registry):
    # one beam quality on the unit: the smaller applicator is the option. 6 + 2 × 5 mm = 16 mm → Ø 20 mm
    # (Ø 15 mm is too small); its 80 % isodose, same published gradient, reaches 2.857 mm ≥ 2.0 mm (no eBx margin)
    finding = only(SMALLER_OPTION, ebx_plan(), registry, session(2.0, 6.0))
    assert (finding.option_energy_id, finding.option_applicator_id) == ("69.5kV", "applicator-20mm")
    assert finding.option_isodose_depth_mm == pytest.approx(EBX_80, abs=1e-9)
    assert "69.5 kV, Ø 20 mm would cover it" in finding.message


def test_ebx_a_lesion_inside_the_isodose_and_as_wide_as_planned_gives_no_finding(registry):
    # 16 + 2 × 5 mm = 26 mm → Ø 30 mm, the plan's own; 2.5 mm < 2.857 mm
    assert adaptation_findings(ebx_plan(), registry, session(2.5, 16.0)) == ()


def test_ebx_a_narrower_lesion_deeper_than_the_isodose_is_a_re_plan_not_a_smaller_applicator(registry):
    # narrow but at 3 mm > 2.857 mm: the plan itself no longer covers it
    assert only(REPLAN, ebx_plan(), registry, session(3.0, 6.0)).isodose_depth_mm == pytest.approx(EBX_80, abs=1e-9)


# ------------------------------------------------------------------------------------- not judged

def test_a_session_without_a_measure_cannot_be_judged_and_says_why(registry):
    finding = only(NOT_JUDGED, kv_plan(), registry, session(2.0, 8.0, "after:2", date(2026, 11, 13), scale=None))
    assert finding.message == ("after fraction 2, 2026-11-13: the lesion cannot be judged against the plan: "
                               "not measurable until calibrated")
