"""A number entry with its unit that never clamps: what the user typed stays, and a value the
plan cannot take is shown in red with the reason instead of being silently changed."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QWidget

INVALID_STYLE = "QLineEdit { background: #5a1e1e; color: white; }"


class QuantityField(QWidget):
    """Emits ``committed(value)`` when the user finishes typing a value that ``parse`` accepts."""

    committed = Signal(object)

    def __init__(self, unit: str, parse: Callable[[str], object], parent: QWidget | None = None):
        super().__init__(parent)
        self._parse = parse
        self.line_edit = QLineEdit()
        self.unit_label = QLabel(unit)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.line_edit, 1)
        layout.addWidget(self.unit_label)
        self.problem: str | None = None
        self.line_edit.editingFinished.connect(self._on_editing_finished)

    def set_quantity(self, unit: str, parse: Callable[[str], object]) -> None:
        """One field for a quantity whose unit depends on a choice (a depth in mm, an isodose in %)."""
        self.unit_label.setText(unit)
        self._parse = parse

    def set_value_text(self, text: str) -> None:
        """Show the plan's value (after an undo, say) without reporting it as an edit."""
        if self.line_edit.text() != text:
            self.line_edit.blockSignals(True)
            self.line_edit.setText(text)
            self.line_edit.blockSignals(False)
        self.set_problem(None)

    def set_problem(self, problem: str | None) -> None:
        self.problem = problem
        self.line_edit.setStyleSheet(INVALID_STYLE if problem else "")
        self.line_edit.setToolTip(problem or "")

    def _on_editing_finished(self) -> None:
        try:
            value = self._parse(self.line_edit.text())
        except ValueError as err:
            self.set_problem(str(err))
            return
        self.set_problem(None)
        self.committed.emit(value)


def positive_number_parser(unit: str, quantity: str) -> Callable[[str], float]:
    """A parser for one positive quantity, whose messages name the unit ("Gy", "mm")."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip().replace(",", "."))
        except ValueError:
            raise ValueError(f"“{text}” is not a number of {unit}") from None
        if not value > 0:
            raise ValueError(f"{quantity} must be above 0 {unit}, not {value:g} {unit}")
        return value

    return parse


parse_positive_gy = positive_number_parser("Gy", "a dose")
parse_positive_mm = positive_number_parser("mm", "a distance")
parse_positive_percent = positive_number_parser("%", "an isodose")


def parse_non_negative_mm(text: str) -> float:
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        raise ValueError(f"“{text}” is not a number of mm") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"a margin must be 0 mm or more, not {value:g} mm")
    return value


def parse_fraction_count(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"“{text}” is not a whole number of fractions") from None
    if value < 1:
        raise ValueError(f"at least 1 fraction is needed, not {value}")
    return value
