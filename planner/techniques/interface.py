"""What a treatment technique plugin offers the rest of Planner.

A technique (superficial kV cones, surface electronic brachytherapy, IMRT, a clinic's own) is one
object with these attributes. The GUI builds its choices from them and never names a machine.
Every number carries the published source it came from, or says that the clinic has not yet
commissioned it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

NOT_COMMISSIONED = "not commissioned: to be measured and entered by the clinic's physicist"


@dataclass(frozen=True)
class Energy:
    """A beam quality: tube potential with its first half-value layer beside it."""

    id: str
    kvp: float
    hvl_mm_al: float | None
    source: str

    @property
    def label(self) -> str:
        if self.kvp >= 1000.0:  # megavoltage photons are named by their nominal energy alone
            return f"{self.kvp / 1000.0:g} MV photons"
        hvl = "HVL not commissioned" if self.hvl_mm_al is None else f"HVL {self.hvl_mm_al:.2f} mm Al"
        return f"{self.kvp:g} kV ({hvl})"


@dataclass(frozen=True)
class Applicator:
    """A cone or surface applicator; circular, named by its nominal field diameter."""

    id: str
    diameter_mm: float
    source: str

    @property
    def label(self) -> str:
        return f"Ø {self.diameter_mm:g} mm"


@dataclass(frozen=True)
class CommissionedValue:
    """A number a physicist commissions, with its unit and where it came from; None until then."""

    value: float | None
    unit: str
    source: str

    @property
    def commissioned(self) -> bool:
        return self.value is not None

    @property
    def label(self) -> str:
        return "not commissioned" if self.value is None else f"{self.value:g} {self.unit}"


@dataclass(frozen=True, init=False)
class MachineParameter(CommissionedValue):
    """A machine's named commissioning number (SSD, filtration, output)."""

    name: str

    def __init__(self, name: str, value: float | None, unit: str, source: str):
        for field_name, field_value in (("name", name), ("value", value), ("unit", unit), ("source", source)):
            object.__setattr__(self, field_name, field_value)


@dataclass(frozen=True)
class Machine:
    id: str
    name: str
    energies: tuple[Energy, ...]
    applicators: tuple[Applicator, ...]
    parameters: tuple[MachineParameter, ...] = ()

    def energy(self, energy_id: str) -> Energy:
        return by_id(self.energies, energy_id, f"energy on {self.name}")

    def applicator(self, applicator_id: str) -> Applicator:
        return by_id(self.applicators, applicator_id, f"applicator on {self.name}")


@dataclass(frozen=True)
class FractionationPreset:
    """A published regimen the physician can start from."""

    label: str
    dose_per_fraction_gy: float
    fractions: int
    source: str
    # The shortest interval between fractions the published schedule allows (h), where it states one.
    min_interval_hours: float | None = None


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


class UnknownChoice(KeyError):
    """A plan names a machine, energy or applicator that its technique does not offer."""

    def __str__(self) -> str:
        return str(self.args[0])


def by_id(items, item_id: str, what: str):
    for item in items:
        if item.id == item_id:
            return item
    offered = ", ".join(item.id for item in items) or "none"
    raise UnknownChoice(f"no {what} called {item_id!r} (offered: {offered})")
