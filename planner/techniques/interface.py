"""What a treatment technique plugin offers the rest of Planner.

A technique (superficial kV cones, surface electronic brachytherapy, IMRT, a clinic's own) is one
object with these attributes. The GUI builds its choices from them and never names a machine.
Every number carries the published source it came from, or says that the clinic has not yet
commissioned it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from planner.core.treatment_unit import (
    NOT_COMMISSIONED, Applicator, CommissionedValue, Energy, FractionationPreset, Machine, MachineParameter,
    UnknownChoice, by_id,
)

# The plan data a technique offers live in planner.core.treatment_unit (every layer reads them);
# they are named here too, beside the interface that offers them.
__all__ = ["NOT_COMMISSIONED", "Applicator", "CommissionedValue", "Energy", "FractionationPreset", "Machine",
           "MachineParameter", "Technique", "UnknownChoice", "by_id"]


@runtime_checkable
class Technique(Protocol):
    """The plugin interface. ``id`` is the name in the ``planner.techniques`` entry-point group.

    Optional capabilities, looked up with getattr: ``dose_engine`` (with
    ``compute(plan, (x_mm, y_mm), commissioning)`` returning a planner.dose.result.DoseResult,
    ``beam_model(energy, applicator, ssd_cm, progress, is_cancelled)``, ``beam_data(energy,
    applicator, ssd_cm)`` and ``recommend(plan, commissioning)``), ``commissioning_for(machine_id)``
    (that machine's commissioned SSD, output and end effect per energy and applicator, a
    planner.dose.commissioning.Commissioning, or None), and ``default_prescription_point`` (where
    its regimens are prescribed). A technique without a dose engine plans but shows no dose.

    A technique that plans on a CT volume by inverse optimisation (IMRT) offers ``inverse_planner``
    instead of ``dose_engine``: an object with ``default_plan(volume)``,
    ``compute_dose_influence(volume, plan, progress, is_cancelled)``, ``optimise_plan(volume,
    influence, plan, progress, is_cancelled, on_iteration)``, ``deliverable_plan`` (leaf sequencing
    and MU), ``dose_grid_gy``, ``structure_dvhs(volume, influence, dose_rows_gy)`` and
    ``dvh_description(volume)`` (the one sub-voxel DVH every view reports, planner.dose.structure_dvh),
    ``optimiser_readouts(volume, influence)`` (where the optimiser reads each structure's dose, for
    a live DVH scaled as the result will be), ``tg119_goals`` and ``MODEL_DESCRIPTION``
    (plugins/imrt_photon/planning.py is the example). Such a technique is not
    offered for surface images, and the surface-image window leaves it to the IMRT window.
    """

    id: str
    name: str
    machines: tuple[Machine, ...]
    fractionation_presets: tuple[FractionationPreset, ...]

    def machine(self, machine_id: str) -> Machine: ...
