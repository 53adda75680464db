"""The radiation oncologist's window: ultrasound on the left, the plan and its numbers on the right.

The window wires widgets to the PlanDocument and runs file work through the TaskRunner; it holds
no plan state of its own.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QApplication,
    QInputDialog,
    QLineEdit,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from planner import __version__
from planner.core.errors import PlannerError
from planner.core.manual_calibration import ManualCalibration
from planner.core.outline import LesionOutline
from planner.core.plan import Plan
from planner.core.plan_file import PlanFileError, load_plan, save_plan
from planner.core.recovery import RecoveryStore
from planner.imaging import ImageLoadError
from planner.imaging.lesion_proposal import propose_lesion_outline
from planner.imaging.planning_image import (PlanningImage, calibrate_by_hand, calibrated_image, complete_plan,
                                            detect_skin_surface, load_planning_image)
from planner.techniques import TechniqueRegistry
from planner.techniques.beam_lookup import beam_key, machine_commissioning
from planner.techniques.new_plan import open_demo_case, start_plan, technique_for_new_image
from planner.ui.beam_data_view import BeamDataView
from planner.ui.course_panel import CoursePanel
from planner.ui.plan_output import PlanOutput
from planner.ui.review_controller import ReviewController
from planner.ui.review_panel import ReviewPanel
from planner.ui.document import PlanDocument
from planner.ui.dose_controller import DoseController
from planner.ui.click_tools import PointTool, TwoPointTool
from planner.ui.image_controls import ImageControls
from planner.ui.image_view import CursorReadout, UltrasoundView
from planner.ui.metrics_panel import MetricsPanel
from planner.ui.plan_panel import PlanPanel
from planner.ui.quantity_field import QuantityField, parse_positive_mm
from planner.ui.recovery_offer import RecoveryOffer
from planner.ui.settings import AppSettings
from planner.ui.tasks import TaskProgressWidget, TaskRunner
from planner.ui.unsaved_edits import Consent, ask_before_replacing

PLAN_FILE_FILTER = "Planner plans (*.plan.json *.json)"
IMAGE_FILE_FILTER = "Ultrasound images (*.dcm *.dicom *.png *.jpg *.jpeg *.tif *.tiff);;All files (*)"

# The dock arrangement's version: a window state saved with another one is not restored (1: the
# course below the image, issue 13; 0: every panel tabbed on the right).
LAYOUT_VERSION = 1

# How the window asks the user a question; tests replace it with a scripted answer.
AskUser = Callable[[str, str, tuple[str, ...]], str]


def ask_with_message_box(title: str, text: str, choices: tuple[str, ...]) -> str:
    box = QMessageBox(QMessageBox.Icon.Question, title, text)
    buttons = {box.addButton(choice, QMessageBox.ButtonRole.ActionRole): choice for choice in choices}
    box.exec()
    return buttons.get(box.clickedButton(), choices[-1])


class MainWindow(QMainWindow):
    def __init__(self, registry: TechniqueRegistry, settings: AppSettings, recovery: RecoveryStore):
        super().__init__()
        self.setObjectName("PlannerMainWindow")
        self.registry = registry
        self.settings = settings
        self.ask_user: AskUser = ask_with_message_box
        self.last_problem: str | None = None

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
        self._add_dock("Plan", "PlanDock", self.plan_panel)
        self._add_dock("Dose and metrics", "MetricsDock", self.metrics_panel)
        self.course_panel = CoursePanel(self.document, registry)
        beam_dock = self._add_dock("Beam data", "BeamDataDock", self.beam_data_view)
        course_dock = self._add_dock("Course", "CourseDock", self.course_panel)
        self.review_panel = ReviewPanel()
        review_dock = self._add_dock("Review", "ReviewDock", self.review_panel)
        metrics_dock = self.findChild(QDockWidget, "MetricsDock")
        self.tabifyDockWidget(metrics_dock, beam_dock)
        self.tabifyDockWidget(beam_dock, review_dock)
        metrics_dock.raise_()
        # The course goes below the image (the ultrasound is wider than tall, so the image keeps its
        # size) and the right column keeps the full height: at 1280 × 800 the dose panel's findings and
        # the course's form and table all show without scrolling.
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, course_dock)
        self._default_dock_sizes = ([self.findChild(QDockWidget, "PlanDock"), metrics_dock, course_dock],
                                    [330, 390, 300], 480)  # heights, the right column's width (px)

        self.cursor_label = QLabel("Move the cursor over the image")
        self.calibration_label = QLabel()  # elided to fit; the full text in its tooltip and "details"
        self.calibration_label.setTextFormat(Qt.TextFormat.RichText)
        self.calibration_label.linkActivated.connect(lambda _link: self.show_calibration_details())
        self._calibration_details = ""
        self._shown_calibration = "none shown yet"
        self._shown_beam = None
        self.recovery_offer = RecoveryOffer(self)
        self.progress = TaskProgressWidget(self.runner)
        self.statusBar().addWidget(self.cursor_label, 1)
        self.statusBar().addPermanentWidget(self.calibration_label)
        self.statusBar().addPermanentWidget(self.progress)

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
    def _add_dock(self, title: str, name: str, widget) -> QDockWidget:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(widget)
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(scroll)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        return dock

    def _action(self, text: str, slot, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
        """A menu/toolbar action. Only a checkable action passes its state to ``slot``: Qt's
        ``triggered(checked)`` would otherwise land in the slot's first optional parameter (the PACS
        browser's modality filter once received False)."""
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip or text.replace("&", "").rstrip("…"))
        action.setCheckable(checkable)
        if checkable:
            action.triggered.connect(slot)
        else:
            action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_actions(self) -> None:
        stack = self.document.undo_stack
        self.open_image_action = self._action("Open &Image…", self.choose_image_file, QKeySequence.StandardKey.Open,
                                              "Open an ultrasound image and start a plan on it")
        self.open_plan_action = self._action("Open &Plan…", self.choose_plan_file, "Ctrl+Shift+O")
        self.open_demo_action = self._action("Open &Demo Case", self.open_demo, "Ctrl+D")
        self.save_action = self._action("&Save Plan", self.save, QKeySequence.StandardKey.Save)
        self.save_as_action = self._action("Save Plan &As…", self.save_as, QKeySequence.StandardKey.SaveAs)
        self.import_measured_action = self._action(
            "Import &Measured Beam Data…", self.choose_measured_data, None,
            "Replace the computed PDD, profiles, backscatter factor or output factors of this energy and cone")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.undo_action = stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence.StandardKey.Redo, QKeySequence("Ctrl+Y")])
        self.fit_action = self._action("&Fit Image", self.view.fit_image, "Ctrl+0")
        self.caliper_action = self._action("&Caliper", self.view.set_caliper_visible, "Ctrl+M",
                                           "Measure a distance on the image in mm", checkable=True)
        self.draw_outline_action = self._action("&Draw Outline", self.view.start_drawing_outline, "Ctrl+L",
                                                "Draw a new lesion outline by clicking its vertices")
        self.propose_outline_action = self._action(
            "&Propose Outline…", self.start_outline_proposal, "Ctrl+Shift+L",
            "Click inside the hypoechoic lesion to get a proposed outline to edit")
        self.centre_cone_action = self._action("&Centre Cone on Lesion", self.centre_cone_on_lesion, "Ctrl+E",
                                               "Put the cone's axis at the lesion's lateral centre")
        self.wash_action = self._action("Dose &Colour Wash", self.view.dose_overlay.set_wash_visible, "Ctrl+W",
                                        "Show the dose as a colour wash under the isodose lines", checkable=True)
        self.draw_skin_action = self._action("Draw &Skin Line", self.view.start_drawing_skin_line, "Ctrl+K",
                                             "Draw the skin line anew by clicking along the skin from left to right")
        self.confirm_skin_action = self._action("C&onfirm Skin Line", self.confirm_skin_line, "Ctrl+Shift+K",
                                                "Accept the detected skin line as the skin, so depths are measured "
                                                "from it")
        self.reset_skin_action = self._action("&Reset Skin Line to Detected", self.reset_skin_line, None,
                                              "Put back the skin line found on the image, with its doubts")
        for action in (self.draw_skin_action, self.confirm_skin_action, self.reset_skin_action):
            action.setEnabled(False)
        self._detected_by_hand = (None, None)  # (planning image, hand calibration) → the line found with it
        self.calibrate_action = self._action("Calibrate by &Hand…", self.start_hand_calibration, None,
                                             "Give an image without a scale its mm calibration: draw a known distance")
        self.play_action = self._action("&Play/Pause Cine", self.image_controls.play_button.toggle, "Space")
        # Space plays the cine only while the image has focus, so it still types a space in the notes.
        self.play_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.view.addAction(self.play_action)
        self.about_action = self._action("&About Planner", self.show_about)
        self.output = PlanOutput(self)  # export, sign, send, open signed plans
        self.reviewing = ReviewController(self, self.review_panel)  # the physicist's review and approval

        file_menu = self.menuBar().addMenu("&File")
        for action in (self.open_image_action, self.open_plan_action, self.open_demo_action):
            file_menu.addAction(action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.imrt = self._add_imrt_actions(file_menu) if self.registry.inverse_planned_techniques else None
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
        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.draw_outline_action)
        edit_menu.addAction(self.propose_outline_action)
        edit_menu.addAction(self.centre_cone_action)
        image_menu = self.menuBar().addMenu("&Image")
        image_menu.addAction(self.calibrate_action)
        image_menu.addSeparator()
        for action in (self.confirm_skin_action, self.draw_skin_action, self.reset_skin_action):
            image_menu.addAction(action)
        image_menu.addSeparator()
        image_menu.addAction(self.fit_action)
        image_menu.addAction(self.caliper_action)
        image_menu.addAction(self.play_action)
        image_menu.addAction(self.wash_action)
        view_menu = self.menuBar().addMenu("&View")
        for dock in self.findChildren(QDockWidget):
            view_menu.addAction(dock.toggleViewAction())
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self.about_action)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("MainToolBar")
        for action in (self.open_image_action, self.open_plan_action, self.save_action, None,
                       self.undo_action, self.redo_action, None, self.draw_outline_action,
                       self.propose_outline_action, None, self.confirm_skin_action, self.draw_skin_action, None,
                       self.fit_action, self.caliper_action, self.wash_action):
            toolbar.addSeparator() if action is None else toolbar.addAction(action)
        self._refresh_recent_menu()

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
        self.view.outline_edited.connect(self._on_outline_edited)
        self.view.skin_edited.connect(self._on_skin_edited)
        self.view.skin_drawn.connect(self._on_skin_drawn)
        self.view.outline_previewed.connect(self._on_outline_previewed)
        self.view.cone_moved.connect(self._on_cone_moved)
        self.view.edit_refused.connect(self.report_problem)
        self.view.tool_changed.connect(lambda hint: self.statusBar().showMessage(hint))
        self.view.cursor_moved.connect(self._on_cursor_moved)
        self.image_controls.frame_changed.connect(self.view.show_frame)
        self.dose.computed.connect(self._on_dose_computed)
        self.dose.unavailable.connect(self._on_dose_unavailable)
        panel = self.metrics_panel.dose_panel
        panel.recommend_requested.connect(self.recommend)
        panel.apply_energy.connect(lambda energy_id: self._apply_recommendation("energy_id", energy_id))
        panel.apply_applicator.connect(lambda applicator_id: self._apply_recommendation("applicator_id", applicator_id))
        panel.apply_both.connect(self._apply_recommended_energy_and_cone)
        self.image_controls.levels_changed.connect(self.view.set_levels)
        self.runner.busy_changed.connect(self._on_busy_changed)
        # A typed entry the plan does not use: no dose of the previous prescription stays shown.
        self.plan_panel.entry_problem_changed.connect(self.dose.set_entry_problem)
        self.plan_panel.ask_user = lambda title, text, choices: self.ask_user(title, text, choices)

    # --- opening and saving ---------------------------------------------------------------
    def open_demo(self) -> None:
        if ask_before_replacing(self, "Opening the demo case") is None:
            return
        try:
            planning_image, plan = open_demo_case(self.registry)
        except ImageLoadError as err:
            self.report_problem(f"The demo case could not be opened: {err}")
            return
        self.document.open(planning_image, plan, saved=True)

    def choose_image_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open ultrasound image", "", IMAGE_FILE_FILTER)
        if path:
            self.open_image_file(path)

    def open_image_file(self, path: str, consent: Consent | None = None) -> bool:
        """Load an image off the GUI thread and start a new plan on it (``consent``: the user's yes
        to replacing the open plan, already asked, e.g. before browsing the PACS)."""
        consent = consent or ask_before_replacing(self, f"Opening {Path(path).name}")
        if consent is None:
            return False

        def opened(planning_image: PlanningImage) -> None:
            if not consent.still_given():   # edits made while it loaded are not thrown away unasked
                return
            technique = technique_for_new_image(self.registry, self.settings.last_technique_id())
            self.document.open(planning_image, start_plan(planning_image, technique), saved=True)
            self._remember(path)

        return self._load_image(path, opened)

    def choose_plan_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open plan", "", PLAN_FILE_FILTER)
        if path:
            self.open_plan_file(path)

    def open_plan_file(self, path: str, consent: Consent | None = None) -> bool:
        if not self.recovery_offer.may_open_here(path):
            return False
        consent = consent or ask_before_replacing(self, f"Opening {Path(path).name}")
        if consent is None:
            return False
        try:
            plan = load_plan(path)
        except PlanFileError as err:
            self.report_problem(str(err))
            return False
        return self._open_plan(plan, file_path=path, saved=True, consent=consent)

    def _open_plan(self, plan: Plan, file_path: str | None, saved: bool, on_failure=None,
                   consent: Consent | None = None) -> bool:
        """Open ``plan`` on its image once loaded; ``consent`` is the user's yes to replacing the
        open plan (asked by the caller); without one, only a plan with no unsaved work is replaced."""
        try:
            self.registry.get(plan.setup.technique_id)
        except KeyError as err:
            self.report_problem(f"This plan needs a technique that is not installed: {err}")
            return False
        if plan.image_path is None:
            self.report_problem("This plan names no image, so there is nothing to plan on.")
            return False

        consent = consent or Consent(self, "Opening the plan")

        def opened(planning_image: PlanningImage) -> None:
            if not consent.still_given():
                if on_failure is not None:
                    on_failure("the open plan was kept")
                return
            self.document.open(planning_image, complete_plan(plan, planning_image), file_path=file_path, saved=saved)
            if file_path is not None:
                self._remember(file_path)

        return self._load_image(plan.image_path, opened, on_failure)

    def _load_image(self, path: str, on_loaded, on_failure=None) -> bool:
        def failed(message: str) -> None:
            self.report_problem(message)
            if on_failure is not None:
                on_failure(message)

        started = self.runner.start(f"Loading {Path(path).name}",
                                    lambda progress, cancelled: load_planning_image(path, progress, cancelled),
                                    on_loaded, failed)
        if not started:
            self.report_problem("Planner is still busy with the previous task; wait for it or cancel it first.")
        return started

    def save(self) -> bool:
        if self.document.plan is None or not self._commit_pending_entry():
            return False
        if self.document.file_path is None:
            return self.save_as()
        return self._save_to(self.document.file_path)

    def save_as(self) -> bool:
        if self.document.plan is None or not self._commit_pending_entry():
            return False
        path, _ = QFileDialog.getSaveFileName(self, "Save plan", "plan.plan.json", PLAN_FILE_FILTER)
        return bool(path) and self._save_to(path)

    def _save_to(self, path: str) -> bool:
        try:
            save_plan(path, self.document.plan, self._calculation_record())
        except OSError as err:
            self.report_problem(f"The plan could not be saved to {path}: {err.strerror or err}. "
                                "It is still open and autosaved for recovery.")
            return False
        self.document.mark_saved(path)
        self._remember(path)
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def _calculation_record(self) -> dict | None:
        result = self.dose.last_result
        if result is None:
            return None
        return {
            "note": "what produced the dose shown when this plan was saved; recomputed, never read back",
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "planner_version": __version__,
            "model": result.model_description,
            "data_sources": dict(result.data_sources),
            "treatment_time_min": result.treatment_time_min,
            "findings": [f"{f.severity}: {f.message}" for f in result.findings],
        }

    # --- crash recovery -------------------------------------------------------------------
    def offer_recovery(self) -> bool:
        """Offer the unsaved plans of Planner sessions that did not close (planner.ui.recovery_offer)."""
        return self.recovery_offer.offer()

    # --- reactions ------------------------------------------------------------------------
    def _on_plan_changed(self, plan: Plan) -> None:
        self._show_image_in_plan_scale(plan)
        self.view.show_outline(plan.outline)
        self.view.show_skin_surface(plan.skin_surface)
        self._update_skin_actions(plan)
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

    @property
    def displayed_image(self):
        return calibrated_image(self.document.planning_image.image, self.document.plan)

    def start_hand_calibration(self) -> None:
        planning_image = self.document.planning_image
        if planning_image is None:
            return
        if planning_image.image.calibration is not None:
            self.report_problem(f"This image already has a scale ({planning_image.image.calibration.source}); "
                                "Planner does not override a calibration the file carries.")
            return
        if self.document.plan is not None and self.document.plan.manual_calibration is not None:
            self.report_problem("This image is already calibrated by hand; undo that calibration (Ctrl+Z) to draw "
                                "it again, so the outline drawn in its millimetres is never silently rescaled.")
            return
        self.view.start_tool(TwoPointTool(self.view.getPlotItem(),
                                          "Click the two ends of a known distance; Escape cancels.",
                                          self.calibrate_with_line))

    def calibrate_with_line(self, start_px, end_px) -> None:
        pixels = ((end_px[0] - start_px[0]) ** 2 + (end_px[1] - start_px[1]) ** 2) ** 0.5
        answer = self.ask_text("Calibrate by hand", f"The line is {pixels:.1f} pixels long. How long is it in mm?")
        if answer is None:
            return
        try:
            calibration = ManualCalibration(parse_positive_mm(answer), pixels)
        except ValueError as err:
            self.report_problem(f"Not calibrated: {err}.")
            return
        plan = self.document.plan
        self.document.apply(calibrate_by_hand(plan, self.document.planning_image.image, calibration),
                            "Calibrate image by hand")

    def _on_outline_edited(self, outline) -> None:
        plan = self.document.plan
        if plan is not None:
            edited = plan.with_outline(outline)
            if plan.cone_axis_x_mm is None:  # the first outline places the cone over it
                edited = edited.with_cone_axis(outline.lateral_centre_mm)
            if edited == plan:  # a drag that ended where it began: drop the preview it showed
                self.metrics_panel.show_plan(plan)
                self.dose.update()
                return
            self.document.apply(edited, "Edit lesion outline")

    def _on_outline_previewed(self, outline) -> None:
        """While a vertex is dragged, the numbers and isodoses follow the mouse; the edit itself
        (undo step, recovery file) is made when the drag ends."""
        plan = self.document.plan
        if plan is None:
            return
        preview = plan.with_outline(outline)
        self.metrics_panel.show_plan(preview)
        self.dose.preview(preview)

    def _on_cone_moved(self, axis_x_mm: float) -> None:
        plan = self.document.plan
        if plan is not None:
            self.document.apply(plan.with_cone_axis(axis_x_mm), f"Move cone to {axis_x_mm:.2f} mm")

    def centre_cone_on_lesion(self) -> None:
        plan = self.document.plan
        if plan is None or plan.outline is None:
            self.report_problem("There is no lesion outline to centre the cone on.")
            return
        self.document.apply(plan.with_cone_axis(plan.outline.lateral_centre_mm), "Centre cone on lesion")

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

    def _on_skin_edited(self, skin_surface) -> None:
        """A dragged line is one the user placed: it comes without doubts, which the undo text says."""
        plan = self.document.plan
        if plan is not None:
            doubtful = plan.skin_surface is not None and not plan.skin_surface.confirmed
            self.document.apply(plan.with_skin_surface(skin_surface),
                                "Move and confirm skin line" if doubtful else "Move skin line")

    def _on_skin_drawn(self, skin_surface) -> None:
        plan = self.document.plan
        if plan is not None:
            self.document.apply(plan.with_skin_surface(skin_surface), "Draw skin line")

    def confirm_skin_line(self) -> None:
        plan = self.document.plan
        if plan is None or plan.skin_surface is None or plan.skin_surface.confirmed:
            return
        self.document.apply(plan.with_skin_surface(plan.skin_surface.confirm()), "Confirm skin line")

    def reset_skin_line(self) -> None:
        plan = self.document.plan
        detected = None if plan is None else self._detected_skin(plan)
        if detected is None:
            self.report_problem("No skin line was found on this image to go back to; draw it (Image ▸ Draw Skin Line).")
            return
        self.document.apply(plan.with_skin_surface(detected), "Reset skin line to detected")

    def _detected_skin(self, plan: Plan):
        """The line found on the image: when it opened, or (an image scaled by hand) with the plan's scale."""
        planning_image = self.document.planning_image
        if planning_image is None:
            return None
        if planning_image.image.calibration is not None or plan.manual_calibration is None:
            return planning_image.detected_skin
        key = (planning_image, plan.manual_calibration)
        if self._detected_by_hand[0] != key:
            self._detected_by_hand = (key, detect_skin_surface(calibrated_image(planning_image.image, plan)))
        return self._detected_by_hand[1]

    def _update_skin_actions(self, plan: Plan) -> None:
        skin = plan.skin_surface
        self.confirm_skin_action.setEnabled(skin is not None and not skin.confirmed)
        detected = self._detected_skin(plan)
        self.reset_skin_action.setEnabled(detected is not None and skin != detected)

    # --- dose ---------------------------------------------------------------------------
    def _on_dose_computed(self, result) -> None:
        self.metrics_panel.dose_panel.show_result(result)
        if result is self.dose.last_result:  # not a preview of a drag
            self.course_panel.set_planned_time(result.treatment_time_min, result.time_name)
        skin = self.document.plan.skin_surface
        # Isodoses in % of Dmax; none for a refused plan (the overlay decides from the result).
        self.view.dose_overlay.show_result(result, None if skin is None else skin.depth_at)
        self._show_beam_data()

    def _on_dose_unavailable(self, reason: str) -> None:
        self.metrics_panel.dose_panel.show_unavailable(reason)
        self.course_panel.set_planned_time(None)
        self.view.dose_overlay.clear()

    def _show_beam_data(self) -> None:
        plan = self.document.plan
        technique = self.registry.get(plan.setup.technique_id)
        key = beam_key(technique, plan)
        if key is None:
            self.beam_data_view.show_message("No beam data: the machine's SSD for this energy and cone is not commissioned.")
            return
        beam = technique.dose_engine.beam_data(*key)  # cached: the dose was just computed from it
        if beam is not self._shown_beam:
            self._shown_beam = beam
            sources = "; ".join(f"{k}: {v}" for k, v in beam.provenance.items())
            self.beam_data_view.show_beam_data(beam, f"{key[0].label}, {key[1].label}, SSD {key[2]:g} cm. {sources}")

    MEASURED_KINDS = {"PDD": "pdd", "Profiles": "profiles", "Backscatter factor": "backscatter",
                      "Output factors": "output_factors"}

    def choose_measured_data(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import measured beam data", "", "CSV files (*.csv);;All files (*)")
        if path:
            kind = self.ask_user("Measured beam data", f"What does {Path(path).name} hold? It replaces the computed "
                                 "data for the plan's energy and cone at its commissioned SSD.",
                                 (*self.MEASURED_KINDS, "Cancel"))
            if kind in self.MEASURED_KINDS:
                self.import_measured_data(path, self.MEASURED_KINDS[kind])

    def import_measured_data(self, path: str, kind: str) -> bool:
        """Load a measured CSV into the technique's engine for the plan's energy, cone and SSD."""
        plan = self.document.plan
        technique = None if plan is None else self.registry.get(plan.setup.technique_id)
        engine = None if technique is None else technique.dose_engine
        key = None if technique is None else beam_key(technique, plan)
        if engine is None or key is None or not hasattr(engine, "load_measured"):
            self.report_problem("Measured data need an open plan whose technique computes dose and whose energy "
                                "and cone have a commissioned SSD.")
            return False
        energy, applicator, ssd_cm = key
        try:
            if kind == "output_factors":
                engine.load_output_factors(path, energy.id, ssd_cm)
            else:
                engine.load_measured(kind, path, energy.id, applicator.id, ssd_cm)
        except PlannerError as err:
            self.report_problem(f"Measured data not used: {err}")
            return False
        self._shown_beam = None
        self.dose.forget_beam(energy, applicator, ssd_cm)
        self.statusBar().showMessage(f"Measured {kind.replace('_', ' ')} from {Path(path).name} now replace the "
                                     f"computed data for {energy.label}, {applicator.label}", 10000)
        self.dose.update()
        return True

    def recommend(self) -> None:
        plan = self.document.plan
        if plan is None:
            return
        technique = self.registry.get(plan.setup.technique_id)
        engine = technique.dose_engine
        if engine is None:
            self.report_problem(f"{technique.name} offers no recommendation.")
            return
        commissioning = machine_commissioning(technique, plan.setup.machine_id)
        try:
            depth_margin, lateral_margin = self.metrics_panel.dose_panel.margins_mm()
        except ValueError as err:
            self.report_problem(f"No recommendation: {err}.")
            return

        def shown(answer) -> None:
            if self.document.plan is not plan:
                self.statusBar().showMessage("Recommendation discarded: the plan changed while it was computed; "
                                             "ask again.", 10000)
                return
            energy, cone, note = answer
            self.metrics_panel.dose_panel.show_recommendations(tuple(r for r in (energy, cone) if r is not None), note)

        if not self.runner.start("Recommending energy and cone (beam data of each energy)",
                                 lambda progress, cancelled: engine.recommend(
                                     plan, commissioning, depth_margin_mm=depth_margin,
                                     lateral_margin_mm=lateral_margin, progress=progress, is_cancelled=cancelled),
                                 shown, self.report_problem):
            self.report_problem("Planner is still busy with the previous task; wait for it or cancel it first.")

    def _apply_recommendation(self, field: str, choice_id: str | None) -> None:
        plan = self.document.plan
        if plan is None or choice_id is None:
            return
        self.document.apply(plan.with_setup(**{field: choice_id}), "Use recommended " + field.split("_")[0])

    def _apply_recommended_energy_and_cone(self, energy_id: str, applicator_id: str) -> None:
        plan = self.document.plan
        if plan is None or not energy_id or not applicator_id:
            return
        self.document.apply(plan.with_setup(energy_id=energy_id, applicator_id=applicator_id),
                            "Use recommended energy and cone")

    def start_outline_proposal(self) -> None:
        if self.document.plan is None or self.displayed_image.calibration is None:
            self.report_problem("A proposed outline needs an image with a mm calibration; calibrate the image first.")
            return
        self.view.start_tool(PointTool("Click inside the dark (hypoechoic) lesion; Escape cancels.",
                                       self.propose_outline_at))

    def propose_outline_at(self, seed_mm) -> None:
        plan, image = self.document.plan, self.displayed_image
        skin = None if plan.skin_surface is None else plan.skin_surface.depth_at
        try:
            vertices = propose_lesion_outline(image.frames[self.view.frame], image.calibration, seed_mm, skin)
            outline = LesionOutline(vertices)
        except PlannerError as err:
            self.report_problem(f"No outline proposed: {err}.")
            return
        self.document.apply(plan.with_outline(outline), "Propose lesion outline")
        self.statusBar().showMessage("Proposed outline: check it against the image and edit its vertices.", 10000)

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

    def ask_text(self, title: str, question: str) -> str | None:
        """A line of text from the user, None if cancelled; tests replace it with a scripted answer."""
        text, ok = QInputDialog.getText(self, title, question)
        return text if ok else None

    def report_problem(self, message: str) -> None:
        """A clear sentence for the user, never a traceback; the open plan is untouched."""
        self.last_problem = message
        self.statusBar().showMessage(message, 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, "Planner", message, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

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

    def _remember(self, path: str) -> None:
        self.settings.add_recent_file(str(Path(path).resolve()))
        self._refresh_recent_menu()

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files()
        for path in files:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _checked=False, p=path: self._open_recent(p))
        self.recent_menu.setEnabled(bool(files))

    def _open_recent(self, path: str) -> None:
        if path.endswith(".json"):
            self.open_plan_file(path)
        else:
            self.open_image_file(path)

    def _update_title(self, *_signal_args) -> None:
        plan = self.document.plan
        title = "Planner" if plan is None else f"{plan.label} — {plan.patient_name} ({plan.patient_id}) [*] — Planner"
        self.setWindowTitle(title)
        self.setWindowModified(self.document.is_modified)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if ask_before_replacing(self, "Closing Planner") is None:
            event.ignore()
            return
        if self.runner.busy:
            self.runner.abandon()  # its result must not reach a closed window
            self.runner.wait(5.0)
        self.recovery_offer.restore_ended(restored=False)
        self.settings.save_window_layout(self.saveGeometry(), self.saveState(LAYOUT_VERSION))
        self.document.close_cleanly()
        # The window is going away: nothing its children emit while they are destroyed (the undo
        # stack clears itself) may reach it or touch the recovery file again.
        self.document.undo_stack.blockSignals(True)
        self.document.blockSignals(True)
        event.accept()
