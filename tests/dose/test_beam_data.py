"""compute_beam_data: record contents, provenance, disk cache, progress and cancellation."""

import pytest

from planner.dose import CalculationCancelled, compute_beam_data


def test_beam_data_record_and_cache(tmp_path):
    messages = []
    b = compute_beam_data(70, 1.15, 20, 20, n_photons=20_000, seed=4, cache_folder=tmp_path,
                          progress=lambda f, m: messages.append((f, m)))
    assert b.pdd[0] == (0.0, 100.0)
    assert b.pdd[-1][0] == pytest.approx(30.0)
    assert [p.depth_mm for p in b.profiles] == [0.0, 2.0, 5.0]
    assert 1.0 < b.backscatter_factor < 1.2 and b.backscatter_uncertainty > 0
    assert b.fitted_filtration_mm_al == pytest.approx(0.77, abs=0.01)
    assert abs(b.achieved_hvl_mm_al / 1.15 - 1) < 1e-3
    assert set(b.provenance) >= {"spectrum", "pdd", "profiles", "backscatter_factor"}
    assert "20000 photons" in b.provenance["backscatter_factor"]
    assert "seed 4" in b.provenance["pdd"] and "SpekPy" in b.provenance["pdd"]
    fractions = [f for f, _ in messages]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert list((tmp_path / "beam_data").glob("*.json"))

    again = compute_beam_data(70, 1.15, 20, 20, n_photons=20_000, seed=4, cache_folder=tmp_path,
                              progress=lambda f, m: messages.append((f, m)))
    assert again == b
    assert messages[-1] == (1.0, "Beam data from cache")
    other = compute_beam_data(70, 1.15, 20, 20, n_photons=20_000, seed=5, cache_folder=tmp_path)
    assert other.backscatter_factor != b.backscatter_factor


def test_cancel_before_start(tmp_path):
    with pytest.raises(CalculationCancelled):
        compute_beam_data(50, 0.52, 10, 10, n_photons=10_000, cache_folder=tmp_path, is_cancelled=lambda: True)


def test_default_cache_folder_comes_from_environment(_dose_cache):
    compute_beam_data(50, 0.52, 10, 10, n_photons=5_000, seed=9)
    assert list((_dose_cache / "beam_data").glob("*.json"))
