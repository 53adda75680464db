"""The beam data behind the dose, as plots: central-axis depth dose and off-axis profiles.

A physicist would rather look than read: the PDD with its statistical uncertainty band, the
profiles at each scored depth, and one line saying which data and which model they came from.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from planner.ui import qt_setup  # noqa: F401  (pyqtgraph options)
import pyqtgraph as pg

PROFILE_COLOURS = ("#f0c000", "#00c8ff", "#ff6060", "#80ff80")


class BeamDataView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.pdd_plot = pg.PlotWidget()
        self.profile_plot = pg.PlotWidget()
        for plot, (bottom, left) in ((self.pdd_plot, ("depth in water", "percent of surface dose")),
                                     (self.profile_plot, ("off-axis distance", "percent of surface axis dose"))):
            item = plot.getPlotItem()
            item.showGrid(x=True, y=True, alpha=0.3)
            item.setLabel("bottom", bottom, units="mm")
            item.setLabel("left", left, units="%")
            for side in ("bottom", "left"):
                item.getAxis(side).enableAutoSIPrefix(False)
            plot.setMinimumHeight(150)
        self.pdd_plot.setTitle("Central-axis depth dose")
        self.profile_plot.setTitle("Profiles")
        self.profile_plot.addLegend(offset=(-5, 5))
        self.source_label = QLabel("No beam data yet.")
        self.source_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pdd_plot, 1)
        layout.addWidget(self.profile_plot, 1)
        layout.addWidget(self.source_label)

    def show_beam_data(self, beam_data, source: str) -> None:
        self.pdd_plot.clear()
        self.profile_plot.clear()
        depth, percent = np.array(beam_data.pdd, dtype=float).T
        sigma = np.array([s for _, s in beam_data.pdd_uncertainty], dtype=float)
        upper = pg.PlotDataItem(depth, percent + sigma, pen=None)
        lower = pg.PlotDataItem(depth, percent - sigma, pen=None)
        self.pdd_plot.addItem(pg.FillBetweenItem(upper, lower, brush=pg.mkBrush(240, 192, 0, 60)))
        self.pdd_plot.plot(depth, percent, pen=pg.mkPen(PROFILE_COLOURS[0], width=2))
        for colour, profile in zip(PROFILE_COLOURS, beam_data.profiles):
            x, y = np.array(profile.points, dtype=float).T
            x = np.concatenate([-x[::-1], x])  # scored as radii: draw the symmetric profile
            y = np.concatenate([y[::-1], y])
            self.profile_plot.plot(x, y, pen=pg.mkPen(colour, width=2), name=f"{profile.depth_mm:g} mm")
        self.source_label.setText(source)

    def show_message(self, text: str) -> None:
        self.pdd_plot.clear()
        self.profile_plot.clear()
        self.source_label.setText(text)
