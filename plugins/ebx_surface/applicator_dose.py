"""Absolute dose and dwell time of one eBx fraction, from the applicator's commissioned dose rate.

eBx units are calibrated as a dose rate to water on the central axis at a reference depth with
the applicator in place (plugins/ebx_surface/commissioning.py), so the kV path through an air-kerma
rate, B_w and [(μen/ρ)w/air]air (TG-61 in-air) does not apply. With the applicator's PDD (% of the
surface dose, Planner's Monte Carlo or measured):

    Ḋ_surface = Ḋ_ref · 100 / PDD(z_ref)
    t_dwell   = D_rx / (Ḋ_surface · N/100) + ε

N is the percentage of the surface dose at the prescription point (planner.dose.kv_dose.
prescription_normalisation: 100 at the surface, PDD(z) at a stated depth, X for the X % isodose,
percent of Dmax = the surface dose); ε the timer end effect (delivered dose = Ḋ·(t_set − ε)). When
z_rx = z_ref and N = PDD(z_rx), t = D_rx/Ḋ_ref + ε exactly, whatever the PDD: the commissioned
number is used as measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.core.prescription import Prescription, PrescriptionPoint
from planner.dose.dose_plane import DoseCalculationError
from planner.dose.kv_dose import pdd_percent_at, prescription_normalisation, treatment_time_min
from plugins.ebx_surface.commissioning import ApplicatorCommissioning

DWELL_TIME_FORMULA = ("t_dwell = D_rx / (Ḋ_ref · 100/PDD(z_ref) · N/100) + ε  (Ḋ_ref = commissioned dose rate to "
                      "water at z_ref on the axis; ε = timer end effect, dose delivered = Ḋ·(t − ε))")


@dataclass(frozen=True)
class ApplicatorDose:
    """Per-fraction numbers of one eBx plan. Doses Gy, rates Gy/min, times min, depths mm."""

    prescription_point: PrescriptionPoint
    prescribed_dose_gy: float
    normalisation_percent: float
    surface_dose_gy: float
    prescription_depth_mm: float
    dose_at_prescription_depth_gy: float
    reference_dose_rate_gy_per_min: float | None
    reference_depth_mm: float | None
    surface_dose_rate_gy_per_min: float | None
    timer_end_effect_min: float | None
    treatment_time_min: float | None          # the dwell time per fraction, end effect included
    treatment_time_unavailable_reason: str | None
    formula: str = DWELL_TIME_FORMULA


def applicator_dose(prescription: Prescription, point: PrescriptionPoint, pdd: tuple[tuple[float, float], ...],
                    commissioning: ApplicatorCommissioning) -> ApplicatorDose:
    """Surface dose, dose at the prescription depth and dwell time of one fraction (module doc)."""
    d_rx = prescription.dose_per_fraction_gy
    n, z = prescription_normalisation(point, pdd)
    d_surface = d_rx * 100.0 / n
    d_at_z = d_surface * pdd_percent_at(pdd, z) / 100.0

    rate_ref = commissioning.reference_dose_rate_gy_per_min.value
    z_ref = commissioning.reference_depth_mm.value
    eps = commissioning.timer_end_effect_min.value
    missing = [name for name, v in (("reference dose rate", rate_ref), ("reference depth", z_ref),
                                    ("timer end effect", eps)) if v is None]
    if missing:
        return ApplicatorDose(point, d_rx, n, d_surface, z, d_at_z, rate_ref, z_ref, None, eps, None,
                              f"{' and '.join(missing)} not commissioned for this applicator")
    pdd_ref = pdd_percent_at(pdd, z_ref)
    if not (math.isfinite(pdd_ref) and pdd_ref > 0):
        raise DoseCalculationError(f"the PDD at the reference depth {z_ref:g} mm is {pdd_ref:g} %: the "
                                   f"commissioned dose rate cannot be related to the surface")
    surface_rate = rate_ref * 100.0 / pdd_ref
    time = treatment_time_min(d_rx, surface_rate, n, eps)
    return ApplicatorDose(point, d_rx, n, d_surface, z, d_at_z, rate_ref, z_ref, surface_rate, eps, time, None)
