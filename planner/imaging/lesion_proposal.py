"""A proposed lesion outline from one click inside a hypoechoic tumour.

A starting point for the physician to edit, never a final outline. On high-frequency ultrasound
a basal cell carcinoma is darker than the echogenic dermis around it, so the proposal is the
dark connected region around the click, below the skin surface, separated from the dermis by a
threshold chosen locally (Otsu) on a speckle-smoothed image, and traced as a star-shaped polygon
seen from its centre.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


SPECKLE_SMOOTHING_MM = 0.15  # Gaussian σ: a few speckle grains at 20 MHz (axial resolution ~0.1 mm)
LOCAL_WINDOW_MM = (16.0, 6.0)  # lateral, depth: the neighbourhood the threshold is chosen in
MAX_VERTICES = 24


class ProposalError(ValueError):
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

    half_c = int(LOCAL_WINDOW_MM[0] / dx / 2)
    half_r = int(LOCAL_WINDOW_MM[1] / dy / 2)
    window = (slice(max(0, row - half_r), row + half_r + 1), slice(max(0, col - half_c), col + half_c + 1))
    local = smooth[window][below_skin[window]]
    if local.size < 100:
        raise ProposalError("too little tissue around the clicked point to find a lesion")
    threshold = _otsu_threshold(local)
    if smooth[row, col] > threshold:
        raise ProposalError("the clicked point is not in a dark (hypoechoic) region; click inside the lesion")

    dark = (smooth <= threshold) & below_skin
    opening_px = max(1, int(round(0.2 / min(dx, dy))))
    dark = ndimage.binary_opening(dark, structure=np.ones((opening_px, opening_px), bool))
    labels, _ = ndimage.label(dark)
    if labels[row, col] == 0:
        raise ProposalError("the clicked point is in a region too thin to be a lesion")
    region = ndimage.binary_fill_holes(labels == labels[row, col])
    if region.sum() * dx * dy < 0.25:
        raise ProposalError("the dark region around the click is smaller than 0.25 mm²")
    return _star_polygon_mm(region, calibration)


def _as_grey(image_2d: np.ndarray) -> np.ndarray:
    pixels = np.asarray(image_2d, dtype=float)
    return pixels.mean(axis=-1) if pixels.ndim == 3 else pixels


def _otsu_threshold(values: np.ndarray) -> float:
    hist, edges = np.histogram(values, bins=128)
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(hist)
    weight_high = weight_low[-1] - weight_low
    mean_low = np.cumsum(hist * centres) / np.maximum(weight_low, 1)
    mean_high = ((hist * centres).sum() - np.cumsum(hist * centres)) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centres[int(np.argmax(between))])


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
