"""A number entry with its unit that never clamps: what the user typed stays, and a value the
plan cannot take is shown in red with the reason in words under the field instead of being
silently changed.

The parsers take plain decimal numbers only ("18", "4.5", "4,5"): scientific notation ("1e6"),
"nan" and "inf" are refused with a plain reason, so a typing slip never becomes a dose."""

from __future__ import annotations

import re
from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from planner.ui.readable_colours import STOP, text_colour

INVALID_STYLE = "QLineEdit { background: #5a1e1e; color: white; }"

# ASCII digits only: int() and float() also read other scripts' digits, which nobody types here.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)")
_SCIENTIFIC = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)[eE][+-]?[0-9]+")
_WHOLE_NUMBER = re.compile(r"\+?[0-9]+")
_MAX_DIGITS = 15  # beyond a float's precision: no dose, distance or count here needs more


class QuantityField(QWidget):
    """Emits ``committed(value)`` when the user finishes typing a value that ``parse`` accepts,
    and ``problem_changed(reason or None)`` when the reason shown under the field changes."""

    committed = Signal(object)
    problem_changed = Signal(object)

    def __init__(self, unit: str, parse: Callable[[str], object], parent: QWidget | None = None):
        super().__init__(parent)
        self._parse = parse
        self.line_edit = QLineEdit()
        self.unit_label = QLabel(unit)
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setVisible(False)
        # a stop's shade, at least 4.5:1 on the panel's own background (WCAG 2)
        self.problem_colour = text_colour(STOP, self)
        self.problem_label.setStyleSheet(f"color: {self.problem_colour};")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.line_edit, 1)
        row.addWidget(self.unit_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.problem_label)
        self.problem: str | None = None
        self._shown_text = ""  # the plan's value as shown; anything else in the field is typed, not yet used
        self._problem_edits = 0  # counts set_problem calls, so a commit knows whether its handler set one
        self.line_edit.editingFinished.connect(self._on_editing_finished)

    def set_quantity(self, unit: str, parse: Callable[[str], object]) -> None:
        """One field for a quantity whose unit depends on a choice (a depth in mm, an isodose in %)."""
        self.unit_label.setText(unit)
        self._parse = parse

    def set_value_text(self, text: str) -> None:
        """Show the plan's value (after an undo, say) without reporting it as an edit."""
        self._shown_text = text
        if self.line_edit.text() != text:
            self.line_edit.blockSignals(True)
            self.line_edit.setText(text)
            self.line_edit.blockSignals(False)
        self.set_problem(None)

    @property
    def typed_text(self) -> str | None:
        """The text typed into the field that the plan does not hold (None when it shows the plan's)."""
        text = self.line_edit.text()
        return None if text == self._shown_text else text

    def set_problem(self, problem: str | None) -> None:
        """Show why the typed value is not used (None: it is used); the text stays as typed."""
        self._problem_edits += 1
        problem = problem or None
        changed = problem != self.problem
        self.problem = problem
        self.line_edit.setStyleSheet(INVALID_STYLE if problem else "")
        self.line_edit.setToolTip(problem or "")
        self.problem_label.setText(f"Not used: {problem}" if problem else "")
        self.problem_label.setVisible(bool(problem))
        if changed:
            self.problem_changed.emit(problem)

    def _on_editing_finished(self) -> None:
        try:
            value = self._parse(self.line_edit.text())
        except ValueError as err:
            self.set_problem(str(err))
            return
        # The handler applies the value (the plan is redrawn, clearing the problem) or refuses it
        # (setting its own); if it did neither (the value was already the plan's), clear it here.
        before = self._problem_edits
        self.committed.emit(value)
        if self._problem_edits == before:
            self.set_problem(None)


def plain_number(text: str, unit: str) -> float:
    """A finite decimal number as typed ("4.5" or "4,5"); refuses "1e6", "nan", "inf" and words."""
    stripped = text.strip()
    if not stripped:
        raise ValueError(f"empty: type a number of {unit}")
    if _SCIENTIFIC.fullmatch(stripped):
        raise ValueError(f"“{stripped}” is scientific notation: type a plain number of {unit}, e.g. 18 or 4.5")
    if not _PLAIN_NUMBER.fullmatch(stripped):
        raise ValueError(f"“{stripped}” is not a number of {unit}")
    if sum(c.isdigit() for c in stripped) > _MAX_DIGITS:
        raise ValueError(f"“{stripped}” has more than {_MAX_DIGITS} digits: type the number of {unit} meant")
    return float(stripped.replace(",", "."))


def positive_number_parser(unit: str, quantity: str) -> Callable[[str], float]:
    """A parser for one positive quantity, whose messages name the unit ("Gy", "mm")."""

    def parse(text: str) -> float:
        value = plain_number(text, unit)
        if not value > 0:
            raise ValueError(f"{quantity} must be above 0 {unit}, not {value:g} {unit}")
        return value

    return parse


parse_positive_gy = positive_number_parser("Gy", "a dose")
parse_positive_mm = positive_number_parser("mm", "a distance")
parse_positive_percent = positive_number_parser("%", "an isodose")


def parse_non_negative_mm(text: str) -> float:
    value = plain_number(text, "mm")
    if not value >= 0:
        raise ValueError(f"a margin must be 0 mm or more, not {value:g} mm")
    return value


def parse_fraction_count(text: str) -> int:
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty: type a whole number of fractions")
    if _SCIENTIFIC.fullmatch(stripped):
        raise ValueError(f"“{stripped}” is scientific notation: type a plain whole number of fractions, e.g. 5")
    if not _WHOLE_NUMBER.fullmatch(stripped):
        if _PLAIN_NUMBER.fullmatch(stripped) and stripped.startswith("-"):
            raise ValueError(f"at least 1 fraction is needed, not {stripped}")
        raise ValueError(f"“{text.strip()}” is not a whole number of fractions")
    if len(stripped.lstrip("+")) > _MAX_DIGITS:
        raise ValueError(f"“{stripped}” has more than {_MAX_DIGITS} digits: type the number of fractions meant")
    value = int(stripped)
    if value < 1:
        raise ValueError(f"at least 1 fraction is needed, not {value}")
    return value
