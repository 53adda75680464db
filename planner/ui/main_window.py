"""The radiation oncologist's window: ultrasound on the left, the plan and its numbers on the right.

The window keeps the menus, the layout and the wiring; it holds no plan state of its own. The work
is the controllers', each given the PlanDocument, the services it uses and the window as its
Dialogs (planner.ui.dialogs): files (plan_files), crash recovery (recovery_offer), the editing
tools (editing_tools), the dose (dose_controller), beam data (beam_data), the recommendation
(recommendation), output (plan_output) and the review (review_controller). Docks, problems,
questions and closing with unsaved edits are every window's (planner.ui.planner_window).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QLineEdit, QMessageBox, QVBoxLayout, QWidget

from planner import __version__
from planner.core.plan import Plan
from planner.core.recovery import RecoveryStore
from planner.imaging.planning_image import PlanningImage, calibrated_image
from planner.techniques import TechniqueRegistry
from planner.ui.beam_data import BeamData
from planner.ui.beam_data_view import BeamDataView
from planner.ui.course_panel import CoursePanel
from planner.ui.course_response import CourseResponseView
from planner.ui.editing_tools import EditingTools
from planner.ui.plan_files import PlanFiles
from planner.ui.plan_output import PlanOutput
from planner.ui.recommendation import Recommendation
from planner.ui.review_controller import ReviewController
from planner.ui.review_panel import ReviewPanel
from planner.ui.document import PlanDocument
from planner.ui.dose_controller import DoseController
from planner.ui.image_controls import ImageControls
from planner.ui.image_view import CursorReadout, UltrasoundView
from planner.ui.metrics_panel import MetricsPanel
from planner.ui.plan_panel import PlanPanel
from planner.ui.planner_window import PlannerWindow
from planner.ui.quantity_field import QuantityField
from planner.ui.recovery_offer import RecoveryOffer
from planner.ui.settings import AppSettings
from planner.ui.tasks import TaskProgressWidget, TaskRunner
from planner.ui.unsaved_edits import Consent, ask_before_replacing

# The dock arrangement's version: a window state saved with another one is not restored (1: the
# course below the image, issue 13; 0: every panel tabbed on the right).
LAYOUT_VERSION = 1


class MainWindow(PlannerWindow):
    def __init__(self, registry: TechniqueRegistry, settings: AppSettings, recovery: RecoveryStore):
        super().__init__()
        self.setObjectName("PlannerMainWindow")
        self.registry = registry
        self.settings = settings

        self.document = PlanDocument(recovery, self)
        self.runner = TaskRunner(parent=self)
        self.dose = DoseController(self.document, registry, self.runner, self)

        self.view = UltrasoundView()
        self.image_controls = ImageControls()
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.addWidget(self.view, 1)
        centre_layout.addWidget(self.image_controls)
        self.setCentralWidget(centre)
        self.plan_panel = PlanPanel(self.document, registry)
        self.metrics_panel = MetricsPanel(self.document, registry)
        self.beam_data_view = BeamDataView()
        self._add_dock("Plan", "PlanDock", self.plan_panel, scrolled=True)
        self._add_dock("Dose and metrics", "MetricsDock", self.metrics_panel, scrolled=True)
        self.course_panel = CoursePanel(self.document, registry, dialogs=self)
        beam_dock = self._add_dock("Beam data", "BeamDataDock", self.beam_data_view, scrolled=True)
        course_dock = self._add_dock("Course", "CourseDock", self.course_panel, scrolled=True)
        self.response_view = CourseResponseView(self.document, dose=self.dose)   # issue 17: the lesion's response
        response_dock = self._add_dock("Response", "ResponseDock", self.response_view, scrolled=True)
        self.review_panel = ReviewPanel()
        review_dock = self._add_dock("Review", "ReviewDock", self.review_panel, scrolled=True)
        metrics_dock = self.findChild(QDockWidget, "MetricsDock")
        self.tabifyDockWidget(metrics_dock, beam_dock)
        self.tabifyDockWidget(beam_dock, review_dock)
        metrics_dock.raise_()
        # The course goes below the image (the ultrasound is wider than tall, so the image keeps its
        # size) and the right column keeps the full height: at 1280 × 800 the dose panel's findings and
        # the course's form and table all show without scrolling.
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, course_dock)
        # The response view wants a window's room (View > Response in Its Own Window, or the View menu's
        # toggle); it starts hidden, below the image beside the Course when docked. Tabified with the Course,
        # its tab bar was drawn over the window/level row at 1280 x 800.
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, response_dock)
        response_dock.hide()
        self._default_dock_sizes = ([self.findChild(QDockWidget, "PlanDock"), metrics_dock, course_dock],
                                    [330, 390, 300], 480)  # heights, the right column's width (px)

        self.cursor_label = QLabel("Move the cursor over the image")
        self.calibration_label = QLabel()  # elided to fit; the full text in its tooltip and "details"
        self.calibration_label.setTextFormat(Qt.TextFormat.RichText)
        self.calibration_label.linkActivated.connect(lambda _link: self.show_calibration_details())
        self._calibration_details = ""
        self._shown_calibration = "none shown yet"
        self._shown_beam = None
        self.progress = TaskProgressWidget(self.runner)
        self.statusBar().addWidget(self.cursor_label, 1)
        self.statusBar().addPermanentWidget(self.calibration_label)
        self.statusBar().addPermanentWidget(self.progress)

        # The controllers get the document, the services they use and the window as Dialogs.
        self.files = PlanFiles(self.document, registry, settings, self.runner, self,
                               entries_used=self._commit_pending_entry, last_dose=lambda: self.dose.last_result,
                               may_open_here=lambda path: self.recovery_offer.may_open_here(path), parent=self)
        self.recovery_offer = RecoveryOffer(self.document, self, self.files.open_plan,
                                            self.plan_panel.restore_typed_entries)
        self.editing = EditingTools(self.document, self.view, self.dose, self, self.metrics_panel.show_plan)
        self.beam_data = BeamData(self.document, registry, self.dose, self.beam_data_view, self)
        self.recommendation = Recommendation(self.document, registry, self.runner, self.metrics_panel.dose_panel,
                                             self)

        self._build_actions()
        self._connect()
        self.resize(1400, 860)
        docks, heights, right_width = self._default_dock_sizes
        self.resizeDocks(docks[:1], [right_width], Qt.Orientation.Horizontal)
        self.resizeDocks(docks[:2], heights[:2], Qt.Orientation.Vertical)
        self.resizeDocks(docks[2:], heights[2:], Qt.Orientation.Vertical)
        geometry, state = settings.window_layout()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            # A layout saved by an older version (another dock arrangement) is ignored, not restored.
            self.restoreState(state, LAYOUT_VERSION)
        self._update_title()

    # --- construction -------------------------------------------------------------------
    def _build_actions(self) -> None:
        self.open_image_action = self._action("Open &Image…", self.files.choose_image_file, QKeySequence.StandardKey.Open,
                                              "Open an ultrasound image and start a plan on it")
        self.open_plan_action = self._action("Open &Plan…", self.files.choose_plan_file, "Ctrl+Shift+O")
        self.open_demo_action = self._action("Open &Demo Case", self.files.open_demo, "Ctrl+D")
        self.save_action = self._action("&Save Plan", self.files.save, QKeySequence.StandardKey.Save)
        self.save_as_action = self._action("Save Plan &As…", self.files.save_as, QKeySequence.StandardKey.SaveAs)
        self.import_measured_action = self._action(
            "Import &Measured Beam Data…", self.beam_data.choose_measured_data, None,
            "Replace the computed PDD, profiles, backscatter factor or output factors of this energy and cone")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.undo_action, self.redo_action = self._undo_redo_actions()
        self.fit_action = self._action("&Fit Image", self.view.fit_image, "Ctrl+0")
        self.caliper_action = self._action("&Caliper", self.view.set_caliper_visible, "Ctrl+M",
                                           "Measure a distance on the image in mm", checkable=True)
        self.draw_outline_action = self._action("&Draw Outline", self.view.start_drawing_outline, "Ctrl+L",
                                                "Draw a new lesion outline by clicking its vertices")
        self.propose_outline_action = self._action(
            "&Propose Outline…", self.editing.start_outline_proposal, "Ctrl+Shift+L",
            "Click inside the hypoechoic lesion to get a proposed outline to edit")
        self.centre_cone_action = self._action("&Centre Cone on Lesion", self.editing.centre_cone_on_lesion, "Ctrl+E",
                                               "Put the cone's axis at the lesion's lateral centre")
        self.wash_action = self._action("Dose &Colour Wash", self.view.dose_overlay.set_wash_visible, "Ctrl+W",
                                        "Show the dose as a colour wash under the isodose lines", checkable=True)
        self.draw_skin_action = self._action("Draw &Skin Line", self.view.start_drawing_skin_line, "Ctrl+K",
                                             "Draw the skin line anew by clicking along the skin from left to right")
        self.confirm_skin_action = self._action("C&onfirm Skin Line", self.editing.confirm_skin_line, "Ctrl+Shift+K",
                                                "Accept the detected skin line as the skin, so depths are measured "
                                                "from it")
        self.reset_skin_action = self._action("&Reset Skin Line to Detected", self.editing.reset_skin_line, None,
                                              "Put back the skin line found on the image, with its doubts")
        for action in (self.draw_skin_action, self.confirm_skin_action, self.reset_skin_action):
            action.setEnabled(False)
        self.calibrate_action = self._action("Calibrate by &Hand…", self.editing.start_hand_calibration, None,
                                             "Give an image without a scale its mm calibration: draw a known distance")
        self.play_action = self._action("&Play/Pause Cine", self.image_controls.play_button.toggle, "Space")
        # Space plays the cine only while the image has focus, so it still types a space in the notes.
        self.play_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.view.addAction(self.play_action)
        self.about_action = self._action("&About Planner", self.show_about)
        self.output = PlanOutput(self)  # export, sign, send, open signed plans
        self.reviewing = ReviewController(self, self.review_panel)  # the physicist's review and approval
        self.course_panel.replan.attach(self.runner, self.output)   # re-plan: the RT Plan on screen, its export

        file_menu = self.menuBar().addMenu("&File")
        for action in (self.open_image_action, self.open_plan_action, self.open_demo_action):
            file_menu.addAction(action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.imrt = self._add_imrt_actions(file_menu) if self.registry.inverse_planned_techniques else None
        if self.imrt is not None:   # an IMRT plan under review is on screen in an IMRT window
            self.imrt.plan_changed.connect(lambda _window: self.reviewing.show_whether_on_screen())
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.save_as_action)
        file_menu.addSeparator()
        for action in (*self.output.actions(), self.reviewing.review_action, self.reviewing.review_from_pacs_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.import_measured_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self._add_menu("&Edit", (self.undo_action, self.redo_action, None, self.draw_outline_action,
                                 self.propose_outline_action, self.centre_cone_action))
        self._add_menu("&Image", (self.calibrate_action, None, self.confirm_skin_action, self.draw_skin_action,
                                  self.reset_skin_action, None, self.fit_action, self.caliper_action,
                                  self.play_action, self.wash_action))
        self.add_course_image_action = self._action("Add Course &Image…", self.course_panel.add_course_image, None,
                                                    "An ultrasound of the course (baseline, during, follow-up) with "
                                                    "the lesion outlined on it")
        self.replan_action = self._action("&Re-plan Remaining Fractions…", self.course_panel.replan.open_dialog, None,
                                          "A revision of the plan in use for the fractions still to give, on a "
                                          "later image of the course")
        self._add_menu("&Course", (self.add_course_image_action, self.replan_action))
        view_menu = self._add_view_menu()
        view_menu.addSeparator()
        view_menu.addAction(self._action("Response in Its Own Window", self.show_response_window,
                                         tip="The course's response view floated at a readable size"))
        self._add_menu("&Help", (self.about_action,))
        self._add_toolbar("Main", "MainToolBar", (
            self.open_image_action, self.open_plan_action, self.save_action, None,
            self.undo_action, self.redo_action, None, self.draw_outline_action,
            self.propose_outline_action, None, self.confirm_skin_action, self.draw_skin_action, None,
            self.fit_action, self.caliper_action, self.wash_action))
        self._show_recent_files()

    # The Response dock shares the small bottom area with the Course; its plot and images want a window.
    RESPONSE_WINDOW_PX = (1240, 780)

    def show_response_window(self) -> None:
        """The Response dock floated, as large as RESPONSE_WINDOW_PX allows on this screen, centred on the window."""
        dock = self.findChild(QDockWidget, "ResponseDock")
        dock.show()
        dock.setFloating(True)
        screen = (self.screen() or QApplication.primaryScreen()).availableGeometry()
        width = min(self.RESPONSE_WINDOW_PX[0], screen.width() - 40)
        height = min(self.RESPONSE_WINDOW_PX[1], screen.height() - 40)
        dock.resize(width, height)
        centre = self.frameGeometry().center()
        dock.move(max(screen.left(), centre.x() - width // 2), max(screen.top(), centre.y() - height // 2))
        dock.raise_()

    def _add_imrt_actions(self, file_menu):
        """IMRT plans open in their own window (planner/ui/imrt); the launcher keeps those windows alive."""
        from planner.ui.imrt.launcher import ImrtLauncher

        launcher = ImrtLauncher(self.registry, self, self.document.recovery.session)
        file_menu.addSeparator()
        for action in launcher.actions():
            file_menu.addAction(action)
        return launcher

    def _connect(self) -> None:
        self.document.plan_changed.connect(self._on_plan_changed)
        self.document.image_changed.connect(self._on_image_changed)
        self.document.autosave_failed.connect(self.report_problem)
        self.document.undo_stack.cleanChanged.connect(self._update_title)
        self.view.outline_edited.connect(self.editing.outline_edited)
        self.view.skin_edited.connect(self.editing.skin_edited)
        self.view.skin_drawn.connect(self.editing.skin_drawn)
        self.view.outline_previewed.connect(self.editing.outline_previewed)
        self.view.cone_moved.connect(self.editing.cone_moved)
        self.view.edit_refused.connect(self.report_problem)
        self.view.tool_changed.connect(lambda hint: self.statusBar().showMessage(hint))
        self.view.cursor_moved.connect(self._on_cursor_moved)
        self.image_controls.frame_changed.connect(self.view.show_frame)
        self.dose.computed.connect(self._on_dose_computed)
        self.dose.unavailable.connect(self._on_dose_unavailable)
        panel = self.metrics_panel.dose_panel
        panel.recommend_requested.connect(self.recommendation.recommend)
        panel.apply_energy.connect(lambda energy_id: self.recommendation.apply("energy_id", energy_id))
        panel.apply_applicator.connect(lambda applicator_id: self.recommendation.apply("applicator_id", applicator_id))
        panel.apply_both.connect(self.recommendation.apply_energy_and_cone)
        self.files.recent_files_changed.connect(self._show_recent_files)
        self.image_controls.levels_changed.connect(self.view.set_levels)
        self.runner.busy_changed.connect(self._on_busy_changed)
        # A typed entry the plan does not use: no dose of the previous prescription stays shown.
        self.plan_panel.entry_problem_changed.connect(self.dose.set_entry_problem)
        self.plan_panel.ask_user = lambda title, text, choices: self.ask_user(title, text, choices)

    # --- what Planner's start, its other parts and the tests call on the window ----------------
    def open_demo(self) -> None:
        self.files.open_demo()

    def open_image_file(self, path: str, consent: Consent | None = None) -> bool:
        return self.files.open_image_file(path, consent)

    def open_plan_file(self, path: str, consent: Consent | None = None) -> bool:
        return self.files.open_plan_file(path, consent)

    def _open_recent(self, path: str) -> None:
        self.files.open_recent(path)

    def _show_recent_files(self) -> None:
        self.recent_menu.clear()
        files = self.files.recent_files()
        for path in files:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _checked=False, p=path: self.files.open_recent(p))
        self.recent_menu.setEnabled(bool(files))

    def save(self) -> bool:
        return self.files.save()

    def _save_to(self, path: str) -> bool:
        return self.files.save_to(path)

    def offer_recovery(self) -> bool:
        """Offer the unsaved plans of Planner sessions that did not close (planner.ui.recovery_offer)."""
        return self.recovery_offer.offer()

    def import_measured_data(self, path: str, kind: str) -> bool:
        return self.beam_data.import_measured_data(path, kind)

    def start_hand_calibration(self) -> None:
        self.editing.start_hand_calibration()

    def calibrate_with_line(self, start_px, end_px) -> None:
        self.editing.calibrate_with_line(start_px, end_px)

    # --- reactions ------------------------------------------------------------------------
    def _on_plan_changed(self, plan: Plan) -> None:
        self._show_image_in_plan_scale(plan)
        self.view.show_outline(plan.outline)
        self.view.show_skin_surface(plan.skin_surface)
        self.confirm_skin_action.setEnabled(self.editing.can_confirm_skin(plan))
        self.reset_skin_action.setEnabled(self.editing.can_reset_skin(plan))
        self._show_cone(plan)
        self._update_title()
        self.settings.save_last_technique(plan.setup.technique_id)  # a new image starts with it

    def _on_image_changed(self, planning_image: PlanningImage) -> None:
        self._shown_calibration = "none shown yet"
        self.image_controls.show_image(planning_image.image)
        self.caliper_action.setChecked(False)
        image = planning_image.image
        self.statusBar().clearMessage()  # nothing said about an earlier image stays
        if image.problems:
            self.statusBar().showMessage("; ".join(image.problems), 15000)

    def _show_image_in_plan_scale(self, plan: Plan) -> None:
        """Show the image in mm (its own or the plan's hand calibration) or, without one, in pixels."""
        image = calibrated_image(self.document.planning_image.image, plan)
        if image.calibration != self._shown_calibration:
            self._shown_calibration = image.calibration
            self.view.show_image(image)
            for action in (self.draw_outline_action, self.propose_outline_action, self.caliper_action,
                           self.draw_skin_action):
                action.setEnabled(image.calibration is not None)
            self._show_calibration_text(image)

    CALIBRATION_LABEL_MAX_PX = 460

    def _show_calibration_text(self, image) -> None:
        """The scale in the status bar, elided to fit; in full in the tooltip and behind "details"."""
        if image.calibration is not None:
            text = f"Scale: {image.calibration.source}"
        else:
            why = next((p for p in image.problems if p.startswith("no calibration")), "no mm scale in the file")
            text = f"Scale: none — {why} (Image ▸ Calibrate by Hand…)"
        others = [p for p in image.problems if not p.startswith("no calibration")]
        self._calibration_details = text + ("\n\nAbout this image:\n" + "\n".join(f"• {p}" for p in others)
                                            if others else "")
        self.calibration_label.setToolTip(text)
        label = self.calibration_label
        shown = label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, self.CALIBRATION_LABEL_MAX_PX)
        link = ' <a href="details">details</a>' if shown != text or others else ""
        label.setText(html.escape(shown) + link)

    def show_calibration_details(self) -> None:
        """The scale, or why there is none, and the image's other notes, in full."""
        box = QMessageBox(QMessageBox.Icon.Information, "Image scale", self._calibration_details, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _show_cone(self, plan: Plan) -> None:
        diameter = None
        try:
            machine = self.registry.get(plan.setup.technique_id).machine(plan.setup.machine_id)
            diameter = machine.applicator(plan.setup.applicator_id).diameter_mm
        except KeyError:
            pass
        axis = plan.cone_axis_x_mm
        if axis is None and plan.outline is not None:
            axis = plan.outline.lateral_centre_mm
        skin = None if plan.skin_surface is None else plan.skin_surface.depth_at
        self.view.show_cone(axis, diameter, skin)

    # --- dose ---------------------------------------------------------------------------
    def _on_dose_computed(self, result) -> None:
        self.metrics_panel.dose_panel.show_result(result)
        if result is self.dose.last_result:  # not a preview of a drag
            self.course_panel.set_planned_time(result.treatment_time_min, result.time_name)
        skin = self.document.plan.skin_surface
        # Isodoses in % of Dmax; none for a refused plan (the overlay decides from the result).
        self.view.dose_overlay.show_result(result, None if skin is None else skin.depth_at)
        self.beam_data.show_for_plan()

    def _on_dose_unavailable(self, reason: str) -> None:
        self.metrics_panel.dose_panel.show_unavailable(reason)
        self.course_panel.set_planned_time(None)
        self.view.dose_overlay.clear()

    def _on_cursor_moved(self, readout: CursorReadout | None) -> None:
        if readout is None:
            self.cursor_label.setText("Move the cursor over the image")
            return
        value = readout.value
        value_text = ", ".join(str(v) for v in value) if isinstance(value, tuple) else f"{value}"
        where = "no mm scale" if readout.x_mm is None else f"lateral {readout.x_mm:.2f} mm   depth {readout.y_mm:.2f} mm"
        self.cursor_label.setText(f"{where}   pixel ({readout.col}, {readout.row}) = {value_text}")

    def _on_busy_changed(self, busy: bool) -> None:
        for action in (self.open_image_action, self.open_plan_action, self.open_demo_action):
            action.setEnabled(not busy or self.runner.preemptible)

    # --- Dialogs (planner.ui.dialogs): the rest is the window base's (planner.ui.planner_window) --
    def consent_to_replace(self, what: str, ask: bool = True) -> Consent | None:
        return ask_before_replacing(self, what) if ask else Consent(self, what)

    def show_about(self) -> None:
        techniques = "\n".join(f"• {t.name} ({t.id})" for t in self.registry.techniques)
        problems = "\n".join(self.registry.problems)
        QMessageBox.about(self, "About Planner", f"Planner {__version__}\n\nInstalled techniques:\n{techniques}"
                          + (f"\n\nPlugin problems:\n{problems}" if problems else ""))

    # --- helpers --------------------------------------------------------------------------
    def _commit_pending_entry(self) -> bool:
        """A number typed but not yet confirmed (no Enter, no Tab) becomes part of the plan before
        the plan is saved or closed; one that cannot (not a number) stops the save with a message."""
        focus = QApplication.focusWidget()
        if isinstance(focus, QLineEdit):
            focus.editingFinished.emit()
        for field in self.plan_panel.findChildren(QuantityField):
            if field.problem:
                self.report_problem(f"A field of the plan holds “{field.line_edit.text()}”, which is not used: "
                                    f"{field.problem}. Correct it first.")
                return False
        return True

    def _update_title(self, *_signal_args) -> None:
        plan = self.document.plan
        title = "Planner" if plan is None else f"{plan.label} — {plan.patient_name} ({plan.patient_id}) [*] — Planner"
        self.setWindowTitle(title)
        self.setWindowModified(self.document.is_modified)

    def may_close(self) -> bool:
        return ask_before_replacing(self, "Closing Planner") is not None

    def _on_closing(self) -> None:
        self.recovery_offer.restore_ended(restored=False)
        self.settings.save_window_layout(self.saveGeometry(), self.saveState(LAYOUT_VERSION))
