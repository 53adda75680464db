"""An axial slice of the planning volume in mm: density in grey, structure outlines, isodose lines
in Gy, and on request a colour wash.

The volume's arrays are indexed [x, y, z]; pyqtgraph is row-major, so a slice is shown as its
transpose (rows along y) and placed with setRect so both axes read mm. The y axis points down,
as patient y (posterior) does on an axial CT. A structure is outlined as its shape where the volume
carries one (the RT Structure Set's polygons, the phantom's analytic C, core and body: what the DVH
samples, planner.dose.structure_dvh), else as its mask's 0.5 level traced by
planner.dose.isodose_lines (marching squares) on the mask padded by one empty voxel, so a
structure that fills the grid is still outlined at its edge. The hover readout's "in …" asks the
same shapes.

The dose is shown as a physicist reviews an IMRT plan: isodose lines at percentages of the
prescription, each named in Gy in a legend (planner.dose.prescription_isodoses), traced on the
dose interpolated onto a raster of ≤ 1 mm and ≥ 4 points per voxel (planner.dose.dose_slice: the
same trilinear reading as the DVH), not on the 5 mm voxels. Lines leave the density and the
structure outlines visible, and show what review asks — does 95 % hug the target, where is 105 %,
how far does 50 % spread — at a glance, where a colour must be matched against a bar. The colour
wash (the same interpolated dose) is therefore off by default, a check box away for a look at the
low-dose spread; its colours would also compete with the lines'.

With an earlier course (a re-irradiation) the view offers a second dose to show, "Dose shown:
this course (Gy) | cumulative EQD2": the layer (planner.ui.imrt.cumulative_view) gives its levels,
legend, readout and values on the grid; the lines, wash and readout are drawn from it as from the
physical dose, and nothing is drawn where its value is unknown (NaN: the earlier dose grid does not
reach there), so a line never runs along the edge of what is known.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from planner.core.volume import PlanningVolume
from planner.dose.dose_slice import axial_dose_gy, refined_axis_mm
from planner.dose.isodose_lines import isodose_segments, isodose_segments_for_levels
from planner.dose.prescription_isodoses import legend_title, prescription_isodoses
from planner.ui import qt_setup  # noqa: F401  (pyqtgraph options)
import pyqtgraph as pg

# Relative electron density shown from air (black) to a little above water, so water is light
# grey, lung and fat darker and bone white.
DENSITY_WINDOW = (0.0, 1.6)
WASH_TOP_OF_PRESCRIPTION = 1.2   # the colour bar runs 0 .. 120 % of the prescribed dose
WASH_FLOOR_OF_PRESCRIPTION = 0.1  # below 10 % of the prescription the wash is transparent
WASH_OPACITY = 0.5
# Isodoses are thinner than the structure outlines (2.5 px on a 4.5 px dark halo) and drawn under
# them, so the 105 % line is not taken for the PTV's red outline.
ISODOSE_WIDTH = 1.5
PRESCRIPTION_ISODOSE_WIDTH = 2.5
ISODOSE_LEGEND_COLUMNS = 2   # 105 | 100, 95 | 80, 50 | 20: fits the band below the phantom at 1280 × 800
DOSE_CHOICE_PHYSICAL = "this course (Gy)"
NOTE_STYLE = "color: #ffb040;"


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


def polygon_segments(polygons) -> tuple[np.ndarray, np.ndarray]:
    """Segment end points (mm, in pairs) of closed polygons ((n, 2) x, y)."""
    starts = [np.asarray(p, dtype=float) for p in polygons if len(p) >= 2]
    if not starts:
        return np.zeros(0), np.zeros(0)
    pairs = np.concatenate([np.stack((p, np.roll(p, -1, axis=0)), axis=1).reshape(-1, 2) for p in starts])
    return pairs[:, 0], pairs[:, 1]


def structure_outline(volume: PlanningVolume, name: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A structure's outline on slice k: its shape's cross-section at the slice's z where the volume
    has a shape for it, else its mask's edge."""
    shape = getattr(volume, "shapes", {}).get(name)
    if shape is not None and hasattr(shape, "outlines_mm"):
        return polygon_segments(shape.outlines_mm(float(volume.grid.z_mm[k])))
    return outline_segments(volume.masks[name][:, :, k], volume.grid.x_mm, volume.grid.y_mm)


def known_segments(plane: np.ndarray, x_mm: np.ndarray, y_mm: np.ndarray, xs: np.ndarray, ys: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The isodose segments (end points in pairs) whose raster cell has a value at all four corners:
    marching squares takes NaN for "above every level", which would draw a line along the edge of
    the known values."""
    if xs.size == 0 or not np.isnan(plane).any():
        return xs, ys
    mx, my = (xs[0::2] + xs[1::2]) / 2, (ys[0::2] + ys[1::2]) / 2
    col = np.clip(np.searchsorted(x_mm, mx, side="right") - 1, 0, x_mm.size - 2)
    row = np.clip(np.searchsorted(y_mm, my, side="right") - 1, 0, y_mm.size - 2)
    unknown = np.isnan(plane)
    bad = (unknown[row, col] | unknown[row, col + 1] | unknown[row + 1, col] | unknown[row + 1, col + 1]
           | np.isnan(mx) | np.isnan(my))
    keep = np.repeat(~bad, 2)
    return xs[keep], ys[keep]


def structures_at(volume: PlanningVolume, x_mm: float, y_mm: float, k: int, i: int, j: int) -> list[str]:
    """The structures a point of slice k lies in: by shape where there is one, else by the voxel (i, j, k)."""
    z = np.array([float(volume.grid.z_mm[k])])
    inside = []
    for name, mask in volume.masks.items():
        shape = getattr(volume, "shapes", {}).get(name)
        if shape is not None:
            hit = bool(np.asarray(shape.contains_on_lattice(np.array([x_mm]), np.array([y_mm]), z))[0, 0, 0])
        else:
            hit = bool(mask[i, j, k])
        if hit:
            inside.append(name)
    return inside


class IsodoseLegend(pg.LegendItem):
    """A legend in columns under a title row that spans them (pyqtgraph's own sizing counts a
    spanning item once per column it covers, so the size here is the layout's own)."""

    def __init__(self, title: str, columns: int, **options):
        super().__init__(colCount=columns, **options)
        self.title = pg.LabelItem(title, color="w", justify="left", size="9pt")
        self.layout.addItem(self.title, 0, 0, 1, 2 * columns)

    def updateSize(self) -> None:
        self.layout.invalidate()
        hint = self.layout.effectiveSizeHint(Qt.SizeHint.PreferredSize)
        self.setGeometry(0, 0, hint.width(), hint.height())


class CtSliceView(QWidget):
    hovered = Signal(str)  # "x, y, z mm · density · dose Gy" under the mouse, "" when outside

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.volume: PlanningVolume | None = None
        self.dose_gy: np.ndarray | None = None
        self.prescribed_gy = 50.0
        self.colours: dict[str, str] = {}
        self.slice_index = 0
        self.raster_x_mm = self.raster_y_mm = np.zeros(0)   # the interpolated plane's points
        self.plane_gy: np.ndarray | None = None              # the shown slice's dose on that raster
        self.cumulative = None          # a second dose to offer (cumulative_view.CumulativeEqd2Layer), None for none
        self.cumulative_stale = False   # whether the dose it sums is the previous optimisation's

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
        self.colour_bar.setVisible(False)
        self.outlines: dict[str, pg.PlotCurveItem] = {}
        self._halos: list[pg.PlotCurveItem] = []  # a dark edge under each outline, so red reads on red dose
        self.legend = pg.LegendItem(offset=(10, 10), labelTextColor="w", brush=pg.mkBrush(0, 0, 0, 170))
        self.legend.setParentItem(item.getViewBox())
        self.isodose_levels = ()
        self.isodose_lines: list[pg.PlotCurveItem] = []   # one per level, hottest first
        self.isodose_legend = IsodoseLegend("", ISODOSE_LEGEND_COLUMNS, offset=(10, -10), labelTextColor="w",
                                            brush=pg.mkBrush(0, 0, 0, 170))
        self.isodose_legend.setParentItem(item.getViewBox())
        self._set_isodose_levels(prescription_isodoses(self.prescribed_gy), legend_title(self.prescribed_gy))

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimum(0)
        self.slice_label = QLabel()
        self.slice_label.setMinimumWidth(190)
        self.lines_check = QCheckBox("Isodose lines")
        self.lines_check.setChecked(True)
        self.lines_check.setToolTip("Isodose lines at % of the prescribed dose, named in Gy in the legend")
        self.wash_check = QCheckBox("Colour wash")
        self.wash_check.setToolTip("The interpolated dose as colour, 0-120 % of the prescription "
                                   "(transparent below 10 %)")
        self.dose_choice_label = QLabel("Dose shown:")
        self.dose_choice = QComboBox()
        self.dose_choice.addItem(DOSE_CHOICE_PHYSICAL)
        self.dose_choice.setToolTip("This course's physical dose, or both courses' EQD2 at the limited organ's α/β")
        self.cumulative_note = QLabel()
        self.cumulative_note.setWordWrap(True)
        self.cumulative_note.setStyleSheet(NOTE_STYLE)
        for widget in (self.dose_choice_label, self.dose_choice, self.cumulative_note):
            widget.setVisible(False)
        choice_row = QHBoxLayout()
        choice_row.addWidget(self.dose_choice_label)
        choice_row.addWidget(self.dose_choice)
        choice_row.addStretch(1)
        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("Slice"))
        slider_row.addWidget(self.slider, 1)
        slider_row.addWidget(self.slice_label)
        slider_row.addWidget(self.lines_check)
        slider_row.addWidget(self.wash_check)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(choice_row)
        layout.addWidget(self.cumulative_note)
        layout.addWidget(self.plot, 1)
        layout.addLayout(slider_row)

        self.slider.valueChanged.connect(self.set_slice)
        self.lines_check.toggled.connect(lambda _on: self._draw_dose())
        self.wash_check.toggled.connect(lambda _on: self._draw_dose())
        self.dose_choice.currentIndexChanged.connect(lambda _index: self._show_mode())
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # --- content ----------------------------------------------------------------------------
    def set_volume(self, volume: PlanningVolume, colours: dict[str, str]) -> None:
        self.volume = volume
        self.colours = colours
        self.dose_gy = None
        self.raster_x_mm, self.raster_y_mm = refined_axis_mm(volume.grid.x_mm), refined_axis_mm(volume.grid.y_mm)
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
        """The whole-course dose on the volume's grid [x, y, z] in Gy, or None for no dose."""
        self.dose_gy = dose_gy
        if prescribed_gy != self.prescribed_gy:
            self.prescribed_gy = prescribed_gy
            self._show_mode()
        else:
            self._draw_dose()

    # --- this course's dose or the cumulative EQD2 -------------------------------------------------
    def set_cumulative(self, layer, stale: bool = False) -> None:
        """Offer a second dose to show (cumulative_view.CumulativeEqd2Layer: the cumulative EQD2 of
        an earlier course), or None: only this course's dose, as without an earlier course."""
        self.cumulative, self.cumulative_stale = layer, stale
        self.dose_choice.blockSignals(True)
        while self.dose_choice.count() > 1:
            self.dose_choice.removeItem(1)
        if layer is not None:
            self.dose_choice.addItem(layer.choice_text)
        self.dose_choice.blockSignals(False)
        for widget in (self.dose_choice_label, self.dose_choice):
            widget.setVisible(layer is not None)
        self._show_mode()

    def mark_cumulative_stale(self, stale: bool) -> None:
        """Whether the dose the cumulative EQD2 sums is the previous optimisation's (said on the view)."""
        if stale != self.cumulative_stale:
            self.cumulative_stale = stale
            if self.cumulative is not None:
                self._show_mode()

    @property
    def shows_cumulative(self) -> bool:
        return self.cumulative is not None and self.dose_choice.currentIndex() == 1

    def _show_mode(self) -> None:
        """Levels, legend, colour bar and note of the dose chosen, then the dose itself."""
        layer = self.cumulative if self.shows_cumulative else None
        if layer is None:
            self._set_isodose_levels(prescription_isodoses(self.prescribed_gy), legend_title(self.prescribed_gy))
            self.colour_bar.setLevels((0.0, WASH_TOP_OF_PRESCRIPTION * self.prescribed_gy))
            self.colour_bar.getAxis("left").setLabel("Dose [Gy]")
        else:
            self._set_isodose_levels(layer.levels, layer.legend_title, [level.is_limit for level in layer.levels])
            self.colour_bar.setLevels((0.0, layer.wash_top_gy))
            self.colour_bar.getAxis("left").setLabel(layer.wash_label)
        stale = "⚠ Of the previous optimisation's dose, not of the current plan. " if self.cumulative_stale else ""
        self.cumulative_note.setText("" if layer is None else stale + layer.note)
        self.cumulative_note.setVisible(layer is not None)
        self._draw_dose()

    def _shown_grid_gy(self) -> np.ndarray | None:
        """The dose chosen on the volume's grid [x, y, z]: this course's, or the cumulative EQD2 of it."""
        if self.dose_gy is None or self.volume is None:
            return None
        return self.cumulative.on_grid(self.volume.grid, self.dose_gy) if self.shows_cumulative else self.dose_gy

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
            xs, ys = structure_outline(self.volume, name, k)
            curve.setData(xs, ys, skipFiniteCheck=True)
            halo.setData(xs, ys, skipFiniteCheck=True)
        self.slice_label.setText(f"z = {grid.z_mm[k]:.1f} mm ({k + 1} of {grid.z_mm.size})")
        if self.slider.value() != k:
            self.slider.setValue(k)
        self._draw_dose()

    def _rect(self) -> QRectF:
        grid = self.volume.grid
        dx, dy, _ = grid.spacing_mm
        return QRectF(grid.x_mm[0] - dx / 2, grid.y_mm[0] - dy / 2, dx * grid.x_mm.size, dy * grid.y_mm.size)

    @property
    def slice_z_mm(self) -> float:
        return float(self.volume.grid.z_mm[self.slice_index])

    def _set_isodose_levels(self, levels, title: str, emphasised=None) -> None:
        """Levels with ``dose_gy``, ``colour`` and ``label``; ``emphasised``: which is drawn thicker (the
        limit's), by default the prescription's (planner.dose.prescription_isodoses)."""
        item = self.plot.getPlotItem()
        for line in self.isodose_lines:
            item.removeItem(line)
        self.isodose_legend.clear()
        self.isodose_levels = tuple(levels)
        self.isodose_lines = []
        self.isodose_legend.title.setText(title)
        self.isodose_legend.updateSize()
        emphasised = emphasised or [level.is_prescription for level in self.isodose_levels]
        for level, thick in zip(self.isodose_levels, emphasised):
            width = PRESCRIPTION_ISODOSE_WIDTH if thick else ISODOSE_WIDTH
            line = pg.PlotCurveItem(pen=pg.mkPen(level.colour, width=width), connect="pairs", antialias=True)
            line.setZValue(3)
            item.addItem(line)
            self.isodose_lines.append(line)
            self.isodose_legend.addItem(line, level.label)

    def isodose_legend_texts(self) -> list[str]:
        """The legend's title and each level's label, in the order of the levels (hottest first)."""
        return [self.isodose_legend.title.text, *(label.text for _sample, label in self.isodose_legend.items)]

    def _draw_dose(self) -> None:
        """The shown slice's dose, interpolated onto the fine raster, as lines and (if asked) wash."""
        shown = self._shown_grid_gy()
        has_dose = shown is not None
        self.dose_choice.setEnabled(has_dose)
        self.plane_gy = None
        if has_dose:
            grid = self.volume.grid
            self.plane_gy = axial_dose_gy(shown, grid.x_mm, grid.y_mm, grid.z_mm, self.slice_z_mm,
                                          self.raster_x_mm, self.raster_y_mm)
        show_lines = has_dose and self.lines_check.isChecked()
        if show_lines:
            doses = [level.dose_gy for level in self.isodose_levels]
            for line, (xs, ys) in zip(self.isodose_lines, isodose_segments_for_levels(
                    self.plane_gy, self.raster_x_mm, self.raster_y_mm, doses)):
                xs, ys = known_segments(self.plane_gy, self.raster_x_mm, self.raster_y_mm, xs, ys)
                line.setData(xs, ys, skipFiniteCheck=True)
        for line in self.isodose_lines:
            line.setVisible(show_lines)
        self.isodose_legend.setVisible(show_lines)
        show_wash = has_dose and self.wash_check.isChecked()
        if show_wash:
            self.wash.setImage(self.plane_gy, levels=self.colour_bar.levels(), autoLevels=False)
            self.wash.setRect(self._rect())
        elif not has_dose:
            self.wash.clear()
        self.wash.setVisible(show_wash)
        self.colour_bar.setVisible(show_wash)

    # --- hover readout ------------------------------------------------------------------------
    def readout_at(self, x_mm: float, y_mm: float) -> str:
        """What is under a point of the shown slice, in words with units; "" outside the volume.
        The dose is interpolated at the point, as the isodose lines are."""
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
            def at(values):
                return float(axial_dose_gy(values, grid.x_mm, grid.y_mm, grid.z_mm, self.slice_z_mm,
                                           np.array([x_mm]), np.array([y_mm]))[0, 0])
            text += f" · dose {at(self.dose_gy):.2f} Gy"
            if self.shows_cumulative:
                text += " (this course) · " + self.cumulative.readout(at(self._shown_grid_gy()))
        inside = structures_at(self.volume, x_mm, y_mm, k, i, j)
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
