"""The fluence smoothness weight in the IMRT window: typed into the plan summary it is one undo
step that marks the dose stale, and after Optimise the summary says what delivering the plan takes
(segments, MU per fraction, against open fields), as the leaf-sequenced plan has it."""

import pytest
from PySide6.QtCore import Qt

from tests.ui.test_imrt_window import imrt, imrt_and_launcher, optimised  # noqa: F401 (fixtures)


def type_weight(qtbot, window, text: str) -> None:
    spin = window.summary.modulation_weight
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), text)
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)


def test_the_smoothness_weight_is_an_undoable_plan_edit(imrt, qtbot):
    window = imrt
    before = window.plan
    type_weight(qtbot, window, "250")
    assert window.plan.modulation_weight == 250.0
    assert window.plan.objectives == before.objectives  # nothing else changed
    assert window.document.undo_stack.undoText() == f"Fluence smoothness weight {before.modulation_weight:g} → 250"
    window.undo_action.trigger()
    assert window.plan == before
    assert window.summary.modulation_weight.value() == before.modulation_weight
    window.redo_action.trigger()
    assert window.plan.modulation_weight == 250.0


def test_the_summary_shows_the_segments_and_mu_of_the_optimised_plan(imrt, qtbot):
    window = imrt
    optimised(qtbot, window)
    deliverable = window.optimisation.deliverable
    mlc = deliverable.mlc_plan
    label = window.summary.delivery_label
    # the ratio shown is the two MU figures' ratio
    assert deliverable.modulation_factor == pytest.approx(
        mlc.total_mu_per_fraction / deliverable.open_field_mu_per_fraction)
    assert label.text() == (f"{sum(mlc.segment_counts)} segments, {mlc.total_mu_per_fraction:.0f} MU per fraction "
                            f"({deliverable.modulation_factor:.1f} × open fields)")
    tip = label.toolTip()   # the details: beams, the open fields' MU, the calibration, what was left out
    assert tip.startswith(f"{sum(mlc.segment_counts)} segments in {len(mlc.beams)} beams, ")
    assert f"{deliverable.modulation_factor:.1f} × the {deliverable.open_field_mu_per_fraction:.0f} MU" in tip
    assert "(DEMO calibration)" in tip
    type_weight(qtbot, window, "0")
    assert window.plan.modulation_weight == 0.0 and window.is_stale
    assert window.summary.delivery_label.text().startswith("⚠ of the previous optimisation: ")
