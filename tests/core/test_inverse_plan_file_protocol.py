"""The IMRT plan file's plan_context section (issue 18): the protocol (shipped id or a clinic's file,
with its SHA-256), the structure mapping and the earlier course's files round-trip; a file written
before the section existed (kept below as the old code wrote it, at 038fb51) opens unchanged; a
wrong, extra or missing field is refused in one line naming it. The SHA-256 are checked against
hashlib on the files' bytes and the JSON read with json, not with the code under test."""

import hashlib
import json

import pytest

from planner.core.inverse_plan import InversePlan, InversePrescription, Objective
from planner.core.inverse_plan_file import (ImrtRecovery, InversePlanFileError, VolumeSource,
                                            inverse_plan_and_context_from_dict, load_inverse_plan,
                                            load_inverse_plan_and_context, save_inverse_plan)
from planner.core.plan_context_file import (EarlierCourseRecord, PlanContextRecord, ProtocolRecord,
                                            changed_since_saved)
from planner.core.protocols.protocol import protocols_dir

# Written by save_inverse_plan at 038fb51 (before plan_context), for a spine SBRT plan on a CT.
OLD_FILE = """{
  "format": "planner-imrt-plan",
  "format_version": 1,
  "planning_volume": {"kind": "ct", "folder": "/data/spine/ct", "rtstruct": null, "spacing_mm": 2.5},
  "prescription": {"target": "PTV", "dose_per_fraction_gy": 16.0, "fractions": 1, "coverage_volume_fraction": 0.9},
  "gantry_angles_deg": [0.0, 40.0, 80.0, 120.0, 160.0, 200.0, 240.0, 280.0, 320.0],
  "bixel_width_mm": 5.0,
  "objectives": [
    {"structure": "PTV_minus_PRV", "kind": "min_dose", "dose_gy": 16.0, "weight": 100.0},
    {"structure": "SpinalCord_PRV", "kind": "max_dose", "dose_gy": 12.0, "weight": 1000.0},
    {"structure": "SpinalCord", "kind": "max_dvh", "dose_gy": 10.0, "weight": 500.0, "volume_fraction": 0.1}
  ],
  "max_iterations": 60,
  "modulation_weight": 30.0
}
"""
SOURCE = VolumeSource.ct("/data/spine/ct", 2.5)
PLAN = InversePlan(prescription=InversePrescription(target="PTV", dose_per_fraction_gy=16.0, fractions=1,
                                                    coverage_volume_fraction=0.9),
                   objectives=(Objective("PTV_minus_PRV", "min_dose", 16.0, 100.0),
                               Objective("SpinalCord_PRV", "max_dose", 12.0, 1000.0),
                               Objective("SpinalCord", "max_dvh", 10.0, 500.0, volume_fraction=0.1)),
                   max_iterations=60)
SHA_A, SHA_B, SHA_C = "a" * 64, "0123456789abcdef" * 4, "f" * 64
MAPPING = (("PTV", "PTV_T8"), ("SpinalCord", "Cord"), ("External", "BODY"))
CONTEXT = PlanContextRecord(ProtocolRecord("spine-sbrt-16gy-1fx", None, SHA_A, MAPPING),
                            EarlierCourseRecord("/data/prior/RTDOSE.dcm", SHA_B, "/data/prior/RTPLAN.dcm", SHA_C))


def good_dict() -> dict:
    return {**json.loads(OLD_FILE), "format_version": 2, "plan_context": {
        "protocol": {"shipped": "spine-sbrt-16gy-1fx", "sha256": SHA_A,
                     "mapping": {"PTV": "PTV_T8", "SpinalCord": "Cord", "External": "BODY"}},
        "earlier_course": {"rt_dose": "/data/prior/RTDOSE.dcm", "rt_dose_sha256": SHA_B,
                           "rt_plan": "/data/prior/RTPLAN.dcm", "rt_plan_sha256": SHA_C, "fractions": None}}}


def test_an_old_file_opens_unchanged(tmp_path):
    path = tmp_path / "old.imrt.json"
    path.write_text(OLD_FILE, encoding="utf-8")
    assert load_inverse_plan_and_context(path) == (PLAN, SOURCE, None)
    assert load_inverse_plan(path) == (PLAN, SOURCE)


def test_a_plan_without_a_context_is_written_as_before(tmp_path):
    path = tmp_path / "plan.imrt.json"
    save_inverse_plan(path, PLAN, SOURCE)
    # but for the format version (2 since the section: an older Planner refuses such a file as newer)
    assert json.loads(path.read_text(encoding="utf-8")) == {**json.loads(OLD_FILE), "format_version": 2}


def test_the_context_round_trips_and_reads_as_written(tmp_path):
    path = tmp_path / "plan.imrt.json"
    save_inverse_plan(path, PLAN, SOURCE, CONTEXT)
    assert json.loads(path.read_text(encoding="utf-8")) == good_dict()
    assert load_inverse_plan_and_context(path) == (PLAN, SOURCE, CONTEXT)
    # a clinic's protocol file and fractions typed without an RT Plan
    typed = PlanContextRecord(ProtocolRecord(None, "/clinic/protocols/sbrt.json", SHA_A, MAPPING[:2]),
                              EarlierCourseRecord("/data/prior/RTDOSE.dcm", SHA_B, fractions=10))
    save_inverse_plan(path, PLAN, SOURCE, typed)
    section = json.loads(path.read_text(encoding="utf-8"))["plan_context"]
    assert section == {"protocol": {"file": "/clinic/protocols/sbrt.json", "sha256": SHA_A,
                                    "mapping": {"PTV": "PTV_T8", "SpinalCord": "Cord"}},
                       "earlier_course": {"rt_dose": "/data/prior/RTDOSE.dcm", "rt_dose_sha256": SHA_B,
                                          "rt_plan": None, "rt_plan_sha256": None, "fractions": 10}}
    assert load_inverse_plan_and_context(path)[2] == typed
    # a protocol alone
    alone = PlanContextRecord(CONTEXT.protocol)
    save_inverse_plan(path, PLAN, SOURCE, alone)
    assert "earlier_course" not in json.loads(path.read_text(encoding="utf-8"))["plan_context"]
    assert load_inverse_plan_and_context(path)[2] == alone


def test_the_recovery_file_keeps_the_context(tmp_path):
    recovery = ImrtRecovery(tmp_path)
    recovery.save(PLAN, SOURCE, CONTEXT)
    plan, source, _, context = recovery.load_with_context()
    assert (plan, source, context) == (PLAN, SOURCE, CONTEXT)
    assert recovery.load()[:2] == (PLAN, SOURCE)
    assert json.loads(recovery.path.read_text(encoding="utf-8"))["plan_context"] == good_dict()["plan_context"]


def _course(d):
    return d["plan_context"]["earlier_course"]


def _protocol(d):
    return d["plan_context"]["protocol"]


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["plan_context"].pop("protocol"), "the field 'plan_context.protocol' is missing"),
    (lambda d: d["plan_context"].update(notes="x"), "the field 'plan_context.notes' is not part of an IMRT plan file"),
    (lambda d: d.update(plan_context=[]), "field 'plan_context' must be an object"),
    (lambda d: _protocol(d).update(file="/a/b.json"), "'plan_context.protocol' must have one of 'shipped'"),
    (lambda d: _protocol(d).pop("shipped"), "'plan_context.protocol' must have one of 'shipped'"),
    (lambda d: _protocol(d).update(version="2"), "the field 'plan_context.protocol.version' is not part of"),
    (lambda d: _protocol(d).pop("sha256"), "the field 'plan_context.protocol.sha256' is missing"),
    (lambda d: _protocol(d).update(sha256="ABC"), "field 'plan_context.protocol.sha256' must be a SHA-256"),
    (lambda d: _protocol(d).update(sha256="A" * 64), "field 'plan_context.protocol.sha256' must be a SHA-256"),
    (lambda d: _protocol(d).update(shipped=7), "field 'plan_context.protocol.shipped' must be text, got 7"),
    (lambda d: _protocol(d).update(shipped=""), "field 'plan_context.protocol.shipped' must name a shipped protocol"),
    (lambda d: (_protocol(d).pop("shipped"), _protocol(d).update(file="sbrt.json")),
     "field 'plan_context.protocol.file' must be an absolute path, got \"sbrt.json\""),
    (lambda d: _protocol(d).pop("mapping"), "the field 'plan_context.protocol.mapping' is missing"),
    (lambda d: _protocol(d).update(mapping={}), "field 'plan_context.protocol.mapping' must map"),
    (lambda d: _protocol(d)["mapping"].update(PTV=1), "field 'plan_context.protocol.mapping.PTV' must be text, got 1"),
    (lambda d: _course(d).pop("rt_dose_sha256"), "the field 'plan_context.earlier_course.rt_dose_sha256' is missing"),
    (lambda d: _course(d).update(rt_dose="RTDOSE.dcm"), "'plan_context.earlier_course.rt_dose' must be an absolute"),
    (lambda d: _course(d).update(dose_gy=30), "the field 'plan_context.earlier_course.dose_gy' is not part of"),
    (lambda d: _course(d).update(rt_plan_sha256=None), "'plan_context.earlier_course.rt_plan' and "
                                                       "'plan_context.earlier_course.rt_plan_sha256' must be given together"),
    (lambda d: _course(d).update(rt_plan=None, rt_plan_sha256=None),
     "field 'plan_context.earlier_course.fractions' is needed without an RT Plan"),
    (lambda d: _course(d).update(fractions=0), "'plan_context.earlier_course.fractions' must be a whole number ≥ 1"),
    (lambda d: _course(d).update(fractions=2.0), "'plan_context.earlier_course.fractions' must be a whole number ≥ 1"),
    (lambda d: d["planning_volume"].update(kind="tg119", folder=None) or d["planning_volume"].pop("folder")
     or d["planning_volume"].pop("rtstruct"), "field 'plan_context': a clinical protocol is applied to a CT"),
])
def test_a_wrong_extra_or_missing_field_is_refused_naming_it(tmp_path, mutate, message):
    data = good_dict()
    mutate(data)
    path = tmp_path / "plan.imrt.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InversePlanFileError, match=message.replace("(", r"\(").replace(")", r"\)")) as refused:
        load_inverse_plan_and_context(path)
    assert "\n" not in str(refused.value) and str(refused.value).startswith(f"{path}: ")
    # the recovery file is the same dict: refused there too (set aside, never half-loaded)
    with pytest.raises(InversePlanFileError):
        inverse_plan_and_context_from_dict(data, require_valid=False)


def test_the_records_name_the_files_read_and_their_sha256(tmp_path):
    shipped = protocols_dir() / "spine-sbrt-16gy-1fx.json"
    record = ProtocolRecord.read_from("spine-sbrt-16gy-1fx")
    assert record == ProtocolRecord("spine-sbrt-16gy-1fx", None, hashlib.sha256(shipped.read_bytes()).hexdigest())
    assert record.path == str(shipped) and record.load_name == "spine-sbrt-16gy-1fx"
    clinic = tmp_path / "clinic.json"
    clinic.write_bytes(b'{"format": "planner-protocol"}')
    record = ProtocolRecord.read_from(clinic)
    assert record == ProtocolRecord(None, str(clinic), hashlib.sha256(clinic.read_bytes()).hexdigest())
    assert record.path == record.load_name == str(clinic)
    dose = tmp_path / "RTDOSE.dcm"
    dose.write_bytes(b"dose")
    course = EarlierCourseRecord.read_from(dose, fractions=10)
    assert course.files() == ((str(dose), hashlib.sha256(b"dose").hexdigest()),) and course.fractions == 10
    assert changed_since_saved(str(dose), course.rt_dose_sha256) is None
    dose.write_bytes(b"dose, changed")
    assert changed_since_saved(str(dose), course.rt_dose_sha256) == (
        f"{dose} changed since the plan was saved (SHA-256 differs)")
    dose.unlink()
    assert changed_since_saved(str(dose), course.rt_dose_sha256) == f"{dose} is missing"
