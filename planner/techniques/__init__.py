"""The treatment-technique plugin interface and its discovery."""

from planner.techniques.interface import (
    NOT_COMMISSIONED,
    Applicator,
    CommissionedValue,
    Energy,
    FractionationPreset,
    Machine,
    MachineParameter,
    Technique,
    UnknownChoice,
)
from planner.techniques.registry import ENTRY_POINT_GROUP, TechniqueRegistry, discover_techniques

__all__ = [
    "NOT_COMMISSIONED", "Applicator", "CommissionedValue", "Energy", "FractionationPreset", "Machine", "MachineParameter",
    "Technique", "UnknownChoice", "ENTRY_POINT_GROUP", "TechniqueRegistry", "discover_techniques",
]
