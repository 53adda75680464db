"""The IMRT planning steps as the window and the command line call them, on a 10 mm phantom."""

from dataclasses import replace

import numpy as np
import pytest

from planner.core.inverse_plan import InversePlanError, Objective
from planner.core.volume import PlanningVolume
from planner.dose.dvh import dose_at_volume_gy
from planner.dose.monte_carlo import CalculationCancelled
from planner.dose.structure_dvh import sampled_structures
from planner.techniques import discover_techniques
from plugins.imrt_photon import planning
from plugins.imrt_photon.phantom import c_shape_area_mm2


@pytest.fixture(scope="module")
def coarse():
    volume = planning.tg119_phantom(10.0)
    plan = replace(planning.default_plan(volume), max_iterations=40)
    influence = planning.compute_dose_influence(volume, plan)
    return volume, plan, influence


def test_imrt_is_a_registered_technique_for_ct_volumes_only():
    registry = discover_techniques()
    imrt = registry.get("imrt-photon")
    assert isinstance(imrt.inverse_planner, planning.ImrtPlanner)
    assert imrt in registry.inverse_planned_techniques
    assert imrt not in registry.surface_techniques
    assert {t.id for t in registry.surface_techniques} == {"superficial-kv", "ebx-surface"}
    assert imrt.machines[0].energies[0].label == "6 MV photons"
    assert imrt.fractionation_presets[0].dose_per_fraction_gy * imrt.fractionation_presets[0].fractions == 50.0


def test_optimised_plan_is_normalised_to_the_prescription(coarse):
    volume, plan, influence = coarse
    fractions, iterations = [], []
    result = planning.optimise_plan(volume, influence, plan, progress=lambda f, m: fractions.append(f),
                                    on_iteration=lambda i, f, dose: iterations.append((i, dose.shape)))
    # TG-119 normalisation (PTV D95 = 50 Gy), on the reported DVH: the C sampled below its voxels
    rows = planning.structure_rows(volume, influence)
    assert fractions == sorted(fractions) and 0 < fractions[-1] <= 1.0
    assert [i for i, _ in iterations] == list(range(1, result.iterations + 1))
    assert iterations[0][1] == (influence.dij.shape[0],)
    grid = planning.dose_grid_gy(volume, influence, result.dose_rows_gy)
    assert grid.shape == volume.grid.shape
    # the reported points are the sub-voxel DVH's (the outlines sampled, the dose interpolated) ...
    honest = sampled_structures(volume).points(grid, volume_doses_gy=(50.0,))
    assert result.metrics == honest
    assert result.metrics["PTV"].volume_cc == pytest.approx(c_shape_area_mm2() * 80 / 1000, rel=0.01)
    assert result.metrics["PTV"].d95_gy == pytest.approx(50.0, abs=1e-6)
    # the optimiser read each structure at its samples below the voxel: one readout row per sample
    readouts = planning.optimiser_readouts(volume, influence)
    assert readouts["PTV"].size > 20 * rows["PTV"].size
    assert result.metrics["Core"].mean_gy < result.metrics["PTV"].mean_gy / 2
    labels = [g.label for g in planning.tg119_goals(result.metrics)]
    assert labels == ["PTV D95 ≥ 50 Gy", "PTV D10 ≤ 55 Gy", "Core D10 ≤ 25 Gy", "Core D10 ≤ 10 Gy (harder goal)"]


def test_cancel_stops_both_long_steps(coarse):
    volume, plan, influence = coarse
    with pytest.raises(CalculationCancelled):
        planning.compute_dose_influence(volume, plan, is_cancelled=lambda: True)
    calls = {"n": 0}

    def cancel_after_three():
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(CalculationCancelled):
        planning.optimise_plan(volume, influence, plan, is_cancelled=cancel_after_three)


def test_a_plan_that_cannot_be_optimised_says_why(coarse):
    volume, plan, influence = coarse
    bad = replace(plan, objectives=(Objective("Cord", "max_dose", 45.0),))
    with pytest.raises(InversePlanError, match="'Cord': no such structure"):
        planning.optimise_plan(volume, influence, bad)
    moved = replace(plan, gantry_angles_deg=(0.0, 90.0, 180.0, 270.0))
    assert not planning.influence_matches(influence, moved)
    with pytest.raises(InversePlanError, match="beams changed since the dose influence"):
        planning.optimise_plan(volume, influence, moved)


def test_a_ct_volume_without_tg119_structures_gets_a_target_coverage_start():
    volume = planning.tg119_phantom(10.0)
    renamed = PlanningVolume(volume.grid, volume.density,
                             {"PTV_60": volume.masks["PTV"], "SpinalCord": volume.masks["Core"]})
    plan = planning.default_plan(renamed)
    assert plan.prescription.target == "PTV_60"
    assert {o.structure for o in plan.objectives} == {"PTV_60"}
    assert plan.problems(tuple(renamed.masks)) == []


def test_no_dose_is_computed_in_the_air_around_a_ct():
    volume = planning.tg119_phantom(10.0)
    density = volume.density.copy()
    density[:2] = 0.001  # air as a CT's -1000 HU reads through the HU table
    density[:, :2] = 0.001
    air_margin = PlanningVolume(volume.grid, density, volume.masks)
    influence = planning.compute_dose_influence(air_margin, planning.default_plan(air_margin))
    assert influence.voxels.size == np.count_nonzero(density > 0.05)
    assert np.all(density.ravel()[influence.voxels] >= 1.0)


def test_a_goal_is_judged_on_the_value_as_shown_to_0_01_gy():
    # a deliverable renormalised in float32 reads 49.99999 Gy: shown "50.00 Gy", it meets "≥ 50 Gy"
    assert planning.Goal("PTV D95 ≥ 50 Gy", 49.99999334, 50.0, True).met
    assert not planning.Goal("PTV D95 ≥ 50 Gy", 49.994, 50.0, True).met     # shown 49.99
    assert planning.Goal("PTV D10 ≤ 55 Gy", 55.004, 55.0, False).met        # shown 55.00
    assert not planning.Goal("PTV D10 ≤ 55 Gy", 55.006, 55.0, False).met    # shown 55.01
