"""The physicist's independent second check of the treatment time and the dose at the prescription point.

Why: a second calculation catches a wrong time only if it cannot share the plan's mistakes, so this
module shares nothing with the plan's dose engine beyond the beam data (the PDD table and B_w) and
the commissioning numbers. It never imports planner.dose.kv_dose, dose_plane, image_dose, metrics,
result or any plugin (tests/review/test_second_check.py parses the imports and fails otherwise);
the interpolation, the lesion's depth and the hand formulas below are written out here anew.

Hand formulas (doses Gy, rates Gy/min, times min, depths mm; N = % of the surface dose at the
prescription point: 100 at the surface, PDD(z) at a stated depth, X for the X % isodose, which lies
at the depth where the PDD falls to X (percent of Dmax, the surface dose); ε = timer end effect, delivered dose = Ḋ·(t_set − ε)):

* kV cone, TG-61 in-air method (Ma C-M et al., Med Phys 28(6):868–893, 2001):
      Ḋ_surface = K̇_air · B_w · [(μen/ρ)w/air]air      (Table IV, linear in the first HVL)
* eBx applicator, commissioned dose rate Ḋ_ref to water at z_ref on the axis:
      Ḋ_surface = Ḋ_ref · 100 / PDD(z_ref)
* both:  t = D_rx / (Ḋ_surface · N/100) + ε

Dose at the prescription point: what the PLAN's timer setting delivers there by this check,
D = Ḋ_surface · (t_plan − ε) · PDD(z)/100, compared with the dose the plan states.

Lesion deepest point (used by the consistency findings): the maximum over the outline's VERTICES of
y − skin(x), the skin linear between its points and constant outside them.

Difference in percent: (plan − check)/check · 100. The verdict takes the larger magnitude of the
time and dose differences against the clinic's action levels (defaults 2 % review, 5 % stop).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.core.errors import PlannerError
from planner.dose.tg61 import TABLE4_HVL_MM_AL, TABLE4_RATIO_AL
from planner.dose.tg61 import CITATION as TG61_CITATION

AGREE = "agree"
REVIEW = "review"
STOP = "stop"


class SecondCheckError(PlannerError, ValueError):
    """The check cannot be made (no time in the plan, commissioning incomplete); the message says what is missing."""


@dataclass(frozen=True)
class ActionLevels:
    """A clinic's action levels for the second check's difference, in percent of the check's value."""

    review_percent: float = 2.0
    stop_percent: float = 5.0

    def __post_init__(self) -> None:
        for name in ("review_percent", "stop_percent"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"action level {name} must be a finite number of %, got {v!r}")
        if not 0 < self.review_percent < self.stop_percent <= 50:
            raise ValueError(f"action levels must satisfy 0 < review < stop ≤ 50 %, got review "
                             f"{self.review_percent:g} %, stop {self.stop_percent:g} %")

    def verdict(self, difference_percent: float) -> str:
        size = abs(difference_percent)
        return STOP if size > self.stop_percent else REVIEW if size > self.review_percent else AGREE


@dataclass(frozen=True)
class SecondCheck:
    """One second check. Times min, doses Gy per fraction, depths mm, differences (plan − check)/check %."""

    method: str
    time_name: str                           # "treatment time" (kV timer) or "dwell time" (eBx)
    check_time_min: float
    plan_time_min: float
    time_difference_percent: float
    prescription_point: str                  # as ordered, e.g. "at 3 mm depth"
    prescription_depth_mm: float             # where this check puts the prescription point
    check_dose_gy: float                     # what the plan's time delivers there, by this check
    plan_dose_gy: float | None               # what the plan states there
    dose_difference_percent: float | None
    surface_dose_rate_gy_per_min: float
    verdict: str                             # "agree" | "review" | "stop"
    message: str
    formula: str                             # the formulas with this plan's numbers
    data_sources: tuple[tuple[str, str], ...]
    action_levels: ActionLevels

    @property
    def difference_percent(self) -> float:
        """The difference the verdict rests on: time or dose, whichever is larger in magnitude."""
        dt, dd = self.time_difference_percent, self.dose_difference_percent
        return dt if dd is None or abs(dt) >= abs(dd) else dd

    def as_dict(self) -> dict:
        """Plain JSON values, for ``planner review --json``."""
        return {"verdict": self.verdict, "message": self.message, "method": self.method,
                "time_difference_percent": self.time_difference_percent,
                "dose_difference_percent": self.dose_difference_percent, "formula": self.formula}


# ------------------------------------------------------------------------------------------- formulas

def linear(xs, ys, x: float, what: str) -> float:
    """ys at x, linear between tabulated points (xs increasing); refuses outside the table."""
    if not (math.isfinite(x) and xs[0] - 1e-9 <= x <= xs[-1] + 1e-9):
        raise SecondCheckError(f"{what} {x:g} is outside the tabulated {xs[0]:g}–{xs[-1]:g}")
    for k in range(1, len(xs)):
        if x <= xs[k]:
            x0, x1, y0, y1 = xs[k - 1], xs[k], ys[k - 1], ys[k]
            return float(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
    return float(ys[-1])


def pdd_percent(pdd, depth_mm: float) -> float:
    """PDD (% of the surface dose) at depth_mm from the beam data's (depth mm, %) table."""
    return linear([p[0] for p in pdd], [p[1] for p in pdd], depth_mm, "depth (mm)")


def isodose_depth_mm(pdd, percent: float) -> float | None:
    """Depth where the central-axis PDD first falls below ``percent``, linear; None if it never does."""
    for k, (z, v) in enumerate(pdd):
        if v < percent:
            if k == 0:
                return 0.0
            z0, v0 = pdd[k - 1]
            return float(z0 + (v0 - percent) * (z - z0) / (v0 - v))
    return None


def mu_en_ratio_water_air(hvl_mm_al: float) -> float:
    """[(μen/ρ)w/air]air from TG-61 Table IV (the data in planner.dose.tg61), linear in the first HVL."""
    return linear(TABLE4_HVL_MM_AL, TABLE4_RATIO_AL, hvl_mm_al, "HVL (mm Al)")


def skin_depth_mm(skin_points, x_mm: float) -> float:
    """The skin line's depth at x: linear between its points, constant beyond its ends."""
    xs, ys = [p[0] for p in skin_points], [p[1] for p in skin_points]
    return linear(xs, ys, min(max(x_mm, xs[0]), xs[-1]), "lateral position (mm)")


def lesion_deepest_depth_mm(outline, skin) -> float:
    """Max over the outline's vertices of y − skin(x) (mm below the skin; module doc)."""
    points = sorted(skin.points_mm)
    return max(y - skin_depth_mm(points, x) for x, y in outline.vertices_mm)


# ------------------------------------------------------------------------------------------- the check

def _value(entry, name: str, what: str) -> float:
    v = getattr(getattr(entry, name, None), "value", None)
    if v is None:
        raise SecondCheckError(f"{what} is not commissioned for {entry.energy_id} / {entry.applicator_id}: "
                               f"no independent time can be calculated")
    return float(v)


def _normalisation(plan, pdd) -> tuple[float, float, str]:
    """(N %, depth mm, how) of the plan's prescription point."""
    point = plan.prescription.point
    if point.mode == "surface":
        return 100.0, 0.0, "N = 100 % (surface)"
    if point.mode == "depth":
        z = float(point.depth_mm)
        n = pdd_percent(pdd, z)
        return n, z, f"N = PDD({z:g} mm) = {n:.3f} %"
    n = float(point.isodose_percent)
    z = isodose_depth_mm(pdd, n)
    if z is None:
        raise SecondCheckError(f"the {n:g} % isodose is not reached within the PDD table")
    return n, z, f"N = {n:g} % of Dmax (the {n:g} % isodose, {z:.3f} mm deep on the axis)"


def _surface_rate(entry, beam_data, pdd) -> tuple[float, str, str, tuple[tuple[str, str], ...]]:
    """(Ḋ_surface Gy/min, method, formula line, data sources) from the commissioning entry's kind."""
    if hasattr(entry, "air_kerma_rate_gy_per_min"):
        kair = _value(entry, "air_kerma_rate_gy_per_min", "the air-kerma rate (output)")
        bw = float(beam_data.backscatter_factor)
        hvl = float(beam_data.hvl_mm_al)
        if not (math.isfinite(bw) and bw > 0):
            raise SecondCheckError(f"the beam data's backscatter factor {bw!r} is not a positive number")
        ratio = mu_en_ratio_water_air(hvl)
        rate = kair * bw * ratio
        line = (f"Ḋ_surface = K̇_air · B_w · [(μen/ρ)w/air]air = {kair:g} Gy/min × {bw:.4f} × {ratio:.4f} "
                f"= {rate:.4f} Gy/min (TG-61 in-air method, Table IV at HVL {hvl:g} mm Al)")
        sources = (("air-kerma rate", entry.air_kerma_rate_gy_per_min.source),
                   ("backscatter factor B_w", _provenance(beam_data, "backscatter_factor")),
                   ("[(μen/ρ)w/air]air", f"TG-61 Table IV ({TG61_CITATION}), linear in HVL"))
        return rate, "TG-61 in-air hand formula (kV cone)", line, sources
    if hasattr(entry, "reference_dose_rate_gy_per_min"):
        d_ref = _value(entry, "reference_dose_rate_gy_per_min", "the reference dose rate")
        z_ref = _value(entry, "reference_depth_mm", "the reference depth")
        p_ref = pdd_percent(pdd, z_ref)
        if not p_ref > 0:
            raise SecondCheckError(f"the PDD at the reference depth {z_ref:g} mm is {p_ref:g} %")
        rate = d_ref * 100.0 / p_ref
        line = (f"Ḋ_surface = Ḋ_ref · 100/PDD(z_ref) = {d_ref:g} Gy/min × 100/{p_ref:.3f} = {rate:.4f} Gy/min "
                f"(z_ref = {z_ref:g} mm)")
        sources = (("reference dose rate", entry.reference_dose_rate_gy_per_min.source),
                   ("reference depth", entry.reference_depth_mm.source))
        return rate, "commissioned reference dose rate hand formula (eBx applicator)", line, sources
    raise SecondCheckError(f"no hand formula for a commissioning entry of type {type(entry).__name__}")


def _provenance(beam_data, key: str) -> str:
    return str(getattr(beam_data, "provenance", {}).get(key, "beam data (no provenance recorded)"))


def _percent(plan_value: float, check_value: float) -> float:
    return (plan_value - check_value) / check_value * 100.0


def second_check(plan, dose_result, beam_data, commissioning_entry, *,
                 action_levels: ActionLevels = ActionLevels()) -> SecondCheck:
    """Independent time and dose at the prescription point of ``plan`` versus ``dose_result`` (module doc).

    ``beam_data``: the beam data the plan used (pdd, backscatter_factor, hvl_mm_al, ssd_cm);
    ``commissioning_entry``: the machine's entry for the plan's energy and applicator.
    """
    time_name = getattr(dose_result, "time_name", "treatment time")
    plan_time = getattr(dose_result, "treatment_time_min", None)
    if plan_time is None:
        why = getattr(dose_result, "treatment_time_reason", None) or "not computed"
        raise SecondCheckError(f"the plan has no {time_name} to check ({why})")
    if not (math.isfinite(plan_time) and plan_time > 0):
        raise SecondCheckError(f"the plan's {time_name} {plan_time!r} min is not a positive number")
    if commissioning_entry is None:
        raise SecondCheckError("no commissioning entry for the plan's energy and applicator")
    setup = plan.setup
    if (commissioning_entry.energy_id, commissioning_entry.applicator_id) != (setup.energy_id, setup.applicator_id):
        raise SecondCheckError(f"the commissioning entry is for {commissioning_entry.energy_id} / "
                               f"{commissioning_entry.applicator_id}, the plan uses {setup.energy_id} / "
                               f"{setup.applicator_id}")
    ssd = _value(commissioning_entry, "ssd_cm", "the SSD")
    if abs(float(beam_data.ssd_cm) - ssd) > 1e-6:
        raise SecondCheckError(f"the beam data are for SSD {beam_data.ssd_cm:g} cm, the commissioned SSD is {ssd:g} cm")
    eps = _value(commissioning_entry, "timer_end_effect_min", "the timer end effect")
    pdd = tuple((float(z), float(p)) for z, p in beam_data.pdd)
    if len(pdd) < 2:
        raise SecondCheckError("the beam data have no PDD table")

    rate, method, rate_line, sources = _surface_rate(commissioning_entry, beam_data, pdd)
    n, z, n_line = _normalisation(plan, pdd)
    d_rx = plan.prescription.dose_per_fraction_gy
    t_check = d_rx / (rate * n / 100.0) + eps
    if not t_check > 0:
        raise SecondCheckError(f"the independent {time_name} {t_check:g} min is not positive")
    p_z = pdd_percent(pdd, z)
    d_check = rate * (plan_time - eps) * p_z / 100.0
    d_plan = getattr(dose_result, "dose_at_prescription_depth_gy", None)

    dt = _percent(plan_time, t_check)
    dd = None if d_plan is None else _percent(d_plan, d_check)
    worst = dt if dd is None or abs(dt) >= abs(dd) else dd
    verdict = action_levels.verdict(worst)
    formula = "; ".join((
        rate_line, n_line,
        f"t = D_rx/(Ḋ_surface·N/100) + ε = {d_rx:g} Gy / ({rate:.4f} Gy/min × {n:.3f}/100) + {eps:g} min "
        f"= {t_check:.4f} min",
        f"D(z) = Ḋ_surface·(t_plan − ε)·PDD(z)/100 = {rate:.4f} × ({plan_time:.4f} − {eps:g}) "
        f"× {p_z:.3f}/100 = {d_check:.4f} Gy at z = {z:.3f} mm"))
    dose_text = ("the plan states no dose there" if dd is None else
                 f"dose at the prescription point {d_plan:.3f} Gy (plan) vs {d_check:.3f} Gy (check), {dd:+.2f} %")
    levels = f"action levels {action_levels.review_percent:g} % review, {action_levels.stop_percent:g} % stop"
    message = (f"second check {verdict.upper()}: {time_name} {plan_time:.4f} min (plan) vs {t_check:.4f} min "
               f"(independent), {dt:+.2f} %; {dose_text}; {levels}")
    sources = (("method", method), ("PDD", _provenance(beam_data, "pdd")), *sources,
               ("SSD", commissioning_entry.ssd_cm.source),
               ("timer end effect", commissioning_entry.timer_end_effect_min.source))
    return SecondCheck(method, time_name, t_check, float(plan_time), dt, plan.prescription.point.describe(), z,
                       d_check, d_plan, dd, rate, verdict, message, formula, sources, action_levels)
