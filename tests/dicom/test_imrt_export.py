"""An optimised, sequenced TG-119 plan exported as CT + RTSTRUCT + RTPLAN + RTDOSE: one consistent set
that dciodvfy accepts and that Planner reads back."""

import shutil
from dataclasses import replace

import numpy as np
import pytest
from pydicom import dcmread

from planner.dicom.imrt_export import ImrtExportError, export_imrt_plan
from planner.dose.dvh import dose_at_volume_gy
from planner.imaging.ct_series import load_ct_volume
from plugins.imrt_photon import planning
from tests.dicom.export_fixtures import dciodvfy

# dciodvfy warnings accepted: the CT's empty Laterality (unknown for a phantom; absent is an error)
ACCEPTED_WARNING_WORDS = ("<Laterality>",)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    volume = planning.tg119_phantom(10.0)
    plan = replace(planning.default_plan(volume), max_iterations=30)
    influence = planning.compute_dose_influence(volume, plan)
    result = planning.optimise_plan(volume, influence, plan)
    deliverable = planning.deliverable_plan(volume, influence, result, label="TG119 C-shape")
    dose = planning.dose_grid_gy(volume, influence, deliverable.dose_rows_gy)
    folder = tmp_path_factory.mktemp("imrt") / "export"
    export = export_imrt_plan(folder, volume, deliverable.mlc_plan, dose, "PHANTOM^TG119", "TG119")
    return volume, deliverable, dose, export


def test_the_deliverable_plan_is_renormalised_after_sequencing(exported):
    volume, deliverable, dose, _ = exported
    # renormalised on the reported DVH, which samples the C below its 10 mm voxels ...
    assert deliverable.metrics["PTV"].d95_gy == pytest.approx(50.0, rel=1e-6)
    # ... and an independent reading of the exported grid agrees: the dose interpolated by SciPy at the
    # C's analytic samples
    assert _independent_ptv_d95(volume, dose) == pytest.approx(50.0, abs=0.3)
    plan = deliverable.mlc_plan
    assert len(plan.beams) == 9 and all(n >= 1 for n in plan.segment_counts)
    assert plan.fractions == 25 and plan.dose_per_fraction_gy == 2.0
    assert plan.total_mu_per_fraction > 0


def _independent_ptv_d95(volume, dose):
    """PTV D95 with SciPy's trilinear interpolation at 0.5 mm points inside the analytic C (equal volumes)."""
    from scipy.interpolate import RegularGridInterpolator

    shape = volume.shapes["PTV"]
    (x0, x1), (y0, y1), (z0, z1) = shape.bounds_mm
    x, y, z = (np.arange(lo + 0.25, hi, 0.5) for lo, hi in ((x0, x1), (y0, y1), (z0, z1)))
    inside = shape.contains_on_lattice(x, y, z)
    points = np.stack(np.meshgrid(x, y, z, indexing="ij"), axis=-1)[inside]
    grid = volume.grid
    interpolate = RegularGridInterpolator((grid.x_mm, grid.y_mm, grid.z_mm), dose, bounds_error=False, fill_value=None)
    return float(np.quantile(interpolate(points), 0.05))


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy is not installed")
def test_dciodvfy_accepts_every_object(exported):
    _, _, _, export = exported
    for path in (export.ct_files[0], export.ct_files[-1], export.structure_set, export.rt_plan, export.rt_dose):
        errors, warnings = dciodvfy(path)
        assert errors == [], f"{path.name}: {errors}"
        assert [w for w in warnings if not any(a in w for a in ACCEPTED_WARNING_WORDS)] == [], f"{path.name}: {warnings}"


def test_the_objects_reference_one_another(exported):
    _, deliverable, dose, export = exported
    ct = dcmread(export.ct_files[0], stop_before_pixels=True)
    rs = dcmread(export.structure_set)
    rp = dcmread(export.rt_plan)
    rd = dcmread(export.rt_dose)
    for ds in (rs, rp, rd):
        assert ds.StudyInstanceUID == ct.StudyInstanceUID
        assert ds.FrameOfReferenceUID == ct.FrameOfReferenceUID
        assert (ds.PatientID, str(ds.PatientName)) == ("TG119", "PHANTOM^TG119")
    assert rp.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == rs.SOPInstanceUID
    assert rd.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == rp.SOPInstanceUID == export.rt_plan_uid
    ptv_number = {r.ROIName: r.ROINumber for r in rs.StructureSetROISequence}["PTV"]
    assert rp.DoseReferenceSequence[0].ReferencedROINumber == ptv_number
    # the dose in the file is the deliverable dose (16-bit quantised: within one scaling step)
    stored = rd.pixel_array * float(rd.DoseGridScaling)  # frames [z, y, x]
    np.testing.assert_allclose(stored, np.transpose(dose, (2, 1, 0)), atol=float(rd.DoseGridScaling))


def test_planner_reads_the_exported_ct_back_with_its_structures(exported):
    volume, _, _, export = exported
    back = load_ct_volume(export.folder)
    for name in ("PTV", "Core"):
        assert back.volume_cm3(name) == pytest.approx(volume.volume_cm3(name), rel=0.02)


def test_an_export_never_overwrites_unasked_and_bad_input_writes_nothing(exported, tmp_path):
    volume, deliverable, dose, export = exported
    with pytest.raises(ImrtExportError, match="already holds an exported plan"):
        export_imrt_plan(export.folder, volume, deliverable.mlc_plan, dose, "PHANTOM^TG119", "TG119")
    with pytest.raises(ImrtExportError, match="dose grid"):
        export_imrt_plan(tmp_path / "a", volume, deliverable.mlc_plan, dose[:-1], "P", "1")
    other = replace(deliverable.mlc_plan, target_roi_name="GTV")
    with pytest.raises(ImrtExportError, match="'GTV' is not a structure"):
        export_imrt_plan(tmp_path / "b", volume, other, dose, "P", "1")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_plan_on_a_patient_ct_references_its_own_structure_set_and_writes_no_copy(tmp_path):
    import importlib.util
    from pathlib import Path

    from planner.imaging.ct_series import resample_volume

    script = Path(__file__).resolve().parents[2] / "scripts" / "make_tg119_ct.py"
    spec = importlib.util.spec_from_file_location("make_tg119_ct", script)
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    make.write_tg119_ct(tmp_path / "ct", 5.0, 10.0)
    original = dcmread(tmp_path / "ct" / "rtstruct.dcm")
    ct = dcmread(tmp_path / "ct" / "CT0001.dcm", stop_before_pixels=True)
    volume = resample_volume(load_ct_volume(tmp_path / "ct"), 10.0)
    plan = replace(planning.default_plan(volume), max_iterations=15)
    influence = planning.compute_dose_influence(volume, plan)
    result = planning.optimise_plan(volume, influence, plan)
    deliverable = planning.deliverable_plan(volume, influence, result)
    dose = planning.dose_grid_gy(volume, influence, deliverable.dose_rows_gy)
    export = export_imrt_plan(tmp_path / "out", volume, deliverable.mlc_plan, dose, "ignored", "ignored")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["RTDOSE.dcm", "RTPLAN.dcm"]
    assert export.structure_set is None and export.ct_files == ()
    rp, rd = dcmread(export.rt_plan), dcmread(export.rt_dose)
    assert rp.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == original.SOPInstanceUID
    ptv = {r.ROIName: r.ROINumber for r in original.StructureSetROISequence}["PTV"]
    assert rp.DoseReferenceSequence[0].ReferencedROINumber == ptv
    for ds in (rp, rd):
        assert (ds.PatientID, str(ds.PatientName), ds.StudyInstanceUID, ds.FrameOfReferenceUID, ds.StudyID) == \
            (ct.PatientID, str(ct.PatientName), ct.StudyInstanceUID, ct.FrameOfReferenceUID, ct.StudyID)
    if shutil.which("dciodvfy"):
        for path in (export.rt_plan, export.rt_dose):
            errors, warnings = dciodvfy(path)
            assert errors == [] and warnings == [], (path.name, errors, warnings)
