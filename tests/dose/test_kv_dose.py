"""TG-61 in-air absolute dose and treatment time against hand calculations."""

import math

import pytest

from planner.core.prescription import Prescription
from planner.dose.commissioning import CommissionedValue, ConeCommissioning
from planner.core.prescription import PrescriptionError
from planner.dose.kv_dose import (DoseCalculationError, PrescriptionPoint, absolute_dose, isodose_depth_mm,
                                  pdd_percent_at, surface_dose_rate_gy_per_min, treatment_time_min)
from planner.dose.tg61 import tg61_mu_en_ratio_water_air
from tests.dose.kv_fixtures import synthetic_beam


def entry(rate=1.6, eps=0.0006, ssd=15.0):
    return ConeCommissioning("50kV", "cone-15mm", CommissionedValue(ssd, "cm", "test"),
                             CommissionedValue(rate, "Gy/min", "test"), CommissionedValue(eps, "min", "test"),
                             CommissionedValue(None, "mm Al", "test"))


@pytest.mark.parametrize("hvl, expected", [(0.52, 1.0276), (1.15, 1.0185), (2.20, 1.0186)])
def test_table_iv_at_srt100_hvls(hvl, expected):
    # physics-data §2.4 (DERIVED, linear interpolation of TG-61 Table IV), tolerance ±0.001 as stated there
    assert tg61_mu_en_ratio_water_air(hvl) == pytest.approx(expected, abs=0.001)


def test_treatment_time_matches_hand_calculation_at_depth():
    beam = synthetic_beam(mu_per_mm=0.1, backscatter=1.0609)
    # Hand calculation, 5 Gy at 2.0 mm, 50 kV (HVL 0.52 mm Al):
    #   Table IV: 1.028 − 0.2 × (1.028 − 1.026) = 1.0276
    #   Ḋ_surface = 1.6 Gy/min × 1.0609 × 1.0276 = 1.744267... Gy/min (1.6 × 1.0609 = 1.69744; × 1.0276)
    #   PDD(2.0 mm) = 100·e^(−0.2) = 81.8730753 %
    #   t = 5 / (1.7442893 × 0.818730753) + 0.0006 = 3.50115 + 0.0006 min
    rate_hand = 1.69744 * 1.0276
    t_hand = 5.0 / (rate_hand * 0.818730753) + 0.0006
    d = absolute_dose(Prescription(5.0, 1), PrescriptionPoint.at_depth(2.0), beam.pdd, hvl_mm_al=0.52,
                      backscatter_factor=1.0609, commissioning=entry())
    assert d.surface_dose_rate_gy_per_min == pytest.approx(rate_hand, rel=1e-3)
    assert d.treatment_time_min == pytest.approx(t_hand, rel=1e-3)
    assert d.treatment_time_min == pytest.approx(3.50175, rel=1e-3)
    assert d.surface_dose_gy == pytest.approx(5.0 / 0.818730753, rel=1e-6)
    assert d.dose_at_prescription_depth_gy == pytest.approx(5.0, rel=1e-9)


def test_surface_and_isodose_prescriptions():
    beam = synthetic_beam(mu_per_mm=0.1)
    s = absolute_dose(Prescription(4.0, 5), PrescriptionPoint.surface(), beam.pdd, hvl_mm_al=0.52,
                      backscatter_factor=1.06, commissioning=entry(rate=2.0, eps=0.0))
    assert s.surface_dose_gy == 4.0 and s.prescription_depth_mm == 0.0
    assert s.treatment_time_min == pytest.approx(4.0 / (2.0 * 1.06 * 1.0276), rel=1e-4)
    iso = absolute_dose(Prescription(18.0, 1), PrescriptionPoint.isodose(), beam.pdd, hvl_mm_al=0.52,
                        backscatter_factor=1.06, commissioning=entry(eps=0.0))
    assert iso.normalisation_percent == 90.0
    assert iso.surface_dose_gy == pytest.approx(20.0)                        # Dmax = 18 Gy / 0.90
    # 100·e^(−0.1 z) = 90 at z = 1.0536 mm; linear between the 0.5 mm table points puts it 0.1 % deeper
    assert iso.prescription_depth_mm == pytest.approx(-math.log(0.9) / 0.1, rel=2e-3)
    assert iso.dose_at_prescription_depth_gy == pytest.approx(18.0, rel=1e-3)
    assert iso.treatment_time_min == pytest.approx(20.0 / (1.6 * 1.06 * 1.0276), rel=1e-4)


def test_end_effect_sign_convention():
    beam = synthetic_beam()
    base = dict(hvl_mm_al=0.52, backscatter_factor=1.06)
    t0 = absolute_dose(Prescription(2, 1), PrescriptionPoint.surface(), beam.pdd, commissioning=entry(eps=0.0), **base)
    tp = absolute_dose(Prescription(2, 1), PrescriptionPoint.surface(), beam.pdd, commissioning=entry(eps=0.01), **base)
    tn = absolute_dose(Prescription(2, 1), PrescriptionPoint.surface(), beam.pdd, commissioning=entry(eps=-0.01), **base)
    assert tp.treatment_time_min - t0.treatment_time_min == pytest.approx(0.01)   # ε > 0 (under-delivery) adds time
    assert tn.treatment_time_min - t0.treatment_time_min == pytest.approx(-0.01)
    with pytest.raises(DoseCalculationError, match="not positive"):
        treatment_time_min(0.01, 10.0, 100.0, -1.0)


def test_missing_output_gives_reason_not_a_number():
    beam = synthetic_beam()
    d = absolute_dose(Prescription(2, 1), PrescriptionPoint.surface(), beam.pdd, hvl_mm_al=0.52,
                      backscatter_factor=1.06, commissioning=entry(rate=None))
    assert d.treatment_time_min is None and "not commissioned" in d.treatment_time_unavailable_reason
    assert d.surface_dose_gy == 2.0
    d = absolute_dose(Prescription(2, 1), PrescriptionPoint.surface(), beam.pdd, hvl_mm_al=0.52,
                      backscatter_factor=1.06, commissioning=entry(eps=None))
    assert d.treatment_time_min is None and "end effect" in d.treatment_time_unavailable_reason
    d = absolute_dose(Prescription(2, 1), PrescriptionPoint.surface(), beam.pdd, hvl_mm_al=0.52,
                      backscatter_factor=1.06, commissioning=None)
    assert d.treatment_time_min is None and "no commissioning" in d.treatment_time_unavailable_reason


def test_refusals():
    beam = synthetic_beam()
    with pytest.raises(DoseCalculationError, match="outside the PDD data"):
        pdd_percent_at(beam.pdd, 31.0)
    with pytest.raises(DoseCalculationError, match="1 % isodose is not reached within the beam data"):
        absolute_dose(Prescription(2, 1), PrescriptionPoint.isodose(1.0), beam.pdd, hvl_mm_al=0.52,
                      backscatter_factor=1.06, commissioning=None)
    for bad in (dict(mode="depth", depth_mm=-1), dict(mode="depth", depth_mm=math.nan),
                dict(mode="isodose", isodose_percent=0), dict(mode="isodose", isodose_percent=120), dict(mode="x")):
        with pytest.raises(PrescriptionError):
            PrescriptionPoint(**bad)
    with pytest.raises(DoseCalculationError, match="air-kerma rate"):
        surface_dose_rate_gy_per_min(0.0, 1.05, 0.52)
    with pytest.raises(ValueError, match="outside the TG-61 table range"):
        surface_dose_rate_gy_per_min(1.0, 1.05, 20.0)
    with pytest.raises(DoseCalculationError, match="receives 0"):
        treatment_time_min(1.0, 1.0, 0.0, 0.0)


def test_isodose_depth_linear_between_pdd_points():
    beam = synthetic_beam(mu_per_mm=0.1)
    # 90 % lies between 1.0 mm (90.4837 %) and 1.5 mm (86.0708 %): 1.0 + 0.4837/4.4129 × 0.5 = 1.05481 mm
    assert isodose_depth_mm(beam.pdd, 90.0) == pytest.approx(1.05481, abs=1e-4)
    assert isodose_depth_mm(beam.pdd, 1.0) is None
