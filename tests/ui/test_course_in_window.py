"""Issue 5: fractions recorded one by one in the window; planned versus delivered dose; schedule flags."""

from datetime import date, timedelta

import pytest
from PySide6.QtCore import QDate

from tests.ui.gui_driver import choose_in_combo
from tests.ui.test_ebx_in_window import EBX, wait_for_dose


def set_date(edit, day: date) -> None:
    edit.setDate(QDate(day.year, day.month, day.day))


def test_fractions_are_recorded_one_by_one_with_planned_versus_delivered_and_gaps(demo_window, qtbot):
    w = demo_window
    wait_for_dose(w, qtbot)
    choose_in_combo(w.plan_panel.technique_combo, EBX)
    choose_in_combo(w.plan_panel.applicator_combo, "Ø 20 mm")
    result = wait_for_dose(w, qtbot)
    assert result.time_name == "dwell time" and result.treatment_time_min is not None
    panel = w.course_panel
    assert panel.start_box.isVisibleTo(panel) and not panel.record_box.isVisibleTo(panel)

    panel.start_button.click()
    course = w.document.plan.course
    planned_s = round(result.treatment_time_min * 60, 1)
    assert course.planned_dwell_time_s == planned_s
    assert (course.planned_fractions, course.dose_per_fraction_gy) == (8, 5.0)
    assert course.min_interval_hours == 48.0          # the 40 Gy / 8 × 5 Gy schedule: ≥ 48 h apart
    assert panel.record_box.isVisibleTo(panel)
    assert panel.time_edit.text() == f"{planned_s:.1f}"

    start = date.today() - timedelta(days=12)
    # Fraction 1 as planned.
    set_date(panel.date_edit, start)
    qtbot.keyClicks(panel.delivered_by, "RTT A. Smith")
    panel.record_button.click()
    assert w.document.plan.course.delivered_fractions == 1
    assert panel.table.item(0, 3).text() == "5.00"
    assert "Delivered 5.00 Gy in 1 fraction(s)" in panel.summary_label.text()

    # Fraction 2 the next day, interrupted at half the dwell time.
    set_date(panel.date_edit, start + timedelta(days=1))
    panel.time_edit.setText(f"{planned_s / 2:.2f}")
    qtbot.keyClicks(panel.remarks, "interrupted: patient moved")
    panel.record_button.click()
    course = w.document.plan.course
    assert course.delivered_fractions == 2
    assert course.delivered_dose_gy == pytest.approx(7.5, abs=0.01)
    assert panel.table.item(1, 5).text() == "interrupted: patient moved"
    assert "less than 48 h apart" in panel.flags_label.text()

    # Fraction 3 eleven days later: a gap longer than the schedule allows.
    set_date(panel.date_edit, start + timedelta(days=12))
    panel.record_button.click()
    assert w.document.plan.course.delivered_fractions == 3
    assert "longer than the 7-day limit" in panel.flags_label.text()
    planned_x, planned_y = panel.planned_curve.getData()
    delivered_x, delivered_y = panel.delivered_curve.getData()
    assert list(planned_x) == list(range(9)) and planned_y[-1] == pytest.approx(40.0)
    assert list(delivered_x) == [0, 1, 2, 3] and delivered_y[-1] == pytest.approx(12.5, abs=0.01)

    # Bad input: nobody named, a date before the last fraction → a message; what was typed stays.
    panel.delivered_by.clear()
    qtbot.keyClicks(panel.remarks, "kept")
    panel.record_button.click()
    assert w.document.plan.course.delivered_fractions == 3
    assert "name of whoever delivered it is required" in panel.problem_label.text()
    assert panel.remarks.text() == "kept"
    qtbot.keyClicks(panel.delivered_by, "RTT B. Jones")
    set_date(panel.date_edit, start)
    panel.record_button.click()
    assert "dated before fraction 3" in panel.problem_label.text()
    assert w.document.plan.course.delivered_fractions == 3

    # Every record is an undo step.
    w.undo_action.trigger()
    assert w.document.plan.course.delivered_fractions == 2
    assert panel.table.rowCount() == 2
    w.redo_action.trigger()
    assert w.document.plan.course.delivered_fractions == 3


def test_the_fraction_axis_counts_whole_fractions(demo_window, qtbot):
    """The demo's course is one fraction: its axis reads 0 and 1, never 0.2, 0.4, ... of a fraction."""
    from planner.ui.course_panel import fraction_ticks

    assert fraction_ticks(1) == [(0, "0"), (1, "1")]
    assert [k for k, _ in fraction_ticks(8)] == list(range(9))
    assert [k for k, _ in fraction_ticks(30)] == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    assert [k for k, _ in fraction_ticks(25)] == [0, 3, 6, 9, 12, 15, 18, 21, 24, 25]
    w = demo_window
    wait_for_dose(w, qtbot)
    assert w.document.plan.prescription.fractions == 1
    # what pyqtgraph draws when given fixed ticks (AxisItem.setTicks keeps them in _tickLevels)
    assert w.course_panel.plot.getAxis("bottom")._tickLevels == [[(0, "0"), (1, "1")]]
