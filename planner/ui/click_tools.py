"""Tools that turn clicks on the image into something: a new outline, a seed point, a ruler.

The view routes scene clicks to the one active tool; Escape cancels it. Each tool reports its
result in mm through a callback and never edits the plan itself.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtGui import QColor

from planner.ui import qt_setup  # noqa: F401  (pyqtgraph options)
import pyqtgraph as pg

Point = tuple[float, float]
DRAWING_COLOUR = QColor(255, 140, 0)


class ClickTool:
    """Base: ``click`` gets each click in mm; ``finish`` is Enter or a double click."""

    hint = ""

    def click(self, point_mm: Point, double: bool) -> bool:
        """Handle a click; return True when the tool is done."""
        raise NotImplementedError

    def finish(self) -> bool:
        return False

    def cancel(self) -> None:
        pass


class PolylineDrawingTool(ClickTool):
    """Base of the tools that draw a line point by point with a preview: ``min_points`` are needed
    before Enter or a double click hands the points to ``on_done``; Escape removes the preview."""

    min_points = 2

    def __init__(self, plot_item: pg.PlotItem, on_done: Callable[[list[Point]], None], colour: QColor, symbol: str):
        self.plot_item = plot_item
        self.on_done = on_done
        self.points: list[Point] = []
        self.preview = pg.PlotDataItem(pen=pg.mkPen(colour, width=2), symbol=symbol, symbolSize=6,
                                       symbolBrush=colour, symbolPen=colour)
        self.preview.setZValue(30)
        plot_item.addItem(self.preview)

    def _add(self, point_mm: Point) -> None:
        self.points.append(point_mm)
        xs, ys = zip(*self.points)
        self.preview.setData(list(xs), list(ys))

    def _too_few(self) -> None:
        """Called when the line is ended with fewer than ``min_points``."""

    def finish(self) -> bool:
        if len(self.points) < self.min_points:
            self._too_few()
            return False
        self._remove_preview()
        self.on_done(list(self.points))
        return True

    def cancel(self) -> None:
        self._remove_preview()

    def _remove_preview(self) -> None:
        if self.preview.scene() is not None:
            self.plot_item.removeItem(self.preview)


class OutlineDrawingTool(PolylineDrawingTool):
    """Click the vertices of a new lesion outline; double-click or Enter closes it."""

    hint = "Click around the lesion to place vertices; double-click or Enter closes the outline, Escape cancels."
    min_points = 3

    def __init__(self, plot_item: pg.PlotItem, on_done: Callable[[list[Point]], None]):
        super().__init__(plot_item, on_done, DRAWING_COLOUR, "o")

    def click(self, point_mm: Point, double: bool) -> bool:
        if double:
            return self.finish()
        self._add(point_mm)
        return False


class SkinLineDrawingTool(PolylineDrawingTool):
    """Click the skin line's points from left to right; double-click or Enter ends it.

    A click left of the last point is not taken (a skin line has one depth at each lateral
    position) and ``say`` tells the user why; the line needs at least 2 points.
    """

    hint = ("Click along the skin from left to right; double-click or Enter ends the line "
            "(at least 2 points), Escape cancels.")

    def __init__(self, plot_item: pg.PlotItem, colour: QColor, on_done: Callable[[list[Point]], None],
                 say: Callable[[str], None]):
        super().__init__(plot_item, on_done, colour, "s")
        self.say = say

    def click(self, point_mm: Point, double: bool) -> bool:
        if double:
            # The first press of a double click arrived as a click of its own at this very place.
            return self.finish()
        if self.points and point_mm[0] <= self.points[-1][0]:
            self.say("Not taken: click the skin line's points from left to right "
                     f"(this one is not right of {self.points[-1][0]:.2f} mm).")
            return False
        self._add(point_mm)
        self.say(self.hint)
        return False

    def _too_few(self) -> None:
        self.say("A skin line needs at least 2 points; click another one, or Escape cancels.")


class PointTool(ClickTool):
    """One click reports one point (e.g. a seed inside the lesion)."""

    def __init__(self, hint: str, on_done: Callable[[Point], None]):
        self.hint = hint
        self.on_done = on_done

    def click(self, point_mm: Point, double: bool) -> bool:
        if double:
            return False
        self.on_done(point_mm)
        return True


class TwoPointTool(ClickTool):
    """Two clicks report a line (e.g. a known distance for calibration)."""

    def __init__(self, plot_item: pg.PlotItem, hint: str, on_done: Callable[[Point, Point], None]):
        self.plot_item = plot_item
        self.hint = hint
        self.on_done = on_done
        self.first: Point | None = None
        self.preview = pg.PlotDataItem(pen=pg.mkPen(DRAWING_COLOUR, width=2), symbol="+", symbolSize=10,
                                       symbolPen=DRAWING_COLOUR)
        self.preview.setZValue(30)
        plot_item.addItem(self.preview)

    def click(self, point_mm: Point, double: bool) -> bool:
        if double:
            return False
        if self.first is None:
            self.first = point_mm
            self.preview.setData([point_mm[0]], [point_mm[1]])
            return False
        self.cancel()
        self.on_done(self.first, point_mm)
        return True

    def cancel(self) -> None:
        if self.preview.scene() is not None:
            self.plot_item.removeItem(self.preview)
