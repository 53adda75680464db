"""A polyline or polygon on the image that the user edits with the mouse.

Drag a vertex, click on a segment to add a vertex, right-click a vertex to remove it, drag the
shape to move it. Each finished gesture calls ``on_edited`` with the vertices in mm; drawing the
plan's own vertices (after an undo, say) does not.
"""

from __future__ import annotations

from typing import Callable

from planner.ui import qt_setup  # noqa: F401  (pyqtgraph options)
import pyqtgraph as pg

Vertices = list[tuple[float, float]]


class EditablePolyline:
    def __init__(self, plot_item: pg.PlotItem, closed: bool, pen, z_value: float,
                 on_edited: Callable[[Vertices], None]):
        self.plot_item = plot_item
        self.closed = closed
        self.pen = pen
        self.z_value = z_value
        self.on_edited = on_edited
        self.roi: pg.PolyLineROI | None = None
        self._drawing = False
        self.interactive = True

    def vertices_mm(self) -> Vertices:
        if self.roi is None:
            return []
        points = []
        for handle in self.roi.getHandles():
            p = self.roi.mapToParent(handle.pos())
            points.append((float(p.x()), float(p.y())))
        return points

    def show(self, vertices: Vertices | None) -> None:
        """Draw these vertices (the plan's); not reported as an edit."""
        self._drawing = True
        try:
            if not vertices:
                if self.roi is not None:
                    self.plot_item.removeItem(self.roi)
                    self.roi = None
                return
            if self.roi is not None and self.vertices_mm() == list(vertices):
                return
            if self.roi is None:
                self.roi = pg.PolyLineROI(list(vertices), closed=self.closed, pen=self.pen)
                self.roi.setZValue(self.z_value)
                self.roi.sigRegionChangeFinished.connect(self._on_change_finished)
                self.roi.setEnabled(self.interactive)
                self.plot_item.addItem(self.roi)
            else:
                self.roi.setPos(0, 0)
                self.roi.setPoints(list(vertices), closed=self.closed)
        finally:
            self._drawing = False

    def set_interactive(self, interactive: bool) -> None:
        """Off while a click tool is active, so its clicks do not also add vertices here."""
        self.interactive = interactive
        if self.roi is not None:
            self.roi.setEnabled(interactive)

    def _on_change_finished(self, _roi) -> None:
        if not self._drawing:
            self.on_edited(self.vertices_mm())
