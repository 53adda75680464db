"""The IMRT second check: an independent Monte Carlo (ompMC, in the reference environment) of the exported
RT Plan, calibrated by itself, against published 6 MV data and against the plan's dose.

The Monte Carlo's answers are recorded in tests/reference/imrt_second_check_recorded.json under the
digest of their request and of the worker script (python -m tests.reference.record_imrt_second_check
writes it); a request that differs runs the Monte Carlo (minutes). Each test works on a copy of that
file, so a live run never changes the repository.
"""

from __future__ import annotations

import ast
import json
import datetime as dt
import shutil
from decimal import Decimal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, RTPlanStorage, generate_uid

from planner.core.errors import Cancelled, PlannerError
from planner.core.volume import PlanningVolume, VoxelGrid
from planner.review import imrt_second_check as isc
from planner.review.second_check import AGREE, REVIEW, STOP
from tests.tg119_recorded_plan import TG119_GRID_MM, tg119_recorded_export

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
RECORDED = REFERENCE / "imrt_second_check_recorded.json"
CREATED = dt.datetime(2024, 1, 2, 3, 4, 5)
# The water phantom's surface is the voxel edge y = -2.5 mm; the voxel centre nearest 10 cm depth is y = 95 mm
# (97.5 mm deep), and its scoring region (3 voxels along the beam) spans 90-105 mm of depth.
WATER_POINT_MM = (0.0, 95.0, 0.0)
WATER_REGION_DEPTH_MM = (90.0, 105.0)
WATER_HISTORIES = 12_000_000   # 4 x the plan default: a 1 % comparison needs the MC's k=1 well below 1 %

needs_reference = pytest.mark.skipif(not isc.reference_python().is_file(),
                                     reason="the reference environment (.venv-reference) is not installed")


@pytest.fixture
def cache(tmp_path) -> Path:
    copy = tmp_path / "recorded.json"
    if RECORDED.is_file():
        shutil.copy(RECORDED, copy)
    return copy


# ----------------------------------------------------------------------------------- packages


def water_phantom_package(folder: Path, mu: float = 100.0) -> Path:
    """Water 30 x 30 x 30 cm (5 mm voxels), surface at y = -2.5 mm, isocentre on it (SSD 100 cm), one open
    10 x 10 cm2 field from gantry 0 at `mu` MU; no RT Dose (the point is given)."""
    from planner.dicom.ct_series_writer import write_ct_series

    folder.mkdir(parents=True, exist_ok=True)
    x = np.arange(-150.0, 150.1, 5.0)
    y = np.arange(0.0, 300.1, 5.0)            # voxel edges from -2.5 mm: the surface
    grid = VoxelGrid(x, y, x.copy())
    density = np.ones(grid.shape, dtype=np.float32)
    write_ct_series(PlanningVolume(grid, density, {"Body": density > 0}), folder, "Water^Phantom", "WATER",
                    uid_seed="water-phantom", created=CREATED)
    ct = pydicom.dcmread(next(folder.glob("CT*.dcm")))
    write_open_field_plan(folder / "RTPLAN.dcm", ct, isocentre_mm=(0.0, -2.5, 0.0), mu=mu)
    return folder


def write_open_field_plan(path: Path, ct: Dataset, isocentre_mm, mu: float, field_mm: float = 100.0) -> None:
    """A one-beam RT Plan written with pydicom: jaws and MLC (40 pairs of 10 mm) open to the field."""
    half = field_mm / 2
    boundaries = np.arange(-200.0, 200.1, 10.0)
    centres = 0.5 * (boundaries[:-1] + boundaries[1:])
    inside = np.abs(centres) < half
    leaves = [(-half if o else 0.0) for o in inside] + [(half if o else 0.0) for o in inside]

    def position(kind, values):
        item = Dataset()
        item.RTBeamLimitingDeviceType = kind
        item.LeafJawPositions = [f"{v:g}" for v in values]
        return item

    def device(kind, pairs, bounds=None):
        item = Dataset()
        item.RTBeamLimitingDeviceType = kind
        item.NumberOfLeafJawPairs = pairs
        if bounds is not None:
            item.LeafPositionBoundaries = [f"{v:g}" for v in bounds]
        return item

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = RTPlanStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = RTPlanStorage, ds.file_meta.MediaStorageSOPInstanceUID, "RTPLAN"
    ds.PatientName, ds.PatientID = ct.PatientName, ct.PatientID
    ds.StudyInstanceUID, ds.FrameOfReferenceUID = ct.StudyInstanceUID, ct.FrameOfReferenceUID
    ds.SeriesInstanceUID = generate_uid()
    setup = Dataset()
    setup.PatientSetupNumber, setup.PatientPosition = 1, "HFS"
    ds.PatientSetupSequence = Sequence([setup])
    group = Dataset()
    group.FractionGroupNumber, group.NumberOfFractionsPlanned, group.NumberOfBeams = 1, 1, 1
    ref = Dataset()
    ref.ReferencedBeamNumber, ref.BeamMeterset = 1, f"{mu:g}"
    group.ReferencedBeamSequence = Sequence([ref])
    ds.FractionGroupSequence = Sequence([group])
    beam = Dataset()
    beam.BeamNumber, beam.BeamName, beam.BeamType, beam.RadiationType = 1, "AP", "STATIC", "PHOTON"
    beam.TreatmentDeliveryType, beam.SourceAxisDistance = "TREATMENT", "1000"
    beam.BeamLimitingDeviceSequence = Sequence([device("ASYMX", 1), device("ASYMY", 1),
                                                device("MLCX", boundaries.size - 1, boundaries)])
    cp0, cp1 = Dataset(), Dataset()
    cp0.ControlPointIndex, cp0.CumulativeMetersetWeight, cp0.NominalBeamEnergy = 0, "0", "6"
    cp0.GantryAngle, cp0.BeamLimitingDeviceAngle, cp0.PatientSupportAngle = "0", "0", "0"
    cp0.IsocenterPosition = [f"{v:g}" for v in isocentre_mm]
    cp0.BeamLimitingDevicePositionSequence = Sequence([position("ASYMX", (-half, half)),
                                                       position("ASYMY", (-half, half)), position("MLCX", leaves)])
    cp1.ControlPointIndex, cp1.CumulativeMetersetWeight = 1, "1"
    beam.FinalCumulativeMetersetWeight, beam.NumberOfControlPoints = "1", 2
    beam.ControlPointSequence = Sequence([cp0, cp1])
    ds.BeamSequence = Sequence([beam])
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture(scope="module")
def tg119(tmp_path_factory) -> Path:
    """`planner imrt --tg119 --grid-mm 5 --out DIR` as stored (tests/tg119_recorded_plan.py): the deliverable
    plan with CT, structures, RT Dose, whose Monte Carlo answer is recorded."""
    return tg119_recorded_export(tmp_path_factory, "tg119")


def scaled_copy(folder: Path, to: Path, factor: float) -> Path:
    """The package with every BeamMeterset multiplied by `factor` after export, in decimal, every digit kept
    (the check's request then has the same relative weights to ~1e-16, and reuses the recorded run)."""
    shutil.copytree(folder, to)
    ds = pydicom.dcmread(to / "RTPLAN.dcm")
    for item in ds.FractionGroupSequence[0].ReferencedBeamSequence:
        item.BeamMeterset = str(Decimal(str(item.BeamMeterset)) * Decimal(str(factor)))
    ds.save_as(to / "RTPLAN.dcm")
    return to


# ---------------------------------------------------------------------------------------- tests


def test_the_module_shares_no_code_with_the_pencil_beam_engine():
    """It imports nothing of plugins/ (the engine, its beam data, its MU calibration), and the worker nothing of
    Planner."""
    for path, forbidden in ((Path(isc.__file__), ("plugins",)), (isc.WORKER, ("planner", "plugins"))):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        assert not [n for n in names if n.split(".")[0] in forbidden], (path.name, names)


def test_default_action_levels_are_tg219():
    assert (isc.DEFAULT_ACTION_LEVELS.review_percent, isc.DEFAULT_ACTION_LEVELS.stop_percent) == (3.0, 5.0)
    assert isc.DEFAULT_ACTION_LEVELS.verdict(2.9) == AGREE and isc.DEFAULT_ACTION_LEVELS.verdict(-5.1) == STOP
    assert issubclass(isc.ImrtSecondCheckError, PlannerError) and issubclass(isc.ImrtSecondCheckError, ValueError)


@needs_reference
def test_the_monte_carlo_beam_matches_published_6mv_depth_dose(cache):
    """PDD(10) of 10 x 10 cm2 at SSD 100 cm, and d_max.

    Published value: the brief quotes BJR Supplement 25 (1996) as "about 67 %" for 6 MV; the exact table
    entry could NOT be verified here (BJR 25 tabulates by beam quality, and no copy was at hand), so the test
    accepts 67 +- 2 percentage points, which holds the 6 MV beams of common linacs (%dd(10)x ~ 66-68 %, the
    TG-51 beam-quality specifier of their 6 MV beams; Almond et al., Med Phys 26:1847, 1999). d_max of 6 MV:
    13-17 mm (the brief's range; 15 mm is the textbook value).
    """
    calibration = isc.mc_calibration(cache)
    assert abs(calibration.pdd10_percent - 67.0) <= 2.0, calibration
    assert 13.0 <= calibration.dmax_mm <= 17.0, calibration


@needs_reference
def test_an_open_field_at_100_mu_gives_the_calibrations_depth_dose(tmp_path, cache):
    """100 MU of 10 x 10 cm2 at SSD 100 cm: 1 Gy x PDD/100 at 10 cm depth, within 1 %, by the check's own
    calibration: its depth dose averaged over the scoring region's depths (90-105 mm; the 5 mm voxels put no
    centre at exactly 100 mm)."""
    folder = water_phantom_package(tmp_path / "water")
    check = isc.imrt_second_check(folder, point_mm=WATER_POINT_MM, cache_path=cache, n_histories=WATER_HISTORIES)
    calibration = check.calibration
    depth = np.asarray(calibration.depth_mm)
    region = (depth > WATER_REGION_DEPTH_MM[0]) & (depth < WATER_REGION_DEPTH_MM[1])
    expected_gy = 1.0 * np.mean(np.asarray(calibration.pdd_percent)[region]) / 100
    assert check.point_mm == WATER_POINT_MM
    assert check.check_dose_gy == pytest.approx(expected_gy, rel=0.01), (check.check_dose_gy, expected_gy,
                                                                         calibration.pdd10_percent)
    assert check.plan_dose_gy is None and check.uncertainty_percent <= 1.0
    # the output commissioning leaves the open 10 x 10 cm2 field alone: k(10) = 1 by definition of the output factor
    assert check.output_correction.mu_weighted_k == 1.0 and check.output_correction.outside_fraction == 0.0


@needs_reference
def test_k_is_the_measured_over_the_monte_carlo_output_factor(cache):
    """k(c) = OF measured / OF Monte Carlo, from the recorded Monte Carlo runs and Followill et al. (JACMP 13(5):282,
    2012, Table 2, Elekta 6 MV). By hand for the 4 x 4 cm2 field: the recorded runs give, at 9-11 cm depth,
    OF_MC(4) = 0.90855 +- 1.05 % (the record script's printout, 4 x 4 cm2 over 10 x 10 cm2 dose per MU); Table 2
    gives 0.878; k(4) = 0.878 / 0.90855 = 0.96638. Between the sides k is linear in the side, outside them
    constant; k(10) = 1 exactly."""
    commissioning = isc.output_commissioning(cache, runner=_no_run)
    assert commissioning.side_cm == (2.0, 3.0, 4.0, 6.0, 10.0)
    assert commissioning.measured == (0.790, 0.842, 0.878, 0.930, 1.000)
    four = commissioning.side_cm.index(4.0)
    assert commissioning.mc[four] == pytest.approx(0.90855, abs=5e-5)
    assert commissioning.k_at(4.0) == pytest.approx(0.878 / 0.90855, abs=5e-5)
    assert commissioning.k_at(2.5) == pytest.approx(0.5 * (commissioning.k[0] + commissioning.k[1]), abs=1e-12)
    assert commissioning.k_at(1.0) == commissioning.k[0] and commissioning.k_at(20.0) == 1.0
    assert commissioning.k_at(10.0) == 1.0 and commissioning.mc_uncertainty_percent[-1] == 0.0


def _no_run(request, progress, is_cancelled):
    raise AssertionError("not recorded: run python -m tests.reference.record_imrt_second_check")


def test_measured_output_factors_must_be_relative_to_10x10(tmp_path):
    with pytest.raises(isc.ImrtSecondCheckError, match="relative to 10 x 10"):
        isc.output_commissioning(tmp_path / "cache.json", runner=_no_run, measured={2.0: 0.79, 10.0: 0.98})


def test_segments_outside_the_commissioned_sides_raise_the_verdict_to_review(tmp_path):
    """A 1.5 x 1.5 cm2 open field: below the smallest commissioned side (2 cm), so it gets k(2) and all its MU is
    outside; beyond the clinic's fraction (default 20 %) a difference that would agree is "review". A stop stays a
    stop. The commissioning here is a made-up table (not a measurement): only the rule is under test."""
    ct = Dataset()
    ct.PatientName, ct.PatientID = "Small^Field", "SMALL"
    ct.StudyInstanceUID, ct.FrameOfReferenceUID = generate_uid(), generate_uid()
    write_open_field_plan(tmp_path / "RTPLAN.dcm", ct, isocentre_mm=(0.0, 0.0, 0.0), mu=100.0, field_mm=15.0)
    beams, _, _ = isc.read_plan(tmp_path / "RTPLAN.dcm")
    assert isc.segment_side_cm(beams[0], beams[0].segments[0]) == pytest.approx(1.5, abs=1e-12)  # 15 x 15 mm jaws
    table = isc.OutputCommissioning(side_cm=(2.0, 10.0), measured=(0.79, 1.0), mc=(0.85, 1.0),
                                    mc_uncertainty_percent=(1.0, 0.0), k=(0.79 / 0.85, 1.0), depth_cm=10.0,
                                    source="made up")
    corrected, correction = isc.output_correction(beams, table)
    assert correction.outside_fraction == 1.0 and correction.mu_weighted_k == pytest.approx(0.79 / 0.85)
    assert sum(s.mu for s in corrected[0].segments) == pytest.approx(100.0 * 0.79 / 0.85)
    assert isc.commissioned_verdict(0.5, isc.DEFAULT_ACTION_LEVELS, correction)[0] == REVIEW
    assert isc.commissioned_verdict(6.0, isc.DEFAULT_ACTION_LEVELS, correction)[0] == STOP
    _, inside = isc.output_correction(beams, replace(table, side_cm=(1.0, 10.0)))
    assert inside.outside_fraction == 0.0
    assert isc.commissioned_verdict(0.5, isc.DEFAULT_ACTION_LEVELS, inside)[0] == AGREE
    assert "outside the commissioned 2-10 cm" in correction.line()


@needs_reference
def test_tg119_plan_is_checked_at_a_high_dose_point_of_the_ptv(tg119, cache):
    """The isocentre of TG-119's C-shape sits in the core (low dose), so the check goes into the PTV."""
    check = isc.imrt_second_check(tg119, cache_path=cache)
    assert check.point_choice.startswith("in the target")
    assert check.plan_dose_gy >= 0.9 * 2.0
    # ompMC's k=1 comes from 10 batches, so the estimate itself scatters: s^2 / sigma^2 follows chi^2(9) / 9, and if the
    # true sigma were 1.0 % the estimate would stay below sqrt(19.02 / 9) = 1.45 % in 97.5 % of runs (19.02: chi^2(9)'s
    # 0.975 quantile). That is why 4 M and 6 M histories did not bring it below 1 % (1.1 %, 1.0 %) and why the same 3 M
    # histories read 1.06 % on one plan and 1.28 % on the next (the engine fixed in issue 14). The bound asks for
    # sigma near 1 %, which keeps the review level (3 %) about 3 sigma away.
    assert check.uncertainty_percent <= 1.45
    assert check.difference_percent == pytest.approx(
        100 * (check.plan_dose_gy - check.check_dose_gy) / check.check_dose_gy)


@needs_reference
def test_tg119_plan_agrees_with_the_independent_monte_carlo_within_the_action_level(tg119, cache):
    """TG-219's review level (3 %, Zhu et al., Med Phys 46(1):e1, 2019) for an IMRT point-dose check, with the Monte
    Carlo commissioned to measured output factors (without it, -5.7 %: the point source's small fields give too much
    dose per MU; benchmarks/imrt_second_check_arbiter.py)."""
    check = isc.imrt_second_check(tg119, cache_path=cache)
    assert check.verdict == AGREE and abs(check.difference_percent) < 3.0, check.message


@needs_reference
@pytest.mark.filterwarnings("ignore:The value length:UserWarning")  # the 17-digit DS of scaled_copy, on purpose
def test_mu_scaled_after_export_are_stopped(tg119, tmp_path, cache):
    """BeamMeterset x 1.10 after export: the check's dose rises by exactly 1.10 (the same Monte Carlo run, the
    MU scale is outside the request, and k depends on the segments' shapes, not their MU) and the difference is
    beyond the stop level."""
    scaled = isc.imrt_second_check(scaled_copy(tg119, tmp_path / "scaled", 1.10), cache_path=cache)
    plain = isc.imrt_second_check(tg119, cache_path=cache)
    assert scaled.verdict == STOP and abs(scaled.difference_percent) >= 5.0, scaled.message
    assert scaled.check_dose_gy == pytest.approx(1.10 * plain.check_dose_gy, rel=1e-4)
    assert scaled.plan_dose_gy == plain.plan_dose_gy
    assert abs(scaled.difference_percent) > abs(plain.difference_percent) + 5.0


def test_without_the_reference_environment_the_check_cannot_be_made(tmp_path, monkeypatch):
    monkeypatch.setenv(isc.REFERENCE_PYTHON_VARIABLE, str(tmp_path / "no-such-python"))
    check = isc.imrt_second_check(tmp_path, cache_path=tmp_path / "cache.json")
    assert check.verdict == isc.CANNOT_BE_MADE
    assert "not installed (bash scripts/setup.sh makes it)" in check.message
    assert check.check_dose_gy is None and check.difference_percent is None and check.plan_dose_gy is None


@needs_reference
def test_a_cancel_stops_the_worker(tmp_path):
    request = {**isc.calibration_request(), "n_histories": np.int64(1000)}   # not a shipped commissioning run
    with pytest.raises(Cancelled):
        isc.cached(request, None, isc.run_worker, lambda f: None, lambda: True)


def test_the_shipped_commissioning_is_the_recorded_runs():
    """A workstation's first check runs only the plan's own field: the calibration and output-factor runs ship in
    planner/review/mc_commissioning.json, made from the recorded runs by ship_commissioning, never by hand."""
    shipped = json.loads(isc.COMMISSIONING_FILE.read_text())["results"]
    recorded = json.loads(RECORDED.read_text())["results"]
    digests = [isc._digest(request) for request in isc.commissioning_requests()]
    assert len(digests) == 1 + len(isc.MEASURED_OUTPUT_FACTORS) and sorted(shipped) == sorted(digests)
    assert all(shipped[d] == recorded[d] for d in digests)
