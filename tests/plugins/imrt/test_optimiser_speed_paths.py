"""The optimiser's speed paths give the same answer as the plain path: OpenBLAS on one thread while
it runs (restored after), the products of the stored, row-ordered matrix against SciPy's own."""

import ctypes
import glob
import os

import numpy as np
import pytest

from plugins.imrt_photon.sparse_products import single_threaded_blas

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
