"""A treatment course, fraction by fraction: what was delivered, when, by whom, and what it adds up to.

Pure Python arithmetic (no NumPy here; an imaging session's measure uses the outline's depth function,
which does). Values are immutable: recording a fraction or adding an imaging session returns a new Course.

Delivered dose. For one fixed applicator, tube potential and current, the dose rate at every point is
constant while the beam is on (eBx has no source decay; the tube output is checked by the daily QA), so the
dose of a fraction is proportional to its beam-on (dwell) time: D_i = D_fx · t_i / t_planned. The course
total is the sum over delivered fractions. This holds only if the recorded time is measured the same way
as the planned one (both set times, the timer end effect being part of the plan), and only for the plan's
applicator and beam; it does not hold for a radionuclide source, whose dose rate decays between fractions.

Schedule checks. `gaps()` lists intervals longer than `max_gap_days` (and, if `today` is given, the wait
since the last fraction of an unfinished course). When the regimen requires a minimum interval — e.g. the
published eBx schedule "twice weekly, at least 48 h apart" (Radiat Oncol 5:87, 2010) — it also flags
fractions delivered closer than that. Only dates are recorded, so an interval of whole days d can be judged
only partly: d·24 h − 24 h < true interval < d·24 h + 24 h. Fractions whose interval is certainly too short
are flagged as such; those that might be too short are flagged as "not verifiable from dates".

Imaging sessions (planner.core.course_imaging): the ultrasounds of the course, kept in timeline order,
one per place on the timeline; `with_session` adds one (the date checks are there, the patient check is
course_imaging.check_same_patient, which needs the plan's identity).

The decision with the patient (issue 17, point 7; the options are planner.core.treatment_options): the
regimen chosen, the preferences the patient stated in their own words, when and by which physician;
`with_decision` records it, replacing an earlier one.

Phases (issue 17, point 3): after a Re-plan the remaining fractions are delivered under the revision, with its
own time per fraction (and possibly dose per fraction). The course's own fields are the first phase
(planned_fractions stays the whole course's number: a re-plan takes over the remaining fractions, it does not
add any); `later_phases` hold each re-plan. A fraction's dose uses the phase in effect at its number
(D = d_phase · t / t_phase); the course's dose is what was delivered plus the remaining fractions at their
phase's dose, and its BED/EQD2 the linear-quadratic sum over those fractions, each with its own dose:
BED = Σ d_i (1 + d_i/(α/β)), EQD2 = BED / (1 + 2/(α/β)) (planner.core.radiobiology, no time factor).

Superseded (issue 17, point 3): the plan file a course was re-planned from keeps its course as it was, marked
``superseded_by`` the revision (its RT Plan UID, folder and first fraction): it records no further fraction and
is not re-planned again, so the remaining fractions are recorded once, under the revision.
"""

from __future__ import annotations

import math
from dataclasses import InitVar, dataclass, replace
from datetime import date
from typing import Any

from planner.core.course_imaging import (ImagingSession, SessionDateQuestion, SessionError, session_from_dict,
                                         session_to_dict)
from planner.core.errors import PlannerError
from planner.core.prescription import Prescription
from planner.core.radiobiology import bed_gy

COURSE_FORMAT = "planner-course"
# 2 added the imaging sessions; a version 1 course (fractions only) is read with none.
# 3 added the decision with the patient; versions 1 and 2 are read with none. A course without a decision is
# still written as version 2, which the Planners that read only 1 and 2 open without losing anything; one with
# a decision is written as 3, so those Planners refuse it instead of dropping the decision.
# 4 added the phases (the first phase's RT Plan UID and the re-plans) and the superseded marker; a course with any
# of them is written as 4, so the Planners that read only 1 to 3 refuse it instead of dosing the later fractions
# with the first plan's time or recording them on the superseded plan. (The marker joined 4 before any release.)
COURSE_FORMAT_VERSION = 4
VERSION_WITHOUT_DECISION = 2
VERSION_WITH_DECISION = 3
READABLE_COURSE_VERSIONS = (1, 2, 3, 4)


# A planned time that moved by more than this since the course started is flagged (a tenth of a
# second is below what a timer shows, so rounding never raises the flag).
PLANNED_TIME_TOLERANCE_S = 0.05

class CourseError(PlannerError, ValueError):
    """A course or fraction record that cannot be accepted as written; the message says which value and why."""


def _positive_finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CourseError(f"{what} must be a finite number, got {value!r}")
    if value <= 0:
        raise CourseError(f"{what} must be above 0, got {value:g}")
    return float(value)


def _whole_number(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CourseError(f"{what} must be a whole number, got {value!r}")
    if value < minimum:
        raise CourseError(f"{what} must be at least {minimum}, got {value}")
    return value


def _plain_date(value: Any, what: str) -> date:
    if not isinstance(value, date) or hasattr(value, "hour"):   # a datetime is a date subclass: refuse it
        raise CourseError(f"{what} must be a calendar date, got {value!r}")
    return value


@dataclass(frozen=True)
class FractionRecord:
    """One delivered fraction. `today` (default: the computer's date) only checks the date is not in the future."""

    number: int
    delivered_on: date
    dwell_time_s: float
    delivered_by: str
    remarks: str = ""
    today: InitVar[date | None] = None

    def __post_init__(self, today: date | None) -> None:
        _whole_number(self.number, "fraction number", 1)
        _plain_date(self.delivered_on, f"delivery date of fraction {self.number}")
        now = date.today() if today is None else _plain_date(today, "today")
        if self.delivered_on > now:
            raise CourseError(f"fraction {self.number} is dated {self.delivered_on.isoformat()}, after today "
                              f"({now.isoformat()}): a fraction is recorded after it is delivered")
        object.__setattr__(self, "dwell_time_s",
                           _positive_finite(self.dwell_time_s, f"dwell time of fraction {self.number} (s)"))
        if not isinstance(self.delivered_by, str) or not self.delivered_by.strip():
            raise CourseError(f"fraction {self.number}: the name of whoever delivered it is required")
        if not isinstance(self.remarks, str):
            raise CourseError(f"fraction {self.number}: remarks must be text, got {self.remarks!r}")


@dataclass(frozen=True)
class TreatmentDecision:
    """The option chosen with the patient (e.g. "Option B: 40 Gy / 8 × 5 Gy (twice weekly, ≥ 48 h apart)"),
    the patient's stated preferences as free text (e.g. "fewer visits: lives 80 km away"; empty when none were
    stated), the date and the physician who recorded it."""

    chosen_regimen: str
    preferences: str
    decided_on: date
    decided_by: str

    def __post_init__(self) -> None:
        if not isinstance(self.chosen_regimen, str) or not self.chosen_regimen.strip():
            raise CourseError("the decision: the chosen option is required")
        if not isinstance(self.preferences, str):
            raise CourseError(f"the decision: the patient's preferences must be text, got {self.preferences!r}")
        _plain_date(self.decided_on, "the date of the decision")
        if not isinstance(self.decided_by, str) or not self.decided_by.strip():
            raise CourseError("the decision: the name of the physician who recorded it is required")


@dataclass(frozen=True)
class CoursePhase:
    """Fractions ``first_fraction`` … ``last_fraction`` delivered under one RT Plan. ``rt_plan_uid`` is its SOP
    Instance UID ("" when not recorded: the first phase of a course started before it was re-planned, or a
    revision not yet written); ``started_on`` is None for the first phase (the course records no start date)."""

    rt_plan_uid: str
    first_fraction: int
    fractions: int
    dose_per_fraction_gy: float
    planned_time_s: float
    reason: str = ""
    started_on: date | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.rt_plan_uid, str):
            raise CourseError(f"a phase's RT Plan UID must be text, got {self.rt_plan_uid!r}")
        _whole_number(self.first_fraction, "a phase's first fraction", 1)
        _whole_number(self.fractions, f"the number of fractions of the phase from fraction {self.first_fraction}", 1)
        object.__setattr__(self, "dose_per_fraction_gy",
                           _positive_finite(self.dose_per_fraction_gy, "a phase's dose per fraction (Gy)"))
        object.__setattr__(self, "planned_time_s",
                           _positive_finite(self.planned_time_s, "a phase's planned time per fraction (s)"))
        if not isinstance(self.reason, str):
            raise CourseError(f"a phase's reason must be text, got {self.reason!r}")
        if self.started_on is not None:
            _plain_date(self.started_on, f"the start of the phase from fraction {self.first_fraction}")

    @property
    def last_fraction(self) -> int:
        return self.first_fraction + self.fractions - 1


@dataclass(frozen=True)
class Supersession:
    """The re-plan that took over this course from fraction ``first_fraction``: its RT Plan's SOP Instance UID
    and the folder of its package (where the remaining fractions are recorded)."""

    rt_plan_uid: str
    folder: str
    first_fraction: int

    def __post_init__(self) -> None:
        for what, value in (("RT Plan UID", self.rt_plan_uid), ("folder", self.folder)):
            if not isinstance(value, str) or not value.strip():
                raise CourseError(f"the superseding re-plan's {what} is required, got {value!r}")
        _whole_number(self.first_fraction, "the superseding re-plan's first fraction", 2)

    @property
    def refusal(self) -> str:
        """The one line that sends the user to the revision."""
        return (f"this plan was re-planned: fractions from {self.first_fraction} on are given under RT Plan "
                f"{self.rt_plan_uid}, in {self.folder}")


@dataclass(frozen=True)
class ScheduleFinding:
    kind: str                    # "gap", "too close", "interval not verifiable", "waiting"
    after_fraction: int
    before_fraction: int | None  # None: the wait from the last fraction until today
    days: int
    message: str


@dataclass(frozen=True)
class Course:
    planned_fractions: int
    dose_per_fraction_gy: float
    planned_dwell_time_s: float
    max_gap_days: int
    records: tuple[FractionRecord, ...] = ()
    min_interval_hours: float | None = None      # e.g. 48 h (Radiat Oncol 5:87, 2010)
    schedule_source: str = ""
    sessions: tuple[ImagingSession, ...] = ()     # in timeline order (SessionTime.order_key)
    decision: TreatmentDecision | None = None     # the option chosen with the patient, once recorded
    rt_plan_uid: str = ""                         # the RT Plan of the first phase ("" not recorded)
    later_phases: tuple[CoursePhase, ...] = ()    # each re-plan, in fraction order (module doc)
    superseded_by: Supersession | None = None     # the re-plan that took over from this plan file (module doc)

    def __post_init__(self) -> None:
        _whole_number(self.planned_fractions, "planned number of fractions", 1)
        object.__setattr__(self, "dose_per_fraction_gy",
                           _positive_finite(self.dose_per_fraction_gy, "dose per fraction (Gy)"))
        object.__setattr__(self, "planned_dwell_time_s",
                           _positive_finite(self.planned_dwell_time_s, "planned dwell time per fraction (s)"))
        _whole_number(self.max_gap_days, "longest acceptable gap (days)", 1)
        if self.min_interval_hours is not None:
            object.__setattr__(self, "min_interval_hours",
                               _positive_finite(self.min_interval_hours, "minimum interval between fractions (h)"))
        if not isinstance(self.schedule_source, str):
            raise CourseError(f"schedule source must be text, got {self.schedule_source!r}")
        if not isinstance(self.records, tuple) or not all(isinstance(r, FractionRecord) for r in self.records):
            raise CourseError("records must be a tuple of FractionRecord")
        if len(self.records) > self.planned_fractions:
            raise CourseError(f"{len(self.records)} fractions recorded but only {self.planned_fractions} planned")
        for i, r in enumerate(self.records, start=1):
            if r.number != i:
                raise CourseError(f"fraction records must be numbered 1, 2, 3, …: record {i} is numbered {r.number}")
            if i > 1 and r.delivered_on < self.records[i - 2].delivered_on:
                raise CourseError(f"fraction {i} ({r.delivered_on.isoformat()}) is dated before fraction {i - 1} "
                                  f"({self.records[i - 2].delivered_on.isoformat()})")
        self._check_sessions()
        if self.decision is not None and not isinstance(self.decision, TreatmentDecision):
            raise CourseError(f"the decision must be a TreatmentDecision, got {self.decision!r}")
        self._check_phases()

    def _check_phases(self) -> None:
        if not isinstance(self.rt_plan_uid, str):
            raise CourseError(f"the course's RT Plan UID must be text, got {self.rt_plan_uid!r}")
        if not isinstance(self.later_phases, tuple) or not all(isinstance(p, CoursePhase) for p in self.later_phases):
            raise CourseError("later phases must be a tuple of CoursePhase")
        previous = 1
        for phase in self.later_phases:
            if phase.first_fraction <= previous:
                raise CourseError(f"a re-plan from fraction {phase.first_fraction} must start after fraction "
                                  f"{previous}, where the phase before it starts")
            if phase.last_fraction != self.planned_fractions:
                raise CourseError(f"the re-plan from fraction {phase.first_fraction} plans {phase.fractions} "
                                  f"fraction(s), the course has {self.planned_fractions - phase.first_fraction + 1} "
                                  f"left of {self.planned_fractions}: a re-plan takes over the remaining fractions")
            if phase.started_on is None:
                raise CourseError(f"the re-plan from fraction {phase.first_fraction} needs the date it was made")
            previous = phase.first_fraction
        superseded = self.superseded_by
        if superseded is not None:
            if not isinstance(superseded, Supersession):
                raise CourseError(f"superseded_by must be a Supersession, got {superseded!r}")
            if superseded.first_fraction != len(self.records) + 1:
                raise CourseError(f"a course re-planned from fraction {superseded.first_fraction} holds fractions 1 "
                                  f"to {superseded.first_fraction - 1} here, not {len(self.records)}")

    def _check_sessions(self) -> None:
        if not isinstance(self.sessions, tuple) or not all(isinstance(s, ImagingSession) for s in self.sessions):
            raise CourseError("sessions must be a tuple of ImagingSession")
        keys = [s.when.order_key for s in self.sessions]
        if keys != sorted(keys):
            raise CourseError("imaging sessions must be in course order (baseline, before/after each fraction, "
                              "follow-up)")
        for s, t in zip(self.sessions, self.sessions[1:]):
            if s.when == t.when:
                raise CourseError(f"two imaging sessions at {s.when.label}: a place on the timeline holds one")
        for s in self.sessions:
            self._check_within(s.when)

    def _check_within(self, when) -> None:
        if when.fraction is not None and when.fraction > self.planned_fractions:
            raise CourseError(f"an imaging session {when.label} is beyond the course: only "
                              f"{self.planned_fractions} fraction(s) are planned")

    def check_place(self, when) -> None:
        """Refuse (CourseError) a place on the timeline the course cannot take: before or after a fraction
        beyond the planned ones, or one that already holds an image. Callers check before loading an image."""
        self._check_within(when)
        taken = next((s for s in self.sessions if s.when == when), None)
        if taken is not None:
            raise CourseError(f"the course already holds an image at {when.label} "
                              f"({taken.acquired_on.isoformat()}, {taken.image_path})")

    # ------------------------------------------------------------------------------------- recording

    def record(self, delivered_on: date, dwell_time_s: float, delivered_by: str, remarks: str = "", *,
               today: date | None = None) -> "Course":
        """A new Course with the next fraction recorded; refuses one beyond the plan or out of date order."""
        if self.superseded_by is not None:
            raise CourseError(f"{self.superseded_by.refusal}: record the fraction there")
        number = len(self.records) + 1
        if number > self.planned_fractions:
            raise CourseError(f"all {self.planned_fractions} planned fractions are already recorded; "
                              f"a further fraction needs a new prescription")
        new = FractionRecord(number, delivered_on, dwell_time_s, delivered_by, remarks, today=today)
        return replace(self, records=self.records + (new,))

    def with_session(self, session: ImagingSession, *, today: date | None = None,
                     confirm_date: bool = False) -> "Course":
        """A new Course with the imaging session added in timeline order. A session at a place the course
        already holds, or before/after a fraction beyond the planned ones, is refused (CourseError); one
        dated in the future or before the baseline raises SessionDateQuestion unless ``confirm_date``."""
        if not isinstance(session, ImagingSession):
            raise CourseError(f"an imaging session is expected, got {session!r}")
        self.check_place(session.when)
        if not confirm_date:
            now = date.today() if today is None else _plain_date(today, "today")
            when, on = session.when.label, session.acquired_on.isoformat()
            if session.acquired_on > now:
                raise SessionDateQuestion(f"the image at {when} is dated {on}, after today ({now.isoformat()}): "
                                          f"is the date right?")
            baseline = next((s for s in self.sessions if s.when.kind == "baseline"), None)
            if baseline is not None and session.acquired_on < baseline.acquired_on:
                raise SessionDateQuestion(f"the image at {when} is dated {on}, before the baseline "
                                          f"({baseline.acquired_on.isoformat()}): is the date right?")
            if session.when.kind == "baseline":
                earlier = next((s for s in self.sessions if s.acquired_on < session.acquired_on), None)
                if earlier is not None:
                    raise SessionDateQuestion(f"the baseline is dated {on}, after the image at {earlier.when.label} "
                                              f"({earlier.acquired_on.isoformat()}): is the date right?")
        sessions = tuple(sorted(self.sessions + (session,), key=lambda s: s.when.order_key))
        return replace(self, sessions=sessions)

    def with_decision(self, decision: TreatmentDecision | None) -> "Course":
        """A new Course with the decision with the patient recorded (replacing any earlier one; None clears it)."""
        return replace(self, decision=decision)

    # ------------------------------------------------------------------------------------- phases

    @property
    def phases(self) -> tuple[CoursePhase, ...]:
        """The first phase (the course's own fields) and each re-plan, each spanning the fractions up to the next."""
        first = CoursePhase(self.rt_plan_uid, 1, self.planned_fractions, self.dose_per_fraction_gy,
                            self.planned_dwell_time_s)
        listed = (first, *self.later_phases)
        return tuple(replace(p, fractions=n.first_fraction - p.first_fraction) for p, n in zip(listed, listed[1:])) \
            + (listed[-1],)

    @property
    def current_phase(self) -> CoursePhase:
        """The phase the remaining fractions are delivered under (the latest re-plan, else the first)."""
        return self.phases[-1]

    def phase_at(self, number: int) -> CoursePhase:
        """The phase fraction ``number`` belongs to."""
        return next(p for p in reversed(self.phases) if p.first_fraction <= number)

    def replanned(self, current_rt_plan_uid: str, phase: CoursePhase) -> "Course":
        """A new Course whose remaining fractions are delivered under ``phase``, re-planned from the plan whose RT
        Plan is ``current_rt_plan_uid`` (which becomes the first phase's UID if none was recorded). Refused
        (CourseError): as check_replannable, or a phase that does not start at the next fraction."""
        self.check_replannable(current_rt_plan_uid)
        if phase.first_fraction != self.delivered_fractions + 1:
            raise CourseError(f"the re-plan starts at fraction {phase.first_fraction}, the next fraction to give is "
                              f"{self.delivered_fractions + 1}")
        first_uid = self.rt_plan_uid or (current_rt_plan_uid if not self.later_phases else "")
        return replace(self, rt_plan_uid=first_uid, later_phases=self.later_phases + (phase,))

    def check_replannable(self, current_rt_plan_uid: str) -> None:
        """Refuse (CourseError) a re-plan of a complete course, of one not yet under way, or from a plan (RT Plan
        ``current_rt_plan_uid``) that is not the one the course's latest fractions are delivered under, or of a
        plan file already superseded by a re-plan."""
        if self.superseded_by is not None:
            raise CourseError(f"{self.superseded_by.refusal}: re-plan from there")
        if self.complete:
            raise CourseError(f"all {self.planned_fractions} fractions of the course are delivered: there is nothing "
                              f"left to re-plan")
        if not self.records:
            raise CourseError("no fraction has been delivered yet: change the plan itself, a re-plan is for the "
                              "remaining fractions of a course under way")
        current = self.current_phase
        if current.rt_plan_uid and current.rt_plan_uid != current_rt_plan_uid:
            raise CourseError(f"fractions from {current.first_fraction} on are delivered under RT Plan "
                              f"{current.rt_plan_uid}, not under this plan's {current_rt_plan_uid}: re-plan from the "
                              f"plan in use")

    def with_current_rt_plan_uid(self, rt_plan_uid: str) -> "Course":
        """The course with the RT Plan UID of its latest re-plan filled in, once the revision is written."""
        if not self.later_phases or self.later_phases[-1].rt_plan_uid:
            raise CourseError("only a re-plan whose RT Plan is not yet recorded takes its UID")
        return replace(self, later_phases=self.later_phases[:-1] + (replace(self.later_phases[-1],
                                                                               rt_plan_uid=rt_plan_uid),))

    def superseded(self, rt_plan_uid: str, folder: str) -> "Course":
        """This course marked as taken over from the next fraction by the re-plan of RT Plan ``rt_plan_uid`` in
        ``folder`` (module doc); refused as check_replannable refuses."""
        if self.superseded_by is not None:
            raise CourseError(f"{self.superseded_by.refusal}: it is not superseded twice")
        return replace(self, superseded_by=Supersession(rt_plan_uid, folder, self.delivered_fractions + 1))

    # ------------------------------------------------------------------------------------- dose

    @property
    def delivered_fractions(self) -> int:
        return len(self.records)

    @property
    def planned_dose_gy(self) -> float:
        """What the phases prescribe: each phase's dose per fraction times its fractions."""
        return sum(p.dose_per_fraction_gy * p.fractions for p in self.phases)

    def fraction_dose_gy(self, record: FractionRecord) -> float:
        """Dose of one fraction: D_fx × delivered / planned time of its phase (dose ∝ beam-on time; module doc)."""
        phase = self.phase_at(record.number)
        return phase.dose_per_fraction_gy * record.dwell_time_s / phase.planned_time_s

    @property
    def delivered_dose_gy(self) -> float:
        return sum(self.fraction_dose_gy(r) for r in self.records)

    @property
    def remaining_dose_gy(self) -> float:
        """The fractions still to give, each at its phase's dose per fraction."""
        return sum(self._remaining_fraction_doses_gy())

    @property
    def course_dose_gy(self) -> float:
        """Delivered plus remaining: the course's dose if the remaining fractions are given as planned."""
        return self.delivered_dose_gy + self.remaining_dose_gy

    def _remaining_fraction_doses_gy(self) -> tuple[float, ...]:
        return tuple(self.phase_at(n).dose_per_fraction_gy
                     for n in range(self.delivered_fractions + 1, self.planned_fractions + 1))

    def course_bed_gy(self, alpha_beta_gy: float) -> float:
        """BED of the whole course: Σ d_i (1 + d_i/(α/β)) over the delivered fractions (their actual doses) and
        the remaining ones (as planned)."""
        doses = [self.fraction_dose_gy(r) for r in self.records] + list(self._remaining_fraction_doses_gy())
        return sum(bed_gy(Prescription(d, 1), alpha_beta_gy) for d in doses)

    def course_eqd2_gy(self, alpha_beta_gy: float) -> float:
        """EQD2 of the whole course: BED / (1 + 2/(α/β))."""
        return self.course_bed_gy(alpha_beta_gy) / (1.0 + 2.0 / alpha_beta_gy)

    @property
    def complete(self) -> bool:
        return len(self.records) == self.planned_fractions

    # ------------------------------------------------------------------------------------- read-outs
    # The Course tab and the report show the course with these, so both say the same.

    def summary(self) -> str:
        status = "complete" if self.complete else f"{self.planned_fractions - self.delivered_fractions} to give"
        if self.later_phases:
            parts = ", then ".join(f"{p.fractions} × {p.dose_per_fraction_gy:g} Gy ({p.planned_time_s:.1f} s each"
                                   + ("" if p.started_on is None else f", re-planned {p.started_on.isoformat()}")
                                   + ")" for p in self.phases)
            planned = f"Planned {self.planned_dose_gy:.2f} Gy in {self.planned_fractions} fractions: {parts}."
        else:
            planned = (f"Planned {self.planned_dose_gy:.2f} Gy in {self.planned_fractions} × "
                       f"{self.dose_per_fraction_gy:g} Gy ({self.planned_dwell_time_s:.1f} s each).")
        return (f"{planned} Delivered {self.delivered_dose_gy:.2f} Gy in {self.delivered_fractions} fraction(s); "
                f"remaining {self.remaining_dose_gy:.2f} Gy ({status}).")

    def table_rows(self) -> tuple[tuple[str, ...], ...]:
        """One row per recorded fraction, in the order of ``course_columns``."""
        return tuple((str(r.number), r.delivered_on.isoformat(), f"{r.dwell_time_s:.1f}",
                      f"{self.fraction_dose_gy(r):.2f}", r.delivered_by, r.remarks) for r in self.records)

    def flags(self, prescription, planned_time_s: float | None, today: date) -> tuple[str, ...]:
        """The schedule's findings, and where the plan as it is now no longer matches the course's current phase
        (the plan of a re-planned course prescribes its remaining fractions): another prescription, or a planned
        time that moved by more than PLANNED_TIME_TOLERANCE_S."""
        flags = [f.message for f in self.gaps(today=today)]
        phase = self.current_phase
        if prescription.dose_per_fraction_gy != phase.dose_per_fraction_gy or prescription.fractions != phase.fractions:
            flags.append(f"the plan's prescription ({prescription.fractions} × {prescription.dose_per_fraction_gy:g} "
                         f"Gy) differs from the course's ({phase.fractions} × {phase.dose_per_fraction_gy:g} Gy)")
        if planned_time_s is not None and abs(planned_time_s - phase.planned_time_s) > PLANNED_TIME_TOLERANCE_S:
            flags.append(f"the plan now needs {planned_time_s:.1f} s per fraction; the course was started with "
                         f"{phase.planned_time_s:.1f} s (the delivered doses use the course's time)")
        return tuple(flags)

    # ------------------------------------------------------------------------------------- schedule

    def gaps(self, today: date | None = None) -> tuple[ScheduleFinding, ...]:
        """Gaps longer than max_gap_days and, if a minimum interval is set, fractions closer than it."""
        findings: list[ScheduleFinding] = []
        for a, b in zip(self.records, self.records[1:]):
            days = (b.delivered_on - a.delivered_on).days
            if days > self.max_gap_days:
                findings.append(ScheduleFinding(
                    "gap", a.number, b.number, days,
                    f"{days} days between fraction {a.number} ({a.delivered_on.isoformat()}) and fraction "
                    f"{b.number} ({b.delivered_on.isoformat()}): longer than the {self.max_gap_days}-day limit"))
            if self.min_interval_hours is not None:
                findings.extend(self._interval_finding(a, b, days))
        if today is not None and self.records and not self.complete:
            last = self.records[-1]
            days = (_plain_date(today, "today") - last.delivered_on).days
            if days > self.max_gap_days:
                findings.append(ScheduleFinding(
                    "waiting", last.number, None, days,
                    f"{days} days since fraction {last.number} ({last.delivered_on.isoformat()}) with "
                    f"{self.planned_fractions - last.number} fraction(s) still to give: longer than the "
                    f"{self.max_gap_days}-day limit"))
        return tuple(findings)

    def _interval_finding(self, a: FractionRecord, b: FractionRecord, days: int) -> list[ScheduleFinding]:
        need = self.min_interval_hours
        source = f" ({self.schedule_source})" if self.schedule_source else ""
        longest = 24.0 * days + 24.0     # dates only: the true interval lies in (24d − 24 h, 24d + 24 h)
        shortest = max(0.0, 24.0 * days - 24.0)
        pair = (f"fractions {a.number} ({a.delivered_on.isoformat()}) and {b.number} "
                f"({b.delivered_on.isoformat()})")
        if longest <= need:
            return [ScheduleFinding("too close", a.number, b.number, days,
                                    f"{pair} are less than {need:g} h apart; the schedule requires at least "
                                    f"{need:g} h{source}")]
        if shortest < need:
            return [ScheduleFinding("interval not verifiable", a.number, b.number, days,
                                    f"{pair} are {days} calendar days apart: whether they are at least {need:g} h "
                                    f"apart{source} cannot be told from dates alone — check the delivery times")]
        return []


# ------------------------------------------------------------------------------------- JSON


def course_columns(time_name: str) -> tuple[str, ...]:
    """The course table's columns, the time headed in the technique's word ("Dwell time (s)")."""
    time_name = time_name.strip() or "time"
    return ("Fraction", "Delivered on", f"{time_name[0].upper()}{time_name[1:]} (s)", "Dose (Gy)", "Delivered by",
            "Remarks")


def _written_version(course: Course) -> int:
    """The oldest version that holds everything the course has (module constants: older Planners refuse, never drop)."""
    if course.rt_plan_uid or course.later_phases or course.superseded_by is not None:
        return COURSE_FORMAT_VERSION
    return VERSION_WITHOUT_DECISION if course.decision is None else VERSION_WITH_DECISION


def course_to_dict(course: Course) -> dict[str, Any]:
    version = _written_version(course)
    return {
        "format": COURSE_FORMAT,
        "version": version,
        "planned_fractions": course.planned_fractions,
        "dose_per_fraction_gy": course.dose_per_fraction_gy,
        "planned_dwell_time_s": course.planned_dwell_time_s,
        "max_gap_days": course.max_gap_days,
        "min_interval_hours": course.min_interval_hours,
        "schedule_source": course.schedule_source,
        "records": [{"number": r.number, "delivered_on": r.delivered_on.isoformat(), "dwell_time_s": r.dwell_time_s,
                     "delivered_by": r.delivered_by, "remarks": r.remarks} for r in course.records],
        "sessions": [session_to_dict(s) for s in course.sessions],
        **({} if course.decision is None else {"decision": _decision_to_dict(course.decision)}),
        **({} if version < COURSE_FORMAT_VERSION else {
            "rt_plan_uid": course.rt_plan_uid,
            "later_phases": [{"rt_plan_uid": p.rt_plan_uid, "first_fraction": p.first_fraction,
                              "fractions": p.fractions, "dose_per_fraction_gy": p.dose_per_fraction_gy,
                              "planned_time_s": p.planned_time_s, "reason": p.reason,
                              "started_on": p.started_on.isoformat()} for p in course.later_phases]}),
        **({} if course.superseded_by is None else {"superseded_by": _supersession_to_dict(course.superseded_by)}),
    }


def _supersession_to_dict(superseded: Supersession) -> dict[str, Any]:
    return {"rt_plan_uid": superseded.rt_plan_uid, "folder": superseded.folder,
            "first_fraction": superseded.first_fraction}


_SUPERSESSION_KEYS = ("rt_plan_uid", "folder", "first_fraction")


def _supersession_from_dict(raw: Any) -> Supersession | None:
    if raw is None:
        return None
    _json_object(raw, "the course's superseded_by", _SUPERSESSION_KEYS)
    return Supersession(raw["rt_plan_uid"], raw["folder"], raw["first_fraction"])


def _decision_to_dict(decision: TreatmentDecision) -> dict[str, Any]:
    return {"chosen_regimen": decision.chosen_regimen, "preferences": decision.preferences,
            "decided_on": decision.decided_on.isoformat(), "decided_by": decision.decided_by}


_DECISION_KEYS = ("chosen_regimen", "preferences", "decided_on", "decided_by")


def _json_object(raw: Any, what: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """``raw`` if it is a JSON object holding ``keys``; else CourseError naming ``what`` and the keys missing."""
    if not isinstance(raw, dict):
        raise CourseError(f"{what} must be a JSON object, got {type(raw).__name__}")
    missing = [k for k in keys if k not in raw]
    if missing:
        raise CourseError(f"{what} is missing {', '.join(missing)}")
    return raw


def _decision_from_dict(raw: Any) -> TreatmentDecision | None:
    if raw is None:
        return None
    _json_object(raw, "the course's decision", _DECISION_KEYS)
    return TreatmentDecision(raw["chosen_regimen"], raw["preferences"], _decision_date(raw["decided_on"]),
                             raw["decided_by"])


def _iso_date(text: Any, what: str) -> date:
    if isinstance(text, str):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise CourseError(f"{what} must be an ISO date (YYYY-MM-DD), got {text!r}")


def _decision_date(text: Any) -> date:
    return _iso_date(text, "the course's decision: its date")


_PHASE_KEYS = ("rt_plan_uid", "first_fraction", "fractions", "dose_per_fraction_gy", "planned_time_s", "reason",
               "started_on")


def _phases_from_dict(raw: Any) -> tuple[CoursePhase, ...]:
    if not isinstance(raw, list):
        raise CourseError(f"the course's later phases must be a list, got {type(raw).__name__}")
    phases = []
    for i, item in enumerate(raw, start=1):
        _json_object(item, f"re-plan {i}", _PHASE_KEYS)
        phases.append(CoursePhase(item["rt_plan_uid"], item["first_fraction"], item["fractions"],
                                  item["dose_per_fraction_gy"], item["planned_time_s"], item["reason"],
                                  _iso_date(item["started_on"], f"re-plan {i}: its date")))
    return tuple(phases)


_COURSE_KEYS = ("planned_fractions", "dose_per_fraction_gy", "planned_dwell_time_s", "max_gap_days", "records")
_RECORD_KEYS = ("number", "delivered_on", "dwell_time_s", "delivered_by")


def course_from_dict(data: Any, *, today: date | None = None) -> Course:
    """Inverse of course_to_dict; every problem raises CourseError naming the field (and record) at fault."""
    if not isinstance(data, dict):
        raise CourseError(f"a course must be a JSON object, got {type(data).__name__}")
    if data.get("format") != COURSE_FORMAT:
        raise CourseError(f"not a course file: format is {data.get('format')!r}, expected {COURSE_FORMAT!r}")
    if data.get("version") not in READABLE_COURSE_VERSIONS:
        raise CourseError(f"course format version {data.get('version')!r} is not supported "
                          f"(this program reads versions {', '.join(map(str, READABLE_COURSE_VERSIONS))})")
    missing = [k for k in _COURSE_KEYS if k not in data]
    if missing:
        raise CourseError(f"course is missing {', '.join(missing)}")
    if not isinstance(data["records"], list):
        raise CourseError(f"course records must be a list, got {type(data['records']).__name__}")
    records = []
    for i, raw in enumerate(data["records"], start=1):
        _json_object(raw, f"record {i}", _RECORD_KEYS)
        text = raw["delivered_on"]
        try:
            if not isinstance(text, str):
                raise TypeError
            delivered_on = date.fromisoformat(text)
        except (TypeError, ValueError):
            raise CourseError(f"record {i}: delivery date must be an ISO date (YYYY-MM-DD), got {text!r}") from None
        try:
            records.append(FractionRecord(raw["number"], delivered_on, raw["dwell_time_s"], raw["delivered_by"],
                                          raw.get("remarks", ""), today=today))
        except CourseError as e:
            raise CourseError(f"record {i}: {e}") from None
    raw_sessions = data.get("sessions", []) if data["version"] >= 2 else []
    if not isinstance(raw_sessions, list):
        raise CourseError(f"course sessions must be a list, got {type(raw_sessions).__name__}")
    try:
        sessions = tuple(session_from_dict(raw, i) for i, raw in enumerate(raw_sessions, start=1))
    except SessionError as e:
        raise CourseError(str(e)) from None
    decision = _decision_from_dict(data.get("decision")) if data["version"] >= 3 else None
    phased = data["version"] >= 4
    return Course(data["planned_fractions"], data["dose_per_fraction_gy"], data["planned_dwell_time_s"],
                  data["max_gap_days"], tuple(records), data.get("min_interval_hours"),
                  data.get("schedule_source", "") or "", sessions, decision,
                  data.get("rt_plan_uid", "") if phased else "",
                  _phases_from_dict(data.get("later_phases", [])) if phased else (),
                  _supersession_from_dict(data.get("superseded_by")) if phased else None)
