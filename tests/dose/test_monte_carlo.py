"""Monte Carlo transport: narrow-beam attenuation, primary geometry, estimator agreement, B_w vs TG-61.

Validation philosophy: TG-61 Table V is never an input; here it is the published reference. The engine's
backscatter, B_w − 1, must be within 15 % of TG-61's B_w − 1 (issue 13): a criterion on the part of B_w the
Monte Carlo computes, not on B_w itself, where 3 % of B_w allowed 19–85 % error in the backscatter of these
three beams. (The full grid, against the older 3 % on B_w, is scripts/validate_backscatter.py.)
"""

import math

import numpy as np
import pytest

from planner.dose.monte_carlo import CalculationCancelled, Scoring, SourceGeometry, simulate
from planner.dose.spectrum import fitted_spectrum, monoenergetic
from planner.dose.tg61 import tg61_backscatter_factor

# NIST μ/ρ of water (cm²/g), physics-data §2.5.
NIST_WATER_MU = {30: 0.3756, 60: 0.2059, 100: 0.1707}


@pytest.mark.parametrize("energy", sorted(NIST_WATER_MU))
def test_narrow_beam_transmission_follows_nist(energy):
    """A pencil beam (0.1 cm wide, 100 m away: parallel) of uncollided photons decays as exp(−μx)."""
    n = 60_000
    r = simulate(monoenergetic(energy), SourceGeometry(ssd_cm=1e4, field_diameter_cm=0.1), n_photons=n,
                 seed=5, n_batches=4, scoring=Scoring(pdd_radius_cm=0.05, score_primary_mc=True))
    crossing_surface = n * (r.pdd_radius_cm / 0.05) ** 2          # photons inside the scoring disk
    for depth_cm, t_mc in zip(r.pdd_depths_cm[::10], r.pdd_primary_mc_relative[::10]):
        t_nist = math.exp(-NIST_WATER_MU[energy] * depth_cm)
        sigma = math.sqrt(t_nist * (1 - t_nist) / crossing_surface) + 1e-9
        assert abs(t_mc - t_nist) <= 4 * sigma + 0.005 * t_nist, (depth_cm, t_mc, t_nist)


def test_divergent_primary_matches_analytic_inverse_square():
    """MC-tallied uncollided kerma on the axis equals the exact spectrum × inverse square × attenuation."""
    r = simulate(fitted_spectrum(70, 1.15), SourceGeometry(ssd_cm=10, field_diameter_cm=2), n_photons=60_000,
                 seed=2, n_batches=4, scoring=Scoring(score_primary_mc=True))
    np.testing.assert_allclose(r.pdd_primary_mc_relative[::10], r.pdd_primary_relative[::10], rtol=0.03)


def test_deterministic_for_a_seed():
    geometry = SourceGeometry(ssd_cm=20, field_diameter_cm=2)
    a = simulate(fitted_spectrum(50, 0.52), geometry, n_photons=4000, seed=11, n_batches=2)
    b = simulate(fitted_spectrum(50, 0.52), geometry, n_photons=4000, seed=11, n_batches=2)
    c = simulate(fitted_spectrum(50, 0.52), geometry, n_photons=4000, seed=12, n_batches=2)
    assert a.backscatter_factor == b.backscatter_factor
    np.testing.assert_array_equal(a.pdd_percent, b.pdd_percent)
    assert a.backscatter_factor != c.backscatter_factor


# (kVp, HVL mm Al, field diameter cm, SSD cm): the extremes of the acceptance range.
BW_POINTS = [
    pytest.param(50, 0.52, 1.0, 10.0, marks=pytest.mark.xfail(strict=True, reason=(
        "known disagreement (issue 13): at 50 kV, HVL 0.52 mm Al, Ø 1 cm, SSD 10 cm the engine's B_w is 1.048 "
        "(400 000 photons; 1.0485 ± 0.0005 at 10^6), so B_w − 1 = 0.048 is 32 % above TG-61's 0.036 "
        "(B_w 1.036); within the old 3 % on B_w, outside 15 % on B_w − 1. Not tuned; reported."))),
    (70, 1.15, 2.0, 20.0),
    (100, 2.20, 5.0, 10.0),
]
BW_PHOTONS = 400_000
BW_BACKSCATTER_TOLERANCE = 0.15      # on B_w − 1, relative to TG-61's B_w − 1 (issue 13)


@pytest.mark.parametrize("kvp, hvl, d_cm, ssd_cm", BW_POINTS)
def test_backscatter_factor_agrees_with_tg61(kvp, hvl, d_cm, ssd_cm):
    """No statistical allowance: at 400 000 photons B_w − 1 is known to ≤ 2 % of itself (k = 1; four seeds
    spread 1.4 % at 70 kV, 1.9 % at 100 kV), far inside the 15 % tolerance, so the physics decides the outcome.
    (At 150 000 photons the next-event estimator's rare close collisions made seeds differ by up to 11 % of
    B_w − 1, beyond their batch σ: too few for this criterion.) Measured with seed 1: 70 kV B_w 1.0960 vs TG-61
    1.0875 (B_w − 1 +9.7 %); 100 kV 1.1825 vs 1.1838 (−0.7 %)."""
    r = simulate(fitted_spectrum(kvp, hvl), SourceGeometry(ssd_cm, d_cm), n_photons=BW_PHOTONS, seed=1)
    bw = r.backscatter_factor
    reference = tg61_backscatter_factor(hvl, d_cm, ssd_cm)
    assert bw.sigma <= 0.02 * (bw.value - 1.0)             # statistics far inside the tolerance
    assert abs((bw.value - 1.0) / (reference - 1.0) - 1.0) <= BW_BACKSCATTER_TOLERANCE, (bw.value, reference)
    # The independent surface-crossing estimate agrees within its (larger) statistics; it averages
    # over the r_c disk, so it may sit a little below the point value for small fields.
    disk = r.backscatter_factor_disk
    assert abs(disk.value - bw.value) <= 3 * math.hypot(disk.sigma, bw.sigma) + 0.005


def test_pdd_has_physical_shape():
    r = simulate(fitted_spectrum(100, 2.20), SourceGeometry(ssd_cm=20, field_diameter_cm=3), n_photons=60_000,
                 seed=3)
    pdd = r.pdd_percent
    assert pdd[0] == 100.0
    assert np.all(np.diff(pdd[2::4]) < 0)                       # falls with depth beyond the surface
    primary_only = 100 * r.pdd_primary_relative / r.backscatter_factor.value
    assert np.all(pdd[10:] > primary_only[10:])                 # phantom scatter adds dose at depth
    # Profile at the surface: flat inside the field, scatter-only tail outside it.
    prof = r.profile_percent[0]
    inside = r.profile_radii_cm < 0.5
    outside = r.profile_radii_cm > 2.0
    assert np.all(np.abs(prof[inside] - 100) < 6)
    assert np.all(prof[outside] < 15)


def test_cancellation_and_progress():
    seen = []
    with pytest.raises(CalculationCancelled):
        simulate(fitted_spectrum(50, 0.52), SourceGeometry(10, 2), n_photons=10_000, seed=1, n_batches=5,
                 progress=lambda f, m: seen.append(f), is_cancelled=lambda: len(seen) >= 2)
    assert seen == [0.2, 0.4]
