"""Re-irradiation (issue 18, point 4): an earlier course's dose, EQD2 point by point, the cumulative
dose a serial organ has received, and a protocol's re-irradiation limits judged or made into the new
course's dose caps.

Why point by point: the linear-quadratic EQD2 is not linear in dose, so the EQD2 of a dose
distribution is the EQD2 of each point's dose, never the EQD2 of a mean or of a DVH figure:

    EQD2 = D · (d + α/β) / (2 + α/β),   d = D / n

and, for the new course, the physical dose of n fractions that gives an EQD2 E is the positive root
of n·d² + n·α/β·d − E·(2 + α/β) = 0 (dose_for_eqd2_gy). The courses' EQD2 add up point by point
(the cumulative EQD2 the limits are on); no repair between the courses is assumed.

The limits (planner.core.protocols.protocol.ReirradiationLimits: e.g. Sahgal et al., IJROBP 82:107,
2012) are judged here, each with its limit and source, by the same rule as every clinical goal
(planner.core.protocols.goals.is_met). Core only: the DVH of the cumulative EQD2 is made in the
plugin (plugins/imrt_photon/protocol_plan.py), which hands in its near-maximum.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from planner.core.errors import PlannerError
from planner.core.protocols.goals import is_met
from planner.core.protocols.protocol import Goal, ReirradiationLimits
from planner.core.volume import VoxelGrid

# The interval between the courses in months of mean calendar length (365.25 / 12 days).
DAYS_PER_MONTH = 365.25 / 12


class ReirradiationError(PlannerError, ValueError):
    """An earlier course Planner cannot place or account for; the message says why."""


# ------------------------------------------------------------------------------------------- EQD2

def eqd2_gy(dose_gy, fractions: int, alpha_beta_gy: float):
    """EQD2 of a dose given in ``fractions`` equal fractions, point by point (an array or a number)."""
    _check_fractionation(fractions, alpha_beta_gy)
    dose = np.asarray(dose_gy, dtype=np.float64)
    result = dose * (dose / fractions + alpha_beta_gy) / (2.0 + alpha_beta_gy)
    return float(result) if result.ndim == 0 else result


def dose_for_eqd2_gy(eqd2, fractions: int, alpha_beta_gy: float):
    """The physical dose of ``fractions`` equal fractions whose EQD2 is ``eqd2`` (≥ 0): n times the
    positive root d of n·d² + n·α/β·d − EQD2·(2 + α/β) = 0. The inverse of eqd2_gy."""
    _check_fractionation(fractions, alpha_beta_gy)
    e = np.asarray(eqd2, dtype=np.float64)
    if np.any(e < 0):
        raise ReirradiationError("an EQD2 below 0 Gy has no physical dose")
    per_fraction = (-alpha_beta_gy + np.sqrt(alpha_beta_gy ** 2 + 4.0 * e * (2.0 + alpha_beta_gy) / fractions)) / 2.0
    result = fractions * per_fraction
    return float(result) if result.ndim == 0 else result


def _check_fractionation(fractions: int, alpha_beta_gy: float) -> None:
    if isinstance(fractions, bool) or not isinstance(fractions, (int, np.integer)) or fractions < 1:
        raise ReirradiationError(f"EQD2 needs a whole number of fractions ≥ 1, got {fractions!r}")
    if not (math.isfinite(alpha_beta_gy) and alpha_beta_gy > 0):
        raise ReirradiationError(f"EQD2 needs an α/β above 0 Gy, got {alpha_beta_gy!r}")


# ---------------------------------------------------------------------------------- the earlier course

@dataclass(frozen=True, eq=False)
class PriorCourseDose:
    """An earlier course as its RT Dose and RT Plan state it: the whole course's physical dose (Gy)
    on its own grid ([x, y, z], patient mm), its fractions and where that number came from, its plan
    date (None: not recorded), its frame of reference, and the files it was read from."""

    dose_gy: np.ndarray
    grid: VoxelGrid
    fractions: int
    fractions_source: str            # "RT Plan Number of Fractions Planned" or "given (--prior-fractions)"
    frame_of_reference_uid: str
    plan_date: dt.date | None
    rtdose_path: str
    rtplan_path: str | None = None
    prescribed_gy: float | None = None   # the RT Plan's Target Prescription Dose, when it states one

    @property
    def max_gy(self) -> float:
        return float(np.max(self.dose_gy)) if self.dose_gy.size else float("nan")

    def summary(self) -> str:
        rx = "" if self.prescribed_gy is None else f"{self.prescribed_gy:g} Gy prescribed, "
        date = "plan date unknown" if self.plan_date is None else f"planned {self.plan_date.isoformat()}"
        return (f"earlier course: {rx}{self.fractions} fractions ({self.fractions_source}), dose maximum "
                f"{self.max_gy:.2f} Gy, {date}")

    def as_dict(self) -> dict:
        return {"rt_dose": self.rtdose_path, "rt_plan": self.rtplan_path, "fractions": self.fractions,
                "fractions_source": self.fractions_source, "prescribed_gy": self.prescribed_gy,
                "dose_max_gy": self.max_gy,
                "plan_date": None if self.plan_date is None else self.plan_date.isoformat(),
                "frame_of_reference_uid": self.frame_of_reference_uid}


def check_same_frame(prior: PriorCourseDose, ct_frame_uid: str | None) -> None:
    """A dose on another frame of reference cannot be placed on this CT without a registration."""
    if not ct_frame_uid or prior.frame_of_reference_uid != ct_frame_uid:
        raise ReirradiationError(
            f"the earlier course's dose is on frame of reference {prior.frame_of_reference_uid}, the CT on "
            f"{ct_frame_uid or 'none (not a DICOM CT)'}: it cannot be placed without a registration, which "
            f"Planner does not do")


def check_covers(prior: PriorCourseDose, structure: str, bounds_mm) -> None:
    """The prior grid must cover where ``structure``'s dose is read (``bounds_mm``: its samples'
    ((x0, x1), (y0, y1), (z0, z1))): within the voxels of its grid, as Planner reads its own dose."""
    for axis, name, (lo, hi) in zip((prior.grid.x_mm, prior.grid.y_mm, prior.grid.z_mm), "xyz", bounds_mm):
        half = abs(float(axis[1] - axis[0])) / 2 if axis.size > 1 else 0.0
        first, last = float(axis.min()) - half - 1e-6, float(axis.max()) + half + 1e-6
        if lo < first or hi > last:
            raise ReirradiationError(
                f"the earlier course's dose grid does not cover {structure} along {name} ({lo:.1f} to {hi:.1f} mm, "
                f"the grid {first:.1f} to {last:.1f} mm): its cumulative dose cannot be known")


def interval_months(earlier: dt.date | None, later: dt.date | None) -> float | None:
    """Months (of 365.25 / 12 days) from ``earlier`` to ``later``; None when either is unknown."""
    if earlier is None or later is None:
        return None
    return (later - earlier).days / DAYS_PER_MONTH


# ---------------------------------------------------------------------------------- limits and caps

# The re-irradiation rows' ids, in the order they are shown.
CUMULATIVE, COURSE, SHARE, INTERVAL = "cumulative", "course", "share", "interval"


def limit_goals(limits: ReirradiationLimits) -> tuple[Goal, ...]:
    """The four limits as clinical goals (priority 1: each must be met), so that one rule judges them."""
    m, s = limits.metric, limits.structure
    return (Goal(CUMULATIVE, s, f"cumulative EQD2 {m}", "<=", limits.cumulative_eqd2_gy, "Gy", 1),
            Goal(COURSE, s, f"this course's EQD2 {m}", "<=", limits.course_eqd2_gy, "Gy", 1),
            Goal(SHARE, s, f"this course's share of the cumulative EQD2 {m}", "<=", limits.course_share_percent, "%", 1),
            Goal(INTERVAL, s, "time since the earlier course", ">=", limits.min_interval_months, "months", 1))


@dataclass(frozen=True)
class ReirradiationRow:
    """One limit judged: its words, value, limit, met, and the limit's source. ``value`` NaN and
    ``met`` False when it cannot be known (``note`` says why)."""

    goal: str
    structure: str
    value: float
    unit: str
    limit: float
    met: bool
    source: str
    note: str = ""

    @property
    def text(self) -> str:
        sign = "≤" if self.unit != "months" else "≥"
        return f"{self.goal} {sign} {self.limit:g} {self.unit}"

    def as_dict(self) -> dict:
        key = {"%": "percent", "months": "months"}.get(self.unit, "gy")
        value = self.value if math.isfinite(self.value) else None
        return {"goal": self.goal, "structure": self.structure, f"value_{key}": value, f"limit_{key}": self.limit,
                "met": self.met, "source": self.source, **({"note": self.note} if self.note else {})}


def judge_limits(limits: ReirradiationLimits, cumulative_gy: float, course_gy: float,
                 months: float | None) -> tuple[ReirradiationRow, ...]:
    """The limits judged: ``cumulative_gy`` and ``course_gy`` are the near-maxima (``limits.metric``)
    of the cumulative and of this course's EQD2; the share is this course's near-maximum over the
    cumulative one (Sahgal's ratio of point maxima, which may lie at different points); ``months``
    since the earlier course, None when a date is unknown (then not met, never passed silently)."""
    share = 100.0 * course_gy / cumulative_gy if cumulative_gy > 0 else float("nan")
    values = {CUMULATIVE: cumulative_gy, COURSE: course_gy, SHARE: share,
              INTERVAL: float("nan") if months is None else months}
    rows = []
    for goal in limit_goals(limits):
        value = values[goal.id]
        note = ("interval unknown: the earlier course's RT Plan gives no date (or the CT has none)"
                if goal.id == INTERVAL and months is None else "")
        rows.append(ReirradiationRow(goal.metric, goal.structure, value, goal.unit, goal.limit.value,
                                     is_met(goal, value), goal.limit.source, note))
    return tuple(rows)


def new_course_caps_gy(limits: ReirradiationLimits, prior_eqd2_gy: np.ndarray, fractions: int,
                       alpha_beta_gy: float) -> np.ndarray:
    """The physical dose (whole new course, ``fractions``) each point of the limited structure may
    get, given the earlier course's EQD2 there: the least of

    - the cumulative limit L: inverse-EQD2(L − EQD2_prior,i) — where the earlier course alone
      already reaches L no new dose is allowed, and the plan stops (ReirradiationError);
    - the course's own limit C: inverse-EQD2(C), the same at every point;
    - the share s. Sahgal's share is max(EQD2_new) / max(EQD2_new + EQD2_prior), point maxima that
      may lie at different points, so it is no per-point limit. A per-point cap that guarantees it:
      EQD2_new,i ≤ max(k·EQD2_prior,i, s·max EQD2_prior), k = s / (1 − s). Proof: at the point j of
      the new course's maximum, either EQD2_new,j ≤ k·EQD2_prior,j, so that the cumulative there
      (≤ its maximum) is at least EQD2_new,j / s; or EQD2_new,j ≤ s·max EQD2_prior ≤ s·max
      cumulative. It is stricter than the ratio itself where the earlier dose was low (and the
      judged share, on D0.03cc, is the honest figure); without its second term it would forbid any
      new dose where the earlier course gave none.
    """
    prior = np.asarray(prior_eqd2_gy, dtype=np.float64)
    worst = float(prior.max()) if prior.size else 0.0
    cumulative = limits.cumulative_eqd2_gy.value
    if worst >= cumulative:
        raise ReirradiationError(
            f"{limits.structure}: the earlier course alone gives {worst:.1f} Gy EQD2 (α/β {alpha_beta_gy:g} Gy) "
            f"there, at or above the cumulative limit of {cumulative:g} Gy: no new dose is allowed")
    caps = np.minimum(cumulative - prior, limits.course_eqd2_gy.value)
    s = limits.course_share_percent.value / 100.0
    if s < 1.0:
        caps = np.minimum(caps, np.maximum(s / (1.0 - s) * prior, s * worst))
    return dose_for_eqd2_gy(np.maximum(caps, 0.0), fractions, alpha_beta_gy)
