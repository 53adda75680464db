"""The structure mapping (issue 18, point 2): when a protocol's structure is not found on the CT, or
two CT structures fit it (planner.core.protocols.matching.StructureMatchError), each protocol
structure is shown with a choice of the CT's structures (with their RT ROI Interpreted Type),
pre-filled with what matched by name and type.

Why OK stays disabled until every structure is mapped, each to a structure of its own: a protocol
organ left unmapped would be a limit nobody checks, so it is never silently dropped; the line under
the table says which structure is missing and why OK is not offered.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QGridLayout, QLabel, QVBoxLayout, QWidget)

from planner.core.protocols.matching import StructureMatchError, match_structures

NOT_MAPPED = "— not mapped —"
PROBLEM_STYLE = "color: #ffb040; font-weight: bold;"


def ct_choice_text(name: str, kind: str) -> str:
    return f"{name} ({kind or 'no type'})"


def matched_alone(protocol, structure, ct_types: dict[str, str]) -> tuple[str | None, str]:
    """The CT structure that ``structure`` alone matches (by match_structures' own rule), or None and
    why not."""
    try:
        return match_structures(replace(protocol, structures=(structure,)), ct_types)[structure.name], "matched"
    except StructureMatchError as err:
        return None, err.user_message


class StructureMappingDialog(QDialog):
    def __init__(self, protocol, ct_types: dict[str, str], parent: QWidget | None = None):
        """``ct_types``: the CT's structures on the dose grid, with their RT ROI Interpreted Type."""
        super().__init__(parent)
        self.setWindowTitle(f"Map the structures of protocol {protocol.id}")
        self.setObjectName("StructureMappingDialog")
        self.protocol = protocol
        self.ct_names = tuple(ct_types)
        self.combos: dict[str, QComboBox] = {}
        self.notes: dict[str, QLabel] = {}
        grid = QGridLayout()
        for column, title in enumerate(("Protocol structure", "CT structure", "")):
            grid.addWidget(QLabel(f"<b>{title}</b>"), 0, column)
        for row, structure in enumerate(protocol.structures, start=1):
            combo = QComboBox()
            combo.addItem(NOT_MAPPED)
            for name, kind in ct_types.items():
                combo.addItem(ct_choice_text(name, kind))
            found, why = matched_alone(protocol, structure, ct_types)
            if found is not None:
                combo.setCurrentIndex(1 + self.ct_names.index(found))
            note = QLabel(why)
            note.setWordWrap(True)
            combo.currentIndexChanged.connect(lambda _i: self._refresh())
            grid.addWidget(QLabel(f"{structure.name} ({structure.role})"), row, 0)
            grid.addWidget(combo, row, 1)
            grid.addWidget(note, row, 2)
            self.combos[structure.name], self.notes[structure.name] = combo, note
        grid.setColumnStretch(2, 1)
        self.why = QLabel()
        self.why.setWordWrap(True)
        self.why.setObjectName("MappingProblem")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Not every structure of the protocol was found on this CT by its name and type. "
                                "Choose the CT's structure for each:"))
        layout.addLayout(grid)
        layout.addWidget(self.why)
        layout.addWidget(self.buttons)
        self.resize(760, 120 + 36 * len(self.combos))
        self._refresh()

    @property
    def ok_button(self):
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def mapping(self) -> dict[str, str]:
        """{protocol structure: CT structure} of the structures mapped so far."""
        return {name: self.ct_names[combo.currentIndex() - 1]
                for name, combo in self.combos.items() if combo.currentIndex() > 0}

    def problems(self) -> list[str]:
        """Why the mapping cannot be accepted yet (empty: it can)."""
        mapping = self.mapping()
        found = [f"{s.name} ({s.role}) is not mapped: choose its CT structure (a protocol structure is never "
                 f"left out)" for s in self.protocol.structures if s.name not in mapping]
        by_ct: dict[str, list[str]] = {}
        for name, ct in mapping.items():
            by_ct.setdefault(ct, []).append(name)
        found += [f"{' and '.join(names)} are {'both' if len(names) == 2 else 'all'} {ct}: one CT structure each"
                  for ct, names in by_ct.items() if len(names) > 1]
        return found

    def _refresh(self) -> None:
        problems = self.problems()
        self.ok_button.setEnabled(not problems)
        self.why.setText("OK is not offered: " + "; ".join(problems) if problems else "")
        self.why.setStyleSheet(PROBLEM_STYLE if problems else "")
