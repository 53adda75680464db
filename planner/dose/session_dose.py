"""The plan's dose placed on an imaging session of the course (issue 17, points 2 and 6).

The plan's dose is a grid on the planning image (DoseResult: x_mm, y_mm in that image's mm), shaped by
the planning image's skin line and beam axis. On a later session the beam is set up the same way on
the same lesion: the cone sits on the skin over the lesion's centre (the session's beam axis, where
Edit ▸ Centre Cone on Lesion puts it on the planning image). So the grid is moved rigidly so that the
planning beam axis at the planning skin lands on the session's beam axis at the session's skin:

    x_session = x_plan + (axis_session − axis_plan),   y_session = y_plan + (skin_session(axis) − skin_plan(axis)).

An isodose that crosses the planning axis at depth z below the planning skin crosses the session's
axis at depth z below the session's skin. STATED APPROXIMATION: the dose is the plan's as computed,
not recomputed on the session's skin shape; a line is kept only below both skin lines (below the
session's: no dose in the gel above it; below the moved planning skin: the plan has none there).

No dose is placed on a session whose lesion cannot be measured (no mm scale, no or an unconfirmed skin
line, no outline: no axis or depth to place it by), nor from a refused plan or one without a grid,
Dmax, skin line or beam axis; ``SessionDoseError`` says why in one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.core.errors import PlannerError
from planner.core.skin_surface import SkinSurface
from planner.dose.result import stale_dose_problem

APPROXIMATION = ("the plan's dose moved with its beam axis and skin point onto the session's (the lesion's centre "
                 "at the skin), not recomputed on the session's skin")


class SessionDoseError(PlannerError, ValueError):
    """The plan's dose cannot be placed on a session; the message says why."""


@dataclass(frozen=True, eq=False)
class SessionDose:
    """The plan's per-fraction dose grid in the session image's mm, with what its isodoses are read against.

    ``dose_gy`` is the plan's grid itself, (len(y_mm), len(x_mm)); ``axis_x_mm`` the session's beam axis
    and ``skin_y_mm`` the session's skin depth there; ``shift_mm`` the (lateral, depth) move from the
    planning image."""

    dose_gy: np.ndarray
    x_mm: np.ndarray
    y_mm: np.ndarray
    dmax_gy: float
    prescription_isodose_percent: float | None
    axis_x_mm: float
    skin_y_mm: float
    shift_mm: tuple[float, float]
    plan_skin: SkinSurface
    session_skin: SkinSurface

    def skin_depth_at(self, x_mm):
        """Where the lines start (session mm): the deeper of the session's skin and the moved planning skin."""
        dx, dy = self.shift_mm
        x = np.asarray(x_mm, dtype=float)
        deeper = np.maximum(np.asarray(self.plan_skin.depth_at(x - dx)) + dy, np.asarray(self.session_skin.depth_at(x)))
        return float(deeper) if deeper.ndim == 0 else deeper

    def in_beam_frame(self) -> "SessionDose":
        """The same dose in mm from the session's beam axis (lateral) and below its skin there (depth): the frame
        in which a baseline and a later session are shown side by side."""
        skin = SkinSurface(tuple((x - self.axis_x_mm, y - self.skin_y_mm) for x, y in self.session_skin.points_mm))
        return SessionDose(self.dose_gy, self.x_mm - self.axis_x_mm, self.y_mm - self.skin_y_mm, self.dmax_gy,
                           self.prescription_isodose_percent, 0.0, 0.0,
                           (self.shift_mm[0] - self.axis_x_mm, self.shift_mm[1] - self.skin_y_mm), self.plan_skin, skin)


def placed_or_reason(result, plan, session, no_dose: str = "the plan has no dose computed") -> "SessionDose | str":
    """``session_dose``, or the one line saying why there is none (``no_dose``: why ``result`` is None)."""
    try:
        return session_dose(result, plan, session, no_dose)
    except SessionDoseError as err:
        return err.user_message


def session_dose(result, plan, session, no_dose: str = "the plan has no dose computed") -> SessionDose:
    """``result`` the DoseResult of ``plan`` (or None), computed on the planning image's skin line
    (``plan.skin_surface``); ``session`` an ImagingSession. SessionDoseError when the dose cannot be placed,
    among others a dose that is not the plan's as it is now (planner.dose.result.stale_dose_problem); ``no_dose``
    says why ``result`` is None."""
    where = session.when.label
    plan_skin = plan.skin_surface
    if session.unmeasured_reason is not None:
        raise SessionDoseError(f"{where}: no isodoses, {session.unmeasured_reason}")
    if result is None:
        raise SessionDoseError(f"{where}: no isodoses, {no_dose}")
    if result.refused:
        raise SessionDoseError(f"{where}: no isodoses, the plan's dose is refused")
    stale = stale_dose_problem(plan, result)
    if stale is not None:
        raise SessionDoseError(f"{where}: no isodoses, {stale}")
    if result.dose_grid_gy is None or result.dmax_gy is None or not result.dmax_gy > 0:
        raise SessionDoseError(f"{where}: no isodoses, the plan's dose has no grid or no Dmax to read them against")
    if result.cone_axis_x_mm is None:
        raise SessionDoseError(f"{where}: no isodoses, the plan's dose has no beam axis to place it by")
    if plan_skin is None or not plan_skin.confirmed:
        raise SessionDoseError(f"{where}: no isodoses, the planning image's skin line is "
                               f"{'missing' if plan_skin is None else 'not confirmed'}")
    axis = float(session.outline.lateral_centre_mm)
    skin_y = float(session.skin_surface.depth_at(axis))
    dx = axis - float(result.cone_axis_x_mm)
    dy = skin_y - float(plan_skin.depth_at(float(result.cone_axis_x_mm)))
    return SessionDose(result.dose_grid_gy, np.asarray(result.x_mm, dtype=float) + dx,
                       np.asarray(result.y_mm, dtype=float) + dy, float(result.dmax_gy),
                       result.prescription_isodose_percent, axis, skin_y, (dx, dy), plan_skin, session.skin_surface)
