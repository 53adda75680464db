"""The plan's dose placed on a course session (issue 17, points 2 and 6): a hand case.

The plan's dose is linear in the depth d below a sloping planning skin and in the distance r from the
planning axis, D = Dmax · (1 − d/10 mm − r/20 mm) below the skin, 0 above it; marching squares is exact on
a linear dose, so by hand the 90 % isodose crosses the planning axis 1 mm below the skin and the 50 % one
5 mm below; off the axis the 90 % line lies at d = 1 − r/2 mm.
"""

from datetime import date

import numpy as np
import pytest

from planner.core.course_imaging import ImagingSession, SessionTime
from planner.core.outline import LesionOutline
from planner.core.plan import Plan, TreatmentSetup
from planner.core.prescription import Prescription, PrescriptionPoint
from planner.core.skin_surface import SkinSurface
from planner.dose.isodose_lines import isodose_segments
from planner.dose.plan_checks import REFUSE, Finding
from planner.dose.result import dose_result
from planner.dose.session_dose import SessionDoseError, session_dose

PLAN_AXIS_MM = 3.0
PLAN_SKIN = SkinSurface(((-10.0, 2.0 - 1.3), (20.0, 2.0 + 1.7)))     # 2.0 mm at the axis, slope 0.1
DMAX_GY = 7.0 / 0.9                                                     # 7 Gy to the 90 % isodose
SESSION_SKIN = SkinSurface(((-20.0, 0.8 - 1.0), (20.0, 0.8 + 1.0)))   # slope 0.05
SESSION_AXIS_MM = 7.25                                                   # the lesion's lateral centre
SESSION_SKIN_AT_AXIS_MM = 0.8 + 0.05 * SESSION_AXIS_MM                   # 1.1625 mm


def a_plan(skin=PLAN_SKIN, axis_mm=PLAN_AXIS_MM, dose_per_fraction_gy=7.0) -> Plan:
    """The plan as planned: its planning image's skin line and beam axis, 7 Gy × 5 to the 90 % isodose."""
    return Plan(label="Left cheek BCC", patient_name="Doe^Jane", patient_id="P-1", image_path="/images/a.dcm",
                setup=TreatmentSetup("superficial-kv", "srt100-class", "70kV", "cone-20mm"),
                prescription=Prescription(dose_per_fraction_gy, 5), skin_surface=skin, cone_axis_x_mm=axis_mm)


def hand_dose(prescription_isodose_percent=90.0, findings=()):
    """The plan's DoseResult on a 0.1 × 0.05 mm planning grid (as a dose engine returns it)."""
    x = np.arange(-10.0, 20.0 + 1e-9, 0.1)
    y = np.arange(0.0, 12.0 + 1e-9, 0.05)
    depth = y[:, None] - PLAN_SKIN.depth_at(x)[None, :]
    relative = 1.0 - depth / 10.0 - np.abs(x[None, :] - PLAN_AXIS_MM) / 20.0
    grid = np.where(depth >= 0, DMAX_GY * np.clip(relative, 0.0, None), 0.0)
    return dose_result(x, y, PrescriptionPoint("isodose"), 7.0, findings, dose_grid_gy=grid,
                       cone_axis_x_mm=PLAN_AXIS_MM, surface_dose_gy=DMAX_GY,
                       prescription_isodose_percent=prescription_isodose_percent)


def a_session(skin=SESSION_SKIN, calibration="Sequence of Ultrasound Regions", centre_mm=SESSION_AXIS_MM):
    outline = None if calibration is None else LesionOutline(
        ((centre_mm - 3.0, 1.6), (centre_mm, 1.3), (centre_mm + 3.0, 1.6), (centre_mm, 2.8)))
    return ImagingSession(SessionTime.parse("after:2"), date(2026, 11, 5), "/images/b.dcm", calibration, "P-1",
                          "Doe^Jane", outline, None if calibration is None else skin)


def crossing_depth_mm(placed, percent: float, x_mm: float) -> float:
    """Where the isodose's segments cross the vertical x = ``x_mm`` (linear along the segment), more than
    0.1 mm below the skin (the grid's step from 0 above the skin to the surface dose is no isodose)."""
    xs, ys = isodose_segments(placed.dose_gy * (100.0 / placed.dmax_gy), placed.x_mm, placed.y_mm, percent)
    below = ys > placed.skin_depth_at(xs) + 0.1
    keep = below[::2] & below[1::2]
    x0, x1, y0, y1 = xs[::2][keep], xs[1::2][keep], ys[::2][keep], ys[1::2][keep]
    across = (np.minimum(x0, x1) <= x_mm) & (x_mm <= np.maximum(x0, x1)) & (x0 != x1)
    t = (x_mm - x0[across]) / (x1[across] - x0[across])
    values = y0[across] + t * (y1[across] - y0[across])
    assert values.size and np.ptp(values) < 1e-9
    return float(values[0])


def test_the_isodose_crossing_the_planning_axis_at_depth_z_crosses_the_sessions_axis_at_its_skin_plus_z():
    result = hand_dose()
    placed = session_dose(result, a_plan(), a_session())
    assert placed.axis_x_mm == SESSION_AXIS_MM
    assert placed.skin_y_mm == pytest.approx(SESSION_SKIN_AT_AXIS_MM, abs=1e-12)
    assert placed.shift_mm == pytest.approx((SESSION_AXIS_MM - PLAN_AXIS_MM, SESSION_SKIN_AT_AXIS_MM - 2.0))
    for percent, z_mm in ((90.0, 1.0), (50.0, 5.0)):
        assert crossing_depth_mm(placed, percent, SESSION_AXIS_MM) == pytest.approx(SESSION_SKIN_AT_AXIS_MM + z_mm,
                                                                                     abs=0.05)
    # 1 mm lateral of the axis the 90 % line lies d = 1 − 1/2 = 0.5 mm below the moved planning skin, which lies
    # 0.1 mm deeper there than on the axis.
    assert crossing_depth_mm(placed, 90.0, SESSION_AXIS_MM + 1.0) == pytest.approx(
        SESSION_SKIN_AT_AXIS_MM + 0.1 + 0.5, abs=0.05)
    assert placed.dose_gy is result.dose_grid_gy              # the plan's grid itself, only moved
    assert placed.x_mm == pytest.approx(result.x_mm + SESSION_AXIS_MM - PLAN_AXIS_MM)


def test_in_the_beam_frame_the_axis_is_0_and_the_skin_at_it_is_0():
    frame = session_dose(hand_dose(), a_plan(), a_session()).in_beam_frame()
    assert crossing_depth_mm(frame, 90.0, 0.0) == pytest.approx(1.0, abs=0.05)
    assert crossing_depth_mm(frame, 50.0, 0.0) == pytest.approx(5.0, abs=0.05)
    assert frame.skin_depth_at(0.0) == pytest.approx(0.0, abs=1e-12)
    assert frame.session_skin.depth_at(-4.0) == pytest.approx(-0.05 * 4.0)


def test_lines_start_below_the_deeper_of_the_two_skins():
    placed = session_dose(hand_dose(), a_plan(), a_session())
    # 10 mm left of the axis the session skin lies at 0.8 + 0.05·(−2.75) = 0.6625 mm, the moved planning skin at
    # 1.1625 − 0.1·10 = 0.1625 mm: the session's is the deeper; 10 mm right, 1.6625 against 2.1625 mm.
    assert placed.skin_depth_at(SESSION_AXIS_MM - 10.0) == pytest.approx(0.6625, abs=1e-12)
    assert placed.skin_depth_at(SESSION_AXIS_MM + 10.0) == pytest.approx(2.1625, abs=1e-12)


@pytest.mark.parametrize("session, result, plan, reason", [
    (a_session(calibration=None), hand_dose(), a_plan(), "after fraction 2: no isodoses, not measurable until "
                                                         "calibrated"),
    (a_session(skin=SkinSurface(SESSION_SKIN.points_mm, ("echoes above the line",))), hand_dose(), a_plan(),
     "after fraction 2: no isodoses, not measurable until the skin line is confirmed (echoes above the line)"),
    (a_session(), None, a_plan(), "after fraction 2: no isodoses, the plan has no dose computed"),
    (a_session(), hand_dose(findings=(Finding(REFUSE, "no skin", "no-skin"),)), a_plan(),
     "after fraction 2: no isodoses, the plan's dose is refused"),
    (a_session(), hand_dose(), a_plan(skin=None),
     "after fraction 2: no isodoses, the planning image's skin line is missing"),
    (a_session(), hand_dose(), a_plan(axis_mm=4.0),
     "after fraction 2: no isodoses, the dose was computed with the beam axis at 3.00 mm, the plan has it at 4.00 mm: "
     "recompute the dose"),
    (a_session(), hand_dose(), a_plan(dose_per_fraction_gy=6.0),
     "after fraction 2: no isodoses, the dose was computed for 7 Gy per fraction but the plan prescribes 6 Gy: "
     "recompute the dose"),
])
def test_no_dose_is_placed_where_it_cannot_be_and_the_reason_is_one_line(session, result, plan, reason):
    with pytest.raises(SessionDoseError) as caught:
        session_dose(result, plan, session)
    assert str(caught.value) == reason
