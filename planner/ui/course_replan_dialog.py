"""Course ▸ Re-plan Remaining Fractions… (issue 17, point 3): the window's way to `planner course replan`.

The same core functions make the revision (planner.techniques.replan): the plan moved to a later session's
image and outline, the energy and applicator chosen, a new course phase for the remaining fractions, the
predecessor the RT Plan the plan on screen was exported or opened as. The revision is shown as the plan being
edited, one undoable step (image and plan swapped together); File ▸ Export Plan Package… then writes it as the
revision (PREDECESSOR, planner.review.revision), and once written the predecessor's plan file is marked
superseded (``complete_replan``, as the command line does). An undo after the export leaves the files: it says so.

Why the findings are judged in the background: the adaptation findings weigh other energies, whose beam data
may need Monte Carlo; the window never waits on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydicom import dcmread
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout

from planner.core.errors import PlannerError
from planner.core.plan import Plan
from planner.dicom.package import PLAN_FILE, PlanPackage
from planner.dicom.plan_payload import read_plan_payload
from planner.dicom.treatment_record import RECORD_FILE
from planner.imaging.planning_image import load_planning_image
from planner.review.adaptation import NOT_JUDGED, REPLAN, adaptation_findings
from planner.review.revision import PlanRevision, predecessor_of
from planner.techniques.replan import (check_replan, complete_replan, replan_dose, replan_reason, replan_time_s,
                                       replanned_course, revised_plan, rt_plan_identity)
from planner.ui.readable_colours import STOP, text_colour

NO_RT_PLAN = ("Not re-planned: the plan on screen has no RT Plan yet (export it with File ▸ Export Plan Package…, "
              "or open its signed RT Plan): a re-plan revises the RT Plan the course is delivered under.")


def replannable_session(plan: Plan | None):
    """The latest session a re-plan may use (after the last delivered fraction), None when the course cannot be
    re-planned (not under way, complete, superseded, its remaining fractions re-planned already) or has no such
    session."""
    course = None if plan is None else plan.course
    if course is None or not course.records or course.complete or course.superseded_by is not None:
        return None
    last = course.delivered_fractions
    if course.current_phase.first_fraction > last:   # this plan is the re-plan of the remaining fractions
        return None
    fits = [s for s in course.sessions if (s.when.kind, s.when.number) in (("after", last), ("before", last + 1))]
    return fits[-1] if fits else None


@dataclass(frozen=True)
class Predecessor:
    """The RT Plan a re-plan revises: its UID, its file, its Approval Status, the plan it holds (without course)."""

    uid: str
    rt_plan: Path
    status: str
    plan: Plan


@dataclass
class _Replan:
    """One re-plan made in the window, until and after its export."""

    before: Plan
    before_image: object
    after: Plan
    after_image: object
    predecessor: Predecessor
    exported_to: Path | None = None


class ReplanDialog(QDialog):
    """Session, energy and applicator of the plan's machine, the finding's numbers; OK checks with the core."""

    def __init__(self, plan: Plan, technique, findings_text: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Re-plan Remaining Fractions")
        self.plan, self.technique = plan, technique
        course = plan.course
        self.session_combo = QComboBox()
        for session in course.sessions:
            self.session_combo.addItem(f"{session.when.label} ({session.acquired_on.isoformat()})", session)
        latest = replannable_session(plan)
        if latest is not None:
            self.session_combo.setCurrentIndex(course.sessions.index(latest))
        machine = technique.machine(plan.setup.machine_id)
        self.energy_combo, self.applicator_combo = QComboBox(), QComboBox()
        for combo, items, current in ((self.energy_combo, machine.energies, plan.setup.energy_id),
                                      (self.applicator_combo, machine.applicators, plan.setup.applicator_id)):
            for item in items:
                combo.addItem(item.label, item.id)
            combo.setCurrentIndex(max(0, combo.findData(current)))
        remaining = course.planned_fractions - course.delivered_fractions
        self.what_label = QLabel(f"Fractions {course.delivered_fractions + 1}–{course.planned_fractions} "
                                 f"({remaining} × {course.current_phase.dose_per_fraction_gy:g} Gy) on the chosen "
                                 f"image, as a revision of the plan in use.")
        self.what_label.setWordWrap(True)
        self.findings_label = QLabel(findings_text)
        self.findings_label.setWordWrap(True)
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet(f"color: {text_colour(STOP, self)};")
        form = QFormLayout()
        form.addRow("Image", self.session_combo)
        form.addRow("Energy", self.energy_combo)
        form.addRow("Applicator", self.applicator_combo)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Re-plan")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.what_label, self.findings_label):
            layout.addWidget(widget)
        layout.addLayout(form)
        layout.addWidget(self.problem_label)
        layout.addWidget(self.buttons)
        self.predecessor_uid = ""
        self.revised: Plan | None = None

    @property
    def session(self):
        return self.session_combo.currentData()

    def accept(self) -> None:
        """The refusals that need no dose, said here in one line; the dialog stays open on one."""
        try:
            self.revised = revised_plan(self.plan, self.technique, self.session, self.predecessor_uid,
                                        energy_id=self.energy_combo.currentData(),
                                        applicator_id=self.applicator_combo.currentData())
        except PlannerError as err:
            self.problem_label.setText(f"Not re-planned: {err}.")
            return
        super().accept()


class CourseReplan(QObject):
    """The Course tab's re-plan: its findings, its dialog, the undoable step and the export's completion."""

    findings_changed = Signal(str)   # the adaptation finding that says re-plan, in words ("" none)

    def __init__(self, document, registry, dialogs, parent=None):
        super().__init__(parent)
        self.document, self.registry, self.dialogs = document, registry, dialogs
        self.runner = None
        self.output = None
        self.dialog: ReplanDialog | None = None
        self.findings_text = ""
        self._judged: list = []        # ((plan without course, session), findings) judged so far
        self._preempted = False        # the last task was cancelled (a judging pre-empted is judged again)
        self._replans: list[_Replan] = []

    def attach(self, runner, output) -> None:
        """The window's task runner and output (planner.ui.plan_output): the RT Plan on screen, the export."""
        self.runner, self.output = runner, output
        runner.busy_changed.connect(lambda busy: None if busy else self.judge(self.document.plan))
        runner.succeeded.connect(self._on_task_done)
        runner.cancelled.connect(self._on_cancelled)

    def _on_cancelled(self) -> None:
        self._preempted = True

    # --- the findings ------------------------------------------------------------------------
    def judge(self, plan: Plan | None) -> None:
        """The session's adaptation findings against the plan, once per plan and session, in the background."""
        session = replannable_session(plan)
        if session is None:
            self._set_findings("")
            return
        key = (plan.with_course(None), session)
        known = self._judged_findings(key)
        if known is not None:
            self._set_findings("; ".join(f.message for f in known if f.kind == REPLAN))
            return
        if self.runner is None or self.runner.busy:
            return

        def judged(findings) -> None:
            self._judged.append((key, findings))
            if (self.document.plan.with_course(None), replannable_session(self.document.plan)) == key:
                self._set_findings("; ".join(f.message for f in findings if f.kind == REPLAN))

        def not_judged(message: str) -> None:
            if self._preempted:   # judged again once the runner is free (attach)
                return
            self._judged.append((key, ()))   # not tried again for this plan and image
            self._set_findings(f"Not judged: {message}")

        self._preempted = False
        # Derived data: the user's next task (a file opened, a dose's beam data) pre-empts it.
        self.runner.start(f"Judging the image at {session.when.label} against the plan",
                          lambda progress, cancelled: adaptation_findings(plan, self.registry, session,
                                                                          progress=progress, is_cancelled=cancelled),
                          judged, not_judged, preemptible=True)

    def _judged_findings(self, key):
        """The findings judged for (plan without course, session), None when not judged yet."""
        return next((findings for judged, findings in self._judged if judged == key), None)

    def _set_findings(self, text: str) -> None:
        if text != self.findings_text:
            self.findings_text = text
            self.findings_changed.emit(text)
        if self.dialog is not None:
            self.dialog.findings_label.setText(text)

    # --- the dialog ----------------------------------------------------------------------------
    def predecessor(self, plan: Plan) -> Predecessor | None:
        """The RT Plan the plan on screen was exported or opened as (its course aside), else None."""
        out = self.output
        candidates = [r.predecessor for r in self._replans]
        if out is not None and out.opened is not None and out.opened.path is not None:
            candidates.insert(0, Predecessor(out.opened.rt_plan_uid, Path(out.opened.path), "",
                                             out.opened.plan.with_course(None)))
        if out is not None and out.package is not None:
            try:
                embedded, _ = read_plan_payload(dcmread(out.package.rt_plan, stop_before_pixels=True))
            except (PlannerError, OSError):
                embedded = None
            if embedded is not None:
                candidates.insert(0, Predecessor(out.package.rt_plan_uid, Path(out.package.rt_plan), "",
                                                 embedded.with_course(None)))
        bare = plan.with_course(None)
        return next((c for c in candidates if c.plan == bare), None)

    def open_dialog(self) -> ReplanDialog | None:
        plan = self.document.plan
        if replannable_session(plan) is None:
            self.dialogs.report_problem("Not re-planned: a re-plan needs a course under way, not complete, with an "
                                        "image taken after the last delivered fraction (Add Course Image…).")
            return None
        found = self.predecessor(plan)
        if found is None:
            self.dialogs.report_problem(NO_RT_PLAN)
            return None
        if self.dialog is not None:
            self.dialog.deleteLater()
        technique = self.registry.get(plan.setup.technique_id)
        dialog = self.dialog = ReplanDialog(plan, technique, self.findings_text, self.dialogs)
        dialog.predecessor_uid = found.uid
        dialog.accepted.connect(lambda: self._replan(dialog, found))
        dialog.open()
        return dialog

    def _replan(self, dialog: ReplanDialog, found: Predecessor) -> None:
        """OK: the revision's dose on the session's image (background), then one undoable step."""
        plan, session, revised = dialog.plan, dialog.session, dialog.revised
        technique = self.registry.get(plan.setup.technique_id)
        try:
            uid, status = rt_plan_identity(found.rt_plan)
            check_replan(plan, session, uid)
        except PlannerError as err:
            self.dialogs.report_problem(f"Not re-planned: {err}")
            return
        predecessor = Predecessor(uid, found.rt_plan, status, found.plan)
        judged = self._judged_findings((plan.with_course(None), session))

        def work(progress, cancelled):
            image = load_planning_image(session.image_path)
            time_s = replan_time_s(replan_dose(revised, image, technique))
            findings = judged if judged is not None else adaptation_findings(plan, self.registry, session,
                                                                             progress=progress, is_cancelled=cancelled)
            return image, time_s, replan_reason((f.message for f in findings if f.kind != NOT_JUDGED), session)

        def done(made) -> None:
            image, time_s, reason = made
            if self.document.plan is not plan:
                self.dialogs.report_problem("Not re-planned: the plan changed while its revision was computed.")
                return
            course = replanned_course(plan.course, revised, uid, time_s, reason, date.today())
            replan = _Replan(plan, self.document.planning_image, revised.with_course(course), image, predecessor)
            self._replans.append(replan)
            self.document.undo_stack.push(_ReplanCommand(self, replan, f"Re-plan on {session.when.label}"))

        if not self.runner.start(f"Re-planning on the image at {session.when.label}", work, done,
                                 lambda message: self.dialogs.report_problem(f"Not re-planned: {message}")):
            self.dialogs.report_problem("Not re-planned: another task is running; re-plan again once it ends.")

    # --- the undoable step, and the export ---------------------------------------------------------
    def show(self, replan: _Replan, redo: bool) -> None:
        """Put the revision (redo) or the plan before it (undo) on screen, image and plan together."""
        document = self.document
        document.planning_image = replan.after_image if redo else replan.before_image
        document.image_changed.emit(document.planning_image)   # the output forgets the package: set again below
        if redo and self.output is not None:   # what its export writes: a revision of the predecessor
            p = replan.predecessor
            self.output.revision = PlanRevision(plan=replan.before, predecessor_uid=p.uid, predecessor_path=p.rt_plan,
                                                predecessor_status=p.status)
        document._set_plan(replan.after if redo else replan.before)
        if not redo and replan.exported_to is not None:
            self.dialogs.report_problem(
                f"The re-plan is undone in the window only: the revision written to {replan.exported_to} and the "
                f"superseded mark in {replan.predecessor.rt_plan.parent / PLAN_FILE} stay on disk (nothing is "
                f"deleted).")

    def _on_task_done(self, payload) -> None:
        """A package written: if it is the revision on screen, its course follows it and the old file is marked."""
        if not isinstance(payload, PlanPackage):
            return
        replan = next((r for r in self._replans if r.after == self.document.plan), None)
        if replan is None or replan.exported_to is not None or \
                predecessor_of(payload.rt_plan) != replan.predecessor.uid:
            return
        old_file = replan.predecessor.rt_plan.parent / PLAN_FILE
        try:
            complete_replan(old_file, replan.before, replan.after.with_course(None), replan.after.course,
                            payload.rt_plan_uid, payload.plan_file, RECORD_FILE)
        except PlannerError as err:
            self.dialogs.report_problem(str(err))
            return
        replan.exported_to = Path(payload.folder)
        self.dialogs.show_status(f"Revision written to {payload.folder}; {old_file} is marked superseded from "
                                 f"fraction {replan.before.course.delivered_fractions + 1}", 15000)


class _ReplanCommand(QUndoCommand):
    """The re-plan as one step of the plan's undo history: the image and the plan change together."""

    def __init__(self, owner: CourseReplan, replan: _Replan, text: str):
        super().__init__(text)
        self.owner, self.replan = owner, replan

    def redo(self) -> None:
        self.owner.show(self.replan, redo=True)

    def undo(self) -> None:
        self.owner.show(self.replan, redo=False)


__all__ = ["CourseReplan", "NO_RT_PLAN", "Predecessor", "ReplanDialog", "replannable_session"]
