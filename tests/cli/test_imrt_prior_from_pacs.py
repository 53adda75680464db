"""`planner imrt ... --prior-pacs AE@HOST:PORT --out DIR` (issue 18, point 4): the earlier course fetched from a
real PACS (Orthanc, holding the spine phantom's CT, structure set, earlier RT Dose and RT Plan) plans exactly as
the same files given with --prior-dose/--prior-plan: the re-irradiation figures of both runs are equal to the
last bit, the fetched files are the stored objects, and the exported RT Plan records them in OUT/earlier-course/
with their SHA-256 (hashlib's, of the files on disk). Two RT Doses without --prior-dose-uid, an unknown UID, an
RT Plan the PACS lacks without --prior-fractions and --prior-pacs without --out are refused in one line.

The plan as tests/cli/test_imrt_reirradiation.py makes it (the clinic's copy of spine-sbrt-16gy-1fx at 5 mm),
with 20 iterations: the comparison needs the same plan twice, not a good one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pydicom import dcmread

from planner.dicom.inverse_payload import read_inverse_payload
from tests.cli.test_imrt_reirradiation import clinic_copy
from tests.cli_runner import planner
from tests.dicom.test_prior_dose_fetch import (assert_same_object, case, orthanc, pacs,  # noqa: F401  (fixtures)
                                               second_dose, study_text)
from tests.dicom.orthanc_server import orthanc_available

pytestmark = pytest.mark.skipif(not orthanc_available(), reason="Debian's Orthanc is needed")


def imrt(case, protocol: Path, *more):
    return planner("imrt", "--ct", case.ct_folder, "--protocol", protocol, "--grid-mm", "5", "--iterations", "20",
                   *more)


def one_line(ran) -> str:
    assert ran.returncode == 2 and ran.stdout == ""
    assert len(ran.stderr.strip().splitlines()) == 1, ran.stderr
    return ran.stderr.strip()


def test_the_earlier_course_from_the_pacs_plans_as_the_same_files_given(case, orthanc, tmp_path):
    protocol, out = clinic_copy(tmp_path), tmp_path / "plan"
    fetched = imrt(case, protocol, "--prior-pacs", pacs(orthanc), "--out", out, "--json")
    assert fetched.returncode == 0, fetched.stderr
    given = imrt(case, protocol, "--prior-dose", case.prior_dose, "--prior-plan", case.prior_plan, "--json")
    assert given.returncode == 0, given.stderr
    a, b = json.loads(fetched.stdout), json.loads(given.stdout)

    earlier = out / "earlier-course"
    assert sorted(p.name for p in earlier.iterdir()) == ["RTDOSE_prior.dcm", "RTPLAN_prior.dcm"]
    assert_same_object(earlier / "RTDOSE_prior.dcm", case.prior_dose)
    assert_same_object(earlier / "RTPLAN_prior.dcm", case.prior_plan)
    for block in ("reirradiation", "delivered_reirradiation"):
        mine, theirs = a[block], b[block]
        assert (mine["prior"].pop("rt_dose"), mine["prior"].pop("rt_plan")) == (str(earlier / "RTDOSE_prior.dcm"),
                                                                                str(earlier / "RTPLAN_prior.dcm"))
        assert (theirs["prior"].pop("rt_dose"), theirs["prior"].pop("rt_plan")) == (str(case.prior_dose),
                                                                                    str(case.prior_plan))
        assert mine == theirs, block   # every limit's value, met, the fractions and date read from the RT Plan
    # not vacuous: the four limits of the clinic's copy judged on numbers, the fractions from the fetched plan
    assert len(a["reirradiation"]["limits"]) == 4 and a["reirradiation"]["prior"]["fractions"] == 10
    assert all(isinstance(v, float) for row in a["reirradiation"]["limits"] for k, v in row.items()
               if k.startswith("value_"))

    context = read_inverse_payload(dcmread(out / "RTPLAN.dcm"))[0].context
    course = context.earlier_course
    assert (course.rt_dose, course.rt_plan, course.fractions) == (str(earlier / "RTDOSE_prior.dcm"),
                                                                  str(earlier / "RTPLAN_prior.dcm"), None)
    assert course.rt_dose_sha256 == hashlib.sha256((earlier / "RTDOSE_prior.dcm").read_bytes()).hexdigest()
    assert course.rt_plan_sha256 == hashlib.sha256((earlier / "RTPLAN_prior.dcm").read_bytes()).hexdigest()


def test_two_rt_doses_without_a_uid_are_refused_listing_both(case, orthanc, second_dose, tmp_path):
    first = dcmread(case.prior_dose, stop_before_pixels=True)
    said = one_line(imrt(case, clinic_copy(tmp_path), "--prior-pacs", pacs(orthanc), "--out", tmp_path / "plan"))
    head = f"planner imrt: patient ID {first.PatientID!r} has 2 RT Doses on the PACS: "
    tail = "; name the earlier course's by its SOP Instance UID (--prior-dose-uid)"
    assert said.startswith(head) and said.endswith(tail)
    assert sorted(said[len(head):-len(tail)].split("; ")) == sorted([study_text(first), study_text(second_dose)])
    assert not (tmp_path / "plan").exists()


def test_an_unknown_rt_dose_uid_is_refused(case, orthanc, tmp_path):
    first = dcmread(case.prior_dose, stop_before_pixels=True)
    said = one_line(imrt(case, clinic_copy(tmp_path), "--prior-pacs", pacs(orthanc), "--prior-dose-uid", "1.2.3.4",
                         "--out", tmp_path / "plan"))
    assert said == (f"planner imrt: the PACS holds no RT Dose 1.2.3.4 of patient ID {first.PatientID!r} "
                    f"(its RT Doses: {study_text(first)})")


def test_an_rt_plan_the_pacs_lacks_asks_for_the_fractions(case, orthanc, second_dose, tmp_path):
    plan_uid = dcmread(case.other_frame_plan, stop_before_pixels=True).SOPInstanceUID
    said = one_line(imrt(case, clinic_copy(tmp_path), "--prior-pacs", pacs(orthanc), "--prior-dose-uid",
                         second_dose.SOPInstanceUID, "--out", tmp_path / "plan"))
    assert said == (f"planner imrt: the RT Dose {second_dose.SOPInstanceUID} references RT Plan {plan_uid}, which the "
                    f"PACS does not hold: give the earlier course's fractions with --prior-fractions")
    assert not (tmp_path / "plan" / "earlier-course").exists()   # the next run fetches it anew
    # with them the fetched dose is read, and refused for what it is: on another frame of reference
    said = one_line(imrt(case, clinic_copy(tmp_path), "--prior-pacs", pacs(orthanc), "--prior-dose-uid",
                         second_dose.SOPInstanceUID, "--prior-fractions", "10", "--out", tmp_path / "plan"))
    ct_frame = dcmread(case.ct_files[0], stop_before_pixels=True).FrameOfReferenceUID
    assert said == (f"planner imrt: the earlier course's dose is on frame of reference "
                    f"{second_dose.FrameOfReferenceUID}, the CT on {ct_frame}: it cannot be placed without a "
                    f"registration, which Planner does not do")


def test_prior_pacs_needs_out_and_is_one_source(case, orthanc, tmp_path):
    protocol = clinic_copy(tmp_path)
    assert one_line(imrt(case, protocol, "--prior-pacs", pacs(orthanc))) == (
        "planner imrt: --prior-pacs needs --out: the earlier course is fetched into OUT/earlier-course/ and recorded "
        "with the plan")
    assert one_line(imrt(case, protocol, "--prior-pacs", pacs(orthanc), "--prior-dose", case.prior_dose, "--out",
                         tmp_path / "plan")) == (
        "planner imrt: --prior-dose and --prior-pacs are two sources of the earlier course: give one")
    assert one_line(imrt(case, protocol, "--prior-pacs", "ORTHANC-nowhere", "--out", tmp_path / "plan")) == (
        "planner imrt: --prior-pacs 'ORTHANC-nowhere' is not AE@HOST:PORT (e.g. ORTHANC@pacs.clinic:4242)")
    assert not (tmp_path / "plan").exists()
