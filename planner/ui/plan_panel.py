"""The plan's choices: technique, machine, energy, applicator, fractionation and notes.

Every choice is built from what the technique plugins offer; each change becomes one undoable
edit of the document. When the plan changes (an edit, an undo), the panel redraws from it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from dataclasses import asdict

from planner.core.plan import Plan
from planner.core.prescription import Prescription, PrescriptionError, PrescriptionPoint
from planner.techniques import TechniqueRegistry
from planner.ui.document import PlanDocument
from planner.ui.quantity_field import (
    QuantityField,
    parse_fraction_count,
    parse_positive_gy,
    parse_positive_mm,
    parse_positive_percent,
)
from planner.workflow import default_prescription, default_setup, machine_commissioning

NOTES_MERGE_KEY = 1001


class PlanPanel(QWidget):
    def __init__(self, document: PlanDocument, registry: TechniqueRegistry, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.registry = registry

        self.technique_combo = QComboBox()
        self.machine_combo = QComboBox()
        self.energy_combo = QComboBox()
        self.applicator_combo = QComboBox()
        self.preset_combo = QComboBox()
        self.dose_per_fraction = QuantityField("Gy", parse_positive_gy)
        self.fractions = QuantityField("fractions", parse_fraction_count)
        self.point_combo = QComboBox()
        for text, mode in (("the 90 % isodose at the lesion's deepest point", "isodose"),
                           ("a stated depth below the skin", "depth"), ("the skin surface", "surface")):
            self.point_combo.addItem(text, mode)
        self.point_value = QuantityField("mm", parse_positive_mm)
        self.total_label = QLabel()
        self.machine_data_label = QLabel()
        self.machine_data_label.setWordWrap(True)
        self.prescription_problem = QLabel()
        self.prescription_problem.setWordWrap(True)
        self.prescription_problem.setStyleSheet("color: #ff8080;")
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("Clinical notes for this plan")
        self.notes.setMaximumHeight(90)

        for combo in (self.technique_combo, self.machine_combo, self.energy_combo, self.applicator_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)

        beam = QGroupBox("Treatment unit")
        beam_form = QFormLayout(beam)
        beam_form.addRow("Technique", self.technique_combo)
        beam_form.addRow("Machine", self.machine_combo)
        beam_form.addRow("Energy", self.energy_combo)
        beam_form.addRow("Applicator", self.applicator_combo)
        beam_form.addRow(self.machine_data_label)

        rx = QGroupBox("Prescription")
        rx_form = QFormLayout(rx)
        rx_form.addRow("Regimen", self.preset_combo)
        rx_form.addRow("Dose per fraction", self.dose_per_fraction)
        rx_form.addRow("Fractions", self.fractions)
        rx_form.addRow("Prescribed to", self.point_combo)
        rx_form.addRow("", self.point_value)
        rx_form.addRow("Total", self.total_label)
        rx_form.addRow(self.prescription_problem)

        notes = QGroupBox("Notes")
        QVBoxLayout(notes).addWidget(self.notes)

        layout = QVBoxLayout(self)
        layout.addWidget(beam)
        layout.addWidget(rx)
        layout.addWidget(notes)
        layout.addStretch(1)

        for technique in registry.surface_techniques:
            self.technique_combo.addItem(technique.name, technique.id)
        self.technique_combo.activated.connect(self._on_technique_chosen)
        self.machine_combo.activated.connect(lambda: self._choose("machine_id", self.machine_combo, "machine"))
        self.energy_combo.activated.connect(lambda: self._choose("energy_id", self.energy_combo, "energy"))
        self.applicator_combo.activated.connect(lambda: self._choose("applicator_id", self.applicator_combo, "applicator"))
        self.preset_combo.activated.connect(self._on_preset_chosen)
        self.dose_per_fraction.committed.connect(lambda d: self._edit_prescription(dose_per_fraction_gy=d))
        self.fractions.committed.connect(lambda n: self._edit_prescription(fractions=n))
        self.point_combo.activated.connect(self._on_point_mode_chosen)
        self.point_value.committed.connect(self._on_point_value)
        self.notes.textChanged.connect(self._on_notes_changed)
        document.plan_changed.connect(self.show_plan)
        self.setEnabled(False)

    # --- plan → widgets -------------------------------------------------------------------
    def show_plan(self, plan: Plan) -> None:
        self.setEnabled(True)
        shown = getattr(self, "_shown_plan", None)
        if shown is not None and (shown.setup, shown.prescription, shown.notes) == (plan.setup, plan.prescription, plan.notes):
            self._shown_plan = plan
            return  # an outline or skin edit: nothing here changes
        self._shown_plan = plan
        technique = self.registry.get(plan.setup.technique_id)
        machine = technique.machine(plan.setup.machine_id)
        _fill(self.technique_combo, [(t.name, t.id) for t in self.registry.surface_techniques], technique.id)
        _fill(self.machine_combo, [(m.name, m.id) for m in technique.machines], machine.id)
        _fill(self.energy_combo, [(e.label, e.id) for e in machine.energies], plan.setup.energy_id)
        _fill(self.applicator_combo, [(a.label, a.id) for a in machine.applicators], plan.setup.applicator_id)
        for combo, items in ((self.energy_combo, machine.energies), (self.applicator_combo, machine.applicators)):
            for i, item in enumerate(items):
                combo.setItemData(i, f"Source: {item.source}", _TOOLTIP_ROLE)

        presets = [("Free entry", None)] + [(p.label, i) for i, p in enumerate(technique.fractionation_presets)]
        current = next((i for i, p in enumerate(technique.fractionation_presets)
                        if (p.dose_per_fraction_gy, p.fractions) == (plan.prescription.dose_per_fraction_gy, plan.prescription.fractions)), None)
        _fill(self.preset_combo, presets, current)
        for i, p in enumerate(technique.fractionation_presets):
            self.preset_combo.setItemData(i + 1, f"Source: {p.source}", _TOOLTIP_ROLE)

        self.dose_per_fraction.set_value_text(f"{plan.prescription.dose_per_fraction_gy:g}")
        self.fractions.set_value_text(str(plan.prescription.fractions))
        self.total_label.setText(f"{plan.prescription.total_dose_gy:g} Gy")
        point = plan.prescription.point
        self.point_combo.blockSignals(True)
        self.point_combo.setCurrentIndex(self.point_combo.findData(point.mode))
        self.point_combo.setItemText(0, f"the {point.isodose_percent:g} % isodose at the lesion's deepest point")
        self.point_combo.blockSignals(False)
        self.point_value.setVisible(point.mode != "surface")
        if point.mode == "depth":
            self.point_value.set_quantity("mm below the skin", parse_positive_mm)
            self.point_value.set_value_text(f"{point.depth_mm:g}")
        elif point.mode == "isodose":
            self.point_value.set_quantity("% isodose", parse_positive_percent)
            self.point_value.set_value_text(f"{point.isodose_percent:g}")
        self.prescription_problem.setText("")
        self.machine_data_label.setText(_commissioning_text(technique, machine, plan))
        if self.notes.toPlainText() != plan.notes:
            self.notes.blockSignals(True)
            self.notes.setPlainText(plan.notes)
            self.notes.blockSignals(False)

    # --- widgets → edits ------------------------------------------------------------------
    def _on_technique_chosen(self) -> None:
        technique = self.registry.get(self.technique_combo.currentData())
        plan = self.document.plan
        if plan is None or technique.id == plan.setup.technique_id:
            return
        new_plan = plan.with_setup(**asdict(default_setup(technique)))
        new_plan = new_plan.with_prescription(default_prescription(technique))
        self.document.apply(new_plan, f"Technique: {technique.name}")

    def _choose(self, field: str, combo: QComboBox, what: str) -> None:
        plan = self.document.plan
        if plan is None:
            return
        changes = {field: combo.currentData()}
        if field == "machine_id":  # another machine has other energies and applicators: start from its own
            technique = self.registry.get(plan.setup.technique_id)
            machine = technique.machine(combo.currentData())
            changes["energy_id"] = min(machine.energies, key=lambda e: e.kvp).id
            changes["applicator_id"] = min(machine.applicators, key=lambda a: a.diameter_mm).id
        self.document.apply(plan.with_setup(**changes), f"{what.capitalize()}: {combo.currentText()}")

    def _on_preset_chosen(self) -> None:
        index = self.preset_combo.currentData()
        plan = self.document.plan
        if plan is None or index is None:
            return
        preset = self.registry.get(plan.setup.technique_id).fractionation_presets[index]
        self.document.apply(plan.with_prescription(Prescription(preset.dose_per_fraction_gy, preset.fractions,
                                                                plan.prescription.point)),
                            f"Regimen: {preset.label}")

    def _edit_prescription(self, **change) -> None:
        plan = self.document.plan
        if plan is None:
            return
        values = {"dose_per_fraction_gy": plan.prescription.dose_per_fraction_gy,
                  "fractions": plan.prescription.fractions, "point": plan.prescription.point, **change}
        try:
            prescription = Prescription(**values)
        except PrescriptionError as err:
            self.prescription_problem.setText(str(err))
            return
        self.document.apply(plan.with_prescription(prescription), f"Prescription: {prescription.describe()}")

    def _on_point_mode_chosen(self) -> None:
        plan = self.document.plan
        if plan is None:
            return
        mode = self.point_combo.currentData()
        current = plan.prescription.point
        if mode == current.mode:
            return
        if mode == "surface":
            point = PrescriptionPoint.surface()
        elif mode == "depth":
            point = PrescriptionPoint.at_depth(current.depth_mm if current.depth_mm is not None else 3.0)
        else:
            point = PrescriptionPoint.isodose(current.isodose_percent)
        self.document.apply(plan.with_prescription(plan.prescription.with_point(point)),
                            f"Prescribe to {point.describe()}")

    def _on_point_value(self, value: float) -> None:
        plan = self.document.plan
        if plan is None:
            return
        current = plan.prescription.point
        try:
            point = PrescriptionPoint.at_depth(value) if current.mode == "depth" else \
                PrescriptionPoint.isodose(value)
        except PrescriptionError as err:
            self.point_value.set_problem(str(err))
            return
        self.document.apply(plan.with_prescription(plan.prescription.with_point(point)),
                            f"Prescribe to {point.describe()}")

    def _on_notes_changed(self) -> None:
        plan = self.document.plan
        if plan is not None:
            self.document.apply(plan.with_notes(self.notes.toPlainText()), "Edit notes", NOTES_MERGE_KEY)


_TOOLTIP_ROLE = Qt.ItemDataRole.ToolTipRole
DEMO_STYLE = "color: #ffb040;"


def _commissioning_text(technique, machine, plan: Plan) -> str:
    """The machine numbers behind this energy and applicator, each as commissioned or not."""
    commissioning = machine_commissioning(technique, plan.setup.machine_id)
    entry = None if commissioning is None else commissioning.entry(plan.setup.energy_id, plan.setup.applicator_id)
    if entry is None:
        return "<br>".join(f"{p.name}: <b>{p.label}</b>" for p in machine.parameters)
    text = "<br>".join(f"{name}: <b>{value.label}</b>" for name, value in commissioning.schema.rows(entry))
    if commissioning.is_demo:
        text += f'<br><span style="{DEMO_STYLE}">DEMO commissioning: illustrative values, not for clinical use</span>'
    return text


def _fill(combo: QComboBox, items, current_data) -> None:
    """Refill a combo only if its items changed, and select the plan's value, without signals."""
    combo.blockSignals(True)
    existing = [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())]
    if existing != list(items):
        combo.clear()
        for text, data in items:
            combo.addItem(text, data)
    index = combo.findData(current_data)
    combo.setCurrentIndex(index if index >= 0 else 0)
    combo.blockSignals(False)

