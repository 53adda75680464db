"""The options for the decision with the patient: the published regimens of the plan's technique side by side.

Issue 17, point 7. For each of the technique's ``fractionation_presets`` (FractionationPreset: fractions,
dose per fraction, minimum interval, source) one ``TreatmentOption``:

* visits: one visit a fraction;
* weeks of treatment: from the schedule the preset itself states, in its label or its source ("twice
  weekly", "daily", ...: SCHEDULE_WORDINGS). 8 fractions twice weekly = ceil(8 / 2) = 4 weeks. A preset
  that states no schedule has its weeks "not stated" — never guessed, not even from its minimum interval
  (48 h apart allows two or three visits a week). One fraction is one visit on one day;
* time per visit: the beam-on (dwell) time per fraction for THIS lesion and plan, computed by the caller with
  the technique's dose engine on ``regimen_plan(plan, preset)`` (the plan with that regimen's dose per
  fraction, the same prescription point) and passed in. It is the time the beam is on, not the length of
  the visit (setting up takes longer);
* BED and EQD2 (planner.core.radiobiology, linear-quadratic, no time factor) at the α/β the app uses:
  10 Gy for the tumour and 3 Gy for late skin effects (ALPHA_BETA_SOURCE);
* whether this plan covers the lesion. Every option is prescribed at the plan's own prescription point (the
  surface, a depth, or an isodose), so on the same setup the dose everywhere is the same fraction of Dmax for
  every option: the lesion's deepest point lies inside the prescription isodose for all of them or for none.
  Only the dose per visit (and so the time) changes. The coverage sentence comes from the caller's dose
  (planner.dose.coverage.Coverage.sentence() of the plan as it is), as the window and report print it.

Pure Python; no NumPy. The options sheet (planner.report.options_sheet) prints these rows.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Mapping, Sequence

from planner.core.errors import PlannerError
from planner.core.plan import Plan
from planner.core.prescription import Prescription
from planner.core.radiobiology import ALPHA_BETA_LATE_SKIN_GY, ALPHA_BETA_TUMOUR_GY, BiologicalDose, biological_doses
from planner.core.treatment_unit import FractionationPreset

# The α/β values and where they come from, as planner.core.radiobiology states them.
ALPHA_BETA_SOURCE = (
    f"α/β {ALPHA_BETA_TUMOUR_GY:g} Gy for the tumour: the convention of the ASTRO BED10 ranges and of "
    f"Delishaj et al., J Contemp Brachytherapy 7(6):437–444, 2015, whose printed BEDs it reproduces; "
    f"α/β {ALPHA_BETA_LATE_SKIN_GY:g} Gy for late skin effects: the usual linear-quadratic convention (no "
    f"skin-specific source was found; shared/reference/physics-data.md §4.2). BED = n·d·(1 + d/(α/β)), "
    f"EQD2 = BED / (1 + 2 Gy/(α/β)), no time factor.")

# How often a regimen is given, as a preset's own words say it, with the visits a week they mean. Only these
# wordings are read; any other preset's weeks are "not stated". "Daily" is each treatment day: Rook's Table 79.1
# example gives 35 Gy in "five fractions over 5 days" (shared/reference/physics-data.md §4.1); weeks are counted
# at 5 treatment days a week (for the shipped 5 and 10 daily fractions, 1 and 2 weeks, as with 7 days a week).
SCHEDULE_WORDINGS: tuple[tuple[str, int], ...] = (
    ("three times weekly", 3), ("three times a week", 3),
    ("twice weekly", 2), ("twice a week", 2), ("two times a week", 2),
    ("once weekly", 1), ("once a week", 1),
    ("daily", 5),
)

NOT_STATED = "not stated"


class OptionsError(PlannerError, ValueError):
    """Options that cannot be set side by side as given; the message says which regimen and why."""


@dataclass(frozen=True)
class Schedule:
    """A regimen's schedule as its source states it: the wording ("" when none) and visits a week."""

    wording: str
    visits_per_week: int | None


def stated_schedule(preset: FractionationPreset) -> Schedule:
    """The schedule the preset's label or source states (SCHEDULE_WORDINGS); none when it states none, or
    when its words name two different schedules."""
    text = f"{preset.label} {preset.source}".lower()
    found: dict[int, str] = {}
    for wording, per_week in SCHEDULE_WORDINGS:
        if re.search(rf"(?<![\w-]){re.escape(wording)}(?![\w-])", text) and per_week not in found:
            found[per_week] = wording
    if len(found) != 1:
        return Schedule("", None)
    (per_week, wording), = found.items()
    return Schedule(wording, per_week)


def regimen_prescription(plan: Plan, preset: FractionationPreset) -> Prescription:
    """The regimen's prescription at the plan's own prescription point: what the caller's dose engine computes
    the time per visit from (the coverage is the plan's, module doc)."""
    return Prescription(preset.dose_per_fraction_gy, preset.fractions, plan.prescription.point)


def regimen_plan(plan: Plan, preset: FractionationPreset) -> Plan:
    """The plan with the regimen's dose per fraction and number of fractions, everything else as it is."""
    return plan.with_prescription(regimen_prescription(plan, preset))


def is_plan_regimen(plan: Plan, preset: FractionationPreset) -> bool:
    rx = plan.prescription
    return rx.fractions == preset.fractions and math.isclose(rx.dose_per_fraction_gy, preset.dose_per_fraction_gy,
                                                             rel_tol=0.0, abs_tol=1e-9)


def gy_text(value_gy: float) -> str:
    """A BED or EQD2 as the sheet prints it: one decimal, halves rounded up as by hand (65.25 → "65.3 Gy");
    binary floating point would print some halves down (65.25 → 65.2)."""
    exact = Decimal(repr(round(value_gy, 9)))
    return f"{exact.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} Gy"


def about_time_text(minutes: float) -> str:
    """A beam-on time in plain words: "about 2 minutes", "about 40 seconds"."""
    seconds = minutes * 60.0
    if seconds < 5.0:
        return "a few seconds"
    if seconds < 90.0:
        return f"about {max(10, 10 * math.floor(seconds / 10.0 + 0.5))} seconds"    # halves up, as by hand
    return f"about {math.floor(minutes + 0.5)} minutes"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class TreatmentOption:
    """One published regimen for this plan, with what it means for the patient."""

    letter: str                              # "A", "B", ...: how the patient and physician name it
    label: str                               # the preset's label, e.g. "40 Gy / 8 × 5 Gy (twice weekly, ≥ 48 h apart)"
    source: str                              # the preset's published source
    fractions: int
    dose_per_fraction_gy: float
    schedule: Schedule
    min_interval_hours: float | None
    beam_on_time_min: float | None           # per visit, for this lesion and plan; None: see time_unavailable_reason
    time_unavailable_reason: str
    biological: tuple[BiologicalDose, ...]   # α/β 10 Gy, then 3 Gy
    covered: bool | None                     # the plan's coverage (the same for every option); None: not judged
    is_plan_regimen: bool                    # the plan is prescribed this regimen now

    @property
    def name(self) -> str:
        """"Option A: 40 Gy / 8 × 5 Gy (twice weekly, ≥ 48 h apart)"."""
        return f"Option {self.letter}: {self.label}"

    @property
    def visits(self) -> int:
        return self.fractions

    @property
    def total_dose_gy(self) -> float:
        return self.fractions * self.dose_per_fraction_gy

    @property
    def weeks(self) -> int | None:
        """Weeks of treatment from the stated schedule (None: one visit, or no schedule stated)."""
        if self.fractions == 1 or self.schedule.visits_per_week is None:
            return None
        return math.ceil(self.fractions / self.schedule.visits_per_week)

    @property
    def weeks_text(self) -> str:
        if self.fractions == 1:
            return "one day (a single visit)"
        if self.weeks is None:
            return NOT_STATED
        return f"{_plural(self.weeks, 'week')} ({self.schedule.wording})"

    @property
    def interval_text(self) -> str:
        if self.min_interval_hours is None:
            return ""
        return f"at least {self.min_interval_hours:g} h between visits"

    @property
    def time_text(self) -> str:
        """The time per visit in plain words, or why there is none."""
        if self.beam_on_time_min is None:
            return f"time not available: {self.time_unavailable_reason}"
        return f"{about_time_text(self.beam_on_time_min)} of treatment"

    def biological_dose(self, alpha_beta_gy: float) -> BiologicalDose:
        found = next((b for b in self.biological if b.alpha_beta_gy == alpha_beta_gy), None)
        if found is None:
            raise OptionsError(f"{self.name}: no BED at α/β {alpha_beta_gy:g} Gy "
                               f"(computed at {', '.join(f'{b.alpha_beta_gy:g}' for b in self.biological)} Gy)")
        return found

    @property
    def covers(self) -> str:
        """Whether the plan covers the lesion at this regimen: "yes", "no" or "not judged" (the plan's coverage)."""
        return "not judged" if self.covered is None else "yes" if self.covered else "no"

    @property
    def plain_text(self) -> str:
        """The option in a sentence: "8 visits over 4 weeks, about 2 minutes of treatment each"."""
        if self.fractions == 1:
            when = "1 visit"
        elif self.weeks is None:
            when = f"{_plural(self.fractions, 'visit')} (over how many weeks is not stated by the source)"
        else:
            when = f"{_plural(self.fractions, 'visit')} over {_plural(self.weeks, 'week')}"
        if self.beam_on_time_min is None:
            return f"{when}; {self.time_text}"
        return f"{when}, {self.time_text}{'' if self.fractions == 1 else ' each'}"


@dataclass(frozen=True)
class TreatmentOptions:
    """The technique's published regimens for one plan, and the coverage they share."""

    technique_name: str
    time_name: str                       # "treatment time" (kV) or "dwell time" (eBx), as the dose engine says
    prescribed: str                      # the plan's prescription point in words, e.g. "to the 90 % isodose"
    plan_regimen: str                    # the plan's prescription now, e.g. "18 Gy × 1"
    coverage_text: str                   # the plan's coverage sentence (planner.dose.coverage), from the caller
    covered: bool | None
    options: tuple[TreatmentOption, ...]

    @property
    def plan_regimen_is_published(self) -> bool:
        return any(o.is_plan_regimen for o in self.options)

    @property
    def coverage_words(self) -> str:
        """The coverage in plain words, for the patient."""
        if self.covered is None:
            return "Whether the plan covers the lesion is not judged yet."
        if self.covered:
            return "The plan reaches the deepest part of the lesion with the prescribed dose, with every option."
        return "The plan does NOT reach the deepest part of the lesion with the prescribed dose, with any option."

    @property
    def coverage_note(self) -> str:
        """Why one coverage serves every option."""
        return (f"Every option is prescribed {self.prescribed}, as this plan is, with the same beam: the dose "
                f"falls off with depth in the same proportion for each, so the plan covers the lesion equally "
                f"for all of them. Only the dose per visit and the time change.")

    def option(self, letter: str) -> TreatmentOption:
        found = next((o for o in self.options if o.letter == letter), None)
        if found is None:
            raise OptionsError(f"no option {letter!r} (options {', '.join(o.letter for o in self.options)})")
        return found


def treatment_options(plan: Plan, technique_name: str, presets: Sequence[FractionationPreset],
                      beam_on_time_min: Mapping[FractionationPreset, float | str], *, coverage_text: str,
                      covered: bool | None, time_name: str = "treatment time") -> TreatmentOptions:
    """The options sheet's rows for ``plan``. ``presets``: the technique's ``fractionation_presets``, in order.

    ``beam_on_time_min``: for each preset, the beam-on time per fraction (min) the technique's dose engine
    computes for ``regimen_plan(plan, preset)``, or the reason (text) it has none, e.g. the engine's
    ``treatment_time_reason``. ``coverage_text`` and ``covered``: the plan's coverage (``Coverage.sentence()``
    and ``.covered``; None when not judged, with the reason as the text). OptionsError when a value is missing
    or impossible."""
    if not presets:
        raise OptionsError(f"{technique_name} offers no published regimen to choose from")
    if len(presets) > 26:
        raise OptionsError(f"{technique_name} offers {len(presets)} regimens; the sheet names at most 26 (A to Z)")
    if not isinstance(coverage_text, str) or not coverage_text.strip():
        raise OptionsError("the plan's coverage of the lesion is required (the coverage sentence, or why there is none)")
    if covered not in (True, False, None):
        raise OptionsError(f"covered must be True, False or None, got {covered!r}")
    options = []
    for i, preset in enumerate(presets):
        if preset not in beam_on_time_min:
            raise OptionsError(f"no time per visit given for {preset.label} (a number of minutes, or why there is none)")
        time = beam_on_time_min[preset]
        minutes, reason = None, ""
        if isinstance(time, str):
            if not time.strip():
                raise OptionsError(f"{preset.label}: the reason there is no time per visit is empty")
            reason = time.strip()
        elif isinstance(time, bool) or not isinstance(time, (int, float)) or not math.isfinite(time) or time <= 0:
            raise OptionsError(f"{preset.label}: the time per visit must be a positive number of minutes, got {time!r}")
        else:
            minutes = float(time)
        options.append(TreatmentOption(
            letter=chr(ord("A") + i), label=preset.label, source=preset.source, fractions=preset.fractions,
            dose_per_fraction_gy=preset.dose_per_fraction_gy, schedule=stated_schedule(preset),
            min_interval_hours=preset.min_interval_hours, beam_on_time_min=minutes, time_unavailable_reason=reason,
            biological=biological_doses(regimen_prescription(plan, preset)), covered=covered,
            is_plan_regimen=is_plan_regimen(plan, preset)))
    rx = plan.prescription
    return TreatmentOptions(technique_name=technique_name, time_name=time_name, prescribed=rx.point.describe(),
                            plan_regimen=f"{rx.dose_per_fraction_gy:g} Gy × {rx.fractions}",
                            coverage_text=coverage_text.strip(), covered=covered, options=tuple(options))
