"""What the plan is and what its dose was computed with: volume, prescription, beams, model, beam
data, the optimiser's iteration limit and fluence smoothness weight, whether the dose shown belongs
to the current plan, and what delivering it takes (segments, MU per fraction, against open fields).

An edit of the smoothness weight is reported as one new InversePlan (``edited``, as the objectives
table does), which the window makes one undo step."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QWidget

from planner.core.inverse_plan import InversePlan
from planner.core.volume import PlanningVolume

DEMO_BEAM_DATA = "DEMO beam data, not a commissioned machine"
STALE_STYLE = "color: #ffb040; font-weight: bold;"
MAX_ITERATIONS = 10000
MAX_MODULATION_WEIGHT = 1e6
MODULATION_TOOLTIP = (
    "How much the optimiser weighs a smooth fluence against the dose objectives; 0 = off. On the "
    "objectives' scale: a 1 Gy mean square step between neighbouring bixels (in dose of an open field "
    "at d_max) costs as much as a 1 Gy mean square underdose of an objective of weight 1. Higher: "
    "fewer MU and segments, at some cost to the dose.")


def delivery_in_short(deliverable) -> str:
    """E.g. "95 segments, 1983 MU per fraction (6.6 × open fields)": what the summary row shows."""
    plan = deliverable.mlc_plan
    text = f"{sum(plan.segment_counts)} segments, {plan.total_mu_per_fraction:.0f} MU per fraction"
    if np.isfinite(deliverable.open_field_mu_per_fraction):
        text += f" ({deliverable.modulation_factor:.1f} × open fields)"
    return text


def describe_delivery(deliverable) -> str:
    """E.g. "95 segments in 9 beams, 1983 MU per fraction = 6.6 × the 302 MU of open fields ..." of
    a planner's DeliverablePlan (the leaf-sequenced plan): the summary row's tooltip."""
    plan = deliverable.mlc_plan
    text = (f"{sum(plan.segment_counts)} segments in {len(plan.beams)} beams, "
            f"{plan.total_mu_per_fraction:.0f} MU per fraction")
    if np.isfinite(deliverable.open_field_mu_per_fraction):
        text += (f" = {deliverable.modulation_factor:.1f} × the {deliverable.open_field_mu_per_fraction:.0f} MU "
                 f"of open fields on the same beams")
    text += " (DEMO calibration)"
    if deliverable.dropped_segments:
        text += (f"; {deliverable.dropped_segments} segments under {deliverable.min_segment_mu:g} MU or "
                 f"{deliverable.min_segment_area_cm2:g} cm² not delivered")
    return text


def describe_beams(plan: InversePlan) -> str:
    """E.g. "9 beams, gantry 0–320° every 40°, 5 mm bixels"."""
    angles = sorted(float(a) for a in plan.gantry_angles_deg)
    n = len(angles)
    steps = np.diff(angles)
    if n > 2 and np.allclose(steps, steps[0]):
        where = f"gantry {angles[0]:g}–{angles[-1]:g}° every {steps[0]:g}°"
    else:
        where = "gantry " + ", ".join(f"{a:g}°" for a in angles)
    return f"{n} beam{'s' if n != 1 else ''}, {where}, {plan.bixel_width_mm:g} mm bixels"


def describe_volume(volume: PlanningVolume) -> str:
    nx, ny, nz = volume.grid.shape
    sx, sy, sz = volume.grid.spacing_mm
    spacing = f"{sx:g} mm" if sx == sy == sz else f"{sx:g} × {sy:g} × {sz:g} mm"
    return f"{volume.description or 'planning volume'}: {nx} × {ny} × {nz} voxels of {spacing}"


def _wrapped(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


class PlanSummary(QWidget):
    iterations_edited = Signal(int)
    edited = Signal(object, str)  # (the new InversePlan, a description of the edit for the undo stack)

    def __init__(self, model_description: str, machine_names: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.volume_label = _wrapped()
        self.prescription_label = _wrapped()
        self.beams_label = _wrapped()
        self.model_label = _wrapped(model_description)
        self.beam_data_label = _wrapped(f"<b style='color:#ffb040'>{DEMO_BEAM_DATA}.</b> {machine_names}")
        self.iterations = QSpinBox()
        self.iterations.setRange(1, MAX_ITERATIONS)
        self.iterations.setSuffix(" iterations")
        self.iterations.setKeyboardTracking(False)
        self.iterations.setToolTip(f"The optimiser stops after this many iterations (1–{MAX_ITERATIONS}) or when "
                                   "it converges, whichever is first")
        self.plan: InversePlan | None = None
        self.modulation_weight = QDoubleSpinBox()
        self.modulation_weight.setRange(0.0, MAX_MODULATION_WEIGHT)
        self.modulation_weight.setDecimals(2)
        self.modulation_weight.setSpecialValueText("0 (off)")
        self.modulation_weight.setKeyboardTracking(False)
        self.modulation_weight.setToolTip(MODULATION_TOOLTIP)
        self.dose_label = _wrapped("not computed yet")
        self.delivery_label = _wrapped("not optimised yet")
        self.delivery_label.setToolTip("The optimised plan leaf-sequenced (step-and-shoot) as it would be exported")
        self.export_label = _wrapped("not exported")
        form = QFormLayout(self)
        form.setContentsMargins(4, 4, 4, 4)
        form.addRow("Volume", self.volume_label)
        form.addRow("Prescription", self.prescription_label)
        form.addRow("Beams", self.beams_label)
        form.addRow("Optimiser stops at", self.iterations)
        form.addRow("Fluence smoothness weight", self.modulation_weight)
        form.addRow("Dose model", self.model_label)
        form.addRow("Beam data", self.beam_data_label)
        form.addRow("Dose", self.dose_label)
        form.addRow("Delivery", self.delivery_label)
        form.addRow("Exported", self.export_label)
        self.iterations.valueChanged.connect(self.iterations_edited)
        self.modulation_weight.valueChanged.connect(self._on_modulation_weight)

    def show_volume(self, volume: PlanningVolume | None) -> None:
        self.volume_label.setText("none open" if volume is None else describe_volume(volume))

    def show_plan(self, plan: InversePlan | None) -> None:
        self.plan = plan
        if plan is None:
            self.prescription_label.setText("")
            self.beams_label.setText("")
            return
        self.prescription_label.setText(plan.prescription.describe())
        self.beams_label.setText(describe_beams(plan))
        self.iterations.blockSignals(True)
        self.iterations.setValue(plan.max_iterations)
        self.iterations.blockSignals(False)
        self.modulation_weight.blockSignals(True)
        self.modulation_weight.setValue(plan.modulation_weight)
        self.modulation_weight.blockSignals(False)

    def _on_modulation_weight(self, weight: float) -> None:
        plan = self.plan
        if plan is None or weight == plan.modulation_weight:
            return
        self.edited.emit(replace(plan, modulation_weight=float(weight)),
                         f"Fluence smoothness weight {plan.modulation_weight:g} → {weight:g}")

    def show_delivery(self, deliverable, stale: bool, problem: str | None = None) -> None:
        """What delivering the optimised plan takes (None: not optimised yet, or `problem`)."""
        text = (delivery_in_short(deliverable) if deliverable is not None
                else f"not leaf-sequenced: {problem}" if problem else "not optimised yet")
        self.delivery_label.setText(("⚠ of the previous optimisation: " if stale and deliverable is not None else "")
                                    + text)
        self.delivery_label.setToolTip(describe_delivery(deliverable) if deliverable is not None else
                                       "The optimised plan leaf-sequenced (step-and-shoot) as it would be exported")
        self.delivery_label.setStyleSheet(STALE_STYLE if stale and deliverable is not None else "")

    def show_dose_state(self, text: str, stale: bool) -> None:
        self.dose_label.setText(text)
        self.dose_label.setStyleSheet(STALE_STYLE if stale else "")

    def show_export(self, text: str, stale: bool = False) -> None:
        """What the last export delivered (segments, MU, dose after leaf sequencing) and where."""
        self.export_label.setText(text)
        self.export_label.setStyleSheet(STALE_STYLE if stale else "")
