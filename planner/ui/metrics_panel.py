"""The numbers a physician reads: dose and time (with what is wrong first), lesion size below the skin,
BED and EQD2.

Each value carries its unit; what Planner cannot compute (an uncommissioned machine, a missing
outline) says so instead of showing a number.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from planner.core.outline import measure_lesion
from planner.core.plan import Plan
from planner.techniques import TechniqueRegistry
from planner.ui.document import PlanDocument
from planner.ui.dose_panel import DosePanel
from planner.ui.radiobiology_table import RadiobiologyTable



class MetricsPanel(QWidget):
    def __init__(self, document: PlanDocument, registry: TechniqueRegistry, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.registry = registry

        self.depth_label = QLabel("–")
        self.width_label = QLabel("–")
        self.area_label = QLabel("–")
        lesion = QGroupBox("Lesion (from the outline)")
        lesion_form = QFormLayout(lesion)
        lesion_form.addRow("Depth below skin", self.depth_label)
        lesion_form.addRow("Lateral width", self.width_label)
        lesion_form.addRow("Area", self.area_label)

        self.bed_table = RadiobiologyTable()
        radiobiology = QGroupBox("BED and EQD2: this plan and published regimens")
        QVBoxLayout(radiobiology).addWidget(self.bed_table)

        self.dose_panel = DosePanel()
        dose = QGroupBox("Dose per fraction")
        QVBoxLayout(dose).addWidget(self.dose_panel)

        # The dose first: its findings (stops, then warnings) head the dock, above the fold at 1280 × 800.
        layout = QVBoxLayout(self)
        layout.addWidget(dose)
        layout.addWidget(lesion)
        layout.addWidget(radiobiology)
        layout.addStretch(1)
        document.plan_changed.connect(self.show_plan)

    def show_plan(self, plan: Plan) -> None:
        if plan.outline is None:
            for label in (self.depth_label, self.width_label, self.area_label):
                label.setText("no outline drawn")
        else:
            if plan.skin_surface is None or not plan.skin_surface.confirmed:
                # No depth from a line that may not be the skin (the dose panel says why).
                self.depth_label.setText("no skin surface found on this image" if plan.skin_surface is None
                                         else "skin line not confirmed")
                self.width_label.setText(f"{plan.outline.lateral_width_mm:.2f} mm")
                self.area_label.setText(f"{plan.outline.area_mm2:.2f} mm²")
            else:
                metrics = measure_lesion(plan.outline, plan.skin_surface.depth_at)
                self.depth_label.setText(f"{metrics.max_depth_below_skin_mm:.2f} mm")
                self.width_label.setText(f"{metrics.lateral_width_mm:.2f} mm")
                self.area_label.setText(f"{metrics.area_mm2:.2f} mm²")
        self.bed_table.show_regimens(plan.prescription,
                                     self.registry.get(plan.setup.technique_id).fractionation_presets)
