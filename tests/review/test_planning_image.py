"""On another computer (or after a PACS fetch) the plan's recorded image path does not exist: the
review uses the ultrasound beside the RT Plan that its structure set references, and nothing else."""

import shutil
from dataclasses import replace

from pydicom import dcmread
from pydicom.uid import generate_uid

from planner.dicom.planning_image import locate_planning_image
from planner.dicom.signed_plan import open_signed_plan
from planner.imaging.demo import DEMO_IMAGE_NAME, demo_case_path
from planner.review.plan_review import review_plan
from tests.review.test_plan_review import real_case, signed_package


def test_the_review_finds_the_referenced_ultrasound_beside_the_plan(tmp_path):
    registry, planning_image, plan, technique, dose, beam = real_case()
    elsewhere = tmp_path / "planner-workstation" / DEMO_IMAGE_NAME
    elsewhere.parent.mkdir()
    shutil.copy(demo_case_path() / DEMO_IMAGE_NAME, elsewhere)
    plan = replace(plan, image_path=str(elsewhere))
    folder, doctor, _ = signed_package(tmp_path / "plan", tmp_path, plan=plan, dose=dose)
    shutil.rmtree(elsewhere.parent)                 # the physicist's computer has no such path

    signed = open_signed_plan(folder, [doctor.certificate])
    path, how = locate_planning_image(signed)       # the package carries the planning image
    assert path == str(folder / "US.dcm") and "structure set references" in how
    (folder / "US.dcm").unlink()
    path, how = locate_planning_image(signed)
    assert path is None and "not on this computer" in how
    no_image = review_plan(folder, [doctor.certificate], registry=registry)
    assert not no_image.can_approve and any("not on this computer" in r for r in no_image.reasons)

    # Another patient's or another study's ultrasound beside it is never taken for the planning image.
    stranger = dcmread(demo_case_path() / DEMO_IMAGE_NAME)
    stranger.SOPInstanceUID = generate_uid()
    stranger.save_as(folder / "0-other-us.dcm")
    assert locate_planning_image(signed)[0] is None

    # The study as fetched from the PACS: the ultrasound lands beside the RT objects.
    shutil.copy(demo_case_path() / DEMO_IMAGE_NAME, folder / "1.2.3-us.dcm")
    path, how = locate_planning_image(signed)
    assert path == str(folder / "1.2.3-us.dcm") and "structure set references" in how
    result = review_plan(folder, [doctor.certificate], registry=registry)
    assert result.can_approve, result.reasons
    assert abs(result.second_check_difference_percent) < 0.5
