"""The threaded sparse products equal SciPy's own products (the independent reference), in float64
from the same float32 values, to float32 rounding: random matrices with empty rows and columns,
odd block counts, a single dense row, and the pair the optimiser uses."""

import gc
import weakref

import numpy as np
import pytest
import scipy.sparse

from plugins.imrt_photon.sparse_products import (ForwardAndTranspose, ParallelCsr, default_threads,
                                                 products_for, row_blocks)


def random_csr(n_rows, n_cols, density, seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    m = scipy.sparse.random(n_rows, n_cols, density=density, format="csr", dtype=np.float64, random_state=rng)
    m = m.tolil()
    m[rng.choice(n_rows, n_rows // 7, replace=False), :] = 0  # empty rows
    m[:, rng.choice(n_cols, n_cols // 5, replace=False)] = 0  # empty columns
    m = m.tocsr()
    m.eliminate_zeros()
    return m.astype(dtype)


def close_to_float32(actual, reference, terms):
    """float32 sums of `terms` products each: relative rounding ~ terms * 2**-24 of the magnitude."""
    scale = np.abs(reference).max() if reference.size else 1.0
    np.testing.assert_allclose(actual, reference, rtol=0, atol=max(terms, 1) * 2.0 ** -22 * scale)


@pytest.mark.parametrize("threads, blocks", [(1, 1), (2, 2), (2, 3), (3, 7), (4, 64)])
def test_threaded_products_equal_scipys(threads, blocks):
    m = random_csr(1003, 257, 0.05, seed=threads * 10 + blocks)
    assert np.diff(m.indptr).min() == 0 and (np.diff(m.tocsc().indptr) == 0).any()
    rng = np.random.default_rng(1)
    x = rng.standard_normal(257)
    g = rng.standard_normal(1003)
    reference_64 = m.astype(np.float64)
    forward = ParallelCsr(m, threads=threads, blocks=blocks)
    y = forward @ x
    assert y.dtype == np.float32 and y.shape == (1003,)
    close_to_float32(y, reference_64 @ x.astype(np.float32).astype(np.float64), np.diff(m.indptr).max())
    # blocks only split the rows: each row's sum is SciPy's own, bit for bit
    np.testing.assert_array_equal(y, m @ x.astype(np.float32))
    transpose = forward.T
    assert transpose.shape == (257, 1003)
    close_to_float32(transpose @ g, reference_64.T @ g.astype(np.float32).astype(np.float64),
                     np.diff(m.tocsc().indptr).max())


def test_blocks_balance_the_non_zeros_and_cover_every_row():
    m = random_csr(5000, 300, 0.02, seed=3)
    for blocks in (1, 2, 3, 5, 11):
        bounds = row_blocks(m.indptr, blocks)
        assert bounds[0] == 0 and bounds[-1] == m.shape[0] and np.all(np.diff(bounds) > 0)
        assert len(bounds) - 1 <= blocks
        shares = np.diff(m.indptr[bounds])
        assert shares.max() <= m.nnz / blocks + np.diff(m.indptr).max()


def test_one_dense_row_and_more_blocks_than_rows():
    m = scipy.sparse.csr_matrix(np.array([[0, 0, 0], [1.5, 2.0, -3.0], [0, 0, 0]], dtype=np.float32))
    p = ParallelCsr(m, threads=2, blocks=8)
    np.testing.assert_array_equal(p @ np.array([1.0, 2.0, 3.0]), np.array([0.0, -3.5, 0.0], np.float32))
    empty = ParallelCsr(scipy.sparse.csr_matrix((4, 6), dtype=np.float32), threads=2, blocks=3)
    np.testing.assert_array_equal(empty @ np.ones(6), np.zeros(4))
    np.testing.assert_array_equal(empty.T @ np.ones(4), np.zeros(6))


def test_a_wrong_vector_length_is_refused():
    with pytest.raises(ValueError):
        ParallelCsr(random_csr(50, 20, 0.1, seed=4), threads=2, blocks=2) @ np.ones(21)


def test_float64_matrices_stay_float64():
    m = random_csr(400, 90, 0.05, seed=5, dtype=np.float64)
    x = np.random.default_rng(2).standard_normal(90)
    y = ParallelCsr(m, threads=2, blocks=3) @ x
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, m @ x, rtol=1e-12, atol=1e-12)


def test_the_optimisers_pair_shares_the_matrix_and_is_made_once_per_matrix():
    m = random_csr(2000, 150, 0.03, seed=6)
    pair = products_for(m)
    assert products_for(m) is pair
    assert isinstance(pair, ForwardAndTranspose)
    assert np.shares_memory(pair.forward.matrix.data, m.data)  # D itself: no copy, no stored transpose
    assert all(np.shares_memory(block.data, m.data) for *_, block in pair.forward.blocks)
    x = np.random.default_rng(7).random(150)
    g = np.random.default_rng(8).random(2000)
    close_to_float32(pair.dose(x), m.astype(np.float64) @ x.astype(np.float32), 150)
    close_to_float32(pair.gradient(g), m.astype(np.float64).T @ g.astype(np.float32), 2000)
    other = random_csr(2000, 150, 0.03, seed=9)
    assert products_for(other) is not pair
    held = weakref.ref(pair)
    del m, pair
    gc.collect()
    assert held() is None  # the pair is dropped with its matrix (no growing cache)


def test_default_threads_is_the_usable_cores_capped():
    assert 1 <= default_threads() <= 8
