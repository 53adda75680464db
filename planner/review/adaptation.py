"""Whether a course's imaging session calls for adapting the plan (issue 17, point 3: the findings).

For one imaging session with a measured lesion, the lesion's depth below the skin is set against the
plan's prescription-isodose depth: the depth on the beam axis at which the plan's depth dose falls to
the prescription isodose, from the beam data of the plan's own dose engine (its energy, applicator
and commissioned SSD) and the plan's own prescription point (planner.dose.kv_dose.
prescription_normalisation: 100 % at the surface, PDD(d) at a stated depth d, X for the X % isodose).
"X %" has its one meaning: percent of Dmax, the central-axis maximum dose (the surface dose for kV and
eBx beams; planner.dose.coverage).

- DEEPER: the lesion lies deeper than that depth: a "re-plan" finding with both depths.
- SMALLER OPTION: the technique's own recommendation (its engine's ``recommend``, with its own default
  margins, judged at the plan's prescription isodose) on the session's lesion names a lower energy,
  or a smaller applicator, that still reaches the lesion's depth plus that recommendation's depth
  margin: a finding naming the option and both depths. For a technique whose recommendation judges
  no energy (eBx: one beam quality a machine), the smaller applicator's own prescription-isodose
  depth must reach the lesion's depth plus the engine's default depth margin.
- Neither: no finding (nothing to say; the coverage itself is the dose panel's line).
A session without a measure gives a "not judged" finding with the session's own reason.

The depth compared is the session's deepest point below the skin line on the image's depth axis
(planner.core.course_imaging.LesionMeasure), against the beam-axis depth dose: the plan's dose panel
judges the planning lesion on the full dose plane (off-axis and inverse square included), which needs
the beam placed on the session's image; this finding does not.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace

from planner.core.course_imaging import ImagingSession
from planner.core.errors import PlannerError
from planner.core.plan import Plan
from planner.dose.coverage import percent_text
from planner.dose.kv_dose import prescription_normalisation
from planner.dose.monte_carlo import CancelCheck, ProgressCallback
from planner.techniques.beam_lookup import beam_key, machine_commissioning
from planner.techniques.interface import UnknownChoice
from planner.techniques.registry import TechniqueRegistry

__all__ = ["REPLAN", "SMALLER_OPTION", "NOT_JUDGED", "AdaptationFinding", "adaptation_findings"]

REPLAN = "re-plan"
SMALLER_OPTION = "smaller-option"
NOT_JUDGED = "not-judged"

# Depths compared as recommend_energy compares them (planner.dose.recommendation).
_TOLERANCE_MM = 1e-9


@dataclass(frozen=True)
class AdaptationFinding:
    """One finding of a session against the plan. Depths in mm below the skin; ``option_energy_id`` and
    ``option_applicator_id`` name the smaller option (SMALLER_OPTION only)."""

    kind: str                                   # REPLAN | SMALLER_OPTION | NOT_JUDGED
    message: str                                # one line, numbers included
    lesion_depth_mm: float | None = None
    isodose_depth_mm: float | None = None       # the plan's prescription-isodose depth on the beam axis
    prescription_isodose_percent: float | None = None   # % of Dmax
    option_energy_id: str | None = None
    option_applicator_id: str | None = None
    option_isodose_depth_mm: float | None = None


def _where(session: ImagingSession) -> str:
    return f"{session.when.label}, {session.acquired_on.isoformat()}"


def adaptation_findings(plan: Plan, registry: TechniqueRegistry, session: ImagingSession, *,
                        progress: ProgressCallback | None = None,
                        is_cancelled: CancelCheck | None = None) -> tuple[AdaptationFinding, ...]:
    """The session's findings against ``plan`` (module doc); empty when the plan still fits.

    Needs the beam data of the plan's beam and of each energy the recommendation weighs (Monte Carlo
    unless cached or measured): run it off the GUI thread with ``progress``/``is_cancelled``. A
    PlannerError of the recommendation itself propagates; one of the plan's own beam data gives a
    NOT_JUDGED finding saying why."""
    measure = session.measure
    if measure is None:
        return (AdaptationFinding(NOT_JUDGED, f"{_where(session)}: the lesion cannot be judged against the plan: "
                                              f"{session.unmeasured_reason}"),)
    depth = measure.depth_mm
    try:
        technique = registry.get(plan.setup.technique_id)
    except UnknownChoice as err:
        return (_not_judged(session, err.user_message, depth),)
    engine = technique.dose_engine
    if engine is None:
        return (_not_judged(session, f"{technique.name} has no depth dose to compare with", depth),)
    key = beam_key(technique, plan)
    if key is None:
        return (_not_judged(session, "the plan's energy and applicator have no commissioned SSD", depth),)
    energy, applicator, ssd_cm = key
    try:
        pdd = engine.beam_data(energy, applicator, ssd_cm, progress, is_cancelled).pdd
        percent, reach = prescription_normalisation(plan.prescription.point, pdd)
    except PlannerError as err:
        return (_not_judged(session, err.user_message, depth),)
    iso = f"{percent_text(percent)} isodose ({percent_text(percent)} of Dmax)"
    beam = f"{energy.kvp:g} kV, {applicator.label}"
    if depth > reach + _TOLERANCE_MM:
        return (AdaptationFinding(
            REPLAN, f"lesion {depth:.2f} mm deep ({_where(session)}) but the {iso} of the plan ({beam}) reaches "
                    f"{reach:.2f} mm: re-plan", depth, reach, percent),)
    option = _smaller_option(plan, technique, engine, session, depth, percent, progress, is_cancelled)
    if option is None:
        return ()
    energy_id, applicator_id, option_reach, requirement = option
    machine = technique.machine(plan.setup.machine_id)
    other = machine.energy(energy_id)
    other_applicator = machine.applicator(applicator_id)
    return (AdaptationFinding(
        SMALLER_OPTION,
        f"lesion {depth:.2f} mm deep ({_where(session)}): {other.kvp:g} kV, {other_applicator.label} would cover it "
        f"with margin, its {iso} reaching {option_reach:.2f} mm (≥ {requirement:.2f} mm, the lesion's depth and the "
        f"recommendation's margin); the plan ({beam}) reaches {reach:.2f} mm",
        depth, reach, percent, energy_id, applicator_id, option_reach),)


def _not_judged(session: ImagingSession, reason: str, depth_mm: float) -> AdaptationFinding:
    return AdaptationFinding(NOT_JUDGED, f"{_where(session)}: the lesion cannot be judged against the plan: {reason}",
                             depth_mm)


def _smaller_option(plan: Plan, technique, engine, session: ImagingSession, depth_mm: float, percent: float,
                    progress, is_cancelled) -> tuple[str, str, float, float] | None:
    """(energy id, applicator id, its isodose depth, lesion depth + margin) of a lower energy or smaller
    applicator the technique's recommendation names for the session's lesion, or None."""
    session_plan = replace(plan, outline=session.outline, skin_surface=session.skin_surface)
    commissioning = machine_commissioning(technique, plan.setup.machine_id)
    energy_rec, cone_rec, _ = engine.recommend(session_plan, commissioning, isodose_percent=percent,
                                               progress=progress, is_cancelled=is_cancelled)
    machine = technique.machine(plan.setup.machine_id)
    current_energy = machine.energy(plan.setup.energy_id)
    current_applicator = machine.applicator(plan.setup.applicator_id)
    applicator_id = plan.setup.applicator_id
    if cone_rec is not None and cone_rec.choice_id is not None:
        applicator_id = cone_rec.choice_id
    smaller = machine.applicator(applicator_id).diameter_mm < current_applicator.diameter_mm
    if energy_rec is not None:
        # The recommendation judged energies (and cones) against depth + its own margin.
        if energy_rec.choice_id is None or energy_rec.margin_missed_mm is not None or energy_rec.achieved_mm is None:
            return None
        lower = machine.energy(energy_rec.choice_id).kvp < current_energy.kvp
        if not lower and not (smaller and energy_rec.choice_id == current_energy.id):
            return None
        return energy_rec.choice_id, applicator_id, energy_rec.achieved_mm, energy_rec.requirement_mm
    if not smaller:
        return None
    # One beam quality: the recommendation chose the applicator by width; its depth is judged here.
    margin = inspect.signature(engine.recommend).parameters["depth_margin_mm"].default
    if isinstance(margin, bool) or not isinstance(margin, (int, float)):
        return None   # the engine states no default depth margin: no option is claimed
    requirement = depth_mm + float(margin)
    candidate = replace(plan, setup=replace(plan.setup, applicator_id=applicator_id))
    key = beam_key(technique, candidate)
    if key is None:
        return None
    pdd = engine.beam_data(*key, progress, is_cancelled).pdd
    try:
        _, reach = prescription_normalisation(candidate.prescription.point, pdd)
    except PlannerError:
        return None
    if reach < requirement - _TOLERANCE_MM:
        return None
    return current_energy.id, applicator_id, reach, requirement
