"""RT Plan of a step-and-shoot IMRT plan and its 3-D RT Dose: dciodvfy accepts both, and the checks
dciodvfy does not make hold (beam references, control-point pairs, jaws, MU, round trips)."""

import shutil
import subprocess

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import RTPlanStorage

from planner.core.mlc_beams import MlcPlan
from planner.dicom.identity import new_uid
from planner.dicom.rt_plan_mlc import (MlcPlanError, build_rt_dose_3d, volume_identity, write_rt_dose_3d,
                                       write_rt_plan_mlc)
from planner.dicom.rt_read import FIRST_CONTROL_POINT_KEYWORDS
from plugins.imrt_photon.leaf_sequencing import sequence_plan
from plugins.imrt_photon.monitor_units import build_mlc_plan, reference_calibration
from plugins.imrt_photon.optimise import Objective, OptimisationSettings, optimise_fluence
from plugins.imrt_photon.pencil_beam import BeamSettings, dose_influence
from plugins.imrt_photon.phantom import tg119_c_shape
from tests.dicom.export_fixtures import dciodvfy

FRACTIONS = 25
PRESCRIPTION_GY = 50.0
# dciodvfy warnings accepted: none (the phantom identity fills Study ID, which DICOMDIR would need)
ACCEPTED_WARNINGS: tuple[str, ...] = ()


@pytest.fixture(scope="module")
def imrt_case(tmp_path_factory):
    """A small TG-119 plan (10 mm voxels, 5 beams), sequenced, with MU, written as RT Plan and RT Dose."""
    phantom = tg119_c_shape(spacing_mm=10.0)
    settings = BeamSettings(gantry_angles_deg=(0.0, 72.0, 144.0, 216.0, 288.0), tail_radius_mm=40.0,
                            target_margin_mm=0.0)
    influence = dose_influence(phantom, settings=settings)
    rows = {name: influence.rows_for(mask) for name, mask in phantom.masks.items()}
    result = optimise_fluence(influence.dij, rows, [Objective("PTV", "min_dose", 50.0, 100.0),
                                                    Objective("PTV", "max_dose", 52.5, 30.0),
                                                    Objective("Core", "max_dose", 20.0, 30.0)],
                              OptimisationSettings(max_iterations=30))
    sequenced = sequence_plan(influence, result.weights)
    d95 = float(np.quantile((influence.dij @ sequenced.weights)[rows["PTV"]], 0.05))
    sequenced = sequenced.scaled(PRESCRIPTION_GY / d95)
    plan = build_mlc_plan(sequenced, influence, phantom, rows["PTV"], reference_calibration(), FRACTIONS,
                          PRESCRIPTION_GY, label="TG119 test", target_roi_number=1)
    identity = volume_identity(phantom)
    folder = tmp_path_factory.mktemp("imrt")
    structure_set_uid = new_uid()
    plan_uid = write_rt_plan_mlc(plan, identity, folder / "RTPLAN.dcm", structure_set_uid=structure_set_uid)
    dose = influence.dose_grid_gy(sequenced.weights, phantom.grid.shape)
    dose_uid = write_rt_dose_3d(dose, phantom.grid, identity, plan_uid, folder / "RTDOSE.dcm")
    return {"plan": plan, "phantom": phantom, "dose": dose, "identity": identity, "folder": folder,
            "plan_uid": plan_uid, "dose_uid": dose_uid, "structure_set_uid": structure_set_uid}


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy is not installed")
def test_dciodvfy_accepts_the_rt_plan_and_the_rt_dose(imrt_case):
    for name in ("RTPLAN.dcm", "RTDOSE.dcm"):
        errors, warnings = dciodvfy(imrt_case["folder"] / name)
        assert errors == [], f"{name}: {errors}"
        assert [w for w in warnings if w not in ACCEPTED_WARNINGS] == [], f"{name}: {warnings}"


@pytest.mark.skipif(shutil.which("dcmdump") is None, reason="dcmdump is not installed")
def test_dcmdump_parses_both(imrt_case):
    for name, expected in (("RTPLAN.dcm", ("CS [RTPLAN]", "CS [STATIC]", ",61 LeafPositionBoundaries")),
                           ("RTDOSE.dcm", ("CS [RTDOSE]", "GridFrameOffsetVector", "US 16"))):
        run = subprocess.run(["dcmdump", str(imrt_case["folder"] / name)], capture_output=True, text=True,
                             timeout=60)
        assert run.returncode == 0 and "E:" not in run.stderr and "W:" not in run.stderr, run.stderr
        for text in expected:
            assert text in run.stdout, f"{name}: {text!r} not in dcmdump's output"


def test_plan_identity_references_and_fraction_group(imrt_case):
    plan: MlcPlan = imrt_case["plan"]
    ds = dcmread(imrt_case["folder"] / "RTPLAN.dcm")
    assert ds.SOPInstanceUID == imrt_case["plan_uid"] == ds.file_meta.MediaStorageSOPInstanceUID
    assert ds.Modality == "RTPLAN" and ds.ApprovalStatus == "UNAPPROVED"
    assert ds.RTPlanGeometry == "PATIENT"
    assert ds.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == imrt_case["structure_set_uid"]
    assert ds.FrameOfReferenceUID == imrt_case["identity"].frame_of_reference_uid
    assert ds.RTPlanLabel.startswith("DEMO") and "NOT FOR CLINICAL USE" in ds.RTPlanDescription
    assert ds.PatientSetupSequence[0].PatientPosition == "HFS"
    reference = ds.DoseReferenceSequence[0]
    assert float(reference.TargetPrescriptionDose) == PRESCRIPTION_GY
    assert reference.DoseReferenceStructureType == "VOLUME" and reference.ReferencedROINumber == 1
    group = ds.FractionGroupSequence[0]
    assert group.NumberOfFractionsPlanned == FRACTIONS and group.NumberOfBeams == len(ds.BeamSequence)
    beam_numbers = [b.BeamNumber for b in ds.BeamSequence]
    assert len(set(beam_numbers)) == len(beam_numbers)
    assert sorted(r.ReferencedBeamNumber for r in group.ReferencedBeamSequence) == sorted(beam_numbers)
    setups = {s.PatientSetupNumber for s in ds.PatientSetupSequence}
    assert all(b.ReferencedPatientSetupNumber in setups for b in ds.BeamSequence)
    # the MU per fraction add up to the plan's, the beam doses to the dose per fraction
    meterset = sum(float(r.BeamMeterset) for r in group.ReferencedBeamSequence)
    assert meterset == pytest.approx(plan.total_mu_per_fraction, rel=1e-6)
    assert sum(float(r.BeamDose) for r in group.ReferencedBeamSequence) == pytest.approx(2.0, rel=1e-6)
    print(f"\nsmall TG-119 export: {len(plan.beams)} beams, segments {plan.segment_counts}, "
          f"{plan.total_mu_per_fraction:.0f} MU per fraction")


def read_segments(beam):
    """Replay the control points: (leaf positions (2, n), weight fraction) per beam-on interval."""
    mlc_pairs = {d.RTBeamLimitingDeviceType: d for d in beam.BeamLimitingDeviceSequence}["MLCX"].NumberOfLeafJawPairs
    state, segments, previous_weight = None, [], 0.0
    for cp in beam.ControlPointSequence:
        weight = float(cp.CumulativeMetersetWeight)
        if weight > previous_weight:
            assert state is not None
            segments.append((state.copy(), weight - previous_weight))
        mlc_items = [item for item in cp.get("BeamLimitingDevicePositionSequence", [])
                     if item.RTBeamLimitingDeviceType == "MLCX"]
        # the MLC changes within the beam, so every control point gives it (PS3.3 C.8.8.14.5)
        assert len(mlc_items) == 1
        values = np.array([float(v) for v in mlc_items[0].LeafJawPositions])
        assert values.size == 2 * mlc_pairs
        if weight > previous_weight and cp.ControlPointIndex > 0:
            # a beam-on interval never moves the leaves: they change only at equal weights
            np.testing.assert_array_equal(values.reshape(2, mlc_pairs), state)
        state = values.reshape(2, mlc_pairs)
        previous_weight = weight
    return segments


def test_beams_control_points_jaws_and_leaves(imrt_case):
    plan: MlcPlan = imrt_case["plan"]
    ds = dcmread(imrt_case["folder"] / "RTPLAN.dcm")
    metersets = {r.ReferencedBeamNumber: float(r.BeamMeterset)
                 for r in ds.FractionGroupSequence[0].ReferencedBeamSequence}
    for beam, source in zip(ds.BeamSequence, plan.beams):
        assert beam.BeamType == "STATIC" and beam.RadiationType == "PHOTON" and beam.PrimaryDosimeterUnit == "MU"
        devices = {d.RTBeamLimitingDeviceType: d for d in beam.BeamLimitingDeviceSequence}
        assert set(devices) == {"ASYMX", "ASYMY", "MLCX"}
        mlc = devices["MLCX"]
        assert mlc.NumberOfLeafJawPairs == 60 and len(mlc.LeafPositionBoundaries) == 61
        boundaries = np.array([float(v) for v in mlc.LeafPositionBoundaries])
        points = beam.ControlPointSequence
        assert beam.NumberOfControlPoints == len(points) == 2 * len(source.segments)
        assert [int(p.ControlPointIndex) for p in points] == list(range(len(points)))
        weights = [float(p.CumulativeMetersetWeight) for p in points]
        assert weights[0] == 0 and all(b >= a for a, b in zip(weights, weights[1:]))
        assert float(beam.FinalCumulativeMetersetWeight) == weights[-1] == 1.0
        first = points[0]
        assert [k for k in FIRST_CONTROL_POINT_KEYWORDS if k not in first] == []
        assert float(first.NominalBeamEnergy) == 6.0
        assert float(first.GantryAngle) == pytest.approx(source.gantry_deg)
        assert first.GantryRotationDirection == "NONE"
        positions = {p.RTBeamLimitingDeviceType: [float(v) for v in p.LeafJawPositions]
                     for p in first.BeamLimitingDevicePositionSequence}
        (x1, x2), (y1, y2) = positions["ASYMX"], positions["ASYMY"]
        segments = read_segments(beam)
        assert len(segments) == len(source.segments)
        for (leaves, fraction), segment in zip(segments, source.segments):
            left, right = leaves
            assert np.all(left <= right)
            is_open = right > left
            assert is_open.any()
            assert np.all(left[is_open] >= x1) and np.all(right[is_open] <= x2)
            assert np.all(boundaries[:-1][is_open] >= y1) and np.all(boundaries[1:][is_open] <= y2)
            assert np.all(left[~is_open] < x1)  # closed pairs parked under the X1 jaw
            np.testing.assert_allclose(leaves, segment.leaf_positions_mm, atol=1e-6)
        # MU of every segment: its share of the beam meterset
        mu = np.array([f for _, f in segments]) * metersets[beam.BeamNumber]
        np.testing.assert_allclose(mu, source.segment_mu(), rtol=1e-6)


def test_rt_dose_round_trip(imrt_case):
    ds = dcmread(imrt_case["folder"] / "RTDOSE.dcm")
    grid = imrt_case["phantom"].grid
    assert ds.SOPInstanceUID == imrt_case["dose_uid"]
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == imrt_case["plan_uid"]
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPClassUID == RTPlanStorage
    assert ds.DoseSummationType == "PLAN" and ds.DoseUnits == "GY" and ds.BitsAllocated == 16
    assert ds.NumberOfFrames == grid.z_mm.size and ds.FrameIncrementPointer == 0x3004000C
    np.testing.assert_allclose([float(v) for v in ds.GridFrameOffsetVector], grid.z_mm - grid.z_mm[0])
    np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], grid.origin_mm)
    stored = ds.pixel_array.astype(float) * float(ds.DoseGridScaling)   # (z, y, x)
    dose = imrt_case["dose"]
    np.testing.assert_allclose(stored.transpose(2, 1, 0), dose, atol=float(ds.DoseGridScaling) / 2 + 1e-12)
    assert dose.max() > 40.0  # the plan dose, all fractions


def test_bad_input_is_refused(imrt_case):
    identity, grid = imrt_case["identity"], imrt_case["phantom"].grid
    with pytest.raises(MlcPlanError, match="grid"):
        build_rt_dose_3d(identity, new_uid(), np.zeros((2, 2, 2)), grid, new_uid())
    plan: MlcPlan = imrt_case["plan"]
    long_name = MlcPlan(plan.label, plan.beams, plan.fractions, plan.dose_per_fraction_gy,
                        plan.prescription_description, "A MACHINE NAME TOO LONG", plan.target_roi_name)
    with pytest.raises(MlcPlanError, match="machine name"):
        write_rt_plan_mlc(long_name, identity, imrt_case["folder"] / "x.dcm", structure_set_uid=None)
    assert not (imrt_case["folder"] / "x.dcm").exists()
