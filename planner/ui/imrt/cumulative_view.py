"""The cumulative EQD2 of a re-irradiation where the new course's dose is shown (issue 18, point 4:
"the window shows the cumulative EQD2 as isodose lines and as DVH curves beside the new plan's own").

On the slice (planner.ui.imrt.ct_slice_view): a second dose to show, both courses' EQD2 summed
voxel by voxel at the limited organ's α/β (plugins.imrt_photon.protocol_plan.Reirradiation.
cumulative_eqd2_on_grid_gy), with isodose lines at the protocol's cumulative limit and in 10 Gy
steps below it, so the distance to the limit reads off in steps. It is the named organ's figure
only (EQD2 at its α/β everywhere), and the view says so. In the DVH (planner.ui.imrt.dvh_plot): the
organ's DVH of the cumulative EQD2, dashed, the very DVH the cumulative limit is judged on
(Reirradiation.judge), beside the physical curves.

Why a class of its own: it only follows what the window already has, the plan's context (the earlier
course placed for the protocol; gone on undo or Remove Earlier Course) and the limits the Earlier
course panel shows (its report, and whether its dose is the previous optimisation's), so the
cumulative views appear, turn stale and go exactly as the panel's and the physical dose's do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Qt

from planner.dose.isodose_palette import ISODOSE_COLOURS

# The levels: the protocol's cumulative limit and these Gy below it (70 → 70, 60, 50, 40, 25): every
# 10 Gy to 30 below, where the margin to the limit is read, and one low line where the earlier
# course's dose spreads.
LEVELS_BELOW_LIMIT_GY = (0.0, 10.0, 20.0, 30.0, 45.0)
WASH_TOP_OF_LIMIT = 1.2   # the colour wash runs 0 .. 120 % of the cumulative limit
UNKNOWN_TEXT = "earlier dose not known here"


@dataclass(frozen=True)
class Eqd2Level:
    dose_gy: float
    colour: str
    is_limit: bool

    @property
    def label(self) -> str:
        return f"EQD2 {round(self.dose_gy, 2):g} Gy" + (" · limit" if self.is_limit else "")


def cumulative_levels(limit_gy: float) -> tuple[Eqd2Level, ...]:
    """The isodose levels of the cumulative EQD2, the limit first (hottest first, as the physical)."""
    doses = [limit_gy - below for below in LEVELS_BELOW_LIMIT_GY if limit_gy - below > 0]
    return tuple(Eqd2Level(dose, colour, i == 0) for i, (dose, colour) in enumerate(zip(doses, ISODOSE_COLOURS)))


class CumulativeEqd2Layer:
    """What the slice view shows for one earlier course placed on the CT (a protocol_plan.Reirradiation):
    the words, the levels and the cumulative EQD2 on the dose grid (computed once per dose shown)."""

    def __init__(self, placed):
        self.placed = placed
        organ, ab = placed.structure, placed.alpha_beta_gy
        limit = placed.limits.cumulative_eqd2_gy.value
        self.levels = cumulative_levels(limit)
        self.choice_text = f"cumulative EQD2, α/β {ab:g} Gy ({organ})"
        self.legend_title = f"Cumulative EQD2 (α/β {ab:g} Gy, both courses)"
        self.note = (f"⚠ A figure for {organ} only: EQD2 at its α/β {ab:g} Gy everywhere (other tissues' differ); "
                     f"the limit is on its {placed.limits.metric}. Blank where the earlier dose is not known.")
        self.wash_top_gy = WASH_TOP_OF_LIMIT * limit
        self.wash_label = f"EQD2 [Gy] (α/β {ab:g} Gy)"
        self._of = self._values = None   # the (grid, new dose) the values were computed for

    def on_grid(self, grid, new_dose_gy: np.ndarray) -> np.ndarray:
        """Both courses' EQD2 at ``grid``'s voxel centres for the new course's dose there; NaN where
        the earlier dose grid does not reach."""
        if self._of is None or self._of[0] is not grid or self._of[1] is not new_dose_gy:
            self._values = self.placed.cumulative_eqd2_on_grid_gy(grid, new_dose_gy)
            self._of = (grid, new_dose_gy)
        return self._values

    def readout(self, value_gy: float) -> str:
        if not math.isfinite(value_gy):
            return UNKNOWN_TEXT
        return f"EQD2 {value_gy:.2f} Gy (α/β {self.placed.alpha_beta_gy:g} Gy, both courses)"


def eqd2_curves(report) -> tuple:
    """The DVH plot's broken-line curve of a ReirradiationReport, (legend name, structure, DVH, pen
    style): the limited organ's cumulative EQD2, the DVH its limit is read on. This course's own
    EQD2 stays in the Earlier course panel: a third curve in the organ's colour, across the physical
    curves, crowds the main plot more than it tells."""
    organ = report.structure
    return ((f"{organ} cumulative EQD2 (α/β {report.alpha_beta_gy:g})", organ, report.cumulative_eqd2,
             Qt.PenStyle.DashLine),)


class CumulativeEqd2(QObject):
    """Connects the window's plan context and Earlier course panel to its slice view and DVH plot."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        window.document.context_changed.connect(self._on_context_changed)
        window.prior_panel.limits_shown.connect(self._on_limits_shown)
        self._on_context_changed(window.document.context)

    def _on_context_changed(self, context) -> None:
        placed = None if context.protocol is None or context.prior is None else context.protocol.reirradiation
        view = self.window.slice_view
        shown = None if view.cumulative is None else view.cumulative.placed
        if placed is not shown:
            view.set_cumulative(None if placed is None else CumulativeEqd2Layer(placed), view.cumulative_stale)

    def _on_limits_shown(self, report, stale: bool) -> None:
        self.window.slice_view.mark_cumulative_stale(stale)
        if report is None:
            self.window.dvh.show_eqd2(())
            return
        chosen = self.window.document.context.protocol
        placed = None if chosen is None else chosen.reirradiation
        limit_gy = None if placed is None else placed.limits.cumulative_eqd2_gy.value
        self.window.dvh.show_eqd2(eqd2_curves(report), None if limit_gy is None else (
            limit_gy, f"EQD2 limit {limit_gy:g} Gy"))
