"""Open an ultrasound (or other 2-D) image file as an :class:`UltrasoundImage`.

Why a single guarded entry point: the GUI opens whatever file the user picks, and clinical
files are often odd (big endian, palette colour, JPEG, regions that do not match the pixels).
Every failure must come back as one specific sentence, never a pydicom/numpy traceback, and
every doubt about the physical scale must be listed in ``problems`` rather than guessed away.

DICOM files are decoded with pydicom's pixel decoders (numpy, Pillow for JPEG/JPEG 2000);
PNG/JPEG/TIFF photos are opened with Pillow and come back uncalibrated.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import calibration_from_dataset
from .errors import ImageLoadError, LoadCancelled, one_line
from .ultrasound import UltrasoundImage

__all__ = ["load_ultrasound", "ProgressCallback", "CancelCheck", "MAX_FILE_BYTES", "MAX_PIXEL_BYTES"]

ProgressCallback = Callable[[float, str], None]
CancelCheck = Callable[[], bool]

MAX_FILE_BYTES = 2 * 1024**3
#: Upper bound for decoded pixels; guards against corrupt Rows/Columns/NumberOfFrames.
MAX_PIXEL_BYTES = 1024**3

ULTRASOUND_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image Storage",
    "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image Storage",
    "1.2.840.10008.5.1.4.1.1.6": "Ultrasound Image Storage (Retired)",
    "1.2.840.10008.5.1.4.1.1.3": "Ultrasound Multi-frame Image Storage (Retired)",
}

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
NO_CALIBRATION_PHOTO = "no calibration: draw a known distance to calibrate"


class _CallbackError(Exception):
    """Wraps an exception raised by the caller's own callback so it is re-raised unchanged."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


class _Reporter:
    """Calls the optional progress/cancel callbacks; raises LoadCancelled when asked to stop."""

    def __init__(self, name: str, progress: ProgressCallback | None,
                 is_cancelled: CancelCheck | None) -> None:
        self.name = name
        self._progress = progress
        self._is_cancelled = is_cancelled

    def __call__(self, fraction: float, message: str) -> None:
        self.check_cancelled()
        if self._progress is not None:
            try:
                self._progress(min(1.0, max(0.0, float(fraction))), message)
            except Exception as exc:  # the caller's bug, not a file problem
                raise _CallbackError(exc) from exc

    def check_cancelled(self) -> None:
        if self._is_cancelled is None:
            return
        try:
            cancelled = bool(self._is_cancelled())
        except Exception as exc:
            raise _CallbackError(exc) from exc
        if cancelled:
            raise LoadCancelled(f"loading {self.name} was cancelled")


def load_ultrasound(
    path: str | os.PathLike[str],
    progress: ProgressCallback | None = None,
    is_cancelled: CancelCheck | None = None,
) -> UltrasoundImage:
    """Load a DICOM image (ultrasound or other) or a PNG/JPEG/TIFF picture.

    ``progress(fraction, message)`` is called a few times with fractions from 0 to 1;
    ``is_cancelled()`` is polled between steps and frames, and True raises
    :class:`LoadCancelled`. Raises :class:`ImageLoadError` with a one-line message for anything
    that prevents showing the image; problems that still allow it are in ``image.problems``.
    Exceptions raised by the callbacks themselves propagate unchanged.
    """
    try:
        source_path = os.fsdecode(os.fspath(path))
    except TypeError as exc:
        raise ImageLoadError(f"not a file path: {path!r}") from exc
    name = Path(source_path).name or source_path
    report = _Reporter(name, progress, is_cancelled)
    try:
        report(0.0, f"Reading {name}")
        data = _read_bytes(Path(source_path), name)
        report(0.1, f"Read {len(data) // 1024} KB")
        # The DICM marker wins: a DICOM preamble may legally hold a TIFF header (dual-format files).
        is_dicom = len(data) >= 132 and data[128:132] == b"DICM"
        if not is_dicom and (data.startswith(_PNG_MAGIC) or data.startswith(_JPEG_MAGIC)
                             or data[:4] in _TIFF_MAGICS):
            return _load_picture(data, source_path, name, report)
        return _load_dicom(data, source_path, name, report)
    except _CallbackError as wrapped:
        raise wrapped.original from None
    except (ImageLoadError, LoadCancelled):
        raise
    except MemoryError as exc:
        raise ImageLoadError(f"{name}: not enough memory to load this image") from exc
    except Exception as exc:  # last line of defence: never leak a raw library exception
        raise ImageLoadError(
            f"{name}: unexpected error while loading ({type(exc).__name__}: {one_line(str(exc), 200)})"
        ) from exc


def _read_bytes(path: Path, name: str) -> bytes:
    """Read the whole file once: sniffing and parsing then work on memory, and a corrupt length
    field can never make a read allocate more than the file's size."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise ImageLoadError(f"{name}: file not found ({path})") from exc
    except OSError as exc:
        raise ImageLoadError(f"{name}: cannot access the file ({exc.strerror or exc})") from exc
    if path.is_dir():
        raise ImageLoadError(f"{name}: is a folder, not an image file")
    if size == 0:
        raise ImageLoadError(f"{name}: the file is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise ImageLoadError(f"{name}: the file is too large to open ({size / 1024**3:.1f} GB)")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageLoadError(f"{name}: cannot read the file ({exc.strerror or exc})") from exc


# --------------------------------------------------------------------------- pictures (Pillow)

def _load_picture(data: bytes, source_path: str, name: str, report: _Reporter) -> UltrasoundImage:
    from PIL import Image, UnidentifiedImageError

    try:
        picture = Image.open(io.BytesIO(data))
        frames = []
        n_frames = int(getattr(picture, "n_frames", 1))
        for index in range(n_frames):
            report(0.2 + 0.7 * index / n_frames, f"Decoding frame {index + 1} of {n_frames}")
            picture.seek(index)
            frames.append(_picture_frame(picture))
        if len({f.shape for f in frames}) != 1:
            raise ImageLoadError(f"{name}: the pages of this image have different sizes")
        kind = picture.format or "image"
    except (ImageLoadError, LoadCancelled):
        raise
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"{name}: the picture is too large to open safely ({one_line(str(exc), 120)})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(f"{name}: the picture file is truncated or corrupt ({one_line(str(exc), 160)})") from exc
    stack = np.stack(frames)
    report(1.0, "Loaded")
    return UltrasoundImage(
        frames=stack, calibration=None, modality="OT", sop_class_name=f"{kind} picture (not DICOM)",
        sop_instance_uid="", patient_name="", patient_id="", frame_time_ms=None,
        source_path=source_path,
        problems=(NO_CALIBRATION_PHOTO,
                  f"{kind} picture, not DICOM: no patient identity, check it belongs to this patient"),
    )


def _picture_frame(picture: Any) -> np.ndarray:
    mode = picture.mode
    if mode in ("L", "I;16", "I;16B", "I;16L", "I;16N", "I"):
        return np.asarray(picture)
    if mode in ("1", "LA"):
        return np.asarray(picture.convert("L"))
    return np.asarray(picture.convert("RGB"))


# --------------------------------------------------------------------------- DICOM

def _load_dicom(data: bytes, source_path: str, name: str, report: _Reporter) -> UltrasoundImage:
    import pydicom
    from pydicom.errors import InvalidDicomError

    has_marker = len(data) >= 132 and data[128:132] == b"DICM"
    # Some old files have no preamble; accept them only if they start like a DICOM dataset.
    starts_like_dataset = data[:2] in (b"\x02\x00", b"\x08\x00")
    if not has_marker and not starts_like_dataset:
        raise ImageLoadError(
            f"{name}: not a DICOM file (no 'DICM' marker at byte 128) and not a PNG, JPEG or TIFF picture")
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=not has_marker)
        _ = list(ds.keys())  # parse problems surface here, not later
    except InvalidDicomError as exc:
        raise ImageLoadError(f"{name}: not a valid DICOM file ({one_line(str(exc), 160)})") from exc
    except Exception as exc:
        raise ImageLoadError(
            f"{name}: the DICOM file is truncated or corrupt and could not be parsed "
            f"({type(exc).__name__}: {one_line(str(exc), 160)})") from exc
    report(0.2, "Read DICOM header")

    sop_class_uid = str(_safe_get(ds, "SOPClassUID", "") or "")
    sop_class_name = _sop_class_name(sop_class_uid)
    modality = str(_safe_get(ds, "Modality", "") or "").strip()
    _require_pixel_data(ds, name, sop_class_name, modality)
    problems: list[str] = []

    frames, decode_problems = _decode_frames(ds, name, report)
    problems.extend(decode_problems)
    report(0.9, "Reading calibration")

    calibration_result = calibration_from_dataset(ds)
    problems.extend(calibration_result.problems)
    if sop_class_uid not in ULTRASOUND_SOP_CLASSES:
        problems.insert(0, f"not an ultrasound image ({sop_class_name}"
                           f"{f', modality {modality}' if modality else ''}); check the scale before measuring")
    frame_time_ms, frame_problem = _frame_time_ms(ds, frames.shape[0])
    if frame_problem and sop_class_uid in ULTRASOUND_SOP_CLASSES:  # RT Dose frames are slices
        problems.append(frame_problem)

    image = UltrasoundImage(
        frames=frames,
        calibration=calibration_result.calibration,
        modality=modality,
        sop_class_name=sop_class_name,
        sop_instance_uid=str(_safe_get(ds, "SOPInstanceUID", "") or ""),
        patient_name=str(_safe_get(ds, "PatientName", "") or ""),
        patient_id=str(_safe_get(ds, "PatientID", "") or ""),
        frame_time_ms=frame_time_ms,
        source_path=source_path,
        problems=tuple(one_line(p) for p in problems),
        regions=tuple(calibration_result.regions),
    )
    report(1.0, "Loaded")
    return image


def _safe_get(ds: Any, keyword: str, default: Any = None) -> Any:
    """Element access that survives corrupt values (pydicom converts values lazily)."""
    try:
        value = ds.get(keyword, default)
    except Exception:
        return default
    return default if value is None else value


def _sop_class_name(uid: str) -> str:
    if not uid:
        return "object without SOP Class UID"
    if uid in ULTRASOUND_SOP_CLASSES:
        return ULTRASOUND_SOP_CLASSES[uid]
    from pydicom.uid import UID

    try:
        name = UID(uid).name
    except Exception:
        name = uid
    return name if name and name != uid else f"object of unknown SOP class {uid}"


def _require_pixel_data(ds: Any, name: str, sop_class_name: str, modality: str) -> None:
    if "PixelData" in ds:
        return
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        raise ImageLoadError(f"{name}: {sop_class_name} has floating-point pixel data, which is "
                             "not a displayable image")
    what = sop_class_name.removesuffix(" Storage")
    extra = f" ({modality})" if modality else ""
    if "Image" in what or "Rows" in ds:
        raise ImageLoadError(f"{name}: DICOM {what}{extra} without pixel data: the file is "
                             "truncated or incomplete")
    raise ImageLoadError(f"{name}: DICOM {what}{extra}, not an image: it contains no pixel data")


def _int_attr(ds: Any, keyword: str, name: str, *, default: int | None = None) -> int:
    value = _safe_get(ds, keyword, None)
    if value is None or value == "":
        if default is not None:
            return default
        raise ImageLoadError(f"{name}: required image attribute {keyword} is missing")
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ImageLoadError(f"{name}: image attribute {keyword} has an invalid value {value!r}") from exc
    return number


def _decode_frames(ds: Any, name: str, report: _Reporter) -> tuple[np.ndarray, list[str]]:
    """Decode all frames to (n, rows, cols) grey or (n, rows, cols, 3) uint8 RGB."""
    from pydicom.pixels import get_decoder

    rows = _int_attr(ds, "Rows", name)
    cols = _int_attr(ds, "Columns", name)
    samples = _int_attr(ds, "SamplesPerPixel", name)
    bits_allocated = _int_attr(ds, "BitsAllocated", name)
    n_frames = _int_attr(ds, "NumberOfFrames", name, default=1)
    photometric = str(_safe_get(ds, "PhotometricInterpretation", "") or "").strip().upper()
    if rows < 1 or cols < 1 or n_frames < 1:
        raise ImageLoadError(f"{name}: invalid image size {cols}x{rows} with {n_frames} frame(s)")
    if samples not in (1, 3):
        raise ImageLoadError(f"{name}: {samples} samples per pixel are not supported (only 1 or 3)")
    if bits_allocated not in (1, 8, 16, 32):
        raise ImageLoadError(f"{name}: Bits Allocated {bits_allocated} is not supported")
    expected_bytes = n_frames * rows * cols * samples * max(1, bits_allocated // 8)
    if expected_bytes > MAX_PIXEL_BYTES:
        raise ImageLoadError(f"{name}: the image is too large to load ({n_frames} frame(s) of "
                             f"{cols}x{rows}, {expected_bytes / 1024**2:.0f} MB)")

    transfer_syntax = _safe_get(getattr(ds, "file_meta", None) or {}, "TransferSyntaxUID", None)
    if transfer_syntax is None:
        raise ImageLoadError(f"{name}: the file meta information has no Transfer Syntax UID")
    ts_label = _transfer_syntax_label(transfer_syntax)
    try:
        decoder = get_decoder(transfer_syntax)
    except NotImplementedError as exc:
        raise ImageLoadError(f"{name}: unsupported transfer syntax {ts_label}: no pixel data "
                             "decoder exists for it") from exc
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "a suitable decoder plugin"
        raise ImageLoadError(f"{name}: pixel data is compressed as {ts_label}, which the installed "
                             f"packages cannot decode; install one of: {missing}")

    frames: list[np.ndarray] = []
    final_photometric = photometric
    try:
        for index, (array, meta) in enumerate(decoder.iter_array(ds, as_rgb=True)):
            report(0.2 + 0.7 * index / n_frames, f"Decoding frame {index + 1} of {n_frames}")
            final_photometric = str(meta.get("photometric_interpretation", photometric)).upper()
            frames.append(array)
    except (ImageLoadError, LoadCancelled, _CallbackError):
        raise
    except Exception as exc:
        raise ImageLoadError(f"{name}: the pixel data could not be decoded ({ts_label}): "
                             f"{one_line(str(exc), 200) or type(exc).__name__}") from exc
    if len(frames) != n_frames:
        raise ImageLoadError(f"{name}: expected {n_frames} frame(s) but decoded {len(frames)}")
    report.check_cancelled()
    stack = np.stack(frames)
    problems: list[str] = []
    return _to_display(stack, ds, name, final_photometric, problems), problems


def _transfer_syntax_label(uid: Any) -> str:
    try:
        from pydicom.uid import UID

        label = UID(str(uid)).name
    except Exception:
        label = ""
    return f"{label} ({uid})" if label and label != str(uid) else str(uid)


def _to_display(stack: np.ndarray, ds: Any, name: str, photometric: str,
                problems: list[str]) -> np.ndarray:
    """Grey stays grey (MONOCHROME1 inverted); every colour model becomes uint8 RGB."""
    from pydicom.pixels import apply_color_lut, convert_color_space

    if photometric == "PALETTE COLOR":
        try:
            rgb = apply_color_lut(stack, ds)
        except Exception as exc:
            raise ImageLoadError(f"{name}: the palette colour lookup table is missing or invalid "
                                 f"({one_line(str(exc), 160)})") from exc
        return _rgb_to_u8(rgb, _lut_bits(ds))
    if stack.ndim == 4:
        if photometric in ("YBR_FULL", "YBR_FULL_422"):
            stack = convert_color_space(stack, photometric, "RGB")
        elif photometric not in ("RGB", "YBR_RCT", "YBR_ICT"):
            raise ImageLoadError(f"{name}: colour model {photometric or '(missing)'} is not supported")
        bits_stored = int(_safe_get(ds, "BitsStored", 8) or 8)
        return _rgb_to_u8(stack, bits_stored)
    if photometric == "MONOCHROME1":
        problems.append("MONOCHROME1 image inverted for display (bright = strong echo)")
        if np.issubdtype(stack.dtype, np.integer):
            bits_stored = int(_safe_get(ds, "BitsStored", 8) or 8)
            if np.issubdtype(stack.dtype, np.signedinteger):
                return (-1 - stack).astype(stack.dtype)
            return ((1 << bits_stored) - 1 - stack).astype(stack.dtype)
        return stack.max() - stack
    if photometric not in ("MONOCHROME2", ""):
        problems.append(f"photometric interpretation {photometric} shown as grey")
    return stack


def _lut_bits(ds: Any) -> int:
    descriptor = _safe_get(ds, "RedPaletteColorLookupTableDescriptor", None)
    try:
        return int(descriptor[2])
    except Exception:
        return 8


def _rgb_to_u8(rgb: np.ndarray, bits: int) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return rgb
    shift = max(0, int(bits) - 8)
    return (np.clip(rgb.astype(np.int64) >> shift, 0, 255)).astype(np.uint8)


def _frame_time_ms(ds: Any, n_frames: int) -> tuple[float | None, str | None]:
    """Frame Time (0018,1063), else the mean of Frame Time Vector, else Cine Rate."""
    if n_frames < 2 and "FrameTime" not in ds:
        return None, None
    value = _safe_get(ds, "FrameTime", None)
    try:
        if value not in (None, ""):
            frame_time = float(value)
            if np.isfinite(frame_time) and frame_time > 0:
                return frame_time, None
            return None, f"Frame Time {value!r} ms is not a positive number; cine speed unknown"
        vector = _safe_get(ds, "FrameTimeVector", None)
        if vector not in (None, ""):
            times = [float(v) for v in vector][1:]
            if times and all(np.isfinite(t) and t > 0 for t in times):
                return float(np.mean(times)), None
        rate = _safe_get(ds, "CineRate", None)
        if rate not in (None, "") and float(rate) > 0:
            return 1000.0 / float(rate), None
    except (TypeError, ValueError):
        pass
    if n_frames > 1:
        return None, "no valid Frame Time: cine playback speed unknown"
    return None, None
