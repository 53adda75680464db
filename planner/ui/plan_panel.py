"""The plan's choices: technique, machine, energy, applicator, fractionation and notes.

Every choice is built from what the technique plugins offer; each change becomes one undoable
edit of the document. When the plan changes (an edit, an undo), the panel redraws from it.

A typed prescription is judged by planner.core.plausibility, as the command line judges it:
refused outright (the reason under the field), or taken only after the user confirms it. While
any entry shows a reason, ``entry_problem_changed`` says which, so no dose of the previous
prescription stays on screen as if it were this one's.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPalette
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
from planner.core.plausibility import CONFIRM, REFUSE, check_prescription
from planner.core.prescription import Prescription, PrescriptionError, PrescriptionPoint
from planner.dose.result import DWELL_TIME
from planner.techniques import TechniqueRegistry
from planner.techniques.beam_lookup import machine_commissioning
from planner.techniques.new_plan import default_prescription, default_setup
from planner.ui.dialogs import ask_with_message_box
from planner.ui.document import PlanDocument
from planner.ui.quantity_field import (
    QuantityField,
    parse_fraction_count,
    parse_positive_gy,
    parse_positive_mm,
    parse_positive_percent,
)
from planner.ui.readable_colours import readable_colour

NOTES_MERGE_KEY = 1001
TYPING_PAUSE_MS = 300  # typed text goes to the recovery file this long after the last key
UNUSUAL_PRESCRIPTION_TITLE = "Unusual prescription"
USE_IT, CANCEL = "Use it", "Cancel"
# "X %" is percent of Dmax (planner.dose.coverage); the point's words say so, in each mode.
POINT_MODES = (("isodose", "to the {x:g} % isodose (% of Dmax)",
                "Dmax = D / X: the prescribed dose lands where the axis dose is X % of Dmax; whether the "
                "lesion's deepest point is covered is a separate line in the dose panel"),
               ("depth", "at a stated depth on the beam axis",
                "The prescribed dose at this depth below the skin, on the beam axis"),
               ("surface", "at the surface (Dmax)",
                "The prescribed dose at the surface, which is Dmax for kV and eBx surface beams"))


class PlanPanel(QWidget):
    # "<field>: <reason>" while an entry holds a value the plan does not use; None when every entry is used.
    entry_problem_changed = Signal(object)

    def __init__(self, document: PlanDocument, registry: TechniqueRegistry, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.registry = registry
        # How the panel asks the user to confirm; the window passes its own (tests script it).
        self.ask_user = lambda title, text, choices: ask_with_message_box(self, title, text, choices)
        self._entry_problem: str | None = None

        self.technique_combo = QComboBox()
        self.machine_combo = QComboBox()
        self.energy_combo = QComboBox()
        self.applicator_combo = QComboBox()
        self.preset_combo = QComboBox()
        self.dose_per_fraction = QuantityField("Gy", parse_positive_gy)
        self.fractions = QuantityField("fractions", parse_fraction_count)
        self.point_combo = QComboBox()
        for i, (mode, text, tip) in enumerate(POINT_MODES):
            self.point_combo.addItem(text.format(x=90), mode)
            self.point_combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.point_value = QuantityField("mm", parse_positive_mm)
        self.total_label = QLabel()
        self.machine_data_label = QLabel()
        self.machine_data_label.setWordWrap(True)
        self._fields = {self.dose_per_fraction: "dose per fraction", self.fractions: "fractions",
                        self.point_value: "prescription point"}
        for field in self._fields:
            field.problem_changed.connect(self._on_field_problem)
        # Text typed and not yet used goes to the recovery file too, a moment after the last key.
        self._typed_fields = {"dose per fraction": self.dose_per_fraction, "fractions": self.fractions,
                              "prescription point": self.point_value}
        self._typing_timer = QTimer(self)
        self._typing_timer.setSingleShot(True)
        self._typing_timer.setInterval(TYPING_PAUSE_MS)
        self._typing_timer.timeout.connect(self._keep_typed_entries)
        for field in self._typed_fields.values():
            field.line_edit.textEdited.connect(lambda _text: self._typing_timer.start())
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
        rx_form.addRow("Prescribed", self.point_combo)
        rx_form.addRow("", self.point_value)
        rx_form.addRow("Total", self.total_label)

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
        self.dose_per_fraction.committed.connect(
            lambda d: self._edit_prescription(self.dose_per_fraction, dose_per_fraction_gy=d))
        self.fractions.committed.connect(lambda n: self._edit_prescription(self.fractions, fractions=n))
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

        self._show_prescription(plan.prescription)
        self.machine_data_label.setText(_commissioning_text(technique, machine, plan, self._demo_style()))
        if self.notes.toPlainText() != plan.notes:
            self.notes.blockSignals(True)
            self.notes.setPlainText(plan.notes)
            self.notes.blockSignals(False)

    def _show_prescription(self, prescription: Prescription) -> None:
        self.dose_per_fraction.set_value_text(f"{prescription.dose_per_fraction_gy:g}")
        self.fractions.set_value_text(str(prescription.fractions))
        point = prescription.point
        self.point_combo.blockSignals(True)
        self.point_combo.setCurrentIndex(self.point_combo.findData(point.mode))
        self.point_combo.setItemText(0, POINT_MODES[0][1].format(x=point.isodose_percent))
        self.point_combo.blockSignals(False)
        self.point_value.setVisible(point.mode != "surface")
        if point.mode == "depth":
            self._fields[self.point_value] = "prescription depth"
            self.point_value.set_quantity("mm below the skin", parse_positive_mm)
            self.point_value.set_value_text(f"{point.depth_mm:g}")
        elif point.mode == "isodose":
            self._fields[self.point_value] = "prescription isodose"
            self.point_value.set_quantity("% of Dmax", parse_positive_percent)
            self.point_value.set_value_text(f"{point.isodose_percent:g}")
        else:
            self.point_value.set_problem(None)
        self._show_total()
        self._keep_typed_entries()

    # --- text typed and not yet used ---------------------------------------------------------------
    def typed_entries(self) -> dict[str, str]:
        """Each field's text that the plan does not hold (typed, no Enter yet, or refused)."""
        return {name: field.typed_text for name, field in self._typed_fields.items()
                if not field.isHidden() and field.typed_text is not None}

    def _keep_typed_entries(self) -> None:
        self._typing_timer.stop()
        self.document.set_pending_entries(self.typed_entries())

    def restore_typed_entries(self, entries: dict[str, str]) -> list[str]:
        """Put text typed before a crash back into its fields, not into the plan (Enter uses it);
        returns what was put back, in words."""
        restored = []
        for name, text in entries.items():
            field = self._typed_fields.get(name)
            if field is not None and not field.isHidden():
                field.line_edit.setText(text)
                restored.append(f"{name} “{text}”")
        self._keep_typed_entries()
        return restored

    def _show_total(self) -> None:
        plan = self.document.plan
        if self.dose_per_fraction.problem or self.fractions.problem:
            self.total_label.setText("not computed: an entry above is not used")
        elif plan is not None:
            self.total_label.setText(f"{plan.prescription.total_dose_gy:g} Gy")

    # --- entries the plan does not use ----------------------------------------------------------
    def entry_problem(self) -> str | None:
        """"<field>: <reason>" of the first entry whose typed value is not used, or None."""
        return next((f"{name}: {field.problem}" for field, name in self._fields.items() if field.problem), None)

    def _on_field_problem(self, _problem) -> None:
        self._show_total()
        problem = self.entry_problem()
        if problem != self._entry_problem:
            self._entry_problem = problem
            self.entry_problem_changed.emit(problem)

    def _demo_style(self) -> str:
        background = self.palette().color(QPalette.ColorRole.Window)
        return f"color: {readable_colour(background, DEMO_COLOUR_ON_LIGHT, DEMO_COLOUR_ON_DARK)};"

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
        self._show_prescription(self.document.plan.prescription)  # the plan's regimen already: clear what was typed

    def _edit_prescription(self, field: QuantityField, **change) -> None:
        """A typed dose or number of fractions: refused with its reason under ``field``, taken after
        the user confirms a regimen outside the technique's published range, or taken at once."""
        plan = self.document.plan
        if plan is None:
            return
        values = {"dose_per_fraction_gy": plan.prescription.dose_per_fraction_gy,
                  "fractions": plan.prescription.fractions, "point": plan.prescription.point, **change}
        try:
            prescription = Prescription(**values)
        except PrescriptionError as err:
            field.set_problem(str(err))
            return
        if prescription == plan.prescription:
            return
        technique = self.registry.get(plan.setup.technique_id)
        finding = check_prescription(prescription, technique.fractionation_presets, technique.name)
        if finding is not None and finding.kind == REFUSE:
            field.set_problem(finding.message)
            return
        if finding is not None and finding.kind == CONFIRM:
            answer = self.ask_user(UNUSUAL_PRESCRIPTION_TITLE, finding.question, (USE_IT, CANCEL))
            if answer != USE_IT:
                self._show_prescription(self.document.plan.prescription)  # the previous prescription stays
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
# DEMO warnings: amber on a dark panel, a dark amber on a light one (≥ 4.5:1 either way).
DEMO_COLOUR_ON_LIGHT = "#8a4500"
DEMO_COLOUR_ON_DARK = "#ffc04d"


def _commissioning_text(technique, machine, plan: Plan, demo_style: str) -> str:
    """The machine numbers behind this energy and applicator, each as commissioned or not."""
    commissioning = machine_commissioning(technique, plan.setup.machine_id)
    entry = None if commissioning is None else commissioning.entry(plan.setup.energy_id, plan.setup.applicator_id)
    if entry is None:
        return "<br>".join(f"{p.name}: <b>{p.label}</b>" for p in machine.parameters)
    text = "<br>".join(f"{name}: <b>{value.label}</b>" for name, value in commissioning.schema.rows(entry))
    shared = shared_dose_rate_text(commissioning, machine, plan.setup.energy_id)
    if shared is not None:
        text += f'<br><span style="{demo_style if commissioning.is_demo else ""}">{shared}</span>'
    if commissioning.is_demo:
        text += f'<br><span style="{demo_style}">DEMO commissioning: illustrative values, not for clinical use</span>'
    return text


def shared_dose_rate_text(commissioning, machine, energy_id: str) -> str | None:
    """One line when every applicator of this energy is commissioned with the same reference dose
    rate at the same depth (the bundled eBx DEMO file borrows one published figure for all five):
    then, prescribed at that depth, t = D/Ḋ_ref + ε for every applicator
    (plugins/ebx_surface/applicator_dose.py), so changing the applicator does not change the time."""
    entries = [commissioning.entry(energy_id, a.id) for a in machine.applicators]
    if len(entries) < 2 or any(e is None or not hasattr(e, "reference_dose_rate_gy_per_min") for e in entries):
        return None
    rates = {(e.reference_dose_rate_gy_per_min.value, e.reference_depth_mm.value, e.timer_end_effect_min.value)
             for e in entries}
    if len(rates) != 1:
        return None
    rate, depth, _end_effect = rates.pop()
    if rate is None or depth is None:
        return None
    demo = "DEMO " if commissioning.is_demo else ""
    return (f"One {demo}dose rate, {rate:g} Gy/min at {depth:g} mm, serves every applicator: prescribed at "
            f"{depth:g} mm, the {DWELL_TIME} does not change with the applicator")


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

