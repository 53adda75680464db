"""Issue 13, point 1 in the window: a skin line in doubt is shown as such and no depth, dose or time
is taken from it until the user confirms it, draws it anew or drags it; each is one undo step, and
the line and its doubts are saved with the plan."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from planner.core.plan_file import load_plan
from planner.core.skin_surface import SkinSurface
from planner.imaging.planning_image import PlanningImage
from planner.ui.image_view import SKIN_COLOUR
from tests.ui.gui_driver import drag

DOUBT = "the line follows bright text burned into the image, not an entry echo"


def click_mm(window, x_mm, y_mm, double=False):
    """A click, or a double click as a mouse makes it: press, release, double-click, release
    (QTest.mouseDClick alone sends no release, so pyqtgraph would never report it)."""
    pos = window.view.mm_to_widget(x_mm, y_mm)
    viewport = window.view.viewport()
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QTest.mouseMove(viewport, pos)  # a hand hovers before it clicks; pyqtgraph routes clicks by hover
    QTest.mouseClick(viewport, left, none, pos)
    if double:
        QTest.mouseDClick(viewport, left, none, pos)
        QTest.mouseRelease(viewport, left, none, pos)


def one_widget_pixel_mm(window) -> float:
    """The larger of a widget pixel's width and height in mm: how close a click can place a point."""
    a, b = window.view.mm_to_widget(0.0, 0.0), window.view.mm_to_widget(1.0, 1.0)
    return 1.0 / min(abs(b.x() - a.x()), abs(b.y() - a.y()))


@pytest.fixture
def doubtful(demo_window, qtbot):
    """The demo image opened as an image whose detected skin line is in doubt (the detector's
    low-confidence answer, made here so the test does not depend on the detector's tuning)."""
    w = demo_window
    image, plan = w.document.planning_image.image, w.document.plan
    line = SkinSurface(plan.skin_surface.points_mm, (DOUBT,))
    w.document.open(PlanningImage(image, line), plan.with_skin_surface(line), saved=True)
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=60000)
    return w, line


def findings(window) -> str:
    return window.metrics_panel.dose_panel.findings_label.text()


def refused_for_doubt(window) -> bool:
    return f"Refused: skin line not confirmed ({DOUBT})" in findings(window)


def test_a_doubtful_line_is_dashed_labelled_and_measures_nothing(doubtful):
    w, line = doubtful
    assert w.view.skin_shows_doubt
    assert w.view.skin_doubt_label.textItem.toPlainText() == "skin line not confirmed"
    assert w.view.skin.pen.color() == SKIN_COLOUR
    assert w.metrics_panel.depth_label.text() == "skin line not confirmed"
    assert refused_for_doubt(w)
    assert w.dose.last_result.treatment_time_min is None and w.dose.last_result.dose_grid_gy is None
    assert not w.view.dose_overlay.legend.isVisible()  # no isodoses drawn
    assert w.confirm_skin_action.isEnabled() and w.draw_skin_action.isEnabled()
    assert not w.reset_skin_action.isEnabled()  # the plan's line is the detection


def test_confirming_gives_the_dose_and_undo_takes_it_back(doubtful):
    w, line = doubtful
    w.confirm_skin_action.trigger()
    plan = w.document.plan
    assert plan.skin_surface == SkinSurface(line.points_mm) and plan.skin_surface.confirmed
    assert w.undo_action.text() == "&Undo Confirm skin line"
    assert not w.view.skin_shows_doubt and not w.view.skin_doubt_label.isVisible()
    expected_depth = plan.outline.max_depth_below_skin_mm(plan.skin_surface.depth_at)
    assert w.metrics_panel.depth_label.text() == f"{expected_depth:.2f} mm"
    assert "skin line not confirmed" not in findings(w)
    time_min = w.dose.last_result.treatment_time_min
    assert time_min is not None and w.dose.last_result.dose_grid_gy is not None
    assert w.metrics_panel.dose_panel.time_label.text().startswith(f"{time_min:.2f} min")
    assert w.view.dose_overlay.legend.isVisible()  # isodoses drawn
    assert not w.confirm_skin_action.isEnabled() and w.reset_skin_action.isEnabled()

    w.undo_action.trigger()
    assert w.document.plan.skin_surface == line and w.document.plan.skin_surface.doubts == (DOUBT,)
    assert w.view.skin_shows_doubt and refused_for_doubt(w)
    assert w.metrics_panel.depth_label.text() == "skin line not confirmed"
    assert w.dose.last_result.treatment_time_min is None and not w.view.dose_overlay.legend.isVisible()
    w.redo_action.trigger()
    assert w.document.plan.skin_surface.confirmed and not refused_for_doubt(w)


def test_drawing_the_skin_line_by_clicks_places_those_points_and_confirms_it(doubtful, qtbot):
    w, line = doubtful
    w.draw_skin_action.trigger()
    assert w.view.click_tool is not None
    points = [(-9.0, 0.8), (-1.5, 1.2), (8.0, 0.9)]
    click_mm(w, *points[0])
    click_mm(w, *points[1])
    click_mm(w, -4.0, 1.0)  # left of the last point: not taken, and the status bar says why
    assert "left to right" in w.statusBar().currentMessage()
    click_mm(w, *points[2], double=True)  # a double click places the last point and ends the line
    assert w.view.click_tool is None
    drawn = w.document.plan.skin_surface
    assert drawn.doubts == () and len(drawn.points_mm) == 3
    np.testing.assert_allclose(drawn.points_mm, points, atol=one_widget_pixel_mm(w))
    assert w.undo_action.text() == "&Undo Draw skin line"
    assert not w.view.skin_shows_doubt and not refused_for_doubt(w)
    assert w.view.skin_vertices_mm() == list(drawn.points_mm)
    expected_depth = w.document.plan.outline.max_depth_below_skin_mm(drawn.depth_at)
    assert w.metrics_panel.depth_label.text() == f"{expected_depth:.2f} mm"

    w.undo_action.trigger()
    assert w.document.plan.skin_surface == line and w.view.skin_shows_doubt


def test_escape_or_a_single_point_draws_nothing(doubtful):
    w, line = doubtful
    before = w.document.plan
    w.draw_skin_action.trigger()
    click_mm(w, -9.0, 0.8)
    QTest.keyClick(w.view, Qt.Key.Key_Return)  # one point is not a line: the tool waits for another
    assert w.view.click_tool is not None and "at least 2 points" in w.statusBar().currentMessage()
    QTest.keyClick(w.view, Qt.Key.Key_Escape)
    assert w.view.click_tool is None and w.document.plan == before
    assert w.document.undo_stack.count() == 0


def test_enter_ends_a_drawn_line_and_reset_puts_the_detection_back(doubtful):
    w, line = doubtful
    w.draw_skin_action.trigger()
    click_mm(w, -9.0, 0.8)
    click_mm(w, 9.0, 1.0)
    QTest.keyClick(w.view, Qt.Key.Key_Return)
    drawn = w.document.plan.skin_surface
    assert len(drawn.points_mm) == 2 and drawn.confirmed
    assert w.reset_skin_action.isEnabled()

    w.reset_skin_action.trigger()
    assert w.document.plan.skin_surface == line and w.document.plan.skin_surface.doubts == (DOUBT,)
    assert w.undo_action.text() == "&Undo Reset skin line to detected"
    assert not w.reset_skin_action.isEnabled() and w.confirm_skin_action.isEnabled()
    assert w.view.skin_shows_doubt and refused_for_doubt(w)
    w.undo_action.trigger()
    assert w.document.plan.skin_surface == drawn
    assert w.document.undo_stack.count() == 2  # draw, reset: one step each


def test_dragging_a_doubtful_line_confirms_it_in_one_undo_step(doubtful):
    w, line = doubtful
    index = int(np.argmin([abs(x + 7.0) for x, _ in line.points_mm]))  # lateral to the lesion
    x, y = line.points_mm[index]
    drag(w, w.view.mm_to_widget(x, y), w.view.mm_to_widget(x, y - 0.5))
    moved = w.document.plan.skin_surface
    assert moved.doubts == ()
    assert moved.points_mm[index] == pytest.approx((x, y - 0.5), abs=one_widget_pixel_mm(w))
    assert w.undo_action.text() == "&Undo Move and confirm skin line"
    assert w.document.undo_stack.count() == 1
    assert not refused_for_doubt(w) and not w.view.skin_shows_doubt
    w.undo_action.trigger()
    assert w.document.plan.skin_surface == line and w.document.plan.skin_surface.doubts == (DOUBT,)


def test_the_doubtful_line_is_saved_and_reopened_with_its_doubts(doubtful, qtbot, tmp_path):
    w, line = doubtful
    path = tmp_path / "doubtful.plan.json"
    assert w._save_to(str(path))
    assert load_plan(path).skin_surface == line
    w.confirm_skin_action.trigger()  # an edit after saving, then reopen the saved file: doubts are back
    assert w.open_plan_file(str(path))
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=20000)
    reopened = w.document.plan.skin_surface
    assert reopened.points_mm == line.points_mm and reopened.doubts == (DOUBT,)
    assert w.view.skin_shows_doubt and w.metrics_panel.depth_label.text() == "skin line not confirmed"
    assert refused_for_doubt(w)


def test_on_an_image_scaled_by_hand_reset_gives_the_line_found_with_that_scale(window, qtbot, tmp_path):
    from PIL import Image

    w = window
    rng = np.random.default_rng(13)
    pixels = np.full((200, 300), 8, np.uint8)  # dark gel above the skin
    pixels[44:, :] = rng.integers(60, 160, size=(156, 300))  # speckled tissue below it
    pixels[40:44, :] = 230  # the entry echo across the image, 40 pixels down
    png = tmp_path / "scan.png"
    Image.fromarray(pixels).save(png)
    assert w.open_image_file(str(png))
    qtbot.waitUntil(lambda: not w.runner.busy, timeout=20000)
    assert w.document.plan.skin_surface is None and not w.draw_skin_action.isEnabled()  # no scale yet
    w.ask_text = lambda title, question: "10"
    w.calibrate_action.trigger()
    click_mm(w, 50.0, 100.0)  # the view is in pixels before calibration: 200 pixels are 10 mm
    click_mm(w, 250.0, 100.0)
    found = w.document.plan.skin_surface
    assert found is not None, "the calibration found no skin line on a bright band"
    assert w.draw_skin_action.isEnabled() and not w.reset_skin_action.isEnabled()
    w.draw_skin_action.trigger()
    click_mm(w, 2.0, 3.0)
    click_mm(w, 12.0, 3.0)
    QTest.keyClick(w.view, Qt.Key.Key_Return)
    assert w.document.plan.skin_surface != found and w.reset_skin_action.isEnabled()
    w.reset_skin_action.trigger()
    assert w.document.plan.skin_surface == found
