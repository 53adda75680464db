"""A structure's shape below the voxel: what a DVH samples, instead of the voxel mask the optimiser uses.

Why: a mask on a 5 mm dose grid moves a structure's edge by up to half a voxel, and the TG-119 core
sits 5 mm from the C, so a DVH of voxel centres can read a gradient as a plateau (issue 14). Two
kinds of shape, both answering ``contains_on_lattice(x_mm, y_mm, z_mm)`` on any fine lattice:

- ``PlanarContours``: an RT Structure Set's closed planar polygons as drawn (mm), even-odd within a
  plane (a contour inside another is a hole); each plane stands for a slab of ``slab_mm`` centred on
  it, the CT slice it was drawn on (the usual reading of DICOM contours).
- an analytic shape (the TG-119 phantom's cylinder and C, plugins/imrt_photon/phantom.py): any
  object with ``bounds_mm``, ``contains_on_lattice`` and ``outlines_mm(z_mm)`` (for the export).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

Bounds = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]


@runtime_checkable
class StructureShape(Protocol):
    """What the DVH and the export ask of a structure's shape."""

    @property
    def bounds_mm(self) -> Bounds: ...

    def contains_on_lattice(self, x_mm: np.ndarray, y_mm: np.ndarray, z_mm: np.ndarray) -> np.ndarray:
        """Inside or not at every lattice point, a boolean [x, y, z] array."""

    def outlines_mm(self, z_mm: float) -> tuple[np.ndarray, ...]:
        """The closed polygons ((n, 2) x, y in mm, even-odd) of the cross-section at z_mm."""


def even_odd_on_lattice(polygon_xy_mm: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
    """Lattice points inside one closed polygon by the even-odd rule, a boolean [x, y] array.

    ``x_mm`` and ``y_mm`` are evenly spaced and increasing. Each edge toggles the points right of
    where it crosses a lattice row; the running parity along the row is "inside" (half-open in y, so
    a vertex on a row counts once). Vectorised over edges.
    """
    x_mm, y_mm = np.asarray(x_mm, dtype=float), np.asarray(y_mm, dtype=float)
    dx = float(x_mm[1] - x_mm[0]) if x_mm.size > 1 else 1.0
    dy = float(y_mm[1] - y_mm[0]) if y_mm.size > 1 else 1.0
    columns = (np.asarray(polygon_xy_mm[:, 0], dtype=float) - x_mm[0]) / dx
    rows = (np.asarray(polygon_xy_mm[:, 1], dtype=float) - y_mm[0]) / dy
    n_cols, n_rows = x_mm.size, y_mm.size
    x1, y1 = columns, rows
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    first = np.clip(np.ceil(np.minimum(y1, y2)), 0, n_rows).astype(np.int64)
    stop = np.clip(np.ceil(np.maximum(y1, y2)), 0, n_rows).astype(np.int64)
    counts = np.maximum(stop - first, 0)
    toggles = np.zeros((n_rows, n_cols + 1), dtype=np.int32)
    if counts.sum():
        edge = np.repeat(np.arange(x1.size), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        row = first[edge] + offsets
        t = (row - y1[edge]) / (y2[edge] - y1[edge])
        x = x1[edge] + t * (x2[edge] - x1[edge])
        column = np.clip(np.floor(x).astype(np.int64) + 1, 0, n_cols)
        np.add.at(toggles, (row, column), 1)
    return (np.cumsum(toggles[:, :n_cols], axis=1) % 2).astype(bool).T


@dataclass(frozen=True, eq=False)
class PlanarContours:
    """Closed planar polygons as an RT Structure Set holds them, grouped by plane.

    ``planes``: (z_mm, polygons) sorted by z, each polygon an (n, 2) array of x, y in mm; several
    polygons on one plane combine by the even-odd rule. ``slab_mm``: the thickness each plane stands
    for (the CT's slice spacing), so a structure drawn on k slices is k slabs thick.
    """

    planes: tuple[tuple[float, tuple[np.ndarray, ...]], ...]
    slab_mm: float

    def __post_init__(self) -> None:
        if not self.slab_mm > 0:
            raise ValueError(f"a contour's slab must be thicker than 0 mm, got {self.slab_mm!r}")

    @property
    def bounds_mm(self) -> Bounds:
        points = np.concatenate([p for _, polygons in self.planes for p in polygons])
        z = [z for z, _ in self.planes]
        half = self.slab_mm / 2
        return ((float(points[:, 0].min()), float(points[:, 0].max())),
                (float(points[:, 1].min()), float(points[:, 1].max())), (min(z) - half, max(z) + half))

    def _plane_at(self, z_mm: float) -> int | None:
        """The plane whose slab holds z_mm (the nearer one on a shared face), or None."""
        if not self.planes:
            return None
        z = np.array([p[0] for p in self.planes])
        k = int(np.argmin(np.abs(z - z_mm)))
        return k if abs(z[k] - z_mm) <= self.slab_mm / 2 + 1e-9 else None

    def outlines_mm(self, z_mm: float) -> tuple[np.ndarray, ...]:
        k = self._plane_at(z_mm)
        return () if k is None else self.planes[k][1]

    def contains_on_lattice(self, x_mm: np.ndarray, y_mm: np.ndarray, z_mm: np.ndarray) -> np.ndarray:
        inside = np.zeros((len(x_mm), len(y_mm), len(z_mm)), dtype=bool)
        filled: dict[int, np.ndarray] = {}
        for j, z in enumerate(z_mm):
            k = self._plane_at(float(z))
            if k is None:
                continue
            if k not in filled:
                plane = np.zeros((len(x_mm), len(y_mm)), dtype=bool)
                for polygon in self.planes[k][1]:
                    plane ^= even_odd_on_lattice(polygon, x_mm, y_mm)
                filled[k] = plane
            inside[:, :, j] = filled[k]
        return inside
