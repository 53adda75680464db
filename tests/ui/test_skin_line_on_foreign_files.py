"""The skin line on ultrasound files other software wrote (pydicom's examples), in the real window:
calibrated by hand as a user does (neither file carries a scale Planner can use), the linear scan's
line is taken and lies on the row marked by hand (tests/data/skin_reference/rgb_color.json); the
curved-array scan's arc is shown in doubt, nothing is measured from it, and a line drawn by the user
replaces it in one undo step."""

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pydicom.data import get_testdata_file

from tests.ui.test_image_tools import click_mm, open_and_wait

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "skin_reference"
PIXELS_BETWEEN_CLICKS = 100.0
MM_PER_PIXEL = 0.1                       # the 10 mm the scripted user types, over 100 pixels


def calibrate_by_hand(window):
    """Image ▸ Calibrate by Hand as its tool ends it: a line 100 pixels long, "10" mm typed. (The clicks
    themselves are tested in test_image_tools; here the scale must be exact, whatever the view's zoom.)"""
    window.ask_text = lambda title, question: "10"
    window.calibrate_with_line((50.0, 20.0), (50.0 + PIXELS_BETWEEN_CLICKS, 20.0))
    assert window.document.plan.manual_calibration.mm_per_pixel == pytest.approx(MM_PER_PIXEL, rel=1e-12)


def findings(window) -> str:
    return window.metrics_panel.dose_panel.findings_label.text()


def test_the_linear_scan_s_skin_line_is_taken_on_the_row_marked_by_hand(window, qtbot):
    w = window
    open_and_wait(w, qtbot, get_testdata_file("examples_rgb_color.dcm"))
    calibrate_by_hand(w)
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=60000)
    skin = w.document.plan.skin_surface
    assert skin.confirmed and not w.view.skin_shows_doubt
    assert "skin line not confirmed" not in findings(w)
    reference = json.loads((REFERENCE / "rgb_color.json").read_text())
    columns, rows = np.array(reference["skin_line_px"], dtype=float).T
    mm = w.document.plan.manual_calibration.mm_per_pixel
    # the plan's line (the detector's, simplified to editable points) within 2 pixels of the marked row
    assert np.max(np.abs(skin.depth_at(columns * mm) - rows * mm)) <= 2 * mm


def test_the_curved_array_s_arc_is_in_doubt_until_the_user_draws_the_line(window, qtbot):
    w = window
    open_and_wait(w, qtbot, get_testdata_file("examples_palette.dcm"))
    calibrate_by_hand(w)
    qtbot.waitUntil(lambda: not w.runner.busy and w.dose.last_result is not None, timeout=60000)
    plan = w.document.plan
    assert not plan.skin_surface.confirmed and "the line is an arc" in plan.skin_surface.doubts[0]
    assert w.view.skin_shows_doubt and w.view.skin_doubt_label.isVisible()
    # an outline drawn in the fan: its depth is not measured from the arc
    w.draw_outline_action.trigger()
    for x, y in ((44.0, 14.0), (48.0, 14.0), (48.0, 16.0), (44.0, 16.0)):
        click_mm(w, x, y)
    QTest.keyClick(w.view.viewport(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=60000)
    assert w.document.plan.outline is not None
    assert w.metrics_panel.depth_label.text() == "skin line not confirmed"
    assert "Refused: skin line not confirmed (the line is an arc" in findings(w)
    assert w.dose.last_result.dose_grid_gy is None and w.dose.last_result.treatment_time_min is None

    # Draw Skin Line: three clicks left to right across the top of the fan (mm), then Enter
    w.draw_skin_action.trigger()
    points = [(38.0, 9.0), (46.0, 10.0), (56.0, 8.5)]
    for x, y in points:
        click_mm(w, x, y)
    QTest.keyClick(w.view.viewport(), Qt.Key.Key_Return)
    drawn = w.document.plan.skin_surface
    assert drawn.confirmed and len(drawn.points_mm) == 3
    assert np.allclose(drawn.points_mm, points, atol=0.2)             # a click lands within a screen pixel
    assert not w.view.skin_shows_doubt and "skin line not confirmed" not in findings(w)
    # measured from the drawn line now: by hand, the deepest outline vertex below the line drawn straight
    # between its points (the skin line is straight between the clicks at 46 and 56 mm, so along the
    # outline's bottom edge the depth is largest at a corner)
    xs, ys = zip(*drawn.points_mm)
    depth = max(y - np.interp(x, xs, ys) for x, y in w.document.plan.outline.vertices_mm)
    assert w.metrics_panel.depth_label.text() == f"{depth:.2f} mm"
    w.undo_action.trigger()                                          # one undo step: the arc in doubt again
    assert w.document.plan.skin_surface == plan.skin_surface and w.view.skin_shows_doubt
