"""The optimiser's own DVH: doses at voxel centres, every voxel of equal volume.

The optimiser's DVH objectives and its normalisation work on the dose-influence matrix's rows,
which are voxel centres, so they read this. Nothing reported reads it: on a 5 mm grid it misses the
gradient between centres (issue 14). Every DVH point or curve that is shown, printed or exported
comes from planner.dose.structure_dvh (structures sampled below the voxel, dose interpolated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def dose_at_volume_gy(dose_gy: np.ndarray, volume_fraction: float) -> float:
    """D_v: the minimum dose received by the hottest `volume_fraction` of the voxels (D95 -> 0.95)."""
    dose_gy = np.asarray(dose_gy)
    if dose_gy.size == 0:
        return float("nan")
    return float(np.quantile(dose_gy, 1.0 - volume_fraction))


def volume_at_dose_percent(dose_gy: np.ndarray, threshold_gy: float) -> float:
    """V_D: the percentage of the voxels receiving at least `threshold_gy`."""
    dose_gy = np.asarray(dose_gy)
    if dose_gy.size == 0:
        return float("nan")
    return 100.0 * float(np.count_nonzero(dose_gy >= threshold_gy)) / dose_gy.size


@dataclass(frozen=True, eq=False)
class CumulativeDvh:
    """Volume (% of the structure) receiving at least each dose (Gy): a falling staircase."""

    dose_gy: np.ndarray
    volume_percent: np.ndarray


def cumulative_dvh(dose_gy: np.ndarray, bin_width_gy: float = 0.25,
                   max_dose_gy: float | None = None) -> CumulativeDvh:
    """The cumulative DVH of one structure's voxel doses on bins of `bin_width_gy`."""
    dose_gy = np.asarray(dose_gy, dtype=float)
    top = float(dose_gy.max()) if max_dose_gy is None and dose_gy.size else (max_dose_gy or 0.0)
    edges = np.arange(0.0, top + 2 * bin_width_gy, bin_width_gy)
    if dose_gy.size == 0:
        return CumulativeDvh(edges, np.zeros_like(edges))
    counts = np.histogram(dose_gy, bins=np.append(edges, np.inf))[0]
    at_least = counts[::-1].cumsum()[::-1]
    return CumulativeDvh(edges, 100.0 * at_least / dose_gy.size)


@dataclass(frozen=True)
class DvhMetrics:
    """The DVH points TG-119 and most protocols report for a structure (Gy)."""

    d95_gy: float
    d10_gy: float
    mean_gy: float
    max_gy: float


def dvh_metrics(dose_gy: np.ndarray, rows: dict[str, np.ndarray]) -> dict[str, DvhMetrics]:
    """D95, D10, mean and max of each structure, whose voxels are `dose_gy[rows[name]]`."""
    out = {}
    for name, idx in rows.items():
        d = dose_gy[idx]
        if d.size == 0:
            out[name] = DvhMetrics(*(float("nan"),) * 4)
            continue
        out[name] = DvhMetrics(dose_at_volume_gy(d, 0.95), dose_at_volume_gy(d, 0.10),
                               float(d.mean()), float(d.max()))
    return out
