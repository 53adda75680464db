"""BED and EQD2 of the plan beside every published regimen of its technique.

Linear-quadratic model, no time factor (shared/reference/physics-data.md §4.2): α/β 10 Gy for
tumour, 3 Gy for late skin effects. The plan's own row comes first and is bold.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem

from planner.core.prescription import Prescription
from planner.core.radiobiology import ALPHA_BETA_LATE_SKIN_GY, ALPHA_BETA_TUMOUR_GY, bed_gy, eqd2_gy

COLUMNS = ("Regimen", "BED₁₀ (Gy)", "EQD2₁₀ (Gy)", "BED₃ (Gy)", "EQD2₃ (Gy)")


class RadiobiologyTable(QTableWidget):
    def __init__(self, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.setToolTip("Linear-quadratic model without a time factor (physics-data §4.2): "
                        "α/β 10 Gy tumour, 3 Gy late skin effects")

    def show_regimens(self, plan_prescription: Prescription, presets) -> None:
        if (plan_prescription, presets) == getattr(self, "_shown", None):
            return  # most edits (outline, skin) leave the regimens as they are
        self._shown = (plan_prescription, presets)
        rows = [(f"This plan: {plan_prescription.describe()}", plan_prescription, "")]
        rows += [(p.label, Prescription(p.dose_per_fraction_gy, p.fractions), p.source) for p in presets]
        self.setRowCount(len(rows))
        bold = QFont()
        bold.setBold(True)
        for row, (label, rx, source) in enumerate(rows):
            values = (bed_gy(rx, ALPHA_BETA_TUMOUR_GY), eqd2_gy(rx, ALPHA_BETA_TUMOUR_GY),
                      bed_gy(rx, ALPHA_BETA_LATE_SKIN_GY), eqd2_gy(rx, ALPHA_BETA_LATE_SKIN_GY))
            for col, text in enumerate((label, *(f"{v:.2f}" for v in values))):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if source:
                    item.setToolTip(f"Source: {source}")
                if row == 0:
                    item.setFont(bold)
                self.setItem(row, col, item)
        height = self.horizontalHeader().sizeHint().height() + sum(self.rowHeight(r) for r in range(len(rows))) + 4
        self.setFixedHeight(height)
