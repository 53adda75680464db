"""The treatment plan as an immutable value.

An edit makes a new Plan (``dataclasses.replace``); the GUI's undo stack keeps the old one. Doses
are in Gy, lengths in mm; the machine, energy and applicator are named by the ids their technique
plugin offers, so the plan never depends on GUI code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.core.course import Course
from planner.core.manual_calibration import ManualCalibration
from planner.core.outline import LesionOutline
from planner.core.prescription import Prescription
from planner.core.skin_surface import SkinSurface


@dataclass(frozen=True)
class TreatmentSetup:
    """Which technique, machine, energy and applicator deliver the plan."""

    technique_id: str
    machine_id: str
    energy_id: str
    applicator_id: str


@dataclass(frozen=True)
class Plan:
    label: str
    patient_name: str
    patient_id: str
    image_path: str | None
    setup: TreatmentSetup
    prescription: Prescription
    outline: LesionOutline | None = None
    skin_surface: SkinSurface | None = None
    manual_calibration: ManualCalibration | None = None
    # Where the cone or applicator sits: its central axis, lateral mm in the image frame. Set when
    # the plan starts (the lesion's centre) and moved only on purpose, so editing the outline never
    # shifts the beam under the physician's hand. None: centred on the lesion.
    cone_axis_x_mm: float | None = None
    notes: str = ""
    # The fractions delivered so far, recorded one by one (None until the course starts).
    course: Course | None = None

    def with_outline(self, outline: LesionOutline | None) -> "Plan":
        return replace(self, outline=outline)

    def with_skin_surface(self, skin_surface: SkinSurface | None) -> "Plan":
        return replace(self, skin_surface=skin_surface)

    def with_cone_axis(self, x_mm: float | None) -> "Plan":
        return replace(self, cone_axis_x_mm=None if x_mm is None else float(x_mm))

    def with_manual_calibration(self, calibration: ManualCalibration | None) -> "Plan":
        return replace(self, manual_calibration=calibration)

    def with_setup(self, **changes: str) -> "Plan":
        return replace(self, setup=replace(self.setup, **changes))

    def with_prescription(self, prescription: Prescription) -> "Plan":
        return replace(self, prescription=prescription)

    def with_course(self, course: Course | None) -> "Plan":
        return replace(self, course=course)

    def with_notes(self, notes: str) -> "Plan":
        return replace(self, notes=notes)
