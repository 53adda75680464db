"""Dose on the ultrasound image: isodose lines and an optional colour wash.

Isodose levels are percentages of the prescribed dose per fraction, the convention a physician
reads ("the 100 % line passes through the prescription point"). Lines come from the vectorised
marching squares in planner.dose.isodose_lines and are drawn as one segment list per level.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGraphicsItem

from planner.dose.isodose_lines import isodose_segments_for_levels
from planner.ui import qt_setup  # noqa: F401  (pyqtgraph options)
import pyqtgraph as pg

ISODOSE_LEVELS_PERCENT = (120, 100, 90, 80, 50, 20)
LINE_GRID_STEP = 2
ISODOSE_COLOURS = ("#ffffff", "#ff2020", "#ffa000", "#ffff00", "#00e0ff", "#4060ff")


class DoseOverlay:
    def __init__(self, plot_item: pg.PlotItem):
        self.plot_item = plot_item
        self.wash = pg.ImageItem(axisOrder="row-major")
        self.wash.setOpacity(0.35)
        self.wash.setZValue(2)
        self.wash.setLookupTable(pg.colormap.get("turbo").getLookupTable(nPts=256))
        self.wash.setVisible(False)
        plot_item.addItem(self.wash)
        self.lines = []
        for level, colour in zip(ISODOSE_LEVELS_PERCENT, ISODOSE_COLOURS):
            line = pg.PlotCurveItem(pen=pg.mkPen(colour, width=1.6), connect="pairs", antialias=False)
            line.setZValue(8)
            plot_item.addItem(line)
            self.lines.append((level, line))
        self.legend = pg.LegendItem(offset=(-10, 10), labelTextColor="w", brush=pg.mkBrush(0, 0, 0, 170))
        self.legend.setParentItem(plot_item.getViewBox())
        for level, line in self.lines:
            self.legend.addItem(line, f"{level} %")
        self.legend.setVisible(False)
        # The legend never changes: paint it once into a pixmap, not on every redraw.
        self.legend.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.wash_enabled = False
        self._wash_data = None

    def show_dose(self, dose_gy: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, prescribed_gy: float,
                  skin_depth_at) -> None:
        """Isodoses inside the patient only: the step from no dose in the gel above the skin to the
        surface dose is not an isodose line, so the surface value is carried up before contouring
        and segments above the skin are left out."""
        # Lines are traced on every second grid point (0.2 mm on the demo): a quarter of the work,
        # and linear interpolation between them stays well inside a screen pixel on smooth dose.
        step = LINE_GRID_STEP
        scale = 100.0 / prescribed_gy
        contoured = _carry_surface_dose_up(np.asarray(dose_gy[::step, ::step], dtype=float) * scale)
        all_segments = isodose_segments_for_levels(contoured, x_mm[::step], y_mm[::step],
                                                   [level for level, _ in self.lines])
        for (level, line), (xs, ys) in zip(self.lines, all_segments):
            if xs.size:
                mid_x, mid_y = (xs[::2] + xs[1::2]) / 2, (ys[::2] + ys[1::2]) / 2
                inside = np.repeat(mid_y >= np.asarray(skin_depth_at(mid_x)), 2)
                xs, ys = xs[inside], ys[inside]
            line.setData(xs, ys, skipFiniteCheck=True)
        self._wash_data = (dose_gy, scale, x_mm, y_mm)
        if self.wash_enabled:
            self._draw_wash()
        self.legend.setVisible(True)

    def _draw_wash(self) -> None:
        """The colour wash is converted to an image only while it is shown (it costs ~1 ms per edit)."""
        if self._wash_data is None:
            return
        dose_gy, scale, x_mm, y_mm = self._wash_data
        relative = np.asarray(dose_gy, dtype=float) * scale
        dx = x_mm[1] - x_mm[0] if len(x_mm) > 1 else 1.0
        dy = y_mm[1] - y_mm[0] if len(y_mm) > 1 else 1.0
        self.wash.setImage(relative, levels=(0, 120), autoLevels=False)
        self.wash.setRect(QRectF(x_mm[0] - dx / 2, y_mm[0] - dy / 2, dx * len(x_mm), dy * len(y_mm)))
        self.wash.setVisible(True)

    def clear(self) -> None:
        for _, line in self.lines:
            line.setData([], [])
        self._wash_data = None
        self.wash.setVisible(False)
        self.legend.setVisible(False)

    def set_wash_visible(self, visible: bool) -> None:
        self.wash_enabled = visible
        if visible:
            self._draw_wash()
        else:
            self.wash.setVisible(False)

    def line_points(self, level_percent: int) -> tuple[np.ndarray, np.ndarray]:
        for level, line in self.lines:
            if level == level_percent:
                return line.getData()
        raise KeyError(level_percent)


def _carry_surface_dose_up(dose: np.ndarray) -> np.ndarray:
    """Each column's first non-zero value (the dose at the skin) copied to the rows above it."""
    positive = dose > 0
    first = np.argmax(positive, axis=0)
    has_dose = positive.any(axis=0)
    rows = np.arange(dose.shape[0])[:, None]
    surface = dose[first, np.arange(dose.shape[1])]
    above = (rows < first[None, :]) & has_dose[None, :]
    return np.where(above, surface[None, :], dose)
