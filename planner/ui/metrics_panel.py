"""The numbers a physician reads: lesion size below the skin, prescription, BED and EQD2.

Each value carries its unit; what Planner cannot compute yet (dose, treatment time) says so
instead of showing a number.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from planner.core.outline import measure_lesion
from planner.core.plan import Plan
from planner.core.radiobiology import biological_doses
from planner.ui.document import PlanDocument

NO_DOSE_ENGINE = ("Not calculated: this version of Planner has no dose engine yet, "
                  "so no dose distribution or treatment time is shown.")


class MetricsPanel(QWidget):
    def __init__(self, document: PlanDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document

        self.depth_label = QLabel("–")
        self.width_label = QLabel("–")
        self.area_label = QLabel("–")
        lesion = QGroupBox("Lesion (from the outline)")
        lesion_form = QFormLayout(lesion)
        lesion_form.addRow("Depth below skin", self.depth_label)
        lesion_form.addRow("Lateral width", self.width_label)
        lesion_form.addRow("Area", self.area_label)

        self.bed_table = QTableWidget(2, 3)
        self.bed_table.setHorizontalHeaderLabels(["α/β (Gy)", "BED (Gy)", "EQD2 (Gy)"])
        self.bed_table.verticalHeader().setVisible(False)
        self.bed_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.bed_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.bed_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.bed_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.bed_table.setMaximumHeight(self.bed_table.horizontalHeader().sizeHint().height()
                                        + 2 * self.bed_table.verticalHeader().defaultSectionSize() + 4)
        self.bed_table.setToolTip("Linear-quadratic model, no time factor (physics-data §4.2): "
                                  "α/β 10 Gy tumour, 3 Gy late skin effects")
        radiobiology = QGroupBox("Radiobiology (LQ, no time factor)")
        QVBoxLayout(radiobiology).addWidget(self.bed_table)

        self.dose_label = QLabel(NO_DOSE_ENGINE)
        self.dose_label.setWordWrap(True)
        dose = QGroupBox("Dose")
        QVBoxLayout(dose).addWidget(self.dose_label)

        layout = QVBoxLayout(self)
        layout.addWidget(lesion)
        layout.addWidget(radiobiology)
        layout.addWidget(dose)
        layout.addStretch(1)
        document.plan_changed.connect(self.show_plan)

    def show_plan(self, plan: Plan) -> None:
        if plan.outline is None:
            for label in (self.depth_label, self.width_label, self.area_label):
                label.setText("no outline drawn")
        else:
            if plan.skin_surface is None:
                self.depth_label.setText("no skin surface found on this image")
                self.width_label.setText(f"{plan.outline.lateral_width_mm:.2f} mm")
                self.area_label.setText(f"{plan.outline.area_mm2:.2f} mm²")
            else:
                metrics = measure_lesion(plan.outline, plan.skin_surface.depth_at)
                self.depth_label.setText(f"{metrics.max_depth_below_skin_mm:.2f} mm")
                self.width_label.setText(f"{metrics.lateral_width_mm:.2f} mm")
                self.area_label.setText(f"{metrics.area_mm2:.2f} mm²")
        for row, bio in enumerate(biological_doses(plan.prescription)):
            for col, text in enumerate((f"{bio.alpha_beta_gy:g}", f"{bio.bed_gy:.2f}", f"{bio.eqd2_gy:.2f}")):
                self.bed_table.setItem(row, col, QTableWidgetItem(text))
