"""Issue 17, point 5, done-when: the course sent to a real PACS (Orthanc) and rebuilt from it alone on a second
Planner instance (its own data and configuration folders, an empty folder) equals the original, field by field
of `planner course show --json`. Orthanc's REST is the independent view of what was stored; an instance deleted
in Orthanc is named by the fetch, which then writes nothing; an object Orthanc drops while answering success is
named by the send, which then keeps the course object back."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import (RawDataStorage, RTBeamsTreatmentRecordStorage, RTDoseStorage, RTPlanStorage,
                         RTStructureSetStorage, SecondaryCaptureImageStorage, UltrasoundImageStorage)

from planner.core.plan_file import load_plan
from planner.dicom.course_objects import prepare_course_objects
from planner.dicom.network import send_files
from planner.dicom.pacs_settings import PacsNode
from tests.cli.test_course_replan import course_package, sign_review_approve  # noqa: F401  (the re-planned course)
from tests.cli_runner import planner
from tests.dicom import orthanc_server
from tests.dicom.export_fixtures import dciodvfy
from tests.dicom.orthanc_server import orthanc_available, running_orthanc
from tests.dicom.signature_fixtures import flip_byte_after, requires_dcmsign
from tests.dicom.test_course_objects import LATERALITY_WARNING, PRIVATE_SCHEME_WARNING, build_course_package

pytestmark = pytest.mark.skipif(not orthanc_available() or shutil.which("dciodvfy") is None,
                                reason="Debian's Orthanc and dciodvfy (dicom3tools) are needed")

# the planning image, the two DICOM sessions; RT Plan, Structure Set, Dose; the PNG session converted;
# three fraction records; the course object
EXPECTED_CLASSES = Counter({UltrasoundImageStorage: 3, RTPlanStorage: 1, RTStructureSetStorage: 1, RTDoseStorage: 1,
                            SecondaryCaptureImageStorage: 1, RTBeamsTreatmentRecordStorage: 3, RawDataStorage: 1})


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture(scope="module")
def plan_path(tmp_path_factory) -> Path:
    return build_course_package(tmp_path_factory.mktemp("workstation-a"))


def pacs(orthanc) -> str:
    return f"{orthanc.ae_title}@{orthanc.host}:{orthanc.dicom_port}"


def second_instance(tmp_path: Path) -> dict:
    """Another workstation: its own data and configuration folders, nothing of the course."""
    return {"PLANNER_DATA_DIR": str(tmp_path / "b-data"), "PLANNER_CONFIG_DIR": str(tmp_path / "b-config")}


def stored_classes(orthanc) -> dict[str, str]:
    """SOP Instance UID → SOP Class UID of every instance Orthanc holds, as its REST API says."""
    tags = [orthanc.rest(f"/instances/{i}/simplified-tags") for i in orthanc.rest("/instances")]
    return {t["SOPInstanceUID"]: t["SOPClassUID"] for t in tags}


def shown(plan_file: Path, env=None) -> dict:
    result = planner("course", "show", plan_file, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def send(plan_path: Path, orthanc, audit_db: Path):
    result = planner("course", "send", plan_path, "--pacs", pacs(orthanc), "--draft", "--json", "--audit-db", audit_db)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_the_course_rebuilt_from_orthanc_on_a_second_instance_equals_the_original(plan_path, orthanc, tmp_path):
    sent = send(plan_path, orthanc, tmp_path / "audit.sqlite")
    assert sent["all_stored"] and sent["planning_image"] == "sent"
    assert [row["object"] for row in sent["objects"]][-7:] == [
        "the image at baseline", "the image at after fraction 2", "the image at follow-up week 0",
        "fraction 1's treatment record", "fraction 2's treatment record", "fraction 3's treatment record",
        "the course object"]
    assert Counter(stored_classes(orthanc).values()) == EXPECTED_CLASSES
    [entry] = json.loads(planner("audit", "show", "--db", tmp_path / "audit.sqlite", "--json").stdout)["entries"]
    assert (entry["action"], entry["details"]["stored"], entry["details"]["files"]) == ("send", 11, 11)
    assert entry["plan_uid"] == dcmread(plan_path.parent / "RTPLAN.dcm").SOPInstanceUID

    out = tmp_path / "b-course"
    env = second_instance(tmp_path)
    original = shown(plan_path)
    fetched = planner("course", "fetch", "--pacs", pacs(orthanc), "--patient-id", original["patient"]["id"],
                      "--out", out, "--json", env=env)
    assert fetched.returncode == 0, fetched.stderr
    said = json.loads(fetched.stdout)
    assert said["plan"] == str(out / "plan.json") and said["earlier_rt_plans"] == []
    # sent as a draft (--draft): the fetch says so, from the RT Plan's (absent) signatures
    assert (said["signature"], said["treatable"], said["treatable_message"]) == ("unsigned (draft)", False,
                                                                                 "draft: not signed")
    rebuilt = shown(out / "plan.json", env=env)

    # not vacuous: two sessions measured (the PNG is not calibrated), three fractions of 90, 90 and 84 s
    assert [s["depth_mm"] is not None for s in original["sessions"]] == [True, True, False]
    assert [f["time_s"] for f in original["fractions"]] == [90.0, 90.0, 84.0]
    # where the files are differs (another folder); everything else is the same, field by field
    assert Path(rebuilt.pop("plan")) == out / "plan.json" and Path(original.pop("plan")) == plan_path
    for mine, theirs in zip(rebuilt["fractions"], original["fractions"]):
        assert Path(mine.pop("record")).name == Path(theirs.pop("record")).name
    for mine, theirs in zip(rebuilt["sessions"], original["sessions"]):
        assert Path(mine.pop("image")).parent == out and Path(theirs.pop("image")).is_file()
    assert rebuilt.keys() == original.keys()
    for key in original:   # sessions: place, date, scale, depth, width, area; fractions: date, time, dose, operator
        assert rebuilt[key] == original[key], key
    a = json.loads(plan_path.read_text(encoding="utf-8"))["course"]
    b = json.loads((out / "plan.json").read_text(encoding="utf-8"))["course"]
    for session in (*a["sessions"], *b["sessions"]):
        session.pop("image_path")
    assert a == b   # outlines and skin lines to the last bit, max gap, records, decision, phases when present

    for number in (1, 2, 3):   # the clock time and operator of each fraction, in its record
        name = f"RTRECORD-F{number:02d}.dcm"
        mine, theirs = dcmread(out / name), dcmread(plan_path.parent / name)
        assert (mine.TreatmentDate, mine.TreatmentTime, mine.OperatorsName) == \
            (theirs.TreatmentDate, theirs.TreatmentTime, theirs.OperatorsName)
        assert mine == theirs
    for name in ("COURSE.dcm", "SESSION-followup-0.dcm", "RTRECORD-F03.dcm", "RTPLAN.dcm", "US.dcm"):
        assert (out / name).is_file(), name
    errors, warnings = dciodvfy(out / "COURSE.dcm")
    assert errors == [] and set(warnings) == {LATERALITY_WARNING, PRIVATE_SCHEME_WARNING}
    errors, warnings = dciodvfy(out / "SESSION-followup-0.dcm")
    assert errors == [] and warnings == [LATERALITY_WARNING]


def test_an_instance_deleted_in_orthanc_is_named_and_nothing_is_written(plan_path, tmp_path):
    with running_orthanc(tmp_path / "pacs") as orthanc:   # its own PACS: the deletion touches no other test
        send(plan_path, orthanc, tmp_path / "audit.sqlite")
        send(plan_path, orthanc, tmp_path / "audit.sqlite")   # again: the same instances, and a newer course object
        classes = stored_classes(orthanc)
        assert Counter(classes.values()) == EXPECTED_CLASSES + Counter({RawDataStorage: 1})
        [picture] = [uid for uid, sop_class in classes.items() if sop_class == SecondaryCaptureImageStorage]
        [orthanc_id] = [i for i in orthanc.rest("/instances")
                        if orthanc.rest(f"/instances/{i}/simplified-tags")["SOPInstanceUID"] == picture]
        orthanc.rest(f"/instances/{orthanc_id}", method="DELETE")
        assert picture not in stored_classes(orthanc)

        out = tmp_path / "b-course"
        patient = shown(plan_path)["patient"]["id"]
        result = planner("course", "fetch", "--pacs", pacs(orthanc), "--patient-id", patient, "--out", out,
                         env=second_instance(tmp_path))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert f"the image of the session at followup:0 (SOP Instance UID {picture})" in result.stderr
    assert not out.exists() and list(tmp_path.glob(".b-course*")) == []


def test_a_course_whose_image_is_gone_is_refused_before_anything_is_sent(plan_path, tmp_path):
    with running_orthanc(tmp_path / "empty-pacs") as empty:
        folder = tmp_path / "package"
        shutil.copytree(plan_path.parent, folder)
        plan = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
        plan["course"]["sessions"][1]["image_path"] = str(tmp_path / "moved-away.dcm")
        (folder / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
        result = planner("course", "send", folder / "plan.json", "--pacs", pacs(empty), "--draft",
                         "--audit-db", tmp_path / "audit.sqlite")
        assert result.returncode == 2 and result.stderr.count("\n") == 1
        assert f"the image at after fraction 2 ({tmp_path / 'moved-away.dcm'}) is not found; nothing was sent" \
            in result.stderr
        assert empty.rest("/instances") == []


@pytest.mark.parametrize("patient_id, fragment", [("DEMO*", "one exact ID (no wildcard)"), (" ", "one exact ID")])
def test_a_wildcard_patient_id_is_refused(orthanc, tmp_path, patient_id, fragment):
    result = planner("course", "fetch", "--pacs", pacs(orthanc), "--patient-id", patient_id, "--out", tmp_path / "b")
    assert result.returncode == 2 and fragment in result.stderr and not (tmp_path / "b").exists()


def test_a_folder_that_holds_something_is_not_fetched_into(orthanc, tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine", encoding="utf-8")
    result = planner("course", "fetch", "--pacs", pacs(orthanc), "--patient-id", "DEMO-0001", "--out", tmp_path / "b")
    assert result.returncode == 2 and "is not an empty folder" in result.stderr
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["notes.txt"]


def test_an_object_the_pacs_drops_is_named_and_the_course_object_is_not_sent(plan_path, tmp_path, monkeypatch):
    """Orthanc told by a Lua filter to drop Secondary Capture images: it still answers the C-STORE with success,
    so only the C-FIND after it shows the converted picture is missing."""
    lua = tmp_path / "drop-secondary-capture.lua"
    lua.write_text("function ReceivedInstanceFilter(dicom, origin, info)\n"
                   f"  return dicom.SOPClassUID ~= '{SecondaryCaptureImageStorage}'\n"
                   "end\n", encoding="utf-8")
    config = orthanc_server.orthanc_config
    monkeypatch.setattr(orthanc_server, "orthanc_config", lambda *a, **k: {**config(*a, **k), "LuaScripts": [str(lua)]})
    with running_orthanc(tmp_path / "pacs") as orthanc:
        result = planner("course", "send", plan_path, "--pacs", pacs(orthanc), "--draft", "--json",
                         "--audit-db", tmp_path / "audit.sqlite")
        held = stored_classes(orthanc)
    assert result.returncode == 1, result.stderr
    rows = {row["object"]: row for row in json.loads(result.stdout)["objects"]}
    assert json.loads(result.stdout)["all_stored"] is False
    dropped = rows["the image at follow-up week 0"]
    assert (dropped["stored"], dropped["status"]) == (False, "success, but the PACS does not list it (C-FIND)")
    assert rows["the course object"]["stored"] is False
    assert rows["the course object"]["status"] == "not sent: the objects it names are not all on the PACS"
    assert [name for name, row in rows.items() if not row["stored"]] == ["the image at follow-up week 0",
                                                                         "the course object"]
    assert Counter(held.values()) == EXPECTED_CLASSES - Counter({SecondaryCaptureImageStorage: 1, RawDataStorage: 1})
    assert dropped["sop_instance_uid"] not in held


# ------------------------------------------------------------------------------------------ a re-planned course

@pytest.fixture(scope="module")
def replanned(course_package, tmp_path_factory):
    """tests/cli/test_course_replan's course (5 × 7 Gy at 70 kV, 2 fractions, a deeper lesion after:2), re-planned
    at 100 kV, the revision signed by a physician and approved by a physicist, fraction 3 recorded on it.
    Returns (first package's plan file, revision's plan file, the two signers' certificates)."""
    root = tmp_path_factory.mktemp("replanned")
    first = Path(shutil.copytree(course_package, root / "first"))
    revision = root / "revision"
    ran = planner("course", "replan", first / "plan.json", "--session", "after:2", "--out", revision,
                  "--energy-kv", "100")
    assert ran.returncode == 0, ran.stderr
    sign_review_approve(revision, root)
    ran = planner("course", "record-fraction", revision / "plan.json", "--date", dt.date.today().isoformat(),
                  "--time-min", "1.5", "--operator", "Lee^Ann")
    assert ran.returncode == 0, ran.stderr
    return first / "plan.json", revision / "plan.json", sorted(root.glob("*_cert.pem"))


def trust(certificates) -> list:
    return [arg for cert in certificates for arg in ("--trust", cert)]


@requires_dcmsign
def test_a_replanned_course_rebuilt_from_orthanc_is_the_revision_with_both_phases(replanned, tmp_path):
    """The signed and approved revision's course sent after fraction 3, then the first plan's (2 fractions; its
    folder as it is after the re-plan, its course marked superseded): both RT Plans and both course objects are on
    the PACS; the fetch takes the revision's course though the first's course object is newer, says so and what its
    signatures are, and `course show` of it equals the original's (both phases, three fractions, the whole course's
    dose, BED and EQD2). Fetched before the first plan was sent, it says the PACS lacks the first RT Plan."""
    first, revision, certificates = replanned
    first_uid = str(dcmread(first.parent / "RTPLAN.dcm").SOPInstanceUID)
    revision_uid = str(dcmread(revision.parent / "RTPLAN.dcm").SOPInstanceUID)
    original, env = shown(revision), second_instance(tmp_path)

    def fetch(out: Path, *extra):
        ran = planner("course", "fetch", "--pacs", pacs(orthanc), "--patient-id", original["patient"]["id"],
                      "--out", out, *trust(certificates), *extra, env=env)
        assert ran.returncode == 0, ran.stderr
        return ran.stdout

    def send(plan: Path, *extra):
        ran = planner("course", "send", plan, "--pacs", pacs(orthanc), "--audit-db", tmp_path / "audit.sqlite", *extra)
        assert ran.returncode == 0, ran.stdout + ran.stderr

    with running_orthanc(tmp_path / "pacs") as orthanc:
        send(revision)
        said = fetch(tmp_path / "c-course").splitlines()
        send(first, "--draft")
        classes = stored_classes(orthanc)
        out = tmp_path / "b-course"
        result = json.loads(fetch(out, "--json"))
    assert {uid: classes.get(uid) for uid in (first_uid, revision_uid)} == dict.fromkeys((first_uid, revision_uid),
                                                                                     RTPlanStorage)
    assert Counter(classes.values())[RawDataStorage] == 2     # a course object of each plan
    assert (result["rt_plan"], result["earlier_rt_plans"], result["earlier_rt_plans_not_on_pacs"]) == \
        (revision_uid, [first_uid], [])
    verdict = json.loads(planner("verify", revision.parent / "RTPLAN.dcm", *trust(certificates), "--json").stdout)
    assert (result["signature"], result["treatable"], result["reviewed"]) == ("signed", True, True)
    assert result["treatable_message"] == verdict["treatable_message"] and verdict["status"] == "signed"
    assert said[:3] == [
        f"course of RT Plan {revision_uid} (the current plan, re-planned from RT Plan {first_uid}; sent "
        f"{result['sent_at']}) written to {tmp_path / 'c-course' / 'plan.json'}", "  signatures: signed",
        f"  the PACS does not list the earlier RT Plan {first_uid} (its fractions' records reference it)"]

    rebuilt = shown(out / "plan.json", env=env)
    # not vacuous: two phases (70 kV for fractions 1-2, the revision from 3), three fractions given
    assert [(p["first_fraction"], p["fractions"]) for p in original["phases"]] == [(1, 2), (3, 3)]
    assert [f["number"] for f in original["fractions"]] == [1, 2, 3]
    assert {"phases", "fractions", "course_dose", "biological"} <= original.keys()
    assert Path(rebuilt.pop("plan")) == out / "plan.json" and Path(original.pop("plan")) == revision
    for mine, theirs in zip(rebuilt["fractions"], original["fractions"]):
        assert Path(mine.pop("record")) == out / Path(theirs.pop("record")).name
    for mine, theirs in zip(rebuilt["sessions"], original["sessions"]):
        assert Path(mine.pop("image")).parent == out and Path(theirs.pop("image")).is_file()
    assert rebuilt.keys() == original.keys()
    for key in original:   # phases, fractions with their doses, course_dose, biological, sessions, findings
        assert rebuilt[key] == original[key], key
    for number in (1, 2, 3):   # each record as written, the first two of the first RT Plan, the third of the revision
        mine = dcmread(out / f"RTRECORD-F{number:02d}.dcm")
        assert mine == dcmread(revision.parent / f"RTRECORD-F{number:02d}.dcm")
        assert mine.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == (first_uid if number < 3 else revision_uid)


@requires_dcmsign
@pytest.mark.parametrize("offset, why", [
    (0, "the signed data changed since signing — refused for treatment"),    # 7 Gy → 6 Gy: still a plan
    (1, "is an RT Plan Planner cannot open: the embedded plan is garbled")])  # 7.0 → 7/0: not JSON
def test_a_course_whose_rt_plan_signature_is_broken_is_not_rebuilt(replanned, tmp_path, offset, why):
    """The revision's RT Plan changed after signing (one byte of its embedded plan) and stored with its course
    straight through C-STORE (course send refuses a broken plan): the fetch names it in one line, writes nothing."""
    _, revision, certificates = replanned
    folder = Path(shutil.copytree(revision.parent, tmp_path / "broken"))
    flip_byte_after(folder / "RTPLAN.dcm", b'"dose_per_fraction_gy":', offset)
    objects = prepare_course_objects(load_plan(folder / "plan.json"), folder, tmp_path)
    files = [folder / name for name in ("RTPLAN.dcm", "RTSTRUCT.dcm", "RTDOSE.dcm", "US.dcm")]
    with running_orthanc(tmp_path / "pacs") as orthanc:
        report = send_files(PacsNode(orthanc.host, orthanc.dicom_port, orthanc.ae_title, "PLANNER", 10),
                            [*files, *(part.path for part in objects.parts), objects.course_object.path])
        assert all(outcome.stored for outcome in report.outcomes)
        out = tmp_path / "b-course"
        result = planner("course", "fetch", "--pacs", pacs(orthanc), "--patient-id", shown(revision)["patient"]["id"],
                         "--out", out, *trust(certificates), env=second_instance(tmp_path))
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert f"RTPLAN.dcm (RT Plan {objects.rt_plan_uid}) from the PACS" in result.stderr and why in result.stderr
    assert result.stderr.endswith("nothing was written\n")
    assert not out.exists() and list(tmp_path.glob(".b-course*")) == []
