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
from planner.dose.coverage import Coverage
from planner.dose.dose_plane import BeamModel, PlaneCache
from planner.dose.metrics import DoseMetrics, compute_metrics, deepest_point
from planner.dose.plan_checks import REFUSE, WARN, Finding, refused


def geometry_refusal(plan: Plan, point: PrescriptionPoint, cone_axis_x_mm: float | None,
                     ) -> tuple[Finding | None, tuple[float, float, float] | None]:
    """(why the dose cannot be placed on the image, or None; the lesion's deepest point (x, y, depth
    below the skin) or None without an outline).

    Refused: no skin line; a skin line with open doubts (a detection the user has not confirmed:
    no depth is measured from a line that may not be the skin); no outline where its centre is
    needed; a lesion whose deepest point lies above the skin.
    """
    skin = plan.skin_surface
    if skin is None:
        return Finding(REFUSE, "no skin surface on the image: depths cannot be measured", "no-skin"), None
    if not skin.confirmed:
        return Finding(REFUSE, f"skin line not confirmed ({skin.doubts[0]}): confirm it or draw it before any depth "
                               f"is measured", "skin-not-confirmed"), None
    if plan.outline is None:
        if cone_axis_x_mm is None and plan.cone_axis_x_mm is None:
            return Finding(REFUSE, "no lesion outline: draw the lesion (its centre places the beam)", "no-outline"), None
        return None, None
    deepest = deepest_point(plan.outline, skin)
    if deepest[2] < 0:
        return Finding(REFUSE, f"the lesion's deepest point lies {-deepest[2]:.2f} mm above the skin line: correct "
                               f"the outline or the skin line", "lesion-above-skin"), deepest
    return None, deepest


def lesion_coverage(metrics: DoseMetrics | None, surface_dose_gy: float, prescription_isodose_percent: float,
                    ) -> tuple[Coverage | None, list[Finding]]:
    """Where the lesion's deepest point lies against the prescription isodose, and a warning when it
    lies outside (under-dosed). Dmax is the surface dose on the axis (planner.dose.coverage)."""
    if metrics is None or metrics.dose_at_deepest_point_gy is None:
        return None, []
    coverage = Coverage(float(surface_dose_gy), float(prescription_isodose_percent), metrics.deepest_point_depth_mm,
                        metrics.dose_at_deepest_point_gy)
    if coverage.covered:
        return coverage, []
    return coverage, [Finding(WARN, f"under-dosed: {coverage.sentence()[0].lower()}{coverage.sentence()[1:]}",
                              "isodose-short")]


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
