"""An axial slice of the planning volume in mm: density in grey, structure outlines, dose wash.

The volume's arrays are indexed [x, y, z]; pyqtgraph is row-major, so a slice is shown as its
transpose (rows along y) and placed with setRect so both axes read mm. The y axis points down,
as patient y (posterior) does on an axial CT. Outlines are the masks' 0.5 level traced by
planner.dose.isodose_lines (marching squares) on the mask padded by one empty voxel, so a
structure that fills the grid (the phantom's body) is still outlined at its edge.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from planner.core.volume import PlanningVolume
from planner.dose.isodose_lines import isodose_segments
from planner.ui import qt_setup  # noqa: F401  (pyqtgraph options)
import pyqtgraph as pg

# Relative electron density shown from air (black) to a little above water, so water is light
# grey, lung and fat darker and bone white.
DENSITY_WINDOW = (0.0, 1.6)
WASH_TOP_OF_PRESCRIPTION = 1.2   # the colour bar runs 0 .. 120 % of the prescribed dose
WASH_FLOOR_OF_PRESCRIPTION = 0.1  # below 10 % of the prescription the wash is transparent
WASH_OPACITY = 0.5


def wash_colour_map() -> pg.ColorMap:
    """Turbo, transparent below 10 % of the prescription (the bar spans 0 .. 120 %)."""
    n = 256
    rgba = pg.colormap.get("turbo").getLookupTable(nPts=n, alpha=True).copy()
    floor = int(np.ceil(WASH_FLOOR_OF_PRESCRIPTION / WASH_TOP_OF_PRESCRIPTION * (n - 1)))
    rgba[:, 3] = 255
    rgba[:floor, 3] = 0
    return pg.ColorMap(np.linspace(0.0, 1.0, n), rgba)


def outline_segments(mask_xy: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segment end points (mm) of a [x, y] mask slice's boundary."""
    dx = x_mm[1] - x_mm[0] if x_mm.size > 1 else 1.0
    dy = y_mm[1] - y_mm[0] if y_mm.size > 1 else 1.0
    padded = np.pad(mask_xy.T.astype(float), 1)
    xp = np.concatenate(([x_mm[0] - dx], x_mm, [x_mm[-1] + dx]))
    yp = np.concatenate(([y_mm[0] - dy], y_mm, [y_mm[-1] + dy]))
    return isodose_segments(padded, xp, yp, 0.5)


class CtSliceView(QWidget):
    hovered = Signal(str)  # "x, y, z mm · density · dose Gy" under the mouse, "" when outside

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.volume: PlanningVolume | None = None
        self.dose_gy: np.ndarray | None = None
        self.prescribed_gy = 50.0
        self.colours: dict[str, str] = {}
        self.slice_index = 0

        self.plot = pg.PlotWidget()
        item = self.plot.getPlotItem()
        item.setAspectLocked(True)
        item.invertY(True)
        item.setLabel("bottom", "x [mm] (patient left →)")
        item.setLabel("left", "y [mm] (posterior ↓)")
        item.setMenuEnabled(False)
        self.density_image = pg.ImageItem(axisOrder="row-major")
        self.density_image.setZValue(0)
        item.addItem(self.density_image)
        self.wash = pg.ImageItem(axisOrder="row-major")
        self.wash.setZValue(2)
        self.wash.setOpacity(WASH_OPACITY)
        item.addItem(self.wash)
        self.colour_bar = pg.ColorBarItem(values=(0.0, WASH_TOP_OF_PRESCRIPTION * self.prescribed_gy),
                                          colorMap=wash_colour_map(), label="Dose [Gy]", interactive=False,
                                          width=14)
        self.colour_bar.setImageItem(self.wash, insert_in=item)
        self.outlines: dict[str, pg.PlotCurveItem] = {}
        self._halos: list[pg.PlotCurveItem] = []  # a dark edge under each outline, so red reads on red dose
        self.legend = pg.LegendItem(offset=(10, 10), labelTextColor="w", brush=pg.mkBrush(0, 0, 0, 170))
        self.legend.setParentItem(item.getViewBox())

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimum(0)
        self.slice_label = QLabel()
        self.slice_label.setMinimumWidth(190)
        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("Slice"))
        slider_row.addWidget(self.slider, 1)
        slider_row.addWidget(self.slice_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addLayout(slider_row)

        self.slider.valueChanged.connect(self.set_slice)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # --- content ----------------------------------------------------------------------------
    def set_volume(self, volume: PlanningVolume, colours: dict[str, str]) -> None:
        self.volume = volume
        self.colours = colours
        self.dose_gy = None
        item = self.plot.getPlotItem()
        for curve in (*self.outlines.values(), *self._halos):
            item.removeItem(curve)
        self.legend.clear()
        self.outlines, self._halos = {}, []
        for name, colour in colours.items():
            halo = pg.PlotCurveItem(pen=pg.mkPen(0, 0, 0, 140, width=4.5), connect="pairs", antialias=False)
            halo.setZValue(4)
            curve = pg.PlotCurveItem(pen=pg.mkPen(colour, width=2.5), connect="pairs", antialias=False)
            curve.setZValue(5)
            item.addItem(halo)
            item.addItem(curve)
            self.outlines[name] = curve
            self._halos.append(halo)
            self.legend.addItem(curve, name)
        z = volume.grid.z_mm
        self.slider.blockSignals(True)
        self.slider.setMaximum(z.size - 1)
        self.slider.blockSignals(False)
        # The slice through the isocentre first.
        self.slider.setValue(int(np.argmin(np.abs(z - volume.isocentre_mm[2]))))
        self.set_slice(self.slider.value())
        x, y = volume.grid.x_mm, volume.grid.y_mm
        item.getViewBox().setRange(xRange=(x[0], x[-1]), yRange=(y[0], y[-1]), padding=0.02)

    def show_dose(self, dose_gy: np.ndarray | None, prescribed_gy: float) -> None:
        """The whole-course dose on the volume's grid [x, y, z] in Gy, or None for no wash."""
        self.dose_gy = dose_gy
        if prescribed_gy != self.prescribed_gy:
            self.prescribed_gy = prescribed_gy
            self.colour_bar.setLevels((0.0, WASH_TOP_OF_PRESCRIPTION * prescribed_gy))
        self._draw_wash()

    def set_slice(self, index: int) -> None:
        if self.volume is None:
            return
        self.slice_index = int(index)
        grid = self.volume.grid
        k = self.slice_index
        self.density_image.setImage(np.asarray(self.volume.density[:, :, k]).T, levels=DENSITY_WINDOW,
                                    autoLevels=False)
        self.density_image.setRect(self._rect())
        for (name, curve), halo in zip(self.outlines.items(), self._halos):
            xs, ys = outline_segments(self.volume.masks[name][:, :, k], grid.x_mm, grid.y_mm)
            curve.setData(xs, ys, skipFiniteCheck=True)
            halo.setData(xs, ys, skipFiniteCheck=True)
        self.slice_label.setText(f"z = {grid.z_mm[k]:.1f} mm ({k + 1} of {grid.z_mm.size})")
        if self.slider.value() != k:
            self.slider.setValue(k)
        self._draw_wash()

    def _rect(self) -> QRectF:
        grid = self.volume.grid
        dx, dy, _ = grid.spacing_mm
        return QRectF(grid.x_mm[0] - dx / 2, grid.y_mm[0] - dy / 2, dx * grid.x_mm.size, dy * grid.y_mm.size)

    def _draw_wash(self) -> None:
        if self.volume is None or self.dose_gy is None:
            self.wash.clear()
            self.wash.setVisible(False)
            return
        self.wash.setImage(np.asarray(self.dose_gy[:, :, self.slice_index], dtype=float).T,
                           levels=(0.0, WASH_TOP_OF_PRESCRIPTION * self.prescribed_gy), autoLevels=False)
        self.wash.setRect(self._rect())
        self.wash.setVisible(True)

    # --- hover readout ------------------------------------------------------------------------
    def readout_at(self, x_mm: float, y_mm: float) -> str:
        """What is under a point of the shown slice, in words with units; "" outside the volume."""
        if self.volume is None:
            return ""
        grid = self.volume.grid
        dx, dy, _ = grid.spacing_mm
        i = int(round((x_mm - grid.x_mm[0]) / dx))
        j = int(round((y_mm - grid.y_mm[0]) / dy))
        k = self.slice_index
        if not (0 <= i < grid.x_mm.size and 0 <= j < grid.y_mm.size):
            return ""
        text = (f"x {x_mm:.1f} mm, y {y_mm:.1f} mm, z {grid.z_mm[k]:.1f} mm · "
                f"density {float(self.volume.density[i, j, k]):.3f} (relative electron density)")
        if self.dose_gy is not None:
            text += f" · dose {float(self.dose_gy[i, j, k]):.2f} Gy"
        inside = [name for name, mask in self.volume.masks.items() if mask[i, j, k]]
        if inside:
            text += " · in " + ", ".join(inside)
        return text

    def _on_mouse_moved(self, scene_pos) -> None:
        view_box = self.plot.getPlotItem().getViewBox()
        if not view_box.sceneBoundingRect().contains(scene_pos):
            self.hovered.emit("")
            return
        point = view_box.mapSceneToView(scene_pos)
        self.hovered.emit(self.readout_at(point.x(), point.y()))
