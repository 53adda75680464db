"""Issue 3 in the window: drawing, editing and proposing outlines, calibration, cine, window/level."""

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pydicom.data import get_testdata_file

from tests.ui.gui_driver import drag



def click_mm(window, x_mm, y_mm, double=False):
    pos = window.view.mm_to_widget(x_mm, y_mm)
    viewport = window.view.viewport()
    QTest.mouseMove(viewport, pos)  # a hand hovers before it clicks; pyqtgraph routes clicks by hover
    if double:
        QTest.mouseDClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    else:
        QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)


def open_and_wait(window, qtbot, path):
    assert window.open_image_file(str(path))
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=20000)
    assert window.document.planning_image is not None and window.document.planning_image.image.source_path == str(path), \
        window.last_problem


def test_drawing_a_new_outline_by_clicks_then_undo(demo_window, qtbot):
    w = demo_window
    before = w.document.plan.outline
    w.draw_outline_action.trigger()
    points = [(-6.0, 2.0), (-2.0, 2.0), (-2.0, 4.0), (-6.0, 4.0)]
    for x, y in points:
        click_mm(w, x, y)
        qtbot.wait(5)
    QTest.keyClick(w.view, Qt.Key.Key_Return)
    drawn = w.document.plan.outline
    assert drawn != before
    np.testing.assert_allclose(drawn.vertices_mm, points, atol=0.1)  # within a widget pixel in mm
    assert w.metrics_panel.width_label.text() == f"{drawn.lateral_width_mm:.2f} mm"
    w.undo_action.trigger()
    assert w.document.plan.outline == before


def test_escape_cancels_drawing_and_changes_nothing(demo_window, qtbot):
    w = demo_window
    before = w.document.plan
    w.draw_outline_action.trigger()
    click_mm(w, -6.0, 2.0)
    QTest.keyClick(w.view, Qt.Key.Key_Escape)
    assert w.view.click_tool is None and w.document.plan == before


def test_clicking_a_segment_adds_a_vertex_and_removing_one_is_undoable(demo_window, qtbot):
    w = demo_window
    outline = w.document.plan.outline
    v = np.array(outline.vertices_mm)
    lengths = np.hypot(*(np.roll(v, -1, axis=0) - v).T)
    longest = int(np.argmax(lengths))  # the lower border: far from the skin line and from other vertices
    (x1, y1), (x2, y2) = v[longest], v[(longest + 1) % len(v)]
    click_mm(w, (x1 + x2) / 2, (y1 + y2) / 2)
    added = w.document.plan.outline
    assert len(added.vertices_mm) == len(outline.vertices_mm) + 1
    x, y = added.vertices_mm[3]
    pos = w.view.mm_to_widget(x, y)
    QTest.mouseMove(w.view.viewport(), pos)  # hover first, as a hand does
    QTest.mouseClick(w.view.viewport(), Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, pos)
    removed = w.document.plan.outline
    assert len(removed.vertices_mm) == len(outline.vertices_mm)
    assert (x, y) not in removed.vertices_mm
    w.undo_action.trigger()
    assert w.document.plan.outline == added
    w.undo_action.trigger()
    assert w.document.plan.outline == outline


def test_a_click_inside_the_lesion_proposes_an_outline_to_edit(demo_window, qtbot):
    w = demo_window
    truth_depth = float(w.metrics_panel.depth_label.text().split()[0])
    w.propose_outline_action.trigger()
    click_mm(w, 0.0, 2.2)
    proposed = w.document.plan.outline
    assert w.last_problem is None
    assert proposed.max_depth_below_skin_mm(w.document.plan.skin_surface.depth_at) == pytest.approx(truth_depth, abs=0.3)
    w.undo_action.trigger()
    assert w.document.plan.outline != proposed


def test_dragging_the_skin_surface_is_an_undoable_edit_that_moves_the_depth_readout(demo_window, qtbot):
    w = demo_window
    skin = w.document.plan.skin_surface
    # A skin point lateral to the lesion (the lesion's own top edge lies on the skin).
    index = int(np.argmin([abs(x + 7.0) for x, _ in skin.points_mm]))
    x, y = skin.points_mm[index]
    start = w.view.mm_to_widget(x, y)
    up = w.view.mm_to_widget(x, y - 0.5)
    drag(w, start, up)
    moved = w.document.plan.skin_surface
    assert moved != skin and moved.points_mm[index][1] == pytest.approx(y - 0.5, abs=0.05)
    assert moved.points_mm[index][0] == pytest.approx(x, abs=0.05)
    expected = w.document.plan.outline.max_depth_below_skin_mm(moved.depth_at)
    assert w.metrics_panel.depth_label.text() == f"{expected:.2f} mm"
    w.undo_action.trigger()
    assert w.document.plan.skin_surface == skin


def test_an_image_without_a_scale_is_shown_in_pixels_and_calibrated_by_hand(window, qtbot, tmp_path):
    w = window
    png = tmp_path / "photo.png"
    Image.fromarray((np.arange(200 * 300) % 251).reshape(200, 300).astype(np.uint8)).save(png)
    open_and_wait(w, qtbot, png)
    assert w.view.getPlotItem().getAxis("bottom").labelUnits == "pixels"
    assert not w.draw_outline_action.isEnabled()
    assert "none" in w.calibration_label.text()

    w.ask_text = lambda title, question: "10"
    w.calibrate_action.trigger()
    click_mm(w, 50.0, 100.0)  # the view is in pixels before calibration
    click_mm(w, 250.0, 100.0)
    plan = w.document.plan
    assert plan.manual_calibration is not None
    assert plan.manual_calibration.mm_per_pixel == pytest.approx(10.0 / 200.0, rel=0.02)
    assert w.view.getPlotItem().getAxis("bottom").labelUnits == "mm"
    assert w.draw_outline_action.isEnabled()
    assert "user calibration" in w.calibration_label.text()
    w.undo_action.trigger()
    assert w.document.plan.manual_calibration is None
    assert w.view.getPlotItem().getAxis("bottom").labelUnits == "pixels"


def test_a_bad_calibration_distance_is_refused_with_a_message(window, qtbot, tmp_path):
    w = window
    png = tmp_path / "photo.png"
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(png)
    open_and_wait(w, qtbot, png)
    w.ask_text = lambda title, question: "ten"
    w.calibrate_action.trigger()
    click_mm(w, 10.0, 50.0)
    click_mm(w, 90.0, 50.0)
    assert w.document.plan.manual_calibration is None
    assert "not a number of mm" in w.last_problem


def test_a_colour_cine_loop_gets_a_frame_slider_and_plays(window, qtbot):
    w = window
    path = get_testdata_file("examples_ybr_color.dcm")
    open_and_wait(w, qtbot, path)
    controls = w.image_controls
    assert controls.frame_slider.isVisible() and controls.frame_slider.maximum() == 29
    assert not controls.window_slider.isVisible()  # window/level is for greyscale images
    first = w.view.image_item.image.copy()
    controls.play_button.click()
    qtbot.waitUntil(lambda: controls.frame_slider.value() >= 2, timeout=3000)
    controls.play_button.click()
    assert not controls.playing
    assert not np.array_equal(w.view.image_item.image, first)
    assert controls.frame_label.text().startswith(f"frame {controls.frame_slider.value() + 1}/30")


def test_window_and_level_change_the_display_levels_only(demo_window):
    w = demo_window
    plan = w.document.plan
    w.image_controls.window_slider.setValue(100)
    w.image_controls.level_slider.setValue(120)
    assert tuple(w.view.image_item.getLevels()) == pytest.approx((70.0, 170.0))
    assert w.document.plan == plan  # display settings are not plan edits


def test_the_caliper_measures_in_mm(demo_window):
    w = demo_window
    w.caliper_action.trigger()
    caliper = w.view.caliper
    (x1, y1), (x2, y2) = caliper.endpoints_mm()
    assert caliper.length_mm == pytest.approx(np.hypot(x2 - x1, y2 - y1))
    assert caliper.label.textItem.toPlainText() == f"{caliper.length_mm:.2f} mm"
    w.caliper_action.trigger()
    assert w.view.caliper is None
