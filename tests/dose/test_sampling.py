"""The angular samplers reproduce the differential cross-sections the next-event estimator uses.

For N samples the fraction in each cos θ bin is binomial; we require every bin within 5 σ of the
integral of the (normalised) differential cross-section over that bin.
"""

import numpy as np
import pytest

from planner.dose.attenuation import interaction_data
from planner.dose.monte_carlo import sample_coherent, sample_incoherent

N = 200_000
EDGES = np.linspace(-1.0, 1.0, 21)


def _expected_fractions(dcs):
    fine = np.linspace(-1.0, 1.0, 200_001)
    pdf = dcs(fine)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(fine))])
    cdf /= cdf[-1]
    return np.diff(np.interp(EDGES, fine, cdf))


@pytest.mark.parametrize("energy", [20.0, 60.0])
@pytest.mark.parametrize("process", ["incoherent", "coherent"])
def test_sampler_matches_dcs(process, energy):
    data = interaction_data("water")
    rng = np.random.default_rng(3)
    e = np.full(N, energy)
    if process == "incoherent":
        mu = sample_incoherent(e, data, rng)
        expected = _expected_fractions(lambda m: data.incoherent_dcs_cm2_g_sr(energy, m))
    else:
        mu = sample_coherent(e, data, rng)
        expected = _expected_fractions(lambda m: data.coherent_dcs_cm2_g_sr(energy, m))
    observed = np.histogram(mu, bins=EDGES)[0] / N
    sigma = np.sqrt(expected * (1 - expected) / N) + 1e-6
    assert np.all(np.abs(observed - expected) <= 5 * sigma + 2e-4), (observed - expected) / sigma
