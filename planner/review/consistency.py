"""The physicist's consistency checks of a plan: each a ReviewFinding naming its numbers.

Why: the second check verifies the arithmetic; these verify that what was calculated is what a
physicist would accept — the regimen is a published one, the beam reaches the lesion's base, the
field covers it, the biology is within the published range, the machine is commissioned and the
dates make sense. Each check yields one finding ("ok" included, so the review lists what it
checked). Severities: "ok", "review" (a physicist looks again and may accept), "stop" (not to be
approved as it stands).

Rules (all depths below the skin, mm; the lesion's deepest point is second_check's vertex maximum):
* regimen: d × n equal to a published preset of the technique → ok, else "custom regimen" → review;
  a dose computed for another prescription, or a course started from another one → stop.
* energy versus depth: the covering depth z_cov is where the prescription's dose lies on the axis —
  the stated depth (depth prescription), the depth of the X % isodose (isodose prescription), the
  90 % isodose depth (surface prescription; the "90 % of the surface dose" convention). Shortfall
  s = z_lesion − z_cov: s ≤ 0 ok; 0 < s ≤ 0.5 mm review; s > 0.5 mm stop. 0.5 mm is the depth
  margin of planner.dose.recommendation: more than twice the mean ultrasound under-estimate of
  tumour thickness (0.14–0.21 mm, physics-data §5) plus the probe's ~0.1 mm axial resolution.
* field versus width: the applicator's footprint (axis ± diameter/2) must cover the lesion's lateral
  extent → else stop; less than 5 mm to spare on a side → review (mean microscopic extension of
  NMSC 5.2 mm, Choo, physics-data §4.3).
* BED10 = n·d·(1 + d/(α/β)), α/β = 10 Gy, within the range spanned by the technique's presets →
  ok, outside → review.
* commissioning: SSD, output (air-kerma rate, or reference dose rate and depth) and end effect
  present → ok, any missing → stop; a DEMO file → review ("not for clinical use").
* dates: a fraction dated after today, or a plan date after today → stop; a fraction before the
  plan date → review; gaps and too-short intervals of the course → review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from planner.review.second_check import isodose_depth_mm, lesion_deepest_depth_mm, pdd_percent
from planner.techniques.interface import Technique

OK = "ok"
REVIEW = "review"
STOP = "stop"
SEVERITIES = (OK, REVIEW, STOP)

ALPHA_BETA_TUMOUR_GY = 10.0
DEPTH_TOLERANCE_MM = 0.5
LATERAL_MARGIN_MM = 5.0
COVERING_ISODOSE_PERCENT = 90.0


@dataclass(frozen=True)
class ReviewFinding:
    severity: str      # "ok" | "review" | "stop"
    code: str          # stable identifier, e.g. "energy-depth"
    message: str

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}")


def worst(findings) -> str:
    """The most severe of the findings' severities ("ok" when there are none)."""
    return max((f.severity for f in findings), key=SEVERITIES.index, default=OK)


def bed_gy(dose_per_fraction_gy: float, fractions: int, alpha_beta_gy: float = ALPHA_BETA_TUMOUR_GY) -> float:
    """Linear-quadratic BED without time factor: n·d·(1 + d/(α/β))."""
    return fractions * dose_per_fraction_gy * (1.0 + dose_per_fraction_gy / alpha_beta_gy)


def consistency_checks(plan, dose_result, technique, commissioning, *, today: date | None = None,
                       plan_date: date | None = None, beam_data=None,
                       depth_tolerance_mm: float = DEPTH_TOLERANCE_MM,
                       lateral_margin_mm: float = LATERAL_MARGIN_MM) -> tuple[ReviewFinding, ...]:
    """Every consistency finding of ``plan`` (module doc for the rules).

    ``dose_result`` may be None (the dose-related parts are then skipped and said so);
    ``beam_data`` defaults to the technique's beam data for the plan's energy, applicator and SSD;
    ``plan_date``: when the plan was made or signed, if known.
    """
    today = date.today() if today is None else today
    machine, energy, applicator, problems = _setup(plan, technique)
    entry = None if commissioning is None or energy is None or applicator is None else \
        commissioning.entry(energy.id, applicator.id)
    findings = [*_regimen(plan, dose_result, technique), *problems,
                _commissioning(commissioning, entry, machine, energy, applicator)]
    if applicator is not None:
        findings.append(_field(plan, dose_result, applicator, lateral_margin_mm))
    if beam_data is None:
        beam_data = _beam_data(technique, energy, applicator, entry)
    findings.append(_energy_depth(plan, beam_data, energy, depth_tolerance_mm))
    findings.append(_bed(plan, technique))
    findings += _dates(plan, today, plan_date)
    return tuple(findings)


# ------------------------------------------------------------------------------------------- checks

def _setup(plan, technique):
    """(machine, energy, applicator, findings): the plan's choices as the technique offers them."""
    s = plan.setup
    if technique.id != s.technique_id:
        return None, None, None, [ReviewFinding(STOP, "technique", f"the plan is for {s.technique_id!r}, "
                                                                   f"the technique given is {technique.id!r}")]
    try:
        machine = technique.machine(s.machine_id)
        return machine, machine.energy(s.energy_id), machine.applicator(s.applicator_id), []
    except KeyError as err:
        return None, None, None, [ReviewFinding(STOP, "technique", f"not offered by {technique.name}: {err}")]


def _regimen(plan, dose_result, technique) -> list[ReviewFinding]:
    rx = plan.prescription
    d, n = rx.dose_per_fraction_gy, rx.fractions
    out = []
    match = next((p for p in technique.fractionation_presets
                  if abs(p.dose_per_fraction_gy - d) < 1e-6 and p.fractions == n), None)
    if match is None:
        out.append(ReviewFinding(REVIEW, "regimen", f"custom regimen: {d * n:g} Gy in {n} × {d:g} Gy is none of "
                                                    f"the published regimens of {technique.name}"))
    else:
        out.append(ReviewFinding(OK, "regimen", f"{d * n:g} Gy in {n} × {d:g} Gy = {d:g} Gy × {n}: the published "
                                                f"regimen {match.label} ({match.source})"))
    if dose_result is not None:
        if abs(dose_result.prescribed_dose_gy - d) > 1e-9 or dose_result.prescription_point != rx.point:
            out.append(ReviewFinding(STOP, "dose-prescription",
                                     f"the dose was computed for {dose_result.prescribed_dose_gy:g} Gy "
                                     f"{dose_result.prescription_point.describe()}, the plan prescribes {d:g} Gy "
                                     f"{rx.point.describe()}: recalculate"))
    course = plan.course
    if course is not None:   # the plan gives the course's current phase: a re-plan's revision its remaining fractions
        phase = course.current_phase
        which = "the course" if len(course.phases) == 1 else \
            f"the course's current phase (fractions {phase.first_fraction}–{phase.last_fraction})"
        if phase.fractions != n or abs(phase.dose_per_fraction_gy - d) > 1e-9:
            out.append(ReviewFinding(STOP, "course-prescription",
                                     f"{which} was planned for {phase.fractions} × {phase.dose_per_fraction_gy:g} "
                                     f"Gy, the plan prescribes {n} × {d:g} Gy"))
        t = None if dose_result is None else dose_result.treatment_time_min
        if t is not None and abs(phase.planned_time_s - 60.0 * t) > 0.05:
            out.append(ReviewFinding(REVIEW, "course-time",
                                     f"{which}'s planned time {phase.planned_time_s:.1f} s differs from "
                                     f"the plan's {60.0 * t:.1f} s"))
    return out


def _commissioning(commissioning, entry, machine, energy, applicator) -> ReviewFinding:
    if machine is None:
        return ReviewFinding(STOP, "commissioning", "machine, energy or applicator unknown: commissioning not checked")
    what = f"{machine.name}, {energy.id}, {applicator.label}"
    if commissioning is None or commissioning.machine_id != machine.id:
        return ReviewFinding(STOP, "commissioning", f"{what}: no commissioning for this machine")
    if entry is None:
        return ReviewFinding(STOP, "commissioning", f"{what}: no commissioning entry")
    if hasattr(entry, "air_kerma_rate_gy_per_min"):
        needed = (("SSD", "ssd_cm"), ("output (air-kerma rate)", "air_kerma_rate_gy_per_min"),
                  ("timer end effect", "timer_end_effect_min"))
    else:
        needed = (("SSD", "ssd_cm"), ("output (reference dose rate)", "reference_dose_rate_gy_per_min"),
                  ("reference depth", "reference_depth_mm"), ("timer end effect", "timer_end_effect_min"))
    missing = [name for name, field in needed if getattr(getattr(entry, field, None), "value", None) is None]
    if missing:
        return ReviewFinding(STOP, "commissioning", f"{what}: {', '.join(missing)} not commissioned")
    values = ", ".join(f"{name} {getattr(entry, field).label}" for name, field in needed)
    if energy.hvl_mm_al is None:
        return ReviewFinding(REVIEW, "commissioning", f"{what}: {values}; the beam quality (HVL) is not commissioned")
    if commissioning.is_demo:
        return ReviewFinding(REVIEW, "commissioning", f"{what}: {values} — DEMO commissioning "
                                                      f"'{commissioning.label}': illustrative values, not for "
                                                      f"clinical use")
    return ReviewFinding(OK, "commissioning", f"{what}: {values} ({commissioning.describe()})")


def _field(plan, dose_result, applicator, margin_mm: float) -> ReviewFinding:
    if plan.outline is None:
        return ReviewFinding(STOP, "field-width", "no lesion outline: the field cannot be checked against it")
    xs = [x for x, _ in plan.outline.vertices_mm]
    low, high = min(xs), max(xs)
    axis = getattr(dose_result, "cone_axis_x_mm", None)
    if axis is None:
        axis = plan.cone_axis_x_mm if plan.cone_axis_x_mm is not None else (low + high) / 2.0
    r = applicator.diameter_mm / 2.0
    spare_left, spare_right = low - (axis - r), (axis + r) - high
    numbers = (f"{applicator.label} field on the axis at x = {axis:.2f} mm covers {axis - r:.2f} to {axis + r:.2f} mm; "
               f"the lesion spans {low:.2f} to {high:.2f} mm (width {high - low:.2f} mm)")
    if min(spare_left, spare_right) < -1e-9:
        return ReviewFinding(STOP, "field-width", f"{numbers}: {max(-spare_left, -spare_right):.2f} mm of the lesion "
                                                  f"lies outside the field")
    if min(spare_left, spare_right) < margin_mm - 1e-9:
        return ReviewFinding(REVIEW, "field-width", f"{numbers}: {min(spare_left, spare_right):.2f} mm to spare on "
                                                    f"the closer side, less than the {margin_mm:g} mm margin")
    return ReviewFinding(OK, "field-width", f"{numbers}: at least {margin_mm:g} mm to spare on both sides")


def _beam_data(technique: Technique, energy, applicator, entry):
    engine = technique.dose_engine
    ssd = None if entry is None else getattr(entry.ssd_cm, "value", None)
    if engine is None or energy is None or applicator is None or ssd is None:
        return None
    try:
        return engine.beam_data(energy, applicator, ssd)
    except ValueError:
        return None


def _energy_depth(plan, beam_data, energy, tolerance_mm: float) -> ReviewFinding:
    if plan.outline is None or plan.skin_surface is None:
        return ReviewFinding(STOP, "energy-depth", "no lesion outline or skin line: the lesion depth is unknown")
    if beam_data is None:
        return ReviewFinding(REVIEW, "energy-depth", "no beam data (SSD not commissioned?): energy versus lesion "
                                                     "depth not checked")
    pdd = tuple((float(z), float(p)) for z, p in beam_data.pdd)
    z_les = lesion_deepest_depth_mm(plan.outline, plan.skin_surface)
    point = plan.prescription.point
    z90 = isodose_depth_mm(pdd, COVERING_ISODOSE_PERCENT)
    if point.mode == "depth":
        z_cov, covering = float(point.depth_mm), f"the prescription depth {point.depth_mm:g} mm"
    else:
        x = point.isodose_percent if point.mode == "isodose" else COVERING_ISODOSE_PERCENT
        z_cov = isodose_depth_mm(pdd, x)
        z_cov = pdd[-1][0] if z_cov is None else z_cov
        covering = f"the {x:g} % isodose at {z_cov:.2f} mm"
    label = "" if energy is None else f"{energy.kvp:g} kV: "
    z90_text = "" if covering.startswith(f"the {COVERING_ISODOSE_PERCENT:g} % isodose") else \
        f" (90 % isodose {'beyond the data' if z90 is None else f'{z90:.2f} mm'})"
    try:
        at_base = f"; the lesion's base receives {pdd_percent(pdd, z_les):.1f} % of Dmax (the surface dose)"
    except ValueError:
        at_base = "; the lesion's base lies beyond the PDD data"
    numbers = f"{label}{covering}, lesion's deepest point {z_les:.2f} mm{z90_text}{at_base}"
    shortfall = z_les - z_cov
    if shortfall <= 0:
        return ReviewFinding(OK, "energy-depth", f"{numbers}: covered")
    severity = REVIEW if shortfall <= tolerance_mm + 1e-9 else STOP
    return ReviewFinding(severity, "energy-depth", f"{numbers}: {shortfall:.2f} mm short of the lesion's base "
                                                   f"(tolerance {tolerance_mm:g} mm); a higher energy or a deeper "
                                                   f"prescription point is needed")


def _bed(plan, technique) -> ReviewFinding:
    rx = plan.prescription
    bed = bed_gy(rx.dose_per_fraction_gy, rx.fractions)
    beds = [bed_gy(p.dose_per_fraction_gy, p.fractions) for p in technique.fractionation_presets]
    if not beds:
        return ReviewFinding(REVIEW, "bed", f"BED10 {bed:.1f} Gy: the technique publishes no regimen to compare with")
    low, high = min(beds), max(beds)
    numbers = (f"BED10 = {rx.fractions} × {rx.dose_per_fraction_gy:g} Gy × (1 + {rx.dose_per_fraction_gy:g}/"
               f"{ALPHA_BETA_TUMOUR_GY:g}) = {bed:.1f} Gy; published regimens of {technique.name}: "
               f"{low:.1f}–{high:.1f} Gy")
    if low - 1e-6 <= bed <= high + 1e-6:
        return ReviewFinding(OK, "bed", f"{numbers}: within")
    return ReviewFinding(REVIEW, "bed", f"{numbers}: {'below' if bed < low else 'above'} the published range")


def _dates(plan, today: date, plan_date: date | None) -> list[ReviewFinding]:
    out = []
    if plan_date is not None and plan_date > today:
        out.append(ReviewFinding(STOP, "dates", f"the plan is dated {plan_date.isoformat()}, after today "
                                                f"({today.isoformat()})"))
    course = plan.course
    for r in () if course is None else course.records:
        if r.delivered_on > today:
            out.append(ReviewFinding(STOP, "dates", f"fraction {r.number} is dated {r.delivered_on.isoformat()}, "
                                                    f"after today ({today.isoformat()})"))
        elif plan_date is not None and r.delivered_on < plan_date:
            out.append(ReviewFinding(REVIEW, "dates", f"fraction {r.number} ({r.delivered_on.isoformat()}) was "
                                                      f"delivered before the plan's date {plan_date.isoformat()}"))
    if course is not None:
        out += [ReviewFinding(REVIEW, "schedule", g.message) for g in course.gaps(today)]
    if not out:
        delivered = 0 if course is None else len(course.records)
        out.append(ReviewFinding(OK, "dates", f"{delivered} fraction(s) recorded, none after today "
                                              f"({today.isoformat()})"
                                              + ("" if plan_date is None else f"; plan dated {plan_date.isoformat()}")))
    return out
