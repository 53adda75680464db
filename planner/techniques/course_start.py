"""A plan's treatment course started the one way, for the window's Course tab and `planner course start`."""

from __future__ import annotations

from planner.core.course import Course
from planner.core.plan import Plan
from planner.techniques.interface import Technique


def start_course(plan: Plan, technique: Technique, planned_time_s: float, max_gap_days: int) -> Course:
    """The course of the plan's prescription: fractions and dose per fraction as prescribed, the planned beam-on
    time per fraction (rounded to 0.1 s, what a timer shows), and the minimum interval of the technique's
    published regimen that matches the prescription, with its source (none if no regimen matches).
    Raises CourseError on an impossible value."""
    rx = plan.prescription
    preset = next((p for p in technique.fractionation_presets
                   if p.fractions == rx.fractions and abs(p.dose_per_fraction_gy - rx.dose_per_fraction_gy) < 1e-9),
                  None)
    return Course(rx.fractions, rx.dose_per_fraction_gy, round(planned_time_s, 1), max_gap_days,
                  min_interval_hours=None if preset is None else preset.min_interval_hours,
                  schedule_source="" if preset is None else preset.source)
