"""The red banner over the image when the signed plan on screen was changed after signing or
disagrees with itself (issue 15, point 8): each changed value, signed beside current, not only a
sentence among the review's reasons. What the values are and which one was signed is the core's
(planner.dicom.tamper_evidence); this only shows it.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout

from planner.dicom.tamper_evidence import EMBEDDED_SIGNED, RT_PLAN_SIGNED, TamperEvidence

STYLE = ("QFrame#TamperBanner { background: #a01010; border: 2px solid #ff6060; }"
         "QFrame#TamperBanner QLabel { color: white; }")
HEADERS = {EMBEDDED_SIGNED: ("Signed (shown on the image)", "In the file now (RT Plan: what the unit delivers)"),
           RT_PLAN_SIGNED: ("Signed (RT Plan: what the unit delivers)", "In the file now (embedded plan: shown)"),
           None: ("Embedded plan (shown on the image)", "RT Plan (what the unit delivers)")}


class TamperBanner(QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("TamperBanner")
        self.setStyleSheet(STYLE)
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; font-size: 14pt;")
        self.explanation = QLabel()
        self.explanation.setWordWrap(True)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(24)
        self.cells: list[tuple[QLabel, QLabel, QLabel]] = []   # (what, signed, now) per row, headers first
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.explanation)
        layout.addLayout(self.grid)
        self.setVisible(False)

    def show_evidence(self, evidence: TamperEvidence | None) -> None:
        """Show ``evidence`` (None hides the banner)."""
        for row in self.cells:
            for label in row:
                self.grid.removeWidget(label)
                label.deleteLater()
        self.cells = []
        if evidence is None:
            self.setVisible(False)
            return
        self.title.setText("CHANGED AFTER SIGNING — NOT FOR TREATMENT" if evidence.broken
                           else "THE SIGNED PLAN DISAGREES WITH ITSELF — NOT FOR TREATMENT")
        explanation = evidence.where_changed()[:1].upper() + evidence.where_changed()[1:] + "."
        if evidence.broken and not evidence.differences and evidence.problems:
            explanation += " " + "; ".join(evidence.problems)
        self.explanation.setText(explanation)
        rows = evidence.rows()
        if rows:
            signed_header, now_header = HEADERS[evidence.signed_side]
            self._add_row("", signed_header, now_header, bold=True)
            for row in rows:
                self._add_row(row.what, row.signed, row.current)
        self.setVisible(True)

    def _add_row(self, what: str, signed: str, now: str, bold: bool = False) -> None:
        labels = tuple(QLabel(text) for text in (what, signed, now))
        r = len(self.cells)
        for c, label in enumerate(labels):
            if bold or c == 0:
                label.setStyleSheet("font-weight: bold;")
            self.grid.addWidget(label, r, c)
        self.cells.append(labels)

    def rows_text(self) -> list[tuple[str, str, str]]:
        """What the banner shows, row by row (headers first): for tests and screen readers."""
        return [tuple(label.text() for label in row) for row in self.cells]
