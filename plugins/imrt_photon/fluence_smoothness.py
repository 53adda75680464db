"""Fluence smoothness: the modulation control a planner weighs against the dose objectives.

A fluence optimised for dose alone is jagged: neighbouring bixels differ by large steps that buy
little dose but cost many segments and monitor units when the map is sequenced. Penalising the
squared difference of neighbouring bixel weights smooths the maps and so shortens the delivery
(Webb, Convery & Evans, "Inverse planning with constraints to generate smoothed intensity-modulated
beams", Phys Med Biol 43:2785-2794, 1998; Spirou, Fournier-Bidoz, Yang & Chui, "Smoothing
intensity-modulated beam profiles to improve the efficiency of delivery", Med Phys 28(10), 2001).
For step-and-shoot the link is direct: a leaf pair's row needs at least the sum of the rises
along it in MU (Bortfeld, Kahler, Waldron & Boyer, Int J Radiat Oncol Biol Phys 28:723-730, 1994),
so smaller steps along the leaf travel mean fewer MU.

The term, with P neighbour pairs (same beam, next bixel along u = leaf travel, or along v = the
next leaf pair) and D the P x n difference operator (+1, -1 per row):

    S(x) = c^2 / P * |D x|^2,      grad S = 2 c^2 / P * D^T D x

c is the DEMO calibration's dose per unit bixel weight at d_max of the open 10 x 10 cm^2 field
(monitor_units.reference_calibration), so c (x_i - x_j) is the step between two neighbours in Gy
of an open field at d_max. S is then a mean squared dose step in Gy^2, the units and per-point
normalisation of the dose objectives (optimise._term: mean squared deviation in Gy^2): a weight of 1
makes a 1 Gy mean square step between neighbours cost as much as a 1 Gy mean square underdose with
weight 1, whatever the dose grid or the number of bixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse

from .monitor_units import MuCalibration, reference_calibration
from .pencil_beam import Bixel, DoseInfluence

GRID_TOLERANCE = 1e-3  # of a bixel width: positions off the bixel grid by more are refused


def neighbour_differences(bixels: Sequence[Bixel], bixel_width_mm: float) -> scipy.sparse.csr_matrix:
    """D (pairs x bixels): one row +1 / -1 per pair of bixels of the same beam one width apart,
    along u (the leaf travel) first, then along v (across leaf pairs)."""
    w = float(bixel_width_mm)
    if not w > 0:
        raise ValueError(f"bixel width must be positive, got {bixel_width_mm!r}")
    n = len(bixels)
    beam = np.array([b.beam for b in bixels], dtype=np.int64)
    iu = _grid_index(np.array([b.u_mm for b in bixels], dtype=float) / w, "u", w)
    iv = _grid_index(np.array([b.v_mm for b in bixels], dtype=float) / w, "v", w)
    index = {(int(b), int(a), int(c)): i for i, (b, a, c) in enumerate(zip(beam, iu, iv))}
    if len(index) != n:
        raise ValueError("two bixels of one beam share a cell")
    first, second = [], []
    for step in ((1, 0), (0, 1)):
        for (b, a, c), i in index.items():
            j = index.get((b, a + step[0], c + step[1]))
            if j is not None:
                first.append(i)
                second.append(j)
    p = len(first)
    rows = np.repeat(np.arange(p), 2)
    cols = np.column_stack([first, second]).ravel() if p else np.zeros(0, dtype=np.int64)
    values = np.tile([1.0, -1.0], p)
    return scipy.sparse.csr_matrix((values, (rows, cols)), shape=(p, n))


def _grid_index(positions: np.ndarray, axis: str, width_mm: float) -> np.ndarray:
    """Whole-width indices of positions on a regular grid of any offset (bixels centred at k w or
    at (k + 1/2) w); refuses positions off that grid."""
    if positions.size == 0:
        return positions.astype(np.int64)
    shifted = positions - (positions[0] - np.floor(positions[0]))
    index = np.rint(shifted).astype(np.int64)
    if np.max(np.abs(shifted - index)) > GRID_TOLERANCE:
        raise ValueError(f"bixel {axis} positions are not on a {width_mm:g} mm grid")
    return index


@dataclass(frozen=True, eq=False)
class FluenceSmoothness:
    """weight x S(x), the term the optimiser adds (see the module's docstring)."""

    differences: scipy.sparse.csr_matrix
    gy_per_unit_weight: float
    weight: float

    @property
    def pairs(self) -> int:
        return self.differences.shape[0]

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """(weight x S(x), its gradient with respect to the bixel weights)."""
        if self.pairs == 0:
            return 0.0, np.zeros_like(x, dtype=float)
        scale = self.weight * self.gy_per_unit_weight ** 2 / self.pairs
        steps = self.differences @ x
        return float(scale * (steps @ steps)), 2.0 * scale * (self.differences.T @ steps)


def fluence_smoothness(bixels: Sequence[Bixel], bixel_width_mm: float, weight: float,
                       gy_per_unit_weight: float) -> FluenceSmoothness | None:
    """The weighted term, or None when the weight is 0 (the control is off)."""
    if weight == 0:
        return None
    if not np.isfinite(weight) or weight < 0:
        raise ValueError(f"the modulation weight must be a number >= 0, got {weight!r}")
    return FluenceSmoothness(neighbour_differences(bixels, bixel_width_mm), float(gy_per_unit_weight), float(weight))


def smoothness_for(influence: DoseInfluence, weight: float,
                   calibration: MuCalibration | None = None) -> FluenceSmoothness | None:
    """The plan's smoothness term on an influence matrix's bixels (None when the weight is 0), in
    Gy of the DEMO calibration's open field (computed once per process)."""
    if weight == 0:
        return None
    calibration = calibration or reference_calibration()
    return fluence_smoothness(influence.bixels, influence.bixel_width_mm, weight,
                              calibration.dose_per_unit_weight_at_dmax_gy)
