"""Planning steps shared by the GUI and the command line, so both give the same answer."""

from __future__ import annotations

from dataclasses import dataclass

from planner.core.outline import LesionOutline
from planner.core.plan import Plan, TreatmentSetup
from planner.core.prescription import Prescription
from planner.techniques import Technique, TechniqueRegistry

DEMO_TECHNIQUE_ID = "superficial-kv"


def default_setup(technique: Technique) -> TreatmentSetup:
    """The technique's first machine at its lowest energy and smallest applicator.

    A starting point only: the physician chooses; nothing here recommends.
    """
    machine = technique.machines[0]
    energy = min(machine.energies, key=lambda e: e.kvp)
    applicator = min(machine.applicators, key=lambda a: a.diameter_mm)
    return TreatmentSetup(technique.id, machine.id, energy.id, applicator.id)


def default_prescription(technique: Technique) -> Prescription:
    preset = technique.fractionation_presets[0]
    return Prescription(preset.dose_per_fraction_gy, preset.fractions)


def start_plan(image, technique: Technique, outline: LesionOutline | None = None, label: str = "Skin lesion") -> Plan:
    """A new draft plan on an ultrasound image (an ``UltrasoundImage``)."""
    return Plan(
        label=label,
        patient_name=image.patient_name,
        patient_id=image.patient_id,
        image_path=image.source_path,
        setup=default_setup(technique),
        prescription=default_prescription(technique),
        outline=outline,
    )


@dataclass(frozen=True, eq=False)
class PlanningImage:
    """An ultrasound image with the skin surface found on it: what a plan is drawn on."""

    image: object  # planner.imaging.UltrasoundImage
    skin_line: object | None  # planner.imaging.SkinLine, None when the image has no mm calibration


def load_planning_image(path, progress=None, is_cancelled=None) -> PlanningImage:
    """Load an image and find its skin surface; raises ImageLoadError with a one-line reason."""
    from planner.imaging import load_ultrasound

    image = load_ultrasound(path, progress=progress, is_cancelled=is_cancelled)
    return PlanningImage(image, find_skin_line(image))


def find_skin_line(image):
    from planner.imaging import detect_skin_line

    if image.calibration is None:
        return None
    return detect_skin_line(image.frames[0], image.calibration)


def open_demo_case(registry: TechniqueRegistry) -> tuple[PlanningImage, Plan]:
    """The bundled demo ultrasound and a draft plan with the generator's lesion outline."""
    from planner.imaging.demo import load_demo_case

    case = load_demo_case()
    outline = LesionOutline(tuple(tuple(v) for v in case.lesion_outline_mm))
    plan = start_plan(case.image, registry.get(DEMO_TECHNIQUE_ID), outline, label="Demo: nodular BCC")
    return PlanningImage(case.image, find_skin_line(case.image)), plan
