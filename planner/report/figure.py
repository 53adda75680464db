"""The ultrasound figure of the report: the frame in mm, outline, skin, cone and isodose lines.

Levels and colours are the window's (planner/ui/dose_overlay.py), so the printout reads like the
screen the plan was made on: per cent of the prescribed dose per fraction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from planner.dose.isodose_lines import isodose_segments_for_levels
from planner.report.content import ImageFigure, IsodoseLine

ISODOSE_LEVELS_PERCENT = (120, 100, 90, 80, 50, 20)
ISODOSE_COLOURS = ("#ffffff", "#ff2020", "#ffa000", "#ffff00", "#00e0ff", "#4060ff")
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


def isodose_lines(dose_gy: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, prescribed_gy: float,
                  skin_depth_at) -> tuple[IsodoseLine, ...]:
    """Isodoses inside the patient only.

    Above the skin the grid holds no dose (gel, air); the step from there to the surface dose is
    not an isodose. Each column's dose at the skin is therefore carried up to the top of the grid
    before contouring, and segments above the skin are dropped. Segments in cells without beam
    data (NaN) are dropped too rather than drawn along the data's edge.
    """
    x, y = np.asarray(x_mm, dtype=float), np.asarray(y_mm, dtype=float)
    percent = np.asarray(dose_gy, dtype=float) * (100.0 / prescribed_gy)
    skin_y = np.asarray(skin_depth_at(x), dtype=float)
    first_row = np.minimum(np.searchsorted(y, skin_y), y.size - 1)          # first grid row at or below the skin
    at_skin = percent[first_row, np.arange(x.size)]
    percent = np.where(np.arange(y.size)[:, None] < first_row[None, :], at_skin[None, :], percent)
    corners_missing = ~np.isfinite(percent)
    missing_cell = (corners_missing[:-1, :-1] | corners_missing[:-1, 1:] | corners_missing[1:, :-1]
                    | corners_missing[1:, 1:])
    lines = []
    for level, colour, (xs, ys) in zip(ISODOSE_LEVELS_PERCENT, ISODOSE_COLOURS,
                                       isodose_segments_for_levels(percent, x, y, ISODOSE_LEVELS_PERCENT)):
        if xs.size:
            mid_x, mid_y = (xs[::2] + xs[1::2]) / 2, (ys[::2] + ys[1::2]) / 2
            col = np.clip(np.searchsorted(x, mid_x) - 1, 0, x.size - 2)
            row = np.clip(np.searchsorted(y, mid_y) - 1, 0, y.size - 2)
            keep = (mid_y >= np.asarray(skin_depth_at(mid_x))) & ~missing_cell[row, col]
            xs, ys = xs[np.repeat(keep, 2)], ys[np.repeat(keep, 2)]
        lines.append(IsodoseLine(float(level), colour, xs, ys))
    return tuple(lines)


def image_figure(image, plan, dose_result, cone_diameter_mm: float | None) -> ImageFigure:
    """``image`` is calibrated (mm); ``dose_result`` may be refused (no grid)."""
    skin = plan.skin_surface
    axis_x = dose_result.cone_axis_x_mm if dose_result.cone_axis_x_mm is not None else plan.cone_axis_x_mm
    if axis_x is None and plan.outline is not None:
        axis_x = plan.outline.lateral_centre_mm
    footprint_y = None
    if axis_x is not None and skin is not None:
        footprint_y = float(skin.depth_at(axis_x)) - CONE_FOOTPRINT_ABOVE_SKIN_MM
    rx = dose_result.prescribed_dose_gy
    if dose_result.dose_grid_gy is None:
        lines, caption = (), "No dose: the plan was refused before a dose could be computed (see Findings)."
    elif skin is None:
        lines, caption = (), "No isodose lines: the plan has no skin surface."
    else:
        lines = isodose_lines(dose_result.dose_grid_gy, dose_result.x_mm, dose_result.y_mm, rx, skin.depth_at)
        caption = (f"Isodose lines in % of the prescribed dose per fraction ({rx:g} Gy = 100 %), "
                   f"inside the patient (below the skin line).")
    return ImageFigure(
        pixels=display_pixels(image), extent_mm=tuple(float(v) for v in image.extent_mm),
        outline_mm=None if plan.outline is None else plan.outline.vertices_mm,
        skin_mm=None if skin is None else skin.points_mm,
        cone_axis_x_mm=None if axis_x is None else float(axis_x), cone_diameter_mm=cone_diameter_mm,
        cone_footprint_y_mm=footprint_y, isodoses=lines, dose_caption=caption, image_caption=image_caption(image))
