"""Cumulative DVHs (Dose [Gy] vs Volume [%]) of every structure, live while the optimiser runs.

Live doses arrive after every iteration; they are drawn at most every 0.25 s, or every three
times the last drawing's cost if longer (the sub-voxel DVH of a body takes ~0.15 s), so the window
keeps two thirds of its time for the user; the newest dose wins, and the final result is always
drawn at once. The curves come from the technique's
``structure_dvhs`` (planner.dose.structure_dvh: the structures sampled below the dose voxel, the
dose interpolated), the one DVH the goals, the report and the command line read too.

Beside them, with an earlier course, the limited organ's cumulative EQD2 (planner.ui.imrt.cumulative_view),
dashed in the organ's colour, on the same Gy axis, labelled so that a solid curve reads as physical
dose and a dashed one as EQD2. One axis, not two: the dashed curve's top then reads directly as the
number the re-irradiation limits table shows, against a vertical line at the limit, with no second
scale to look up. It is drawn through the DVH's own samples (sample_dvh_curve), not binned, so a
D0.03cc read off it is the limits table's.
"""

from __future__ import annotations

import html
import time

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from planner.ui import qt_setup  # noqa: F401  (pyqtgraph options)
import pyqtgraph as pg

MIN_REDRAW_INTERVAL_S = 0.25
REDRAW_COST_FACTOR = 3.0   # live redraws at most every 3 × the last one's duration
BIN_WIDTH_GY = 0.25
DOSE_AXIS_LABEL = "Dose [Gy]"
KEY_STYLE = "background: black; color: white; padding: 2px 4px;"
EQD2_AXIS_LABEL = "Dose [Gy] solid, EQD2 [Gy] dashed"


def sample_dvh_curve(dvh) -> tuple[np.ndarray, np.ndarray]:
    """A StructureDvh's cumulative curve through its samples (dose ascending, volume %): each sample's
    dose at the middle of the volume it stands for, as StructureDvh.dose_at_volume_cc_gy reads it, so
    a D_v interpolated on the curve is the DVH's own; flat at 100 % down to 0 Gy and 0 % at the top."""
    d = dvh.dose_desc_gy
    if d.size == 0:
        return np.zeros(0), np.zeros(0)
    volume = (np.arange(d.size) + 0.5) / d.size * 100.0
    dose = np.concatenate(([d[0]], d, [d[-1], 0.0]))
    volume = np.concatenate(([0.0], volume, [100.0, 100.0]))
    return dose[::-1], volume[::-1]


def dvh_axes(dose_label: str = DOSE_AXIS_LABEL, legend: bool = True):
    """An empty cumulative-DVH plot (dose across, volume % up to 100) and its legend (None: none)."""
    plot = pg.PlotWidget()
    item = plot.getPlotItem()
    item.setLabel("bottom", dose_label)
    item.setLabel("left", "Volume [%]")
    item.showGrid(x=True, y=True, alpha=0.3)
    item.setYRange(0, 102, padding=0)
    item.setMenuEnabled(False)
    return plot, (item.addLegend(offset=(-10, 10), labelTextColor="w", brush=pg.mkBrush(0, 0, 0, 170))
                  if legend else None)


def key_entry(name: str, colour: str, dashed: bool) -> str:
    """One curve in the key under the plot (rich text): a stroke in its colour and style, its name;
    unbreakable inside, so the key wraps between entries only."""
    stroke = "━&nbsp;━&nbsp;━" if dashed else "━━━━━"
    return f'<span style="color:{colour}">{stroke}</span>&nbsp;{html.escape(name).replace(" ", "&nbsp;")}'


class DvhPlot(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        # the key under the plot, not a legend on it: with a CT's ten structures a legend covers
        # most of a small dock's curves, the EQD2 curve's plateau among them
        self.plot, _none = dvh_axes(legend=False)
        item = self.plot.getPlotItem()
        self.caption = QLabel("No dose yet: press Optimise.")
        self.caption.setWordWrap(True)
        self.key = QLabel()
        self.key.setWordWrap(True)
        self.key.setTextFormat(Qt.TextFormat.RichText)
        self.key.setStyleSheet(KEY_STYLE)   # the plot's black, so the curves' colours read as on it
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.key)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.prescription_line = pg.InfiniteLine(angle=90, movable=False,
                                                 pen=pg.mkPen("#ffffff", width=1, style=Qt.PenStyle.DashLine),
                                                 label="Rx {value:g} Gy",
                                                 labelOpts={"position": 0.5, "color": "w", "anchors": [(1.05, 0.5), (1.05, 0.5)]})
        self.prescription_line.setVisible(False)
        item.addItem(self.prescription_line)
        self.colours: dict[str, str] = {}
        self.eqd2_curves: dict[str, pg.PlotDataItem] = {}   # legend name -> broken-line curve
        self.eqd2_limit_line = pg.InfiniteLine(angle=90, movable=False, label="",
                                               labelOpts={"position": 0.1, "color": "w",
                                                          "anchors": [(1.05, 0.5), (1.05, 0.5)]})
        self.eqd2_limit_line.setVisible(False)
        item.addItem(self.eqd2_limit_line)
        self._source = None   # dose rows (Gy) -> {structure: StructureDvh}
        self._pending: tuple[np.ndarray, str] | None = None
        self._last_draw = 0.0
        self._last_draw_s = 0.0   # how long the last drawing took
        self.live_draws = 0  # how many live redraws were made (the throttle's effect, for tests)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._draw_pending)

    def set_structures(self, colours: dict[str, str]) -> None:
        item = self.plot.getPlotItem()
        for curve in self.curves.values():
            item.removeItem(curve)
        self.curves = {name: item.plot([], [], pen=pg.mkPen(colour, width=2)) for name, colour in colours.items()}
        self.colours = dict(colours)
        self._show_key()
        self.clear("No dose yet: press Optimise.")

    def set_source(self, structure_dvhs) -> None:
        """Where a dose given per dose-influence row becomes each structure's DVH (None: no curves)."""
        self._source = structure_dvhs

    def clear(self, caption: str) -> None:
        self.cancel_live()
        self.show_eqd2(())
        for curve in self.curves.values():
            curve.setData([], [])
        self.prescription_line.setVisible(False)
        self.caption.setText(caption)

    def show_live(self, dose_rows_gy: np.ndarray, caption: str) -> None:
        """An intermediate dose: drawn now if the last draw is 0.25 s old, else when it is. The EQD2
        curves belong to the final dose and go until it is back."""
        self.show_eqd2(())
        self._pending = (dose_rows_gy, caption)
        if self._timer.isActive():
            return
        interval = max(MIN_REDRAW_INTERVAL_S, REDRAW_COST_FACTOR * self._last_draw_s)
        wait_s = self._last_draw + interval - time.monotonic()
        if wait_s <= 0:
            self._draw_pending()
        else:
            self._timer.start(int(wait_s * 1000) + 1)

    def cancel_live(self) -> None:
        self._timer.stop()
        self._pending = None

    def show_final(self, dose_rows_gy: np.ndarray, caption: str, prescribed_gy: float | None) -> None:
        self.cancel_live()
        self._draw(dose_rows_gy, caption)
        self.prescription_line.setVisible(prescribed_gy is not None)
        if prescribed_gy is not None:
            self.prescription_line.setValue(prescribed_gy)

    def _draw_pending(self) -> None:
        if self._pending is not None:
            rows, caption = self._pending
            self._pending = None
            self.live_draws += 1
            self.prescription_line.setVisible(False)
            self._draw(rows, caption)

    def _draw(self, dose_rows_gy: np.ndarray, caption: str) -> None:
        self._last_draw = time.monotonic()
        dvhs = self._source(dose_rows_gy) if self._source is not None else {}
        top = max((float(d.dose_gy.max()) for d in dvhs.values() if d.dose_gy.size), default=0.0)
        for name, curve in self.curves.items():
            dvh = dvhs.get(name)
            if dvh is None or dvh.dose_gy.size == 0:
                curve.setData([], [])
                continue
            cumulative = dvh.cumulative(BIN_WIDTH_GY, max_dose_gy=top)
            curve.setData(cumulative.dose_gy, cumulative.volume_percent)
        self.caption.setText(caption)
        self._last_draw_s = time.monotonic() - self._last_draw

    def show_eqd2(self, curves, limit=None) -> None:
        """Broken-line curves beside the physical ones: (legend name, structure, StructureDvh, Qt pen
        style) each, in the structure's colour; ``limit``: (Gy, label) of a vertical line, or None."""
        if not curves and not self.eqd2_curves:   # nothing shown, nothing to show (every live redraw)
            self.eqd2_limit_line.setVisible(False)
            return
        item = self.plot.getPlotItem()
        for curve in self.eqd2_curves.values():
            item.removeItem(curve)
        self.eqd2_curves = {}
        for name, structure, dvh, style in curves:
            dose, volume = sample_dvh_curve(dvh)
            pen = pg.mkPen(self.colours.get(structure, "#ffffff"), width=2, style=style)
            self.eqd2_curves[name] = item.plot(dose, volume, pen=pen)
        self.eqd2_limit_line.setVisible(limit is not None and bool(self.eqd2_curves))
        if limit is not None:
            self.eqd2_limit_line.setValue(limit[0])
            self.eqd2_limit_line.label.setFormat(limit[1])
            self.eqd2_limit_line.setPen(pg.mkPen(self.colours.get(curves[0][1], "#ffffff") if curves else "#ffffff",
                                                 width=1, style=Qt.PenStyle.DashLine))
        item.setLabel("bottom", EQD2_AXIS_LABEL if self.eqd2_curves else DOSE_AXIS_LABEL)
        self._show_key()

    def _show_key(self) -> None:
        """Each curve's stroke and name, the structures' then the EQD2 curves'."""
        entries = [key_entry(name, self.colours[name], False) for name in self.curves]
        entries += [key_entry(name, curve.opts["pen"].color().name(), True) for name, curve in self.eqd2_curves.items()]
        self.key.setText(" &nbsp; ".join(entries))

    def key_text(self) -> str:
        """The key as it reads (plain text, unbreakable spaces as spaces)."""
        document = QTextDocument()
        document.setHtml(self.key.text())
        return document.toPlainText().replace("\xa0", " ")

    def eqd2_curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self.eqd2_curves[name].getData()

    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.curves[name].getData()
        return (np.array([]), np.array([])) if x is None else (x, y)
