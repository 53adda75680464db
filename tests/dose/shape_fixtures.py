"""Test shapes with the structure-shape protocol (bounds_mm, contains_on_lattice, outlines_mm):
an axis-aligned box and a sphere, whose DVHs in linear dose fields are known by hand."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Box:
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]

    @property
    def bounds_mm(self):
        return tuple(zip(self.lo, self.hi))

    def contains_on_lattice(self, x, y, z):
        inside = [(np.asarray(a) >= lo) & (np.asarray(a) <= hi) for a, lo, hi in zip((x, y, z), self.lo, self.hi)]
        return inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :]

    def outlines_mm(self, z_mm):
        return ()


@dataclass(frozen=True)
class Sphere:
    centre: tuple[float, float, float]
    radius_mm: float

    @property
    def bounds_mm(self):
        return tuple((c - self.radius_mm, c + self.radius_mm) for c in self.centre)

    def contains_on_lattice(self, x, y, z):
        X, Y, Z = np.meshgrid(x, y, z, indexing="ij")
        cx, cy, cz = self.centre
        return (X - cx) ** 2 + (Y - cy) ** 2 + (Z - cz) ** 2 <= self.radius_mm ** 2

    def outlines_mm(self, z_mm):
        return ()
