"""The ultrasound figure of the report: the frame in mm, outline, skin, cone and isodose lines.

Levels, colours and labels are the window's (planner.dose.isodose_palette), so the printout reads
like the screen the plan was made on. Isodose percentages
are percent of Dmax, the central-axis maximum dose per fraction (planner.dose.coverage), each
labelled in Gy too; the isodose that receives the prescription is drawn thicker, or dashed white
when it is not one of the levels. A refused plan gets no line: its dose must not look valid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from planner.dose.coverage import PERCENT_DECIMALS
from planner.dose.isodose_palette import (ISODOSE_COLOURS, ISODOSE_LEVELS_PERCENT, ISODOSE_MEANING,
                                          PRESCRIPTION_ISODOSE_COLOUR, isodose_label)
from planner.dose.skin_isodoses import isodoses_below_skin
from planner.report.content import ImageFigure, IsodoseLine

ISODOSE_TITLE = "Isodoses, % of Dmax:"
CONE_FOOTPRINT_ABOVE_SKIN_MM = 0.15   # the footprint bar sits just above the skin line, as in the window


def display_pixels(image, frame: int = 0) -> np.ndarray:
    """One frame as 8-bit pixels: grey stretched over the image's full range (the window's default
    window/level, so no echo is clipped on paper), colour as stored."""
    pixels = np.asarray(image.frames[frame])
    if image.is_colour:
        return np.ascontiguousarray(pixels, dtype=np.uint8)
    values = pixels.astype(float)
    low, high = float(image.frames.min()), float(image.frames.max())
    scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def image_caption(image) -> str:
    cal = image.calibration
    name = Path(image.source_path).name if image.source_path else "image"
    frames = f"frame 1 of {image.n_frames}" if image.n_frames > 1 else "single frame"
    return (f"{name}, {frames}, {image.cols} × {image.rows} pixels, {cal.mm_per_pixel_x:.4g} × "
            f"{cal.mm_per_pixel_y:.4g} mm per pixel (lateral × depth); scale from: {cal.source}")


def isodose_lines(dose_gy: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, dmax_gy: float,
                  skin_depth_at, prescription_isodose_percent: float | None = None) -> tuple[IsodoseLine, ...]:
    """Isodoses in % of ``dmax_gy``, inside the patient only (planner.dose.skin_isodoses: the surface dose
    carried up to the skin, no line above it or along the beam data's edge)."""
    percent = np.asarray(dose_gy, dtype=float) * (100.0 / dmax_gy)
    rx = (None if prescription_isodose_percent is None
          else round(float(prescription_isodose_percent), PERCENT_DECIMALS))
    apart = rx is not None and rx not in ISODOSE_LEVELS_PERCENT
    levels = [float(level) for level in ISODOSE_LEVELS_PERCENT] + ([rx] if apart else [])
    colours = list(ISODOSE_COLOURS) + ([PRESCRIPTION_ISODOSE_COLOUR] if apart else [])
    lines = []
    for level, colour, (xs, ys) in zip(levels, colours, isodoses_below_skin(percent, x_mm, y_mm, levels,
                                                                            skin_depth_at)):
        lines.append(IsodoseLine(level, colour, xs, ys, label=isodose_label(level, dmax_gy, level == rx),
                                 prescription=level == rx, dashed=apart and level == rx))
    return tuple(lines)


def image_figure(image, plan, dose_result, cone_diameter_mm: float | None) -> ImageFigure:
    """``image`` is calibrated (mm); a refused ``dose_result`` gets no isodose line, whatever it holds."""
    skin = plan.skin_surface
    axis_x = dose_result.cone_axis_x_mm if dose_result.cone_axis_x_mm is not None else plan.cone_axis_x_mm
    if axis_x is None and plan.outline is not None:
        axis_x = plan.outline.lateral_centre_mm
    footprint_y = None
    if axis_x is not None and skin is not None:
        footprint_y = float(skin.depth_at(axis_x)) - CONE_FOOTPRINT_ABOVE_SKIN_MM
    dmax = dose_result.dmax_gy
    lines = ()
    if dose_result.refused:
        caption = "No dose: the plan was refused, so no isodose is shown (see Findings)."
    elif dose_result.dose_grid_gy is None:
        caption = "No dose: no dose grid was computed for this plan (see Findings)."
    elif dmax is None or not dmax > 0:
        caption = "No isodose lines: the dose has no central-axis maximum (Dmax) to give them in per cent of Dmax."
    elif skin is None:
        caption = "No isodose lines: the plan has no skin surface."
    else:
        lines = isodose_lines(dose_result.dose_grid_gy, dose_result.x_mm, dose_result.y_mm, dmax, skin.depth_at,
                              dose_result.prescription_isodose_percent)
        caption = (f"{ISODOSE_MEANING} Dmax = {dmax:.2f} Gy, at the surface on the beam axis. Lines are drawn inside "
                   f"the patient (below the skin line).")
    return ImageFigure(
        pixels=display_pixels(image), extent_mm=tuple(float(v) for v in image.extent_mm),
        outline_mm=None if plan.outline is None else plan.outline.vertices_mm,
        skin_mm=None if skin is None else skin.points_mm,
        cone_axis_x_mm=None if axis_x is None else float(axis_x), cone_diameter_mm=cone_diameter_mm,
        cone_footprint_y_mm=footprint_y, isodoses=lines, isodose_title=ISODOSE_TITLE, dose_caption=caption,
        image_caption=image_caption(image))
