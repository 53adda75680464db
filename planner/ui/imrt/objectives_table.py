"""The objectives of an inverse plan as an editable table.

Structure and kind are chosen from combos; dose, DVH volume and weight are typed. A typed value the
plan cannot take is refused: the cell keeps what was typed (red, with the reason beside the table)
until it is corrected or Esc puts the plan's value back; the plan keeps its last valid value and
nothing is clamped. Every accepted change is reported as one new InversePlan (``edited``), which
the window makes one undo step.
"""

from __future__ import annotations

import math
from dataclasses import replace

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from planner.core.inverse_plan import DVH_KINDS, OBJECTIVE_KINDS, InversePlan, Objective

COLUMNS = ("Structure", "Kind", "Dose [Gy]", "Volume [%]", "Weight")
STRUCTURE, KIND, DOSE, VOLUME, WEIGHT = range(len(COLUMNS))
PROBLEM_BRUSH = QBrush(QColor("#5a1e1e"))
PROBLEM_STYLE = "color: #ff6060;"
DISABLED_TEXT = QBrush(QColor("#808080"))
# A new DVH point starts at the volume planners most often use for its kind.
DEFAULT_VOLUME_FRACTION = {"min_dvh": 0.95, "max_dvh": 0.10}


def parse_dose_gy(text: str) -> float:
    value = _number(text, "a dose in Gy")
    if value < 0:
        raise ValueError(f"a dose must be 0 Gy or more, not {value:g} Gy")
    return value


def parse_volume_percent(text: str) -> float:
    """A DVH point's volume typed in % (0 < v < 100), returned as a fraction."""
    value = _number(text, "a volume in %")
    if not 0 < value < 100:
        raise ValueError(f"a DVH point's volume must be above 0 % and below 100 %, not {value:g} %")
    return value / 100.0


def parse_weight(text: str) -> float:
    value = _number(text, "a weight")
    if value <= 0:
        raise ValueError(f"a weight must be above 0, not {value:g}")
    return value


def _number(text: str, what: str) -> float:
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        raise ValueError(f"“{text}” is not {what}") from None
    if not math.isfinite(value):
        raise ValueError(f"“{text}” is not {what} (it must be a finite number)")
    return value


# column -> (Objective field, parser, unit, words)
_TYPED = {
    DOSE: ("dose_gy", parse_dose_gy, " Gy", "dose"),
    VOLUME: ("volume_fraction", parse_volume_percent, " %", "volume"),
    WEIGHT: ("weight", parse_weight, "", "weight"),
}


def _value_text(objective: Objective, column: int) -> str:
    if column == DOSE:
        return f"{objective.dose_gy:g}"
    if column == VOLUME:
        return f"{objective.volume_fraction * 100:g}" if objective.kind in DVH_KINDS else "—"
    return f"{objective.weight:g}"


class ObjectivesTable(QWidget):
    edited = Signal(object, str)  # (the new InversePlan, a description of the edit for the undo stack)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plan: InversePlan | None = None
        self.structures: tuple[str, ...] = ()
        self.problems: dict[tuple[int, int], str] = {}  # (row, column) -> why what it shows is not used
        self._filling = False

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed
                                   | QAbstractItemView.EditTrigger.AnyKeyPressed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(STRUCTURE, QHeaderView.ResizeMode.Stretch)
        self.add_button = QPushButton("Add objective")
        self.remove_button = QPushButton("Remove objective")
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet(PROBLEM_STYLE)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.problem_label)

        self.table.itemChanged.connect(self._on_item_changed)
        self.table.installEventFilter(self)
        self.add_button.clicked.connect(self.add_objective)
        self.remove_button.clicked.connect(self.remove_objective)

    # --- display ----------------------------------------------------------------------------
    def set_structures(self, structures: tuple[str, ...]) -> None:
        self.structures = tuple(structures)
        self.problems = {}

    def show_plan(self, plan: InversePlan | None) -> None:
        """Show the plan's objectives; a refused entry still shown stays (with its reason) while its
        row exists, so an edit elsewhere does not wipe what the user is correcting."""
        self.plan = plan
        objectives = () if plan is None else plan.objectives
        self.problems = {key: why for key, why in self.problems.items() if key[0] < len(objectives)}
        self._filling = True
        try:
            self.table.setRowCount(len(objectives))
            for row, objective in enumerate(objectives):
                self._fill_row(row, objective)
        finally:
            self._filling = False
        self.remove_button.setEnabled(bool(objectives))
        self._show_problems()

    def _fill_row(self, row: int, objective: Objective) -> None:
        structure = self._combo(row, STRUCTURE, self.structures, objective.structure, self._on_structure_chosen)
        structure.setToolTip("The structure this objective acts on")
        kind = self._combo(row, KIND, tuple(OBJECTIVE_KINDS.values()), OBJECTIVE_KINDS.get(objective.kind, objective.kind),
                           self._on_kind_chosen)
        kind.setToolTip("Min/Max dose: every voxel; Mean dose: the structure's mean; DVH point: D(volume) ≥ or ≤ dose")
        for column in (DOSE, VOLUME, WEIGHT):
            item = self.table.item(row, column)
            if item is None:
                item = QTableWidgetItem()
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
            editable = column != VOLUME or objective.kind in DVH_KINDS
            flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
            item.setFlags(flags | Qt.ItemFlag.ItemIsEditable if editable else flags)
            item.setForeground(QBrush() if editable else DISABLED_TEXT)
            item.setToolTip("" if editable else "Only a DVH point has a volume")
            if (row, column) in self.problems and editable:
                item.setBackground(PROBLEM_BRUSH)
                item.setToolTip(self.problems[(row, column)])
            else:
                self.problems.pop((row, column), None)
                item.setBackground(QBrush())
                item.setText(_value_text(objective, column))

    def _combo(self, row: int, column: int, choices: tuple[str, ...], current: str, slot) -> QComboBox:
        combo = self.table.cellWidget(row, column)
        if not isinstance(combo, QComboBox) or tuple(combo.itemText(i) for i in range(combo.count())) != choices:
            combo = QComboBox()
            combo.addItems(list(choices))
            combo.activated.connect(lambda _index, c=combo, col=column: slot(self._row_of(c, col), c.currentText()))
            self.table.setCellWidget(row, column, combo)
        combo.blockSignals(True)
        if combo.findText(current) < 0:  # an objective on a structure the volume lacks: shown, flagged
            combo.addItem(current)
        combo.setCurrentText(current)
        combo.blockSignals(False)
        return combo

    def _row_of(self, widget: QWidget, column: int) -> int:
        for row in range(self.table.rowCount()):
            if self.table.cellWidget(row, column) is widget:
                return row
        return -1

    def _show_problems(self) -> None:
        if not self.problems:
            self.problem_label.setText("")
            return
        lines = []
        for (row, column), why in sorted(self.problems.items()):
            objective = self.plan.objectives[row]
            field, _parse, unit, words = _TYPED[column]
            kept = _value_text(objective, column)
            lines.append(f"Objective {row + 1} ({objective.structure}, {OBJECTIVE_KINDS.get(objective.kind)}), "
                         f"{words}: {why}. Not used: the plan keeps {kept}{unit}. Correct it, or press Esc "
                         f"on the cell to show the plan's value again.")
        self.problem_label.setText("\n".join(lines))

    # --- edits ------------------------------------------------------------------------------
    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or self.plan is None or item.column() not in _TYPED:
            return
        row, column = item.row(), item.column()
        objective = self.plan.objectives[row]
        field, parse, unit, words = _TYPED[column]
        try:
            value = parse(item.text())
            edited = replace(objective, **{field: value})
            problem = edited.problem(self.structures or None)
            if problem:
                raise ValueError(problem)
        except ValueError as err:
            self.problems[(row, column)] = str(err)
            self._refill(row)
            self._show_problems()
            return
        self.problems.pop((row, column), None)
        if edited == objective:  # the same value typed again (or "50.0" for 50): nothing to undo
            self._refill(row)
            self._show_problems()
            return
        shown = _value_text(edited, column)
        self._replace_objective(row, edited, f"Objective {row + 1} ({objective.structure}): {words} "
                                             f"{_value_text(objective, column)}{unit} → {shown}{unit}")

    def _refill(self, row: int) -> None:
        self._filling = True
        try:
            self._fill_row(row, self.plan.objectives[row])
        finally:
            self._filling = False

    def _on_structure_chosen(self, row: int, structure: str) -> None:
        if self.plan is None or row < 0:
            return
        objective = self.plan.objectives[row]
        if structure != objective.structure:
            self._replace_objective(row, replace(objective, structure=structure),
                                    f"Objective {row + 1}: structure {objective.structure} → {structure}")

    def _on_kind_chosen(self, row: int, words: str) -> None:
        if self.plan is None or row < 0:
            return
        objective = self.plan.objectives[row]
        kind = next(k for k, w in OBJECTIVE_KINDS.items() if w == words)
        if kind == objective.kind:
            return
        edited = replace(objective, kind=kind)
        if kind in DVH_KINDS and not 0 < objective.volume_fraction < 1:
            edited = replace(edited, volume_fraction=DEFAULT_VOLUME_FRACTION[kind])
        self.problems.pop((row, VOLUME), None)
        self._replace_objective(row, edited, f"Objective {row + 1} ({objective.structure}): "
                                             f"{OBJECTIVE_KINDS[objective.kind]} → {words}")

    def _replace_objective(self, row: int, objective: Objective, description: str) -> None:
        objectives = list(self.plan.objectives)
        objectives[row] = objective
        self.edited.emit(replace(self.plan, objectives=tuple(objectives)), description)

    def add_objective(self) -> None:
        if self.plan is None or not self.structures:
            return
        structure = next((s for s in self.structures if s != self.plan.prescription.target), self.structures[0])
        objective = Objective(structure, "max_dose", self.plan.prescription.total_dose_gy, weight=10.0)
        self.edited.emit(replace(self.plan, objectives=self.plan.objectives + (objective,)),
                         f"Add objective: {objective.describe()}")

    def remove_objective(self) -> None:
        if self.plan is None or not self.plan.objectives:
            return
        row = self.table.currentRow()
        if not 0 <= row < len(self.plan.objectives):
            row = len(self.plan.objectives) - 1
        removed = self.plan.objectives[row]
        self.problems = {key: why for key, why in self.problems.items() if key[0] != row}
        self.problems = {((r - 1 if r > row else r), c): why for (r, c), why in self.problems.items()}
        self.edited.emit(replace(self.plan, objectives=self.plan.objectives[:row] + self.plan.objectives[row + 1:]),
                         f"Remove objective {row + 1}: {removed.describe()}")

    def revert_cell(self, row: int, column: int) -> bool:
        """Show the plan's value again in a cell holding a refused entry (Esc)."""
        if (row, column) not in self.problems:
            return False
        del self.problems[(row, column)]
        self._refill(row)
        self._show_problems()
        return True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if (watched is self.table and event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Escape
                and self.table.state() != QAbstractItemView.State.EditingState):
            if self.revert_cell(self.table.currentRow(), self.table.currentColumn()):
                return True
        return super().eventFilter(watched, event)
