"""Fluence optimisation of the TG-119 C-shape on a coarse grid, progress and cancel."""

import numpy as np

from plugins.imrt_photon.optimise import (Objective, OptimisationSettings, normalise_to_dvh_point,
                                          optimise_fluence)
from plugins.imrt_photon.plans import TG119_OBJECTIVES


def test_tg119_c_shape_meets_the_goals(tg119):
    _, influence, rows = tg119
    result = optimise_fluence(influence.dij, rows, TG119_OBJECTIVES,
                              OptimisationSettings(max_iterations=60))
    # TG-119 plans are normalised so that PTV D95 = the 50 Gy prescription
    plan = normalise_to_dvh_point(result, rows, "PTV", 0.95, 50.0)
    m = plan.metrics
    assert m["PTV"].d95_gy >= 50.0 - 1e-6
    assert m["PTV"].d10_gy <= 55.0  # TG-119 goal
    assert m["Core"].d10_gy <= 25.0  # TG-119 goal (the harder one is 10 Gy)
    assert np.all(plan.weights >= 0)
    assert len(plan.objective_history) == result.iterations
    assert plan.objective_history[-1] < plan.objective_history[0]


def test_progress_is_reported_and_cancel_returns_the_best_so_far(tg119):
    _, influence, rows = tg119
    seen = []
    calls = {"n": 0}

    def cancelled():
        calls["n"] += 1
        return len(seen) >= 3

    objectives = [Objective("PTV", "min_dose", 50.0, 1.0), Objective("Core", "max_dose", 10.0, 1.0)]
    result = optimise_fluence(influence.dij, rows, objectives,
                              OptimisationSettings(max_iterations=200),
                              progress=lambda i, f, x: seen.append((i, f)), cancelled=cancelled)
    assert result.cancelled and result.message == "cancelled"
    assert result.iterations == 3
    assert [i for i, _ in seen] == [1, 2, 3]
    # best so far: no worse than what the last progress report saw
    assert result.objective_history[-1] <= seen[0][1]
    assert result.weights.shape == (influence.dij.shape[1],)
    assert result.metrics["PTV"].mean_gy > 0


def test_dvh_and_mean_objectives_pull_the_right_way(tg119):
    _, influence, rows = tg119
    base = [Objective("PTV", "min_dose", 50.0, 100.0)]
    plain = optimise_fluence(influence.dij, rows, base, OptimisationSettings(max_iterations=15))
    spare = optimise_fluence(influence.dij, rows,
                             base + [Objective("Core", "mean_dose", 0.0, 100.0),
                                     Objective("Core", "max_dvh", 15.0, 100.0, volume_fraction=0.1)],
                             OptimisationSettings(max_iterations=15))
    assert spare.metrics["Core"].mean_gy < plain.metrics["Core"].mean_gy
    under = optimise_fluence(influence.dij, rows,
                             [Objective("PTV", "min_dvh", 50.0, 100.0, volume_fraction=0.95)],
                             OptimisationSettings(max_iterations=15))
    assert under.metrics["PTV"].d95_gy >= 49.0
