"""A treatment unit as plan data: its energies, applicators, commissioning numbers and regimens.

Plain frozen values that every layer reads (the dose engines, the checks, the windows), so they live
in the core; planner.techniques.interface names them again beside the plugin interface. Every number
carries the published source it came from, or says that the clinic has not yet commissioned it.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.core.errors import PlannerError

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


class UnknownChoice(PlannerError, KeyError):
    """A plan names a machine, energy or applicator that its technique does not offer."""

    def __str__(self) -> str:
        return str(self.args[0])


def by_id(items, item_id: str, what: str):
    for item in items:
        if item.id == item_id:
            return item
    offered = ", ".join(item.id for item in items) or "none"
    raise UnknownChoice(f"no {what} called {item_id!r} (offered: {offered})")
