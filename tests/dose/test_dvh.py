"""DVH points against hand-counted voxel sets."""

import numpy as np
import pytest

from planner.dose.dvh import cumulative_dvh, dose_at_volume_gy, dvh_metrics, volume_at_dose_percent


def test_dose_at_volume_on_a_known_set():
    dose = np.arange(1.0, 101.0)  # 100 voxels, 1..100 Gy
    # D95: 95 % of the voxels (96 of 100, the quantile) get at least this dose
    assert dose_at_volume_gy(dose, 0.95) == pytest.approx(np.quantile(dose, 0.05))
    assert 5.0 <= dose_at_volume_gy(dose, 0.95) <= 6.0
    assert 90.0 <= dose_at_volume_gy(dose, 0.10) <= 91.0
    assert np.isnan(dose_at_volume_gy(np.array([]), 0.5))


def test_volume_at_dose_counts_voxels_at_or_above():
    dose = np.array([0.0, 10.0, 20.0, 20.0, 40.0])
    assert volume_at_dose_percent(dose, 20.0) == pytest.approx(60.0)
    assert volume_at_dose_percent(dose, 41.0) == 0.0


def test_cumulative_dvh_is_a_falling_staircase_from_100_percent():
    rng = np.random.default_rng(1)
    dose = rng.uniform(40.0, 60.0, 10_000)
    dvh = cumulative_dvh(dose, bin_width_gy=0.5)
    assert dvh.volume_percent[0] == pytest.approx(100.0)
    assert np.all(np.diff(dvh.volume_percent) <= 0)
    assert dvh.volume_percent[-1] == 0.0
    # half the voxels above 50 Gy
    assert np.interp(50.0, dvh.dose_gy, dvh.volume_percent) == pytest.approx(50.0, abs=1.5)


def test_metrics_per_structure_and_an_empty_structure_is_nan_not_a_crash():
    dose = np.array([1.0, 2.0, 3.0, 4.0])
    m = dvh_metrics(dose, {"A": np.array([0, 1, 2, 3]), "Empty": np.array([], dtype=int)})
    assert m["A"].mean_gy == pytest.approx(2.5) and m["A"].max_gy == 4.0
    assert np.isnan(m["Empty"].d95_gy)
