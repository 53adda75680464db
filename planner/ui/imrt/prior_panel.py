"""The earlier course of a re-irradiation (issue 18, point 4) in the IMRT window: what was loaded
(its RT Dose and RT Plan, total dose, fractions, date, the frame-of-reference check) and, once a
dose of the new course is shown, the protocol's re-irradiation limits on the cumulative EQD2 (each
limit's value, met or NOT MET, its source) as plugins.imrt_photon.protocol_plan.Reirradiation judges
them, with the limited structure's DVH of the cumulative EQD2 beside this course's own EQD2 (the
curves the limits were read on). A refusal (another frame of reference, a dose that is not the whole
course's) is one line.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHeaderView, QTableWidgetItem, QVBoxLayout, QWidget

from planner.core.protocols.goals import SHOWN_DECIMALS
from planner.ui.imrt.dvh_plot import BIN_WIDTH_GY, dvh_axes
import pyqtgraph as pg
from planner.ui.imrt.goals_table import (FINDING_STYLE, MET_BRUSH, MET_TEXT, NOT_MET_BRUSH, NOT_MET_TEXT, STALE_STYLE,
                                         read_only_table, wrapping_label)

EQD2_CURVES = (("cumulative", "cumulative EQD2", "#ff6060"), ("course", "this course's EQD2", "#ffe040"))
LIMIT_COLUMNS = ("Limit", "Value", "Verdict")   # each limit's source in its tooltip (and source_texts)
NONE_TEXT = "No earlier course: File ▸ Load Earlier Course Dose… adds one (a re-irradiation)."


def limit_value_text(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "unknown"
    return f"{value:.{SHOWN_DECIMALS.get(unit, 1)}f} {unit}"


def prior_lines(prior, placed) -> list[str]:
    """The earlier course as loaded and placed (planner.core.reirradiation.PriorCourseDose,
    protocol_plan.Reirradiation), one fact a line."""
    files = f"RT Dose {Path(prior.rtdose_path).name}" + (
        "" if prior.rtplan_path is None else f", RT Plan {Path(prior.rtplan_path).name}")
    total = ("" if prior.prescribed_gy is None else f"{prior.prescribed_gy:g} Gy prescribed, ") + \
        f"dose maximum {prior.max_gy:.2f} Gy"
    date = "plan date unknown" if prior.plan_date is None else f"planned {prior.plan_date.isoformat()}"
    interval = ("interval to this CT unknown" if placed.months is None
                else f"{placed.months:.1f} months before this CT")
    return [f"Earlier course: {files}",
            f"Total: {total}, in {prior.fractions} fractions ({prior.fractions_source})",
            f"Date: {date}; {interval}",
            "Frame of reference: the CT's own (checked): placed without a registration",
            f"{placed.structure}: EQD2 at α/β {placed.alpha_beta_gy:g} Gy point by point, both courses summed"]


class PriorCoursePanel(QWidget):
    # the ReirradiationReport just shown (None: none) and whether its dose is the previous
    # optimisation's: the cumulative EQD2 elsewhere in the window follows it (cumulative_view)
    limits_shown = Signal(object, bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ImrtPriorCourse")
        self.summary = wrapping_label(text=NONE_TEXT)
        self.problem = wrapping_label()
        self.problem.setStyleSheet(FINDING_STYLE)
        self.note = wrapping_label()
        self.limits = read_only_table(LIMIT_COLUMNS)
        # the limit's words wrap in the column that stretches, so value and verdict stay in view
        self.limits.setWordWrap(True)
        self.limits.horizontalHeader().setStretchLastSection(False)
        self.limits.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # rows follow the width they have now: sized once while the tab was hidden (narrow), they kept
        # a tall wrapped height and hid the other limits
        self.limits.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.problem)
        layout.addWidget(self.note)
        layout.addWidget(self.limits, 1)
        self.plot, _legend = dvh_axes("EQD2 [Gy]")
        self.plot.setMinimumHeight(180)
        item = self.plot.getPlotItem()
        self.curves = {key: item.plot([], [], pen=pg.mkPen(colour, width=2), name=name)
                       for key, name, colour in EQD2_CURVES}
        layout.addWidget(self.plot, 1)
        self.show_problem("")
        self.show_prior(None, None)

    def show_problem(self, text: str) -> None:
        """Why the last earlier course was refused (one line), or "" for none."""
        self.problem.setText(f"⚠ The earlier course was not loaded: {text}" if text else "")
        self.problem.setVisible(bool(text))

    def show_prior(self, prior, placed) -> None:
        self.summary.setText(NONE_TEXT if prior is None else "\n".join(prior_lines(prior, placed)))
        self.summary.setToolTip("" if prior is None else f"Frame of Reference UID {prior.frame_of_reference_uid}")
        self.limits.setVisible(prior is not None)
        self.plot.setVisible(prior is not None)
        if prior is None:
            self.show_limits(None, stale=False)

    def show_limits(self, report, stale: bool, problem: str = "") -> None:
        """The re-irradiation limits judged on the dose shown (protocol_plan.ReirradiationReport), None
        before a dose; ``problem``: why they could not be judged."""
        if problem:
            self.note.setStyleSheet(FINDING_STYLE)
            self.note.setText(f"⚠ The re-irradiation limits cannot be judged: {problem}")
        elif report is None:
            self.note.setStyleSheet("")
            self.note.setText("No dose yet: the cumulative EQD2 is judged after Optimise.")
        else:
            self.note.setStyleSheet(STALE_STYLE if stale else "")
            self.note.setText(("⚠ Of the previous optimisation, not of the current plan. " if stale else "")
                              + "Cumulative EQD2 of this course's dose and the earlier one's, on the DVH sampled "
                              f"below the voxel{': ' + report.note if report.note else ''}")
        rows = () if report is None else report.rows
        self._show_curves(report)
        self.limits.setRowCount(len(rows))
        for row, r in enumerate(rows):
            verdict = QTableWidgetItem(MET_TEXT if r.met else NOT_MET_TEXT)
            verdict.setForeground(MET_BRUSH if r.met else NOT_MET_BRUSH)
            limit = QTableWidgetItem(r.text)
            limit.setToolTip(f"Source: {r.source}")
            cells = (limit, QTableWidgetItem(limit_value_text(r.value, r.unit) + (f" ({r.note})" if r.note else "")),
                     verdict)
            for column, item in enumerate(cells):
                self.limits.setItem(row, column, item)
        self.limits_shown.emit(report, stale)

    def _show_curves(self, report) -> None:
        """The limited structure's cumulative DVH of both courses' EQD2 and of this course's own."""
        dvhs = {} if report is None else {"cumulative": report.cumulative_eqd2, "course": report.course_eqd2}
        top = max((float(d.dose_gy.max()) for d in dvhs.values() if d.dose_gy.size), default=None)
        for key, curve in self.curves.items():
            if key not in dvhs:
                curve.setData([], [])
                continue
            cumulative = dvhs[key].cumulative(BIN_WIDTH_GY, max_dose_gy=top)
            curve.setData(cumulative.dose_gy, cumulative.volume_percent)
        self.plot.getPlotItem().setTitle("" if report is None else f"{report.structure}, α/β {report.alpha_beta_gy:g} Gy")

    def curve_data(self, key: str):
        return self.curves[key].getData()

    def source_texts(self) -> list[str]:
        return [self.limits.item(r, 0).toolTip() for r in range(self.limits.rowCount())]

    def limit_texts(self) -> list[tuple[str, ...]]:
        return [tuple(self.limits.item(r, c).text() for c in range(self.limits.columnCount()))
                for r in range(self.limits.rowCount())]
