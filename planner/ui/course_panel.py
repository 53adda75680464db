"""The treatment course: fractions recorded one by one, planned versus delivered dose, schedule flags.

The course lives in the plan (planner.core.course), so recording a fraction is an ordinary plan edit:
undoable, autosaved on the spot, saved with the plan. The planned beam-on time of a fraction is
taken from the dose shown when the course starts and kept with the course; a later change of the
plan that changes the time is flagged, never silently applied to fractions already given. The course's
imaging sessions are added through Add Course Image… (planner.ui.course_image_dialog), also one undoable edit;
Re-plan Remaining Fractions… (planner.ui.course_replan_dialog) is offered once a session after the last
delivered fraction is there, with the adaptation finding that says re-plan beside it.
"""

from __future__ import annotations

import math
from datetime import date

from planner.ui import qt_setup  # noqa: F401  (pyqtgraph options)
import pyqtgraph as pg
from PySide6.QtCore import QDate, QSize
from PySide6.QtWidgets import (QBoxLayout, QDateEdit, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from planner.core.course import Course, CourseError, course_columns
from planner.core.plan import Plan
from planner.core.radiobiology import ALPHA_BETA_LATE_SKIN_GY, ALPHA_BETA_TUMOUR_GY
from planner.techniques.course_start import start_course
from planner.ui.course_image_dialog import CourseImageDialog
from planner.ui.course_replan_dialog import CourseReplan, replannable_session
from planner.ui.document import PlanDocument
from planner.ui.readable_colours import STOP, WARNING, text_colour

WIDE_FROM_CHARACTERS = 95   # narrower than this: the form goes below the table instead of beside it
COMPACT_HEIGHT_PX = 110     # what the table and the plot ask for; they grow into any height left
DEFAULT_MAX_GAP_DAYS = 7   # a clinic's rule of thumb, editable; not a published figure
TIME_COLUMN = 2  # headed with the technique's word for the time: "Treatment time (s)" (kV), "Dwell time (s)" (eBx)
UNKNOWN_TIME_NAME = "time"  # before the dose engine has named it (planner.dose.result.DoseResult.time_name)
COLUMNS = course_columns(UNKNOWN_TIME_NAME)


def fraction_ticks(fractions: int, most: int = 10) -> list[tuple[int, str]]:
    """Ticks of the fraction axis: whole fractions only (a fraction is a count, never 0.2 of one),
    at most about ``most`` of them, from 0 to the last planned fraction."""
    step = max(1, -(-fractions // most))
    marks = list(range(0, fractions + 1, step))
    if marks[-1] != fractions:
        marks.append(fractions)
    return [(k, str(k)) for k in marks]


def course_dose_text(course: Course) -> str:
    """The whole course: delivered plus remaining (each phase at its own dose), and its BED/EQD2 (no time factor)."""
    biological = "; ".join(f"BED{ab:g} {course.course_bed_gy(ab):.2f} Gy, "
                           f"EQD2({ab:g}) {course.course_eqd2_gy(ab):.2f} Gy"
                           for ab in (ALPHA_BETA_TUMOUR_GY, ALPHA_BETA_LATE_SKIN_GY))
    return (f"Course dose {course.course_dose_gy:.2f} Gy (delivered {course.delivered_dose_gy:.2f} + remaining "
            f"{course.remaining_dose_gy:.2f}); {biological}.")


class _CompactPlot(pg.PlotWidget):
    """A plot whose size hint stays small: a graphics view's grows with its scene, and the dock
    would then ask for the plot's last size and scroll instead of fitting the course."""

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(240, COMPACT_HEIGHT_PX)


class _CompactTable(QTableWidget):
    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(super().sizeHint().width(), COMPACT_HEIGHT_PX)


class CoursePanel(QWidget):
    def __init__(self, document: PlanDocument, registry, dialogs, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.registry = registry
        self.dialogs = dialogs   # planner.ui.dialogs.Dialogs: files and questions of Add Course Image…
        self.image_dialog: CourseImageDialog | None = None
        self._planned_time_s: float | None = None
        self._filled_time = ""   # the time the form was filled with (replaced when the phase changes)
        self._time_names: dict[str, str] = {}  # technique id → what its engine calls the time

        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.course_dose_label = QLabel()   # the whole course after a re-plan: delivered + remaining, BED/EQD2
        self.course_dose_label.setWordWrap(True)
        self.flags_label = QLabel()
        self.flags_label.setWordWrap(True)
        self.flags_label.setStyleSheet(f"color: {text_colour(WARNING, self)};")

        self.plot = _CompactPlot()
        self.plot.setMinimumHeight(100)
        # The plot is ~110 px high: "cumulative" goes on the wide axis, so the left label is never cut.
        self.plot.setLabel("bottom", "fraction (the cumulative dose after each)")
        self.plot.setLabel("left", "dose", units="Gy")
        self.plot.addLegend(offset=(10, 10))
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.planned_curve = self.plot.plot(name="planned", pen=pg.mkPen("#9090ff", width=2, style=pg.QtCore.Qt.PenStyle.DashLine),
                                            symbol="o", symbolSize=5, symbolBrush="#9090ff")
        self.delivered_curve = self.plot.plot(name="delivered", pen=pg.mkPen("#40d080", width=2), symbol="s",
                                              symbolSize=7, symbolBrush="#40d080")

        self.table = _CompactTable(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # Remarks take what is left and may shrink below their text: the table never scrolls sideways
        # just to keep an empty column wide.
        self.table.horizontalHeader().setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)

        # Starting the course.
        self.start_box = QGroupBox("Start the course")
        start_form = QFormLayout(self.start_box)
        self.max_gap = QSpinBox()
        self.max_gap.setRange(1, 365)
        self.max_gap.setSuffix(" days")
        self.max_gap.setValue(DEFAULT_MAX_GAP_DAYS)
        self.max_gap.setToolTip("The longest interval between fractions your schedule allows; a longer one is "
                                "flagged. A clinic's rule: no published figure is built in.")
        start_form.addRow("Flag gaps longer than", self.max_gap)
        self.start_button = QPushButton("Start course with this plan")
        start_form.addRow(self.start_button)

        # Recording a fraction.
        self.record_box = QGroupBox("Record the next fraction")
        record_form = QFormLayout(self.record_box)
        self.date_edit = QDateEdit()
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        self.date_edit.setDate(QDate.currentDate())
        self.time_edit = QLineEdit()
        time_row = QHBoxLayout()
        time_row.addWidget(self.time_edit, 1)
        time_row.addWidget(QLabel("s"))
        self.delivered_by = QLineEdit()
        self.delivered_by.setPlaceholderText("name of whoever delivered it")
        self.remarks = QLineEdit()
        self.record_button = QPushButton("Record fraction")
        record_form.addRow("Delivered on", self.date_edit)
        self.time_form_label = QLabel(UNKNOWN_TIME_NAME.capitalize())
        record_form.addRow(self.time_form_label, time_row)
        record_form.addRow("Delivered by", self.delivered_by)
        record_form.addRow("Remarks", self.remarks)
        record_form.addRow(self.record_button)
        # Imaging sessions (issue 17): baseline, during the course, follow-up.
        self.images_box = QGroupBox("Imaging sessions")
        images_layout = QVBoxLayout(self.images_box)
        self.sessions_label = QLabel()
        self.sessions_label.setWordWrap(True)
        self.add_image_button = QPushButton("Add Course Image…")
        self.add_image_button.setToolTip("An ultrasound of this course (baseline, before or after a fraction, "
                                         "follow-up) with the lesion outlined on it")
        images_layout.addWidget(self.sessions_label)
        images_layout.addWidget(self.add_image_button)
        # Re-plan (issue 17, point 3): the remaining fractions on a later image, as a revision.
        self.replan = CourseReplan(document, registry, dialogs, self)
        self.replan_button = QPushButton("Re-plan Remaining Fractions…")
        self.replan_button.setToolTip("A revision of the plan in use for the fractions still to give, on an image "
                                      "taken after the last delivered fraction")
        self.replan_label = QLabel()
        self.replan_label.setWordWrap(True)
        self.replan_label.setStyleSheet(f"color: {text_colour(WARNING, self)};")
        images_layout.addWidget(self.replan_label)
        images_layout.addWidget(self.replan_button)
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet(f"color: {text_colour(STOP, self)};")

        # The fractions (table, then plot) beside the form when the panel is wide (the window's default,
        # below the image), above it when narrow: either way form and table show without scrolling.
        records = QVBoxLayout()
        records.addWidget(self.table, 1)
        records.addWidget(self.plot, 1)
        form = QVBoxLayout()
        form.addWidget(self.start_box)
        form.addWidget(self.record_box)
        form.addWidget(self.images_box)
        form.addWidget(self.problem_label)
        form.addStretch(1)
        self.body = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.body.addLayout(records, 1)
        self.body.addLayout(form)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.course_dose_label)
        layout.addWidget(self.flags_label)
        layout.addLayout(self.body, 1)

        self.start_button.clicked.connect(self.start_course)
        self.record_button.clicked.connect(self.record_fraction)
        self.add_image_button.clicked.connect(self.add_course_image)
        self.replan_button.clicked.connect(self.replan.open_dialog)
        self.replan.findings_changed.connect(self._show_replan_finding)
        document.plan_changed.connect(self.show_plan)
        self.show_plan(document.plan)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        wide = event.size().width() >= self.fontMetrics().averageCharWidth() * WIDE_FROM_CHARACTERS
        self.body.setDirection(QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom)
        super().resizeEvent(event)

    # --- what the dose engine says a fraction takes -------------------------------------------------
    def set_planned_time(self, minutes: float | None, time_name: str | None = None) -> None:
        """The current plan's time per fraction (None when the engine gives none) and what the
        engine calls it (``DoseResult.time_name``: treatment time for kV, dwell time for eBx)."""
        self._planned_time_s = None if minutes is None else minutes * 60.0
        plan = self.document.plan
        if time_name and plan is not None:
            self._time_names[plan.setup.technique_id] = time_name
        self.show_plan(self.document.plan)

    @property
    def time_name(self) -> str:
        """The open plan's word for the time, as its dose engine last named it."""
        plan = self.document.plan
        return UNKNOWN_TIME_NAME if plan is None else self._time_names.get(plan.setup.technique_id, UNKNOWN_TIME_NAME)

    # --- display ----------------------------------------------------------------------------------
    def show_plan(self, plan: Plan | None) -> None:
        course = None if plan is None else plan.course
        self.start_box.setVisible(plan is not None and course is None)
        self.record_box.setVisible(course is not None and not course.complete)
        self.images_box.setVisible(course is not None)
        self.sessions_label.setText("" if course is None else
                                    "; ".join(f"{s.when.label} ({s.acquired_on.isoformat()})" for s in course.sessions)
                                    or "None yet.")
        replannable = replannable_session(plan) is not None
        self.replan_button.setEnabled(replannable)
        self.replan_label.setVisible(replannable and bool(self.replan.findings_text))
        self.replan.judge(plan)
        self.start_button.setEnabled(self._planned_time_s is not None)
        self.start_button.setToolTip("" if self._planned_time_s is not None else
                                     f"The plan needs a computed {self.time_name} before its course can start")
        self.time_form_label.setText(self.time_name.capitalize())
        self.table.setHorizontalHeaderItem(TIME_COLUMN, QTableWidgetItem(course_columns(self.time_name)[TIME_COLUMN]))
        if plan is None:
            self.summary_label.setText("No plan open.")
        elif course is None:
            rx = plan.prescription
            self.summary_label.setText(
                f"No fraction recorded yet. Planned: {rx.fractions} × {rx.dose_per_fraction_gy:g} Gy = "
                f"{rx.fractions * rx.dose_per_fraction_gy:g} Gy"
                + ("" if self._planned_time_s is None else f", {self.time_name} {self._planned_time_s:.0f} s per fraction")
                + ". Start the course to record fractions.")
        else:
            self.summary_label.setText(course.summary())
        self.course_dose_label.setText("" if course is None else course_dose_text(course))
        self.course_dose_label.setVisible(course is not None)
        self._show_flags(plan, course)
        self._show_table(course)
        self._show_plot(plan, course)
        if course is not None and not course.complete:
            self.record_button.setText(f"Record fraction {course.delivered_fractions + 1} of {course.planned_fractions}")
            # The current phase's time (a re-plan has its own), unless the user typed another one.
            if self.time_edit.text().strip() in ("", self._filled_time):
                self._fill_time(course)

    def _show_flags(self, plan: Plan | None, course: Course | None) -> None:
        flags = () if course is None else course.flags(plan.prescription, self._planned_time_s, date.today())
        self.flags_label.setText("<br>".join(f"Flag: {m}" for m in flags))
        self.flags_label.setVisible(bool(flags))

    def _show_table(self, course: Course | None) -> None:
        rows = () if course is None else course.table_rows()
        self.table.setRowCount(len(rows))
        for row, values in enumerate(rows):
            for col, text in enumerate(values):
                self.table.setItem(row, col, QTableWidgetItem(text))

    def _show_plot(self, plan: Plan | None, course: Course | None) -> None:
        if plan is None:
            self.planned_curve.setData([], [])
            self.delivered_curve.setData([], [])
            return
        n = plan.prescription.fractions if course is None else course.planned_fractions
        d = plan.prescription.dose_per_fraction_gy if course is None else course.dose_per_fraction_gy
        self.planned_curve.setData(list(range(n + 1)), [k * d for k in range(n + 1)])
        self.plot.getAxis("bottom").setTicks([fraction_ticks(n)])
        if course is None:
            self.delivered_curve.setData([], [])
            return
        cumulative, total = [0.0], 0.0
        for r in course.records:
            total += course.fraction_dose_gy(r)
            cumulative.append(total)
        self.delivered_curve.setData(list(range(len(cumulative))), cumulative)

    # --- edits ------------------------------------------------------------------------------------
    def start_course(self) -> None:
        plan = self.document.plan
        if plan is None or plan.course is not None or self._planned_time_s is None:
            return
        technique = self.registry.get(plan.setup.technique_id)
        try:
            course = start_course(plan, technique, self._planned_time_s, self.max_gap.value())
        except CourseError as err:
            self.problem_label.setText(f"The course cannot start: {err}")
            return
        self.problem_label.setText("")
        self.document.apply(plan.with_course(course), "Start course")

    def record_fraction(self) -> bool:
        """Record the next fraction from the form; on a problem the form keeps what was typed."""
        plan = self.document.plan
        if plan is None or plan.course is None:
            return False
        text = self.time_edit.text().strip()
        try:
            seconds = float(text)
        except ValueError:
            seconds = None
        if seconds is None or not math.isfinite(seconds) or seconds <= 0:
            # Said here, in the technique's word: the course's own message says "dwell time" for every technique.
            self.problem_label.setText(f"Not recorded: the {self.time_name} must be a number of seconds above 0, "
                                       f"got {text!r}.")
            return False
        when = self.date_edit.date()
        try:
            course = plan.course.record(date(when.year(), when.month(), when.day()), seconds,
                                        self.delivered_by.text(), self.remarks.text())
        except CourseError as err:
            self.problem_label.setText(f"Not recorded: {err}.")
            return False
        self.problem_label.setText("")
        self.document.apply(plan.with_course(course), f"Record fraction {course.delivered_fractions}")
        self.remarks.clear()
        self._fill_time(course)
        return True

    def _fill_time(self, course: Course) -> None:
        self._filled_time = f"{course.current_phase.planned_time_s:.1f}"
        self.time_edit.setText(self._filled_time)

    def _show_replan_finding(self, text: str) -> None:
        self.replan_label.setText(text)
        self.replan_label.setVisible(bool(text) and self.replan_button.isEnabled())

    def add_course_image(self) -> None:
        """Course ▸ Add Course Image…: the dialog (window-modal, not blocking); its session is one edit."""
        plan = self.document.plan
        if plan is None or plan.course is None:
            message = "Start the course first (Course tab): an image is added to a course."
            self.problem_label.setText(message)
            self.dialogs.report_problem(message)   # from the menu, the Course tab may be out of sight
            return
        self.problem_label.setText("")
        if self.image_dialog is not None:
            self.image_dialog.deleteLater()
        dialog = self.image_dialog = CourseImageDialog(plan, self.dialogs, self.window())
        dialog.accepted.connect(lambda: self._add_session(dialog))
        dialog.open()

    def _add_session(self, dialog: CourseImageDialog) -> None:
        plan = self.document.plan
        if plan is not dialog.plan:   # the dialog is window-modal: only a reload from outside gets here
            self.problem_label.setText("Not added: the plan changed while the image was being added; add it again.")
            return
        added = next(s for s in dialog.course.sessions if s not in plan.course.sessions)
        self.document.apply(plan.with_course(dialog.course), f"Add course image ({added.when.label})")
