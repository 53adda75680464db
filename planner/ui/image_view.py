"""The ultrasound image in mm with the editable skin surface and lesion outline.

The view places the image by its calibration, so the axes read millimetres and 1 mm is as long
across as down. It never changes the plan itself: a finished drag is reported as a new
LesionOutline and the document decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsItem
from PySide6.QtGui import QColor

from planner.ui import qt_setup  # noqa: F401  (pyqtgraph options)
import pyqtgraph as pg

from planner.core.outline import LesionOutline
from planner.core.skin_surface import SkinSurface
from planner.dose import isodose_palette as palette
from planner.ui.caliper import Caliper
from planner.ui.click_tools import ClickTool, OutlineDrawingTool, SkinLineDrawingTool
from planner.ui.dose_overlay import DoseOverlay
from planner.ui.editable_polyline import EditablePolyline

# Magenta: no isodose line (red, orange, yellow, cyan, blue; the prescription's white) uses it (dose_overlay).
OUTLINE_COLOUR = QColor(palette.OUTLINE_COLOUR)
# Green: no isodose line (white, red, orange, yellow, cyan, blue), the outline (magenta) or the cone
# (violet) uses it, so the line depth is measured from is never mistaken for a dose level.
SKIN_COLOUR = QColor(palette.SKIN_COLOUR)
SKIN_NOT_CONFIRMED = "skin line not confirmed"
CONE_COLOUR = QColor(200, 120, 255)


@dataclass(frozen=True)
class CursorReadout:
    x_mm: float | None  # None on an uncalibrated image
    y_mm: float | None
    col: int
    row: int
    value: object  # a number for grey images, an (r, g, b) tuple for colour


class UltrasoundView(pg.PlotWidget):
    cursor_moved = Signal(object)  # CursorReadout, or None when off the image
    outline_edited = Signal(object)  # LesionOutline
    outline_previewed = Signal(object)  # LesionOutline under a drag that has not ended
    tool_changed = Signal(str)  # the active click tool's hint, "" when none
    skin_edited = Signal(object)  # SkinSurface moved by a drag
    skin_drawn = Signal(object)  # SkinSurface drawn anew by clicks
    cone_moved = Signal(float)  # new cone axis, lateral mm
    edit_refused = Signal(str)  # why a gesture could not become an edit

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
        # Edits redraw the lines over the image, not the image: keep its rendering as a pixmap.
        self.image_item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        plot.addItem(self.image_item)
        self.skin = EditablePolyline(plot, closed=False, pen=pg.mkPen(SKIN_COLOUR, width=1.5),
                                     z_value=5, on_edited=self._on_skin_edited)
        self.outline = EditablePolyline(plot, closed=True, pen=pg.mkPen(OUTLINE_COLOUR, width=2),
                                        z_value=10, on_edited=self._on_outline_edited,
                                        on_preview=self._on_outline_previewed)
        self.skin.peers, self.outline.peers = [self.outline], [self.skin]
        # A line with open doubts is dashed and says so beside its left end.
        self.skin_doubt_label = pg.TextItem(SKIN_NOT_CONFIRMED, color=SKIN_COLOUR, anchor=(0, 0),
                                            fill=pg.mkBrush(0, 0, 0, 160))
        self.skin_doubt_label.setZValue(13)
        self.skin_doubt_label.setVisible(False)
        plot.addItem(self.skin_doubt_label, ignoreBounds=True)
        self.caliper: Caliper | None = None
        self.dose_overlay = DoseOverlay(plot)
        # The cone: its axis (drag it sideways to move the cone) and its footprint on the skin.
        self.cone_axis = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen(CONE_COLOUR, width=1.5,
                                                                            style=Qt.PenStyle.DashLine),
                                         label="beam axis", labelOpts={"position": 0.05, "color": CONE_COLOUR})
        self.cone_axis.setZValue(12)
        self.cone_axis.setVisible(False)
        self.cone_axis.sigPositionChangeFinished.connect(lambda line: self.cone_moved.emit(float(line.value())))
        plot.addItem(self.cone_axis, ignoreBounds=True)
        self.cone_footprint = pg.PlotCurveItem(pen=pg.mkPen(CONE_COLOUR, width=4))
        self.cone_footprint.setZValue(12)
        plot.addItem(self.cone_footprint)
        self._image = None
        self._frame = 0
        self._levels: tuple[float, float] | None = None
        self._shown_skin = None
        self._cursor_scene_pos = None  # where the mouse last was over the view, for a fresh read-out
        self.click_tool: ClickTool | None = None
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    # --- what the document tells the view -------------------------------------------------
    def show_image(self, image) -> None:
        """Place the image by its mm calibration; an uncalibrated one is shown in pixels."""
        same_pixels = self._image is not None and self._image.frames is image.frames
        self._image = image
        if not same_pixels:
            self.set_caliper_visible(False)
            self._levels = None
            self.show_frame(0)
        calibrated = image.calibration is not None
        unit = "mm" if calibrated else "pixels"
        plot = self.getPlotItem()
        plot.setLabel("bottom", "lateral position" if calibrated else "column", units=unit)
        plot.setLabel("left", "depth below transducer" if calibrated else "row", units=unit)
        left, top, width, height = image.extent_mm if calibrated else image.extent_px
        self.image_item.setRect(QRectF(left, top, width, height))
        self.fit_image()
        self.refresh_cursor_readout()

    def refresh_cursor_readout(self) -> None:
        """Read the image under the cursor again: another image or a new scale (a hand calibration)
        must not leave the previous read-out ("no mm scale") on screen."""
        if self._cursor_scene_pos is None:
            self.cursor_moved.emit(None)
        else:
            self._on_mouse_moved(self._cursor_scene_pos)

    def show_frame(self, frame: int) -> None:
        self._frame = frame
        pixels = self._image.frames[frame]
        if self._image.is_colour:
            self.image_item.setImage(pixels, autoLevels=False, levels=(0, 255))
        else:
            levels = self._levels or (float(self._image.frames.min()), float(self._image.frames.max()))
            self.image_item.setImage(pixels, autoLevels=False, levels=levels)

    def set_levels(self, low: float, high: float) -> None:
        """Window/level of a greyscale image (display only)."""
        self._levels = (low, high)
        if self._image is not None and not self._image.is_colour:
            self.image_item.setLevels((low, high))

    @property
    def frame(self) -> int:
        return self._frame

    def show_skin_surface(self, skin_surface) -> None:
        self._shown_skin = skin_surface
        self.skin.show(None if skin_surface is None else list(skin_surface.points_mm))
        doubtful = skin_surface is not None and not skin_surface.confirmed
        # Gaps as long as the dashes, so the line reads as broken even where it lies on a bright echo.
        self.skin.set_pen(pg.mkPen(SKIN_COLOUR, width=2, dash=[3, 3]) if doubtful
                          else pg.mkPen(SKIN_COLOUR, width=1.5))
        self.skin_doubt_label.setVisible(doubtful)
        if doubtful:
            x_mm, y_mm = skin_surface.points_mm[0]
            self.skin_doubt_label.setPos(x_mm, y_mm)
            self.skin_doubt_label.setToolTip("; ".join(skin_surface.doubts))

    @property
    def skin_shows_doubt(self) -> bool:
        """True while the skin line is drawn as not confirmed (dashed, labelled)."""
        return self.skin_doubt_label.isVisible() and self.skin.pen.style() != Qt.PenStyle.SolidLine

    def show_cone(self, axis_x_mm: float | None, diameter_mm: float | None, skin_depth_at) -> None:
        """The cone's axis and footprint (its diameter on the skin); hidden when unknown."""
        if axis_x_mm is None or diameter_mm is None or skin_depth_at is None:
            self.cone_axis.setVisible(False)
            self.cone_footprint.setData([], [])
            return
        self.cone_axis.setVisible(True)
        if self.cone_axis.value() != axis_x_mm:
            self.cone_axis.blockSignals(True)
            self.cone_axis.setValue(axis_x_mm)
            self.cone_axis.blockSignals(False)
        xs = [axis_x_mm - diameter_mm / 2, axis_x_mm + diameter_mm / 2]
        y = float(skin_depth_at(axis_x_mm)) - 0.15  # just above the skin line, to stay readable
        self.cone_footprint.setData(xs, [y, y])

    def show_outline(self, outline: LesionOutline | None) -> None:
        self.outline.show(None if outline is None else list(outline.vertices_mm))

    def set_caliper_visible(self, visible: bool) -> None:
        """Show a caliper across the middle third of the image, or remove it."""
        if not visible:
            if self.caliper is not None:
                self.caliper.remove()
                self.caliper = None
            return
        if self.caliper is None and self._image is not None and self._image.calibration is not None:
            left, top, width, height = self._image.extent_mm
            y = top + height / 2
            self.caliper = Caliper(self.getPlotItem(), (left + width / 3, y), (left + 2 * width / 3, y))
        elif self.caliper is None:
            return

    def fit_image(self) -> None:
        if self._image is not None:
            image = self._image
            left, top, width, height = image.extent_mm if image.calibration is not None else image.extent_px
            self.getPlotItem().getViewBox().setRange(QRectF(left, top, width, height), padding=0.02)

    # --- geometry helpers (also used by tests to find handles) ----------------------------
    def outline_vertices_mm(self) -> list[tuple[float, float]]:
        return self.outline.vertices_mm()

    def skin_vertices_mm(self) -> list[tuple[float, float]]:
        return self.skin.vertices_mm()

    def mm_to_widget(self, x_mm: float, y_mm: float):
        """Where a point in mm appears in the viewport, in widget pixels."""
        scene_point = self.getPlotItem().getViewBox().mapViewToScene(QPointF(x_mm, y_mm))
        return self.mapFromScene(scene_point)

    # --- click tools ----------------------------------------------------------------------
    def start_tool(self, tool: ClickTool) -> None:
        self.cancel_tool()
        self.click_tool = tool
        for polyline in (self.outline, self.skin):
            polyline.set_interactive(False)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.tool_changed.emit(tool.hint)
        self.setFocus()

    def cancel_tool(self) -> None:
        if self.click_tool is not None:
            self.click_tool.cancel()
            self._end_tool()

    def start_drawing_outline(self) -> None:
        self.start_tool(OutlineDrawingTool(self.getPlotItem(), self._on_outline_drawn))

    def start_drawing_skin_line(self) -> None:
        self.start_tool(SkinLineDrawingTool(self.getPlotItem(), SKIN_COLOUR, self._on_skin_drawn,
                                            self.tool_changed.emit))

    def _end_tool(self) -> None:
        self.click_tool = None
        for polyline in (self.outline, self.skin):
            polyline.set_interactive(True)
        self.unsetCursor()
        self.tool_changed.emit("")

    def _on_outline_drawn(self, points) -> None:
        self._on_outline_edited(points)

    def _on_mouse_clicked(self, event) -> None:
        if self.click_tool is None or event.button() != Qt.MouseButton.LeftButton:
            return
        p = self.getPlotItem().getViewBox().mapSceneToView(event.scenePos())
        event.accept()
        if self.click_tool.click((float(p.x()), float(p.y())), event.double()):
            self._end_tool()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self.click_tool is not None and event.key() == Qt.Key.Key_Escape:
            self.cancel_tool()
        elif self.click_tool is not None and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if self.click_tool.finish():
                self._end_tool()
        else:
            super().keyPressEvent(event)

    # --- events -------------------------------------------------------------------------
    def _on_outline_edited(self, vertices) -> None:
        try:
            outline = LesionOutline(tuple(vertices))
        except ValueError:
            return  # fewer than 3 vertices: pyqtgraph does not allow removing that many
        self.outline_edited.emit(outline)

    def _on_outline_previewed(self, vertices) -> None:
        try:
            self.outline_previewed.emit(LesionOutline(tuple(vertices)))
        except ValueError:
            pass

    def _on_skin_edited(self, vertices) -> None:
        try:
            surface = SkinSurface(tuple(vertices))
        except ValueError as err:
            self.edit_refused.emit(f"That skin surface cannot be used: {err}.")
            self.show_skin_surface(self._shown_skin)
            return
        self.skin_edited.emit(surface)

    def _on_skin_drawn(self, points) -> None:
        try:
            surface = SkinSurface(tuple(points))
        except ValueError as err:
            self.edit_refused.emit(f"That skin line cannot be used: {err}.")
            return
        self.skin_drawn.emit(surface)

    def _on_mouse_moved(self, scene_pos) -> None:
        self._cursor_scene_pos = QPointF(scene_pos)
        image = self._image
        if image is None:
            self.cursor_moved.emit(None)
            return
        view_point = self.getPlotItem().getViewBox().mapSceneToView(scene_pos)
        x_mm, y_mm = view_point.x(), view_point.y()
        if image.calibration is None:  # the view is in pixels
            col_f, row_f = x_mm, y_mm
            x_mm = y_mm = None
        else:
            col_f, row_f = image.calibration.mm_to_pixel(x_mm, y_mm)
        col, row = int(round(float(col_f))), int(round(float(row_f)))
        if not (0 <= col < image.cols and 0 <= row < image.rows):
            self.cursor_moved.emit(None)
            return
        self.cursor_moved.emit(CursorReadout(x_mm, y_mm, col, row, image.pixel_value(self._frame, col, row)))
