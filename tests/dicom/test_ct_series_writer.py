"""Writing a PlanningVolume as a CT series with its RT Structure Set: dciodvfy accepts both, the
references tie them together, the traced outlines fill back to the same voxels, the phantom script
is byte-for-byte repeatable, and a failed write leaves the folder as it was."""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from planner.core.volume import PlanningVolume, VoxelGrid
from planner.dicom import ct_series_writer
from planner.dicom.ct_series_writer import (CtSeriesWriteError, interpreted_type, mask_outlines,
                                            write_ct_series)
from planner.imaging.ct_series import load_ct_volume, rasterise_polygon

REPO = Path(__file__).resolve().parents[2]
CREATED = dt.datetime(2024, 1, 2, 3, 4, 5)
# An axial CT volume has no one laterality: Laterality is sent empty ("unknown"), as US.dcm does.
ACCEPTED_WARNINGS = (
    "Warning - is only permitted to be empty when actually unknown; should be absent (not empty) if an "
    "unpaired body part, and have a value if a paired body part - attribute <Laterality>",
)


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_tg119_ct", REPO / "scripts" / "make_tg119_ct.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def written(script, tmp_path_factory) -> list[Path]:
    return script.write_tg119_ct(tmp_path_factory.mktemp("tg119"), spacing_mm=5.0)


def small_volume(**kwargs) -> PlanningVolume:
    """6 × 5 × 3 voxels of 2 × 3 × 2.5 mm (unequal, so a swapped x and y cannot pass)."""
    density = np.ones((6, 5, 3), dtype=np.float32)
    density[0, :, :] = 0.0                    # air on one side only
    density[:, 0, :] = 1.5                    # a denser row along x
    ring = np.zeros((6, 5, 3), dtype=bool)
    ring[1:5, 1:4, :] = True
    ring[2:4, 2, 1] = False                   # a hole on the middle slice
    ring[4, 1, 2] = False                     # and a notch on the last
    grid = VoxelGrid(np.arange(6) * 2.0 - 5.0, np.arange(5) * 3.0 + 10.0, np.array([0.0, 2.5, 5.0]))
    return PlanningVolume(grid, density, {"PTV ring": ring, "Body": np.ones_like(ring)}, **kwargs)


def dciodvfy(path: Path) -> tuple[list[str], list[str]]:
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    return [ln for ln in lines if ln.startswith("Error")], [ln for ln in lines if ln.startswith("Warning")]


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")
def test_dciodvfy_accepts_a_ct_slice_and_the_structure_set(written):
    for path in (written[0], written[len(written) // 2], written[-1]):
        errors, warned = dciodvfy(path)
        assert errors == [], f"{path.name}: {errors}"
        assert set(warned) <= set(ACCEPTED_WARNINGS), f"{path.name}: {warned}"


def test_the_files_and_their_attributes(written):
    assert [p.name for p in written[:3]] == ["CT0001.dcm", "CT0002.dcm", "CT0003.dcm"]
    assert written[-1].name == "rtstruct.dcm" and len(written) == 32 + 1
    first, second = dcmread(written[0]), dcmread(written[1])
    assert first.Modality == "CT" and first.PhotometricInterpretation == "MONOCHROME2"
    assert (first.BitsAllocated, first.BitsStored, first.PixelRepresentation) == (16, 16, 1)
    assert float(first.RescaleIntercept) == -1024 and float(first.RescaleSlope) == 1
    assert [float(v) for v in first.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert [float(v) for v in first.PixelSpacing] == [5.0, 5.0] and float(first.SliceThickness) == 5.0
    assert float(second.ImagePositionPatient[2]) - float(first.ImagePositionPatient[2]) == pytest.approx(5.0)
    assert first.SeriesInstanceUID == second.SeriesInstanceUID and first.SOPInstanceUID != second.SOPInstanceUID
    assert first.FrameOfReferenceUID == second.FrameOfReferenceUID
    hu = first.pixel_array.astype(float) * float(first.RescaleSlope) + float(first.RescaleIntercept)
    assert hu[first.Rows // 2, first.Columns // 2] == 0.0        # water
    assert hu[0, 0] == -1000.0                                   # the air margin


def test_the_structure_set_references_the_ct(written):
    slices = [dcmread(p, stop_before_pixels=True) for p in written[:-1]]
    rs = dcmread(written[-1])
    uids = {ds.SOPInstanceUID for ds in slices}
    frame = rs.ReferencedFrameOfReferenceSequence[0]
    assert frame.FrameOfReferenceUID == slices[0].FrameOfReferenceUID == rs.FrameOfReferenceUID
    study = frame.RTReferencedStudySequence[0]
    assert study.ReferencedSOPInstanceUID == slices[0].StudyInstanceUID == rs.StudyInstanceUID
    series = study.RTReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == slices[0].SeriesInstanceUID
    assert [item.ReferencedSOPInstanceUID for item in series.ContourImageSequence] == [ds.SOPInstanceUID for ds in slices]
    z_by_uid = {ds.SOPInstanceUID: float(ds.ImagePositionPatient[2]) for ds in slices}
    for roi in rs.ROIContourSequence:
        for contour in roi.ContourSequence:
            assert contour.ContourGeometricType == "CLOSED_PLANAR"
            image = contour.ContourImageSequence[0].ReferencedSOPInstanceUID
            assert image in uids and float(contour.ContourData[2]) == pytest.approx(z_by_uid[image])
            assert len(contour.ContourData) == 3 * contour.NumberOfContourPoints
    names = [roi.ROIName for roi in rs.StructureSetROISequence]
    types = {o.ReferencedROINumber: o.RTROIInterpretedType for o in rs.RTROIObservationsSequence}
    assert names == ["PTV", "Core", "Body"]
    assert [types[roi.ROINumber] for roi in rs.StructureSetROISequence] == ["PTV", "ORGAN", "EXTERNAL"]


def test_interpreted_types():
    assert [interpreted_type(n) for n in ("PTV", "ptv_60", "Body", "EXTERNAL", "Core", "Rectum")] == \
        ["PTV", "PTV", "EXTERNAL", "EXTERNAL", "ORGAN", "ORGAN"]


def test_the_phantom_script_is_byte_for_byte_repeatable(script, written, tmp_path):
    again = script.write_tg119_ct(tmp_path / "again", spacing_mm=5.0)
    assert [p.name for p in again] == [p.name for p in written]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(again, written))
    # and run into the same folder again, it replaces its own files with the same bytes
    before = {p.name: p.read_bytes() for p in again}
    script.main([str(tmp_path / "again"), "--spacing-mm", "5"])
    assert {p.name: p.read_bytes() for p in sorted((tmp_path / "again").iterdir())} == before


def test_a_volume_with_a_hole_round_trips(tmp_path):
    volume = small_volume()
    paths = write_ct_series(volume, tmp_path, "Test^Ring", "RING-1", created=CREATED)
    back = load_ct_volume(tmp_path)
    for name, mask in volume.masks.items():
        assert np.array_equal(back.masks[name], mask), name
    for axis in ("x_mm", "y_mm", "z_mm"):
        np.testing.assert_allclose(getattr(back.grid, axis), getattr(volume.grid, axis))
    np.testing.assert_allclose(back.density, np.maximum(volume.density, 0.001), rtol=2e-3)
    assert back.description == "CT Test^Ring, 3 slices, 2×3×2.5 mm"
    rs = dcmread(paths[-1])
    ptv = rs.ROIContourSequence[0].ContourSequence
    assert len(ptv) == 4              # one outline on slices 0 and 2, outer and inner on slice 1
    # the volume's own frame of reference and study are kept; a second write makes new instances
    again = write_ct_series(back, tmp_path / "again", "Test^Ring", "RING-1", created=CREATED)
    first = dcmread(again[0], stop_before_pixels=True)
    assert first.FrameOfReferenceUID == back.frame_of_reference_uid
    assert first.StudyInstanceUID == back.study_instance_uid
    assert first.SOPInstanceUID != dcmread(paths[0], stop_before_pixels=True).SOPInstanceUID


@pytest.mark.parametrize("seed", range(6))
def test_traced_outlines_fill_back_to_the_mask(seed):
    """Random masks (holes, islands, pixels touching only at a corner) survive tracing and filling."""
    rng = np.random.default_rng(seed)
    mask = rng.random((13, 11)) < 0.45
    mask[0, :] = rng.random(11) < 0.9            # touching the grid's edge too
    filled = np.zeros_like(mask)
    for outline in mask_outlines(mask):
        assert len(outline) >= 4 and np.all(np.abs(outline % 1 - 0.5) < 1e-12)   # on pixel edges
        filled ^= rasterise_polygon(outline[:, 0], outline[:, 1], mask.shape)
    assert np.array_equal(filled, mask)


def test_corner_touching_pixels_are_two_outlines():
    mask = np.zeros((4, 4), dtype=bool)
    mask[1, 1] = mask[2, 2] = True
    outlines = mask_outlines(mask)
    assert len(outlines) == 2 and all(len(o) == 4 for o in outlines)


def test_an_existing_series_is_not_overwritten_unless_asked(tmp_path):
    volume = small_volume()
    write_ct_series(volume, tmp_path, "A^B", "1", created=CREATED)
    with pytest.raises(CtSeriesWriteError, match="already holds a CT series"):
        write_ct_series(volume, tmp_path, "A^B", "1", created=CREATED)
    (tmp_path / "CT0009.dcm").write_bytes((tmp_path / "CT0001.dcm").read_bytes())   # an older, longer series
    write_ct_series(volume, tmp_path, "A^B", "1", created=CREATED, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CT0001.dcm", "CT0002.dcm", "CT0003.dcm", "rtstruct.dcm"]
    load_ct_volume(tmp_path)


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def failing_encode(ds):
        calls.append(ds.Modality)
        if len(calls) == 3:
            raise OSError("disk full")
        return real_encode(ds)

    real_encode = ct_series_writer.encode
    monkeypatch.setattr(ct_series_writer, "encode", failing_encode)
    with pytest.raises(OSError, match="disk full"):
        write_ct_series(small_volume(), tmp_path / "new", "A^B", "1", created=CREATED)
    assert not (tmp_path / "new").exists()


def test_volumes_that_cannot_be_a_ct_series(tmp_path):
    volume = small_volume()
    flat = PlanningVolume(VoxelGrid(volume.grid.x_mm, volume.grid.y_mm, np.array([0.0])),
                          volume.density[:, :, :1])
    with pytest.raises(CtSeriesWriteError, match="at least two slices"):
        write_ct_series(flat, tmp_path, "A^B", "1")
    wrong = PlanningVolume(volume.grid, volume.density, {"PTV": np.ones((2, 2, 2), dtype=bool)})
    with pytest.raises(CtSeriesWriteError, match="grid's shape"):
        write_ct_series(wrong, tmp_path, "A^B", "1")
