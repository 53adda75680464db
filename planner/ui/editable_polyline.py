"""A polyline or polygon on the image that the user edits with the mouse.

Drag a vertex to move it, drag an edge (or inside a polygon) to move the whole shape, click an
edge to add a vertex there, right-click a vertex to remove it. Each finished gesture calls
``on_edited`` with the vertices in mm; drawing the plan's own vertices (after an undo, say) does
not. One light graphics item draws the line and its vertex squares in a single pass, so a redraw
after every edit stays cheap (pyqtgraph's PolyLineROI made of one item per edge and vertex cost
~7 ms per repaint for a 22-vertex outline).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainterPath, QPainterPathStroker, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem

from planner.ui import qt_setup  # noqa: F401  (pyqtgraph options)
import pyqtgraph as pg

Vertices = list[tuple[float, float]]
HANDLE_PX = 7  # vertex square, screen pixels
PICK_PX = 8  # how close (screen pixels) a press must be to grab a vertex or an edge


class _PolylineItem(pg.GraphicsObject):
    def __init__(self, owner: "EditablePolyline"):
        super().__init__()
        self.owner = owner
        self.points = np.zeros((0, 2))
        self._drag: tuple[str, int | None, np.ndarray, QPointF] | None = None
        self._hover = False

    # --- geometry -----------------------------------------------------------------------
    def set_points(self, points: np.ndarray) -> None:
        self.prepareGeometryChange()
        self.points = np.array(points, dtype=float)
        self.update()

    def _pixel(self) -> tuple[float, float]:
        """Size of one screen pixel in item (mm) units."""
        vx, vy = self.pixelVectors()
        if vx is None:
            return 0.05, 0.05
        return abs(vx.x()) or 0.05, abs(vy.y()) or 0.05

    def _path(self) -> QPainterPath:
        path = QPainterPath()
        if len(self.points):
            path.addPolygon(QPolygonF([QPointF(x, y) for x, y in self.points]))
            if self.owner.closed:
                path.closeSubpath()
        return path

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt's name)
        if not len(self.points):
            return QRectF()
        px, py = self._pixel()
        (x0, y0), (x1, y1) = self.points.min(axis=0), self.points.max(axis=0)
        return QRectF(x0, y0, x1 - x0, y1 - y0).adjusted(-PICK_PX * px, -PICK_PX * py, PICK_PX * px, PICK_PX * py)

    def shape(self) -> QPainterPath:
        """Where the item takes the mouse: near its edges and vertices (and inside a polygon)."""
        px, py = self._pixel()
        stroker = QPainterPathStroker()
        stroker.setWidth(2 * PICK_PX * max(px, py))
        shape = stroker.createStroke(self._path())
        if self.owner.closed:
            shape = shape.united(self._path())
        return shape

    def paint(self, painter, *_args) -> None:
        if not len(self.points):
            return
        pen = QPen(self.owner.pen)
        pen.setCosmetic(True)
        if self._hover:
            pen.setWidthF(pen.widthF() + 1)
        painter.setPen(pen)
        painter.drawPath(self._path())
        px, py = self._pixel()
        hx, hy = HANDLE_PX * px / 2, HANDLE_PX * py / 2
        painter.setBrush(pg.mkBrush(0, 0, 0, 0))
        square = QPen(self.owner.pen.color().lighter(130))
        square.setCosmetic(True)
        painter.setPen(square)
        for x, y in self.points:
            painter.drawRect(QRectF(x - hx, y - hy, 2 * hx, 2 * hy))

    # --- picking ------------------------------------------------------------------------
    def _vertex_near(self, pos: QPointF) -> int | None:
        if not len(self.points):
            return None
        px, py = self._pixel()
        d = np.hypot((self.points[:, 0] - pos.x()) / px, (self.points[:, 1] - pos.y()) / py)
        i = int(np.argmin(d))
        return i if d[i] <= PICK_PX else None

    def _edge_near(self, pos: QPointF) -> int | None:
        """Index i of the edge from vertex i to i+1 that passes within PICK_PX of ``pos``."""
        n = len(self.points)
        if n < 2:
            return None
        px, py = self._pixel()
        a = self.points / (px, py)
        b = np.roll(a, -1, axis=0)
        if not self.owner.closed:
            a, b = a[:-1], b[:-1]
        p = np.array([pos.x() / px, pos.y() / py])
        ab = b - a
        t = np.clip(((p - a) * ab).sum(axis=1) / np.maximum((ab * ab).sum(axis=1), 1e-12), 0, 1)
        d = np.hypot(*(a + t[:, None] * ab - p).T)
        i = int(np.argmin(d))
        return i if d[i] <= PICK_PX else None

    # --- mouse --------------------------------------------------------------------------
    def hoverEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph's name)
        # Disabled while a click tool is active: pyqtgraph routes a click to the item that took the
        # hover, enabled or not, so a tool's click near this line would otherwise also edit it.
        near = self.isEnabled() and not ev.isExit() and (
            self._vertex_near(ev.pos()) is not None or self._edge_near(ev.pos()) is not None
            or (self.owner.closed and self._path().contains(ev.pos())))
        if near:
            ev.acceptDrags(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.RightButton)
        if near != self._hover:
            self._hover = near
            self.update()

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph's name)
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            start = ev.buttonDownPos()
            vertex = self._vertex_near(start)
            if vertex is not None:
                self._drag = ("vertex", vertex, self.points.copy(), start)
            elif self.owner.peer_vertex_near(ev.buttonDownScenePos()):
                ev.ignore()  # a vertex of the other line is under the mouse: it has priority over our edge
                return
            elif self._edge_near(start) is not None or (self.owner.closed and self._path().contains(start)):
                self._drag = ("shape", None, self.points.copy(), start)
            else:
                ev.ignore()
                return
        if self._drag is None:
            ev.ignore()
            return
        ev.accept()
        kind, index, original, start = self._drag
        delta = np.array([ev.pos().x() - start.x(), ev.pos().y() - start.y()])
        moved = original.copy()
        if kind == "vertex":
            moved[index] = original[index] + delta
        else:
            moved += delta
        self.set_points(moved)
        if ev.isFinish():
            self._drag = None
            self.owner.report_edit()
        else:
            self.owner.report_preview()

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph's name)
        vertex = self._vertex_near(ev.pos())
        if ev.button() == Qt.MouseButton.RightButton and vertex is None and self.owner.peer_vertex_near(ev.scenePos()):
            ev.ignore()
            return
        if ev.button() == Qt.MouseButton.RightButton and vertex is not None:
            ev.accept()
            if len(self.points) > self.owner.min_vertices:
                self.set_points(np.delete(self.points, vertex, axis=0))
                self.owner.report_edit()
            return
        if ev.button() == Qt.MouseButton.LeftButton and vertex is None \
                and not self.owner.peer_vertex_near(ev.scenePos()):
            edge = self._edge_near(ev.pos())
            if edge is not None:
                ev.accept()
                self.set_points(np.insert(self.points, edge + 1, [ev.pos().x(), ev.pos().y()], axis=0))
                self.owner.report_edit()
                return
        ev.ignore()


class EditablePolyline:
    def __init__(self, plot_item: pg.PlotItem, closed: bool, pen, z_value: float,
                 on_edited: Callable[[Vertices], None], on_preview: Callable[[Vertices], None] | None = None):
        self.closed = closed
        self.pen = pg.mkPen(pen)
        self.on_edited = on_edited
        self.on_preview = on_preview  # during a drag: show its consequences, edit nothing yet
        self.min_vertices = 3 if closed else 2
        self.peers: list[EditablePolyline] = []  # other lines on the same image; their vertices win over our edges
        self.item = _PolylineItem(self)
        self.item.setZValue(z_value)
        # Redrawn from a pixmap while another line is edited; Qt refreshes it when this line changes.
        self.item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.item.setVisible(False)
        plot_item.addItem(self.item)

    def vertices_mm(self) -> Vertices:
        return [(float(x), float(y)) for x, y in self.item.points]

    def show(self, vertices: Vertices | None) -> None:
        """Draw these vertices (the plan's); not reported as an edit."""
        self.item.setVisible(bool(vertices))
        if vertices and self.vertices_mm() != list(vertices):
            self.item.set_points(vertices)

    def set_pen(self, pen) -> None:
        """Restyle the line (e.g. dashed while it is in doubt); its vertices and edits are unchanged."""
        pen = pg.mkPen(pen)
        if pen != self.pen:
            self.pen = pen
            self.item.update()

    def set_interactive(self, interactive: bool) -> None:
        """Off while a click tool is active, so its clicks do not also edit this line."""
        self.item.setEnabled(interactive)

    def peer_vertex_near(self, scene_pos) -> bool:
        return any(peer.item.isVisible() and peer.item.isEnabled()
                   and peer.item._vertex_near(peer.item.mapFromScene(scene_pos)) is not None for peer in self.peers)

    def report_preview(self) -> None:
        if self.on_preview is not None:
            self.on_preview(self.vertices_mm())

    def report_edit(self) -> None:
        self.on_edited(self.vertices_mm())
