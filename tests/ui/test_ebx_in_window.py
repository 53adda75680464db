"""Issue 5 in the window: the demo plan switched to surface eBx shows a dwell time and the dose at depth."""

import numpy as np
import pytest

from planner.dose.kv_dose import pdd_percent_at
from tests.ui.gui_driver import choose_in_combo

EBX = "Electronic brachytherapy, surface applicators (HDR eBx)"


def wait_for_dose(window, qtbot):
    qtbot.waitUntil(lambda: not window.runner.busy and window.dose.last_result is not None, timeout=120000)
    return window.dose.last_result


def test_the_demo_switched_to_ebx_shows_the_dwell_time_and_the_dose_at_the_prescription_depth(demo_window, qtbot):
    w = demo_window
    kv = wait_for_dose(w, qtbot)
    choose_in_combo(w.plan_panel.technique_combo, EBX)
    plan = w.document.plan
    assert plan.setup.technique_id == "ebx-surface"
    assert plan.prescription.point.mode == "depth" and plan.prescription.point.depth_mm == 3.0
    assert plan.outline is not None  # the lesion stays when the technique changes
    choose_in_combo(w.plan_panel.applicator_combo, "Ø 20 mm")
    assert w.document.plan.setup.applicator_id == "applicator-20mm"

    result = wait_for_dose(w, qtbot)
    assert result is not kv and result.time_name == "dwell time"
    panel = w.metrics_panel.dose_panel
    # Read what the physician reads.
    assert panel.form.labelForField(panel.time_label).text() == "Dwell time per fraction"
    dwell_text = panel.time_label.text()
    dose_text = panel.rx_dose_label.text()
    # Hand calculation from the commissioned numbers (demo file: 3.3 Gy/min at 3 mm, end effect 0):
    # prescribed at the reference depth, so t = D_rx / Ḋ_ref = 5 Gy / 3.3 Gy/min.
    technique = w.registry.get("ebx-surface")
    entry = technique.commissioning_for("esteya-class").entry("69.5kV", "applicator-20mm")
    expected_min = 5.0 / entry.reference_dose_rate_gy_per_min.value + entry.timer_end_effect_min.value
    assert dwell_text == f"{expected_min:.2f} min ({expected_min * 60:.0f} s)"
    assert dose_text == "5.00 Gy at 3.00 mm"
    assert "DEMO commissioning" in panel.findings_label.text()
    assert "eBx applicator model" in panel.model_label.text()

    # The dose on the image: at 3 mm below the skin on the applicator's axis the grid holds 5 Gy.
    skin = w.document.plan.skin_surface
    axis = result.cone_axis_x_mm
    col = int(np.argmin(np.abs(result.x_mm - axis)))
    row = int(np.argmin(np.abs(result.y_mm - (skin.depth_at(result.x_mm[col]) + 3.0))))
    assert float(result.dose_grid_gy[row, col]) == pytest.approx(5.0, rel=0.02)
    # Surface dose = D_rx · 100 / PDD(3 mm) of this applicator's beam data.
    beam = technique.dose_engine.beam_data(*_key(technique, w.document.plan))
    assert result.surface_dose_gy == pytest.approx(5.0 * 100 / pdd_percent_at(beam.pdd, 3.0), rel=1e-6)
    # The isodose that receives the prescription (PDD(3 mm) % of Dmax, not a fixed level) is drawn apart.
    assert result.prescription_isodose_percent == pytest.approx(pdd_percent_at(beam.pdd, 3.0))
    xs, _ = w.view.dose_overlay.line_points(result.prescription_isodose_percent)
    assert len(xs) > 0

    w.undo_action.trigger()
    w.undo_action.trigger()
    assert w.document.plan.setup.technique_id == "superficial-kv"
    back = wait_for_dose(w, qtbot)
    assert back.time_name == "treatment time"
    assert panel.form.labelForField(panel.time_label).text() == "Treatment time per fraction"


def _key(technique, plan):
    from planner.techniques.beam_lookup import beam_key

    return beam_key(technique, plan)
