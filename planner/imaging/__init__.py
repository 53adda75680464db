"""Imaging layer: load ultrasound (and other 2-D) images with a trustworthy mm calibration.

No Qt here: everything is plain values (frozen dataclasses, read-only numpy arrays) usable from
the GUI, the command line and the tests. See ``loader.load_ultrasound`` for the entry point.
"""

from .calibration import (
    CalibrationResult,
    PixelCalibration,
    RegionCalibration,
    calibration_for_pixel,
    calibration_from_dataset,
    parse_ultrasound_regions,
    pixel_spacing_calibration,
)
from .demo import DemoCase, DemoTruth, demo_case_path, load_demo_case
from .dicom_writer import write_ultrasound_dicom
from .errors import ImageLoadError, LoadCancelled
from .loader import load_ultrasound
from .skin_surface import SkinDetection, SkinLine, detect_skin, detect_skin_on_image
from .synthetic import SyntheticCase, make_dermal_ultrasound
from .ultrasound import UltrasoundImage

__all__ = [
    "CalibrationResult",
    "DemoCase",
    "DemoTruth",
    "ImageLoadError",
    "LoadCancelled",
    "PixelCalibration",
    "RegionCalibration",
    "SkinDetection",
    "SkinLine",
    "SyntheticCase",
    "UltrasoundImage",
    "calibration_for_pixel",
    "calibration_from_dataset",
    "demo_case_path",
    "detect_skin",
    "detect_skin_on_image",
    "load_demo_case",
    "load_ultrasound",
    "make_dermal_ultrasound",
    "parse_ultrasound_regions",
    "pixel_spacing_calibration",
    "write_ultrasound_dicom",
]
