"""What a treatment technique plugin offers the rest of Planner.

A technique (superficial kV cones, surface electronic brachytherapy, IMRT, a clinic's own) is one
object with the members of ``Technique``. The GUI builds its choices from them and never names a
machine. Every number carries the published source it came from, or says that the clinic has not
yet commissioned it.

A technique plans in one of two shapes, each a typed protocol here: on a surface image with a
``DoseEngine`` (superficial kV, eBx), or on a CT volume with an ``InversePlanner`` (IMRT). Every
technique has every member; None means "not offered", so callers read attributes, never getattr.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from planner.core.inverse_plan import InversePlan
from planner.core.inverse_plan_file import VolumeSource
from planner.core.mlc_beams import MlcPlan
from planner.core.plan import Plan
from planner.core.prescription import PrescriptionPoint
from planner.core.treatment_unit import (
    NOT_COMMISSIONED, Applicator, CommissionedValue, Energy, FractionationPreset, Machine, MachineParameter,
    UnknownChoice, by_id,
)
from planner.core.volume import PlanningVolume
from planner.dose.beam_data import BeamData
from planner.dose.commissioning import Commissioning
from planner.dose.dose_plane import BeamModel
from planner.dose.monte_carlo import CancelCheck, ProgressCallback
from planner.dose.recommendation import Recommendation
from planner.dose.result import DoseResult
from planner.dose.structure_dvh import DvhPoints, SampledStructures, StructureDvh

# The plan data a technique offers live in planner.core.treatment_unit (every layer reads them);
# they are named here too, beside the interface that offers them.
__all__ = ["NOT_COMMISSIONED", "Applicator", "CommissionedValue", "DoseEngine", "Energy", "FractionationPreset",
           "InversePlanner", "Machine", "MachineParameter", "Technique", "UnknownChoice", "by_id",
           "missing_members"]


@runtime_checkable
class DoseEngine(Protocol):
    """Dose on a surface image (planner.dose.surface_engine.SurfaceDoseEngine is the shared base).

    A default written ``...`` differs between engines (an eBx unit keeps no depth margin)."""

    def compute(self, plan: Plan, image_axes: tuple[np.ndarray, np.ndarray], commissioning: Commissioning | None, *,
                prescription_point: PrescriptionPoint | None = None, cone_axis_x_mm: float | None = None,
                progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None) -> DoseResult:
        """The plan's dose on ``image_axes`` = (x_mm, y_mm), its numbers and findings."""

    def beam_data(self, energy: Energy, applicator: Applicator, ssd_cm: float,
                  progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None) -> BeamData:
        """The depth doses and profiles of one beam (Monte Carlo, disk-cached, or measured)."""

    def beam_model(self, energy: Energy, applicator: Applicator, ssd_cm: float,
                   progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None) -> BeamModel:
        """The dose-plane model built on ``beam_data``."""

    def recommend(self, plan: Plan, commissioning: Commissioning | None, *, isodose_percent: float = 90.0,
                  depth_margin_mm: float = ..., lateral_margin_mm: float = ...,
                  progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None,
                  ) -> tuple[Recommendation | None, Recommendation | None, str]:
        """(energy recommendation, applicator recommendation, note); never changes the plan."""


# The inverse planner's own values (its dose-influence matrix, optimiser readouts, optimised result,
# deliverable plan and goals) are the plugin's classes: Planner hands them back to the planner and
# reads only the fields the IMRT window and report name, so they are Any here.
@runtime_checkable
class InversePlanner(Protocol):
    """Inverse planning on a CT volume, in the order the IMRT window and ``planner imrt`` call it:
    default_plan, compute_dose_influence (the long step), optimise_plan, deliverable_plan (leaf
    sequencing and MU: what is exported); the physicist's review then recomputes the dose of the
    signed segments with dose_from_segments. Doses are whole-course Gy, per dose-influence row unless
    ``dose_grid_gy`` puts them on the volume's grid. Every view reports the one sub-voxel DVH
    (``sampled``, ``structure_dvhs``, ``dvh_description``: planner.dose.structure_dvh).
    """

    MODEL_DESCRIPTION: str   # the dose model and optimiser, with their sources, as the report states them

    def tg119_phantom(self, spacing_mm: float = 5.0) -> PlanningVolume:
        """The TG-119 C-shape test phantom (water) on a grid of ``spacing_mm``."""

    def default_plan(self, volume: PlanningVolume) -> InversePlan:
        """A starting plan (prescription, beams, objectives) for the volume's structures."""

    def compute_dose_influence(self, volume: PlanningVolume, plan: InversePlan,
                               progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None) -> Any:
        """The dose-influence matrix of the plan's beams on the volume."""

    def influence_matches(self, influence: Any, plan: InversePlan) -> bool:
        """Whether a computed influence still belongs to the plan's beams (objectives may change)."""

    def optimiser_readouts(self, volume: PlanningVolume, influence: Any) -> dict[str, Any]:
        """Where the optimiser reads each structure's dose, for a live DVH scaled as the result will be."""

    def optimise_plan(self, volume: PlanningVolume, influence: Any, plan: InversePlan,
                      progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None,
                      on_iteration: Callable[[int, float, np.ndarray], None] | None = None, initial_weights: np.ndarray | None = None,
                      background: Any = None, normalisation: Any = None) -> Any:
        """The optimised, normalised fluence and dose (``plan``, ``dose_rows_gy``, ``metrics``,
        ``normalisation_text``, ...); ``background``: a dose already given (an earlier course) whose
        terms the optimiser adds; ``normalisation``: a protocol's own scaling after the coverage one."""

    def deliverable_plan(self, volume: PlanningVolume, influence: Any, result: Any, label: str = "IMRT",
                         levels: int = ..., min_segment_mu: float = ..., min_segment_area_cm2: float = ...,
                         normalisation: Any = None) -> Any:
        """The result leaf-sequenced, with MU (``mlc_plan``, ``dose_rows_gy``, ``metrics``, ...), scaled
        again by the same ``normalisation``."""

    def dose_grid_gy(self, volume: PlanningVolume, influence: Any, dose_rows_gy: np.ndarray) -> np.ndarray:
        """Dose per influence row put on the volume's grid [x, y, z]."""

    def sampled(self, volume: PlanningVolume) -> SampledStructures:
        """The volume's structures sampled below the dose voxel."""

    def structure_dvhs(self, volume: PlanningVolume, influence: Any,
                       dose_rows_gy: np.ndarray, names: Any = None) -> dict[str, StructureDvh]:
        """Each structure's DVH of a dose per influence row (only those ``names`` when given)."""

    def dvh_description(self, volume: PlanningVolume) -> str:
        """How the reported DVH samples each structure."""

    def tg119_goals(self, metrics: dict[str, DvhPoints], target: str = "PTV", core: str = "Core") -> tuple[Any, ...]:
        """The TG-119 planning goals and where the plan stands (``label``, ``value_gy``, ``met``)."""

    def dose_from_segments(self, mlc_plan: MlcPlan, plan: InversePlan, volume_source: VolumeSource,
                           progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None) -> Any:
        """The whole-course dose the segments of ``mlc_plan`` (read back from an RT Plan) deliver on the
        planning volume ``volume_source`` rebuilds, with ``plan``'s beams (``volume``, ``dose_grid_gy``,
        ``metrics``, ``seconds``, ...); a PlannerError when it cannot be computed."""


@runtime_checkable
class Technique(Protocol):
    """The plugin interface. ``id`` is the name in the ``planner.techniques`` entry-point group.

    At most one of ``dose_engine`` and ``inverse_planner`` is offered (each built-in technique
    offers one). A technique with neither plans but shows no dose; one with an inverse planner is
    not offered for surface images, and the surface-image window leaves it to the IMRT window.
    """

    id: str
    name: str
    machines: tuple[Machine, ...]
    fractionation_presets: tuple[FractionationPreset, ...]
    dose_engine: DoseEngine | None
    inverse_planner: InversePlanner | None
    # Where its regimens are prescribed; None: the 90 % isodose at the lesion's depth.
    default_prescription_point: PrescriptionPoint | None

    def machine(self, machine_id: str) -> Machine: ...

    def commissioning_for(self, machine_id: str) -> Commissioning | None:
        """That machine's commissioned SSD, output and end effect per energy and applicator, or None
        (not commissioned, or nothing to commission)."""


def missing_members(obj: object, protocol: type = Technique) -> tuple[str, ...]:
    """The members of ``protocol`` that ``obj`` lacks, so a plugin is told what to add."""
    declared = {*protocol.__annotations__, *(name for name in vars(protocol) if not name.startswith("_"))}
    return tuple(sorted(name for name in declared if not hasattr(obj, name)))
