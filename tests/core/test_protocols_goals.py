"""Clinical goals judged on the honest DVH (issue 18, point 3), against hand DVH points: structures
of known, piecewise-uniform dose, so every D_v, V_x and mean is known without the code under test."""

import numpy as np
import pytest

from planner.core.protocols.goals import evaluate_goals
from planner.core.protocols.derived import derive_structures
from planner.core.protocols.protocol import ProtocolError, load_protocol
from planner.core.volume import PlanningVolume, VoxelGrid
from planner.dose.structure_dvh import StructureDvh, sampled_structures

SBRT = load_protocol("spine-sbrt-16gy-1fx")
MAPPING = {"PTV": "PTV", "SpinalCord": "Cord", "External": "BODY", "PTV_Opt": "PTV_Opt",
           "SpinalCord_PRV02": "SpinalCord_PRV02"}


def dvh(name, levels):
    """A DVH of samples 0.001 cc each: `levels` = [(dose Gy, number of samples), ...]."""
    doses = np.concatenate([np.full(n, d, dtype=float) for d, n in levels])
    return StructureDvh(name, doses, 0.001)


def rows_by(report):
    return {(r.structure, r.goal): r for r in report.rows}


def test_goals_on_hand_dvh_points():
    dvhs = {
        "Cord": dvh("Cord", [(12.0, 1000)]),                      # 1 cc at 12 Gy
        "PTV": dvh("PTV", [(16.5, 9500), (15.0, 500)]),           # 10 cc: 95 % at 16.5 Gy
        "Esophagus": dvh("Esophagus", [(6.0, 500), (2.0, 500)]),  # mean 4 Gy, hottest 0.5 cc at 6 Gy
        "Brainstem": dvh("Brainstem", [(1.0, 100)]),
        "BODY": dvh("BODY", [(1.0, 100)]),
    }
    types = {"Cord": "ORGAN", "PTV": "PTV", "Esophagus": "ORGAN", "Brainstem": "ORGAN", "BODY": "EXTERNAL"}
    report = evaluate_goals(SBRT, MAPPING, dvhs, types)
    rows = rows_by(report)
    cord_max, cord_035, coverage = rows["Cord", "D0.03cc"], rows["Cord", "D0.35cc"], rows["PTV", "V16Gy"]
    assert (cord_max.value, cord_max.limit, cord_max.met, cord_max.priority) == (12.0, 14.0, True, 1)
    assert (cord_035.value, cord_035.limit, cord_035.met) == (12.0, 10.0, False)
    assert (coverage.value, coverage.unit, coverage.limit, coverage.met, coverage.priority) == (95.0, "%", 90.0, True, 2)
    # organs without a goal are still watched, with no limit and no verdict
    assert (rows["Esophagus", "D0.03cc"].value, rows["Esophagus", "Dmean"].value) == (6.0, 4.0)
    assert rows["Esophagus", "Dmean"].met is None and rows["Esophagus", "Dmean"].limit is None
    assert ("BODY", "D0.03cc") not in rows   # the external is not an organ at risk
    assert report.warnings == ("Brainstem (BrainStem) has no dose limit in protocol spine-sbrt-16gy-1fx: "
                               "its dose is shown, not judged",)
    assert not report.all_met
    assert cord_max.as_dict() == {"goal": "D0.03cc", "structure": "Cord", "value_gy": 12.0, "limit_gy": 14.0,
                                  "met": True, "priority": 1}
    assert coverage.as_dict()["value_percent"] == 95.0 and coverage.as_dict()["limit_percent"] == 90.0


def test_a_structure_smaller_than_the_goals_volume_is_not_met():
    dvhs = {"Cord": dvh("Cord", [(5.0, 200)]), "PTV": dvh("PTV", [(17.0, 100)])}   # cord 0.2 cc < 0.35 cc
    rows = rows_by(evaluate_goals(SBRT, MAPPING, dvhs, {"Cord": "ORGAN", "PTV": "PTV"}))
    assert np.isnan(rows["Cord", "D0.35cc"].value) and rows["Cord", "D0.35cc"].met is False
    assert rows["Cord", "D0.03cc"].met is True


def test_a_goal_is_judged_on_the_value_as_shown():
    # 14.004 Gy is shown "14.00 Gy" and meets "≤ 14 Gy"; 14.006 Gy is shown "14.01 Gy" and does not;
    # 89.96 % is shown "90.0 %" and meets "≥ 90 %"
    def judged(cord_gy, covered):
        dvhs = {"Cord": dvh("Cord", [(cord_gy, 1000)]), "PTV": dvh("PTV", [(17.0, covered), (15.0, 10000 - covered)])}
        rows = rows_by(evaluate_goals(SBRT, MAPPING, dvhs, {}))
        return rows["Cord", "D0.03cc"].met, rows["PTV", "V16Gy"].met

    assert judged(14.004, 8996) == (True, True)
    assert judged(14.006, 8994) == (False, False)


def test_a_goal_without_its_dvh_stops():
    with pytest.raises(ProtocolError, match="goal D0.03cc on SpinalCord: no dose-volume histogram for Cord"):
        evaluate_goals(SBRT, MAPPING, {"PTV": dvh("PTV", [(17.0, 100)])}, {"PTV": "PTV"})


@pytest.mark.parametrize("dose_gy, cord_met, coverage_percent", [(9.0, (True, True), 0.0), (17.0, (False, False), 100.0)])
def test_goals_on_a_volume_with_uniform_dose_through_the_honest_dvh(dose_gy, cord_met, coverage_percent):
    x = (np.arange(40) - 19.5) * 1.0
    grid = VoxelGrid(x, x, np.arange(10) * 1.0)
    xx, yy, _ = np.meshgrid(grid.x_mm, grid.y_mm, grid.z_mm, indexing="ij")
    d = np.hypot(xx, yy)
    masks = {"Cord": d <= 4.0, "PTV": (d >= 6.0) & (d <= 12.0), "BODY": np.ones(grid.shape, bool)}
    volume = PlanningVolume(grid, np.ones(grid.shape, np.float32), masks)
    volume, mapping = derive_structures(volume, SBRT, {"PTV": "PTV", "SpinalCord": "Cord", "External": "BODY"})
    dvhs = sampled_structures(volume).dvhs(np.full(grid.shape, dose_gy))
    report = evaluate_goals(SBRT, mapping, dvhs, {"Cord": "ORGAN", "PTV": "PTV", "BODY": "EXTERNAL"})
    rows = rows_by(report)
    assert rows["Cord", "D0.03cc"].value == pytest.approx(dose_gy, abs=1e-9)
    assert (rows["Cord", "D0.03cc"].met, rows["Cord", "D0.35cc"].met) == cord_met
    assert rows["PTV", "V16Gy"].value == coverage_percent
    assert report.warnings == ()
