"""Beam-quality figures of a BeamData, defined the way the validation compares them with the publications.

Definitions (the Esteya abstract, Garcia-Martinez et al. 2014, gives the numbers but not the definitions,
so these are the common ones, stated here and in every report line):
- flatness: (Dmax − Dmin)/(Dmax + Dmin) × 100 % over the central 80 % of the field diameter (annulus
  centres with r ≤ 0.8 × field radius, the radius scaled by divergence to the profile depth);
- penumbra: distance between the 80 % and 20 % points of the profile normalised to its mean over the
  central 80 %, linear interpolation between annulus centres. The engine scores profiles in 0.5 mm annuli,
  so a penumbra below ~0.5 mm is resolution-limited: the figure is an upper estimate there;
- depth-dose gradient: minus the least-squares slope of the central-axis PDD (% of surface dose) against
  depth over 0–5 mm (the published range of treatable depths, "lesions up to 5 mm"), in percentage
  points per mm;
- uniformity (Xoft class, "within ±15 % at 2 mm depth"): the largest |D(r)/D(0) − 1| × 100 % over the
  treatable radius at 2 mm depth, D(0) being the central-axis PDD value at that depth.
"""

from __future__ import annotations

import numpy as np

from planner.core.errors import PlannerError
from planner.dose.beam_data import BeamData, Profile


class BeamMetricError(PlannerError, ValueError):
    """A figure cannot be computed from this beam data (e.g. no profile at the asked depth)."""


def profile_at(beam: BeamData, depth_mm: float) -> Profile:
    for p in beam.profiles:
        if abs(p.depth_mm - depth_mm) < 1e-6:
            return p
    raise BeamMetricError(f"no profile at {depth_mm:g} mm (scored at {[p.depth_mm for p in beam.profiles]} mm)")


def _arrays(profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    r = np.array([x for x, _ in profile.points], dtype=float)
    d = np.array([y for _, y in profile.points], dtype=float)
    return r, d


def field_radius_at_depth_mm(beam: BeamData, depth_mm: float) -> float:
    return 0.5 * beam.field_diameter_mm * (beam.ssd_cm * 10.0 + depth_mm) / (beam.ssd_cm * 10.0)


def flatness_percent(beam: BeamData, depth_mm: float = 0.0, central_fraction: float = 0.8) -> float:
    r, d = _arrays(profile_at(beam, depth_mm))
    inside = r <= central_fraction * field_radius_at_depth_mm(beam, depth_mm)
    if inside.sum() < 2:
        raise BeamMetricError("fewer than two profile points in the central region")
    dmax, dmin = d[inside].max(), d[inside].min()
    return 100.0 * (dmax - dmin) / (dmax + dmin)


def _crossing(r: np.ndarray, d: np.ndarray, level: float) -> float:
    """First radius (outwards) where the falling profile crosses `level`, linear interpolation."""
    below = np.nonzero(d < level)[0]
    if below.size == 0 or below[0] == 0:
        raise BeamMetricError(f"the profile does not fall through {level:.1f} %")
    i = below[0]
    return float(r[i - 1] + (d[i - 1] - level) / (d[i - 1] - d[i]) * (r[i] - r[i - 1]))


def penumbra_80_20_mm(beam: BeamData, depth_mm: float = 0.0) -> float:
    r, d = _arrays(profile_at(beam, depth_mm))
    radius = field_radius_at_depth_mm(beam, depth_mm)
    central = d[r <= 0.8 * radius].mean()
    rel = 100.0 * d / central
    # Start the search just inside the field edge, so central noise never counts as a crossing.
    start = int(np.searchsorted(r, 0.8 * radius))
    return _crossing(r[start:], rel[start:], 20.0) - _crossing(r[start:], rel[start:], 80.0)


def depth_dose_gradient_percent_per_mm(beam: BeamData, z_from_mm: float = 0.0, z_to_mm: float = 5.0) -> float:
    z = np.array([p[0] for p in beam.pdd], dtype=float)
    d = np.array([p[1] for p in beam.pdd], dtype=float)
    sel = (z >= z_from_mm - 1e-9) & (z <= z_to_mm + 1e-9)
    if sel.sum() < 3:
        raise BeamMetricError(f"fewer than three PDD points in {z_from_mm:g}–{z_to_mm:g} mm")
    return float(-np.polyfit(z[sel], d[sel], 1)[0])


def pdd_at(beam: BeamData, depth_mm: float) -> float:
    z = np.array([p[0] for p in beam.pdd], dtype=float)
    d = np.array([p[1] for p in beam.pdd], dtype=float)
    if not (z[0] <= depth_mm <= z[-1]):
        raise BeamMetricError(f"depth {depth_mm:g} mm outside the PDD ({z[0]:g}–{z[-1]:g} mm)")
    return float(np.interp(depth_mm, z, d))


def uniformity_percent(beam: BeamData, radius_mm: float, depth_mm: float = 2.0) -> float:
    """Largest |D(r)/D(0) − 1| in % over annulus centres r ≤ radius_mm at depth_mm (D(0) from the PDD)."""
    r, d = _arrays(profile_at(beam, depth_mm))
    inside = r <= radius_mm
    if not inside.any():
        raise BeamMetricError(f"no profile point within {radius_mm:g} mm")
    return float(100.0 * np.max(np.abs(d[inside] / pdd_at(beam, depth_mm) - 1.0)))
