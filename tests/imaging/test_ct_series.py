"""Reading a CT series with its RT Structure Set: the TG-119 phantom written by
scripts/make_tg119_ct.py comes back voxel for voxel, and every damaged or mixed input is refused with
a CtSeriesError that names the file or the slice."""

from __future__ import annotations

import importlib.util
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from planner.core.volume import PlanningVolume, VoxelGrid
from planner.imaging.ct_series import CtSeriesError, load_ct_volume, rasterise_polygon, resample_volume
from planner.imaging.hu_to_density import (AIR_HU, HLUT_HU, HLUT_RELATIVE_ELECTRON_DENSITY,
                                           hu_to_relative_electron_density, relative_electron_density_to_hu)

REPO = Path(__file__).resolve().parents[2]


def make_tg119_ct_module():
    spec = importlib.util.spec_from_file_location("make_tg119_ct", REPO / "scripts" / "make_tg119_ct.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return make_tg119_ct_module()


@pytest.fixture(scope="module")
def written(script, tmp_path_factory):
    """(folder, the volume written) for the TG-119 phantom at 5 mm with 10 mm of air around it."""
    folder = tmp_path_factory.mktemp("tg119-ct")
    script.write_tg119_ct(folder, spacing_mm=5.0)
    return folder, script.tg119_ct_volume(5.0)


@pytest.fixture(scope="module")
def loaded(written) -> PlanningVolume:
    return load_ct_volume(written[0])


@pytest.fixture
def copy(written, tmp_path) -> Path:
    """A private copy of the written series, to damage."""
    target = tmp_path / "ct"
    shutil.copytree(written[0], target)
    return target


def ct_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("CT*.dcm"))


def edit(path: Path, change) -> None:
    ds = dcmread(path)
    change(ds)
    ds.save_as(path)


# ------------------------------------------------------------------------------------ round trip

def test_the_phantom_comes_back_voxel_for_voxel(written, loaded):
    """The phantom is written as its own outlines (the C, the core's circle, the body's box), and the
    reader fills them at the voxel centres: the same voxels, except the centres lying exactly on the
    C's cut (y = 7.5 mm on the 5 mm grid), which the reader's half-open even-odd rule leaves out."""
    _, original = written
    for axis in ("x_mm", "y_mm", "z_mm"):
        np.testing.assert_allclose(getattr(loaded.grid, axis), getattr(original.grid, axis), atol=1e-6)
    assert set(loaded.masks) == {"PTV", "Core", "Body"}
    for name in ("Core", "Body"):
        assert np.array_equal(loaded.masks[name], original.masks[name]), name
    on_the_cut = np.isclose(original.grid.y_mm, 7.5)[None, :, None] & original.masks["PTV"]
    assert np.array_equal(loaded.masks["PTV"], original.masks["PTV"] & ~on_the_cut)
    assert on_the_cut.sum() == 8 * 16   # 4 centres each side of the opening on 16 slices
    # and the outlines themselves come back, for the DVH: the C's exact area on every slice
    from plugins.imrt_photon.phantom import c_shape_area_mm2

    ptv = loaded.shapes["PTV"]
    assert len(ptv.planes) == 16 and ptv.slab_mm == pytest.approx(5.0)
    x, y = ptv.planes[0][1][0].T
    assert 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) == pytest.approx(c_shape_area_mm2(),
                                                                                             rel=1e-3)


def test_water_reads_as_density_one_and_the_air_around_it_as_almost_nothing(loaded):
    body = loaded.masks["Body"]
    assert np.all(loaded.density[body] == pytest.approx(1.0))
    assert (~body).sum() > 0
    assert np.all(loaded.density[~body] == pytest.approx(0.001))
    assert loaded.density.dtype == np.float32


def test_identity_description_and_isocentre(written, loaded):
    first = dcmread(ct_files(written[0])[0], stop_before_pixels=True)
    assert loaded.frame_of_reference_uid == first.FrameOfReferenceUID
    assert loaded.study_instance_uid == first.StudyInstanceUID
    assert loaded.description == "CT TG119^C-shape phantom, 32 slices, 5×5×5 mm"
    # the default isocentre is the PTV's centroid: on the axis in x and z, anterior (−y) of the core
    i, j, k = np.nonzero(loaded.masks["PTV"])
    expected = (loaded.grid.x_mm[i].mean(), loaded.grid.y_mm[j].mean(), loaded.grid.z_mm[k].mean())
    assert loaded.isocentre_mm == pytest.approx(expected)
    assert loaded.isocentre_mm[1] < -5.0 and abs(loaded.isocentre_mm[0]) < 1e-6


def test_a_shuffled_file_list_loads_identically(written, loaded):
    files = ct_files(written[0]) + [written[0] / "rtstruct.dcm"]
    random.Random(7).shuffle(files)
    shuffled = load_ct_volume(files)
    assert np.array_equal(shuffled.density, loaded.density)
    assert all(np.array_equal(shuffled.masks[n], loaded.masks[n]) for n in loaded.masks)
    np.testing.assert_array_equal(shuffled.grid.z_mm, loaded.grid.z_mm)


def test_other_files_in_the_folder_are_ignored(copy, loaded):
    (copy / "README.txt").write_text("not DICOM", encoding="utf-8")
    shutil.copy(REPO / "resources" / "demo" / "demo_ultrasound.dcm", copy / "us.dcm")
    (copy / "sub").mkdir()
    again = load_ct_volume(copy)
    assert np.array_equal(again.density, loaded.density) and set(again.masks) == set(loaded.masks)


def test_the_ct_alone_and_an_explicit_structure_set(written, loaded):
    alone = load_ct_volume(ct_files(written[0]))
    assert alone.masks == {}
    assert alone.isocentre_mm == pytest.approx(tuple((a[0] + a[-1]) / 2 for a in
                                                     (alone.grid.x_mm, alone.grid.y_mm, alone.grid.z_mm)))
    given = load_ct_volume(ct_files(written[0]), rtstruct_path=written[0] / "rtstruct.dcm")
    assert all(np.array_equal(given.masks[n], loaded.masks[n]) for n in loaded.masks)


def test_rescale_slope_and_intercept_are_applied(copy, loaded):
    def double_slope(ds):
        stored = ds.pixel_array.astype(np.int32)            # HU = stored − 1024
        ds.PixelData = ((stored - 24) // 2).astype(np.int16).tobytes()   # HU = 2·stored' − 1000
        ds.RescaleSlope, ds.RescaleIntercept = "2", "-1000"
    for path in ct_files(copy):
        edit(path, double_slope)
    again = load_ct_volume(copy)
    np.testing.assert_allclose(again.density, loaded.density, atol=1e-6)


# ------------------------------------------------------------------------------------ refusals

def refused(match: str, *args, **kwargs) -> str:
    with pytest.raises(CtSeriesError, match=match) as info:
        load_ct_volume(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_no_ct_files(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here", encoding="utf-8")
    refused(f"no CT Image Storage files in {tmp_path}", tmp_path)


def test_two_series_mixed_names_both(copy):
    files = ct_files(copy)
    series = dcmread(files[0]).SeriesInstanceUID
    edit(files[3], lambda ds: setattr(ds, "SeriesInstanceUID", "1.2.3.4.5"))
    message = refused("mixes 2 CT series", copy)
    assert series in message and "1.2.3.4.5" in message and "CT0004.dcm" in message


def test_a_missing_slice_names_its_neighbours(copy, loaded):
    ct_files(copy)[10].unlink()
    z = loaded.grid.z_mm
    message = refused("1 CT slice missing between", copy)
    assert f"z = {z[9]:g} mm (CT0010.dcm)" in message and f"z = {z[11]:g} mm (CT0012.dcm)" in message


def test_a_tilted_slice(copy):
    tilt = [1, 0, 0, 0, float(np.cos(0.1)), float(np.sin(0.1))]
    edit(ct_files(copy)[5], lambda ds: setattr(ds, "ImageOrientationPatient", tilt))
    refused(r"CT slice CT0006.dcm is not axial", copy)


def test_a_coronal_series(copy):
    for path in ct_files(copy):
        edit(path, lambda ds: setattr(ds, "ImageOrientationPatient", [1, 0, 0, 0, 0, -1]))
    refused("is not axial", copy)


def test_unequal_slice_spacing(copy):
    def shift(ds):
        ds.ImagePositionPatient = [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1],
                                   float(ds.ImagePositionPatient[2]) + 1.0]
    edit(ct_files(copy)[12], shift)
    message = refused("unequal CT slice spacing", copy)
    assert "CT0013.dcm" in message


def test_unequal_pixel_spacing_and_size(copy):
    edit(ct_files(copy)[2], lambda ds: setattr(ds, "PixelSpacing", [5.0, 4.0]))
    refused("CT slice CT0003.dcm has Pixel Spacing", copy)


def test_a_missing_rescale_is_refused(copy):
    edit(ct_files(copy)[4], lambda ds: delattr(ds, "RescaleIntercept"))
    refused("CT slice CT0005.dcm has no RescaleIntercept", copy)


def test_a_structure_set_on_another_frame_of_reference(copy):
    def move(ds):
        ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID = "1.2.3.999"
        for roi in ds.StructureSetROISequence:
            roi.ReferencedFrameOfReferenceUID = "1.2.3.999"
    edit(copy / "rtstruct.dcm", move)
    refused(r"RT Structure Set rtstruct.dcm is on frame of reference 1\.2\.3\.999",
            ct_files(copy), rtstruct_path=copy / "rtstruct.dcm")
    refused(r"no RT Structure Set in the folder is on the CT's frame of reference", copy)


def test_a_structure_set_without_contours(copy):
    def empty(ds):
        for item in ds.ROIContourSequence:
            del item.ContourSequence
    edit(copy / "rtstruct.dcm", empty)
    refused("RT Structure Set rtstruct.dcm has no contours", copy)


def test_open_contours_are_refused(copy):
    edit(copy / "rtstruct.dcm",
         lambda ds: setattr(ds.ROIContourSequence[1].ContourSequence[2], "ContourGeometricType", "OPEN_PLANAR"))
    refused(r"ROI 'Core', contour 3 is OPEN_PLANAR: only CLOSED_PLANAR", copy)


def test_a_contour_beyond_the_ct(copy, loaded):
    def lift(ds):
        contour = ds.ROIContourSequence[0].ContourSequence[0]
        points = [float(v) for v in contour.ContourData]
        points[2::3] = [loaded.grid.z_mm[-1] + 20.0] * (len(points) // 3)
        contour.ContourData = points
    edit(copy / "rtstruct.dcm", lift)
    refused(r"ROI 'PTV', contour 1 at z = .* lies outside the CT", copy)


def test_a_non_dicom_file_given_explicitly(copy):
    text = copy / "notes.txt"
    text.write_text("hello", encoding="utf-8")
    refused(r"notes.txt is not a DICOM file", [*ct_files(copy), text])
    refused(r"rtstruct.txt is not a DICOM file", ct_files(copy), rtstruct_path=text.rename(copy / "rtstruct.txt"))


def test_a_truncated_slice_is_never_skipped(copy):
    path = ct_files(copy)[7]
    whole = path.read_bytes()
    path.write_bytes(whole[:-3000])
    refused(r"CT0008.dcm is truncated: element \(7FE0,0010\)", copy)
    path.write_bytes(whole[:1000])   # inside the Series Instance UID: never "another series"
    refused(r"CT0008.dcm is truncated: element \(0020,000E\)", copy)
    path.write_bytes(whole[:200])
    refused(r"CT slice CT0008.dcm has no SeriesInstanceUID", copy)


def test_a_truncated_structure_set_in_the_folder(copy):
    path = copy / "rtstruct.dcm"
    path.write_bytes(path.read_bytes()[:5000])
    refused(r"rtstruct.dcm is truncated", copy)


def test_a_structure_set_given_that_is_not_one(copy):
    refused(r"is not an RT Structure Set", ct_files(copy), rtstruct_path=ct_files(copy)[0])


# ------------------------------------------------------------------------------------ rasterising

def test_a_hole_is_the_xor_of_two_contours(copy, loaded):
    """An inner contour on the same slice cuts a hole (the DICOM convention)."""
    k = int(np.argmin(np.abs(loaded.grid.z_mm)))
    z = float(loaded.grid.z_mm[k])
    def hole(ds):
        core = ds.ROIContourSequence[1]
        inner = type(core.ContourSequence[0])()
        inner.ContourGeometricType = "CLOSED_PLANAR"
        inner.NumberOfContourPoints = 4
        inner.ContourData = [-5.0, -5.0, z, 0.0, -5.0, z, 0.0, 0.0, z, -5.0, 0.0, z]
        core.ContourSequence.append(inner)
    edit(copy / "rtstruct.dcm", hole)
    core = load_ct_volume(copy).masks["Core"]
    expected = loaded.masks["Core"].copy()
    i, j = np.argmin(np.abs(loaded.grid.x_mm + 2.5)), np.argmin(np.abs(loaded.grid.y_mm + 2.5))
    assert expected[i, j, k]
    expected[i, j, k] = False           # the one voxel centre inside the 5 mm square
    assert np.array_equal(core, expected)


def test_pixel_centres_inside_a_triangle():
    inside = rasterise_polygon(np.array([0.0, 4.0, 0.0]), np.array([0.0, 0.0, 4.0]), (6, 5))
    # centres (i, j) with i + j < 4 strictly inside, i, j >= 0; edges through centres: half-open rule
    assert inside.shape == (6, 5)
    assert inside[1, 1] and inside[2, 1] and not inside[3, 3] and not inside[5, 0]
    assert not rasterise_polygon(np.array([10.0, 12, 12]), np.array([10.0, 10, 12]), (6, 5)).any()


# ------------------------------------------------------------------------------------ HU table

def test_the_hu_table_at_its_points():
    np.testing.assert_allclose(hu_to_relative_electron_density(HLUT_HU), HLUT_RELATIVE_ELECTRON_DENSITY)
    assert list(HLUT_HU) == [-1024, -999, -90, -45, 0, 100, 350, 3000]
    assert list(HLUT_RELATIVE_ELECTRON_DENSITY) == [0.001, 0.001, 0.95, 0.99, 1, 1.095, 1.199, 2.505]
    assert hu_to_relative_electron_density(50.0) == pytest.approx(1.0475)


def test_the_hu_table_clamps_at_both_ends():
    assert hu_to_relative_electron_density([-3000.0, -1024.0, -1000.0]) == pytest.approx([0.001] * 3)
    assert hu_to_relative_electron_density([3000.0, 5000.0]) == pytest.approx([2.505, 2.505])


def test_the_inverse_table():
    np.testing.assert_allclose(relative_electron_density_to_hu(HLUT_RELATIVE_ELECTRON_DENSITY[2:]), HLUT_HU[2:])
    assert relative_electron_density_to_hu([0.0, 0.001]) == pytest.approx([AIR_HU, AIR_HU])
    rho = np.linspace(0.01, 2.5, 50)
    np.testing.assert_allclose(hu_to_relative_electron_density(relative_electron_density_to_hu(rho)), rho)


# ------------------------------------------------------------------------------------ resampling

def test_resampling_keeps_water_and_structures(written):
    _, fine = written                        # 5 mm; a 10 mm dose grid halves each axis
    coarse = resample_volume(fine, 10.0)
    assert coarse.grid.spacing_mm == pytest.approx((10.0, 10.0, 10.0))
    assert coarse.grid.x_mm[0] + coarse.grid.x_mm[-1] == pytest.approx(fine.grid.x_mm[0] + fine.grid.x_mm[-1])
    body = coarse.masks["Body"]
    assert coarse.density[body].min() > 0.7 and coarse.density[coarse.grid.shape[0] // 2, :, :].max() == pytest.approx(1.0)
    assert all(m.dtype == bool and m.shape == coarse.grid.shape for m in coarse.masks.values())
    for name in ("PTV", "Core", "Body"):
        assert coarse.volume_cm3(name) == pytest.approx(fine.volume_cm3(name), rel=0.15), name
    assert coarse.isocentre_mm == fine.isocentre_mm and "resampled to 10×10×10 mm" in coarse.description


def test_resampling_averages_density_without_shifting_it():
    axis = np.arange(12) * 1.0
    density = np.where(np.arange(12) < 5, 0.0, 2.0)[:, None, None] * np.ones((12, 3, 3))
    volume = PlanningVolume(VoxelGrid(axis, axis[:3], axis[:3]), density.astype(np.float32))
    coarse = resample_volume(volume, (3.0, 1.0, 1.0))
    np.testing.assert_allclose(coarse.grid.x_mm, [1.0, 4.0, 7.0, 10.0])
    np.testing.assert_allclose(coarse.density[:, 1, 1], [0.0, 2 / 3, 2.0, 2.0], atol=1e-6)


def test_point_rois_are_markers_and_left_out(copy):
    def to_points(ds):
        for contour in ds.ROIContourSequence[1].ContourSequence:
            contour.ContourGeometricType = "POINT"
            contour.NumberOfContourPoints = 1
            contour.ContourData = list(contour.ContourData[:3])
    edit(copy / "rtstruct.dcm", to_points)
    assert set(load_ct_volume(copy).masks) == {"PTV", "Body"}
