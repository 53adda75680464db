"""Derived structures (a PRV, a target minus a PRV) made by margin operations on the voxel masks.

How: a margin grows a mask by binary dilation with an exact structuring element in mm. Each voxel
of the mask stands for its whole box (the voxel it is), so the element holds every voxel offset
whose box comes within r of the centre: offsets (i·dx, j·dy, k·dz) with
Σ max(|offset| − spacing/2, 0)² ≤ r². The grown mask is then every voxel whose centre lies within r of
a box of the original mask. Accuracy: measured on hand cases (tests/core/test_protocols_margins.py:
cylinders of radius r on 0.8–3 mm grids grown by 2–3 mm), the grown mask holds every voxel whose
centre lies within r + margin of the axis and reaches at most half a voxel's in-plane diagonal
beyond it — never smaller than the true offset, so a PRV errs on the safe side. A margin below half
the voxel's largest side would grow nothing on the grid and is refused.
structure_geometry offers no polygon offset, so a derived structure has no outline below the voxel:
its DVH samples the mask's voxels (planner.dose.structure_dvh says "voxel mask, no outline").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import ndimage

from planner.core.protocols.protocol import DerivedStructure, Protocol, ProtocolError
from planner.core.volume import PlanningVolume


def ball_mm(radius_mm: float, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """The structuring element: the voxel offsets whose box comes within `radius_mm` of the centre."""
    half = [int(np.ceil(radius_mm / s + 0.5)) for s in spacing_mm]
    gaps = np.meshgrid(*[np.maximum(np.abs(np.arange(-h, h + 1) * s) - s / 2, 0.0) for h, s in zip(half, spacing_mm)],
                       indexing="ij")
    return sum(g * g for g in gaps) <= radius_mm * radius_mm + 1e-9


def grow_mask(mask: np.ndarray, margin_mm: float, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """`mask` grown by `margin_mm` in every direction (a 0 margin returns a copy)."""
    if margin_mm < 0:
        raise ProtocolError(f"a margin must be ≥ 0 mm, got {margin_mm:g} mm (shrinking is not offered)")
    if margin_mm == 0:
        return mask.copy()
    if margin_mm < max(spacing_mm) / 2:
        raise ProtocolError(f"a {margin_mm:g} mm margin cannot be made on a {max(spacing_mm):g} mm grid "
                            f"(below half a voxel it grows nothing): use a finer grid")
    return ndimage.binary_dilation(mask, structure=ball_mm(margin_mm, spacing_mm))


def derive_structures(volume: PlanningVolume, protocol: Protocol, mapping: dict[str, str]) -> tuple[PlanningVolume, dict[str, str]]:
    """The volume with the protocol's derived structures added (in the file's order), and the mapping
    extended with them. A derived structure the mapping already names (the CT has its own PRV) is
    used as it is; a name already on the CT for something else is refused rather than overwritten."""
    masks = dict(volume.masks)
    mapping = dict(mapping)
    for derived in protocol.derived:
        if derived.name in mapping:
            continue
        if derived.name in masks:
            raise ProtocolError(f"the CT already has a structure {derived.name!r}: map it "
                                f"(--map {derived.name}={derived.name}) or rename it")
        masks[derived.name] = _make(derived, masks, mapping, volume.grid.spacing_mm)
        mapping[derived.name] = derived.name
    return replace(volume, masks=masks), mapping


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
