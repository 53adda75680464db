"""Dose on the ultrasound image: isodose lines and an optional colour wash.

Isodose levels are percentages of Dmax, the central-axis maximum dose per fraction (the surface
for kV and eBx beams): the one meaning of "X %" everywhere in Planner (planner.dose.coverage).
Each line is also labelled in Gy, and the isodose that receives the prescription is drawn apart
(dashed white) when it is not one of the fixed levels, e.g. a depth prescription's 76.4 % line.
A refused plan shows no line and no wash. Lines come from the vectorised marching squares in
planner.dose.isodose_lines, kept below the skin by planner.dose.skin_isodoses, and are drawn as
one segment list per level.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QGraphicsItem

from planner.dose.coverage import PERCENT_DECIMALS
from planner.dose.isodose_palette import (ISODOSE_COLOURS, ISODOSE_LEVELS_PERCENT, PRESCRIPTION_ISODOSE_COLOUR,
                                          isodose_label)
from planner.dose.skin_isodoses import isodoses_below_skin
from planner.ui import qt_setup  # noqa: F401  (pyqtgraph options)
import pyqtgraph as pg

LINE_WIDTH = 1.6
PRESCRIPTION_LINE_WIDTH = 2.6     # the prescription isodose stands out, whether a level or not
LINE_GRID_STEP = 2


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
            line = pg.PlotCurveItem(pen=pg.mkPen(colour, width=LINE_WIDTH), connect="pairs", antialias=False)
            line.setZValue(8)
            plot_item.addItem(line)
            self.lines.append((level, line))
        self.prescription_line = pg.PlotCurveItem(
            pen=pg.mkPen(PRESCRIPTION_ISODOSE_COLOUR, width=PRESCRIPTION_LINE_WIDTH, style=Qt.PenStyle.DashLine),
            connect="pairs", antialias=False)
        self.prescription_line.setZValue(9)
        plot_item.addItem(self.prescription_line)
        self.prescription_percent: float | None = None   # drawn apart when not one of the levels
        # Bottom right: the lesion and the skin are near the top of a skin ultrasound.
        self.legend = pg.LegendItem(offset=(-10, -10), labelTextColor="w", brush=pg.mkBrush(0, 0, 0, 170))
        self.legend.setParentItem(plot_item.getViewBox())
        self.legend.setVisible(False)
        # The legend changes only with Dmax or the prescription isodose: paint it into a pixmap, not on every redraw.
        self.legend.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._legend_key = None
        self.wash_enabled = False
        self._wash_data = None

    def show_result(self, result, skin_depth_at) -> None:
        """The dose of a DoseResult, or nothing: a refused plan, or one without a grid or Dmax, shows
        no isodose and no wash (its numbers must not look valid)."""
        if result.refused or result.dose_grid_gy is None or not result.dmax_gy or skin_depth_at is None:
            self.clear()
            return
        self.show_dose(result.dose_grid_gy, result.x_mm, result.y_mm, result.dmax_gy, skin_depth_at,
                       result.prescription_isodose_percent)

    def show_dose(self, dose_gy: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, dmax_gy: float,
                  skin_depth_at, prescription_isodose_percent: float | None = None) -> None:
        """Isodoses in % of ``dmax_gy`` inside the patient only, contoured as the reports do
        (planner.dose.skin_isodoses: no line along the skin, above it or along the beam data's edge)."""
        # Lines are traced on every second grid point (0.2 mm on the demo): a quarter of the work,
        # and linear interpolation between them stays well inside a screen pixel on smooth dose.
        step = LINE_GRID_STEP
        scale = 100.0 / dmax_gy
        rx = None if prescription_isodose_percent is None else round(float(prescription_isodose_percent),
                                                                      PERCENT_DECIMALS)
        apart = rx is not None and rx not in ISODOSE_LEVELS_PERCENT
        levels = [level for level, _ in self.lines] + ([rx] if apart else [])
        all_segments = isodoses_below_skin(np.asarray(dose_gy[::step, ::step], dtype=float) * scale, x_mm[::step],
                                           y_mm[::step], levels, skin_depth_at)
        drawn = self.lines + ([(rx, self.prescription_line)] if apart else [])
        for (level, line), (xs, ys) in zip(drawn, all_segments):
            line.setData(xs, ys, skipFiniteCheck=True)
        if not apart:
            self.prescription_line.setData([], [])
        self.prescription_percent = rx if apart else None
        self._show_legend(dmax_gy, rx)
        self._wash_data = (dose_gy, scale, x_mm, y_mm)
        if self.wash_enabled:
            self._draw_wash()

    def _show_legend(self, dmax_gy: float, rx: float | None) -> None:
        """Rebuilt only when Dmax or the prescription isodose changes (not on an outline drag)."""
        key = (round(dmax_gy, 6), rx)
        if key != self._legend_key:
            self._legend_key = key
            self.legend.clear()
            for level, line in self.lines:
                line.setPen(pg.mkPen(line.opts["pen"].color(), width=PRESCRIPTION_LINE_WIDTH if level == rx
                                     else LINE_WIDTH))
                self.legend.addItem(line, isodose_label(level, dmax_gy, prescription=level == rx))
            if rx is not None and rx not in ISODOSE_LEVELS_PERCENT:
                self.legend.addItem(self.prescription_line, isodose_label(rx, dmax_gy, prescription=True))
        self.legend.setVisible(True)

    def legend_labels(self) -> list[str]:
        """The legend's text, top to bottom, as shown."""
        return [label.text for _, label in self.legend.items] if self.legend.isVisible() else []

    def _draw_wash(self) -> None:
        """The colour wash is converted to an image only while it is shown (it costs ~1 ms per edit).
        Its scale runs from 0 to Dmax, like the isodose levels."""
        if self._wash_data is None:
            return
        dose_gy, scale, x_mm, y_mm = self._wash_data
        relative = np.asarray(dose_gy, dtype=float) * scale
        dx = x_mm[1] - x_mm[0] if len(x_mm) > 1 else 1.0
        dy = y_mm[1] - y_mm[0] if len(y_mm) > 1 else 1.0
        self.wash.setImage(relative, levels=(0, 100), autoLevels=False)
        self.wash.setRect(QRectF(x_mm[0] - dx / 2, y_mm[0] - dy / 2, dx * len(x_mm), dy * len(y_mm)))
        self.wash.setVisible(True)

    def clear(self) -> None:
        for _, line in self.lines:
            line.setData([], [])
        self.prescription_line.setData([], [])
        self.prescription_percent = None
        self._wash_data = None
        self.wash.setVisible(False)
        self.legend.setVisible(False)

    def set_wash_visible(self, visible: bool) -> None:
        self.wash_enabled = visible
        if visible:
            self._draw_wash()
        else:
            self.wash.setVisible(False)

    def line_points(self, level_percent: float) -> tuple[np.ndarray, np.ndarray]:
        """The drawn segment end points of one isodose (% of Dmax): a fixed level, or the prescription
        isodose drawn apart."""
        level_percent = round(float(level_percent), PERCENT_DECIMALS)
        for level, line in self.lines:
            if level == level_percent:
                return line.getData()
        if self.prescription_percent is not None and level_percent == self.prescription_percent:
            return self.prescription_line.getData()
        raise KeyError(level_percent)

    def drawn_point_count(self) -> int:
        """How many line points are on the image now, over all isodoses."""
        curves = [line for _, line in self.lines] + [self.prescription_line]
        return sum(0 if curve.getData()[0] is None else len(curve.getData()[0]) for curve in curves)
