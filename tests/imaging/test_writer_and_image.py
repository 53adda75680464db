"""write_ultrasound_dicom round trips, atomic writes, and the UltrasoundImage value."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pydicom
import pytest

from planner.imaging import PixelCalibration, UltrasoundImage, load_ultrasound, write_ultrasound_dicom

WHEN = dt.datetime(2024, 1, 2, 3, 4, 5)


def pixels(rows=30, cols=40) -> np.ndarray:
    return (np.arange(rows * cols) % 256).astype(np.uint8).reshape(rows, cols)


def test_round_trip_keeps_pixels_identity_and_an_offset_calibration(tmp_path):
    cal = PixelCalibration(0.0375, 0.0125, -7.3125, 1.5, "test")
    path = write_ultrasound_dicom(tmp_path / "us.dcm", pixels(), cal, "TEST^Round Trip", "RT-1",
                                  uid_seed="seed", content_datetime=WHEN)
    image = load_ultrasound(path)
    np.testing.assert_array_equal(image.frames[0], pixels())
    got = image.calibration
    assert (got.mm_per_pixel_x, got.mm_per_pixel_y, got.x0_mm, got.y0_mm) == (0.0375, 0.0125, -7.3125, 1.5)
    assert image.patient_name == "TEST^Round Trip" and image.patient_id == "RT-1"
    assert image.problems == ()
    ds = pydicom.dcmread(path)
    region = ds.SequenceOfUltrasoundRegions[0]
    assert (region.RegionLocationMaxX1, region.RegionLocationMaxY1) == (39, 29)
    assert (region.PhysicalUnitsXDirection, region.PhysicalUnitsYDirection) == (3, 3)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.PhotometricInterpretation == "MONOCHROME2" and ds.BitsAllocated == 8
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "SMALL PARTS", "0001"]
    assert "FrameOfReferenceUID" in ds


def test_uid_seed_makes_output_byte_identical_and_no_seed_makes_new_uids(tmp_path):
    cal = PixelCalibration(0.05, 0.025, 0.0, 0.0, "test")
    a = write_ultrasound_dicom(tmp_path / "a.dcm", pixels(), cal, "A^B", "1", uid_seed="s", content_datetime=WHEN)
    b = write_ultrasound_dicom(tmp_path / "b.dcm", pixels(), cal, "A^B", "1", uid_seed="s", content_datetime=WHEN)
    assert a.read_bytes() == b.read_bytes()
    c = write_ultrasound_dicom(tmp_path / "c.dcm", pixels(), cal, "A^B", "1", content_datetime=WHEN)
    d = write_ultrasound_dicom(tmp_path / "d.dcm", pixels(), cal, "A^B", "1", content_datetime=WHEN)
    assert pydicom.dcmread(c).SOPInstanceUID != pydicom.dcmread(d).SOPInstanceUID


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    cal = PixelCalibration(0.05, 0.025, 0.0, 0.0, "test")
    target = write_ultrasound_dicom(tmp_path / "us.dcm", pixels(), cal, "A^B", "1", uid_seed="s",
                                    content_datetime=WHEN)
    before = target.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_ultrasound_dicom(target, pixels(10, 10), cal, "C^D", "2")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["us.dcm"]


def test_the_writer_refuses_non_8_bit_or_non_2d_pixels(tmp_path):
    cal = PixelCalibration(0.05, 0.025, 0.0, 0.0, "test")
    with pytest.raises(ValueError):
        write_ultrasound_dicom(tmp_path / "x.dcm", pixels().astype(np.uint16), cal, "A", "1")
    with pytest.raises(ValueError):
        write_ultrasound_dicom(tmp_path / "x.dcm", np.zeros((2, 3, 3), np.uint8), cal, "A", "1")


def make_image(frames, calibration=None) -> UltrasoundImage:
    return UltrasoundImage(frames=frames, calibration=calibration, modality="US", sop_class_name="x",
                           sop_instance_uid="1", patient_name="", patient_id="", frame_time_ms=None,
                           source_path="", problems=["a"])


def test_image_properties_and_edges():
    cal = PixelCalibration(0.1, 0.05, 2.0, 1.0, "test")
    image = make_image(np.zeros((2, 20, 30), np.uint8), cal)
    assert (image.n_frames, image.rows, image.cols, image.is_colour) == (2, 20, 30, False)
    assert image.width_mm == pytest.approx(3.0) and image.depth_mm == pytest.approx(1.0)
    assert image.extent_mm == pytest.approx((1.95, 0.975, 3.0, 1.0))
    assert image.problems == ("a",)
    assert image.extent_px == (-0.5, -0.5, 30.0, 20.0)


def test_pixel_value_grey_and_colour_and_no_wrap_around():
    grey = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    image = make_image(grey)
    assert image.pixel_value(1, 2, 1) == grey[1, 1, 2]
    with pytest.raises(IndexError):
        image.pixel_value(0, -1, 0)
    with pytest.raises(IndexError):
        image.pixel_value(0, 4, 0)
    colour = np.zeros((1, 3, 4, 3), np.uint8)
    colour[0, 1, 2] = (10, 20, 30)
    assert make_image(colour).pixel_value(0, 2, 1) == (10, 20, 30)
    assert make_image(colour).is_colour


def test_bad_frame_shapes_are_refused():
    with pytest.raises(ValueError):
        make_image(np.zeros((3, 4), np.uint8))
    with pytest.raises(ValueError):
        make_image(np.zeros((1, 3, 4, 3), np.uint16))
    with pytest.raises(ValueError):
        make_image(np.zeros((0, 3, 4), np.uint8))


def test_the_callers_array_is_not_made_read_only_but_the_images_view_is():
    frames = np.zeros((1, 3, 4), np.uint8)
    image = make_image(frames)
    frames[0, 0, 0] = 5  # still writable for the owner ...
    with pytest.raises(ValueError):
        image.frames[0, 0, 0] = 1  # ... but not through the image
