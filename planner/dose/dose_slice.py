"""The dose on an axial plane, interpolated from the dose grid: what isodose lines are traced on.

Why: a dose grid of 2.5-5 mm shown as its voxels draws 5 mm blocks, and isodose lines traced
through voxel centres cut every corner by up to half a voxel, next to structures a few mm apart
(the TG-119 core and C). Here the plane is read as the DVH reads the dose (planner.dose.structure_dvh,
trilinear, held at the edge value beyond the outer voxel centres): linearly between the two dose
planes nearest the shown z (a CT slice may lie between them), then bilinearly in-plane onto a
raster of at least MIN_SUBDIVISIONS points per voxel and at most MAX_RASTER_STEP_MM apart, so a
line and the DVH read the same dose at the same point. (The DVH's own _along is used, not a copy.)
"""

from __future__ import annotations

import math

import numpy as np

from planner.dose.structure_dvh import _along  # the DVH's own linear interpolation along one axis

MAX_RASTER_STEP_MM = 1.0
MIN_SUBDIVISIONS = 4


def refined_axis_mm(axis_mm: np.ndarray, max_step_mm: float = MAX_RASTER_STEP_MM,
                    min_subdivisions: int = MIN_SUBDIVISIONS) -> np.ndarray:
    """Centres of equal sub-cells tiling the voxels of a voxel-centre axis (edge to edge): each
    voxel split into the same odd number of cells, at least `min_subdivisions` and none wider than
    `max_step_mm` (5 mm voxels: 5 × 1 mm; 2.5 mm: 5 × 0.5 mm; 10 mm: 11 × 0.91 mm). Odd, so every
    voxel centre is a raster point: the interpolated dose is then linear along every raster edge,
    and marching squares puts each isodose point exactly on its level."""
    axis = np.asarray(axis_mm, dtype=float)
    spacing = float(axis[1] - axis[0]) if axis.size > 1 else 1.0
    k = max(int(min_subdivisions), math.ceil(spacing / max_step_mm - 1e-9))
    k += 1 - k % 2
    step = spacing / k
    return axis[0] - spacing / 2 + (np.arange(axis.size * k) + 0.5) * step


def axial_dose_gy(dose_gy: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, z_mm: np.ndarray,
                  plane_z_mm: float, at_x_mm: np.ndarray, at_y_mm: np.ndarray) -> np.ndarray:
    """The dose [x, y, z] on the grid (voxel centres x_mm, y_mm, z_mm) interpolated at the points
    (at_x_mm × at_y_mm) of the axial plane z = plane_z_mm: an array (len(at_y_mm), len(at_x_mm)),
    rows along y, as isodose_segments takes it. A plane outside the grid's outer voxel faces is
    refused (there is no dose there to interpolate)."""
    z = np.asarray(z_mm, dtype=float)
    dz = float(z[1] - z[0]) if z.size > 1 else 1.0
    if not (z[0] - dz / 2 - 1e-6 <= plane_z_mm <= z[-1] + dz / 2 + 1e-6):
        raise ValueError(f"z = {plane_z_mm:g} mm is outside the dose grid ({z[0] - dz / 2:g} to {z[-1] + dz / 2:g} mm)")
    plane = _along(np.asarray(dose_gy), 2, np.array([float(plane_z_mm)]), z)[:, :, 0]
    plane = _along(plane, 0, np.asarray(at_x_mm, dtype=float), np.asarray(x_mm, dtype=float))
    plane = _along(plane, 1, np.asarray(at_y_mm, dtype=float), np.asarray(y_mm, dtype=float))
    return np.ascontiguousarray(plane.T)
