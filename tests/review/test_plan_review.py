"""The physicist's review of a real signed package (demo, 100 kV, Ø 20 mm cone, the real Monte Carlo
engine): signatures, recomputation, second check, consistency and the approval rules."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from planner.dicom.package import sign_plan_package, write_plan_package
from planner.dicom.signed_plan import SignedPlanError
from planner.dose.grid_axes import dose_grid_axes
from planner.imaging.planning_image import calibrated_image
from planner.review.plan_review import review_plan
from planner.techniques.beam_lookup import beam_key, machine_commissioning
from planner.techniques.new_plan import open_demo_case
from planner.techniques.registry import discover_techniques
from tests.dicom.signature_fixtures import flip_byte_after, signer


@functools.cache
def real_case():
    """(registry, planning image, plan, technique, dose, beam data): the demo at 100 kV with the Ø 20 mm
    cone (its 90 % isodose reaches the lesion), dosed by the plugin's own engine as the window does."""
    registry = discover_techniques()
    planning_image, plan = open_demo_case(registry)
    technique = registry.get(plan.setup.technique_id)
    plan = plan.with_setup(energy_id="100kV", applicator_id="cone-20mm")
    image = calibrated_image(planning_image.image, plan)
    dose = technique.dose_engine.compute(plan, dose_grid_axes(image),
                                         machine_commissioning(technique, plan.setup.machine_id))
    beam = technique.dose_engine.beam_data(*beam_key(technique, plan))
    return registry, planning_image, plan, technique, dose, beam


def signed_package(folder: Path, keys: Path, *, dose=None, plan=None):
    """A package written and signed by the physician; returns (folder, creator identity, creator cert path).
    The demo's own package is made once and copied (writing and signing draws the report: seconds)."""
    if dose is None and plan is None:
        template, identity, cert = _template_package()
        shutil.copytree(template, folder)
        return folder, identity, Path(shutil.copy(cert, keys / cert.name))
    return _write_and_sign(folder, keys, dose=dose, plan=plan)


@functools.cache
def _template_package():
    scratch = Path(tempfile.mkdtemp(prefix="planner-review-template-"))
    atexit.register(shutil.rmtree, scratch, True)
    return _write_and_sign(scratch / "plan", scratch)


def _write_and_sign(folder: Path, keys: Path, *, dose=None, plan=None):
    _, planning_image, case_plan, technique, case_dose, beam = real_case()
    plan = plan or case_plan
    dose = dose or case_dose
    write_plan_package(folder, plan, dose, planning_image, technique, beam_data=beam)
    identity, _key, cert = signer(keys, "Dr A. Oncologist")
    sign_plan_package(folder, identity, plan=plan, dose_result=dose, planning_image=planning_image,
                      technique=technique, beam_data=beam)
    return folder, identity, cert


def review(path, *trusted, **kw):
    return review_plan(path, trusted, registry=real_case()[0], **kw)


@pytest.fixture
def package(tmp_path):
    return signed_package(tmp_path / "plan", tmp_path)


def test_a_signed_plan_with_a_trusted_creator_agrees_and_may_be_approved(package):
    folder, doctor, _ = package
    result = review(folder, doctor.certificate)
    assert result.can_approve, result.reasons
    assert result.reasons == ()
    assert abs(result.second_check_difference_percent) < 0.5
    assert result.second_check.verdict == "agree"
    assert result.recomputation.reproduced
    assert [f.code for f in result.findings] == ["regimen", "commissioning", "field-width", "energy-depth", "bed",
                                                 "dates"]
    assert all(f.severity != "stop" for f in result.findings)
    [line] = result.signatures
    assert (line.role, line.signer, line.status, line.trusted) == ("creator", "Dr A. Oncologist, Test Clinic",
                                                                    "intact", True)
    assert result.approval.status == "UNAPPROVED"
    assert result.as_dict()["second_check_difference_percent"] == result.second_check_difference_percent


def test_an_untrusted_creator_cannot_be_approved_and_the_reason_names_the_signer(package):
    folder, _, _ = package
    result = review(folder)
    assert not result.can_approve
    assert any("Dr A. Oncologist" in r and "not trusted" in r for r in result.reasons), result.reasons


def test_an_unsigned_draft_cannot_be_approved(tmp_path):
    _, planning_image, plan, technique, dose, beam = real_case()
    write_plan_package(tmp_path / "draft", plan, dose, planning_image, technique, beam_data=beam)
    result = review(tmp_path / "draft")
    assert not result.can_approve
    assert any("no creator" in r for r in result.reasons)


def test_a_byte_changed_after_the_creator_signature_is_named(package):
    folder, doctor, _ = package
    flip_byte_after(folder / "RTPLAN.dcm", b"Draft exported by Planner", 2)
    result = review(folder, doctor.certificate)
    assert not result.can_approve
    assert any("signature 1 (creator, Dr A. Oncologist" in r and "changed" in r for r in result.reasons), \
        result.reasons


def test_signed_numbers_that_the_engine_does_not_reproduce_stop_with_both_reasons(tmp_path):
    _, _, _, _, dose, _ = real_case()
    tampered = replace(dose, treatment_time_min=dose.treatment_time_min * 1.06)
    folder, doctor, _ = signed_package(tmp_path / "plan", tmp_path, dose=tampered)
    result = review(folder, doctor.certificate)
    assert not result.can_approve
    assert any(r.startswith("the signed numbers are not reproduced") and "+6.00 %" in r for r in result.reasons)
    assert any(r.startswith("second check difference +6.00 % exceeds the stop level 5 %") for r in result.reasons)
    assert result.second_check.verdict == "stop"
    assert result.second_check_difference_percent == pytest.approx(6.0, abs=0.01)


def test_a_clinics_stricter_action_levels_are_applied(tmp_path):
    _, _, _, _, dose, _ = real_case()
    tampered = replace(dose, treatment_time_min=dose.treatment_time_min * 1.03)
    folder, doctor, _ = signed_package(tmp_path / "plan", tmp_path, dose=tampered)
    lenient = review(folder, doctor.certificate)
    assert lenient.second_check.verdict == "review"   # 3 %: looked at, not a stop by itself
    assert not any(r.startswith("second check") for r in lenient.reasons)
    strict = review_plan(folder, (doctor.certificate,), registry=real_case()[0],
                         action_levels=replace(lenient.second_check.action_levels, review_percent=1.0,
                                               stop_percent=2.5))
    assert any(r.startswith("second check difference +3.00 % exceeds the stop level 2.5 %") for r in strict.reasons)


def test_what_is_not_a_planner_rt_plan_is_refused(tmp_path):
    (tmp_path / "x.dcm").write_bytes(b"not dicom")
    with pytest.raises(SignedPlanError, match="not a DICOM file"):
        review(tmp_path / "x.dcm")


def test_without_its_planning_image_the_dose_cannot_be_recomputed_and_the_plan_not_approved(tmp_path):
    plan = replace(real_case()[2], image_path=str(tmp_path / "moved" / "demo_ultrasound.dcm"))
    folder, doctor, _ = signed_package(tmp_path / "plan", tmp_path, plan=plan)
    (folder / "US.dcm").unlink()   # the image the package carries is gone too
    result = review(folder, doctor.certificate)
    assert not result.can_approve and result.second_check is None
    assert any("is not on this computer" in r and "the dose cannot be recomputed" in r for r in result.reasons), \
        result.reasons
