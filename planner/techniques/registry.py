"""Finds the installed technique plugins through the ``planner.techniques`` entry-point group.

A plugin that fails to import or does not provide the interface is reported by name and left
out; it never stops Planner from starting with the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from planner.techniques.interface import Technique, UnknownChoice, missing_members

ENTRY_POINT_GROUP = "planner.techniques"


@dataclass(frozen=True)
class TechniqueRegistry:
    techniques: tuple[Technique, ...]
    problems: tuple[str, ...] = ()

    @property
    def surface_techniques(self) -> tuple[Technique, ...]:
        """The techniques that plan on a surface image (ultrasound): all but the inverse-planned."""
        return tuple(t for t in self.techniques if not is_inverse_planned(t))

    @property
    def inverse_planned_techniques(self) -> tuple[Technique, ...]:
        """The techniques that optimise fluence on a CT volume (IMRT)."""
        return tuple(t for t in self.techniques if is_inverse_planned(t))

    def get(self, technique_id: str) -> Technique:
        for technique in self.techniques:
            if technique.id == technique_id:
                return technique
        offered = ", ".join(t.id for t in self.techniques) or "none installed"
        raise UnknownChoice(f"no treatment technique called {technique_id!r} (installed: {offered})")


def is_inverse_planned(technique: Technique) -> bool:
    return technique.inverse_planner is not None


def discover_techniques(entry_point_list: list[EntryPoint] | None = None) -> TechniqueRegistry:
    found: list[Technique] = []
    problems: list[str] = []
    eps = entry_points(group=ENTRY_POINT_GROUP) if entry_point_list is None else entry_point_list
    for ep in sorted(eps, key=lambda e: e.name):
        try:
            technique = ep.load()
        except Exception as err:  # a broken plugin is reported, never fatal
            problems.append(f"technique plugin {ep.name!r} ({ep.value}) failed to load: {type(err).__name__}: {err}")
            continue
        if not isinstance(technique, Technique):
            problems.append(f"technique plugin {ep.name!r} ({ep.value}) does not provide the Technique interface "
                            f"(missing: {', '.join(missing_members(technique))})")
            continue
        if technique.id != ep.name:
            problems.append(f"technique plugin {ep.name!r} calls itself {technique.id!r}; the entry-point name must match")
            continue
        found.append(technique)
    return TechniqueRegistry(tuple(found), tuple(problems))
