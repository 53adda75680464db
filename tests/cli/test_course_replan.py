"""`planner course replan` (issue 17, point 3): a 70 kV course of 5 × 7 Gy on the demo image, 2 fractions
recorded, a later image with a deeper lesion added after fraction 2, re-planned at 100 kV. Judged from
outside: the revision's RT Plan read with pydicom (PREDECESSOR reference, UNAPPROVED, 3 fractions), the plan
file read as JSON text, the course's dose and BED added up by hand from the times in the RT Plan files, and
`planner sign`, `review`, `approve` taking the revision like any plan. The chain to its end: fractions 3 to 5
recorded on the signed and approved revision (dciodvfy on each record), the old package refusing them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from pydicom import dcmread

from planner.core.plan_file import save_plan
from planner.core.prescription import Prescription
from planner.dicom.export import export_plan
from planner.dose.grid_axes import dose_grid_axes
from planner.imaging import write_ultrasound_dicom
from planner.imaging.planning_image import calibrated_image
from planner.imaging.synthetic import make_dermal_ultrasound
from planner.techniques.beam_lookup import machine_commissioning
from planner.techniques.new_plan import open_demo_case
from planner.techniques.registry import discover_techniques
from tests.cli_runner import planner
from tests.dicom.export_fixtures import dciodvfy
from tests.dicom.signature_fixtures import PASSPHRASE, requires_dcmsign, signer

TODAY = dt.date.today()
EXPORTED = dt.datetime.combine(TODAY - dt.timedelta(days=40), dt.time(16, 0))
DAY_1, DAY_2, DAY_IMAGE = ((TODAY - dt.timedelta(days=back)).isoformat() for back in (30, 27, 26))
DEMO_PATIENT = ("DEMO^Patient", "DEMO-0001")     # as the demo file carries it
MINUTES = ("3", "2.5")                           # the delivered times of fractions 1 and 2


@pytest.fixture(scope="module")
def course_package(tmp_path_factory):
    """The demo at 70 kV, Ø 20 mm, 5 × 7 Gy, exported with the plugin's own engine; the course started, two
    fractions recorded, and a synthetic image (the generator's lesion, deeper than the 70 kV 90 % isodose) at
    after:2. Made once; each test copies it."""
    root = tmp_path_factory.mktemp("replan")
    registry = discover_techniques()
    planning_image, plan = open_demo_case(registry)
    technique = registry.get(plan.setup.technique_id)
    plan = plan.with_setup(energy_id="70kV", applicator_id="cone-20mm").with_prescription(Prescription(7.0, 5))
    image = calibrated_image(planning_image.image, plan)
    dose = technique.dose_engine.compute(plan, dose_grid_axes(image),
                                         machine_commissioning(technique, plan.setup.machine_id))
    folder = root / "course"
    export_plan(plan, dose, planning_image, technique, folder, now=EXPORTED)
    save_plan(folder / "plan.json", plan, calculation_record={"engine": "kept as written"})
    assert planner("course", "start", folder / "plan.json", "--max-gap-days", "7").returncode == 0
    for day, minutes, at in ((DAY_1, MINUTES[0], "09:30"), (DAY_2, MINUTES[1], "10:00")):
        ran = planner("course", "record-fraction", folder / "plan.json", "--date", day, "--time-min", minutes,
                      "--operator", "Lee^Ann", "--at", at)
        assert ran.returncode == 0, ran.stderr
    case = make_dermal_ultrasound(1)
    later = Path(write_ultrasound_dicom(root / "after2.dcm", case.pixels_u8, case.calibration, *DEMO_PATIENT,
                                        uid_seed="replan-after-2"))
    outline = root / "after2.csv"
    outline.write_text("x_mm,y_mm\n" + "".join(f"{x},{y}\n" for x, y in case.tumour_outline_mm), encoding="utf-8")
    ran = planner("course", "add-image", folder / "plan.json", "--image", later, "--when", "after:2",
                  "--date", DAY_IMAGE, "--outline", outline)
    assert ran.returncode == 0, ran.stderr
    return folder


@pytest.fixture
def package(course_package, tmp_path):
    return Path(shutil.copytree(course_package, tmp_path / "course"))


def seconds_per_fraction(rt_plan) -> float:
    """The kV RT Plan's time per fraction: Beam Meterset in minutes × 60."""
    return float(rt_plan.FractionGroupSequence[0].ReferencedBeamSequence[0].BeamMeterset) * 60.0


def digest(folder: Path, pattern: str = "*") -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob(pattern) if p.is_file()}


def plan_json(folder: Path) -> dict:
    return json.loads((folder / "plan.json").read_text(encoding="utf-8"))


def replan(package: Path, out: Path, *extra):
    return planner("course", "replan", package / "plan.json", "--session", "after:2", "--out", out, *extra)


def test_replan_writes_an_unapproved_revision_whose_course_adds_up(package, tmp_path):
    predecessor = dcmread(package / "RTPLAN.dcm")
    before, old_plan = digest(package), plan_json(package)
    out = tmp_path / "revision"
    ran = replan(package, out, "--energy-kv", "100", "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)

    revision = dcmread(out / "RTPLAN.dcm")
    [reference] = revision.ReferencedRTPlanSequence
    assert (reference.ReferencedSOPInstanceUID, reference.RTPlanRelationship) == \
        (predecessor.SOPInstanceUID, "PREDECESSOR")
    assert revision.ApprovalStatus == "UNAPPROVED"
    assert revision.SOPInstanceUID != predecessor.SOPInstanceUID
    group = revision.FractionGroupSequence[0]
    assert int(group.NumberOfFractionsPlanned) == 3
    assert float(group.ReferencedDoseReferenceSequence[0].TargetPrescriptionDose) == 7.0
    assert (result["rt_plan_uid"], result["predecessor_uid"]) == (revision.SOPInstanceUID, predecessor.SOPInstanceUID)
    assert result["rt_plan"] == str(out / "RTPLAN.dcm") and result["energy"] == "100kV"
    # the predecessor's folder: its files as they were, but for its plan file's course marked superseded
    after = digest(package)
    assert set(after) == set(before) and all(after[name] == before[name] for name in before if name != "plan.json")
    superseded = {"rt_plan_uid": revision.SOPInstanceUID, "folder": str(out.resolve()), "first_fraction": 3}
    # a course written with the marker is format 4 (older Planners refuse it), which holds its RT Plan UID (not
    # recorded: "") and re-plans (none) as well
    assert plan_json(package) == {**old_plan, "course": {**old_plan["course"], "version": 4, "rt_plan_uid": "",
                                                         "later_phases": [], "superseded_by": superseded}}
    # the records of fractions 1 and 2 follow the course into the revision, byte for byte
    assert digest(out, "RTRECORD-F*.dcm") == digest(package, "RTRECORD-F*.dcm") and \
        sorted(digest(out, "RTRECORD-F*.dcm")) == ["RTRECORD-F01.dcm", "RTRECORD-F02.dcm"]

    saved = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert saved["setup"]["energy"] == "100kV" and saved["prescription"]["fractions"] == 3
    course = saved["course"]
    assert course["version"] == 4 and course["rt_plan_uid"] == predecessor.SOPInstanceUID
    [phase] = course["later_phases"]
    assert (phase["first_fraction"], phase["fractions"], phase["dose_per_fraction_gy"], phase["rt_plan_uid"]) == \
        (3, 3, 7.0, revision.SOPInstanceUID)
    assert phase["planned_time_s"] == pytest.approx(seconds_per_fraction(revision), abs=0.05)
    assert "re-plan" in phase["reason"] and phase["reason"] == result["reason"]
    assert [r["dwell_time_s"] for r in course["records"]] == [180.0, 150.0]

    # By hand: each delivered fraction 7 Gy × its time / the first RT Plan's time; 3 × 7 Gy remain.
    first_s = round(seconds_per_fraction(predecessor), 1)
    delivered = [7.0 * 180.0 / first_s, 7.0 * 150.0 / first_s]
    assert result["course_dose"]["delivered_gy"] == pytest.approx(sum(delivered))
    assert result["course_dose"]["remaining_gy"] == pytest.approx(21.0)
    assert result["course_dose"]["total_gy"] == pytest.approx(sum(delivered) + 21.0)
    doses = delivered + [7.0] * 3
    for ab, bio in zip((10.0, 3.0), result["biological"]):
        bed = sum(d * (1 + d / ab) for d in doses)
        assert (bio["alpha_beta_gy"], bio["bed_gy"], bio["eqd2_gy"]) == \
            (ab, pytest.approx(bed), pytest.approx(bed / (1 + 2 / ab)))
    assert [(p["first_fraction"], p["fractions"]) for p in result["phases"]] == [(1, 2), (3, 3)]

    shown = planner("course", "show", out / "plan.json", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["course_dose"] == result["course_dose"] and data["phases"] == result["phases"]
    assert [f["dose_gy"] for f in data["fractions"]] == pytest.approx(delivered)
    text = planner("course", "show", out / "plan.json").stdout
    assert f"phase from fraction 3: 3 × 7 Gy, {phase['planned_time_s']:.1f} s per fraction, RT Plan " \
           f"{revision.SOPInstanceUID}" in text
    assert f"BED10 {result['biological'][0]['bed_gy']:.2f} Gy" in text


def sign_review_approve(out: Path, tmp_path: Path) -> None:
    """`planner sign` by a physician, `review` (can approve) and `approve` by a physicist, as for any plan."""
    passphrase = tmp_path / "passphrase.txt"
    passphrase.write_bytes(PASSPHRASE + b"\n")
    _doctor, doctor_key, doctor_cert = signer(tmp_path, "Dr A. Oncologist")
    _physicist, physicist_key, physicist_cert = signer(tmp_path, "J. Physicist")
    signed = planner("sign", out, "--key", doctor_key, "--cert", doctor_cert, "--passphrase-file", passphrase)
    assert signed.returncode == 0, signed.stderr
    review = planner("review", out, "--trust", doctor_cert, "--json")
    assert review.returncode == 0, review.stderr + review.stdout
    assert json.loads(review.stdout)["can_approve"] is True
    approved = planner("approve", out / "RTPLAN.dcm", "--key", physicist_key, "--cert", physicist_cert,
                       "--reviewer", "Physicist^Jo", "--passphrase-file", passphrase, "--trust", doctor_cert,
                       "--audit-db", tmp_path / "audit.sqlite")
    assert approved.returncode == 0, approved.stderr + approved.stdout


@requires_dcmsign
def test_the_revision_is_signed_reviewed_and_approved_like_any_plan(package, tmp_path):
    out = tmp_path / "revision"
    assert replan(package, out, "--energy-kv", "100").returncode == 0
    sign_review_approve(out, tmp_path)
    assert dcmread(out / "RTPLAN.dcm").ApprovalStatus == "APPROVED"


def record_fraction(folder: Path, minutes: str, *extra):
    """Delivered today (the revision's RT Plan is dated today), at the current time."""
    return planner("course", "record-fraction", folder / "plan.json", "--date", TODAY.isoformat(), "--time-min",
                   minutes, "--operator", "Lee^Ann", *extra)


def test_the_superseded_package_refuses_further_fractions_and_a_second_replan(package, tmp_path):
    out = tmp_path / "revision"
    assert replan(package, out, "--energy-kv", "100").returncode == 0
    uid = dcmread(out / "RTPLAN.dcm").SOPInstanceUID
    before = digest(package)
    names = f"this plan was re-planned: fractions from 3 on are given under RT Plan {uid}, in {out.resolve()}"
    ran = record_fraction(package, "2")
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1, ran.stderr
    assert f"not recorded: {names}: record the fraction there" in ran.stderr
    ran = replan(package, tmp_path / "again", "--energy-kv", "100")
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1, ran.stderr
    assert f"not re-planned: {names}: re-plan from there" in ran.stderr
    assert digest(package) == before and not (tmp_path / "again").exists()
    shown = json.loads(planner("course", "show", package / "plan.json", "--json").stdout)
    assert shown["superseded_by"] == {"rt_plan_uid": uid, "folder": str(out.resolve()), "first_fraction": 3}


@requires_dcmsign
@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is needed")
def test_the_whole_chain_to_the_last_fraction_on_the_command_line(package, tmp_path):
    """5 × 7 Gy, fractions 1 and 2 at 70 kV, re-planned after 2 at 100 kV, the revision signed and approved,
    fractions 3 to 5 recorded on it: 5 fractions, complete, the dose and BED added up by hand over both phases."""
    predecessor_uid = dcmread(package / "RTPLAN.dcm").SOPInstanceUID
    out = tmp_path / "revision"
    assert replan(package, out, "--energy-kv", "100").returncode == 0
    sign_review_approve(out, tmp_path)
    revision = dcmread(out / "RTPLAN.dcm")
    assert revision.ApprovalStatus == "APPROVED"
    minutes = {3: "1.5", 4: "2", 5: "1.75"}                   # 90, 120 and 105 s
    for number, time_min in minutes.items():
        ran = record_fraction(out, time_min, "--json")
        assert ran.returncode == 0, ran.stderr
        assert json.loads(ran.stdout)["record"] == str(out / f"RTRECORD-F{number:02d}.dcm")
    for number in (3, 4, 5):
        path = out / f"RTRECORD-F{number:02d}.dcm"
        assert dciodvfy(path) == ([], [])
        record = dcmread(path)
        session = record.TreatmentSessionBeamSequence[0]
        assert record.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == revision.SOPInstanceUID
        # the revision's fraction group: 3 planned, this one its 1st, 2nd, 3rd; the course's 3rd, 4th, 5th
        assert (int(record.NumberOfFractionsPlanned), int(session.CurrentFractionNumber), int(record.InstanceNumber)) \
            == (3, number - 2, number)
        assert float(session.DeliveredTreatmentTime) == pytest.approx(float(minutes[number]) * 60.0)
    for number in (1, 2):      # the copies of the first phase's records still reference the first RT Plan
        record = dcmread(out / f"RTRECORD-F{number:02d}.dcm")
        assert record.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == predecessor_uid

    shown = planner("course", "show", out / "plan.json", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    # By hand: 7 Gy × delivered / planned time, the first two over the 70 kV RT Plan's time, the last three over
    # the 100 kV revision's (each RT Plan's Beam Meterset, to the 0.1 s the course keeps).
    first_s = round(seconds_per_fraction(dcmread(package / "RTPLAN.dcm")), 1)
    second_s = round(seconds_per_fraction(revision), 1)
    doses = [7.0 * 180.0 / first_s, 7.0 * 150.0 / first_s] + [7.0 * float(minutes[n]) * 60.0 / second_s
                                                               for n in (3, 4, 5)]
    assert [(f["number"], f["record"]) for f in data["fractions"]] == \
        [(n, str(out / f"RTRECORD-F{n:02d}.dcm")) for n in range(1, 6)]
    assert [f["dose_gy"] for f in data["fractions"]] == pytest.approx(doses, rel=1e-9)
    assert data["summary"].endswith("remaining 0.00 Gy (complete).")
    assert data["course_dose"] == {"delivered_gy": pytest.approx(sum(doses), rel=1e-9), "remaining_gy": 0,
                                   "total_gy": pytest.approx(sum(doses), rel=1e-9)}
    for ab, bio in zip((10.0, 3.0), data["biological"]):
        bed = sum(d * (1 + d / ab) for d in doses)
        assert (bio["alpha_beta_gy"], bio["bed_gy"], bio["eqd2_gy"]) == \
            (ab, pytest.approx(bed, rel=1e-9), pytest.approx(bed / (1 + 2 / ab), rel=1e-9))
    assert data["superseded_by"] is None


@pytest.mark.parametrize("args, fragment", [
    (("--session", "baseline"), "the course holds no image at baseline"),
    (("--session", "after:2", "--energy-kv", "80"), "offers no 80 kV beam (offered: 50, 70, 100 kV)"),
    (("--session", "after:2", "--cone-mm", "13"), "offers no Ø 13 mm applicator"),
])
def test_refusals_are_one_line_and_write_nothing(package, tmp_path, args, fragment):
    out = tmp_path / "revision"
    ran = planner("course", "replan", package / "plan.json", *args, "--out", out)
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1 and fragment in ran.stderr, ran.stderr
    assert not out.exists()


def test_the_predecessors_own_folder_is_refused(package):
    before = digest(package)
    ran = replan(package, package, "--energy-kv", "100")
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1
    assert digest(package) == before


def test_a_session_before_the_last_delivered_fraction_is_refused(package, tmp_path):
    later = json.loads((package / "plan.json").read_text(encoding="utf-8"))["course"]["sessions"][0]
    ran = planner("course", "add-image", package / "plan.json", "--image", later["image_path"], "--when", "after:1",
                  "--date", DAY_2)
    assert ran.returncode == 0, ran.stderr
    ran = planner("course", "replan", package / "plan.json", "--session", "after:1", "--out", tmp_path / "r")
    assert ran.returncode == 2 and "is not from after the last delivered fraction (2)" in ran.stderr
