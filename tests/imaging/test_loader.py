"""load_ultrasound on pydicom's bundled sample files, pictures, and broken input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from planner.imaging import ImageLoadError, LoadCancelled, UltrasoundImage, demo_case_path, load_ultrasound
from planner.imaging.calibration import calibration_for_pixel


def sample(name: str) -> str:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not bundled with this pydicom")
    return path


def test_palette_colour_us_is_rgb_and_its_region_outside_the_image_is_rejected():
    # Checked by hand (dcmdump): the image is 800 columns x 350 rows; region 1 (2-D tissue,
    # 0.0262 cm/pixel) spans columns 120-800 and rows 60-518, i.e. past the last column (799)
    # and far below the last row (349): the pixels were resized after calibration.
    image = load_ultrasound(sample("examples_palette.dcm"))
    assert image.frames.shape == (1, 350, 800, 3) and image.frames.dtype == np.uint8
    assert image.is_colour
    assert image.calibration is None
    assert (
        "region 1 (2-D tissue) not used for calibration: its pixel box columns 120-800, rows "
        "60-518 lies outside the 800x350 image (columns 0-799, rows 0-349); the image was "
        "probably resized or cropped after calibration") in image.problems
    assert image.problems[-1].startswith("no calibration: ")
    assert image.extent_mm is None and image.width_mm is None


def test_palette_region_itself_has_the_stated_scale_and_a_relative_reference_pixel():
    import pydicom

    ds = pydicom.dcmread(sample("examples_palette.dcm"))
    # Without the image-size check the region's own numbers are usable: 0.0262 cm -> 0.262 mm.
    cal = calibration_for_pixel(ds.SequenceOfUltrasoundRegions, 460, 200)
    assert cal.mm_per_pixel_x == pytest.approx(0.2622878766196998, abs=1e-15)
    assert cal.mm_per_pixel_y == cal.mm_per_pixel_x
    # Reference pixel (340, 36) is relative to the region corner (120, 60): image pixel (460, 96)
    # is the physical origin, the transducer centre in the middle of the 120..800 span.
    assert cal.pixel_to_mm(460, 96) == pytest.approx((0.0, 0.0), abs=1e-12)
    # With the real dataset (image-size check) the same pixel has no trustworthy calibration.
    assert calibration_for_pixel(ds, 460, 200) is None


def test_rgb_us_without_regions_loads_uncalibrated_with_a_problem():
    image = load_ultrasound(sample("examples_rgb_color.dcm"))
    assert image.frames.shape == (1, 240, 320, 3)
    assert image.calibration is None
    assert image.problems == (
        "no calibration: the file has no Sequence of Ultrasound Regions and no usable Pixel "
        "Spacing (0028,0030); draw a known distance to calibrate",)
    assert image.sop_class_name == "Ultrasound Image Storage" and image.modality == "US"


def test_big_endian_rgb_us_decodes_with_the_right_colours():
    image = load_ultrasound(sample("ExplVR_BigEnd.dcm"))
    assert image.frames.shape == (1, 60, 80, 3)
    assert image.calibration is None
    # the same picture as pydicom decodes it (a mostly yellow image)
    import pydicom

    expected = pydicom.dcmread(sample("ExplVR_BigEnd.dcm")).pixel_array
    np.testing.assert_array_equal(image.frames[0], expected)
    assert image.pixel_value(0, 0, 0) == tuple(int(v) for v in expected[0, 0])


def test_ybr_jpeg_multiframe_gives_30_rgb_frames_frame_time_and_rejects_its_oversized_region():
    image = load_ultrasound(sample("examples_ybr_color.dcm"))
    assert image.n_frames == 30 and (image.rows, image.cols) == (240, 320) and image.is_colour
    assert image.sop_class_name == "Ultrasound Multi-frame Image Storage"
    assert image.frame_time_ms == pytest.approx(33.333)
    assert image.calibration is None
    # Region 1 spans columns 84-595, rows 31-414 of a 320 x 240 image.
    assert any("columns 84-595, rows 31-414 lies outside the 320x240 image" in p for p in image.problems)
    # YBR converted to RGB: the grey ultrasound content has R ~ G ~ B
    frame = image.frames[0].astype(int)
    assert np.median(np.abs(frame[..., 0] - frame[..., 2])) <= 3


def test_jpeg2000_us_decodes_with_pillow():
    image = load_ultrasound(sample("examples_jpeg2k.dcm"))
    assert image.frames.shape == (1, 480, 640, 3)
    assert image.calibration is None


def test_an_rt_plan_is_refused_with_a_message_naming_it():
    with pytest.raises(ImageLoadError) as err:
        load_ultrasound(sample("rtplan.dcm"))
    assert str(err.value) == "rtplan.dcm: DICOM RT Plan (RTPLAN), not an image: it contains no pixel data"


@pytest.mark.parametrize("name, shape", [
    ("MR_small_jpeg_ls_lossless.dcm", (1, 64, 64)),  # JPEG-LS, decoded by pylibjpeg-libjpeg
    ("JPGExtended.dcm", (1, 1024, 256)),  # 12-bit JPEG Extended, which Pillow cannot decode
    ("MR_small_RLE.dcm", (1, 64, 64)),  # RLE Lossless
])
def test_compressed_images_from_other_software_decode_with_the_installed_plugins(name, shape):
    image = load_ultrasound(sample(name))
    assert image.frames.shape == shape


def test_compression_without_a_pixel_decoder_names_the_transfer_syntax(tmp_path):
    # MPEG-4 video: pydicom has no decoder for it; a vendor's cine export may use it.
    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import MPEG4HP41

    ds = pydicom.dcmread(demo_case_path() / "demo_ultrasound.dcm")
    ds.file_meta.TransferSyntaxUID = MPEG4HP41
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(64)])
    path = tmp_path / "video.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageLoadError) as err:
        load_ultrasound(path)
    message = str(err.value)
    assert "MPEG-4" in message and "1.2.840.10008.1.2.4.102" in message and "\n" not in message


def test_a_non_ultrasound_image_loads_with_pixel_spacing_and_a_warning():
    image = load_ultrasound(sample("CT_small.dcm"))
    assert image.calibration.source == "Pixel Spacing (0028,0030)"
    assert image.calibration.mm_per_pixel_x == pytest.approx(0.661468)
    assert image.problems[0].startswith("not an ultrasound image (CT Image Storage")


def test_truncated_pixel_data_is_an_image_load_error():
    with pytest.raises(ImageLoadError, match="pixel data could not be decoded"):
        load_ultrasound(sample("MR_truncated.dcm"))


def test_not_dicom_bytes_are_refused(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_bytes(b"This is a text file, not an image.\n" * 10)
    with pytest.raises(ImageLoadError) as err:
        load_ultrasound(path)
    assert str(err.value) == ("notes.dcm: not a DICOM file (no 'DICM' marker at byte 128) and not "
                              "a PNG, JPEG or TIFF picture")


def test_missing_empty_and_folder_paths_are_refused(tmp_path):
    with pytest.raises(ImageLoadError, match="file not found"):
        load_ultrasound(tmp_path / "nope.dcm")
    (tmp_path / "empty.dcm").write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"empty \(0 bytes\)"):
        load_ultrasound(tmp_path / "empty.dcm")
    with pytest.raises(ImageLoadError, match="is a folder"):
        load_ultrasound(tmp_path)


def test_a_truncated_demo_file_is_refused(tmp_path, demo_bytes):
    for cut, fragment in ((len(demo_bytes) // 2, "pixel data could not be decoded"),
                          (1000, "without pixel data: the file is truncated or incomplete"),
                          (60, "not a DICOM file")):
        path = tmp_path / f"cut{cut}.dcm"
        path.write_bytes(demo_bytes[:cut])
        with pytest.raises(ImageLoadError, match=fragment):
            load_ultrasound(path)


@pytest.mark.parametrize("fmt, mode", [("PNG", "L"), ("JPEG", "RGB"), ("TIFF", "RGB"), ("PNG", "RGBA")])
def test_pictures_load_uncalibrated(tmp_path, fmt, mode):
    pixels = (np.arange(40 * 60) % 251).astype(np.uint8).reshape(40, 60)
    picture = Image.fromarray(pixels).convert(mode)
    path = tmp_path / f"photo.{fmt.lower()}"
    picture.save(path, format=fmt)
    image = load_ultrasound(path)
    assert (image.rows, image.cols) == (40, 60)
    assert image.is_colour == (mode != "L")
    assert image.calibration is None
    assert image.problems[0] == "no calibration: draw a known distance to calibrate"
    if fmt == "PNG" and mode == "L":
        np.testing.assert_array_equal(image.frames[0], pixels)


def test_a_corrupt_png_is_refused(tmp_path):
    buffer = io.BytesIO()
    Image.new("L", (50, 50)).save(buffer, format="PNG")
    path = tmp_path / "broken.png"
    path.write_bytes(buffer.getvalue()[:40])
    with pytest.raises(ImageLoadError, match="broken.png: the picture file is truncated or corrupt"):
        load_ultrasound(path)


def test_progress_runs_from_0_to_1(demo_dcm):
    calls: list[tuple[float, str]] = []
    load_ultrasound(demo_dcm, progress=lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert len(calls) >= 3
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert all(isinstance(m, str) and m for _, m in calls)


def test_cancelling_raises_load_cancelled(demo_dcm):
    with pytest.raises(LoadCancelled, match="cancelled"):
        load_ultrasound(demo_dcm, is_cancelled=lambda: True)


def test_cancelling_between_cine_frames_stops_the_decoding():
    polls = {"n": 0}

    def cancel_after_a_few_polls() -> bool:
        polls["n"] += 1
        return polls["n"] > 6

    with pytest.raises(LoadCancelled):
        load_ultrasound(sample("examples_ybr_color.dcm"), is_cancelled=cancel_after_a_few_polls)
    assert polls["n"] == 7  # stopped at the first poll that said yes


def test_errors_in_the_callers_callbacks_propagate_unchanged(demo_dcm):
    class Boom(RuntimeError):
        pass

    def progress(fraction, message):
        raise Boom("caller bug")

    with pytest.raises(Boom):
        load_ultrasound(demo_dcm, progress=progress)


def test_the_loaded_frames_are_read_only(demo_dcm):
    image = load_ultrasound(demo_dcm)
    assert isinstance(image, UltrasoundImage)
    with pytest.raises(ValueError):
        image.frames[0, 0, 0] = 1
