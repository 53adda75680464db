"""The spine SBRT re-irradiation plan's cord and PTV figures read back by dicompyler-core (issue 18).

Referee: dicompyler-core 0.5.6 run with .venv-reference/bin/python as a subprocess
(tests/reference/dicompyler_dvh.py), reading only the plan's RTDOSE.dcm and the CT's own RT Structure Set
(the one the RTPLAN references); it shares nothing with Planner's DVH (planner.dose.structure_dvh).

The plan: `planner imrt` on the 5 mm spine phantom with the clinic copy of spine-sbrt-16gy-1fx without
the 2 mm PRV (tests/cli/test_imrt_reirradiation.py) and the earlier 30 Gy in 10 fractions, scaled to 98 %
of the dose at which its first limit (this course's cord EQD2 D0.03cc ≤ 25 Gy) is reached: the 2 %
margin because Planner's 0.5 mm DVH lattice reads the cord's D0.03cc below its converged value.

a. Same sampling: dicompyler-core on Planner's own lattice (0.5 mm in-plane at the cell centres of each
   ROI's bounding box, 10 planes per 5 mm slab; the JSON says Planner sampled both on 0.5 × 0.5 × 0.5 mm).
   The same points and the same trilinear interpolation leave only dicompyler-core's 1 cGy bins (its D is
   the lower edge of the bin whose cumulative volume is nearest the one asked: up to one bin, and one more
   when the nearest is the next bin) and the RT Dose's storage step (0.4 mGy): D within 0.02 Gy. V16Gy
   within 0.05 percentage point: the two point-in-polygon tests disagree only on points on the PTV's
   edges, measured 320 of 894,080 samples (0.04 %). On a lattice shifted by a quarter step (the script's
   default) the same 0.5 mm reads the cord's D0.03cc 8.99 Gy: the phase alone moves it 1.4 %, so
   "the same sampling" has to be the same points.
b. Converged: the cord at 0.125 mm in-plane and 20 planes per slab (0.25 mm): D0.03cc 8.91 Gy, the same
   at 40 planes per slab, 8.92 at 0.0625 mm in-plane (measured below). Its D0.03cc must keep 14 Gy and
   D0.35cc 10 Gy, its EQD2 in one fraction at α/β 2 (D (D + 2) / 4, by hand) the 25 Gy the plan is scaled
   to, and it must read above Planner's 0.5 mm figure by more than a bin, else the margin is not needed.
c. The coverage the plan claims (PTV V16Gy, met) against dicompyler-core's on its own 0.5 mm lattice (a
   quarter step off Planner's points), 10 planes per slab: within 0.2 percentage point, twice the move of
   dicompyler-core's own reading between its 0.5 and 0.25 mm lattices (91.10 → 91.01 %); and ≥ 90 % there
   too. (At 0.25 mm the reading took 20 s of the suite's time against 9 s, for a 0.09 point change.)

Measured 2026-12-04 at b817b68 and 75e3f8a (Planner vs dicompyler-core): same lattice, cord D0.03cc 8.869 vs 8.87 Gy,
D0.35cc 8.592 vs 8.59 Gy, PTV V16Gy 90.988 vs 90.992 %, volumes cord 8.96 vs 8.96 cc, PTV 111.76 vs
111.80 cc; converged cord (0.125 mm, 0.25 mm planes) D0.03cc 8.91 Gy (EQD2 24.30 Gy against Planner's
24.10), D0.35cc 8.44 Gy (Planner's 0.5 mm reads it 0.15 Gy high), volume 8.86 cc; PTV V16Gy on
dicompyler-core's own 0.5 mm lattice 91.10 % (91.01 % at 0.25 mm). 35 s wall on an idle machine at
08bb3b7 (the plan, then the three readings side by side, 9 to 12 s each).
"""

from __future__ import annotations

import fcntl
import json
import math
import re
import subprocess
from pathlib import Path

import pytest

from plugins.imrt_photon.spine_phantom import CORD_RADIUS_MM, SCAN_LENGTH_MM
from tests.cli.test_imrt_reirradiation import clinic_copy, run
from tests.dicom.test_prior_dose_read import spine_case
from tests.dose.test_independent_dvh import DVH_SCRIPT, MISSING_REFERENCE, REFERENCE_PYTHON

CORD, PTV = "SpinalCord", "PTV"
SAME_LATTICE_GY = 0.02
SAME_LATTICE_PERCENT = 0.05
COVERAGE_PERCENT = 0.2
BIN_GY = 0.01   # dicompyler-core's DVH bins
READINGS = {   # dicompyler_dvh.py options per reading
    "same lattice": ["--roi", CORD, "--roi", PTV, "--cell-centres", "--in-plane-mm", "0.5", "--subdivisions", "10",
                     "--near-max-cc", "0.03", "--near-max-cc", "0.35", "--volume-at-gy", "16"],
    "converged cord": ["--roi", CORD, "--in-plane-mm", "0.125", "--subdivisions", "20",
                       "--near-max-cc", "0.03", "--near-max-cc", "0.35"],
    "coverage": ["--roi", PTV, "--in-plane-mm", "0.5", "--subdivisions", "10", "--volume-at-gy", "16"],
}


def eqd2_one_fraction_gy(dose_gy: float) -> float:
    """EQD2 of one fraction at α/β 2 Gy: D (D + 2) / (2 + 2)."""
    return dose_gy * (dose_gy + 2.0) / 4.0


def plan_and_read(folder: Path) -> dict:
    """Plan into `folder`, then dicompyler-core's three readings side by side: Planner's JSON, the plan
    folder, the structure set read and dicompyler-core's JSON per reading."""
    case = spine_case(folder / "case")
    status, out = run(["imrt", "--ct", str(case.ct_folder), "--protocol", str(clinic_copy(folder)), "--grid-mm", "5",
                       "--prior-dose", str(case.prior_dose), "--prior-plan", str(case.prior_plan),
                       "--out", str(folder / "plan"), "--json"])
    assert status == 0
    structure_set = case.ct_folder / "rtstruct.dcm"
    processes = {name: subprocess.Popen([str(REFERENCE_PYTHON), str(DVH_SCRIPT), str(structure_set),
                                         str(folder / "plan" / "RTDOSE.dcm"), *options],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name, options in READINGS.items()}
    third_party = {}
    for name, process in processes.items():
        out_text, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        third_party[name] = json.loads(out_text)
        assert third_party[name]["dicompyler_core"] == "0.5.6"
    return {"result": json.loads(out), "plan": str(folder / "plan"), "structure_set": str(structure_set),
            "third_party": third_party}


@pytest.fixture(scope="module")
def readings(tmp_path_factory, worker_id):
    """plan_and_read once per run: under xdist the workers share it through their common temporary
    folder (one plans while the other waits on the lock), so two workers do not plan twice."""
    if not REFERENCE_PYTHON.exists():
        pytest.skip(MISSING_REFERENCE)
    if worker_id == "master":
        found = plan_and_read(tmp_path_factory.mktemp("spine-referee"))
    else:
        shared = tmp_path_factory.getbasetemp().parent      # this run's, common to its workers
        saved = shared / "spine-referee.json"
        with open(shared / "spine-referee.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not saved.exists():
                folder = shared / "spine-referee"
                folder.mkdir()
                saved.write_text(json.dumps(plan_and_read(folder)), encoding="utf-8")
        found = json.loads(saved.read_text(encoding="utf-8"))
    return found["result"], Path(found["plan"]), Path(found["structure_set"]), found["third_party"]


def planner_goal(result: dict, structure: str, goal: str) -> dict:
    """The row of the leaf-sequenced plan's clinical goals for `goal` on `structure`."""
    rows = result["delivered_clinical_goals"]
    return next(row for row in rows if (row["structure"], row["goal"]) == (structure, goal))


def test_the_referee_reads_the_structure_set_the_plan_references(readings):
    from pydicom import dcmread

    _, plan, structure_set, _ = readings
    referenced = dcmread(plan / "RTPLAN.dcm").ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID
    assert referenced == dcmread(structure_set).SOPInstanceUID


def test_on_planners_own_lattice_dicompyler_core_reads_the_same_figures(readings):
    result, _, _, third_party = readings
    for name in (CORD, PTV):   # the lattice Planner says it sampled on
        assert re.search(rf"{name}: [\d.]+ cc, [\d,]+ samples on a 0\.5 × 0\.5 × 0\.5 mm lattice",
                         result["dvh"]["structures"]), result["dvh"]["structures"]
    referee = third_party["same lattice"]["rois"]
    cord, ptv = result["delivered_dvh_points"][CORD], result["delivered_dvh_points"][PTV]
    figures = {
        "cord D0.03cc": (cord["d0_03cc_gy"], referee[CORD]["d0_03cc_gy"]),
        "cord D0.35cc": (planner_goal(result, CORD, "D0.35cc")["value_gy"], referee[CORD]["d0_35cc_gy"]),
    }
    print({k: f"Planner {p:.3f}, dicompyler-core {d:.3f} Gy" for k, (p, d) in figures.items()})
    assert all(abs(p - d) <= SAME_LATTICE_GY for p, d in figures.values()), figures
    coverage = planner_goal(result, PTV, "V16Gy")["value_percent"]
    print(f"PTV V16Gy: Planner {coverage:.3f}, dicompyler-core {referee[PTV]['v16gy_percent']:.3f} %")
    assert coverage == pytest.approx(referee[PTV]["v16gy_percent"], abs=SAME_LATTICE_PERCENT)
    # the same points: the same volumes within 0.1 %
    assert referee[CORD]["volume_cc"] == pytest.approx(cord["volume_cc"], rel=0.001)
    assert referee[PTV]["volume_cc"] == pytest.approx(ptv["volume_cc"], rel=0.001)
    # this course's EQD2 the plan reports, from dicompyler-core's D0.03cc by hand
    course = next(r for r in result["delivered_reirradiation"]["limits"] if r["goal"] == "this course's EQD2 D0.03cc")
    slope = (2 * referee[CORD]["d0_03cc_gy"] + 2) / 4     # d EQD2 / d D
    assert course["value_gy"] == pytest.approx(eqd2_one_fraction_gy(referee[CORD]["d0_03cc_gy"]),
                                               abs=slope * SAME_LATTICE_GY)


def test_the_converged_cord_figures_keep_the_limits_and_need_the_margin(readings):
    result, _, _, third_party = readings
    cord = third_party["converged cord"]["rois"][CORD]
    near_max = cord["d0_03cc_gy"]
    print(f"converged cord: D0.03cc {near_max:.2f} Gy (EQD2 {eqd2_one_fraction_gy(near_max):.2f}), "
          f"D0.35cc {cord['d0_35cc_gy']:.2f} Gy, {cord['volume_cc']:.3f} cc")
    # the cord it read: the phantom's 4.5 mm cylinder over the scan, within 1 %
    assert cord["volume_cc"] == pytest.approx(math.pi * CORD_RADIUS_MM ** 2 * SCAN_LENGTH_MM / 1000, rel=0.01)
    assert near_max <= 14.0 and cord["d0_35cc_gy"] <= 10.0
    assert eqd2_one_fraction_gy(near_max) <= 25.0
    # above the 0.5 mm reading by more than a bin: the reason for the 2 % margin
    assert near_max > result["delivered_dvh_points"][CORD]["d0_03cc_gy"] + BIN_GY


def test_the_coverage_the_plan_claims_survives_the_referee(readings):
    result, _, _, third_party = readings
    claimed = planner_goal(result, PTV, "V16Gy")
    referee = third_party["coverage"]["rois"][PTV]["v16gy_percent"]
    print(f"PTV V16Gy: claimed {claimed['value_percent']:.2f} %, dicompyler-core on its 0.5 mm lattice {referee:.2f} %")
    assert claimed["met"] and claimed["limit_percent"] == 90.0
    assert claimed["value_percent"] == pytest.approx(referee, abs=COVERAGE_PERCENT)
    assert referee >= 90.0
