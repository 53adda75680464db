"""The IMRT window: the slice with structures and dose on the left; the plan, its objectives, the
DVH and the goals on the right. Optimise runs the technique's planning steps in the TaskRunner.

The window holds the volume, the plan document (every objective edit one undo step) and the last
optimisation's result. A result belongs to the plan it was optimised for: once the objectives
differ, the dose is marked as not optimised for the current objectives wherever it is shown,
until Optimise is pressed again.

A CT opened for IMRT is planned on a clinical protocol chosen when it opens (or later, Plan ▸ Choose
Protocol…): plugins.imrt_photon.protocol_plan makes its plan, its derived structures and its
structure mapping (a dialog when a structure is not found), applied as one undoable edit with the
volume it is on (planner.ui.imrt.document.PlanContext); its goals are judged on the honest DVH of
the dose shown (plugins.imrt_photon.protocol_goals), as ``planner imrt --protocol`` judges them.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QVBoxLayout, QWidget

from pathlib import Path

from planner.core.inverse_plan import dose_grid_label
from planner.core.inverse_plan_file import ImrtRecovery, InversePlanFileError, VolumeSource, save_inverse_plan
from planner.core.volume import PlanningVolume
from planner.dose.hot_spot import plan_hot_spot_check
from planner.ui.imrt.colours import structure_colours
from planner.ui.imrt.ct_slice_view import CtSliceView
from planner.ui.imrt.cumulative_view import CumulativeEqd2
from planner.ui.imrt.document import InversePlanDocument, PlanContext
from planner.ui.imrt.dvh_plot import DvhPlot
from planner.ui.imrt.goals_table import GoalsTable
from planner.ui.imrt.objectives_table import ObjectivesTable
from planner.ui.imrt.optimisation import Optimisation
from planner.ui.imrt.plan_summary import PlanSummary
from planner.ui.imrt.prior_panel import PriorCoursePanel
from planner.ui.imrt.protocol_edits import ProtocolEdits
from planner.ui.imrt.signed_path import ImrtSignedPath
from planner.ui.plan_output import audited
from planner.ui.planner_window import PlannerWindow
from planner.ui.tasks import TaskProgressWidget, TaskRunner
from planner.ui.unsaved_edits import saved_or_let_go

STALE_TEXT = "not optimised for the current objectives"
SIGNED_DOSE_TEXT = "dose of the signed segments, recomputed by the review"
STALE_STYLE = "color: #ffb040; font-weight: bold;"
PLAN_FILE_SUFFIX = ".imrt.json"


class ImrtWindow(PlannerWindow):
    closed = Signal()
    plan_file_changed = Signal(object)   # the plan file this window now has open (a Path), or None
    PROBLEM_TITLE = "Planner — IMRT"
    PROBLEM_SHOWN_MS = 30000
    TASK_WAIT_S = 10.0

    def __init__(self, technique, volume: PlanningVolume | None = None, parent: QWidget | None = None,
                 source: VolumeSource | None = None, recovery: ImrtRecovery | None = None):
        super().__init__(parent)
        # Where the volume came from (so a saved plan can reopen it) and where unsaved edits go.
        self.document = InversePlanDocument(recovery, source, self)
        self.saved_path: Path | None = None
        self.setObjectName("ImrtWindow")
        self.technique = technique
        self.planner = technique.inverse_planner
        self.volume: PlanningVolume | None = None
        self.base_volume: PlanningVolume | None = None   # the volume as opened, before a protocol's derived structures
        self.ct_types: dict[str, str] | None = None       # the CT's structures' RT ROI Interpreted Types
        self.ct_types_problem = ""                        # why they could not be read
        self._optimising_prior = self._result_prior = None   # the earlier course a run / the result was optimised with
        self.last_export = None       # planner.dicom.imrt_export.ImrtExport of the last export
        self.signed_dose = None       # a signed plan's dose recomputed by the review (show_signed_dose)
        self.signed_dose_plan = None  # the plan that dose belongs to
        self.last_deliverable = None  # the leaf-sequenced plan that export wrote
        self.last_exported_plan = None  # the InversePlan that export was optimised for
        # Where the window asks to save and export; tests replace these with scripted answers.
        self.ask_save_path = lambda: QFileDialog.getSaveFileName(
            self, "Save the IMRT plan", "", f"IMRT plan (*{PLAN_FILE_SUFFIX})")[0] or None
        self.ask_export_folder = lambda: QFileDialog.getExistingDirectory(
            self, "Export the IMRT plan (CT, RTSTRUCT, RTPLAN, RTDOSE) into an empty folder") or None

        self.runner = TaskRunner(parent=self)
        self.optimisation = Optimisation(self.planner, self.runner, self)

        self.slice_view = CtSliceView()
        centre = QWidget()
        self.centre_layout = QVBoxLayout(centre)
        self.centre_layout.setContentsMargins(0, 0, 0, 0)
        self.centre_layout.addWidget(self.slice_view, 1)
        self.setCentralWidget(centre)
        machines = "; ".join(m.name for m in technique.machines)
        self.summary = PlanSummary(self.planner.MODEL_DESCRIPTION, machines)
        self.objectives = ObjectivesTable()
        self.dvh = DvhPlot()
        self.goals = GoalsTable()
        self.prior_panel = PriorCoursePanel()
        plan_dock = self._add_dock("Plan", "ImrtPlanDock", self.summary)
        dvh_dock = self._add_dock("Dose-volume histogram", "ImrtDvhDock", self.dvh)
        objectives_dock = self._add_dock("Objectives", "ImrtObjectivesDock", self.objectives)
        goals_dock = self._add_dock("Goals", "ImrtGoalsDock", self.goals)
        points_dock = self._add_dock("DVH points", "ImrtDvhPointsDock", self.goals.metrics_panel)
        prior_dock = self._add_dock("Earlier course", "ImrtPriorDock", self.prior_panel, scrolled=True)
        self.splitDockWidget(plan_dock, dvh_dock, Qt.Orientation.Horizontal)
        self.splitDockWidget(plan_dock, objectives_dock, Qt.Orientation.Vertical)
        self.splitDockWidget(dvh_dock, goals_dock, Qt.Orientation.Vertical)
        self.tabifyDockWidget(goals_dock, points_dock)
        self.tabifyDockWidget(goals_dock, prior_dock)
        goals_dock.raise_()
        self.resizeDocks([plan_dock, objectives_dock], [350, 350], Qt.Orientation.Vertical)
        self.resizeDocks([dvh_dock, goals_dock], [320, 380], Qt.Orientation.Vertical)   # all four TG-119 goals in view at 1280 × 800
        # the goals column a little wider: a protocol's goals table (six columns) in view at 1280 × 800
        self.resizeDocks([plan_dock, dvh_dock], [400, 450], Qt.Orientation.Horizontal)

        self.hover_label = QLabel("Move the mouse over the slice for position, density and dose")
        self.dose_state_label = QLabel()
        self.progress = TaskProgressWidget(self.runner)
        # Messages (optimised, cancelled) show on the left; the hover readout stays beside them.
        self.statusBar().addPermanentWidget(self.hover_label)
        self.statusBar().addPermanentWidget(self.dose_state_label)
        self.statusBar().addPermanentWidget(self.progress)

        # Sign, the approved plan's lock and its revision (planner.ui.imrt.signed_path).
        self.signed_path = ImrtSignedPath(self)
        self.centre_layout.insertWidget(0, self.signed_path.banner)
        self._build_actions()
        self._connect()
        # the cumulative EQD2 of an earlier course on the slice and in the DVH (issue 18, point 4)
        self.cumulative_eqd2 = CumulativeEqd2(self)
        self.resize(1400, 860)
        self.setWindowTitle("IMRT plan — Planner")
        if volume is not None:
            self.set_volume(volume)
        else:
            self._refresh()

    # --- construction -----------------------------------------------------------------------
    def _build_actions(self) -> None:
        self.optimise_action = self._action("&Optimise", self.optimise, "Ctrl+R",
                                            "Compute the dose influence if the beams need it, then optimise the "
                                            "fluence against the objectives")
        self.undo_action, self.redo_action = self._undo_redo_actions()
        self.export_action = self._action("&Export Plan…", self.export_plan, "Ctrl+E",
                                          "Sequence the leaves (step-and-shoot), compute MU and write the CT, "
                                          "structures, RT Plan and RT Dose into a folder")
        self.save_action = self._action("&Save Plan", self.save_plan, QKeySequence.StandardKey.Save,
                                        "Save the objectives, prescription and beams, and where the volume came from")
        self.save_as_action = self._action("Save Plan &As…", lambda: self.save_plan(ask=True), "Ctrl+Shift+S")
        self.close_action = self._action("&Close", self.close, QKeySequence.StandardKey.Close)

        # the clinical protocol and the earlier course (planner.ui.imrt.protocol_edits)
        self.protocols = ProtocolEdits(self)
        self.protocol_action = self.protocols.protocol_action
        self.load_prior_action = self.protocols.load_prior_action
        self.remove_prior_action = self.protocols.remove_prior_action
        self.sign_action = self.signed_path.sign_action
        self.revise_action = self.signed_path.revise_action
        self._add_menu("&File", (self.save_action, self.save_as_action, self.export_action, self.sign_action, None,
                                 self.load_prior_action, self.remove_prior_action, None, self.close_action))
        self._add_menu("&Edit", (self.undo_action, self.redo_action))
        self._add_menu("&Plan", (self.protocol_action, None, self.optimise_action, None, self.revise_action))
        self._add_view_menu()
        self.toolbar = self._add_toolbar("IMRT", "ImrtToolBar", (
            self.optimise_action, self.export_action, None, self.undo_action, self.redo_action, None,
            self.close_action))

    def _connect(self) -> None:
        self.document.context_changed.connect(self._on_context_changed)
        self.document.plan_changed.connect(self._on_plan_changed)
        self.document.autosave_failed.connect(self.show_status)
        self.document.undo_stack.cleanChanged.connect(lambda _clean: self._show_title())
        self.objectives.edited.connect(self.apply_edit)
        self.summary.edited.connect(self.apply_edit)
        self.summary.iterations_edited.connect(self._on_iterations_edited)
        self.slice_view.hovered.connect(self._on_hover)
        self.optimisation.rows_changed.connect(lambda _rows: self.dvh.set_source(self.structure_dvhs))
        self.optimisation.iterated.connect(self._on_iteration)
        self.optimisation.finished.connect(self._on_result)
        self.optimisation.stopped.connect(self._on_stopped)
        self.runner.busy_changed.connect(lambda _busy: self._refresh_actions())
        self.signed_path.lock_changed.connect(lambda _locked: self._refresh())

    # --- the volume and the plan ---------------------------------------------------------------
    def apply_edit(self, plan, description: str) -> None:
        """Every edit of the plan (one undo step), unless the plan on screen is approved and locked:
        then refused with how to revise, and the tables show the plan as it is again."""
        if self.signed_path.refused_because_locked():
            QTimer.singleShot(0, lambda: self._on_plan_changed(self.plan))   # after the editor has let go
            return
        self.document.apply(plan, description)

    def show_signed_plan(self, signed) -> None:
        """The plan embedded in ``signed`` (planner.dicom.signed_plan, an IMRT RT Plan) on this
        window's volume: its objectives, beams and prescription; locked when it is APPROVED. The
        protocol and earlier course made again when the volume was opened (load_ct_series) are kept."""
        self.signed_path.show_signed(signed)
        self.document.reset(signed.plan.plan, self.document.context)
        self._show_title()

    def show_signed_dose(self, segment_dose) -> None:
        """The dose the review recomputed from the signed RT Plan's segments (planner.review.imrt_review),
        on a signed plan that was not optimised here: isodoses, DVH and goals, until Optimise replaces it."""
        if self.volume is None or tuple(segment_dose.volume.grid.shape) != tuple(self.volume.grid.shape):
            return
        self.signed_dose, self.signed_dose_plan = segment_dose, self.plan
        rx = self.plan.prescription
        self.slice_view.show_dose(segment_dose.dose_grid_gy, rx.total_dose_gy)
        self.dvh.set_source(lambda rows: self.planner.structure_dvhs(self.volume, segment_dose.influence, rows))
        self.dvh.show_final(segment_dose.dose_rows_gy, SIGNED_DOSE_TEXT + ".", rx.total_dose_gy)
        self.goals.show_result(self.planner.tg119_goals(segment_dose.metrics, target=rx.target),
                               segment_dose.metrics, stale=False)
        self._refresh()

    def set_volume(self, volume: PlanningVolume, plan=None, context: PlanContext | None = None) -> None:
        """Plan on a new volume, starting from the technique's default plan for it (or ``plan`` with
        its ``context``, e.g. a saved one's: not an edit, nothing to undo)."""
        self.base_volume = volume
        self._show_volume(volume)
        self.document.reset(plan if plan is not None else self.planner.default_plan(volume), context)
        self._show_title()
        self._show_result_or_nothing()

    def _show_volume(self, volume: PlanningVolume) -> None:
        """The volume planned on (the one opened, or it with a protocol's derived structures): its
        dose influence and any dose of another volume are let go."""
        self.optimisation.set_volume(volume)
        self.volume = volume
        self.signed_dose = self.signed_dose_plan = None
        self.last_export = self.last_deliverable = self.last_exported_plan = None
        self.summary.show_export("not exported")
        colours = structure_colours(tuple(volume.masks))
        self.slice_view.set_volume(volume, colours)
        self.dvh.set_structures(colours)
        self.objectives.set_structures(tuple(volume.masks))
        self.summary.show_volume(volume)

    def load_ct_series(self, folder: str, spacing_mm: float, plan=None, rtstruct: str | None = None,
                       then=None, context=None) -> bool:
        """Read a CT series and its structure set off the GUI thread, resample it to the dose grid's
        voxels and plan on it (on `plan` when given, e.g. a saved one, with its plan file's `context`
        (planner.core.plan_context_file.PlanContextRecord) made again: protocol_edits.restore_context);
        `then(not_restored)` runs after, given the one line saying what of the context was not
        restored and why ("" for nothing). A series that cannot be used is refused with the reader's reason."""
        from planner.imaging.ct_series import CtSeriesError, load_ct_volume, resample_volume
        from planner.imaging.structure_types import roi_interpreted_types
        from planner.ui.imrt.protocol_edits import restore_context

        def work(progress, is_cancelled):
            progress(0.05, f"Reading the CT series in {folder}")
            volume = load_ct_volume(folder, rtstruct)
            if is_cancelled():
                return None
            try:   # the structures' types, for a protocol's matching; a CT without them opens all the same
                types, why = roi_interpreted_types(volume, folder, rtstruct), ""
            except CtSeriesError as err:
                types, why = None, err.user_message
            progress(0.7, f"Resampling to {spacing_mm:g} mm voxels")
            volume = resample_volume(volume, spacing_mm)
            if context is not None:
                progress(0.85, "Applying the plan's protocol and earlier course again")
            return (volume, types, why, *restore_context(volume, types, why, context))

        def loaded(outcome) -> None:
            volume, self.ct_types, self.ct_types_problem, restored, not_restored = outcome
            self.set_volume(volume, plan, restored)
            if then is not None:
                then(not_restored)
            self.show_status(f"Opened {volume.description} on {spacing_mm:g} mm voxels")

        self.show_status(f"Reading the CT series in {folder} …")
        return self.runner.start("Opening the CT series", work, loaded,
                                  lambda message: self.report_problem(f"The CT series was not opened: {message}"))

    def apply_context_edit(self, plan, context: PlanContext, description: str) -> None:
        """An edit of the plan and what goes with it (protocol, earlier course): one undo step."""
        if self.signed_path.refused_because_locked():
            return
        self.document.apply_with_context(plan, context, description)

    def _on_context_changed(self, context: PlanContext) -> None:
        """The volume the plan is on follows the protocol (its derived structures); a dose of the
        other volume is let go (Optimise again)."""
        volume = context.protocol.volume if context.protocol is not None else self.base_volume
        self.protocols.forget_judged()
        placed = None if context.protocol is None else context.protocol.reirradiation
        self.prior_panel.show_prior(context.prior if placed is not None else None, placed)
        if volume is not None and volume is not self.volume:
            had_dose = self.result is not None
            self._show_volume(volume)
            if self.plan is not None:   # a window's first plan comes just after (document.reset) and shows itself
                self._show_result_or_nothing()
            if had_dose:
                self.show_status("The structures changed: the dose was let go; press Optimise")

    def mark_restored(self) -> None:
        """A plan brought back from the recovery file is unsaved work: keep it so until saved."""
        self.document.mark_unsaved()
        self._show_title()

    @property
    def plan(self):
        return self.document.plan

    @property
    def result(self):
        return self.optimisation.result

    def _on_plan_changed(self, plan) -> None:
        self.objectives.show_plan(plan)
        self.summary.show_plan(plan)
        self._refresh()

    # --- nothing of the user's work lost (planner.ui.imrt.document) ------------------------------
    @property
    def is_modified(self) -> bool:
        return self.document.is_modified

    @property
    def source(self):
        """Where the volume came from, so a saved plan can reopen it (None: it cannot be saved)."""
        return self.document.source

    @property
    def recovery(self):
        return self.document.recovery

    @recovery.setter
    def recovery(self, recovery) -> None:
        self.document.recovery = recovery

    def save_plan(self, path: str | None = None, ask: bool = False) -> bool:
        """Write the plan file (objectives, prescription, beams, the volume's source, and the protocol
        and earlier course it was planned with: PlanContext.file_record)."""
        if self.plan is None:
            return False
        if self.source is None:
            self.report_problem("This volume cannot be reopened from a file, so its plan cannot be saved.")
            return False
        target = path or (None if ask else self.saved_path) or self.ask_save_path()
        if not target:
            return False
        target = Path(target)
        if not target.name.endswith(PLAN_FILE_SUFFIX):
            target = target.with_name(target.name.removesuffix(".json") + PLAN_FILE_SUFFIX)
        record = self.document.context.file_record()
        try:
            save_inverse_plan(target, self.plan, self.source, record)
        except InversePlanFileError as err:
            message = err.user_message          # it says "the plan was not saved: why"
            self.report_problem(message[:1].upper() + message[1:])
            return False
        self.document.mark_saved()
        self.set_saved_path(target)
        # the protocol and earlier course go with it when read from files (always, through the window)
        context = self.document.context
        kept = ("" if context.protocol is None else
                "; ⚠ its protocol was not read from a file, so it is not in the plan file" if record is None else
                f" with protocol {context.protocol.protocol.id}"
                + ("" if record.earlier_course is None else " and the earlier course"))
        self.show_status(f"Saved the IMRT plan to {target}{kept}")
        return True

    def set_saved_path(self, path: Path) -> None:
        """The plan file this window's plan is saved in; said to whoever keeps track (another
        Planner instance is told it is open here, planner.core.recovery)."""
        self.saved_path = Path(path)
        self._show_title()
        self.plan_file_changed.emit(self.saved_path)

    def _show_title(self) -> None:
        on = self.volume.description if self.volume is not None and self.volume.description else "a planning volume"
        opened = self.signed_path.opened
        name = (f"{self.saved_path.name} — " if self.saved_path
                else f"{opened.path.parent.name}/{opened.path.name} — " if opened is not None and opened.path else "")
        edited = "* " if self.is_modified else ""
        self.setWindowTitle(f"{edited}{name}IMRT plan on {on} — Planner")

    def _on_iterations_edited(self, iterations: int) -> None:
        if self.plan is not None and iterations != self.plan.max_iterations:
            self.apply_edit(replace(self.plan, max_iterations=iterations), f"Optimiser stops at {iterations} iterations")

    @property
    def is_stale(self) -> bool:
        """Whether the dose shown was optimised for other objectives, prescription or beams than the
        current plan's (the iteration limit alone does not make a dose stale)."""
        result = self.result
        if result is None or self.plan is None:
            return False
        return (replace(result.plan, max_iterations=0) != replace(self.plan, max_iterations=0)
                or self._result_prior is not self.document.context.prior)

    def _refresh(self) -> None:
        result, stale = self.result, self.is_stale
        if self.volume is None:
            text = "no volume open"
        elif result is None and self.signed_dose is not None and self.plan != self.signed_dose_plan:
            text = f"⚠ {SIGNED_DOSE_TEXT}, for the signed plan's objectives: press Optimise"
        elif result is None and self.signed_dose is not None:
            text = SIGNED_DOSE_TEXT + (" (approved, locked)" if self.signed_path.locked else "")
        elif result is None and self.signed_path.locked:
            text = "locked (approved): not optimised"
        elif result is None:
            text = "not optimised yet: press Optimise"
        elif stale:
            text = f"⚠ {STALE_TEXT}: the dose shown is the previous optimisation's; press Optimise"
        else:
            text = f"optimised: {result.iterations} iterations in {result.seconds:.1f} s"
        self.summary.show_dose_state(text, stale)
        o = self.optimisation
        self.summary.show_delivery(o.deliverable if result is not None else None, stale, o.delivery_problem)
        if self.last_export is not None:
            summary = self.export_summary(self.last_deliverable, self.last_export)
            if self.last_exported_plan != self.plan:
                self.summary.show_export("⚠ for other objectives than the current ones: " + summary, True)
            else:
                self.summary.show_export(summary)
        self.dose_state_label.setText(f"Dose {STALE_TEXT} ⚠" if stale else "")
        self.dose_state_label.setStyleSheet(STALE_STYLE if stale else "")
        self.protocols.show_goals(result, stale)
        if result is not None:
            self.dvh.caption.setText(self._dvh_caption(result))
        self._refresh_actions()

    def _refresh_actions(self) -> None:
        self.optimise_action.setEnabled(self.volume is not None and not self.runner.busy)
        self.protocols.refresh_actions()
        self.sign_action.setEnabled(self.last_export is not None and not self.runner.busy)
        self.export_action.setEnabled(self.result is not None and not self.is_stale and not self.runner.busy)

    def structure_dvhs(self, dose_rows_gy):
        """Each structure's DVH (sampled below the voxel) of a dose given per dose-influence row."""
        return self.planner.structure_dvhs(self.volume, self.optimisation.influence, dose_rows_gy)

    def _dvh_caption(self, result) -> str:
        rx = result.plan.prescription
        grid = dose_grid_label(float(max(self.volume.grid.spacing_mm)))
        text = f"Optimised on the {grid}: {result.iterations} iterations, {result.normalisation_text}."
        return f"⚠ Dose {STALE_TEXT}. " + text if self.is_stale else text

    # --- optimisation ----------------------------------------------------------------------------
    def optimise(self) -> bool:
        plan = self.plan
        if self.volume is None or plan is None or self.signed_path.refused_because_locked():
            return False
        problems = plan.problems(tuple(self.volume.masks))
        if problems:
            self.report_problem("The plan cannot be optimised: " + "; ".join(problems) + ".")
            return False
        if self.objectives.problems:
            self.show_status("Note: a refused entry in the objectives table is not used; the plan's value is.")
        chosen = self.document.context.protocol
        self._optimising_prior = self.document.context.prior
        if not self.optimisation.start(plan, None if chosen is None else chosen.reirradiation,
                                       None if chosen is None else chosen.normalisation):
            self.report_problem("Planner is still busy with the previous task; wait for it or cancel it first.")
            return False
        return True

    def _on_iteration(self, iteration: int, value: float, dose_rows) -> None:
        rx = self.plan.prescription
        self.dvh.show_live(dose_rows, f"Optimising: iteration {iteration} (objective {value:.4g}), shown "
                                      f"scaled so that {rx.target} D{rx.coverage_volume_fraction * 100:g} "
                                      f"= {rx.total_dose_gy:g} Gy at the optimiser's samples")

    def _on_result(self, result) -> None:
        self._result_prior = self._optimising_prior
        self._show_result_or_nothing()
        influence = ("" if self.optimisation.influence_seconds is None
                     else f" after the dose influence ({self.optimisation.influence_seconds:.1f} s)")
        self.show_status(f"Optimised: {result.iterations} iterations in {result.seconds:.1f} s{influence}; "
                         f"{result.normalisation_text}")

    def _show_result_or_nothing(self) -> None:
        result = self.result
        if result is None:
            self.slice_view.show_dose(None, self.plan.prescription.total_dose_gy)
            self.dvh.clear("No dose yet: press Optimise.")
            self.goals.show_result(None, {}, stale=False)
            self.goals.show_findings(None)
        else:
            rx = result.plan.prescription
            influence = self.optimisation.influence
            dose = self.planner.dose_grid_gy(self.volume, influence, result.dose_rows_gy)
            self.slice_view.show_dose(dose, rx.total_dose_gy)
            self.goals.show_findings(plan_hot_spot_check(self.volume, self.planner.sampled(self.volume), dose,
                                                         rx.target, rx.total_dose_gy))
            self.dvh.set_source(self.structure_dvhs)
            self.dvh.show_final(result.dose_rows_gy, self._dvh_caption(result), rx.total_dose_gy)
        self._refresh()

    def _on_stopped(self, message: str, cancelled: bool) -> None:
        self.dvh.cancel_live()
        self._show_result_or_nothing()  # the previous result's DVH back in place of the live curves
        if cancelled:
            self.show_status("Optimisation cancelled, previous plan kept" if self.result is not None
                             else "Optimisation cancelled; no plan optimised yet")
        else:
            self.report_problem(f"Not optimised: {message}")

    # --- export ------------------------------------------------------------------------------------
    def export_plan(self, folder: str | None = None) -> bool:
        """Leaf-sequence the optimised plan, give it MU and write the whole DICOM set, off the GUI
        thread. Only a dose optimised for the current objectives is exported."""
        result = self.result
        if result is None or self.is_stale:
            self.report_problem("Optimise the plan first: the dose shown is "
                                + ("not optimised yet." if result is None else f"{STALE_TEXT}."))
            return False
        folder = folder or self.ask_export_folder()
        if not folder:
            return False
        from planner.dicom.imrt_export import export_imrt_plan
        from planner.dicom.inverse_payload import EmbeddedInversePlan, InverseSource
        from planner.report.imrt_report import ProtocolGoals, ReirradiationSummary, imrt_report_for
        from planner.review.revision import export_revision
        from plugins.imrt_photon.protocol_goals import protocol_goals

        planner, volume, influence, source = self.planner, self.volume, self.optimisation.influence, self.source
        patient_name = volume.patient_name or "PHANTOM^TG119"
        patient_id = volume.patient_id or "TG119"
        revision = self.signed_path.revision
        chosen = self.document.context.protocol
        context = self.document.context.file_record()   # the RT Plan carries it as the plan file does

        def work(progress, is_cancelled):
            progress(0.1, "Leaf sequencing (step-and-shoot) and monitor units")
            deliverable = planner.deliverable_plan(volume, influence, result, label="IMRT")
            if is_cancelled():
                return None
            progress(0.5, f"Writing CT, structures, RT Plan, RT Dose and the report into {folder}")
            dose = planner.dose_grid_gy(volume, influence, deliverable.dose_rows_gy)
            # with a protocol, the report lists its goals on the deliverable dose, as planner imrt --protocol's does
            dvhs = None if chosen is None else planner.structure_dvhs(volume, influence, deliverable.dose_rows_gy)
            goals = None if chosen is None else ProtocolGoals.of(chosen.protocol, protocol_goals(chosen, dvhs)[0])
            placed = None if chosen is None else chosen.reirradiation
            report, dvh_curves = imrt_report_for(planner, volume, influence, result, deliverable,
                                                 patient_name=patient_name, patient_id=patient_id, protocol_goals=goals,
                                                 reirradiation=None if placed is None
                                                 else ReirradiationSummary.of(placed.judge(dvhs)))
            # The RT Plan embeds the plan it was optimised from, so it can be opened, signed and
            # reviewed (planner.dicom.inverse_payload); a volume that cannot be reopened cannot be embedded.
            embedded = None if source is None else InverseSource(result.plan, source, planner.MODEL_DESCRIPTION,
                                                                 "; ".join(deliverable.mlc_plan.notes), context)

            def exported_with(anchor):   # the RT Plan carries its audit entry's hash (planner.dicom.audit_anchor)
                def write(out, predecessor_uid=None):
                    return export_imrt_plan(out, volume, deliverable.mlc_plan, dose, patient_name, patient_id,
                                            report=report, dvh_curves=dvh_curves, source=embedded,
                                            predecessor_uid=predecessor_uid, audit_anchor=anchor)

                if revision is None:
                    return write(folder)
                plan = EmbeddedInversePlan(result.plan, source, patient_id, patient_name, deliverable.mlc_plan.label,
                                           context)
                return export_revision(folder, revision, plan, write)

            details = {"folder": str(folder), "technique": "imrt-photon",
                       **({} if revision is None else {"predecessor_uid": revision.predecessor_uid})}
            return deliverable, audited("revision" if revision is not None else "export", details, None, exported_with)

        def exported(outcome) -> None:
            self.last_deliverable, self.last_export = outcome
            self.last_exported_plan = result.plan
            self.show_status(self.export_summary(*outcome))
            self._refresh()
            self.signed_path.show_status()

        return self.runner.start("Exporting the IMRT plan", work, exported,
                                 lambda message: self.report_problem(f"The plan was not exported: {message}"))

    @staticmethod
    def export_summary(deliverable, export) -> str:
        plan, m = deliverable.mlc_plan, deliverable.metrics
        rx_target = plan.target_roi_name
        core = next((name for name in m if name.lower() == "core"), None)
        points = [f"{rx_target} D95 {m[rx_target].d95_gy:.2f} Gy, D10 {m[rx_target].d10_gy:.2f} Gy"]
        if core:
            points.append(f"{core} D10 {m[core].d10_gy:.2f} Gy")
        return (f"Exported to {export.folder}: {sum(plan.segment_counts)} segments in {len(plan.beams)} beams, "
                f"{plan.total_mu_per_fraction:.0f} MU per fraction (DEMO calibration); after leaf sequencing "
                + "; ".join(points))

    # --- status --------------------------------------------------------------------------------
    def _on_hover(self, text: str) -> None:
        self.hover_label.setText(text)

    def may_close(self) -> bool:
        return not (self.is_modified and self.source is not None) or saved_or_let_go(
            self.ask_user, "Unsaved IMRT plan", "The IMRT plan has changes that are not saved in a plan file.",
            self.save_plan)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().closeEvent(event)
        if event.isAccepted():
            self.plan_file_changed.emit(None)
            self.closed.emit()
