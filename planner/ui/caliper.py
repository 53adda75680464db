"""A distance caliper on the image: two handles and their distance in mm.

A measurement aid, not plan data: moving it is not an undoable plan edit.
"""

from __future__ import annotations

import math

from PySide6.QtGui import QColor

from planner.ui import qt_setup  # noqa: F401  (pyqtgraph options)
import pyqtgraph as pg

CALIPER_COLOUR = QColor(120, 255, 120)


class Caliper:
    def __init__(self, plot_item: pg.PlotItem, start_mm: tuple[float, float], end_mm: tuple[float, float]):
        self.plot_item = plot_item
        self.roi = pg.LineSegmentROI([start_mm, end_mm], pen=pg.mkPen(CALIPER_COLOUR, width=2))
        self.roi.setZValue(20)
        self.label = pg.TextItem(color=CALIPER_COLOUR, anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 160))
        self.label.setZValue(21)
        plot_item.addItem(self.roi)
        plot_item.addItem(self.label)
        self.roi.sigRegionChanged.connect(self._update_label)
        self._update_label()

    def endpoints_mm(self) -> tuple[tuple[float, float], tuple[float, float]]:
        handles = self.roi.getHandles()
        a, b = (self.roi.mapToParent(h.pos()) for h in handles[:2])
        return (a.x(), a.y()), (b.x(), b.y())

    @property
    def length_mm(self) -> float:
        (x1, y1), (x2, y2) = self.endpoints_mm()
        return math.hypot(x2 - x1, y2 - y1)

    def remove(self) -> None:
        self.plot_item.removeItem(self.roi)
        self.plot_item.removeItem(self.label)

    def _update_label(self) -> None:
        (x1, y1), (x2, y2) = self.endpoints_mm()
        self.label.setText(f"{self.length_mm:.2f} mm")
        self.label.setPos(max(x1, x2), min(y1, y2))
