"""The ultrasound image in mm with the skin line and the editable lesion outline.

The view places the image by its calibration, so the axes read millimetres and 1 mm is as long
across as down. It never changes the plan itself: a finished drag is reported as a new
LesionOutline and the document decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtGui import QColor

from planner.ui import qt_setup  # noqa: F401  (pyqtgraph options)
import pyqtgraph as pg

from planner.core.outline import LesionOutline

OUTLINE_COLOUR = QColor(255, 200, 0)
SKIN_COLOUR = QColor(0, 200, 255)


@dataclass(frozen=True)
class CursorReadout:
    x_mm: float
    y_mm: float
    col: int
    row: int
    value: object  # a number for grey images, an (r, g, b) tuple for colour


class UltrasoundView(pg.PlotWidget):
    cursor_moved = Signal(object)  # CursorReadout, or None when off the image
    outline_edited = Signal(object)  # LesionOutline

    def __init__(self, parent=None):
        super().__init__(parent, background="k")
        plot = self.getPlotItem()
        plot.invertY(True)
        plot.setAspectLocked(True, ratio=1.0)
        plot.showGrid(x=False, y=False)
        for side, text in (("bottom", "lateral position"), ("left", "depth below transducer")):
            axis = plot.getAxis(side)
            axis.enableAutoSIPrefix(False)
            plot.setLabel(side, text, units="mm")
        plot.setMenuEnabled(False)
        plot.hideButtons()

        self.image_item = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self.image_item)
        self.skin_curve = pg.PlotDataItem(pen=pg.mkPen(SKIN_COLOUR, width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine))
        self.skin_curve.setZValue(5)
        plot.addItem(self.skin_curve)
        self.outline_roi: pg.PolyLineROI | None = None
        self._image = None
        self._frame = 0
        self._updating_outline = False
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # --- what the document tells the view -------------------------------------------------
    def show_image(self, image, frame: int = 0) -> None:
        self._image = image
        self._frame = frame
        pixels = image.frames[frame]
        levels = (0, 255) if pixels.dtype == np.uint8 else (float(pixels.min()), float(pixels.max()))
        self.image_item.setImage(pixels, levels=None if image.is_colour else levels, autoLevels=False)
        left, top, width, height = image.extent_mm
        self.image_item.setRect(QRectF(left, top, width, height))
        self.fit_image()

    def show_skin_line(self, skin_line) -> None:
        if skin_line is None:
            self.skin_curve.setData([], [])
        else:
            self.skin_curve.setData(np.asarray(skin_line.x_mm), np.asarray(skin_line.y_mm))

    def show_outline(self, outline: LesionOutline | None) -> None:
        """Draw the plan's outline; does not report it back as an edit."""
        self._updating_outline = True
        try:
            if outline is None:
                if self.outline_roi is not None:
                    self.getPlotItem().removeItem(self.outline_roi)
                    self.outline_roi = None
                return
            if self.outline_roi is not None and self.outline_vertices_mm() == list(outline.vertices_mm):
                return
            if self.outline_roi is None:
                self.outline_roi = pg.PolyLineROI(list(outline.vertices_mm), closed=True,
                                                  pen=pg.mkPen(OUTLINE_COLOUR, width=2))
                self.outline_roi.setZValue(10)
                self.outline_roi.sigRegionChangeFinished.connect(self._on_outline_change_finished)
                self.getPlotItem().addItem(self.outline_roi)
            else:
                self.outline_roi.setPos(0, 0)
                self.outline_roi.setPoints(list(outline.vertices_mm), closed=True)
        finally:
            self._updating_outline = False

    def fit_image(self) -> None:
        if self._image is not None:
            left, top, width, height = self._image.extent_mm
            self.getPlotItem().getViewBox().setRange(QRectF(left, top, width, height), padding=0.02)

    # --- geometry helpers (also used by tests to find handles) ----------------------------
    def outline_vertices_mm(self) -> list[tuple[float, float]]:
        if self.outline_roi is None:
            return []
        points = []
        for handle in self.outline_roi.getHandles():
            p = self.outline_roi.mapToParent(handle.pos())
            points.append((float(p.x()), float(p.y())))
        return points

    def mm_to_widget(self, x_mm: float, y_mm: float):
        """Where a point in mm appears in the viewport, in widget pixels."""
        scene_point = self.getPlotItem().getViewBox().mapViewToScene(QPointF(x_mm, y_mm))
        return self.mapFromScene(scene_point)

    # --- events -------------------------------------------------------------------------
    def _on_outline_change_finished(self, _roi) -> None:
        if self._updating_outline:
            return
        try:
            outline = LesionOutline(tuple(self.outline_vertices_mm()))
        except ValueError:
            return
        self.outline_edited.emit(outline)

    def _on_mouse_moved(self, scene_pos) -> None:
        image = self._image
        if image is None or image.calibration is None:
            self.cursor_moved.emit(None)
            return
        view_point = self.getPlotItem().getViewBox().mapSceneToView(scene_pos)
        x_mm, y_mm = view_point.x(), view_point.y()
        col_f, row_f = image.calibration.mm_to_pixel(x_mm, y_mm)
        col, row = int(round(float(col_f))), int(round(float(row_f)))
        if not (0 <= col < image.cols and 0 <= row < image.rows):
            self.cursor_moved.emit(None)
            return
        self.cursor_moved.emit(CursorReadout(x_mm, y_mm, col, row, image.pixel_value(self._frame, col, row)))
