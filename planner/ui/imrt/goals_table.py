"""Where the plan stands against its planning goals (TG-119's for the C-shape) and its DVH points.

Each goal reads like "PTV D95 ≥ 50 Gy | 50.00 Gy | ✓ met": the verdict is written, not only
coloured. A dose that is not optimised for the current objectives says so above the table. With
a clinical protocol (planner.core.protocols) the table holds the protocol's goals as
planner.core.protocols.goals.evaluate_goals judges them (goal, structure, value, limit, verdict,
priority), then every organ no goal names (its D0.03cc and Dmean, "no goal"); the protocol's
warnings (a cord without a limit) and, without a protocol on a CT, the warning that the organs have
no limits stand above it. The findings about the dose (a hot spot outside the target, planner.dose.hot_spot) stand above the
goals, in words with their numbers: a finding in bold orange with ⚠, and when there is none, the
sentence that says why, in the normal text colour.
"""

from __future__ import annotations

import math

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

MET_BRUSH = QBrush(QColor("#40d080"))
NOT_MET_BRUSH = QBrush(QColor("#ff6060"))
STALE_STYLE = "color: #ffb040; font-weight: bold;"
FINDING_STYLE = "color: #ffb040; font-weight: bold; border: 1px solid #ffb040; padding: 3px;"
GOAL_COLUMNS = ("Goal", "Plan", "Met")
CLINICAL_COLUMNS = ("Goal", "Structure", "Value", "Limit", "Verdict", "Priority")
MET_TEXT, NOT_MET_TEXT, NO_GOAL_TEXT = "✓ met", "✗ NOT MET", "no goal"
WARNING_STYLE = FINDING_STYLE
# The reported DVH points (planner.dose.structure_dvh); the near-maximum is D0.03cc, never one voxel.
METRIC_COLUMNS = ("Structure", "Volume", "D98", "D95", "D10", "D2", "D0.03cc", "Mean")


def gy(value: float) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.2f} Gy"


def wrapping_label(object_name: str = "", text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if object_name:
        label.setObjectName(object_name)
    return label


def read_only_table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)   # more rows in view
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


class GoalsTable(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.note = wrapping_label()
        self.findings = wrapping_label("ImrtFindings")
        self.finding_texts: tuple[str, ...] = ()
        self.protocol_label = wrapping_label("ImrtProtocol")
        self.warnings = wrapping_label("ImrtGoalWarnings")
        self.warning_texts: tuple[str, ...] = ()
        self.headroom = wrapping_label()
        self.goals = read_only_table(GOAL_COLUMNS)
        self.metrics = read_only_table(METRIC_COLUMNS)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.protocol_label)
        layout.addWidget(self.note)
        layout.addWidget(self.warnings)
        layout.addWidget(self.findings)
        layout.addWidget(self.goals, 1)
        layout.addWidget(self.headroom)
        # Each structure's DVH points: a panel of its own (the window docks it beside the goals, so a
        # protocol's table, its goals and every organ watched, keeps the height at 1280 × 800).
        self.metrics_panel = QWidget()
        metrics_layout = QVBoxLayout(self.metrics_panel)
        metrics_layout.setContentsMargins(0, 0, 0, 0)
        metrics_layout.addWidget(QLabel("DVH points of each structure (sampled below the dose voxel)"))
        metrics_layout.addWidget(self.metrics, 1)
        self.show_result(None, {}, stale=False)
        self.show_findings(None)
        self.show_protocol("")
        self.show_warnings(())

    def show_findings(self, check) -> None:
        """A planner.dose.hot_spot.HotSpotCheck of the dose shown (its findings, or why there are
        none), or None: nothing to check (no dose, or no body or target)."""
        self.finding_texts = () if check is None else tuple(f.message for f in check.findings)
        if self.finding_texts:
            self.findings.setStyleSheet(FINDING_STYLE)
            self.findings.setText("\n".join(f"⚠ Finding: {text}" for text in self.finding_texts))
        else:
            self.findings.setStyleSheet("")
            self.findings.setText("" if check is None else check.text)
        self.findings.setVisible(check is not None)

    def show_protocol(self, text: str, tooltip: str = "") -> None:
        """The protocol the goals are of, or "" for none; ``tooltip``: its whole structure mapping."""
        self.protocol_label.setText(text)
        self.protocol_label.setToolTip(tooltip)
        self.protocol_label.setVisible(bool(text))

    def show_warnings(self, texts) -> None:
        """Warnings about the goals themselves (an organ with no limit), each in words with ⚠."""
        self.warning_texts = tuple(texts)
        self.warnings.setText("\n".join(f"⚠ {text}" for text in self.warning_texts))
        self.warnings.setStyleSheet(WARNING_STYLE if self.warning_texts else "")
        self.warnings.setVisible(bool(self.warning_texts))

    def show_clinical(self, rows, metrics: dict, stale: bool, headroom: str = "") -> None:
        """A protocol's goals table: ``rows`` are (goal, structure, value, limit, met, priority) texts
        and whether met (True, False, or None for an organ watched without a goal); None before any dose."""
        self._show_note(rows, stale, "The protocol's goals name no structure of this volume.")
        self._set_columns(CLINICAL_COLUMNS)
        rows = rows or ()
        self.goals.setRowCount(len(rows))
        for row, (cells, met) in enumerate(rows):
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == CLINICAL_COLUMNS.index("Verdict") and met is not None:
                    item.setForeground(MET_BRUSH if met else NOT_MET_BRUSH)
                self.goals.setItem(row, column, item)
        self.headroom.setText(headroom)
        self.headroom.setVisible(bool(headroom))
        self._show_metrics(metrics)

    def show_result(self, goals, metrics: dict, stale: bool) -> None:
        """``goals``: the technique's Goal values (label, value_gy, limit_gy, met), None before any dose."""
        self._show_note(goals, stale, "This volume has no structures the built-in planning goals name.")
        self._set_columns(GOAL_COLUMNS)
        self.headroom.setVisible(False)
        goals = goals or ()
        self.goals.setRowCount(len(goals))
        for row, goal in enumerate(goals):
            verdict = QTableWidgetItem("✓ met" if goal.met else "✗ not met")
            verdict.setForeground(MET_BRUSH if goal.met else NOT_MET_BRUSH)
            self.goals.setItem(row, 0, QTableWidgetItem(goal.label))
            self.goals.setItem(row, 1, QTableWidgetItem(gy(goal.value_gy)))
            self.goals.setItem(row, 2, verdict)
        self._show_metrics(metrics)

    def _set_columns(self, columns: tuple[str, ...]) -> None:
        self.goals.setColumnCount(len(columns))
        self.goals.setHorizontalHeaderLabels(columns)

    def _show_note(self, goals, stale: bool, none_text: str) -> None:
        if goals is None:
            self.note.setStyleSheet("")
            self.note.setText("No dose yet: the goals are checked after Optimise.")
        elif stale:
            self.note.setStyleSheet(STALE_STYLE)
            self.note.setText("⚠ These values are of the previous optimisation, not of the current objectives.")
        else:
            self.note.setStyleSheet("")
            self.note.setText("" if goals else none_text)

    def _show_metrics(self, metrics: dict) -> None:
        self.metrics.setRowCount(len(metrics))
        for row, (name, m) in enumerate(metrics.items()):
            cells = (name, f"{m.volume_cc:.1f} cc", *(gy(v) for v in (m.d98_gy, m.d95_gy, m.d10_gy, m.d2_gy,
                                                                       m.d0_03cc_gy, m.mean_gy)))
            for column, text in enumerate(cells):
                self.metrics.setItem(row, column, QTableWidgetItem(text))

    def row_texts(self) -> list[tuple[str, ...]]:
        return [tuple(self.goals.item(r, c).text() for c in range(self.goals.columnCount()))
                for r in range(self.goals.rowCount())]
