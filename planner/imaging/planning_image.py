"""The image a plan is drawn on: loaded, in mm, with its skin surface found.

Why here: loading, calibration and skin detection are imaging's; the window, the command line, the
report and the export all take the image in mm from these functions, so they agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.core.manual_calibration import ManualCalibration
from planner.core.plan import Plan
from planner.core.skin_surface import SkinSurface

from .calibration import PixelCalibration
from .loader import load_ultrasound
from .skin_surface import detect_skin_on_image

__all__ = ["PlanningImage", "calibrate_by_hand", "calibrated_image", "complete_plan", "detect_skin_surface",
           "load_planning_image"]


@dataclass(frozen=True, eq=False)
class PlanningImage:
    """An ultrasound image with the skin surface found on it: what a plan is drawn on."""

    image: object  # planner.imaging.UltrasoundImage
    detected_skin: SkinSurface | None  # None when the image has no mm calibration or no entry echo


def calibrated_image(image, plan: Plan | None):
    """The image in mm: its own calibration, else the plan's hand calibration, else unscaled.

    A hand calibration never overrides one the file carries.
    """
    if image.calibration is not None or plan is None or plan.manual_calibration is None:
        return image
    mm = plan.manual_calibration.mm_per_pixel
    return replace(image, calibration=PixelCalibration(mm, mm, 0.0, 0.0, plan.manual_calibration.describe()))


def calibrate_by_hand(plan: Plan, image, calibration: ManualCalibration) -> Plan:
    """One edit: the scale, and the skin surface found with it."""
    calibrated = plan.with_manual_calibration(calibration)
    return calibrated.with_skin_surface(detect_skin_surface(calibrated_image(image, calibrated)))


def complete_plan(plan: Plan, planning_image: PlanningImage) -> Plan:
    """A plan opened on its image: a plan saved without a skin surface takes the detected one."""
    if plan.skin_surface is not None:
        return plan
    if planning_image.detected_skin is not None:
        return plan.with_skin_surface(planning_image.detected_skin)
    if plan.manual_calibration is not None:
        return plan.with_skin_surface(detect_skin_surface(calibrated_image(planning_image.image, plan)))
    return plan


def load_planning_image(path, progress=None, is_cancelled=None) -> PlanningImage:
    """Load an image and find its skin surface; raises ImageLoadError with a one-line reason."""
    image = load_ultrasound(path, progress=progress, is_cancelled=is_cancelled)
    return PlanningImage(image, detect_skin_surface(image))


def detect_skin_surface(image) -> SkinSurface | None:
    """The detected skin line as the plan's surface; a detection that is not confident carries
    its problems as doubts, so no depth is measured from it until the user confirms or redraws it.
    None when the image has no mm calibration or no line was found."""
    if image.calibration is None:
        return None
    detection = detect_skin_on_image(image)
    line = detection.line_mm(image.calibration)
    if line is None or len(line.x_mm) < 2:
        return None
    return SkinSurface.from_samples(line.x_mm, line.y_mm,
                                    doubts=detection.problems if not detection.confident else ())
