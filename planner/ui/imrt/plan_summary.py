"""What the plan is and what its dose was computed with: volume, prescription, beams, model, beam
data, the optimiser's iteration limit, and whether the dose shown belongs to the current plan."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QSpinBox, QWidget

from planner.core.inverse_plan import InversePlan
from planner.core.volume import PlanningVolume

DEMO_BEAM_DATA = "DEMO beam data, not a commissioned machine"
STALE_STYLE = "color: #ffb040; font-weight: bold;"
MAX_ITERATIONS = 10000


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
        self.dose_label = _wrapped("not computed yet")
        self.export_label = _wrapped("not exported")
        form = QFormLayout(self)
        form.setContentsMargins(4, 4, 4, 4)
        form.addRow("Volume", self.volume_label)
        form.addRow("Prescription", self.prescription_label)
        form.addRow("Beams", self.beams_label)
        form.addRow("Optimiser stops at", self.iterations)
        form.addRow("Dose model", self.model_label)
        form.addRow("Beam data", self.beam_data_label)
        form.addRow("Dose", self.dose_label)
        form.addRow("Exported", self.export_label)
        self.iterations.valueChanged.connect(self.iterations_edited)

    def show_volume(self, volume: PlanningVolume | None) -> None:
        self.volume_label.setText("none open" if volume is None else describe_volume(volume))

    def show_plan(self, plan: InversePlan | None) -> None:
        if plan is None:
            self.prescription_label.setText("")
            self.beams_label.setText("")
            return
        self.prescription_label.setText(plan.prescription.describe())
        self.beams_label.setText(describe_beams(plan))
        self.iterations.blockSignals(True)
        self.iterations.setValue(plan.max_iterations)
        self.iterations.blockSignals(False)

    def show_dose_state(self, text: str, stale: bool) -> None:
        self.dose_label.setText(text)
        self.dose_label.setStyleSheet(STALE_STYLE if stale else "")

    def show_export(self, text: str, stale: bool = False) -> None:
        """What the last export delivered (segments, MU, dose after leaf sequencing) and where."""
        self.export_label.setText(text)
        self.export_label.setStyleSheet(STALE_STYLE if stale else "")
