"""Issue 17, done when: a whole course in the main window — 5 fractions recorded on the Course tab, a
baseline, two images during the course and two at follow-up added through Course ▸ Add Course Image…;
the lesion shrinks, then regrows at follow-up beyond the clinic's threshold: the response plot, the
findings and the recurrence flag say so, and Edit ▸ Undo removes the last session.

The outlines are given as files (the dialog's Outline from File…): each lies along the skin line the
dialog shows, its top TOP_MM below the skin and its bottom DEPTH below it, over the lateral range of
the WIDTH set here; with a vertex at every point of the (piecewise-linear) skin line in that range the
deepest point is exactly DEPTH below the skin, the width exactly WIDTH and the area (DEPTH − TOP_MM) × WIDTH.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialog, QDockWidget

from planner.imaging.dicom_writer import write_ultrasound_dicom
from planner.imaging.synthetic import make_dermal_ultrasound
from planner.paths import config_dir
from tests.ui.gui_driver import choose_in_combo
from tests.ui.test_course_in_window import set_date
from tests.ui.test_ebx_in_window import wait_for_dose

TOP_MM = 0.1
CENTRE_MM = 0.0
THRESHOLD_PERCENT = 20
START = date.today() - timedelta(days=120)
FRACTIONS = tuple(START + timedelta(days=2 * k) for k in range(1, 6))          # 5 fractions, every other day
LAST = FRACTIONS[-1]
# (place, dialog's place text, number, date, depth below skin mm, width mm)
COURSE = (("baseline", "baseline", 0, START, 2.8, 9.0),
          ("after:2", "after fraction", 2, FRACTIONS[1], 2.0, 8.0),
          ("after:4", "after fraction", 4, FRACTIONS[3], 1.4, 6.0),
          ("followup:4", "follow-up week", 4, LAST + timedelta(weeks=4), 1.2, 5.0),
          ("followup:12", "follow-up week", 12, LAST + timedelta(weeks=12), 1.8, 7.0))


def outline_file(folder, name: str, skin_points, depth_mm: float, width_mm: float):
    """The outline along the shown skin line (see the module's docstring), as 'x_mm,y_mm' lines."""
    skin_x, skin_y = (np.array(v) for v in zip(*skin_points))
    left, right = CENTRE_MM - width_mm / 2, CENTRE_MM + width_mm / 2
    xs = [left, *[float(x) for x in skin_x if left < x < right], right]
    top = [(x, float(np.interp(x, skin_x, skin_y)) + TOP_MM) for x in xs]
    bottom = [(x, float(np.interp(x, skin_x, skin_y)) + depth_mm) for x in reversed(xs)]
    path = folder / f"{name}.csv"
    path.write_text("x_mm,y_mm\n" + "".join(f"{x!r},{y!r}\n" for x, y in top + bottom), encoding="utf-8")
    return str(path)


@pytest.fixture
def course_window(demo_window, qtbot, tmp_path):
    """The demo plan at 35 Gy / 5 × 7 Gy (a published kV regimen), its course started, 5 fractions recorded."""
    w = demo_window
    wait_for_dose(w, qtbot)
    choose_in_combo(w.plan_panel.preset_combo, "35 Gy / 5 × 7 Gy")
    result = wait_for_dose(w, qtbot)
    assert (w.document.plan.prescription.fractions, w.document.plan.prescription.dose_per_fraction_gy) == (5, 7.0)
    assert result.treatment_time_min is not None
    panel = w.course_panel
    panel.start_button.click()
    assert w.document.plan.course is not None
    assert panel.images_box.isVisibleTo(panel) and panel.sessions_label.text() == "None yet."
    for day in FRACTIONS:
        set_date(panel.date_edit, day)
        if not panel.delivered_by.text():
            qtbot.keyClicks(panel.delivered_by, "RTT A. Smith")
        panel.record_button.click()
    assert w.document.plan.course.delivered_fractions == 5 and w.document.plan.course.complete
    (config_dir() / "clinic.toml").parent.mkdir(parents=True, exist_ok=True)
    (config_dir() / "clinic.toml").write_text(f"recurrence_regrowth_percent = {THRESHOLD_PERCENT}\n",
                                              encoding="utf-8")
    return w


def image_file(folder, seed: int, name: str, patient_id: str) -> str:
    case = make_dermal_ultrasound(seed)
    return str(write_ultrasound_dicom(folder / f"us_{seed}.dcm", case.pixels_u8, case.calibration, name, patient_id))


def open_dialog(w, qtbot, place_text: str, number: int, image: str):
    """Course ▸ Add Course Image…, the place chosen, the image chosen in the file dialog (scripted) and loaded."""
    [menu] = [a.menu() for a in w.menuBar().actions() if a.text() == "&Course"]
    [action] = [a for a in menu.actions() if a.text() == "Add Course &Image…"]
    action.trigger()
    dialog = w.course_panel.image_dialog
    qtbot.waitExposed(dialog)
    choose_in_combo(dialog.place_combo, place_text)
    dialog.number_spin.setValue(number)
    w.choose_file_to_open = lambda title, file_filter: image
    dialog.choose_button.click()
    qtbot.waitUntil(lambda: not dialog.loading, timeout=30000)   # loaded in the dialog's worker
    return dialog


def add_session(w, qtbot, folder, seed: int, place_text: str, number: int, on: date, depth: float, width: float):
    plan = w.document.plan
    dialog = open_dialog(w, qtbot, place_text, number, image_file(folder, seed, plan.patient_name, plan.patient_id))
    assert dialog.loaded is not None, dialog.problem_label.text()
    assert dialog.add_button.isEnabled()
    # The outline along the skin line the dialog draws on the image, from a file.
    path = outline_file(folder, f"outline_{seed}", dialog.view.skin_vertices_mm(), depth, width)
    w.choose_file_to_open = lambda title, file_filter: path
    dialog.file_button.click()
    assert dialog.outline is not None, dialog.problem_label.text()
    written = [tuple(float(v) for v in line.split(",")) for line in open(path).read().splitlines()[1:]]
    shown = dialog.view.outline_vertices_mm()      # the file's outline is what the image shows
    assert np.allclose(np.array(shown, dtype=float), np.array(written), atol=1e-9, rtol=0)
    assert dialog.measure_label.text().startswith(
        f"Lesion: depth {depth:.2f} mm below the skin, width {width:.2f} mm, area {(depth - TOP_MM) * width:.2f} mm²")
    set_date(dialog.date_edit, on)
    dialog.add_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.problem_label.text()
    return dialog


def test_a_whole_course_shrinks_then_regrows_and_the_response_view_flags_the_recurrence(course_window, qtbot,
                                                                                        tmp_path):
    w = course_window
    view = w.response_view
    plan = w.document.plan

    # Another patient's image is refused when loaded, naming both identities; nothing is added.
    other = image_file(tmp_path, 99, "Roe^Richard", "P-999")
    dialog = open_dialog(w, qtbot, "baseline", 0, other)
    assert dialog.loaded is None and not dialog.add_button.isEnabled()
    text = dialog.problem_label.text()
    assert "'Roe^Richard' (ID 'P-999')" in text and f"{plan.patient_name!r} (ID {plan.patient_id!r})" in text
    dialog.reject()
    assert w.document.plan.course.sessions == ()

    for k, (when, place_text, number, on, depth, width) in enumerate(COURSE):
        if when == "followup:4":
            # A date in the future is asked about; the scripted user answers No: nothing is added.
            dialog = open_dialog(w, qtbot, place_text, number, image_file(tmp_path, 40, plan.patient_name,
                                                                          plan.patient_id))
            asked = []
            w.ask_user = lambda title, question, choices: asked.append((title, question, choices)) or "No"
            set_date(dialog.date_edit, date.today() + timedelta(days=3))
            dialog.add_button.click()
            assert asked == [("Course image date",
                              f"the image at follow-up week 4 is dated {date.today() + timedelta(days=3)}, after "
                              f"today ({date.today()}): is the date right? Add the image with this date?",
                              ("Yes", "No"))]
            assert dialog.isVisible() and "Not added: correct the date" in dialog.problem_label.text()
            assert len(w.document.plan.course.sessions) == 3
            dialog.reject()
        add_session(w, qtbot, tmp_path, 11 + k, place_text, number, on, depth, width)
        sessions = w.document.plan.course.sessions
        assert [s.when.text for s in sessions] == [c[0] for c in COURSE[:k + 1]]
        # The Response view follows each addition.
        assert list(view.depth_curve.getData()[1]) == pytest.approx([c[4] for c in COURSE[:k + 1]], abs=1e-9)

    # The plot: depth, width and area of each session at its date (hand numbers set above).
    assert list(view.depth_curve.getData()[1]) == pytest.approx([2.8, 2.0, 1.4, 1.2, 1.8], abs=1e-9)
    assert list(view.width_curve.getData()[1]) == pytest.approx([9.0, 8.0, 6.0, 5.0, 7.0], abs=1e-9)
    # (depth − 0.1) × width: 2.7 × 9, 1.9 × 8, 1.3 × 6, 1.1 × 5, 1.7 × 7
    assert list(view.area_curve.getData()[1]) == pytest.approx([24.3, 15.2, 7.8, 5.5, 11.9], abs=1e-9)
    assert view.fraction_dates == list(FRACTIONS)
    assert w.course_panel.sessions_label.text() == "; ".join(
        f"{label} ({on.isoformat()})" for label, on in
        zip(("baseline", "after fraction 2", "after fraction 4", "follow-up week 4", "follow-up week 12"),
            (c[3] for c in COURSE)))

    # The findings, computed by hand: change = (later − baseline) / baseline, rounded to whole percent.
    findings = view.findings_label.text()
    d = [c[3].isoformat() for c in COURSE]
    for line in (
            # (2.0−2.8)/2.8 = −28.6 %; (8−9)/9 = −11.1 %; (15.2−24.3)/24.3 = −37.4 %
            f"after fraction 2 ({d[1]}): depth 2.8 → 2.0 mm (−29 %), width 9.0 → 8.0 mm (−11 %), "
            f"area 24.3 → 15.2 mm² (−37 %) since baseline",
            # (1.4−2.8)/2.8 = −50 %; (6−9)/9 = −33.3 %; (7.8−24.3)/24.3 = −67.9 %
            f"after fraction 4 ({d[2]}): depth 2.8 → 1.4 mm (−50 %), width 9.0 → 6.0 mm (−33 %), "
            f"area 24.3 → 7.8 mm² (−68 %) since baseline",
            # (1.2−2.8)/2.8 = −57.1 %; (5−9)/9 = −44.4 %; (5.5−24.3)/24.3 = −77.4 %
            f"follow-up week 4 ({d[3]}): depth 2.8 → 1.2 mm (−57 %), width 9.0 → 5.0 mm (−44 %), "
            f"area 24.3 → 5.5 mm² (−77 %) since baseline",
            # (1.8−2.8)/2.8 = −35.7 %; (7−9)/9 = −22.2 %; (11.9−24.3)/24.3 = −51.0 %
            f"follow-up week 12 ({d[4]}): depth 2.8 → 1.8 mm (−36 %), width 9.0 → 7.0 mm (−22 %), "
            f"area 24.3 → 11.9 mm² (−51 %) since baseline",
            f"nadir: depth 1.2 mm at follow-up week 4 ({d[3]})",
            # regrowth from the nadir (1.8 − 1.2)/1.2 = 50 % > the clinic's 20 %
            f"SUSPECTED RECURRENCE at follow-up week 12 ({d[4]}): depth 1.8 mm is 50 % above the nadir 1.2 mm "
            f"(follow-up week 4), beyond the clinic&#x27;s 20 % regrowth threshold"):
        assert line in findings
    # The flag is seen: the Response view opened from the View menu shows it.
    w.show_response_window()
    dock = w.findChild(QDockWidget, "ResponseDock")
    qtbot.waitUntil(lambda: dock.isVisible())
    assert view.findings_label.isVisible()

    # Undo removes the last session, and with it the regrowth and the flag.
    assert w.undo_action.text() == "&Undo Add course image (follow-up week 12)"
    w.undo_action.trigger()
    assert [s.when.text for s in w.document.plan.course.sessions] == [c[0] for c in COURSE[:4]]
    assert list(view.depth_curve.getData()[1]) == pytest.approx([2.8, 2.0, 1.4, 1.2], abs=1e-9)
    assert "SUSPECTED RECURRENCE" not in view.findings_label.text()
    w.redo_action.trigger()
    assert "SUSPECTED RECURRENCE at follow-up week 12" in view.findings_label.text()

    # Screenshots to look at (issue 17): the floating Response window, and the window at 1280 x 800 with the
    # Response dock open below the image.
    qtbot.wait(50)
    assert dock.grab().save(str(tmp_path / "response-window.png"))
    dock.setFloating(False)
    w.resize(1280, 800)
    qtbot.wait(100)
    assert w.grab().save(str(tmp_path / "course-window-1280x800.png"))


def test_the_outline_is_proposed_inside_the_previous_one_moved_to_the_new_skin_line_and_can_be_edited(
        course_window, qtbot, tmp_path):
    w = course_window
    plan = w.document.plan
    # The baseline outlined with the generator's own outline of its tumour (its ground truth).
    baseline_case = make_dermal_ultrasound(11)
    dialog = open_dialog(w, qtbot, "baseline", 0, image_file(tmp_path, 11, plan.patient_name, plan.patient_id))
    truth = tmp_path / "truth.csv"
    truth.write_text("".join(f"{x!r},{y!r}\n" for x, y in baseline_case.tumour_outline_mm), encoding="utf-8")
    w.choose_file_to_open = lambda title, file_filter: str(truth)
    dialog.file_button.click()
    set_date(dialog.date_edit, START)
    baseline_skin = dialog.view.skin_vertices_mm()
    dialog.add_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.problem_label.text()

    # Before fraction 1, another image of the lesion: the proposal starts at the baseline outline's centre,
    # moved by the change of the skin line's depth there (both lines as the dialogs draw them).
    later_case = make_dermal_ultrasound(12)
    dialog = open_dialog(w, qtbot, "before fraction", 1, image_file(tmp_path, 12, plan.patient_name,
                                                                     plan.patient_id))
    xs = [x for x, _ in baseline_case.tumour_outline_mm]
    centre = (min(xs) + max(xs)) / 2
    new_skin = dialog.view.skin_vertices_mm()
    shift = (np.interp(centre, *zip(*new_skin)) - np.interp(centre, *zip(*baseline_skin)))
    assert dialog.outline is not None, dialog.problem_label.text()
    assert dialog.measure_label.text().endswith(
        f" — outline proposed inside baseline's outline moved {shift:+.2f} mm to this skin line; check it")
    # The proposal tool's own accuracy on these images (tests/imaging/test_lesion_proposal.py): 0.2 mm.
    proposed = dialog.outline
    depth_below_skin = max(y - np.interp(x, *zip(*new_skin)) for x, y in proposed.vertices_mm)
    assert depth_below_skin == pytest.approx(later_case.tumour_max_depth_below_skin_mm, abs=0.2)

    # The user drags a vertex 0.5 mm deeper (about 12 px on screen), one far from the others so the press takes it.
    vertices = np.array(proposed.vertices_mm)
    gaps = np.linalg.norm(vertices[:, None, :] - vertices[None, :, :], axis=2) + np.eye(len(vertices)) * 1e9
    index = int(np.argmax(gaps.min(axis=1)))
    assert gaps[index].min() > 0.7
    x_mm, y_mm = proposed.vertices_mm[index]
    qtbot.wait(50)   # the view settles on its final transform before mouse work
    start, end = dialog.view.mm_to_widget(x_mm, y_mm), dialog.view.mm_to_widget(x_mm, y_mm + 0.5)
    viewport = dialog.view.viewport()
    QTest.mouseMove(viewport, start)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for k in range(1, 7):
        QTest.mouseMove(viewport, start + (end - start) * k / 6)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    edited = dialog.outline
    assert [k for k, (a, b) in enumerate(zip(proposed.vertices_mm, edited.vertices_mm)) if a != b] == [index]
    assert edited.vertices_mm[index][1] == pytest.approx(y_mm + 0.5, abs=0.1)   # a screen pixel is ~0.04 mm
    assert dialog.measure_label.text().endswith(" — outline edited on the image")
    assert dialog.grab().save(str(tmp_path / "add-course-image.png"))     # to look at
    set_date(dialog.date_edit, FRACTIONS[0])
    dialog.add_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.problem_label.text()
    assert w.document.plan.course.sessions[-1].outline == edited

    # A picture without a scale or identity (a PNG): kept, "not measurable until calibrated", no outline offered.
    from PIL import Image

    picture = tmp_path / "picture.png"
    Image.fromarray(later_case.pixels_u8).save(picture)
    dialog = open_dialog(w, qtbot, "after fraction", 1, str(picture))
    assert dialog.loaded is not None and dialog.add_button.isEnabled()
    assert not any(b.isEnabled() for b in (dialog.propose_button, dialog.draw_button, dialog.file_button))
    assert dialog.measure_label.text() == "Not measurable until calibrated"
    assert ("Note: the image carries no patient identity: check it is this patient's; the plan's is recorded"
            in dialog.notes_label.text())
    # Dated before the baseline: asked, and the user confirms it (Yes).
    early = START - timedelta(days=2)
    asked = []
    w.ask_user = lambda title, question, choices: asked.append((title, question)) or "Yes"
    set_date(dialog.date_edit, early)
    dialog.add_button.click()
    assert asked == [("Course image date", f"the image at after fraction 1 is dated {early}, before the baseline "
                                           f"({START}): is the date right? Add the image with this date?")]
    assert dialog.result() == QDialog.DialogCode.Accepted, dialog.problem_label.text()
    session = w.document.plan.course.sessions[-1]
    assert (session.when.text, session.acquired_on, session.calibration_source, session.outline) == (
        "after:1", early, None, None)
    assert (session.patient_id, session.patient_name) == (plan.patient_id, plan.patient_name)
    assert (f"after fraction 1 ({early.isoformat()}): not measurable until calibrated"
            in w.response_view.findings_label.text())


def test_an_outline_file_that_cannot_be_read_is_named_with_its_line_and_nothing_changes(course_window, qtbot,
                                                                                        tmp_path):
    w = course_window
    plan = w.document.plan
    dialog = open_dialog(w, qtbot, "baseline", 0, image_file(tmp_path, 11, plan.patient_name, plan.patient_id))
    before = dialog.outline
    bad = tmp_path / "bad.csv"
    bad.write_text("x_mm,y_mm\n0.0,1.5\n1.0;2.0;3.0\n", encoding="utf-8")
    w.choose_file_to_open = lambda title, file_filter: str(bad)
    dialog.file_button.click()
    assert dialog.problem_label.text() == (f"Outline not loaded: outline file {bad}, line 3: expected 'x_mm,y_mm', "
                                           f"got '1.0;2.0;3.0'.")
    assert dialog.outline == before


def test_add_course_image_before_the_course_starts_says_what_to_do(demo_window, qtbot):
    w = demo_window
    assert w.document.plan.course is None
    w.add_course_image_action.trigger()
    assert w.last_problem == "Start the course first (Course tab): an image is added to a course."
    assert w.course_panel.image_dialog is None
