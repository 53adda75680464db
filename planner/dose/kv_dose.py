"""Absolute dose and treatment time of a kV surface beam: the TG-61 in-air method.

Surface dose rate in water (Ma C-M et al., AAPM TG-61, Med Phys 28(6):868–893, 2001, eq. for the
in-air method; physics-data §2.1):

    Ḋ_w,z=0 = K̇_air · B_w · [(μen/ρ)_w/air]_air

K̇_air = air-kerma rate free in air at the cone end (the commissioned M·N_K·P_stem,air per minute,
planner.dose.commissioning); B_w = water backscatter factor of this cone, SSD and beam (Monte Carlo
or measured); [(μen/ρ)_w/air]_air = TG-61 Table IV at the beam's first HVL (planner.dose.tg61).

Prescription point and normalisation N (percent of the surface dose, which for these beams is Dmax,
the central-axis maximum: planner.dose.coverage gives "X %" its one meaning):
  * "surface":  N = 100, at depth 0;
  * "depth":    N = PDD(z_rx) at the stated depth z_rx;
  * "isodose":  the prescribed dose is the X % isodose (default 90 %): N = X, at the depth where the
    central-axis PDD falls to X. Whether the lesion's deepest point lies inside that isodose is a
    separate statement (planner.dose.coverage.Coverage), never folded into the prescription.
Surface dose per fraction D_s = D_rx · 100 / N; dose at the prescription point D_s·N/100 (= D_rx).

Treatment time per fraction (the timer setting, min):

    t_set = D_rx / (Ḋ_w,z=0 · N/100) + ε

ε = timer end effect, sign convention: the dose delivered for a set time is Ḋ·(t_set − ε), i.e. ε is
the time-axis intercept of reading versus set time (multiple-exposure / linear-fit method for timer
error of time-controlled units, e.g. Khan FM, The Physics of Radiation Therapy, timer-error section —
cited from memory, verify the edition); ε > 0 when the unit under-delivers (tube ramp-up), so time is
ADDED. The form t = D_Rx/(Ḋ_surface·PDD(d)/100) plus the end effect is physics-data §2.1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from planner.core.prescription import Prescription, PrescriptionPoint
from planner.dose.commissioning import ConeCommissioning
from planner.dose.dose_plane import DoseCalculationError
from planner.dose.tg61 import CITATION as TG61_CITATION
from planner.dose.tg61 import tg61_mu_en_ratio_water_air


TIME_FORMULA = ("t_set = D_rx / (K_air_rate · B_w · [(μen/ρ)w/air]air · N/100) + ε  "
                "(TG-61 in-air method; ε = timer end effect, dose delivered = Ḋ·(t_set − ε))")


def pdd_percent_at(pdd: tuple[tuple[float, float], ...], depth_mm: float) -> float:
    """PDD (% of surface dose) at ``depth_mm`` by linear interpolation; refuses outside the table."""
    z = np.array([p[0] for p in pdd], dtype=float)
    v = np.array([p[1] for p in pdd], dtype=float)
    if not (math.isfinite(depth_mm) and z[0] - 1e-9 <= depth_mm <= z[-1] + 1e-9):
        raise DoseCalculationError(f"depth {depth_mm:g} mm is outside the PDD data ({z[0]:g}–{z[-1]:g} mm)")
    return float(np.interp(depth_mm, z, v))


def isodose_depth_mm(pdd: tuple[tuple[float, float], ...], percent: float) -> float | None:
    """Depth (mm) where the central-axis PDD first falls to ``percent``; None if it never does in the table."""
    z = np.array([p[0] for p in pdd], dtype=float)
    v = np.array([p[1] for p in pdd], dtype=float)
    below = np.nonzero(v < percent)[0]
    if below.size == 0:
        return None
    k = int(below[0])
    if k == 0:
        return 0.0
    z0, z1, v0, v1 = z[k - 1], z[k], v[k - 1], v[k]
    return float(z0 + (v0 - percent) * (z1 - z0) / (v0 - v1))


def surface_dose_rate_gy_per_min(air_kerma_rate_gy_per_min: float, backscatter_factor: float,
                                 hvl_mm_al: float) -> tuple[float, float]:
    """(Ḋ_w,z=0 in Gy/min, [(μen/ρ)w/air]air used) by the TG-61 in-air method."""
    for name, v in (("air-kerma rate", air_kerma_rate_gy_per_min), ("backscatter factor", backscatter_factor),
                    ("HVL", hvl_mm_al)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise DoseCalculationError(f"{name} must be a positive finite number, got {v!r}")
    ratio = tg61_mu_en_ratio_water_air(hvl_mm_al, "mm Al")
    return air_kerma_rate_gy_per_min * backscatter_factor * ratio, ratio


def treatment_time_min(dose_gy: float, surface_dose_rate: float, normalisation_percent: float,
                       end_effect_min: float) -> float:
    """t_set = dose / (Ḋ_surface · N/100) + ε (min). Refuses a non-positive result."""
    if not (math.isfinite(dose_gy) and dose_gy > 0):
        raise DoseCalculationError(f"dose must be above 0 Gy, got {dose_gy!r}")
    if not (math.isfinite(surface_dose_rate) and surface_dose_rate > 0):
        raise DoseCalculationError(f"surface dose rate must be above 0 Gy/min, got {surface_dose_rate!r}")
    if not (math.isfinite(normalisation_percent) and normalisation_percent > 0):
        raise DoseCalculationError(f"the prescription point receives {normalisation_percent!r} % of the surface "
                                   f"dose; no time can deliver a dose there")
    t = dose_gy / (surface_dose_rate * normalisation_percent / 100.0) + end_effect_min
    if t <= 0:
        raise DoseCalculationError(f"treatment time {t:g} min is not positive (end effect {end_effect_min:g} min "
                                   f"exceeds the beam-on time)")
    return t


@dataclass(frozen=True)
class AbsoluteDose:
    """Per-fraction numbers of one plan. Doses in Gy, rates in Gy/min, times in min, depths in mm."""

    prescription_point: PrescriptionPoint
    prescribed_dose_gy: float                 # per fraction, as ordered
    normalisation_percent: float              # N: % of surface dose at which the prescription applies
    surface_dose_gy: float                    # per fraction, central axis
    prescription_depth_mm: float              # on the axis: 0 (surface), the stated depth, or the X % isodose's depth
    dose_at_prescription_depth_gy: float      # what that depth receives: D_s·PDD(depth)/100
    surface_dose_rate_gy_per_min: float | None
    mu_en_ratio_water_air: float | None
    backscatter_factor: float
    backscatter_uncertainty: float
    air_kerma_rate_gy_per_min: float | None
    timer_end_effect_min: float | None
    treatment_time_min: float | None          # timer setting per fraction, end effect included
    treatment_time_unavailable_reason: str | None
    formula: str = TIME_FORMULA


def prescription_normalisation(point: PrescriptionPoint, pdd: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    """(N in % of the surface dose, depth in mm on the axis) at which the prescription applies (module doc)."""
    if point.mode == "surface":
        n, z = 100.0, 0.0
    elif point.mode == "depth":
        z = float(point.depth_mm)
        n = pdd_percent_at(pdd, z)
    else:
        n = float(point.isodose_percent)
        z = isodose_depth_mm(pdd, n)
        if z is None:
            raise DoseCalculationError(f"the {n:g} % isodose is not reached within the beam data "
                                       f"(0–{pdd[-1][0]:g} mm): prescribe at a depth instead")
    if not n > 0:
        raise DoseCalculationError(f"the prescription point at {z:g} mm receives {n:g} % of the surface dose; "
                                   f"no surface dose can deliver the prescription there")
    return n, z


def absolute_dose(prescription: Prescription, point: PrescriptionPoint, pdd: tuple[tuple[float, float], ...],
                  *, hvl_mm_al: float, backscatter_factor: float, backscatter_uncertainty: float = float("nan"),
                  commissioning: ConeCommissioning | None,
                  surface_dose_rate_override: tuple[float, str] | None = None) -> AbsoluteDose:
    """Surface dose, dose at the prescription depth and treatment time of one fraction.

    ``surface_dose_rate_override`` = (Ḋ_surface Gy/min, reason) replaces K̇_air·B_w·ratio, e.g. when
    measured output factors scale a reference cone's surface dose rate.
    """
    d_rx = prescription.dose_per_fraction_gy
    n, z = prescription_normalisation(point, pdd)
    d_surface = d_rx * 100.0 / n
    d_at_z = d_surface * pdd_percent_at(pdd, z) / 100.0

    rate = ratio = kair = eps = time = None
    reason = None
    if commissioning is None:
        reason = "no commissioning data for this energy and cone"
    else:
        kair = commissioning.air_kerma_rate_gy_per_min.value
        eps = commissioning.timer_end_effect_min.value
        if surface_dose_rate_override is not None:
            rate = surface_dose_rate_override[0]
        elif kair is None:
            reason = "air-kerma rate (output) not commissioned for this energy and cone"
        else:
            rate, ratio = surface_dose_rate_gy_per_min(kair, backscatter_factor, hvl_mm_al)
        if reason is None and eps is None:
            reason = "timer end effect not commissioned for this energy and cone"
        if reason is None:
            time = treatment_time_min(d_rx, rate, n, eps)
    return AbsoluteDose(point, d_rx, n, d_surface, z, d_at_z, rate, ratio, backscatter_factor,
                        backscatter_uncertainty, kair, eps, time, reason)


def describe_output_model(dose: AbsoluteDose) -> str:
    return (f"TG-61 in-air method ({TG61_CITATION}); B_w = {dose.backscatter_factor:.4f} ± "
            f"{dose.backscatter_uncertainty:.4f} (k=1)"
            + ("" if dose.mu_en_ratio_water_air is None else f", [(μen/ρ)w/air]air = {dose.mu_en_ratio_water_air:.4f}"))
