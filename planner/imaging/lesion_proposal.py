"""A proposed lesion outline from one click inside a hypoechoic tumour.

A starting point for the physician to edit, never a final outline. On high-frequency ultrasound
a basal cell carcinoma is darker than the echogenic dermis around it. The proposal grows a
region from the click by "confidence-connected" region growing (as in ITK's
ConfidenceConnectedImageFilter): pixels of the speckle-smoothed image below the region's mean
plus k standard deviations, connected to the click and below the skin surface, re-estimating the
mean and deviation from the grown region a few times. The region is traced as a star-shaped
polygon seen from its centre.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from planner.core.errors import PlannerError

SPECKLE_SMOOTHING_MM = 0.10  # Gaussian σ: about the axial resolution at 20–25 MHz (physics-data §5)
SEED_RADIUS_MM = 0.5  # the first estimate of the lesion's grey level
CONFIDENCE_K = 2.5  # accepted: up to mean + k·σ of the region (chosen on synthetic cases: Dice ≈ 0.9)
ITERATIONS = 8
MAX_LESION_FRACTION = 0.25  # a region over a quarter of the tissue has leaked out of the lesion
MAX_VERTICES = 24


class ProposalError(PlannerError, ValueError):
    """No plausible lesion around the clicked point; the message says why."""


def propose_lesion_outline(image_2d: np.ndarray, calibration, seed_mm: tuple[float, float],
                           skin_depth_at=None) -> tuple[tuple[float, float], ...]:
    """Vertices in mm of a closed polygon around the dark region that contains ``seed_mm``."""
    grey = _as_grey(image_2d)
    dx, dy = calibration.mm_per_pixel_x, calibration.mm_per_pixel_y
    col, row = (int(round(float(v))) for v in calibration.mm_to_pixel(*seed_mm))
    rows, cols = grey.shape
    if not (0 <= col < cols and 0 <= row < rows):
        raise ProposalError("the clicked point lies outside the image")

    smooth = ndimage.gaussian_filter(grey, sigma=(SPECKLE_SMOOTHING_MM / dy, SPECKLE_SMOOTHING_MM / dx))
    below_skin = np.ones_like(grey, dtype=bool)
    if skin_depth_at is not None:
        x_mm = calibration.x0_mm + np.arange(cols) * dx
        y_mm = calibration.y0_mm + np.arange(rows) * dy
        skin_y = np.asarray(skin_depth_at(x_mm), dtype=float)
        below_skin = y_mm[:, None] > skin_y[None, :] + 2 * dy  # the entry echo itself is not lesion
        if not below_skin[row, col]:
            raise ProposalError("the clicked point lies above the skin surface; click inside the lesion")

    yy, xx = np.ogrid[:rows, :cols]
    region = (((xx - col) * dx) ** 2 + ((yy - row) * dy) ** 2 <= SEED_RADIUS_MM ** 2) & below_skin
    tissue_median = float(np.median(smooth[below_skin]))
    if smooth[region].mean() >= tissue_median:
        raise ProposalError("the clicked point is not in a dark (hypoechoic) region; click inside the lesion")
    opening = np.ones((max(1, int(round(0.1 / dy))), max(1, int(round(0.1 / dx)))), bool)
    tissue_px = below_skin.sum()
    for _ in range(ITERATIONS):
        mean, std = smooth[region].mean(), smooth[region].std()
        candidates = ndimage.binary_opening((smooth <= mean + CONFIDENCE_K * std) & below_skin, structure=opening)
        labels, _ = ndimage.label(candidates)
        if labels[row, col] == 0:
            raise ProposalError("the clicked point is not in a dark (hypoechoic) region; click inside the lesion")
        grown = ndimage.binary_fill_holes(labels == labels[row, col])
        if grown.sum() > MAX_LESION_FRACTION * tissue_px:
            raise ProposalError("the dark region around the click has no clear border (it spreads over more than "
                                "a quarter of the image); outline this lesion by hand")
        if np.array_equal(grown, region):
            break
        region = grown
    if region.sum() * dx * dy < 0.25:
        raise ProposalError("the dark region around the click is smaller than 0.25 mm²")
    return _star_polygon_mm(region, calibration)


def _as_grey(image_2d: np.ndarray) -> np.ndarray:
    pixels = np.asarray(image_2d, dtype=float)
    return pixels.mean(axis=-1) if pixels.ndim == 3 else pixels


def _star_polygon_mm(region: np.ndarray, calibration, n_rays: int = 72) -> tuple[tuple[float, float], ...]:
    """Boundary points along rays from the region's centre, in mm, thinned to the bends."""
    dx, dy = calibration.mm_per_pixel_x, calibration.mm_per_pixel_y
    rr, cc = np.nonzero(region)
    x = calibration.x0_mm + cc * dx
    y = calibration.y0_mm + rr * dy
    cx, cy = x.mean(), y.mean()
    angles = np.arctan2(y - cy, x - cx)
    radii = np.hypot(x - cx, y - cy)
    bins = ((angles + np.pi) / (2 * np.pi) * n_rays).astype(int) % n_rays
    points = []
    for b in range(n_rays):
        in_bin = bins == b
        if not np.any(in_bin):
            continue
        far = np.argmax(np.where(in_bin, radii, -1.0))
        points.append((float(x[far]), float(y[far])))
    return _thin(points, MAX_VERTICES)


def _thin(points: list[tuple[float, float]], max_vertices: int) -> tuple[tuple[float, float], ...]:
    step = max(1, int(np.ceil(len(points) / max_vertices)))
    return tuple(points[::step])
