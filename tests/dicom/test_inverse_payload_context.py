"""The IMRT plan an RT Plan embeds carries its protocol and earlier course (issue 18): the same
plan_context section the plan file writes, covered by the creator's signature; an RT Plan exported
before the section existed (tests/data/tg119-5mm-export, made at 08d4d2a) opens unchanged; and
`planner imrt --protocol ... --prior-dose ... --out` embeds them (refusing a protocol file changed
while the plan was made).

What is compared comes from outside the code under test: the embedded JSON read from the element's
bytes with pydicom and json, the expected section written out by hand (tests/core/
test_inverse_plan_file_protocol.good_dict), the files' SHA-256 from hashlib."""

from __future__ import annotations

import hashlib
import json
import re
from argparse import Namespace
from dataclasses import replace
from pathlib import Path

import pytest
from pydicom import dcmread

from planner.cli.imrt_command import _context_record
from planner.cli.shared import InputError
from planner.core.inverse_plan_file import VolumeSource
from planner.core.protocols.protocol import load_protocol
from planner.dicom.inverse_payload import INVERSE_CREATOR, InverseSource, read_inverse_payload
from planner.dicom.plan_payload import PLAN_ELEMENT, PRIVATE_GROUP
from planner.dicom.signatures import CREATOR, SignatureStatus, sign_file, verify_file
from planner.dicom.signed_plan import DRAFT_MESSAGE, open_signed_plan
from tests.cli.test_imrt_reirradiation import clinic_copy, run
from tests.core.test_inverse_plan_file_protocol import CONTEXT, good_dict
from tests.dicom.signature_fixtures import signer
from tests.dicom.test_imrt_signature import small_tg119_export
from tests.dicom.test_imrt_signed_plan import CLINIC
from tests.dicom.test_prior_dose_read import spine_case
from tests.tg119_recorded_plan import TG119_EXPORT

SOURCE = VolumeSource.ct("/data/spine/ct", 10.0)   # the payload is not checked against the volume it names


def embedded_json(path: Path) -> dict:
    """The embedded plan's JSON as pydicom and json read it from the private element."""
    ds = dcmread(path)
    return json.loads(ds.private_block(PRIVATE_GROUP, INVERSE_CREATOR)[PLAN_ELEMENT].value)


def same_context(found, expected) -> bool:
    """Equal but for the mapping's order (the embedded JSON's keys are sorted, a mapping has no order)."""
    def unordered(c):
        return replace(c, protocol=replace(c.protocol, mapping=tuple(sorted(c.protocol.mapping))))
    return unordered(found) == unordered(expected)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return small_tg119_export(tmp_path_factory.mktemp("context") / "export",
                              lambda plan: InverseSource(plan, SOURCE, "model", "calibration", CONTEXT))[1].rt_plan


def test_the_rt_plan_embeds_the_plan_context_as_the_plan_file_writes_it(exported):
    data = embedded_json(exported)
    assert data["plan_context"] == good_dict()["plan_context"]
    assert data["format_version"] == 2
    embedded, _ = read_inverse_payload(dcmread(exported))
    assert same_context(embedded.context, CONTEXT) and embedded.volume_source == SOURCE


def test_the_signature_covers_the_plan_context(exported, tmp_path):
    identity, _, _ = signer(tmp_path, "Dr A. Oncologist")
    signed = tmp_path / "signed.dcm"
    assert sign_file(exported, signed, identity, CREATOR).valid
    opened = open_signed_plan(signed, [identity.certificate], clinic=CLINIC)
    assert opened.status is SignatureStatus.SIGNED and same_context(opened.plan.context, CONTEXT)

    ds = dcmread(signed)
    element = ds.private_block(PRIVATE_GROUP, INVERSE_CREATOR)[PLAN_ELEMENT]
    data = json.loads(element.value)
    data["plan_context"]["protocol"]["mapping"]["SpinalCord"] = "Oesophagus"   # another organ held to the cord's limit
    element.value = json.dumps(data)
    tampered = tmp_path / "tampered.dcm"
    ds.save_as(tampered)
    (check,) = verify_file(tampered, [identity.certificate])
    assert not check.valid
    assert open_signed_plan(tampered, [identity.certificate], clinic=CLINIC).status is SignatureStatus.BROKEN


def test_an_rt_plan_exported_before_the_section_opens_unchanged():
    path = TG119_EXPORT / "RTPLAN.dcm"
    data = embedded_json(path)
    assert data["format_version"] == 1 and "plan_context" not in data
    opened = open_signed_plan(path, clinic=CLINIC)
    assert opened.plan.context is None
    assert opened.plan.volume_source == VolumeSource("tg119", data["planning_volume"]["spacing_mm"])
    assert [o.structure for o in opened.plan.plan.objectives] == [o["structure"] for o in data["objectives"]]
    assert opened.status is SignatureStatus.UNSIGNED and opened.message == DRAFT_MESSAGE


def test_planner_imrt_out_embeds_the_protocol_and_the_earlier_course(tmp_path):
    case = spine_case(tmp_path / "spine")
    protocol = clinic_copy(tmp_path)
    out = tmp_path / "plan"
    status, _ = run(["imrt", "--ct", str(case.ct_folder), "--protocol", str(protocol), "--grid-mm", "5",
                     "--iterations", "5", "--prior-dose", str(case.prior_dose), "--prior-plan", str(case.prior_plan),
                     "--out", str(out)])
    assert status == 0
    section = embedded_json(out / "RTPLAN.dcm")["plan_context"]
    sha = {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in (protocol, case.prior_dose, case.prior_plan)}
    assert section["protocol"]["file"] == str(protocol.resolve())
    assert section["protocol"]["sha256"] == sha[protocol]
    # the protocol's own structures, each found under its own name on the phantom's CT
    own = [s["name"] for s in json.loads(protocol.read_text(encoding="utf-8"))["structures"]]
    assert section["protocol"]["mapping"] == {name: name for name in own}
    assert section["earlier_course"] == {
        "rt_dose": str(case.prior_dose.resolve()), "rt_dose_sha256": sha[case.prior_dose],
        "rt_plan": str(case.prior_plan.resolve()), "rt_plan_sha256": sha[case.prior_plan], "fractions": None}


def test_a_protocol_file_changed_while_the_plan_was_made_is_not_recorded(tmp_path):
    """planner imrt records the protocol's SHA-256 when it exports, after the planning: a file that
    says something else by then is refused, never recorded as the one the plan was made on."""
    path = clinic_copy(tmp_path)
    protocol = load_protocol(path)
    chosen = Namespace(protocol=protocol, mapping={s.name: s.name for s in protocol.structures})
    args = Namespace(protocol=str(path), prior_dose=None, prior_plan=None, prior_fractions=None)
    assert _context_record(args, chosen).protocol.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    data = json.loads(path.read_text(encoding="utf-8"))
    data["title"] += " (edited)"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(f"the protocol {path} changed while the plan was made; ")):
        _context_record(args, chosen)
