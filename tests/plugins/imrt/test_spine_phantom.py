"""The thoracic-spine phantom and its earlier course (issue 18, point 7): volumes against hand
formulas, the cord-PTV gap on the grid, the CT and structure set read back by load_ct_volume,
dciodvfy on every object, and the prior dose read back by pydicom against the design's formula."""

from __future__ import annotations

import importlib.util
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from planner.core.structure_geometry import PlanarContours, even_odd_on_lattice
from planner.core.volume import VoxelGrid
from planner.dicom.identity import ExportIdentity
from planner.dicom.prior_dose import PriorCourse, PriorDoseWriteError, write_prior_course
from planner.imaging.ct_series import load_ct_volume
from planner.imaging.hu_to_density import relative_electron_density_to_hu
from plugins.imrt_photon import spine_phantom as sp

REPO = Path(__file__).resolve().parents[3]
# An axial CT volume has no one laterality: Laterality is sent empty ("unknown"), as the TG-119 CT does.
ACCEPTED_WARNINGS = (
    "Warning - is only permitted to be empty when actually unknown; should be absent (not empty) if an "
    "unpaired body part, and have a value if a paired body part - attribute <Laterality>",
)
SCAN_MM = 140.0
PTV_MM = 80.0


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_spine_phantom", REPO / "scripts" / "make_spine_phantom.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module      # its dataclass looks its module up while being made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def case(script, tmp_path_factory):
    return script.write_spine_case(tmp_path_factory.mktemp("spine"), grid_mm=5.0)


# --------------------------------------------------------------------------------- hand geometry

def union_length(intervals: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Length of the union of intervals [low, high] at each x (NaN low: no interval there)."""
    lows = np.vstack([lo for lo, _ in intervals])
    highs = np.vstack([hi for _, hi in intervals])
    order = np.argsort(np.where(np.isnan(lows), np.inf, lows), axis=0)
    lows, highs = np.take_along_axis(lows, order, 0), np.take_along_axis(highs, order, 0)
    total = np.zeros(lows.shape[1])
    reach = np.full(lows.shape[1], -np.inf)
    for lo, hi in zip(lows, highs):
        ok = ~np.isnan(lo)
        start = np.maximum(lo, reach)
        total += np.where(ok & (hi > start), hi - start, 0.0)
        reach = np.where(ok, np.maximum(reach, hi), reach)
    return total


def ellipse_chord(x, cx, cy, a, b):
    half = b * np.sqrt(np.clip(1 - ((x - cx) / a) ** 2, 0, None))
    inside = np.abs(x - cx) <= a
    return np.where(inside, cy - half, np.nan), np.where(inside, cy + half, np.nan)


def box_chord(x, x0, x1, y0, y1):
    inside = (x >= x0) & (x <= x1)
    return np.where(inside, y0, np.nan), np.where(inside, y1, np.nan)


def solid_vertebra_area_mm2() -> float:
    """The vertebra with its canal filled, from the anatomy's numbers written out here: vertebral
    body ellipse 30 × 25 mm centred 20 mm in front of the cord, a 13.5 mm disc (arch), a spinous
    process 8 mm wide from 12 to 43.5 mm behind, transverse processes 12-27 mm out, 8 mm thick;
    integrated along x in 1 µm strips."""
    x = np.arange(-40.0, 40.0, 0.001) + 0.0005
    pieces = [ellipse_chord(x, 0, -20.0, 15.0, 12.5), ellipse_chord(x, 0, 0, 13.5, 13.5),
              box_chord(x, -4, 4, 12, 43.5), box_chord(x, 12, 27, -2, 6), box_chord(x, -27, -12, -2, 6)]
    return float(union_length(pieces).sum() * 0.001)


HAND_AREA_MM2 = {
    "SpinalCord": math.pi * 4.5 ** 2,
    "SpinalCanal": math.pi * 7.5 ** 2,
    "Esophagus": math.pi * 8.0 ** 2,
    "Lung_L": math.pi * 55 * 75,
    "Lung_R": math.pi * 55 * 75,
    "External": math.pi * 170 * 110,
}


def hand_volume_cm3(name: str) -> float:
    if name == "Bone_Vertebra":
        return (solid_vertebra_area_mm2() - math.pi * 7.5 ** 2) * SCAN_MM / 1000
    if name == "PTV":   # the solid vertebra less the cord + 2.5 mm
        return (solid_vertebra_area_mm2() - math.pi * 7.0 ** 2) * PTV_MM / 1000
    return HAND_AREA_MM2[name] * SCAN_MM / 1000


def sampled_volume_cm3(shape, step_mm: float = 0.25) -> float:
    """A shape's volume from its points on a fine lattice (mid-voxel points of ``step_mm`` cells)."""
    (x0, x1), (y0, y1), (z0, z1) = shape.bounds_mm
    axes = [np.arange(lo - 1, hi + 1, step_mm) + step_mm / 2 for lo, hi in ((x0, x1), (y0, y1))]
    z = np.array([0.0])
    area = shape.contains_on_lattice(axes[0], axes[1], z).sum() * step_mm ** 2
    return float(area * (z1 - z0) / 1000)


# ----------------------------------------------------------------------------------------- tests

def test_the_anatomy_is_the_briefs():
    assert (2 * sp.VERTEBRAL_BODY_SEMI_AXES_MM[0], 2 * sp.VERTEBRAL_BODY_SEMI_AXES_MM[1]) == (30.0, 25.0)
    assert 2 * sp.CANAL_RADIUS_MM == 15.0 and 8.0 <= 2 * sp.CORD_RADIUS_MM <= 10.0
    assert 2.0 <= sp.CORD_TO_PTV_GAP_MM <= 3.0
    assert (sp.SCAN_LENGTH_MM, sp.PTV_LENGTH_MM) == (SCAN_MM, PTV_MM)
    names = list(sp.spine_shapes())
    assert names == ["PTV", "SpinalCord", "SpinalCanal", "Bone_Vertebra", "Esophagus", "Lung_L", "Lung_R", "External"]


@pytest.mark.parametrize("name", ["PTV", "SpinalCord", "SpinalCanal", "Bone_Vertebra", "Esophagus", "Lung_L",
                                  "Lung_R", "External"])
def test_each_shape_has_its_hand_volume(name):
    shape = sp.spine_shapes()[name]
    assert sampled_volume_cm3(shape) == pytest.approx(hand_volume_cm3(name), rel=0.02)
    # its outline (what the RT Structure Set holds) fills to the same region, up to the chords
    x = np.arange(-200, 200, 0.5) + 0.13
    y = np.arange(-180, 70, 0.5) + 0.07
    filled = np.zeros((x.size, y.size), dtype=bool)
    for outline in shape.outlines_mm(0.0):
        filled ^= even_odd_on_lattice(outline, x, y)
    exact = shape.contains_on_lattice(x, y, np.array([0.0]))[:, :, 0]
    assert (filled ^ exact).sum() <= 0.002 * exact.sum()


@pytest.mark.parametrize("spacing_mm", [2.5, 5.0])
def test_the_large_structures_voxelise_to_their_hand_volumes(spacing_mm):
    volume = sp.spine_phantom(spacing_mm)
    for name in ("External", "Lung_L", "Lung_R"):
        assert volume.volume_cm3(name) == pytest.approx(hand_volume_cm3(name), rel=0.02), name
    assert not np.any(volume.masks["PTV"] & volume.masks["SpinalCord"])


def test_the_cord_to_ptv_gap_is_2_5_mm_on_the_grid():
    volume = sp.spine_phantom(2.5)
    x, y = np.meshgrid(volume.grid.x_mm, volume.grid.y_mm, indexing="ij")
    radius = np.hypot(x, y)[:, :, None] * np.ones(volume.grid.shape)
    # from every PTV voxel centre to the cord's surface (a cylinder of 4.5 mm on the axis)
    gaps = radius[volume.masks["PTV"]] - 4.5
    # voxel centres at ±1.25, ±3.75 mm: the nearest is (3.75, 6.25), r = 7.289 mm, 2.789 mm out
    assert gaps.min() == pytest.approx(math.hypot(3.75, 6.25) - 4.5, abs=1e-9)
    assert 2.0 <= gaps.min() <= 3.0
    # below the voxel, the shapes: nearest PTV and cord points 2.5 mm apart (0.05 mm lattice)
    lattice = np.arange(-10, 10, 0.05) + 0.025
    shapes = sp.spine_shapes()
    ptv = shapes["PTV"].contains_on_lattice(lattice, lattice, np.array([0.0]))[:, :, 0]
    cord = shapes["SpinalCord"].contains_on_lattice(lattice, lattice, np.array([0.0]))[:, :, 0]
    lx, ly = np.meshgrid(lattice, lattice, indexing="ij")
    gap = np.hypot(lx[ptv], ly[ptv]).min() - np.hypot(lx[cord], ly[cord]).max()
    assert gap == pytest.approx(2.5, abs=0.1)


def test_tissues_have_their_ct_numbers(case):
    volume = sp.spine_phantom(5.0)
    ct = dcmread(case.ct_files[len(case.ct_files) // 2])
    hu = (ct.pixel_array.astype(float) * float(ct.RescaleSlope) + float(ct.RescaleIntercept)).T   # [x, y]
    k = len(case.ct_files) // 2 - 1
    masks = {name: m[:, :, k] for name, m in volume.masks.items()}
    bone = masks["Bone_Vertebra"]
    lung = masks["Lung_L"]
    cord = masks["SpinalCord"]
    soft = masks["External"] & ~(bone | lung | masks["Lung_R"] | masks["SpinalCanal"])
    air = ~masks["External"]
    for mask, expected in ((bone, 250), (lung, -750), (cord, 35), (soft, 40), (air, -1000)):
        assert mask.any() and np.all(hu[mask] == expected), expected
    # no 5 mm voxel centre lies in the CSF (4.5 < r <= 7.5 mm): the nearest are at r = 3.54 and 7.91 mm
    assert not np.any(masks["SpinalCanal"] & ~cord)


def test_csf_has_its_ct_number_on_the_fine_grid():
    volume = sp.spine_phantom(2.5)
    csf = volume.masks["SpinalCanal"] & ~volume.masks["SpinalCord"]
    assert csf.any() and np.all(np.rint(relative_electron_density_to_hu(volume.density[csf])) == 15)


def test_the_ct_reads_back_with_the_same_structures(case):
    volume = sp.spine_phantom(5.0)
    back = load_ct_volume(case.ct_folder)
    assert list(back.masks) == list(volume.masks)
    for name, mask in volume.masks.items():
        assert np.array_equal(back.masks[name], mask), name
        assert isinstance(back.shapes[name], PlanarContours)
        # the polygons read back enclose the hand volume (slabs of 5 mm add up to the length)
        assert sampled_volume_cm3(back.shapes[name], 0.25) == pytest.approx(hand_volume_cm3(name), rel=0.02), name
    np.testing.assert_allclose(back.density, np.maximum(volume.density, 0.001), rtol=2e-3)   # air reads 0.001
    rs = dcmread(case.ct_files[-1])
    types = {o.ReferencedROINumber: o.RTROIInterpretedType for o in rs.RTROIObservationsSequence}
    assert {roi.ROIName: types[roi.ROINumber] for roi in rs.StructureSetROISequence} == {
        "PTV": "PTV", "SpinalCord": "ORGAN", "SpinalCanal": "ORGAN", "Bone_Vertebra": "ORGAN",
        "Esophagus": "ORGAN", "Lung_L": "ORGAN", "Lung_R": "ORGAN", "External": "EXTERNAL"}
    # the Vertebra's slice holds its outline and the canal inside it (a ring: two polygons)
    vertebra = rs.ROIContourSequence[3].ContourSequence
    assert len(vertebra) == 2 * len(case.ct_files[:-1])


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")
def test_dciodvfy_accepts_every_object(case):
    paths = [case.ct_files[0], case.ct_files[len(case.ct_files) // 2], case.ct_files[-1], case.prior_plan,
             case.prior_dose, case.other_frame_plan, case.other_frame_dose]
    for path in paths:
        run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=120)
        lines = (run.stdout + run.stderr).splitlines()
        errors = [ln for ln in lines if ln.startswith("Error")]
        warned = [ln for ln in lines if ln.startswith("Warning")]
        assert errors == [], f"{path.name}: {errors}"
        assert set(warned) <= set(ACCEPTED_WARNINGS), f"{path.name}: {warned}"


def dose_of(path: Path) -> tuple[np.ndarray, object]:
    """The RT Dose in Gy as pydicom reads it, indexed [x, y, z]."""
    ds = dcmread(path)
    return (ds.pixel_array.astype(float) * float(ds.DoseGridScaling)).transpose(2, 1, 0), ds


def hand_prior_dose_gy(x, y, z) -> float:
    """The design by hand: AP/PA, mu 0.0047/mm from skins at y = -165 and +55 mm, fields 80 × 100 mm with
    erf edges of sigma 3.5 mm, 30 Gy at the cord's posterior surface on the axis (0, 4.5, 0)."""
    def profile(p, width):
        s = 3.5 * math.sqrt(2)
        return 0.5 * (math.erf((p + width / 2) / s) - math.erf((p - width / 2) / s))

    def depth(v):
        return math.exp(-0.0047 * (v + 165)) + math.exp(-0.0047 * (55 - v))

    return 30.0 * profile(x, 80) * profile(z, 100) * depth(y) / (profile(0, 80) * profile(0, 100) * depth(4.5))


def test_the_prior_dose_covers_the_cord_with_30_gy_in_10_fractions(case):
    dose, ds = dose_of(case.prior_dose)
    ct = dcmread(case.ct_files[0], stop_before_pixels=True)
    volume = sp.spine_phantom(5.0)
    assert dose.shape == volume.grid.shape
    assert [float(v) for v in ds.ImagePositionPatient] == [float(v) for v in ct.ImagePositionPatient]
    np.testing.assert_allclose(np.asarray(ds.GridFrameOffsetVector, dtype=float), volume.grid.z_mm - volume.grid.z_mm[0])
    step = float(ds.DoseGridScaling)
    # the cord's hottest voxel centres at 5 mm: (±2.5, 2.5, ±2.5) mm, just below 30 Gy by the formula
    expected = hand_prior_dose_gy(2.5, 2.5, 2.5)
    assert 29.8 < expected < 30.0
    assert dose[volume.masks["SpinalCord"]].max() == pytest.approx(expected, abs=step)
    i, j, k = (int(np.argmin(np.abs(a - v))) for a, v in zip((volume.grid.x_mm, volume.grid.y_mm, volume.grid.z_mm),
                                                           (-7.5, -52.5, 47.5)))
    assert dose[i, j, k] == pytest.approx(hand_prior_dose_gy(-7.5, -52.5, 47.5), abs=step)   # mid-body, near the field's end
    assert np.all(dose[~volume.masks["External"]] == 0.0)
    # the course's fractionation: the RT Plan the dose references
    plan = dcmread(case.prior_plan)
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == plan.SOPInstanceUID
    group = plan.FractionGroupSequence[0]
    assert group.NumberOfFractionsPlanned == 10 and group.NumberOfBeams == 0
    assert float(plan.DoseReferenceSequence[0].TargetPrescriptionDose) == 30.0
    assert float(group.ReferencedDoseReferenceSequence[0].TargetPrescriptionDose) == 3.0
    assert ds.DoseSummationType == "PLAN" and ds.DoseUnits == "GY"
    assert plan.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == dcmread(case.ct_files[-1]).SOPInstanceUID


def test_the_prior_dose_is_on_the_cts_frame_and_the_variant_is_not(case):
    ct = dcmread(case.ct_files[0], stop_before_pixels=True)
    same, other = dcmread(case.prior_dose), dcmread(case.other_frame_dose)
    assert same.FrameOfReferenceUID == ct.FrameOfReferenceUID == load_ct_volume(case.ct_folder).frame_of_reference_uid
    assert same.StudyInstanceUID == ct.StudyInstanceUID and same.PatientID == ct.PatientID
    assert other.FrameOfReferenceUID != ct.FrameOfReferenceUID and other.StudyInstanceUID != ct.StudyInstanceUID
    assert other.PatientID == ct.PatientID
    other_plan = dcmread(case.other_frame_plan)
    assert other.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == other_plan.SOPInstanceUID
    assert other_plan.FrameOfReferenceUID == other.FrameOfReferenceUID and "ReferencedStructureSetSequence" not in other_plan
    np.testing.assert_array_equal(dose_of(case.other_frame_dose)[0], dose_of(case.prior_dose)[0])


def test_the_script_is_byte_for_byte_repeatable(script, case, tmp_path):
    script.main([str(tmp_path), "--grid-mm", "5"])
    for path in (case.prior_plan, case.prior_dose, case.ct_files[-1], case.ct_files[3]):
        again = tmp_path / path.relative_to(case.ct_folder.parent)
        assert again.read_bytes() == path.read_bytes(), path.name


def test_a_course_that_cannot_be_written_is_refused(script, case, tmp_path):
    with pytest.raises(PriorDoseWriteError, match="whole number of fractions"):
        PriorCourse("x", 30.0, 0)
    with pytest.raises(PriorDoseWriteError, match="positive total dose"):
        PriorCourse("x", float("nan"), 10)
    grid = VoxelGrid(np.arange(3.0), np.arange(4.0), np.arange(2.0))
    identity = ExportIdentity(script.PatientStudy("A^B", "1", "", "", "1.2.4", "20240101", "000000", "1", "", "",
                                                  ""), "1.2.3", None, script.CREATED)
    course = PriorCourse("x", 30.0, 10)
    with pytest.raises(PriorDoseWriteError, match="the dose is"):
        write_prior_course(tmp_path, course, np.zeros((3, 4, 3)), grid, identity, plan_uid="1.2", dose_uid="1.3",
                           heterogeneity_correction="WATER")
    with pytest.raises(PriorDoseWriteError, match="heterogeneity"):
        write_prior_course(tmp_path, course, np.zeros((3, 4, 2)), grid, identity, plan_uid="1.2", dose_uid="1.3",
                           heterogeneity_correction="water")
    with pytest.raises(PriorDoseWriteError, match="already holds"):
        write_prior_course(case.prior_dose.parent, course, np.zeros((3, 4, 2)), grid, identity, plan_uid="1.2",
                           dose_uid="1.3", heterogeneity_correction="WATER")
    assert list(tmp_path.iterdir()) == []
