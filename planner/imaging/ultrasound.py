"""The in-memory image the planner draws on: pixels plus calibration plus provenance.

A plain immutable value (no file handles, no pydicom objects) so it can be passed between the
loader thread, the GUI and the plan model without anyone mutating the pixels under someone
else's feet: the frames array is made read-only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calibration import PixelCalibration, RegionCalibration

__all__ = ["UltrasoundImage"]


@dataclass(frozen=True, eq=False)
class UltrasoundImage:
    """A loaded 2-D image series (one or more frames).

    ``frames`` has shape (n_frames, rows, cols) for grey images (stored values, MONOCHROME1 is
    already inverted so bright = strong echo) or (n_frames, rows, cols, 3) uint8 RGB for colour.
    ``calibration`` is None when the physical scale is unknown; then ``problems`` says so and the
    user must calibrate by drawing a known distance. ``problems`` lists every warning found while
    loading, in words meant for the user.
    """

    frames: np.ndarray
    calibration: PixelCalibration | None
    modality: str
    sop_class_name: str
    sop_instance_uid: str
    patient_name: str
    patient_id: str
    frame_time_ms: float | None
    source_path: str
    problems: tuple[str, ...] = ()
    # The DICOM Sequence of Ultrasound Regions as read (RegionCalibration), used or not for the scale:
    # the 2-D tissue region's box tells the skin detector where the tissue is.
    regions: tuple[RegionCalibration, ...] = ()

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames)
        if frames.ndim == 4:
            if frames.shape[-1] != 3 or frames.dtype != np.uint8:
                raise ValueError(f"colour frames must be (n, rows, cols, 3) uint8, got "
                                 f"{frames.shape} {frames.dtype}")
        elif frames.ndim != 3:
            raise ValueError(f"frames must be (n, rows, cols) or (n, rows, cols, 3), got {frames.shape}")
        if min(frames.shape[:3]) < 1:
            raise ValueError(f"frames must not be empty, got shape {frames.shape}")
        if frames.flags.writeable:
            frames = frames.view()
            frames.flags.writeable = False
        object.__setattr__(self, "frames", frames)
        object.__setattr__(self, "problems", tuple(self.problems))

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def rows(self) -> int:
        return int(self.frames.shape[1])

    @property
    def cols(self) -> int:
        return int(self.frames.shape[2])

    @property
    def is_colour(self) -> bool:
        return self.frames.ndim == 4

    @property
    def is_calibrated(self) -> bool:
        return self.calibration is not None

    @property
    def width_mm(self) -> float | None:
        """Lateral size of the whole image (pixel edge to edge), None if uncalibrated."""
        if self.calibration is None:
            return None
        return self.cols * self.calibration.mm_per_pixel_x

    @property
    def depth_mm(self) -> float | None:
        """Axial size of the whole image (pixel edge to edge), None if uncalibrated."""
        if self.calibration is None:
            return None
        return self.rows * self.calibration.mm_per_pixel_y

    @property
    def extent_mm(self) -> tuple[float, float, float, float] | None:
        """(left, top, width, height) in mm of the outer pixel EDGES, for placing the image.

        Pixel centres sit at ``x0_mm + col * dx``, so the left edge is half a pixel further left.
        None if uncalibrated: the caller must decide how to show an unscaled image rather than
        silently getting 1 pixel = 1 mm.
        """
        cal = self.calibration
        if cal is None:
            return None
        left = cal.x0_mm - 0.5 * cal.mm_per_pixel_x
        top = cal.y0_mm - 0.5 * cal.mm_per_pixel_y
        return (left, top, self.cols * cal.mm_per_pixel_x, self.rows * cal.mm_per_pixel_y)

    @property
    def extent_px(self) -> tuple[float, float, float, float]:
        """(left, top, width, height) of the pixel edges in pixel units: for showing an
        uncalibrated image, with axes that must then be labelled "pixels", never "mm"."""
        return (-0.5, -0.5, float(self.cols), float(self.rows))

    def frame(self, index: int = 0) -> np.ndarray:
        """One frame, (rows, cols) or (rows, cols, 3); read-only."""
        if not 0 <= index < self.n_frames:
            raise IndexError(f"frame {index} out of range 0..{self.n_frames - 1}")
        return self.frames[index]

    def pixel_value(self, frame: int, col: int, row: int) -> int | float | tuple[int, int, int]:
        """Stored value at (col, row) of a frame; an (r, g, b) tuple for colour images.

        Negative indices are rejected (no Python wrap-around) because a pointer left of the image
        must not read a pixel from the right edge.
        """
        for name, value, size in (("frame", frame, self.n_frames), ("col", col, self.cols),
                                  ("row", row, self.rows)):
            if not 0 <= int(value) < size:
                raise IndexError(f"{name} {value} out of range 0..{size - 1}")
        value = self.frames[int(frame), int(row), int(col)]
        if self.is_colour:
            return tuple(int(v) for v in value)
        return value.item()
