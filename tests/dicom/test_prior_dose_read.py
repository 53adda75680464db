"""Reading an earlier course (issue 18, re-irradiation): the spine phantom's RT Dose and RT Plan
(scripts/make_spine_phantom.py) against the analytic dose they were written from and pydicom's own
reading, and pydicom's RT Dose test file as foreign input: refused as it is (RELATIVE, BEAM), read
once made a whole-plan Gy dose, its grid as pydicom reads the file."""

import datetime as dt
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from planner.core.reirradiation import ReirradiationError
from planner.dicom.prior_dose_read import FRACTIONS_FROM_PLAN, FRACTIONS_GIVEN, read_prior_course
from plugins.imrt_photon.spine_phantom import prior_dose_gy

ROOT = Path(__file__).resolve().parents[2]


def spine_case(folder: Path, grid_mm: float = 5.0):
    """scripts/make_spine_phantom.py's case written into ``folder`` (its SpineCase)."""
    spec = importlib.util.spec_from_file_location("make_spine_phantom", ROOT / "scripts" / "make_spine_phantom.py")
    make = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = make      # its dataclass looks its module up while being made
    spec.loader.exec_module(make)
    return make.write_spine_case(folder, grid_mm)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return spine_case(tmp_path_factory.mktemp("spine"))


def test_the_phantoms_earlier_course_reads_back(case):
    prior = read_prior_course(case.prior_dose, case.prior_plan)
    plan, dose, ct = (dcmread(p) for p in (case.prior_plan, case.prior_dose, case.ct_files[0]))
    assert prior.fractions == plan.FractionGroupSequence[0].NumberOfFractionsPlanned == 10
    assert prior.fractions_source == FRACTIONS_FROM_PLAN
    assert prior.plan_date == dt.date(2024, 3, 4)
    assert prior.prescribed_gy == 30.0
    assert prior.frame_of_reference_uid == dose.FrameOfReferenceUID == ct.FrameOfReferenceUID
    # the grid as pydicom reads the Image Plane and Grid Frame Offset Vector
    x0, y0, z0 = (float(v) for v in dose.ImagePositionPatient)
    np.testing.assert_allclose(prior.grid.x_mm, x0 + np.arange(dose.Columns) * float(dose.PixelSpacing[1]))
    np.testing.assert_allclose(prior.grid.y_mm, y0 + np.arange(dose.Rows) * float(dose.PixelSpacing[0]))
    np.testing.assert_allclose(prior.grid.z_mm, z0 + np.array([float(v) for v in dose.GridFrameOffsetVector]))
    # the analytic dose it was written from, within the file's quantisation step
    assert np.abs(prior.dose_gy - prior_dose_gy(prior.grid)).max() <= float(dose.DoseGridScaling)


def test_fractions_unknown_are_refused(case):
    with pytest.raises(ReirradiationError) as error:
        read_prior_course(case.prior_dose)
    assert str(error.value) == "the earlier course's fractions are unknown: give its RT Plan or --prior-fractions"
    given = read_prior_course(case.prior_dose, fractions=10)
    assert (given.fractions, given.fractions_source, given.plan_date) == (10, FRACTIONS_GIVEN, None)


def test_a_plan_the_dose_does_not_reference_is_refused(case):
    with pytest.raises(ReirradiationError, match="references RT Plan .*, not the RT Plan given"):
        read_prior_course(case.prior_dose, case.other_frame_plan)


def test_fractions_that_contradict_the_plan_are_refused(case):
    with pytest.raises(ReirradiationError, match="plans 10 fractions, but 5 were given"):
        read_prior_course(case.prior_dose, case.prior_plan, fractions=5)


def test_pydicoms_rt_dose_is_refused_as_it_is():
    path = get_testdata_file("rtdose.dcm")
    with pytest.raises(ReirradiationError) as error:
        read_prior_course(path, fractions=5)
    assert str(error.value) == ("the earlier course's RT Dose has Dose Units RELATIVE, not GY: its dose in Gy is "
                                "unknown")


def test_a_beam_dose_is_refused(tmp_path):
    ds = dcmread(get_testdata_file("rtdose.dcm"))
    ds.DoseUnits = "GY"
    ds.save_as(tmp_path / "beam.dcm")
    with pytest.raises(ReirradiationError) as error:
        read_prior_course(tmp_path / "beam.dcm", fractions=5)
    assert str(error.value) == ("the earlier course's RT Dose has Dose Summation Type BEAM, not PLAN: it is not "
                                "the dose of the whole course")


def test_pydicoms_rt_dose_made_a_plan_dose_reads_as_pydicom_reads_it(tmp_path):
    ds = dcmread(get_testdata_file("rtdose.dcm"))
    ds.DoseUnits, ds.DoseSummationType = "GY", "PLAN"
    ds.save_as(tmp_path / "plan.dcm")
    prior = read_prior_course(tmp_path / "plan.dcm", fractions=5)
    assert prior.fractions == 5 and prior.plan_date is None and prior.rtplan_path is None
    assert prior.frame_of_reference_uid == "2.22.222.2.222222.2.2222222222222222222222222222.2"
    # 10 × 10 pixels of 10 mm, 15 frames 5 mm apart from z = -761.87 mm (the file's own values)
    assert prior.grid.shape == (10, 10, 15)
    np.testing.assert_allclose(prior.grid.x_mm, 189.43125 + 10.0 * np.arange(10))
    np.testing.assert_allclose(prior.grid.y_mm, 199.43125 + 10.0 * np.arange(10))
    np.testing.assert_allclose(prior.grid.z_mm, -761.87 + 5.0 * np.arange(15))
    # dose [x, y, z] = pixel (frame z, row y, column x) × Dose Grid Scaling 1e-6 Gy
    pixels = ds.pixel_array.astype(np.float64)
    np.testing.assert_allclose(prior.dose_gy, pixels.transpose(2, 1, 0) * 1e-6)
    assert prior.dose_gy[3, 7, 11] == pytest.approx(pixels[11, 7, 3] * 1e-6)


def test_a_plan_without_a_date_leaves_the_date_unknown(case, tmp_path):
    plan = dcmread(case.prior_plan)
    plan.RTPlanDate = ""       # Type 2: present, may be empty
    plan.save_as(tmp_path / "RTPLAN_undated.dcm")
    prior = read_prior_course(case.prior_dose, tmp_path / "RTPLAN_undated.dcm")
    assert (prior.fractions, prior.plan_date) == (10, None)
    assert "plan date unknown" in prior.summary()
