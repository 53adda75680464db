"""A synthetic ~20 MHz dermal B-mode image of a basal cell carcinoma, with its ground truth.

Why: the demo case and the tests need an image whose true skin surface, tumour depth and width
are known exactly, without shipping patient data. The image mimics high-frequency dermal
ultrasound (physics-data.md section 5): a dark gel stand-off, a bright entry echo at the skin
surface, echogenic dermis, a hypoechoic tumour with an irregular deep border, darker
subcutaneous fat with bright septa, depth shading, and Rayleigh speckle that is correlated
more laterally than axially (the lateral beam width exceeds the axial pulse length).

Everything is deterministic given the seed: a numpy ``default_rng(seed)`` drives all randomness.
The truth numbers are computed from the pixel mask, i.e. exactly what a perfect reader of this
pixel grid would measure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._filters import gaussian_kernel, gaussian_smooth
from .calibration import PixelCalibration
from .skin_surface import SkinLine

__all__ = ["SyntheticCase", "make_dermal_ultrasound", "DEFAULT_SEED", "AnnotatedCase",
           "make_annotated_ultrasound", "ANNOTATION_LAYOUTS"]

DEFAULT_SEED = 20240611

ROWS = 480
COLS = 640
MM_PER_PIXEL_X = 0.05   # lateral
MM_PER_PIXEL_Y = 0.025  # axial
# Lateral 0 on the transducer axis (between columns 319 and 320), depth 0 at the first row.
X0_MM = -15.975
Y0_MM = 0.0

ENTRY_ECHO_MM = 0.09          # epidermis / entry echo thickness
TUMOUR_WIDTH_NOMINAL_MM = 9.0
AXIAL_PSF_SIGMA_MM = 0.02     # ~0.05 mm FWHM pulse
LATERAL_PSF_SIGMA_MM = 0.12   # ~0.28 mm FWHM beam (physics-data 5: ~0.25 mm at 25 MHz)
DYNAMIC_RANGE_DB = 48.0
REFERENCE_AMPLITUDE = 1.25    # amplitude displayed as full white


@dataclass(frozen=True, eq=False)
class SyntheticCase:
    """The generated image and its ground truth (all lengths in mm, image coordinates).

    ``tumour_max_depth_below_skin_mm``: max over tumour pixels of (pixel-centre depth minus skin
    depth at that column). ``tumour_width_mm``: lateral distance between the centres of the
    outermost tumour columns. ``tumour_outline_mm``: closed polygon (first vertex not repeated),
    clockwise on screen, through mask-boundary pixel centres, that includes the deepest point.
    """

    pixels_u8: np.ndarray
    calibration: PixelCalibration
    skin_line: SkinLine
    tumour_mask: np.ndarray
    tumour_max_depth_below_skin_mm: float
    tumour_width_mm: float
    tumour_outline_mm: tuple[tuple[float, float], ...]
    seed: int


def _smooth_noise_1d(rng: np.random.Generator, x_mm: np.ndarray, correlation_mm: float) -> np.ndarray:
    """Zero-mean, unit-std smooth random curve over ``x_mm`` (sum of random-phase sines)."""
    result = np.zeros_like(x_mm)
    for _ in range(6):
        wavelength = correlation_mm * rng.uniform(1.5, 6.0)
        result += rng.normal() * np.sin(2 * np.pi * x_mm / wavelength + rng.uniform(0, 2 * np.pi))
    std = result.std()
    return result / std if std > 0 else result


def _band(z_mm: np.ndarray, top_mm: np.ndarray, bottom_mm: np.ndarray, dy_mm: float) -> np.ndarray:
    """Fraction of each pixel (rows centred at z_mm) covered by [top, bottom]: partial volume."""
    lo = np.maximum(z_mm - dy_mm / 2, top_mm)
    hi = np.minimum(z_mm + dy_mm / 2, bottom_mm)
    return np.clip((hi - lo) / dy_mm, 0.0, 1.0)


def _line(z_mm, x_mm, z_at_x, thickness_mm, dy_mm):
    """A thin horizontal-ish reflector along z = z_at_x(x)."""
    return _band(z_mm, z_at_x - thickness_mm / 2, z_at_x + thickness_mm / 2, dy_mm)


def make_dermal_ultrasound(seed: int = DEFAULT_SEED) -> SyntheticCase:
    """Generate the synthetic dermal B-mode image (480 rows x 640 columns, 32 mm x 12 mm)."""
    rng = np.random.default_rng(seed)
    dx, dy = MM_PER_PIXEL_X, MM_PER_PIXEL_Y
    x_mm = X0_MM + np.arange(COLS) * dx          # (cols,)
    z_mm = Y0_MM + np.arange(ROWS) * dy          # (rows,)
    z = z_mm[:, None]
    half_width_mm = -X0_MM + dx / 2              # 16 mm

    # Skin surface: ~1 mm stand-off, gently tilted and curved, slight undulation.
    tilt = rng.uniform(0.006, 0.012) * rng.choice([-1.0, 1.0])
    curvature_mm = rng.uniform(0.2, 0.3)
    skin_mm = (1.0 + tilt * x_mm + curvature_mm * (x_mm / half_width_mm) ** 2
               + 0.02 * _smooth_noise_1d(rng, x_mm, 2.0))
    skin = skin_mm[None, :]

    dermis_mm = 1.75 + 0.12 * _smooth_noise_1d(rng, x_mm, 3.0)   # 1.5-2 mm
    dermis_bottom = (skin_mm + dermis_mm)[None, :]

    # Tumour: ~9 mm wide, deep border irregular, deepest point 2.6-2.9 mm below the skin.
    centre_mm = rng.uniform(-2.0, 2.0)
    u = (x_mm - centre_mm) / (TUMOUR_WIDTH_NOMINAL_MM / 2)
    inside = np.abs(u) < 1.0
    shape = np.where(inside, (1.0 - np.minimum(np.abs(u), 1.0) ** 3) ** 0.45, 0.0)
    irregular = 1.0 + 0.05 * _smooth_noise_1d(rng, x_mm, 0.8) + 0.025 * _smooth_noise_1d(rng, x_mm, 0.25)
    depth_profile = shape * irregular
    target_depth_mm = rng.uniform(2.6, 2.9)
    depth_profile *= target_depth_mm / depth_profile[inside].max()
    tumour_bottom_mm = skin_mm + depth_profile
    tumour_mask = inside[None, :] & (z >= skin) & (z <= tumour_bottom_mm[None, :])

    # ---- echogenicity (diffuse scattering amplitude) --------------------------------------
    gel = np.full((ROWS, COLS), 0.004)
    dermis_amp = 0.22 * (1.0 + 0.15 * gaussian_smooth(rng.normal(size=(ROWS, COLS)), 8, 8) * 4)
    fat_amp = 0.05 * (1.0 + 0.25 * gaussian_smooth(rng.normal(size=(ROWS, COLS)), 10, 10) * 5)
    amp = np.where(z < skin, gel, np.where(z < dermis_bottom, dermis_amp, fat_amp))
    # upper dermis slightly brighter (papillary dermis, collagen)
    amp = amp * np.where((z >= skin) & (z < dermis_bottom),
                         1.0 + 0.2 * np.exp(-(z - skin) / 0.4), 1.0)
    tumour_amp = 0.016 * (1.0 + 0.3 * gaussian_smooth(rng.normal(size=(ROWS, COLS)), 6, 6) * 4)
    # soft partial-volume edge of the tumour (its boundary is not perfectly sharp)
    tumour_soft = gaussian_smooth(tumour_mask.astype(float), 0.8, 0.6)
    amp = amp * (1.0 - tumour_soft) + tumour_amp * tumour_soft
    # a few hyperechoic spots inside the tumour (common in BCC)
    rows_idx, cols_idx = np.nonzero(tumour_mask & (z > skin + 0.3))
    spots = np.zeros((ROWS, COLS))
    for k in rng.choice(len(rows_idx), size=4, replace=False):
        spots[rows_idx[k], cols_idx[k]] = 1.0
    amp = amp + 0.35 * gaussian_smooth(spots, 1.5, 1.0) * 20

    # ---- coherent (specular) reflectors: entry echo, fat septa, fascia ---------------------
    specular = 0.9 * (1.0 + 0.08 * _smooth_noise_1d(rng, x_mm, 1.5))[None, :] * _band(
        z, skin, skin + ENTRY_ECHO_MM, dy)
    for _ in range(3):
        start = rng.uniform(0.5, 3.0)
        angle = rng.uniform(-0.15, 0.15)
        wobble = 0.15 * _smooth_noise_1d(rng, x_mm, 1.2)
        septum = (dermis_bottom[0] + start + angle * (x_mm - rng.uniform(-10, 10)) + wobble)
        lateral_extent = np.abs(x_mm - rng.uniform(-12, 12)) < rng.uniform(2.5, 6.0)
        strength = 0.22 * (1.0 + 0.5 * _smooth_noise_1d(rng, x_mm, 0.8)).clip(0.2, None)
        septum_band = _line(z, x_mm, septum[None, :], 0.04, dy) * (lateral_extent * strength)[None, :]
        specular = specular + septum_band * (z > dermis_bottom) * ~tumour_mask
    fascia = (skin_mm + rng.uniform(8.3, 9.0) + 0.1 * _smooth_noise_1d(rng, x_mm, 4.0))
    specular = specular + 0.3 * _line(z, x_mm, fascia[None, :], 0.08, dy)

    # ---- depth shading: attenuation after imperfect TGC, focal zone, edge roll-off ----------
    below_skin = np.maximum(z - skin, 0.0)
    shading = (np.exp(-0.06 * below_skin)
               * (1.0 + 0.15 * np.exp(-((z - 4.0) / 3.0) ** 2))
               * (1.0 - 0.12 * (x_mm / half_width_mm)[None, :] ** 4))
    # mild posterior enhancement under the (low-attenuating) tumour
    shadow = gaussian_smooth((tumour_mask & (z > skin)).astype(float), 0.0, 6.0).sum(axis=0)
    enhancement = 1.0 + 0.15 * (z > tumour_bottom_mm[None, :]) * np.clip(shadow / 40.0, 0, 1)[None, :]
    shading = shading * enhancement

    # ---- speckle: complex Gaussian scatterers convolved with the PSF -> Rayleigh envelope ---
    scatterers = rng.normal(size=(ROWS, COLS)) + 1j * rng.normal(size=(ROWS, COLS))
    sigma_rows, sigma_cols = AXIAL_PSF_SIGMA_MM / dy, LATERAL_PSF_SIGMA_MM / dx
    diffuse = gaussian_smooth(amp * scatterers, sigma_rows, sigma_cols)
    # normalise so a uniform amplitude a gives a mean-square envelope a**2 (E|n|^2 = 2 per pixel)
    gain = 2.0 * np.sum(gaussian_kernel(sigma_rows) ** 2) * np.sum(gaussian_kernel(sigma_cols) ** 2)
    diffuse = diffuse / np.sqrt(gain)
    coherent = gaussian_smooth(specular, sigma_rows, sigma_cols / 2)
    noise = 0.003 * (rng.normal(size=(ROWS, COLS)) + 1j * rng.normal(size=(ROWS, COLS)))
    envelope = np.abs((diffuse + coherent) * shading + noise)

    # ---- log compression to 8 bits ----------------------------------------------------------
    decibels = 20.0 * np.log10(np.maximum(envelope, 1e-12) / REFERENCE_AMPLITUDE)
    grey = np.clip(255.0 * (decibels + DYNAMIC_RANGE_DB) / DYNAMIC_RANGE_DB, 0.0, 255.0)
    pixels_u8 = np.round(grey).astype(np.uint8)

    calibration = PixelCalibration(
        mm_per_pixel_x=MM_PER_PIXEL_X, mm_per_pixel_y=MM_PER_PIXEL_Y, x0_mm=X0_MM, y0_mm=Y0_MM,
        source=f"synthetic dermal ultrasound generator (seed {seed})",
    )
    skin_line = SkinLine(tuple(x_mm.tolist()), tuple(skin_mm.tolist()))
    depth_below_skin = np.where(tumour_mask, z - skin, -np.inf)
    max_depth = float(depth_below_skin.max())
    tumour_cols = np.flatnonzero(tumour_mask.any(axis=0))
    width = float(x_mm[tumour_cols[-1]] - x_mm[tumour_cols[0]])
    outline = _outline(tumour_mask, x_mm, z_mm, depth_below_skin)
    tumour_mask.flags.writeable = False
    pixels_u8.flags.writeable = False
    return SyntheticCase(
        pixels_u8=pixels_u8, calibration=calibration, skin_line=skin_line, tumour_mask=tumour_mask,
        tumour_max_depth_below_skin_mm=max_depth, tumour_width_mm=width,
        tumour_outline_mm=outline, seed=seed,
    )


def _outline(mask: np.ndarray, x_mm: np.ndarray, z_mm: np.ndarray,
             depth_below_skin: np.ndarray, n_columns: int = 11) -> tuple[tuple[float, float], ...]:
    """Simplified closed outline: top and bottom mask pixels of ~11 sampled columns (22 vertices).

    The outermost columns and the column of the deepest pixel are always sampled, so the outline
    has the mask's true width and true maximum depth (a simplified outline must never be
    shallower than the tumour: it becomes the default target of the plan).
    """
    cols = np.flatnonzero(mask.any(axis=0))
    samples = set(np.round(np.linspace(cols[0], cols[-1], n_columns)).astype(int).tolist())
    deepest_col = int(np.unravel_index(np.argmax(depth_below_skin), mask.shape)[1])
    nearest = min(samples - {cols[0], cols[-1]}, key=lambda c: abs(c - deepest_col))
    samples.discard(nearest)
    samples.add(deepest_col)
    chosen = sorted(c for c in samples if mask[:, c].any())
    top = [(float(x_mm[c]), float(z_mm[np.flatnonzero(mask[:, c])[0]])) for c in chosen]
    bottom = [(float(x_mm[c]), float(z_mm[np.flatnonzero(mask[:, c])[-1]])) for c in chosen]
    polygon = top + bottom[::-1]
    deduplicated = [p for i, p in enumerate(polygon) if p != polygon[i - 1]]
    return tuple(deduplicated)


# --------------------------------------------------------------------------- burned-in annotations

#: The annotated variants of the synthetic image (``make_annotated_ultrasound``), as scanners and
#: other software write them: text, colour marks and bars, a colour Doppler box, a tool bar.
ANNOTATION_LAYOUTS = (
    "scanner_screen",              # the image inside a screen: header, side text, grey bar, tool bar
    "text_in_standoff",            # text, a caliper and a colour mark in the gel, clear of the skin
    "text_on_skin",                # a caliper and its label drawn across the skin line
    "colour_box_on_skin",          # a colour Doppler box whose colour pixels cover the skin line
    "dark_band_under_entry_echo",  # a thin entry echo over an anechoic band (no annotation)
)


@dataclass(frozen=True, eq=False)
class AnnotatedCase:
    """A synthetic dermal image with burned-in annotations and the skin it truly has.

    ``skin_rows_px``: the generator's skin depth as a (fractional) row at every column of the
    composite, NaN outside the B-mode area (``bmode_box_px``, end-exclusive). ``crossing_columns``:
    (first, last) column where drawn text or graphics lie on the true skin line (within 3 rows),
    found from the drawing itself; None when they stay clear of it.
    """

    layout: str
    pixels_rgb: np.ndarray
    calibration: PixelCalibration
    skin_rows_px: np.ndarray
    bmode_box_px: tuple[int, int, int, int]
    crossing_columns: tuple[int, int] | None
    seed: int


def make_annotated_ultrasound(layout: str, seed: int = DEFAULT_SEED) -> AnnotatedCase:
    """The synthetic dermal image (``make_dermal_ultrasound(seed)``) with one annotation layout.

    Text is drawn with Pillow's built-in bitmap font (no anti-aliasing, the same on every
    machine), white (255) as scanners burn it in; colours are pure, as in colour bars and Doppler.
    """
    from PIL import Image, ImageDraw, ImageFont

    if layout not in ANNOTATION_LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(ANNOTATION_LAYOUTS)}")
    case = make_dermal_ultrasound(seed)
    cal = case.calibration
    bmode = np.array(case.pixels_u8)
    skin_rows = (np.asarray(case.skin_line.y_mm) - cal.y0_mm) / cal.mm_per_pixel_y
    if layout == "dark_band_under_entry_echo":
        # 0.12-0.45 mm below the surface, columns 100-299: as dark as the gel (an anechoic band)
        rng = np.random.default_rng(seed + 1)
        rows = np.arange(ROWS)[:, None]
        band = ((rows >= skin_rows[None, :] + 0.12 / MM_PER_PIXEL_Y)
                & (rows <= skin_rows[None, :] + 0.45 / MM_PER_PIXEL_Y))
        band[:, :100] = False
        band[:, 300:] = False
        gel = bmode[rows[:, 0] < skin_rows.min() - 6]
        bmode[band] = rng.choice(gel.ravel(), size=int(band.sum()))

    offset_col, offset_row = (80, 70) if layout == "scanner_screen" else (0, 0)
    height, width = (600, 800) if layout == "scanner_screen" else (ROWS, COLS)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    canvas[offset_row:offset_row + ROWS, offset_col:offset_col + COLS] = bmode[..., None]
    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default_imagefont()
    white, green, yellow = (255, 255, 255), (0, 200, 90), (255, 220, 0)
    skin_at = lambda col: int(round(skin_rows[col - offset_col])) + offset_row  # noqa: E731

    if layout == "scanner_screen":
        draw.rectangle([0, 0, width - 1, 40], fill=(37, 62, 94))
        draw.text((10, 14), "PLANNER TEST   DERM 20 MHz", fill=white, font=font)
        draw.text((640, 14), "2024-06-11 09:30", fill=white, font=font)
        for k, label in enumerate(("Gn 60", "DR 48", "20MHz", "12 mm", "L20-5")):
            draw.text((6, 90 + 16 * k), label, fill=white, font=font)
        for row in range(100, 400):  # grey-scale bar: flat across, graded down
            level = int(255 * (399 - row) / 299)
            draw.line([(744, row), (756, row)], fill=(level, level, level))
        for row in range(80, 560, 40):  # depth ticks right of the image
            draw.line([(728, row), (731, row)], fill=white)
        draw.ellipse([86, 52, 94, 60], fill=green)  # orientation mark above the image
        draw.rectangle([0, 570, width - 1, height - 1], fill=(60, 60, 60))
        draw.text((20, 580), "Freeze    Gain    Depth    Page 1/3", fill=white, font=font)
    elif layout == "text_in_standoff":
        draw.text((8, 4), "L20-5  DR48  Gn 60", fill=white, font=font)
        draw.ellipse([600, 6, 608, 14], fill=yellow)
        draw.line([(317, 12), (323, 12)], fill=white)
        draw.line([(320, 9), (320, 15)], fill=white)
    elif layout == "text_on_skin":
        row = skin_at(230)
        draw.text((200, row - 6), "1.06 cm", fill=white, font=font)
        for col in (150, 300):
            mark = skin_at(col)
            draw.line([(col - 4, mark), (col + 4, mark)], fill=white)
            draw.line([(col, mark - 4), (col, mark + 4)], fill=white)
    elif layout == "colour_box_on_skin":
        rng = np.random.default_rng(seed + 2)
        top = skin_at(380) - 10
        pixels = np.array(picture)
        box = pixels[top:top + 80, 380:470]
        blobs = gaussian_smooth(rng.normal(size=box.shape[:2]), 2.0, 3.0) > 0.15
        box[blobs] = (230, 60, 20)
        box[blobs & (rng.random(box.shape[:2]) < 0.3)] = yellow
        picture = Image.fromarray(pixels)
        ImageDraw.Draw(picture).rectangle([379, top - 1, 470, top + 80], outline=(200, 200, 200))

    pixels_rgb = np.array(picture)
    drawn = np.any(pixels_rgb != canvas, axis=-1)
    skin_full = np.full(width, np.nan)
    skin_full[offset_col:offset_col + COLS] = skin_rows + offset_row
    crossing = []
    for col in range(offset_col, offset_col + COLS):
        row = int(round(skin_full[col]))
        if drawn[max(0, row - 3):row + 4, col].any():
            crossing.append(col)
    calibration = PixelCalibration(
        mm_per_pixel_x=MM_PER_PIXEL_X, mm_per_pixel_y=MM_PER_PIXEL_Y,
        x0_mm=X0_MM - offset_col * MM_PER_PIXEL_X, y0_mm=Y0_MM - offset_row * MM_PER_PIXEL_Y,
        source=f"synthetic dermal ultrasound generator (seed {seed}), {layout}",
    )
    pixels_rgb.flags.writeable = False
    skin_full.flags.writeable = False
    return AnnotatedCase(
        layout=layout, pixels_rgb=pixels_rgb, calibration=calibration, skin_rows_px=skin_full,
        bmode_box_px=(offset_col, offset_row, offset_col + COLS, offset_row + ROWS),
        crossing_columns=(crossing[0], crossing[-1]) if crossing else None, seed=seed,
    )
