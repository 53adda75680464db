"""The optimiser's speed paths give the same answer as the plain path: OpenBLAS on one thread while
it runs (restored after); the transpose product only over rows where the gradient is non-zero,
against SciPy's own products (by hand, bit for bit, and in float64 on TG-119 at 10 mm)."""

import ctypes
import glob
import os

import numpy as np
import pytest
import scipy.sparse

from planner.core.inverse_plan import Objective
from plugins.imrt_photon.optimise import (OptimisationSettings, SkippedRows, as_readouts, objective_function,
                                          optimise_fluence)
from plugins.imrt_photon.pencil_beam import dose_influence
from plugins.imrt_photon.phantom import tg119_c_shape
from plugins.imrt_photon.sparse_products import ForwardAndTranspose, nonzero_runs, rows_in_runs, single_threaded_blas

NUMPY_OPENBLAS = glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "libscipy_openblas64_*.so"))


@pytest.mark.skipif(not NUMPY_OPENBLAS, reason="numpy is not linked to its bundled scipy-openblas")
def test_openblas_runs_one_thread_inside_and_its_own_count_after():
    lib = ctypes.CDLL(NUMPY_OPENBLAS[0])
    get, set_ = lib.scipy_openblas_get_num_threads64_, lib.scipy_openblas_set_num_threads64_
    set_.argtypes = [ctypes.c_int]
    before = get()
    set_(2)
    try:
        with single_threaded_blas():
            assert get() == 1
            with single_threaded_blas():  # a second optimisation at once: still one
                assert get() == 1
            assert get() == 1  # the inner one does not restore while the outer runs
        assert get() == 2
    finally:
        set_(before)


D_HAND = np.array([[1, 2, 0], [0, 3, 4], [5, 0, 6], [0, 0, 7]], dtype=np.float32)


def test_the_pair_by_hand():
    pair = ForwardAndTranspose(scipy.sparse.csr_matrix(D_HAND), threads=2)
    np.testing.assert_array_equal(pair.dose(np.ones(3)), [3, 7, 11, 7])
    np.testing.assert_array_equal(pair.gradient(np.array([0.0, 0.0, 2.0, 0.0])), [10, 0, 12])  # 2 x row 2
    np.testing.assert_array_equal(pair.gradient(np.array([1.0, 0.0, 0.0, 1.0])), [1, 2, 7])  # rows 0 + 3
    np.testing.assert_array_equal(pair.gradient(np.zeros(4)), [0, 0, 0])


def test_runs_of_non_zero_rows_by_hand():
    g = np.array([0, 1, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0.0])
    np.testing.assert_array_equal(nonzero_runs(g, merge_gap=0), [[1, 3], [6, 7], [15, 16]])
    np.testing.assert_array_equal(nonzero_runs(g, merge_gap=4), [[1, 7], [15, 16]])  # 3 zeros between joined, 8 not
    np.testing.assert_array_equal(nonzero_runs(g, merge_gap=9), [[1, 16]])
    assert nonzero_runs(np.zeros(5)).shape == (0, 2)


def test_the_gradient_is_scipys_transpose_product_bit_for_bit():
    rng = np.random.default_rng(11)
    m = scipy.sparse.random(5000, 300, density=0.03, format="csr", dtype=np.float32, random_state=rng)
    g = rng.standard_normal(5000) * (rng.random(5000) < 0.2)
    np.testing.assert_array_equal(ForwardAndTranspose(m).gradient(g), m.T @ g.astype(np.float32))


def test_the_objective_by_hand():
    pair = ForwardAndTranspose(scipy.sparse.csr_matrix(D_HAND))
    readouts = as_readouts({"Body": np.arange(4)}, 4)
    f, grad, _ = objective_function(pair, readouts, [Objective("Body", "max_dose", 8.0, 1.0)])(np.ones(3))
    # doses 3, 7, 11, 7: only 11 is over 8 Gy; f = 3^2 / 4 points, dose gradient 2 * 3 / 4 on row 2
    assert f == 2.25
    np.testing.assert_array_equal(grad, 1.5 * D_HAND[2])


def test_tg119_10mm_objective_and_gradient_equal_scipys_float64_products():
    phantom = tg119_c_shape(10.0)
    influence = dose_influence(phantom)
    dij = influence.dij
    rows = {name: influence.rows_for(mask) for name, mask in phantom.masks.items()}
    objectives = (Objective("PTV", "min_dose", 50.0, 1000.0), Objective("PTV", "max_dose", 50.0, 1000.0),
                  Objective("Core", "max_dose", 25.0, 300.0), Objective("Body", "max_dose", 30.0, 100.0))
    pair = ForwardAndTranspose(dij)
    x = np.random.default_rng(3).uniform(0.5, 1.5, dij.shape[1])
    x *= 50.0 / float(np.mean(dij[rows["PTV"]] @ x))  # PTV mean 50 Gy: every objective pulls somewhere
    f, grad, _ = objective_function(pair, as_readouts(rows, dij.shape[0]), objectives)(x)

    # the reference: SciPy's products in float64 of the same float32 values, the terms by hand
    d64 = dij.astype(np.float64)
    dose = d64 @ x.astype(np.float32).astype(np.float64)
    f_ref, g_dose = 0.0, np.zeros(dij.shape[0])
    for o in objectives:
        r = rows[o.structure]
        diff = dose[r] - o.dose_gy
        diff = np.minimum(diff, 0.0) if o.kind == "min_dose" else np.maximum(diff, 0.0)
        f_ref += o.weight * float(diff @ diff) / r.size
        g_dose[r] += o.weight * 2.0 * diff / r.size
    assert 0 < np.count_nonzero(g_dose) < dij.shape[0] / 2  # the transpose skips rows
    grad_ref = d64.T @ g_dose.astype(np.float32).astype(np.float64)
    # float32 sums over a row's (a column's) non-zeros: relative rounding at most terms * 2**-24
    assert f == pytest.approx(f_ref, rel=2 * np.diff(dij.indptr).max() * 2.0 ** -24)
    column_terms = np.diff(dij.tocsc().indptr).max()
    np.testing.assert_allclose(grad, grad_ref, rtol=0, atol=column_terms * 2.0 ** -24 * np.abs(grad_ref).max())


def test_the_live_dose_is_the_iterates_own(tg119):
    _, influence, rows = tg119
    iterates, doses = [], []
    optimise_fluence(influence.dij, rows, [Objective("PTV", "min_dose", 50.0, 1.0), Objective("Body", "max_dose", 30.0, 1.0)],
                     OptimisationSettings(max_iterations=6),
                     progress=lambda i, f, x: iterates.append(x.copy()),
                     on_dose=lambda i, f, d: doses.append((i, d)))
    assert [i for i, _ in doses] == list(range(1, len(iterates) + 1)) and len(iterates) == 6
    for x, (_, d) in zip(iterates, doses):
        np.testing.assert_array_equal(d, influence.dij @ x.astype(np.float32))  # SciPy's product, bit for bit


def test_rows_below_their_maximum_are_skipped_by_hand():
    pair = ForwardAndTranspose(scipy.sparse.csr_matrix(D_HAND))
    readouts = as_readouts({"Body": np.arange(4)}, 4)
    skipped = SkippedRows.for_objectives(pair, readouts, [Objective("Body", "max_dose", 8.0, 1.0)])
    np.testing.assert_array_equal(skipped.dose(np.ones(3)), [3, 7, 11, 7])  # the first: every row
    # bixel 0 up by 0.1: bounds 3 + 0.3, 7 + 0.7, 11 + 1.1, 7 + 0.7 (row sums 3, 7, 11, 7 times 0.1);
    # only row 2 can be over 8 Gy: it alone is multiplied (5 x 1.1 + 6 = 11.5), the others keep 3, 7, 7
    np.testing.assert_allclose(skipped.dose(np.array([1.1, 1.0, 1.0])), [3, 7, 11.5, 7], rtol=1e-6)
    # bixel 2 up by 0.2 more: bounds 3.3 + 0.6, 7.7 + 1.4, 11.5 + 2.2, 7.7 + 1.4: rows 1..3 multiplied
    np.testing.assert_allclose(skipped.dose(np.array([1.1, 1.0, 1.2])), [3, 7.8, 12.7, 8.4], rtol=1e-6)
    # a mean-dose objective reads every row: nothing to skip
    assert SkippedRows.for_objectives(pair, readouts, [Objective("Body", "max_dose", 8.0, 1.0),
                                                       Objective("Body", "mean_dose", 0.0, 1.0)]) is None


def test_skipping_rows_leaves_the_optimisation_bit_for_bit(tg119, monkeypatch):
    _, influence, rows = tg119
    objectives = (Objective("PTV", "min_dose", 50.0, 1000.0), Objective("PTV", "max_dose", 50.0, 1000.0),
                  Objective("Core", "max_dose", 25.0, 300.0), Objective("Body", "max_dose", 30.0, 100.0))
    made = []
    original = SkippedRows.for_objectives.__func__
    monkeypatch.setattr(SkippedRows, "for_objectives",
                        classmethod(lambda cls, *a: made.append(original(cls, *a)) or made[-1]))
    skipping = optimise_fluence(influence.dij, rows, objectives, OptimisationSettings(max_iterations=40))
    assert made and made[-1] is not None
    monkeypatch.setattr(SkippedRows, "for_objectives", classmethod(lambda cls, *a: None))
    full = optimise_fluence(influence.dij, rows, objectives, OptimisationSettings(max_iterations=40))
    assert skipping.objective_history == full.objective_history
    np.testing.assert_array_equal(skipping.weights, full.weights)


def test_rows_in_runs_by_hand():
    np.testing.assert_array_equal(rows_in_runs(np.array([[1, 3], [5, 6]]), 7), [0, 1, 1, 0, 0, 1, 0])
    assert not rows_in_runs(np.empty((0, 2), dtype=np.int64), 3).any()
