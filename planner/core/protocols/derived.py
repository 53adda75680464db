"""The protocol's derived structures (a PRV, a target minus a PRV) added to a planning volume:
a mask on the planning grid for the optimiser and, where the structures it is made from have
outlines, a shape below the voxel for the honest DVH (planner.core.protocols.margins)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from planner.core.protocols.margins import DifferenceShape, GrownShape, grow_mask
from planner.core.protocols.protocol import DerivedStructure, Protocol, ProtocolError
from planner.core.volume import PlanningVolume


def derive_structures(volume: PlanningVolume, protocol: Protocol, mapping: dict[str, str]) -> tuple[PlanningVolume, dict[str, str]]:
    """The volume with the protocol's derived structures added (in the file's order), and the mapping
    extended with them. A derived structure the mapping already names (the CT has its own PRV) is
    used as it is; a name already on the CT for something else is refused rather than overwritten."""
    masks, shapes = dict(volume.masks), dict(volume.shapes)
    mapping = dict(mapping)
    for derived in protocol.derived:
        if derived.name in mapping:
            continue
        if derived.name in masks:
            raise ProtocolError(f"the CT already has a structure {derived.name!r}: map it "
                                f"(--map {derived.name}={derived.name}) or rename it")
        masks[derived.name] = _make(derived, masks, mapping, volume.grid.spacing_mm)
        shape = _shape(derived, shapes, mapping)
        if shape is not None:
            shapes[derived.name] = shape
        mapping[derived.name] = derived.name
    return replace(volume, masks=masks, shapes=shapes), mapping


def _shape(derived: DerivedStructure, shapes: dict, mapping: dict):
    """The derived structure below the voxel, or None when a structure it is made from has no
    outline (its DVH then samples its mask, and says so)."""
    used = [shapes.get(mapping.get(name)) for name in (derived.base, *derived.subtract)]
    if any(shape is None for shape in used):
        return None
    if derived.margin_mm is not None:
        return GrownShape(used[0], derived.margin_mm.value,
                          f"{derived.base} grown by {derived.margin_mm.value:g} mm below the voxel")
    return DifferenceShape(used[0], tuple(used[1:]), f"{derived.base} minus {', '.join(derived.subtract)} below the voxel")


def _make(derived: DerivedStructure, masks: dict, mapping: dict, spacing_mm) -> np.ndarray:
    def mask_of(name: str) -> np.ndarray:
        ct = mapping.get(name)
        if ct is None or ct not in masks:
            raise ProtocolError(f"derived structure {derived.name} needs {name}, which is not on this CT")
        return masks[ct]

    if derived.margin_mm is not None:
        return grow_mask(mask_of(derived.base), derived.margin_mm.value, spacing_mm)
    out = mask_of(derived.base).copy()
    for name in derived.subtract:
        out &= ~mask_of(name)
    if not out.any():
        raise ProtocolError(f"derived structure {derived.name} ({derived.base} minus {', '.join(derived.subtract)}) is empty")
    return out
