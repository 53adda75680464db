"""Issue 13, point 4 in the window: an entry the plan does not use says why beside the field, and the
dose panel shows no number until it is corrected; an implausible regimen is refused or confirmed."""

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel

from planner.techniques.beam_lookup import beam_key

# A dose or a time as the dose panel prints them ("18.00 Gy", "11.47 min").
DOSE_OR_TIME = re.compile(r"\d\s*(Gy|min)\b")


def type_into(field, text: str) -> None:
    line = field.line_edit
    line.setFocus()
    line.selectAll()
    QTest.keyClicks(line, text)
    QTest.keyClick(line, Qt.Key.Key_Return)


def visible_texts(widget) -> list[str]:
    return [label.text() for label in widget.findChildren(QLabel) if label.isVisibleTo(widget) and label.text()]


def numbers_shown(panel) -> list[str]:
    """Every visible dose-panel text holding a dose or a time, the reason it shows aside."""
    return [t for t in visible_texts(panel) if DOSE_OR_TIME.search(t) and not t.startswith("not computed")]


def wcag_contrast(a: QColor, b: QColor) -> float:
    """WCAG 2.x contrast ratio (https://www.w3.org/TR/WCAG21/#dfn-contrast-ratio)."""

    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def wait_for_dose_shown(window, qtbot):
    panel = window.metrics_panel.dose_panel
    qtbot.waitUntil(lambda: not window.runner.busy and window.dose.last_result is not None, timeout=60000)
    return panel


@pytest.mark.parametrize("typed, reason", [
    ("-5", "a dose must be above 0 Gy, not -5 Gy"),
    ("abc", "“abc” is not a number of Gy"),
    ("1e6", "“1e6” is scientific notation: type a plain number of Gy, e.g. 18 or 4.5"),
    ("nan", "“nan” is not a number of Gy"),
])
def test_a_dose_the_plan_cannot_take_says_why_beside_the_field_and_blanks_the_dose(demo_window, qtbot, typed, reason):
    w = demo_window
    panel = wait_for_dose_shown(w, qtbot)
    before = w.document.plan.prescription
    assert numbers_shown(panel)  # the demo's dose is on screen to begin with

    field = w.plan_panel.dose_per_fraction
    type_into(field, typed)
    assert w.document.plan.prescription == before
    assert field.line_edit.text() == typed  # never clamped
    label = field.problem_label
    assert label.isVisibleTo(w) and label.wordWrap()
    assert label.text() == f"Not used: {reason}"
    assert f"not computed: dose per fraction: {reason}" in visible_texts(panel)
    assert numbers_shown(panel) == []
    assert w.plan_panel.total_label.text() == "not computed: an entry above is not used"

    type_into(field, "20")  # a published regimen: 20 Gy × 1
    assert w.document.plan.prescription.total_dose_gy == 20.0
    assert not label.isVisibleTo(w) and field.problem is None
    assert not any(t.startswith("not computed") for t in visible_texts(panel))
    assert w.dose.last_result.prescribed_dose_gy == 20.0
    assert panel.time_label.text().startswith(f"{w.dose.last_result.treatment_time_min:.2f} min")
    assert w.plan_panel.total_label.text() == "20 Gy"


def test_the_reason_is_readable_on_the_panel(demo_window):
    field = demo_window.plan_panel.fractions
    type_into(field, "none")
    background = demo_window.plan_panel.palette().color(QPalette.ColorRole.Window)
    colour = QColor(re.search(r"color:\s*(#[0-9a-fA-F]{6})", field.problem_label.styleSheet()).group(1))
    assert wcag_contrast(colour, background) >= 4.5
    assert field.problem_label.text() == "Not used: “none” is not a whole number of fractions"


def test_150_gy_in_one_fraction_is_refused_without_a_question(demo_window, qtbot):
    w = demo_window
    panel = wait_for_dose_shown(w, qtbot)
    before = w.document.plan.prescription
    asked = []
    w.ask_user = lambda title, text, choices: asked.append(title) or "Use it"
    type_into(w.plan_panel.dose_per_fraction, "150")
    assert asked == [] and w.document.plan.prescription == before
    reason = ("150 Gy in 1 × 150 Gy is refused: more than 100 Gy in total to the skin is outside physical sense "
              "for any surface technique")
    assert w.plan_panel.dose_per_fraction.problem_label.text() == f"Not used: {reason}"
    assert f"not computed: dose per fraction: {reason}" in visible_texts(panel)
    assert numbers_shown(panel) == []


def test_a_regimen_outside_the_published_range_is_asked_and_cancel_keeps_the_previous_one(demo_window, qtbot):
    w = demo_window
    panel = wait_for_dose_shown(w, qtbot)
    before = w.document.plan.prescription
    shown_time = panel.time_label.text()
    asked = []
    w.ask_user = lambda title, text, choices: asked.append((title, text, choices)) or "Cancel"
    type_into(w.plan_panel.fractions, "12")  # 18 Gy × 12 = 216 Gy: refused outright, nothing asked
    assert asked == []
    type_into(w.plan_panel.fractions, "2")   # 36 Gy, BED10 100.8 Gy: above the kV presets' 50.4–65.25 Gy
    assert len(asked) == 1
    title, text, choices = asked[0]
    assert title == "Unusual prescription" and choices == ("Use it", "Cancel")
    assert text.startswith("36 Gy in 2 × 18 Gy is outside the published regimens of Superficial kV X-rays")
    assert "BED10 100.8 Gy is above 50.4–65.2 Gy" in text and text.endswith("Use this regimen anyway?")
    assert w.document.plan.prescription == before
    assert w.plan_panel.fractions.line_edit.text() == "1" and w.plan_panel.fractions.problem is None
    assert panel.time_label.text() == shown_time and numbers_shown(panel)


def test_a_beam_data_result_arriving_late_does_not_show_while_an_entry_is_invalid(demo_window, qtbot):
    w = demo_window
    panel = wait_for_dose_shown(w, qtbot)
    plan = w.document.plan
    key = beam_key(w.registry.get(plan.setup.technique_id), plan)
    w.dose.forget_beam(*key)
    w.dose.update()  # the beam data are fetched again, off the GUI thread
    assert w.runner.busy
    type_into(w.plan_panel.dose_per_fraction, "abc")
    assert w.runner.busy  # its result has not been delivered yet
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=60000)
    qtbot.wait(20)  # the idle runner's queued update
    assert "not computed: dose per fraction: “abc” is not a number of Gy" in visible_texts(panel)
    assert numbers_shown(panel) == [] and w.dose.last_result is None
    type_into(w.plan_panel.dose_per_fraction, "18")
    assert w.dose.last_result is not None and numbers_shown(panel)


def test_the_prescription_point_says_percent_of_dmax(demo_window):
    combo = demo_window.plan_panel.point_combo
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "to the 90 % isodose (% of Dmax)", "at a stated depth on the beam axis", "at the surface (Dmax)"]
    assert demo_window.plan_panel.point_value.unit_label.text() == "% of Dmax"
