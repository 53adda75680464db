"""`planner imrt` runs the same planning steps as the window and reports TG-119's goals."""

import json

import pytest

from planner.cli.main import main
from plugins.imrt_photon.phantom import c_shape_area_mm2


def test_tg119_on_a_coarse_grid_reports_goals_as_json(capsys):
    assert main(["imrt", "--tg119", "--grid-mm", "10", "--iterations", "30", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["prescription"] == "50 Gy in 25 × 2 Gy to PTV D95"
    assert out["normalisation"] == ("scaled so that PTV D95 = 50 Gy on the reported DVH (structures sampled below "
                                    "the dose voxel)")
    # the reported points are the sub-voxel DVH's: the C's analytic volume, not its 10 mm voxels'
    points = out["dvh_points"]
    assert set(points) == {"PTV", "Core", "Body"}
    assert set(points["PTV"]) == {"volume_cc", "d98_gy", "d95_gy", "d50_gy", "d10_gy", "d2_gy", "d0_03cc_gy",
                                  "mean_gy", "volumes_at_dose"}
    assert points["PTV"]["volume_cc"] == pytest.approx(c_shape_area_mm2() * 80 / 1000, rel=0.01)
    assert points["PTV"]["volumes_at_dose"][0]["dose_gy"] == 50.0
    assert "TG-119 analytic shape" in out["dvh"]["structures"]
    # the plan is scaled on the reported DVH, so its D95 goal is met exactly; on a 10 mm grid after 30
    # iterations the dose interpolated between 10 mm voxels cannot spare the core: the harder goal is missed
    goals = {g["goal"]: g for g in out["goals"]}
    assert goals["PTV D95 ≥ 50 Gy"]["value_gy"] == points["PTV"]["d95_gy"] == pytest.approx(50.0, abs=1e-6)
    assert goals["PTV D95 ≥ 50 Gy"]["met"]
    assert goals["Core D10 ≤ 25 Gy"]["value_gy"] == points["Core"]["d10_gy"]
    assert not goals["Core D10 ≤ 10 Gy (harder goal)"]["met"]
    assert out["bixels"] > 500 and "Bortfeld" in out["model"]


def test_bad_numbers_and_a_missing_ct_are_one_line_errors(capsys, tmp_path):
    assert main(["imrt", "--tg119", "--grid-mm", "0.2"]) == 2
    assert "--grid-mm must be 1–20 mm, got 0.2" in capsys.readouterr().err
    assert main(["imrt", "--tg119", "--grid-mm", "10", "--iterations", "0"]) == 2
    assert "iterations must be a whole number ≥ 1" in capsys.readouterr().err
    assert main(["imrt", "--ct", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("planner imrt: ") and len(err.strip().splitlines()) == 1


def test_a_ct_series_with_its_structure_set_is_planned(capsys, tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "make_tg119_ct.py"
    spec = importlib.util.spec_from_file_location("make_tg119_ct", script)
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    make.write_tg119_ct(tmp_path, 10.0, 10.0)
    assert main(["imrt", "--ct", str(tmp_path), "--grid-mm", "10", "--iterations", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["volume"].startswith("CT ")
    assert set(out["dvh_points"]) >= {"PTV", "Core", "Body"}
    # the structure set's polygons are kept and sampled, not the 10 mm voxels they were filled into
    assert "PTV: " in out["dvh"]["structures"] and "RT Structure Set contours" in out["dvh"]["structures"]
    assert out["dvh_points"]["PTV"]["volume_cc"] == pytest.approx(c_shape_area_mm2() * 80 / 1000, rel=0.01)
    # TG-119's structures get TG-119's objectives, the core's limit among them: no "organs without limits" warning
    assert "Core dose ≤ 8 Gy" in out["objectives"] and out["warnings"] == []


def test_out_writes_the_deliverable_plan_for_the_cts_own_patient(capsys, tmp_path):
    import importlib.util
    from pathlib import Path

    from pydicom import dcmread

    script = Path(__file__).resolve().parents[2] / "scripts" / "make_tg119_ct.py"
    spec = importlib.util.spec_from_file_location("make_tg119_ct", script)
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    make.write_tg119_ct(tmp_path / "ct", 10.0, 10.0)
    ct = dcmread(tmp_path / "ct" / "CT0001.dcm", stop_before_pixels=True)
    out = tmp_path / "plan"
    assert main(["imrt", "--ct", str(tmp_path / "ct"), "--grid-mm", "10", "--iterations", "20",
                 "--out", str(out), "--patient-id", "NOT-THIS-ONE"]) == 0
    text = capsys.readouterr().out
    assert "MU per fraction (DEMO calibration)" in text and "RTPLAN.dcm" in text
    plan = dcmread(out / "RTPLAN.dcm")
    assert (plan.PatientID, plan.StudyInstanceUID, plan.FrameOfReferenceUID) == \
        (ct.PatientID, ct.StudyInstanceUID, ct.FrameOfReferenceUID)
    # a second export into the same folder is refused, the first stays
    assert main(["imrt", "--tg119", "--grid-mm", "10", "--iterations", "5", "--out", str(out)]) == 2
    assert "already holds an exported plan" in capsys.readouterr().err
    assert dcmread(out / "RTPLAN.dcm").SOPInstanceUID == plan.SOPInstanceUID
