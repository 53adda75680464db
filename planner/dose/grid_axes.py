"""Where the dose is computed on a calibrated image: the axes of the dose grid.

Why one function: the window, the command line, the report and the review compute the dose on the
same grid, so a plan's numbers do not depend on which of them computed it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DOSE_GRID_SPACING_MM", "dose_grid_axes"]

DOSE_GRID_SPACING_MM = 0.1  # finer than a 20 MHz image resolves in depth (~0.1 mm), coarse enough to redraw live


def dose_grid_axes(image, spacing_mm: float = DOSE_GRID_SPACING_MM):
    """Lateral and depth axes (mm, pixel-centre aligned) of the dose grid over a calibrated image."""
    cal = image.calibration
    step_x = max(1, int(round(spacing_mm / cal.mm_per_pixel_x)))
    step_y = max(1, int(round(spacing_mm / cal.mm_per_pixel_y)))
    x_mm = cal.x0_mm + np.arange(0, image.cols, step_x) * cal.mm_per_pixel_x
    y_mm = cal.y0_mm + np.arange(0, image.rows, step_y) * cal.mm_per_pixel_y
    return x_mm, y_mm
