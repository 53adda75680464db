"""A plan's starting point: the technique, setup and prescription a new plan begins with.

Why here: every default comes from the technique (its machines, its published regimens), and the
window and the command line must start the same plan from the same image.
"""

from __future__ import annotations

from planner.core.outline import LesionOutline
from planner.core.plan import Plan, TreatmentSetup
from planner.core.prescription import Prescription
from planner.imaging.demo import load_demo_case
from planner.imaging.planning_image import PlanningImage, detect_skin_surface
from planner.techniques.interface import Technique
from planner.techniques.registry import TechniqueRegistry

__all__ = ["DEMO_APPLICATOR_ID", "DEMO_ENERGY_ID", "DEMO_TECHNIQUE_ID", "FIRST_TECHNIQUE_ID", "default_prescription",
           "default_setup", "open_demo_case", "start_plan", "technique_for_new_image"]

DEMO_TECHNIQUE_ID = "superficial-kv"
# The demo opens on a good plan: the energy and cone Planner recommends for its lesion (8.95 mm wide,
# 2.69 mm deep: Ø 25 mm, whose 100 kV 90 % isodose reaches 3.56 mm ≥ 2.69 + 0.5 mm margin; Ø 20 mm
# reaches 3.07 mm) and the technique's first published regimen. tests/dose/test_demo_plan.py runs
# the recommender on the demo's Monte Carlo beams and fails if this ever stops being its answer.
DEMO_ENERGY_ID = "100kV"
DEMO_APPLICATOR_ID = "cone-25mm"
# A new user's first image starts as superficial kV (issue 13): never eBx because the registry lists
# its plugins alphabetically ("ebx-surface" before "superficial-kv").
FIRST_TECHNIQUE_ID = "superficial-kv"


def technique_for_new_image(registry: TechniqueRegistry, last_used_id: str | None) -> Technique:
    """The technique a new image's plan starts with: the last one used if still installed, else
    superficial kV, else the first surface technique offered. The caller passes it to start_plan."""
    surface = registry.surface_techniques
    for wanted in (last_used_id, FIRST_TECHNIQUE_ID):
        found = next((t for t in surface if t.id == wanted), None)
        if found is not None:
            return found
    return surface[0]


def default_setup(technique: Technique) -> TreatmentSetup:
    """The technique's first machine at its lowest energy and smallest applicator.

    A starting point only: the physician chooses; nothing here recommends.
    """
    machine = technique.machines[0]
    energy = min(machine.energies, key=lambda e: e.kvp)
    applicator = min(machine.applicators, key=lambda a: a.diameter_mm)
    return TreatmentSetup(technique.id, machine.id, energy.id, applicator.id)


def default_prescription(technique: Technique) -> Prescription:
    """The technique's first published regimen, prescribed where the technique prescribes
    (its ``default_prescription_point``; None: the 90 % isodose at the lesion's depth)."""
    preset = technique.fractionation_presets[0]
    point = technique.default_prescription_point
    rx = Prescription(preset.dose_per_fraction_gy, preset.fractions)
    return rx if point is None else rx.with_point(point)


def start_plan(planning_image: PlanningImage, technique: Technique, outline: LesionOutline | None = None,
               label: str = "Skin lesion") -> Plan:
    """A new draft plan on an image, with the detected skin surface as its starting surface."""
    image = planning_image.image
    return Plan(
        label=label,
        patient_name=image.patient_name,
        patient_id=image.patient_id,
        image_path=image.source_path,
        setup=default_setup(technique),
        prescription=default_prescription(technique),
        outline=outline,
        skin_surface=planning_image.detected_skin,
        cone_axis_x_mm=None if outline is None else outline.lateral_centre_mm,
    )


def open_demo_case(registry: TechniqueRegistry) -> tuple[PlanningImage, Plan]:
    """The bundled demo ultrasound and a draft plan with the generator's lesion outline."""
    case = load_demo_case()
    planning_image = PlanningImage(case.image, detect_skin_surface(case.image))
    outline = LesionOutline(tuple(tuple(v) for v in case.lesion_outline_mm))
    plan = start_plan(planning_image, registry.get(DEMO_TECHNIQUE_ID), outline, label="Demo: nodular BCC")
    return planning_image, plan.with_setup(energy_id=DEMO_ENERGY_ID, applicator_id=DEMO_APPLICATOR_ID)
