"""Plans and doses for the export tests: a real kV dose on the demo case (synthetic beam data, no
Monte Carlo), a hand-made eBx dose, a PNG copy of the demo image, and the dciodvfy runner."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, replace

import numpy as np

from planner.core.prescription import Prescription, PrescriptionPoint
from planner.dose.grid_axes import dose_grid_axes
from planner.dose.plan_checks import WARN, Finding
from planner.dose.result import DWELL_TIME, DoseResult
from planner.techniques.beam_lookup import machine_commissioning
from planner.techniques.interface import Machine, by_id
from planner.techniques.new_plan import open_demo_case
from planner.techniques.registry import discover_techniques
from plugins.ebx_surface.machine_data import ESTEYA_UNIT
from plugins.superficial_kv.dose_engine import SuperficialDoseEngine
from tests.dose.kv_fixtures import fixture_source


def dciodvfy(path) -> tuple[list[str], list[str]]:
    """(error lines, warning lines) that dciodvfy prints for a file."""
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    return [ln for ln in lines if ln.startswith("Error")], [ln for ln in lines if ln.startswith("Warning")]


def demo_kv_case(prescription: Prescription = Prescription(7.0, 5)):
    """(planning image, plan, technique, dose) for the demo: 100 kV, 20 mm cone, 35 Gy / 5 fractions to
    the 90 % isodose at the lesion's deepest point, dosed with the synthetic beam of kv_fixtures."""
    registry = discover_techniques()
    planning_image, plan = open_demo_case(registry)
    technique = registry.get("superficial-kv")
    plan = plan.with_setup(energy_id="100kV", applicator_id="cone-20mm").with_prescription(prescription)
    return planning_image, plan, technique, kv_dose(plan, planning_image.image, technique)


def kv_dose(plan, image, technique) -> DoseResult:
    engine = SuperficialDoseEngine(beam_source=fixture_source)
    return engine.compute(plan, dose_grid_axes(image), machine_commissioning(technique, plan.setup.machine_id))


@dataclass(frozen=True)
class EbxTechniqueStandIn:
    """The eBx technique as the exporter sees it (id, machines), without the plugin's engine in the way."""

    id: str = "ebx-surface"
    machines: tuple[Machine, ...] = (ESTEYA_UNIT,)
    dose_engine: None = None
    inverse_planner: None = None

    def machine(self, machine_id: str) -> Machine:
        return by_id(self.machines, machine_id, "machine for surface eBx")

    def commissioning_for(self, machine_id: str) -> None:
        return None


EBX_DEPTH_MM = 3.0
EBX_GRADIENT_PER_MM = 0.07          # about 7 %/mm (Garcia-Martinez 2014)
EBX_DWELL_TIME_MIN = 2.345678
EBX_NAN_COLUMNS = 3                  # grid columns at the left edge without "beam data"


def demo_ebx_case():
    """(planning image, plan, technique, dose) for an eBx plan on the demo image, dose made by hand:
    6 × 7 Gy at 3 mm, exponential depth dose inside a 20 mm applicator, NaN in the first columns."""
    registry = discover_techniques()
    planning_image, plan = open_demo_case(registry)
    rx = Prescription(7.0, 6, PrescriptionPoint.at_depth(EBX_DEPTH_MM))
    plan = replace(plan.with_setup(technique_id="ebx-surface", machine_id=ESTEYA_UNIT.id, energy_id="69.5kV",
                                   applicator_id="applicator-20mm"), prescription=rx)
    x_mm, y_mm = dose_grid_axes(planning_image.image)
    axis = plan.cone_axis_x_mm
    depth = y_mm[:, None] - plan.skin_surface.depth_at(x_mm)[None, :]
    surface_gy = rx.dose_per_fraction_gy * np.exp(EBX_GRADIENT_PER_MM * EBX_DEPTH_MM)
    inside = (np.abs(x_mm - axis) <= 10.0)[None, :] & (depth >= 0)
    grid = np.where(inside, surface_gy * np.exp(-EBX_GRADIENT_PER_MM * np.clip(depth, 0, None)), 0.0)
    grid[:, :EBX_NAN_COLUMNS] = np.nan
    dose = DoseResult(
        dose_grid_gy=grid, x_mm=x_mm, y_mm=y_mm, cone_axis_x_mm=axis, prescription_point=rx.point,
        prescribed_dose_gy=rx.dose_per_fraction_gy, surface_dose_gy=surface_gy,
        prescription_depth_mm=EBX_DEPTH_MM, dose_at_prescription_depth_gy=rx.dose_per_fraction_gy,
        surface_dose_rate_gy_per_min=surface_gy / EBX_DWELL_TIME_MIN, treatment_time_min=EBX_DWELL_TIME_MIN,
        treatment_time_reason=None, absolute=None, metrics=None,
        findings=(Finding(WARN, "hand-made test dose", "test"),),
        model_description="hand-made exponential depth dose (test fixture)", time_name=DWELL_TIME, ssd_cm=None)
    return planning_image, plan, EbxTechniqueStandIn(), dose


def write_png(path, pixels_u8: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(pixels_u8).save(path)


def exported_demo_rt_plan(folder):
    """An unsigned RT Plan of the demo (synthetic beam data: no Monte Carlo needed), exported to `folder`."""
    from planner.dicom.export import export_plan

    planning_image, plan, technique, dose = demo_kv_case()
    return export_plan(plan, dose, planning_image, technique, folder).rt_plan

