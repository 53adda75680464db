"""Tiny numpy-only filters (no SciPy dependency in the imaging layer)."""

from __future__ import annotations

import numpy as np


def gaussian_kernel(sigma_px: float) -> np.ndarray:
    """Normalised 1-D Gaussian, truncated at 3 sigma; [1.0] for sigma <= 0."""
    if sigma_px <= 0:
        return np.ones(1)
    radius = max(1, int(np.ceil(3.0 * sigma_px)))
    taps = np.arange(-radius, radius + 1, dtype=float)
    kernel = np.exp(-0.5 * (taps / sigma_px) ** 2)
    return kernel / kernel.sum()


def convolve_axis(image: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """Convolve along one axis with edge replication (no dark halo at the image borders)."""
    radius = (len(kernel) - 1) // 2
    if radius == 0:
        return image * kernel[0]
    pad = [(0, 0)] * image.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(image, pad, mode="edge")
    out = np.zeros(image.shape, dtype=np.result_type(image.dtype, kernel.dtype))
    length = image.shape[axis]
    window = [slice(None)] * image.ndim
    for offset, weight in enumerate(kernel):
        window[axis] = slice(offset, offset + length)  # a view, not a copy as np.take made
        out += weight * padded[tuple(window)]
    return out


def gaussian_smooth(image: np.ndarray, sigma_rows_px: float, sigma_cols_px: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D array (float or complex)."""
    out = convolve_axis(np.asarray(image), gaussian_kernel(sigma_rows_px), axis=0)
    return convolve_axis(out, gaussian_kernel(sigma_cols_px), axis=1)


def nan_median_filter_1d(values: np.ndarray, window: int) -> np.ndarray:
    """Running median ignoring NaN (odd window, edge replicated); all-NaN windows give NaN."""
    window = max(1, int(window) | 1)
    half = window // 2
    padded = np.pad(np.asarray(values, dtype=float), half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)
    out = np.full(len(values), np.nan)
    valid = ~np.all(np.isnan(windows), axis=1)
    if valid.any():
        out[valid] = np.nanmedian(windows[valid], axis=1)
    return out
