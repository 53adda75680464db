"""The dose grid on the ultrasound image and the lesion's dose metrics, from one beam model.

Shared by every surface technique (kV cones, eBx applicators): once an engine knows the surface
dose per fraction and the beam's PDD × off-axis table, the picture and the numbers are the same.
"""

from __future__ import annotations

import numpy as np

from planner.core.outline import LesionOutline
from planner.core.plan import Plan
from planner.core.prescription import PrescriptionPoint
from planner.core.skin_surface import SkinSurface
from planner.dose.dose_plane import BeamModel, PlaneCache
from planner.dose.metrics import DoseMetrics, compute_metrics
from planner.dose.plan_checks import REFUSE, WARN, Finding, refused


def geometry_refusal(plan: Plan, point: PrescriptionPoint, cone_axis_x_mm: float | None) -> Finding | None:
    """Why the dose cannot be placed on the image (no skin line; no outline where its depth or
    centre is needed), or None."""
    if plan.skin_surface is None:
        return Finding(REFUSE, "no skin surface on the image: depths cannot be measured", "no-skin")
    if plan.outline is None and (point.mode == "isodose" or (cone_axis_x_mm is None and plan.cone_axis_x_mm is None)):
        return Finding(REFUSE, "no lesion outline: draw the lesion (its depth and centre are needed)", "no-outline")
    return None


def beam_axis_x_mm(plan: Plan, cone_axis_x_mm: float | None) -> float:
    """The axis given, else the plan's, else the lesion's lateral centre."""
    if cone_axis_x_mm is None:
        cone_axis_x_mm = plan.cone_axis_x_mm
    return float(plan.outline.lateral_centre_mm if cone_axis_x_mm is None else cone_axis_x_mm)


def time_unless_refused(time_min: float | None, reason: str | None, findings) -> tuple[float | None, str | None]:
    """A refused plan shows no time: (None, the refusals) instead of the computed one."""
    if refused(findings) and time_min is not None:
        return None, "refused: " + "; ".join(f.message for f in findings if f.severity == REFUSE)
    return time_min, reason


class ImageDose:
    """Keeps the last plane and scaled grid, so an outline edit that moves neither costs nothing."""

    def __init__(self):
        self._planes = PlaneCache()
        self._grid_key = None
        self._grid: np.ndarray | None = None

    def grid_and_metrics(self, model: BeamModel, x_mm: np.ndarray, y_mm: np.ndarray, skin: SkinSurface,
                         outline: LesionOutline | None, axis_x_mm: float, surface_dose_gy: float,
                         deepest: tuple[float, float, float] | None) -> tuple[np.ndarray, DoseMetrics | None]:
        """(dose grid in Gy per fraction, lesion metrics or None without an outline).

        The grid is read-only and shared between calls while beam, skin, axis and dose stay the same.
        """
        plane = self._planes.plane(model, x_mm, y_mm, skin, axis_x_mm)
        key = (id(plane), float(surface_dose_gy))
        if self._grid_key != key:
            self._grid = plane.values * np.float32(surface_dose_gy)
            self._grid.flags.writeable = False
            self._grid_key, self._grid_plane = key, plane   # keep the plane alive so id() stays unique
        if outline is None:
            return self._grid, None
        s_axis = skin.depth_at(axis_x_mm)

        def point_dose(px, py):
            return surface_dose_gy * model.relative_dose(py - skin.depth_at(px), px - axis_x_mm,
                                                         skin.depth_at(px) - s_axis)
        metrics = compute_metrics(self._grid, x_mm, y_mm, outline, skin, surface_dose_gy, model.beam.pdd,
                                  point_dose, deepest)
        return self._grid, metrics

    @staticmethod
    def metric_warnings(metrics: DoseMetrics | None) -> list[Finding]:
        return [] if metrics is None else [Finding(WARN, n, "metrics") for n in metrics.notes]
