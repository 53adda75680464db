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
The same margin is applied below the voxel for the honest DVH (issue 14): GrownShape grows a
structure's own outline on the DVH's sample lattice (≤ 1 mm in-plane), DifferenceShape takes one
shape out of another; both answer the StructureShape protocol of planner.core.structure_geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from planner.core.protocols.protocol import ProtocolError
from planner.core.structure_geometry import Bounds, StructureShape


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


def _extended(axis_mm: np.ndarray, count: int, step: float) -> np.ndarray:
    return np.concatenate([axis_mm[0] - step * np.arange(count, 0, -1), axis_mm, axis_mm[-1] + step * np.arange(1, count + 1)])


@dataclass(frozen=True, eq=False)
class GrownShape:
    """``base`` grown by ``margin_mm`` in every direction."""

    base: StructureShape
    margin_mm: float
    description: str = ""

    @property
    def bounds_mm(self) -> Bounds:
        m = self.margin_mm
        return tuple((lo - m, hi + m) for lo, hi in self.base.bounds_mm)

    def contains_on_lattice(self, x_mm, y_mm, z_mm) -> np.ndarray:
        """Computed only where the grown shape can be (its bounds), so a large lattice (a PTV's, for
        PTV minus PRV) costs no more than the PRV's own neighbourhood."""
        axes = [np.asarray(a, dtype=float) for a in (x_mm, y_mm, z_mm)]
        out = np.zeros(tuple(a.size for a in axes), dtype=bool)
        near = [np.flatnonzero((a >= lo - 1e-9) & (a <= hi + 1e-9)) for a, (lo, hi) in zip(axes, self.bounds_mm)]
        if any(index.size == 0 for index in near):
            return out
        window = tuple(slice(index[0], index[-1] + 1) for index in near)
        out[window] = self._grown(*(a[w] for a, w in zip(axes, window)), steps_of=axes)
        return out

    def _grown(self, x_mm, y_mm, z_mm, steps_of) -> np.ndarray:
        axes = [x_mm, y_mm, z_mm]
        spaced = [float(a[1] - a[0]) for a in steps_of if a.size > 1]
        # a one-point axis (a one-plane lattice) is read at the finest step of the others
        steps = tuple(float(a[1] - a[0]) if a.size > 1 else min(spaced, default=self.margin_mm) for a in steps_of)
        # the base is read beyond the lattice by the margin, so the part of it just outside still grows in
        pads = [int(np.ceil(self.margin_mm / s + 0.5)) for s in steps]
        base = self.base.contains_on_lattice(*(_extended(a, p, s) for a, p, s in zip(axes, pads, steps)))
        grown = grow_mask(base, self.margin_mm, steps)
        return grown[tuple(slice(p, p + a.size) for p, a in zip(pads, axes))]

    def outlines_mm(self, z_mm: float) -> tuple[np.ndarray, ...]:
        return ()


@dataclass(frozen=True, eq=False)
class DifferenceShape:
    """``base`` with every point of ``removed`` taken out."""

    base: StructureShape
    removed: tuple[StructureShape, ...]
    description: str = ""

    @property
    def bounds_mm(self) -> Bounds:
        return self.base.bounds_mm

    def contains_on_lattice(self, x_mm, y_mm, z_mm) -> np.ndarray:
        inside = self.base.contains_on_lattice(x_mm, y_mm, z_mm).copy()
        for shape in self.removed:
            inside &= ~shape.contains_on_lattice(x_mm, y_mm, z_mm)
        return inside

    def outlines_mm(self, z_mm: float) -> tuple[np.ndarray, ...]:
        return ()
