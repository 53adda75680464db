"""Planning steps shared by the GUI and the command line, so both give the same answer."""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.core.manual_calibration import ManualCalibration
from planner.core.outline import LesionOutline
from planner.core.plan import Plan, TreatmentSetup
from planner.core.prescription import Prescription
from planner.core.skin_surface import SkinSurface
from planner.techniques import Technique, TechniqueRegistry

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
    (its optional ``default_prescription_point``; else the 90 % isodose at the lesion's depth)."""
    preset = technique.fractionation_presets[0]
    point = getattr(technique, "default_prescription_point", None)
    rx = Prescription(preset.dose_per_fraction_gy, preset.fractions)
    return rx if point is None else rx.with_point(point)


@dataclass(frozen=True, eq=False)
class PlanningImage:
    """An ultrasound image with the skin surface found on it: what a plan is drawn on."""

    image: object  # planner.imaging.UltrasoundImage
    detected_skin: SkinSurface | None  # None when the image has no mm calibration or no entry echo


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


def complete_plan(plan: Plan, planning_image: PlanningImage) -> Plan:
    """A plan opened on its image: a plan saved without a skin surface takes the detected one."""
    if plan.skin_surface is not None:
        return plan
    if planning_image.detected_skin is not None:
        return plan.with_skin_surface(planning_image.detected_skin)
    if plan.manual_calibration is not None:
        return plan.with_skin_surface(detect_skin_surface(calibrated_image(planning_image.image, plan)))
    return plan


def calibrated_image(image, plan: Plan | None):
    """The image in mm: its own calibration, else the plan's hand calibration, else unscaled.

    A hand calibration never overrides one the file carries.
    """
    if image.calibration is not None or plan is None or plan.manual_calibration is None:
        return image
    from planner.imaging import PixelCalibration

    mm = plan.manual_calibration.mm_per_pixel
    return replace(image, calibration=PixelCalibration(mm, mm, 0.0, 0.0, plan.manual_calibration.describe()))


def calibrate_by_hand(plan: Plan, image, calibration: ManualCalibration) -> Plan:
    """One edit: the scale, and the skin surface found with it."""
    calibrated = plan.with_manual_calibration(calibration)
    return calibrated.with_skin_surface(detect_skin_surface(calibrated_image(image, calibrated)))


def load_planning_image(path, progress=None, is_cancelled=None) -> PlanningImage:
    """Load an image and find its skin surface; raises ImageLoadError with a one-line reason."""
    from planner.imaging import load_ultrasound

    image = load_ultrasound(path, progress=progress, is_cancelled=is_cancelled)
    return PlanningImage(image, detect_skin_surface(image))


def detect_skin_surface(image) -> SkinSurface | None:
    """The detected skin line as the plan's surface; a detection that is not confident carries
    its problems as doubts, so no depth is measured from it until the user confirms or redraws it.
    None when the image has no mm calibration or no line was found."""
    from planner.imaging import detect_skin_on_image

    if image.calibration is None:
        return None
    detection = detect_skin_on_image(image)
    line = detection.line_mm(image.calibration)
    if line is None or len(line.x_mm) < 2:
        return None
    return SkinSurface.from_samples(line.x_mm, line.y_mm,
                                    doubts=detection.problems if not detection.confident else ())


def open_demo_case(registry: TechniqueRegistry) -> tuple[PlanningImage, Plan]:
    """The bundled demo ultrasound and a draft plan with the generator's lesion outline."""
    from planner.imaging.demo import load_demo_case

    case = load_demo_case()
    planning_image = PlanningImage(case.image, detect_skin_surface(case.image))
    outline = LesionOutline(tuple(tuple(v) for v in case.lesion_outline_mm))
    plan = start_plan(planning_image, registry.get(DEMO_TECHNIQUE_ID), outline, label="Demo: nodular BCC")
    return planning_image, plan.with_setup(energy_id=DEMO_ENERGY_ID, applicator_id=DEMO_APPLICATOR_ID)


DOSE_GRID_SPACING_MM = 0.1  # finer than a 20 MHz image resolves in depth (~0.1 mm), coarse enough to redraw live


def dose_grid_axes(image, spacing_mm: float = DOSE_GRID_SPACING_MM):
    """Lateral and depth axes (mm, pixel-centre aligned) of the dose grid over a calibrated image."""
    import numpy as np

    cal = image.calibration
    step_x = max(1, int(round(spacing_mm / cal.mm_per_pixel_x)))
    step_y = max(1, int(round(spacing_mm / cal.mm_per_pixel_y)))
    x_mm = cal.x0_mm + np.arange(0, image.cols, step_x) * cal.mm_per_pixel_x
    y_mm = cal.y0_mm + np.arange(0, image.rows, step_y) * cal.mm_per_pixel_y
    return x_mm, y_mm


def machine_commissioning(technique, machine_id: str):
    """The clinic's commissioning of one machine of ``technique`` (a Commissioning), or None."""
    lookup = getattr(technique, "commissioning_for", None)
    return None if lookup is None else lookup(machine_id)


def beam_key(technique, plan: Plan):
    """(energy, applicator, SSD in cm) whose beam data the plan's dose needs, or None when the
    machine's commissioning has no SSD for them (the engine then says what is missing)."""
    commissioning = machine_commissioning(technique, plan.setup.machine_id)
    entry = None if commissioning is None else commissioning.entry(plan.setup.energy_id, plan.setup.applicator_id)
    if entry is None or entry.ssd_cm.value is None:
        return None
    machine = technique.machine(plan.setup.machine_id)
    try:
        return machine.energy(plan.setup.energy_id), machine.applicator(plan.setup.applicator_id), entry.ssd_cm.value
    except KeyError:
        return None
