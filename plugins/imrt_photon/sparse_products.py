"""Sparse matrix-vector products for the optimiser: its two products per evaluation.

Each L-BFGS-B evaluation multiplies the dose-influence matrix by the bixel weights (dose = D x)
and its transpose by the dose gradient (grad = D^T g). On TG-119 at a 2.5 mm grid D has
~174 M non-zeros (matRad's Russian-roulette sampling, issue 14; 76 M with the earlier uniform 10 %
tail sampling), so these two products are nearly all of an iteration's time (issue 14, point 8).

SciPy's CSR mat-vec (C++ sparsetools) releases the GIL, so a CSR matrix split into row blocks of
about equal non-zeros, each block multiplied in its own thread into its own slice of the result,
runs on all cores. The blocks share the matrix's arrays (no copy); each thread writes its own rows,
so the result is the same sum in the same order as one product, bit for bit. Values stay in the
matrix's dtype (float32 for the dose influence) and the vector is cast to it, so SciPy never makes
a float64 copy of the matrix. The transpose product reads D's own arrays too, only the rows where
the gradient is non-zero (ForwardAndTranspose); no transpose is stored.

While the optimiser runs, OpenBLAS is held to one thread (single_threaded_blas): see there why.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import numpy as np
import scipy.sparse
# SciPy's C++ sparse kernels (private, stable since SciPy 0.7): the transpose product over a range
# of rows without building a matrix object per range. tests/plugins/imrt check it against D.T @ g.
from scipy.sparse import _sparsetools

MAX_THREADS = 8
# Below this many non-zeros a product takes well under a millisecond: threads would only add overhead.
MIN_NNZ_PER_BLOCK = 200_000


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS tells it, else os.cpu_count())."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    return max(1, min(usable_cores(), MAX_THREADS))


# OpenBLAS builds numpy and SciPy load (numpy's 64-bit-integer one, SciPy's own): their thread-count
# getter and setter. scipy_openblas prefixes its symbols; a system OpenBLAS does not.
_OPENBLAS_THREAD_SYMBOLS = (
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)


def _loaded_openblas() -> list[tuple[Callable[[], int], Callable[[int], None]]]:
    """(get, set) thread-count functions of every OpenBLAS loaded in this process (Linux only:
    read from /proc/self/maps; elsewhere none, and BLAS keeps its own threads)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    except OSError:
        return []
    found = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)  # already loaded: the same handle, nothing loaded again
        except OSError:
            continue
        for get_name, set_name in _OPENBLAS_THREAD_SYMBOLS:
            if hasattr(lib, get_name) and hasattr(lib, set_name):
                getter, setter = getattr(lib, get_name), getattr(lib, set_name)
                getter.restype, setter.argtypes = ctypes.c_int, [ctypes.c_int]
                found.append((getter, setter))
                break
    return found


_BLAS_LOCK = threading.Lock()
_BLAS_HOLDERS = [0]  # optimisations running now: the first sets one thread, the last restores
_BLAS_RESTORE: list[tuple[Callable[[int], None], int]] = []


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """OpenBLAS on one thread while the optimiser runs (restored after).

    The optimiser's BLAS work is tiny (L-BFGS-B's vectors of a few thousand bixels, dot products of
    a structure's doses), but OpenBLAS splits it over its threads, which then keep spinning on the
    cores the sparse products need: on TG-119 at 5 mm (2 cores) this made an iteration ~140 ms
    instead of ~48 ms, L-BFGS-B's own step 8 ms instead of 0.3 ms (benchmarks/optimiser_profile.py).
    """
    with _BLAS_LOCK:
        libs = _loaded_openblas() if _BLAS_HOLDERS[0] == 0 else []
        before = [(setter, getter()) for getter, setter in libs]
        for setter, _ in before:
            setter(1)
        _BLAS_HOLDERS[0] += 1
        _BLAS_RESTORE.extend(before)
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_HOLDERS[0] -= 1
            if _BLAS_HOLDERS[0] == 0:
                for setter, threads in _BLAS_RESTORE:
                    setter(threads)
                _BLAS_RESTORE.clear()


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    """One shared pool per thread count (threads made once, not per product)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = _POOLS[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sparse-product")
        return pool


def row_blocks(indptr: np.ndarray, blocks: int) -> np.ndarray:
    """Row boundaries [0, ..., n_rows] of up to `blocks` row ranges with about equal non-zeros
    (empty ranges dropped; a single row longer than a share stays one range)."""
    n_rows = indptr.size - 1
    nnz = int(indptr[-1])
    if blocks <= 1 or n_rows <= 1 or nnz == 0:
        return np.array([0, n_rows])
    targets = nnz * np.arange(1, blocks) / blocks
    inner = np.searchsorted(indptr, targets, side="left")
    return np.unique(np.concatenate([[0], np.clip(inner, 0, n_rows), [n_rows]]))


class ParallelCsr:
    """A CSR matrix whose products `A @ x` run over row blocks in threads.

    `threads`: how many products run at once (default: the usable cores, at most MAX_THREADS);
    `blocks`: how many row blocks (default: two a thread, fewer for a small matrix, one for one
    thread). The blocks are views of `matrix`'s arrays, so the matrix is held once.
    """

    def __init__(self, matrix, threads: int | None = None, blocks: int | None = None):
        matrix = scipy.sparse.csr_matrix(matrix)  # a CSR matrix's arrays are shared, not copied
        self.matrix = matrix
        self.shape = matrix.shape
        self.dtype = matrix.dtype
        self.threads = default_threads() if threads is None else max(1, int(threads))
        if blocks is None:  # two blocks a thread: a thread that finds its core busy does less of the work
            wanted = max(1, min(2 * self.threads, matrix.nnz // MIN_NNZ_PER_BLOCK)) if self.threads > 1 else 1
        else:
            wanted = max(1, int(blocks))
        bounds = row_blocks(matrix.indptr, wanted)
        self.bounds = bounds
        self.blocks = []
        for start, stop in zip(bounds[:-1], bounds[1:]):
            lo, hi = int(matrix.indptr[start]), int(matrix.indptr[stop])
            block = scipy.sparse.csr_matrix(
                (matrix.data[lo:hi], matrix.indices[lo:hi], matrix.indptr[start:stop + 1] - lo),
                shape=(int(stop - start), matrix.shape[1]), copy=False)
            self.blocks.append((int(start), int(stop), block))

    @property
    def nnz(self) -> int:
        return self.matrix.nnz

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        return self.dot(x)

    def dot(self, x: np.ndarray) -> np.ndarray:
        """A @ x in the matrix's dtype (x is cast to it: no float64 copy of the matrix)."""
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if x.shape != (self.shape[1],):
            raise ValueError(f"vector of shape {x.shape} for a matrix of shape {self.shape}")
        out = np.empty(self.shape[0], dtype=self.dtype)
        if len(self.blocks) <= 1 or self.threads <= 1:
            for start, stop, block in self.blocks:
                out[start:stop] = block @ x
            return out

        def one(item):
            start, stop, block = item
            out[start:stop] = block @ x

        list(_pool(self.threads).map(one, self.blocks))
        return out

    @property
    def T(self) -> "ParallelCsr":
        """The transpose, stored as CSR itself (so its product runs over row blocks too)."""
        return ParallelCsr(self.matrix.T.tocsr(), threads=self.threads)


# Runs of rows at most this many rows apart are multiplied as one run: a row costs about 0.4 us
# (TG-119, ~400 non-zeros a row), a run about 5 us of Python and kernel call.
MERGE_GAP_ROWS = 16


def nonzero_runs(g: np.ndarray, merge_gap: int = MERGE_GAP_ROWS) -> np.ndarray:
    """(start, stop) row ranges covering every non-zero of g, runs at most `merge_gap` zeros apart
    joined; shape (n_runs, 2)."""
    nz = np.flatnonzero(g)
    if nz.size == 0:
        return np.empty((0, 2), dtype=np.int64)
    breaks = np.flatnonzero(np.diff(nz) > merge_gap + 1)
    starts = np.concatenate([[nz[0]], nz[breaks + 1]])
    stops = np.concatenate([nz[breaks], [nz[-1]]]) + 1
    return np.stack([starts, stops], axis=1)


def rows_in_runs(runs: np.ndarray, n_rows: int) -> np.ndarray:
    """A mask of the rows the (start, stop) ranges `runs` cover."""
    edges = np.zeros(n_rows + 1, dtype=np.int64)
    np.add.at(edges, runs[:, 0], 1)
    np.add.at(edges, runs[:, 1], -1)
    return np.cumsum(edges[:-1]) > 0


class ForwardAndTranspose:
    """The optimiser's pair, dose = D @ x and gradient = D^T @ g, on D itself (no copy).

    The forward product runs over row blocks in threads (ParallelCsr). The dose gradient g is zero
    wherever no objective pulls (a max-dose objective below its dose: most of the body), so D^T g
    runs only over the row ranges where g is non-zero, by SciPy's own transpose kernel (csc_matvec:
    D's CSR arrays read as D^T in CSC) accumulating range after range into one result. Skipped rows
    would add only zeros, so both products are SciPy's `D @ x` and `D.T @ g`, bit for bit; on TG-119
    at 5 mm the gradient reads a sixth to a quarter of the non-zeros.
    """

    def __init__(self, dij, threads: int | None = None):
        self.forward = ParallelCsr(dij, threads=threads)
        self.matrix = self.forward.matrix
        self.shape, self.dtype = self.matrix.shape, self.matrix.dtype
        self._non_negative: bool | None = None

    def dose(self, x: np.ndarray) -> np.ndarray:
        return self.forward.dot(x)

    def dose_in_runs(self, x: np.ndarray, runs: np.ndarray, out: np.ndarray) -> None:
        """(D @ x) written into `out` (D's dtype) on the row ranges `runs` only, each row's sum as
        in `dose`; the other rows of `out` are left as they are."""
        x = np.ascontiguousarray(x, dtype=self.dtype)
        m = self.matrix
        out[rows_in_runs(runs, self.shape[0])] = 0  # the kernel adds to its result
        for start, stop in runs.tolist():
            _sparsetools.csr_matvec(stop - start, self.shape[1], m.indptr[start:stop + 1],
                                    m.indices, m.data, x, out[start:stop])

    @property
    def non_negative(self) -> bool:
        """Whether every entry of D is >= 0 (a dose influence's are), checked once."""
        if self._non_negative is None:
            self._non_negative = bool(self.matrix.nnz == 0 or self.matrix.data.min() >= 0)
        return self._non_negative

    def gradient(self, g: np.ndarray) -> np.ndarray:
        """D^T @ g in D's dtype (g cast to it)."""
        g = np.ascontiguousarray(g, dtype=self.dtype)
        if g.shape != (self.shape[0],):
            raise ValueError(f"vector of shape {g.shape} for a matrix of shape {self.shape}")
        m = self.matrix
        out = np.zeros(self.shape[1], dtype=self.dtype)
        for start, stop in nonzero_runs(g).tolist():
            # rows start..stop-1 of D are columns of D^T: their indptr slice indexes the full arrays
            _sparsetools.csc_matvec(self.shape[1], stop - start, m.indptr[start:stop + 1],
                                    m.indices, m.data, g[start:stop], out)
        return out


_PAIRS: dict[int, tuple[weakref.ref, ForwardAndTranspose]] = {}
_PAIRS_LOCK = threading.Lock()


def products_for(dij) -> ForwardAndTranspose:
    """The pair for a dose-influence matrix, made once per matrix object and dropped with the
    matrix. The matrix must not be changed in place afterwards (Planner's never is: a new
    influence is a new matrix)."""
    if not scipy.sparse.isspmatrix_csr(dij) and not isinstance(dij, scipy.sparse.csr_array):
        return ForwardAndTranspose(dij)  # a converted copy: nothing to remember it by
    key = id(dij)
    with _PAIRS_LOCK:
        held = _PAIRS.get(key)
        if held is not None and held[0]() is dij:
            return held[1]
    pair = ForwardAndTranspose(dij)

    def forget(_ref, key=key):
        with _PAIRS_LOCK:
            if _PAIRS.get(key, (None,))[0] is _ref:
                del _PAIRS[key]

    with _PAIRS_LOCK:
        _PAIRS[key] = (weakref.ref(dij, forget), pair)
    return pair
