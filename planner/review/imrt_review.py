"""The physicist's review of an IMRT plan: its dose recomputed from the SIGNED segments.

The leaf positions, cumulative meterset weights and MU the linac would deliver are read back from
the RT Plan itself (planner.dicom.rt_plan_mlc.read_mlc_plan), not from what Planner remembers, and
the technique's own engine computes their dose on the planning volume the embedded plan names
(InversePlanner.dose_from_segments, reached through the registry: the review never imports a
plugin). The dose figures recorded and signed with the plan (planner.dicom.inverse_payload.
dose_figures: each structure's reported DVH points and the dose at the isocentre) are computed
again by the same function from that dose and must agree within REPRODUCTION_TOLERANCE (0.1 %): a
leaf moved after export, other beam data or another engine show up here, figure by figure. Every
reason it cannot be done (a missing CT folder, a segment opening where the plan has no beamlets) is
a reason in the review, never a crash.

Then the independent second check (planner.review.imrt_second_check: ompMC of the signed segments and
MU, no code or beam model of the engine) at a high-dose point of the target, against that recomputed
dose: the RT Dose file beside the plan is not what is compared, since no signature covers it. It is
made only when the dose is reproduced (otherwise there is no signed dose to check), with AAPM
TG-219's action levels unless the clinic sets its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydicom import dcmread

from planner.core.errors import PlannerError
from planner.dicom.inverse_payload import ISOCENTRE, DoseFigure, dose_figures, recorded_dose_figures
from planner.dicom.plan_payload import PlanPayloadError
from planner.dicom.rt_plan_mlc import read_mlc_plan
from planner.dicom.signed_plan import SignedPlan
from planner.dose.monte_carlo import CancelCheck, ProgressCallback
from planner.review import imrt_second_check as mc
from planner.review.recomputation import REPRODUCTION_TOLERANCE, FigureComparison, Recomputation, find_technique
from planner.review.second_check import STOP, ActionLevels

IMRT_ACTION_LEVELS = mc.DEFAULT_ACTION_LEVELS   # AAPM TG-219: review beyond 3 %, stop beyond 5 %


@dataclass
class ImrtRecomputation:
    """What the IMRT recomputation gives the review: the comparison, the recomputed dose (the
    technique's SegmentDose: ``volume``, ``dose_grid_gy``, ``metrics``, ``seconds``) and every reason
    the plan cannot be approved on it."""

    recomputation: Recomputation | None = None
    segment_dose: Any = None
    technique: Any = None
    reasons: list[str] = field(default_factory=list)


def recompute_imrt(signed: SignedPlan, registry=None, progress: ProgressCallback | None = None,
                   is_cancelled: CancelCheck | None = None) -> ImrtRecomputation:
    """The signed IMRT plan's dose from its RT Plan's segments, compared with its signed figures."""
    out, embedded = ImrtRecomputation(), signed.plan
    try:
        signed_figures = recorded_dose_figures(signed.calculation_record)
    except PlanPayloadError as exc:
        out.reasons.append(f"{exc}: the recomputed dose cannot be compared")
        return out
    if not signed_figures:
        out.reasons.append("the signed record holds no dose figures (exported before they were kept): the "
                           "recomputed dose cannot be compared; export and sign the plan again")
        return out
    out.technique, planner, why = find_technique(embedded.technique_id, registry,
                                                 lambda technique: technique.inverse_planner, "inverse planner")
    if planner is None:
        out.reasons.append(why)
        return out
    try:
        mlc_plan = read_mlc_plan(dcmread(signed.path))
        out.segment_dose = planner.dose_from_segments(mlc_plan, embedded.plan, embedded.volume_source,
                                                      progress, is_cancelled)
        recomputed = dose_figures(out.segment_dose.volume, out.segment_dose.dose_grid_gy, mlc_plan.target_roi_name)
    except Exception as exc:  # noqa: BLE001 - a PlannerError's one line, or whatever failed: a reason
        out.reasons.append(f"the dose cannot be recomputed from the signed segments: {_one_line(exc)}")
        out.segment_dose = None
        return out
    out.recomputation = compare_figures(signed_figures, recomputed)
    if not out.recomputation.reproduced:
        out.reasons.append(out.recomputation.message)
    return out


def imrt_second_check_of(signed: SignedPlan, segment_dose, levels: ActionLevels, cache_path=None,
                         progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None):
    """(the independent Monte Carlo check, the reason it blocks approval or ""): the signed RT Plan's
    segments and MU by ompMC (planner.review.imrt_second_check: no code or beam model of the engine)
    against the dose recomputed from those same segments, per fraction, at a high-dose point of the
    target. The RT Dose file beside the plan is not used: nothing signs it."""
    fractions = signed.plan.plan.prescription.fractions
    try:
        check = mc.check_plan_dose(signed.path, segment_dose.volume,
                                   np.asarray(segment_dose.dose_grid_gy, dtype=float) / fractions,
                                   action_levels=levels, cache_path=cache_path or mc.default_cache_path(),
                                   progress=progress or (lambda f: None),
                                   is_cancelled=is_cancelled or (lambda: False))
    except mc.ImrtSecondCheckError as exc:
        return None, f"the independent second check cannot be made: {exc}"
    if check.verdict == mc.CANNOT_BE_MADE:
        return check, f"the independent second check {check.message.splitlines()[0]}"
    if check.verdict == STOP:
        return check, (f"independent second check difference {check.difference_percent:+.1f} % is beyond the stop "
                       f"level {levels.stop_percent:g} % ({check.message.splitlines()[0]})")
    return check, ""


def compare_figures(signed: tuple[DoseFigure, ...], recomputed: tuple[DoseFigure, ...]) -> Recomputation:
    """Each signed figure against the recomputed one of the same name (within 0.1 %); a signed
    figure with no recomputed counterpart is not reproduced."""
    now = {f.name: f.dose_gy for f in recomputed}
    comparisons = []
    for figure in signed:
        value = now.get(figure.name)
        same = value is not None and math.isclose(figure.dose_gy, value, rel_tol=REPRODUCTION_TOLERANCE,
                                                  abs_tol=1e-12)
        comparisons.append(FigureComparison(figure.name, figure.dose_gy, value, same))
    problems = [c.describe() for c in comparisons if not c.reproduced]
    message = (f"the signed dose figures are reproduced from the segments within 0.1 % ({len(comparisons)} "
               f"figures: DVH points and the dose at the isocentre)" if not problems else
               "the signed dose figures are not reproduced from the segments (more than 0.1 % apart): "
               + "; ".join(problems))
    isocentre = next((c for f, c in zip(signed, comparisons) if f.structure == ISOCENTRE), None)
    return Recomputation(signed_time_min=None, recomputed_time_min=None,
                         signed_dose_gy=None if isocentre is None else isocentre.signed_gy,
                         recomputed_dose_gy=None if isocentre is None else isocentre.recomputed_gy,
                         reproduced=not problems, message=message, figures=tuple(comparisons))


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, PlannerError) else f"{type(exc).__name__}: {text}"


__all__ = ["IMRT_ACTION_LEVELS", "ImrtRecomputation", "compare_figures", "imrt_second_check_of", "recompute_imrt"]
