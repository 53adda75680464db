"""DICOM export of a plan: dciodvfy accepts every object, and the checks dciodvfy does not make hold
(references between the objects, control points, meterset = time, dose and contours round-trip)."""

import os
import warnings
from pathlib import Path
from dataclasses import replace

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import RTPlanStorage, RTStructureSetStorage, UltrasoundImageStorage

from planner.core.manual_calibration import ManualCalibration
from planner.core.prescription import Prescription, PrescriptionPoint
from planner.dicom import export as export_module
from planner.dicom.export import ExportError, export_plan
from planner.dicom.rt_dose import DoseGridError, quantise_dose
from planner.dicom.rt_read import cross_reference_problems, dose_axes_mm, dose_grid_gy, roi_points_mm
from planner.dose.grid_axes import dose_grid_axes
from planner.dose.plan_checks import REFUSE, Finding
from planner.imaging import load_ultrasound
from planner.imaging.planning_image import calibrate_by_hand, calibrated_image, load_planning_image
from planner.techniques.beam_lookup import machine_commissioning
from planner.techniques.new_plan import open_demo_case, start_plan
from planner.techniques.registry import discover_techniques
from tests.dicom.export_fixtures import (EBX_DWELL_TIME_MIN, EBX_NAN_COLUMNS, demo_ebx_case, demo_kv_case,
                                         dciodvfy, kv_dose, write_png)

# dciodvfy warnings accepted: no Defined Term of Application Setup Type describes a skin applicator
# (eBx RT Plan), and the laterality of a lesion photographed as a PNG is unknown (US.dcm).
ACCEPTED_WARNINGS = (
    "Warning - Unrecognized defined term <SURFACE> for value 1 of attribute <Application Setup Type>",
    "Warning - is only permitted to be empty when actually unknown; should be absent (not empty) if an "
    "unpaired body part, and have a value if a paired body part - attribute <Laterality>",
)


@pytest.fixture(scope="module")
def kv_case():
    return demo_kv_case()


@pytest.fixture(scope="module")
def kv_export(kv_case, tmp_path_factory):
    planning_image, plan, technique, dose = kv_case
    assert not dose.refused and dose.treatment_time_min > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydicom warns about over-long values: none may be written
        files = export_plan(plan, dose, planning_image, technique, tmp_path_factory.mktemp("kv"))
    return files, {name: dcmread(getattr(files, name)) for name in ("rt_plan", "rt_structure_set", "rt_dose")}


def assert_dciodvfy_accepts(*paths):
    for path in paths:
        errors, warned = dciodvfy(path)
        assert errors == [], f"{path.name}: {errors}"
        assert set(warned) <= set(ACCEPTED_WARNINGS), f"{path.name}: {warned}"


def interpolate(grid, x_mm, y_mm, x, y):
    """Bilinear dose at (x, y) mm on a grid with axes x_mm, y_mm."""
    column = np.interp(x, x_mm, np.arange(x_mm.size))
    row = np.interp(y, y_mm, np.arange(y_mm.size))
    c0, r0 = int(column), int(row)
    fc, fr = column - c0, row - r0
    patch = grid[r0:r0 + 2, c0:c0 + 2]
    return ((1 - fr) * ((1 - fc) * patch[0, 0] + fc * patch[0, 1])
            + fr * ((1 - fc) * patch[1, 0] + fc * patch[1, 1]))


# ------------------------------------------------------------------------------------------- kV

def test_kv_export_is_accepted_by_dciodvfy_and_carries_the_dicom_image_unchanged(kv_case, kv_export):
    files, _ = kv_export
    assert sorted(p.name for p in files.folder.iterdir()) == ["RTDOSE.dcm", "RTPLAN.dcm", "RTSTRUCT.dcm", "US.dcm"]
    assert files.ultrasound.read_bytes() == Path(kv_case[0].image.source_path).read_bytes()  # the original object
    assert_dciodvfy_accepts(files.rt_plan, files.rt_structure_set, files.rt_dose)


def test_kv_objects_reference_each_other_and_the_demo_image(kv_case, kv_export):
    planning_image, plan, _, _ = kv_case
    files, ds = kv_export
    rt_plan, struct, rt_dose = ds["rt_plan"], ds["rt_structure_set"], ds["rt_dose"]
    image = dcmread(planning_image.image.source_path, stop_before_pixels=True)
    assert cross_reference_problems(rt_plan, struct, rt_dose, image) == []
    # the same checks, spelled out
    ref = rt_plan.ReferencedStructureSetSequence[0]
    assert (ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID) == (RTStructureSetStorage, struct.SOPInstanceUID)
    ref = rt_dose.ReferencedRTPlanSequence[0]
    assert (ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID) == (RTPlanStorage, rt_plan.SOPInstanceUID)
    for obj in (rt_plan, struct, rt_dose):
        assert obj.FrameOfReferenceUID == image.FrameOfReferenceUID == files.frame_of_reference_uid
        assert obj.StudyInstanceUID == image.StudyInstanceUID
        assert (obj.PatientID, obj.PatientName) == (image.PatientID, image.PatientName) == ("DEMO-0001", "DEMO^Patient")
        assert obj.file_meta.MediaStorageSOPInstanceUID == obj.SOPInstanceUID
    assert len({rt_plan.SeriesInstanceUID, struct.SeriesInstanceUID, rt_dose.SeriesInstanceUID,
                image.SeriesInstanceUID}) == 4
    referenced_images = {(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID)
                         for roi in struct.ROIContourSequence for c in roi.ContourSequence
                         for i in c.ContourImageSequence}
    assert referenced_images == {(UltrasoundImageStorage, image.SOPInstanceUID)} == {
        (UltrasoundImageStorage, files.image_uid)}
    assert struct.StructureSetROISequence[0].ReferencedFrameOfReferenceUID == image.FrameOfReferenceUID
    assert rt_plan.ApprovalStatus == "UNAPPROVED" and rt_plan.RTPlanGeometry == "PATIENT"


def test_kv_beam_control_points_meterset_and_prescription(kv_case, kv_export):
    _, plan, technique, dose = kv_case
    rt_plan = kv_export[1]["rt_plan"]
    beam = rt_plan.BeamSequence[0]
    group = rt_plan.FractionGroupSequence[0]
    points = beam.ControlPointSequence
    assert [int(p.ControlPointIndex) for p in points] == [0, 1] and int(beam.NumberOfControlPoints) == 2
    weights = [float(p.CumulativeMetersetWeight) for p in points]
    assert weights == [0.0, 1.0] == [0.0, float(beam.FinalCumulativeMetersetWeight)]
    assert beam.PrimaryDosimeterUnit == "MINUTE"
    assert int(group.NumberOfBeams) == 1 and group.ReferencedBeamSequence[0].ReferencedBeamNumber == beam.BeamNumber
    assert float(group.ReferencedBeamSequence[0].BeamMeterset) == pytest.approx(dose.treatment_time_min, rel=1e-12)
    assert float(group.ReferencedBeamSequence[0].BeamDose) == pytest.approx(7.0)
    assert int(group.NumberOfFractionsPlanned) == 5
    reference = rt_plan.DoseReferenceSequence[0]
    assert float(reference.TargetPrescriptionDose) == pytest.approx(35.0)
    # the treatment unit: 100 kVp as 0.1 MV, the 20 mm cone, the commissioned SSD, HVL in words
    cp0 = points[0]
    assert float(cp0.NominalBeamEnergy) == pytest.approx(0.1)
    assert float(cp0.SourceToSurfaceDistance) == pytest.approx(dose.ssd_cm * 10) == float(beam.SourceAxisDistance)
    applicator = beam.ApplicatorSequence[0]
    assert applicator.ApplicatorID == "cone-20mm" and applicator.ApplicatorGeometrySequence[0].ApplicatorOpening == 20.0
    assert [list(map(float, d.LeafJawPositions)) for d in cp0.BeamLimitingDevicePositionSequence] == [[-10, 10]] * 2
    assert "HVL 2.20 mm Al" in beam.GeneralAccessorySequence[0].GeneralAccessoryDescription
    assert beam.TreatmentMachineName == plan.setup.machine_id
    assert rt_plan.RTPlanLabel.startswith("DEMO ") and "NOT FOR CLINICAL USE" in rt_plan.RTPlanDescription
    # the beam enters where its axis meets the skin
    skin_y = plan.skin_surface.depth_at(dose.cone_axis_x_mm)
    assert list(map(float, cp0.IsocenterPosition)) == pytest.approx([dose.cone_axis_x_mm, skin_y, 0.0], abs=1e-9)
    # prescribed to the 90 % isodose: 7 Gy per fraction lands where the axis dose is 90 % of Dmax
    assert plan.prescription.point.mode == "isodose" and dose.dose_at_prescription_depth_gy == pytest.approx(7.0)
    depth = dose.prescription_depth_mm
    assert reference.DoseReferenceStructureType == "COORDINATES"
    assert list(map(float, reference.DoseReferencePointCoordinates)) == pytest.approx(
        [dose.cone_axis_x_mm, skin_y + depth, 0.0], abs=1e-6)
    assert reference.DoseReferenceDescription == f"Rx 90 % isodose, {depth:.2f} mm below skin on beam axis"
    # the same sentences as the window and the report: Dmax = 7 Gy / 0.9, and the lesion's coverage
    assert f"7 Gy per fraction to the 90 % isodose (Dmax = {7 / 0.9:.2f} Gy)" in rt_plan.PrescriptionDescription
    assert dose.coverage.sentence() in rt_plan.PrescriptionDescription


def test_kv_dose_grid_round_trips_within_its_quantisation(kv_case, kv_export):
    _, plan, _, dose = kv_case
    rt_dose = kv_export[1]["rt_dose"]
    assert (rt_dose.DoseUnits, rt_dose.DoseType, rt_dose.DoseSummationType) == ("GY", "PHYSICAL", "PLAN")
    assert rt_dose.BitsAllocated == 16 and rt_dose.PixelRepresentation == 0
    fractions = plan.prescription.fractions
    expected = np.nan_to_num(np.asarray(dose.dose_grid_gy, dtype=float)) * fractions
    step = float(rt_dose.DoseGridScaling)
    assert step <= expected.max() / 65_000 * (1 + 1e-9) and step / expected.max() < 1e-3  # < 0.1 % of the max
    decoded = dose_grid_gy(rt_dose)
    assert decoded.shape == expected.shape
    assert np.max(np.abs(decoded - expected)) <= step / 2 * (1 + 1e-9)
    x_mm, y_mm = dose_axes_mm(rt_dose)
    assert np.allclose(x_mm, dose.x_mm, atol=1e-9) and np.allclose(y_mm, dose.y_mm, atol=1e-9)


def test_prescribed_at_a_depth_the_plans_point_gets_the_prescription_in_the_dose(tmp_path):
    """Plan, structure set and dose share one geometry: the RT Dose, read at the RT Plan's dose reference
    point, gives the RT Plan's prescription."""
    planning_image, plan, technique, dose = demo_kv_case(Prescription(4.5, 9, PrescriptionPoint.at_depth(2.0)))
    files = export_plan(plan, dose, planning_image, technique, tmp_path)
    rt_plan, rt_dose = dcmread(files.rt_plan), dcmread(files.rt_dose)
    reference = rt_plan.DoseReferenceSequence[0]
    assert reference.DoseReferenceStructureType == "COORDINATES"
    point = [float(v) for v in reference.DoseReferencePointCoordinates]
    skin_y = plan.skin_surface.depth_at(dose.cone_axis_x_mm)
    assert point == pytest.approx([dose.cone_axis_x_mm, skin_y + 2.0, 0.0], abs=1e-9)
    at_point = interpolate(dose_grid_gy(rt_dose), *dose_axes_mm(rt_dose), point[0], point[1])
    assert at_point == pytest.approx(float(reference.TargetPrescriptionDose), rel=2e-3) == 40.5


def test_outline_and_skin_round_trip_on_the_image_plane(kv_case, kv_export):
    _, plan, _, _ = kv_case
    struct = kv_export[1]["rt_structure_set"]
    lesion = roi_points_mm(struct, "Lesion")
    assert np.max(np.abs(lesion[:, :2] - np.asarray(plan.outline.vertices_mm))) < 0.01
    assert np.all(lesion[:, 2] == 0)
    skin = roi_points_mm(struct, "Skin")
    assert np.max(np.abs(skin[:, :2] - np.asarray(plan.skin_surface.points_mm))) < 0.01
    types = {o.ReferencedROINumber: o.RTROIInterpretedType for o in struct.RTROIObservationsSequence}
    geometry = {r.ReferencedROINumber: r.ContourSequence[0].ContourGeometricType for r in struct.ROIContourSequence}
    names = {r.ROINumber: r.ROIName for r in struct.StructureSetROISequence}
    assert {names[n]: (types[n], geometry[n]) for n in names} == {"Lesion": ("GTV", "CLOSED_PLANAR"),
                                                                  "Skin": ("EXTERNAL", "OPEN_PLANAR")}


# ------------------------------------------------------------------------------------------- eBx

def test_ebx_export_dwell_time_source_and_references(tmp_path):
    planning_image, plan, technique, dose = demo_ebx_case()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = export_plan(plan, dose, planning_image, technique, tmp_path)
    assert_dciodvfy_accepts(files.rt_plan, files.rt_structure_set, files.rt_dose)
    rt_plan, struct, rt_dose = (dcmread(p) for p in (files.rt_plan, files.rt_structure_set, files.rt_dose))
    assert cross_reference_problems(rt_plan, struct, rt_dose) == []
    assert "BeamSequence" not in rt_plan
    group = rt_plan.FractionGroupSequence[0]
    assert (int(group.NumberOfBeams), int(group.NumberOfBrachyApplicationSetups)) == (0, 1)
    assert float(group.ReferencedBrachyApplicationSetupSequence[0].BrachyApplicationSetupDose) == pytest.approx(7.0)
    assert (rt_plan.BrachyTreatmentTechnique, rt_plan.BrachyTreatmentType) == ("CONTACT", "HDR")
    setup = rt_plan.ApplicationSetupSequence[0]
    assert setup.ApplicationSetupName == "applicator-20mm"
    channel = setup.ChannelSequence[0]
    assert float(channel.ChannelTotalTime) == pytest.approx(EBX_DWELL_TIME_MIN * 60, rel=1e-12)  # seconds
    points = channel.BrachyControlPointSequence
    assert [float(p.CumulativeTimeWeight) for p in points] == [0.0, float(channel.FinalCumulativeTimeWeight)] == [0, 1]
    assert [float(p.ControlPointRelativePosition) for p in points] == [0.0, 0.0]
    source = rt_plan.SourceSequence[0]
    assert channel.ReferencedSourceNumber == source.SourceNumber
    assert source.SourceIsotopeName == "X-RAY 69.5 kVp" and float(source.ReferenceAirKermaRate) == 0
    assert float(source.SourceStrength) == pytest.approx(dose.surface_dose_rate_gy_per_min / 60, rel=1e-12)
    assert rt_plan.TreatmentMachineSequence[0].TreatmentMachineName == "esteya-class"
    # NaN (no beam data) is written as 0 Gy, and said
    decoded = dose_grid_gy(rt_dose)
    assert np.all(decoded[:, :EBX_NAN_COLUMNS] == 0)
    expected = np.nan_to_num(dose.dose_grid_gy) * 6
    assert np.max(np.abs(decoded - expected)) <= float(rt_dose.DoseGridScaling) / 2 * (1 + 1e-9)
    assert any("NaN" in note for note in files.notes) and "0 Gy" in rt_dose.DoseComment
    point = [float(v) for v in rt_plan.DoseReferenceSequence[0].DoseReferencePointCoordinates]
    assert interpolate(decoded, *dose_axes_mm(rt_dose), point[0], point[1]) == pytest.approx(42.0, rel=0.01)
    with pytest.raises(ExportError, match="no surface dose rate"):
        export_plan(plan, replace(dose, surface_dose_rate_gy_per_min=None), planning_image, technique,
                    tmp_path / "no-rate")
    assert not (tmp_path / "no-rate").exists()


def test_ebx_export_of_the_real_engines_dose(tmp_path):
    """The eBx plugin's own dose (demo commissioning) exports as it is: dwell time, rate, geometry."""
    registry = discover_techniques()
    planning_image, plan = open_demo_case(registry)
    technique = registry.get("ebx-surface")
    plan = replace(plan.with_setup(technique_id="ebx-surface", machine_id="esteya-class", energy_id="69.5kV",
                                   applicator_id="applicator-20mm"),
                   prescription=Prescription(7.0, 6, PrescriptionPoint.at_depth(3.0)))
    dose = technique.dose_engine.compute(plan, dose_grid_axes(planning_image.image),
                                         machine_commissioning(technique, plan.setup.machine_id))
    assert not dose.refused and dose.time_name == "dwell time"
    files = export_plan(plan, dose, planning_image, technique, tmp_path)
    assert_dciodvfy_accepts(files.rt_plan, files.rt_structure_set, files.rt_dose)
    rt_plan, struct, rt_dose = (dcmread(p) for p in (files.rt_plan, files.rt_structure_set, files.rt_dose))
    assert cross_reference_problems(rt_plan, struct, rt_dose) == []
    channel = rt_plan.ApplicationSetupSequence[0].ChannelSequence[0]
    assert float(channel.ChannelTotalTime) == pytest.approx(dose.treatment_time_min * 60, rel=1e-12)
    assert rt_plan.RTPlanLabel.startswith("DEMO ")
    point = [float(v) for v in rt_plan.DoseReferenceSequence[0].DoseReferencePointCoordinates]
    assert interpolate(dose_grid_gy(rt_dose), *dose_axes_mm(rt_dose), point[0], point[1]) == pytest.approx(42.0, rel=0.01)


# ------------------------------------------------------------------------------------------- picture

def test_a_hand_calibrated_png_is_exported_as_us_dcm_and_referenced(kv_case, tmp_path):
    demo_image, _, technique, _ = kv_case
    png = tmp_path / "lesion.png"
    write_png(png, np.asarray(demo_image.image.frames[0]))
    planning_image = load_planning_image(png)
    assert planning_image.image.calibration is None
    mm_per_pixel = demo_image.image.calibration.mm_per_pixel_x
    plan = start_plan(planning_image, technique)
    plan = calibrate_by_hand(plan, planning_image.image, ManualCalibration(10.0, 10.0 / mm_per_pixel))
    cal = demo_image.image.calibration  # the demo outline, moved into the hand calibration's frame
    outline = kv_case[1].outline.translated(-cal.x0_mm, -cal.y0_mm)
    plan = replace(plan.with_outline(outline).with_cone_axis(outline.lateral_centre_mm),
                   patient_name="PNG^Patient", patient_id="PNG-1").with_setup(energy_id="100kV",
                                                                              applicator_id="cone-20mm")
    dose = kv_dose(plan, calibrated_image(planning_image.image, plan), technique)
    assert not dose.refused
    files = export_plan(plan, dose, planning_image, technique, tmp_path / "out")
    assert files.ultrasound is not None and files.ultrasound.name == "US.dcm"
    assert_dciodvfy_accepts(files.ultrasound, files.rt_plan, files.rt_structure_set, files.rt_dose)
    us = dcmread(files.ultrasound)
    rt_plan, struct, rt_dose = (dcmread(p) for p in (files.rt_plan, files.rt_structure_set, files.rt_dose))
    assert cross_reference_problems(rt_plan, struct, rt_dose, us) == []
    image_refs = {i.ReferencedSOPInstanceUID for roi in struct.ROIContourSequence for c in roi.ContourSequence
                  for i in c.ContourImageSequence}
    assert image_refs == {us.SOPInstanceUID} == {files.image_uid}
    assert struct.FrameOfReferenceUID == us.FrameOfReferenceUID and struct.StudyInstanceUID == us.StudyInstanceUID
    assert (us.PatientID, str(us.PatientName)) == ("PNG-1", "PNG^Patient") and us.ImageType[0] == "DERIVED"
    reloaded = load_ultrasound(files.ultrasound)  # the picture and its hand scale, back through the loader
    assert np.array_equal(reloaded.frames[0], demo_image.image.frames[0])
    assert reloaded.calibration.mm_per_pixel_x == pytest.approx(mm_per_pixel, rel=1e-12)
    assert (reloaded.calibration.x0_mm, reloaded.calibration.y0_mm) == (0.0, 0.0)


# ------------------------------------------------------------------------------------------- refusals

def refused(dose):
    return replace(dose, findings=dose.findings + (Finding(REFUSE, "dose above the limit", "dose-above-limit"),))


@pytest.mark.parametrize("change, message", [
    (lambda p, d, i: (p.with_outline(None), d, i), "no lesion outline"),
    (lambda p, d, i: (p, refused(d), i), "refused"),
    (lambda p, d, i: (p, None, i), "no dose"),
    (lambda p, d, i: (p, replace(d, dose_grid_gy=None), i), "no dose"),
    (lambda p, d, i: (p, replace(d, treatment_time_min=None, treatment_time_reason="end effect unknown"), i),
     "no treatment time: end effect unknown"),
    (lambda p, d, i: (p, d, replace(i, calibration=None)), "no mm calibration"),
    (lambda p, d, i: (p, replace(d, ssd_cm=None), i), "no source-to-surface distance"),
    (lambda p, d, i: (p.with_prescription(Prescription(8.0, 5, p.prescription.point)), d, i), "recompute"),
    (lambda p, d, i: (p.with_cone_axis(p.cone_axis_x_mm + 1.0), d, i), "recompute"),
    (lambda p, d, i: (replace(p, patient_id=""), d, i), "no patient ID"),
    (lambda p, d, i: (replace(p, patient_id="SOMEONE-ELSE"), d, i), "is not the image's"),
    (lambda p, d, i: (p, d, replace(i, source_path="/nonexistent/us.dcm")), "cannot re-read the planning image"),
    (lambda p, d, i: (p, d, replace(i, sop_instance_uid="1.2.3.4")), "no longer the image the plan was drawn on"),
])
def test_bad_input_is_refused_and_nothing_is_written(kv_case, tmp_path, change, message):
    planning_image, plan, technique, dose = kv_case
    plan, dose, image = change(plan, dose, planning_image.image)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ExportError, match=message):
        export_plan(plan, dose, image, technique, out)
    assert os.listdir(out) == []


def test_a_refused_export_does_not_leave_the_folder_it_would_have_made(kv_case, tmp_path):
    planning_image, plan, technique, dose = kv_case
    with pytest.raises(ExportError, match="is not the image's"):  # refused after the folder was made
        export_plan(replace(plan, patient_name="Someone^Else"), dose, planning_image, technique, tmp_path / "new")
    assert os.listdir(tmp_path) == []


def test_an_ultrasound_without_frame_of_reference_gets_one_from_the_export(kv_case, tmp_path):
    planning_image, plan, technique, dose = kv_case
    source = dcmread(planning_image.image.source_path)
    del source.FrameOfReferenceUID, source.PositionReferenceIndicator
    source.save_as(tmp_path / "no-frame.dcm")
    image = replace(planning_image.image, source_path=str(tmp_path / "no-frame.dcm"))
    files = export_plan(plan, dose, image, technique, tmp_path / "out")
    assert any("declares no Frame of Reference" in note for note in files.notes)
    rt_plan, struct, rt_dose = (dcmread(p) for p in (files.rt_plan, files.rt_structure_set, files.rt_dose))
    assert files.frame_of_reference_uid not in ("", source.get("FrameOfReferenceUID"))
    assert cross_reference_problems(rt_plan, struct, rt_dose, source) == []
    assert struct.FrameOfReferenceUID == rt_dose.FrameOfReferenceUID == files.frame_of_reference_uid
    assert_dciodvfy_accepts(files.rt_plan, files.rt_structure_set, files.rt_dose)


def test_a_failure_while_writing_leaves_no_partial_export(kv_case, tmp_path, monkeypatch):
    planning_image, plan, technique, dose = kv_case
    real_write, calls = export_module.atomic_write_bytes, []

    def fail_on_third(path, data):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(export_module, "atomic_write_bytes", fail_on_third)
    with pytest.raises(ExportError, match="nothing was written: No space left"):
        export_plan(plan, dose, planning_image, technique, tmp_path)
    assert len(calls) == 3 and os.listdir(tmp_path) == []


def test_an_existing_export_is_replaced_only_on_request_and_whole(kv_case, tmp_path, monkeypatch):
    planning_image, plan, technique, dose = kv_case
    first = export_plan(plan, dose, planning_image, technique, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ExportError, match="already holds an export"):
        export_plan(plan, dose, planning_image, technique, tmp_path)
    real_replace, placed = os.replace, []

    def fail_on_second_placement(src, dst):
        if ".planner-export-" in str(src) and not os.path.basename(src).startswith("."):
            placed.append(dst)
            if len(placed) == 2:
                raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(export_module.os, "replace", fail_on_second_placement)
    with pytest.raises(ExportError, match="Input/output error"):
        export_plan(plan, dose, planning_image, technique, tmp_path, overwrite=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # the first export, untouched
    monkeypatch.undo()
    second = export_plan(plan, dose, planning_image, technique, tmp_path, overwrite=True)
    assert second.rt_plan_uid != first.rt_plan_uid  # a new export is new instances
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before)


# ------------------------------------------------------------------------------------------- quantisation

def test_quantisation_maps_the_maximum_near_full_scale_and_nan_to_zero():
    grid = np.array([[0.0, 1e-4, np.nan], [12.345678, 45.0, 3.3]])
    q = quantise_dose(grid)
    assert q.pixels.dtype == np.uint16 and q.nan_count == 1 and q.pixels[0, 2] == 0
    assert q.scaling_gy == float(q.scaling_text) and len(q.scaling_text) <= 16
    assert 64_000 < q.pixels.max() <= 65_535
    finite = ~np.isnan(grid)
    assert np.max(np.abs(q.pixels[finite] * q.scaling_gy - grid[finite])) <= q.scaling_gy / 2
    assert q.scaling_gy / 45.0 < 1e-3 / 10  # one step is far below 0.1 % of the maximum
    assert quantise_dose(np.zeros((2, 2))).pixels.max() == 0
    for bad in (np.array([[-0.1, 1.0]]), np.array([[np.inf, 1.0]])):
        with pytest.raises(DoseGridError):
            quantise_dose(bad)


def test_the_dose_grid_axes_must_be_even(kv_case, tmp_path):
    planning_image, plan, technique, dose = kv_case
    x = np.array(dose.x_mm, dtype=float)
    x[5] += 0.01
    with pytest.raises(ExportError, match="not evenly spaced"):
        export_plan(plan, replace(dose, x_mm=x), planning_image, technique, tmp_path)
    assert os.listdir(tmp_path) == []

