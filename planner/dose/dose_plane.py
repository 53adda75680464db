"""Dose in the ultrasound image plane from the beam data (PDD × off-axis ratio × absolute scale).

Model (per fraction, Gy):

    D(x, y) = D_s · PDD(d)/100 · OAR(d, r) · (SSD / (SSD + Δs(x)))²,   d = y − s(x),  r = |x − x_c|

* s(x): the skin surface depth at lateral position x (SkinSurface, linear between points, constant
  outside its ends); d: depth below the skin measured along the vertical through the point, i.e.
  along the cone axis direction. APPROXIMATION: the beam is taken as vertical in the image (cone
  axis perpendicular to the image's lateral axis and lying in the image plane), ray divergence is
  ignored when measuring depth (≤ 9.5° at the edge of a 50 mm cone at 15 cm SSD), and the scatter
  of a curved or sloping skin is that of a flat water phantom (the PDD and profiles are flat-phantom
  data).
* Δs(x) = s(x) − s(x_c): how much farther the local skin lies from the source than the skin on the
  axis (where the cone end sits); the inverse-square factor corrects the primary for it (1 on a
  flat skin).
* OAR(d, r) = profile(d, r) / PDD(d): the off-axis ratio from the beam-data profiles (given at a
  few depths, 0, 2 and 5 mm for the Monte Carlo data). Divergence: each profile is tabulated against
  the off-axis distance projected to the surface plane, ρ = r·SSD/(SSD + d); between profile depths
  the ratio is interpolated linearly in depth at equal ρ; shallower than the first or deeper than
  the last profile, that profile's shape at equal ρ is used (stated approximation: beyond the
  deepest profile only the divergence changes the shape). OAR = 1 within the disc over which the
  PDD was scored, and beyond it the profile ÷ its own mean over that disc (_off_axis_ratio), so the
  grid reproduces the PDD on the axis and Monte Carlo noise near the axis draws no notches.
* Zero above the skin (d < 0). NaN ("no beam data") deeper than the PDD table or farther off axis
  than the profiles reach — never an extrapolated number.

Speed: everything that depends only on the beam data is tabulated once (BeamModel: a regular
(depth, physical off-axis distance) table of PDD·OAR, 0.025 mm × 0.05 mm); a plane is then a
per-column interpolation in r and a vectorised linear interpolation in depth (a few ms for
640 × 480). The plane depends on the outline only through the cone axis position x_c, so editing
an outline vertex that does not move the lesion's lateral centre reuses the plane (PlaneCache).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from planner.core.errors import PlannerError
from planner.core.skin_surface import SkinSurface
from planner.dose.beam_data import BeamData

DZ_MM = 0.025
DR_MM = 0.05


class DoseCalculationError(PlannerError, ValueError):
    """Input for which no dose can be calculated; the message says which number and why.

    Defined with the dose plane every surface technique shares, so that no technique imports
    another's dose module for it (the kV TG-61 dose and the eBx applicator dose both raise it).
    """


def _off_axis_ratio(r_mm: np.ndarray, profile: np.ndarray, central_radius_mm: float) -> np.ndarray:
    """Profile ÷ its own central value, and 1 inside the central radius.

    The PDD is the dose averaged over a disc of ``central_radius_mm`` around the axis, so the
    profile is normalised to its (area-weighted) mean over the same disc, and taken as flat inside
    it: the beam data cannot resolve shape there, and the few, tiny central annuli carry the largest
    Monte Carlo noise — dividing them by the PDD drew notches into the isodoses on the axis.
    """
    inside = r_mm <= central_radius_mm + 1e-9
    if not inside.any():
        inside = r_mm <= r_mm[0]
    weights = np.maximum(r_mm[inside], 1e-6)
    central = float(np.sum(profile[inside] * weights) / np.sum(weights))
    oar = profile / central
    oar[inside] = 1.0
    return oar


class BeamModel:
    """Precomputed PDD × OAR table of one beam (depends only on the beam data)."""

    def __init__(self, beam: BeamData, dz_mm: float = DZ_MM, dr_mm: float = DR_MM):
        if not beam.pdd or not beam.profiles:
            raise ValueError("beam data without PDD or profiles cannot give a dose plane")
        self.beam = beam
        self.ssd_mm = float(beam.ssd_cm) * 10.0
        self.dz, self.dr = float(dz_mm), float(dr_mm)
        z_pdd = np.array([p[0] for p in beam.pdd], dtype=float)
        v_pdd = np.array([p[1] for p in beam.pdd], dtype=float)
        if z_pdd[0] != 0.0 or np.any(np.diff(z_pdd) <= 0):
            raise ValueError("the PDD must start at depth 0 and increase")
        self.pdd_depths_mm, self.pdd_percent = z_pdd, v_pdd
        self.max_depth_mm = float(z_pdd[-1])

        # Off-axis ratios per profile depth against the surface-projected distance ρ.
        depths, rhos, oars = [], [], []
        for prof in sorted(beam.profiles, key=lambda p: p.depth_mm):
            r = np.array([p[0] for p in prof.points], dtype=float)
            v = np.array([p[1] for p in prof.points], dtype=float)
            oar = _off_axis_ratio(r, v, beam.pdd_scoring_radius_mm)
            if r[0] > 0:
                r, oar = np.concatenate(([0.0], r)), np.concatenate(([1.0], oar))
            depths.append(float(prof.depth_mm))
            rhos.append(r * self.ssd_mm / (self.ssd_mm + prof.depth_mm))
            oars.append(oar)
        self.profile_depths_mm = np.array(depths)
        self.rho_max_mm = float(min(r[-1] for r in rhos))   # common range of every profile
        self.max_off_axis_mm = self.rho_max_mm * (self.ssd_mm + self.max_depth_mm) / self.ssd_mm

        nz = int(math.floor(self.max_depth_mm / self.dz + 1e-9)) + 1
        nr = int(math.ceil(self.max_off_axis_mm / self.dr)) + 2
        z = np.arange(nz) * self.dz
        r = np.arange(nr) * self.dr
        rho = r[None, :] * self.ssd_mm / (self.ssd_mm + z[:, None])           # (nz, nr)
        per_profile = np.stack([np.interp(rho, rr, oo, right=np.nan) for rr, oo in zip(rhos, oars)])
        if len(depths) == 1:
            oar_grid = per_profile[0]
        else:
            zc = np.clip(z, depths[0], depths[-1])
            k = np.clip(np.searchsorted(depths, zc, side="right") - 1, 0, len(depths) - 2)
            d0, d1 = self.profile_depths_mm[k], self.profile_depths_mm[k + 1]
            w = ((zc - d0) / (d1 - d0))[:, None]
            rows = np.arange(nz)
            oar_grid = (1 - w) * per_profile[k, rows, :] + w * per_profile[k + 1, rows, :]
        oar_grid[rho > self.rho_max_mm + 1e-9] = np.nan
        oar_grid[:, 0] = 1.0
        self.table = (np.interp(z, z_pdd, v_pdd) / 100.0)[:, None] * oar_grid   # fraction of surface CAX dose
        self.table32 = self.table.astype(np.float32)
        self.table_depths_mm = z

    # -------------------------------------------------------------------- evaluation
    def relative_dose(self, depth_mm, off_axis_mm, skin_offset_mm=0.0):
        """Dose as a fraction of the surface central-axis dose at (depth, off-axis) points (arrays ok)."""
        d = np.asarray(depth_mm, dtype=float)
        r = np.abs(np.asarray(off_axis_mm, dtype=float))
        d, r = np.broadcast_arrays(d, r)
        fz = np.clip(d, 0.0, None) / self.dz
        fr = r / self.dr
        nz, nr = self.table.shape
        j0 = np.minimum(np.floor(fz).astype(int), nz - 2)
        i0 = np.minimum(np.floor(fr).astype(int), nr - 2)
        wz, wr = fz - j0, fr - i0
        t = self.table
        val = ((1 - wz) * ((1 - wr) * t[j0, i0] + wr * t[j0, i0 + 1])
               + wz * ((1 - wr) * t[j0 + 1, i0] + wr * t[j0 + 1, i0 + 1]))
        val = val * (self.ssd_mm / (self.ssd_mm + np.asarray(skin_offset_mm, dtype=float))) ** 2
        val = np.where(d > self.max_depth_mm + 1e-9, np.nan, val)
        val = np.where(r > self.max_off_axis_mm, np.nan, val)
        val = np.where(d < 0, 0.0, val)
        return float(val) if val.ndim == 0 else val

    def relative_plane(self, x_mm: np.ndarray, y_mm: np.ndarray, skin_y_mm: np.ndarray,
                       axis_x_mm: float, skin_y_at_axis_mm: float) -> np.ndarray:
        """(ny, nx) fraction of the surface central-axis dose (float32); skin_y_mm = s(x) per column."""
        x = np.asarray(x_mm, dtype=float)
        y = np.asarray(y_mm, dtype=float)
        s = np.asarray(skin_y_mm, dtype=float)
        nz, nr = self.table.shape
        nx = x.size
        # columns: interpolate the table in r once per column, only over the depths the image needs
        r = np.abs(x - axis_x_mm)
        fr = r / self.dr
        i0 = np.minimum(np.floor(fr).astype(np.intp), nr - 2)
        wr = (fr - i0).astype(np.float32)
        need = float(np.max(y) - np.min(s))
        nz_need = int(min(nz, max(2, math.ceil(need / self.dz) + 3)))
        t = self.table32[:nz_need]
        cols = t[:, i0] * (1 - wr) + t[:, i0 + 1] * wr                   # (nz_need, nx)
        cols[:, r > self.max_off_axis_mm] = np.nan
        cols *= ((self.ssd_mm / (self.ssd_mm + (s - skin_y_at_axis_mm))) ** 2).astype(np.float32)[None, :]
        # rows: linear interpolation in depth d = y − s(x) (float32, int32 indices: half the memory traffic)
        dif = np.empty_like(cols)
        np.subtract(cols[1:], cols[:-1], out=dif[:-1])
        dif[-1] = 0.0
        d = y.astype(np.float32)[:, None] - s.astype(np.float32)[None, :]          # (ny, nx)
        fz = np.maximum(d, np.float32(0.0))
        fz *= np.float32(1.0 / self.dz)
        fl = np.floor(fz)
        wz = fz
        wz -= fl
        j0 = fl.astype(np.int32)
        if nz_need == nz:                     # the image reaches below the table: keep indices inside
            np.minimum(j0, nz - 2, out=j0)
        j0 *= np.int32(nx)
        j0 += np.arange(nx, dtype=np.int32)
        out = dif.ravel()[j0]
        out *= wz
        out += cols.ravel()[j0]
        out[y[:, None] < s[None, :]] = 0.0          # above the skin, decided in float64
        if need > self.max_depth_mm:
            out[d > self.max_depth_mm + 1e-6] = np.nan
        return out


def image_axes(calibration, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """x_mm (cols) and y_mm (rows) of pixel centres from a PixelCalibration-like object."""
    x = calibration.x0_mm + np.arange(cols) * calibration.mm_per_pixel_x
    y = calibration.y0_mm + np.arange(rows) * calibration.mm_per_pixel_y
    return x, y


def validate_axes(x_mm, y_mm) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x_mm, dtype=float)
    y = np.asarray(y_mm, dtype=float)
    for name, a in (("x_mm", x), ("y_mm", y)):
        if a.ndim != 1 or a.size < 2:
            raise ValueError(f"{name} must be a 1-D axis of at least 2 pixel centres")
        if not np.all(np.isfinite(a)) or np.any(np.diff(a) <= 0):
            raise ValueError(f"{name} must be finite and strictly increasing")
    return x, y


@dataclass(frozen=True, eq=False)
class RelativePlane:
    """A plane as a fraction of the surface central-axis dose, with what it was computed for."""

    x_mm: np.ndarray
    y_mm: np.ndarray
    axis_x_mm: float
    values: np.ndarray          # (ny, nx)


class PlaneCache:
    """Keeps the last relative plane; recomputes only when beam, axes, skin or cone axis change."""

    def __init__(self):
        self._key = None
        self._plane: RelativePlane | None = None

    def plane(self, model: BeamModel, x_mm: np.ndarray, y_mm: np.ndarray, skin: SkinSurface,
              axis_x_mm: float) -> RelativePlane:
        key = (id(model), x_mm.shape, float(x_mm[0]), float(x_mm[-1]), y_mm.shape, float(y_mm[0]),
               float(y_mm[-1]), skin.points_mm, float(axis_x_mm))
        if self._key == key and self._plane is not None:
            return self._plane
        values = model.relative_plane(x_mm, y_mm, skin.depth_at(x_mm), axis_x_mm, skin.depth_at(axis_x_mm))
        self._plane = RelativePlane(x_mm, y_mm, float(axis_x_mm), values)
        self._key = key
        self._model = model      # keep the model alive so id() stays unique while cached
        return self._plane


def dose_plane_gy(model: BeamModel, x_mm, y_mm, skin: SkinSurface, axis_x_mm: float,
                  surface_dose_gy: float) -> np.ndarray:
    """Per-fraction dose grid (ny, nx) in Gy: zero above the skin, NaN outside the beam data."""
    x, y = validate_axes(x_mm, y_mm)
    if not (math.isfinite(surface_dose_gy) and surface_dose_gy >= 0):
        raise ValueError(f"surface dose must be a finite number ≥ 0 Gy, got {surface_dose_gy!r}")
    rel = model.relative_plane(x, y, skin.depth_at(x), float(axis_x_mm), skin.depth_at(float(axis_x_mm)))
    return rel * surface_dose_gy
