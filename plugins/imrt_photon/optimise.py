"""Fluence optimisation: weighted dose objectives, L-BFGS-B with non-negative bixel weights.

The objectives are the ones planners set in commercial systems and matRad (Wieser et al., Med Phys
44(6):2556-2568, 2017, section 2.4): squared under/overdose against a minimum/maximum dose, squared
deviation of the mean dose, and min/max DVH points (squared deviation of the points that violate
the DVH point, Wu & Mohan, Med Phys 27(4):701-711, 2000). Each is normalised by the structure's
point count so a weight means the same for a large and a small structure.

A structure's dose is read through a StructureReadout: at its voxel centres (its rows of the
dose-influence matrix), or at its samples below the voxel, the dose interpolated there
(planner.dose.structure_dvh.interpolation_matrix). Planner plans with the samples, so the optimiser
cannot put a fall-off between voxel centres where no objective sees it (issue 14); the voxel-centre
readout stays for the like-for-like benchmark against pyRadPlan, which optimises on voxel centres.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import scipy.optimize
import scipy.sparse

from planner.core.inverse_plan import Objective
from planner.dose.dvh import DvhMetrics, dose_at_volume_gy
from plugins.imrt_photon.sparse_products import nonzero_runs, products_for, rows_in_runs, single_threaded_blas


@dataclass(frozen=True, eq=False)
class StructureReadout:
    """One structure's dose points over the dose per dij row: the interpolation weights of its
    samples as a sparse matrix (points × rows), or its own rows (voxel centres, indexed directly)."""

    matrix: scipy.sparse.csr_matrix | None
    transpose: scipy.sparse.csr_matrix | None
    rows: np.ndarray | None = None   # the voxel-centre readout: these rows, each once

    @classmethod
    def of(cls, matrix) -> "StructureReadout":
        matrix = scipy.sparse.csr_matrix(matrix)
        return cls(matrix, matrix.T.tocsr())

    @classmethod
    def at_rows(cls, rows: np.ndarray, n_rows: int | None = None) -> "StructureReadout":
        """The structure's voxel centres: its rows of the dose-influence matrix."""
        rows = np.asarray(rows, dtype=np.int64)
        if np.unique(rows).size != rows.size:
            raise ValueError("a structure's rows must each appear once")
        return cls(None, None, rows)

    @property
    def size(self) -> int:
        return self.rows.size if self.rows is not None else self.matrix.shape[0]

    def dose(self, dose_rows: np.ndarray) -> np.ndarray:
        return dose_rows[self.rows] if self.rows is not None else self.matrix @ dose_rows

    def add_pull_back(self, gradient: np.ndarray, into: np.ndarray) -> None:
        """Add a gradient with respect to the points' doses to one with respect to the row doses."""
        if self.rows is not None:
            into[self.rows] += gradient
        else:
            into += self.transpose @ gradient


Readouts = Mapping[str, "StructureReadout | np.ndarray"]


def as_readouts(structures: Readouts, n_rows: int) -> dict[str, StructureReadout]:
    """Row-index arrays (voxel centres) as readouts; readouts as they are."""
    return {name: r if isinstance(r, StructureReadout) else StructureReadout.at_rows(r, n_rows)
            for name, r in structures.items()}


def dvh_metrics(dose_rows: np.ndarray, readouts: Mapping[str, StructureReadout]) -> dict[str, DvhMetrics]:
    """D95, D10, mean and max of each structure's points (equal volumes)."""
    out = {}
    for name, readout in readouts.items():
        d = readout.dose(dose_rows)
        out[name] = (DvhMetrics(dose_at_volume_gy(d, 0.95), dose_at_volume_gy(d, 0.10), float(d.mean()), float(d.max()))
                     if d.size else DvhMetrics(*(float("nan"),) * 4))
    return out


@dataclass(frozen=True)
class OptimisationSettings:
    max_iterations: int = 300
    # L-BFGS-B stops when the relative objective change falls below this (scipy 'ftol').
    relative_tolerance: float = 1e-7


@dataclass(frozen=True)
class OptimisationResult:
    weights: np.ndarray
    dose_gy: np.ndarray  # per row of the dose-influence matrix
    objective_history: tuple[float, ...]
    metrics: dict[str, DvhMetrics]
    iterations: int
    cancelled: bool
    seconds: float
    message: str = ""


class _Cancelled(Exception):
    pass


def _term(obj: Objective, d: np.ndarray) -> tuple[float, np.ndarray]:
    """Value and gradient with respect to the structure's point doses."""
    n = d.size
    ref = obj.dose_gy
    if obj.kind == "min_dose":
        diff = np.minimum(d - ref, 0.0)
    elif obj.kind == "max_dose":
        diff = np.maximum(d - ref, 0.0)
    elif obj.kind == "mean_dose":
        dm = d.mean() - ref
        return dm * dm, np.full(n, 2.0 * dm / n)
    elif obj.kind in ("min_dvh", "max_dvh"):
        d_at_v = dose_at_volume_gy(d, obj.volume_fraction)
        if obj.kind == "min_dvh":  # voxels below ref that must come up for D_v >= ref
            diff = np.where((d < ref) & (d >= d_at_v), d - ref, 0.0)
        else:  # voxels above ref that must come down for D_v <= ref
            diff = np.where((d > ref) & (d <= d_at_v), d - ref, 0.0)
    else:
        raise ValueError(f"unknown objective kind {obj.kind!r}")
    return float(diff @ diff) / n, 2.0 * diff / n


# A row is skipped while its dose bound stays this far below the lowest maximum dose read there:
# far more than float32 rounding of a row's sum (< 2e-4 relative for 2,600 bixels), so the skipped
# rows' terms are exactly zero, as their computed doses would give.
SKIP_MARGIN = 1e-3


class SkippedRows:
    """The dose rows only max-dose objectives read, left uncomputed while provably below their limit.

    With D >= 0, a row's dose after a step from x to x' grows by at most its row sum times the
    largest weight increase, max(x' - x, 0). A row read only at its voxel centre by max-dose
    objectives, whose bound stays below the lowest of their doses, adds exactly zero to the
    objective and its gradient: it keeps its last computed dose (below the limit too) and is not
    multiplied. On TG-119 at 5 mm (body max 30 Gy) about a fifth of the non-zeros are multiplied
    per evaluation. Rows no objective reads are never multiplied after the first evaluation; rows
    other objectives read are always multiplied, and with any structure read at samples below the
    voxel (Planner's own planning: a point mixes rows) nothing is skipped. The objective and
    gradient are those of the full product, bit for bit; the dose returned is stale in the skipped
    rows.
    """

    def __init__(self, products, limits_gy: np.ndarray):
        self.products = products
        self.limits_gy = limits_gy  # per row: -inf always computed, +inf never read
        self.row_sums = np.asarray(products.matrix @ np.ones(products.shape[1], dtype=products.dtype), dtype=float)
        self.x = None
        self.dose32 = np.zeros(products.shape[0], dtype=products.dtype)
        self.bound_gy = np.zeros(products.shape[0])

    @classmethod
    def for_objectives(cls, products, readouts: Mapping[str, StructureReadout],
                       objectives: Sequence[Objective]) -> "SkippedRows | None":
        """None when no row could be skipped (or D has a negative entry: no bound)."""
        limits = np.full(products.shape[0], np.inf)
        for obj in objectives:
            readout = readouts[obj.structure]
            if readout.rows is None:  # samples: a point mixes rows, none may go stale
                return None
            if obj.kind == "max_dose":
                limits[readout.rows] = np.minimum(limits[readout.rows], obj.dose_gy * (1.0 - SKIP_MARGIN))
        for obj in objectives:
            if obj.kind != "max_dose":
                limits[readouts[obj.structure].rows] = -np.inf
        if np.all(limits == -np.inf) or not products.non_negative:
            return None
        return cls(products, limits)

    def dose(self, x: np.ndarray) -> np.ndarray:
        """D x per row in float64: exact where it can matter, the last computed dose elsewhere."""
        x32 = np.asarray(x, dtype=self.products.dtype)
        if self.x is None:
            self.dose32 = self.products.dose(x32)
            self.bound_gy = self.dose32.astype(float)
        else:
            step = max(float(np.max(x32.astype(float) - self.x)), 0.0)
            self.bound_gy += self.row_sums * step
            runs = nonzero_runs(self.bound_gy >= self.limits_gy)
            self.products.dose_in_runs(x32, runs, self.dose32)
            computed = rows_in_runs(runs, self.dose32.size)
            self.bound_gy[computed] = self.dose32[computed]
        self.x = x32.astype(float)
        return self.dose32.astype(float)


def objective_function(products, readouts: Mapping[str, StructureReadout], objectives: Sequence[Objective],
                       modulation: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None
                       ) -> Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]:
    """x -> (sum_k w_k f_k(D x) (+ modulation(x)), its gradient, the dose D x per row or None where
    SkippedRows left rows stale): one forward product D x (of the rows that can matter) and one
    transpose product D^T g per call (`products`: sparse_products.ForwardAndTranspose); the dose and
    the terms in float64."""

    skipped = SkippedRows.for_objectives(products, readouts, objectives)

    def value_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray | None]:
        dose = products.dose(x).astype(float) if skipped is None else skipped.dose(x)
        grad_dose = np.zeros_like(dose)
        total = 0.0
        for obj in objectives:
            readout = readouts[obj.structure]
            f, g = _term(obj, readout.dose(dose))
            total += obj.weight * f
            readout.add_pull_back(obj.weight * g, grad_dose)
        grad = products.gradient(grad_dose).astype(float)
        if modulation is not None:
            f, g = modulation(x)
            total += f
            grad += g
        return total, grad, dose if skipped is None else None

    return value_and_gradient


def optimise_fluence(
    dij: scipy.sparse.csr_matrix,
    rows: Readouts,
    objectives: Sequence[Objective],
    settings: OptimisationSettings = OptimisationSettings(),
    initial_weights: np.ndarray | None = None,
    progress: Callable[[int, float, np.ndarray], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    modulation: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None,
    on_dose: Callable[[int, float, np.ndarray], None] | None = None,
) -> OptimisationResult:
    """Minimise sum_k w_k f_k(D x) (+ modulation(x)) over x >= 0.

    `dij` maps bixel weights to dose (Gy per unit weight) per voxel (row); `rows` says where each
    structure's dose is read (name -> StructureReadout, or row indices for its voxel centres). `progress(iteration, objective, weights)` is called after every iteration and
    `cancelled()` before every evaluation; on cancel the best weights so far are returned.
    `modulation(x)` is a weighted term of the bixel weights themselves, with its gradient (the
    fluence smoothness, fluence_smoothness.py); None leaves the fluence free. `on_dose(iteration,
    objective, dose per row)` is called after every iteration with the iterate's dose, the one its
    evaluation computed (no product of its own; for a live DVH).
    """
    t0 = time.perf_counter()
    dij = dij.tocsr()
    products = products_for(dij)  # D x in threads, D^T g only where g is non-zero; no copy of D
    n_bixels = dij.shape[1]
    readouts = as_readouts(rows, dij.shape[0])
    if initial_weights is None:
        # Start where the PTV's mean dose meets its first objective's dose (avoids a flat start).
        x0 = np.ones(n_bixels)
        target = next((o for o in objectives if o.kind in ("min_dose", "min_dvh")), None)
        if target is not None:
            mean = readouts[target.structure].dose((dij @ x0.astype(dij.dtype)).astype(float)).mean()
            x0 *= target.dose_gy / max(mean, 1e-12)
    else:
        x0 = np.asarray(initial_weights, dtype=float)
    best = {"f": np.inf, "x": x0.copy()}
    history: list[float] = []

    value_and_gradient = objective_function(products, readouts, objectives, modulation)

    last = {"x": None, "dose": None}  # the latest evaluation's point and dose

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        if cancelled is not None and cancelled():
            raise _Cancelled
        total, grad, dose = value_and_gradient(x)
        last["x"], last["dose"] = x.copy(), dose
        if total < best["f"]:
            best["f"], best["x"] = total, x.copy()
        return total, grad

    iteration = [0]

    def callback(xk: np.ndarray) -> None:
        iteration[0] += 1
        history.append(best["f"])
        if progress is not None:
            progress(iteration[0], best["f"], xk)
        if on_dose is not None:  # L-BFGS-B's iterate is its last evaluation's point
            same = last["dose"] is not None and np.array_equal(last["x"], xk)
            on_dose(iteration[0], best["f"], last["dose"] if same else products.dose(xk).astype(float))

    was_cancelled, message = False, ""
    with single_threaded_blas():
        try:
            res = scipy.optimize.minimize(
                fun, x0, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * n_bixels,
                callback=callback,
                options={"maxiter": settings.max_iterations, "ftol": settings.relative_tolerance,
                         "maxcor": 20})
            message = str(res.message)
        except _Cancelled:
            was_cancelled, message = True, "cancelled"
    x = best["x"]
    dose = (dij @ x.astype(dij.dtype)).astype(float)
    return OptimisationResult(x, dose, tuple(history), dvh_metrics(dose, readouts), iteration[0],
                              was_cancelled, time.perf_counter() - t0, message)


def normalise_to_dvh_point(result: OptimisationResult, rows: Readouts,
                           structure: str, volume_fraction: float, dose_gy: float
                           ) -> OptimisationResult:
    """Scale the plan so D_v of `structure`'s points equals dose_gy (TG-119 normalises PTV D95 = 50 Gy)."""
    readouts = as_readouts(rows, result.dose_gy.size)
    current = dose_at_volume_gy(readouts[structure].dose(result.dose_gy), volume_fraction)
    return scaled(result, dose_gy / current, readouts)


def scaled(result: OptimisationResult, scale: float, rows: Readouts) -> OptimisationResult:
    """The same plan with every bixel weight (and so every dose) times `scale`."""
    readouts = as_readouts(rows, result.dose_gy.size)
    dose = result.dose_gy * scale
    return OptimisationResult(result.weights * scale, dose, result.objective_history,
                              dvh_metrics(dose, readouts), result.iterations, result.cancelled,
                              result.seconds, result.message)
