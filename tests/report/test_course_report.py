"""The course report (issue 17, point 6), read back the way a person and a printer see it: pdftotext,
pdfinfo and pdftoppm (poppler), not reportlab.

The course is the response view's (tests/ui/test_course_response.py): five fractions of 7 Gy and five
imaging sessions whose outlines are ellipses of known depth and width on two synthetic DICOM
ultrasounds; the lesion shrinks to a nadir at follow-up week 4 and regrows by 50 % at week 12. Here
fraction 3 was stopped after 60 s of its planned 120 s.
"""

import subprocess
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest
from reportlab.graphics.shapes import Circle, String
from reportlab.lib import colors

from planner.core.course import CoursePhase, FractionRecord
from planner.core.course_imaging import ImagingSession, SessionError, SessionTime
from planner.report import course_report, pdf_figures
from planner.report.content import ReportError
from planner.report.course_report import date_ticks, response_plot, timeline, write_course_report
from tests.report.test_pdf_report import pdf_text, render
from planner.core.skin_surface import SkinSurface
from planner.dose.isodose_palette import ISODOSE_COLOURS
from tests.ui.test_course_response import (DEPTH_90_MM, FRACTION_DATES, SESSIONS, TODAY, a_plan,  # noqa: F401
                                           axis_crossing_mm, five_sessions, images, planned,  # images: a fixture
                                           planned_dose, polygon_area)

PRINTED_AT = datetime(2027, 3, 1, 9, 30, tzinfo=timezone.utc)
SHORT_FRACTION, SHORT_S, PLANNED_S, DOSE_PER_FRACTION_GY = 3, 60.0, 120.0, 7.0
# By hand: four whole fractions and one of half its time (the dose is proportional to the beam-on time).
DELIVERED_GY = 4 * DOSE_PER_FRACTION_GY + DOSE_PER_FRACTION_GY * SHORT_S / PLANNED_S      # 31.5
RECURRENCE = ("SUSPECTED RECURRENCE at follow-up week 12 (2027-02-09): depth 1.8 mm is 50 % above the nadir 1.2 mm "
              "(follow-up week 4), beyond the clinic's 20 % regrowth threshold")


def course_plan(sessions):
    plan = a_plan(sessions)
    records = tuple(FractionRecord(i, on, SHORT_S if i == SHORT_FRACTION else PLANNED_S, "RTT A", today=TODAY)
                    for i, on in enumerate(FRACTION_DATES, start=1))
    return plan.with_course(replace(plan.course, records=records))


def write(plan, tmp_path, threshold=20.0, **kwargs):
    return write_course_report(plan, tmp_path / "course.pdf", printed_at=PRINTED_AT,
                               regrowth_threshold_percent=threshold, **kwargs)


def page_count(path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def embedded_images(path) -> list[tuple[int, int, int]]:
    """(page, width, height in pixels) of each image the PDF holds, as poppler's pdfimages lists them."""
    listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in listing.splitlines()[2:]]
    return [(int(row[0]), int(row[3]), int(row[4])) for row in rows if row[2] == "image"]


def test_the_report_prints_the_hand_measures_the_dates_the_delivered_dose_and_the_recurrence(tmp_path, images):
    path = write(course_plan(five_sessions(images)), tmp_path)
    assert path == tmp_path / "course.pdf"
    pages = pdf_text(path)
    text = " ".join(pages)
    for _, on, depth, width in SESSIONS:
        assert on.isoformat() in text
        assert f"{depth:.2f} mm" in text and f"{width:.2f} mm" in text
        assert f"{polygon_area(depth, width):.2f} mm²" in text
    assert "depth 2.80 mm, width 9.00 mm" in text              # under the baseline's image
    for on in FRACTION_DATES:
        assert on.isoformat() in text
    assert f"{DELIVERED_GY:.2f} Gy" == "31.50 Gy"
    assert f"{DELIVERED_GY:.2f} Gy in 5 of 5 fractions; 0.00 Gy remaining as planned (complete)" in text
    assert "60.0 s of 120.0 s" in text and "3.50 Gy" in text    # the shortened fraction, in proportion
    assert "35.00 Gy" in text                                   # the course planned
    assert RECURRENCE in text
    assert "Sequence of Ultrasound Regions" in text             # the calibration source
    assert "Patient ID: P-1" in text and "Left cheek BCC" in text
    n = page_count(path)
    assert len(pages) == n >= 2
    assert all(f"Page {i} of {n}" in page for i, page in enumerate(pages, start=1))
    assert all("SUSPECTED RECURRENCE" in page for page in pages)   # the mark in every page's header

    rendered = render(path, tmp_path)
    first = rendered[0]
    assert first.shape[0] > 600                                  # A4 at 60 dpi: 702 × 496 pixels
    assert (first.mean(axis=2) < 235).mean() > 0.05              # not blank
    red = (first[..., 0] > 180) & (first[..., 1] < 80) & (first[..., 2] < 80)
    assert red.sum() > 5000                                     # the recurrence box
    assert len(embedded_images(path)) == 2                      # the baseline and the latest session


def test_without_a_threshold_recurrence_is_not_judged_and_the_adaptation_lines_are_printed(tmp_path, images):
    lines = ("after fraction 5: re-plan, the lesion lies deeper than the 90 % isodose",
             "a smaller cone covers the lesion with the margin")
    text = " ".join(pdf_text(write(course_plan(five_sessions(images)), tmp_path, threshold=None,
                                   adaptation_lines=lines)))
    assert "recurrence not judged at follow-up week 4, follow-up week 12" in text
    assert "SUSPECTED RECURRENCE" not in text
    assert all(line in text for line in lines)
    assert "nadir: depth 1.2 mm at follow-up week 4" in text
    assert "after fraction 2 (2026-11-05): depth 2.8 → 2.0 mm (−29 %)" in text


def test_the_timeline_is_in_date_order_each_session_beside_its_fraction():
    plan = course_plan([])
    sessions = five_sessions(["/a.dcm", "/b.dcm"])
    course = replace(plan.course, sessions=tuple(sessions))
    labels = [item.when.label if hasattr(item, "when") else f"fraction {item.number}"
              for _, _, item in timeline(course)]
    assert labels == ["baseline", "fraction 1", "fraction 2", "after fraction 2", "fraction 3", "fraction 4",
                      "fraction 5", "after fraction 5", "follow-up week 4", "follow-up week 12"]


def test_the_plot_marks_the_fractions_and_has_both_units_and_an_unmeasurable_session_below_zero():
    sessions = five_sessions(["/a.dcm", "/b.dcm"])
    sessions.insert(2, ImagingSession(SessionTime.parse("after:3"), date(2026, 11, 10), "/c.png", None, "P-1",
                                      "Doe^Jane"))
    plan = course_plan(sessions)
    drawing = response_plot(plan.course, 500.0)
    texts = [shape.text for shape in drawing.contents if isinstance(shape, String)]
    hollow = [shape for shape in drawing.contents if isinstance(shape, Circle) and shape.fillColor == colors.white]
    assert len(hollow) == 2 and "session not measurable" in texts          # the marker and its legend sample
    zero = next(shape.y for shape in drawing.contents if isinstance(shape, String) and shape.text == "0")
    assert hollow[0].cy < zero                                              # below the 0 mm line
    assert {"F1", "F5", "depth below the skin", "lateral width", "fraction delivered"} <= set(texts)
    assert "10 mm" in texts and "30 mm²" in texts             # the top values (9.0 mm wide, 19.3 mm²) with their units
    assert {"Nov 2026", "Dec 2026", "Jan 2027", "Feb 2027"} <= set(texts)
    assert date_ticks(date(2026, 11, 1), date(2026, 11, 20), 4) == [
        (date(2026, 11, 1), "2026-11-01"), (date(2026, 11, 8), "2026-11-08"), (date(2026, 11, 15), "2026-11-15")]


def recording_figures(monkeypatch) -> list:
    """The SessionFigures the report lays out, each with where it was drawn on the page (``at``: x, y in pt)."""
    drawn = []

    class Recording(course_report.SessionFigure):
        def __init__(self, figure, *args, **kwargs):
            super().__init__(figure, *args, **kwargs)
            drawn.append(self)

        def drawOn(self, canvas, x, y, _sW=0):  # noqa: N802 (reportlab's name)
            self.at = (x, y)
            return super().drawOn(canvas, x, y, _sW)

    monkeypatch.setattr(course_report, "SessionFigure", Recording)
    return drawn


def test_the_baseline_and_the_latest_session_are_drawn_at_one_scale_on_the_axis_and_skin(tmp_path, images,
                                                                                          monkeypatch):
    drawn = recording_figures(monkeypatch)
    plan = planned(course_plan(five_sessions(images)))
    write(plan, tmp_path, dose_result=planned_dose(plan))
    base, latest = drawn[-2:]                                     # (the PDF is laid out twice: the second drew)
    assert base.pt_per_mm == pytest.approx(latest.pt_per_mm, rel=1e-12)
    # The window in mm from the beam axis (the lesion's centre) and below the skin there, the same for both: the
    # wider lesion (9 mm) and 4 mm either side; from 1.5 mm above the skin to 3 mm below the deeper lesion (2.8 mm).
    assert base.figure.extent_mm == latest.figure.extent_mm == pytest.approx((-8.5, -1.5, 17.0, 1.5 + 2.8 + 3.0))
    assert max(y for _, y in base.figure.outline_mm) == pytest.approx(2.8)
    assert max(y for _, y in latest.figure.outline_mm) == pytest.approx(1.8)
    assert [x for x, _ in latest.figure.outline_mm][::4] == pytest.approx([3.5, 0.0, -3.5, 0.0], abs=1e-12)
    # On the page: the same (lateral, depth) at the same height, one column (half the text width) apart.
    assert latest.at[1] == pytest.approx(base.at[1], abs=1e-9)
    assert latest.at[0] - base.at[0] == pytest.approx(course_report.TEXT_W / 2, abs=1e-9)
    # The plan's isodoses on both, with the plan report's labels; the 90 % one crosses the axis at its hand depth.
    for figure in (base.figure, latest.figure):
        assert [line.label for line in figure.isodoses] == ["100 % · 7.8 Gy", "90 % · 7.0 Gy (prescription)",
                                                            "80 % · 6.2 Gy", "50 % · 3.9 Gy", "20 % · 1.6 Gy"]
        assert [line.colour for line in figure.isodoses] == list(ISODOSE_COLOURS)
        rx = next(line for line in figure.isodoses if line.prescription)
        assert axis_crossing_mm(rx.x_mm, rx.y_mm) == pytest.approx([DEPTH_90_MM], abs=0.05)
        assert figure.cone_axis_x_mm == 0.0


def test_the_pdf_shows_the_prescription_isodose_across_both_images_at_one_height(tmp_path, images):
    plan = planned(course_plan(five_sessions(images)))
    path = write(plan, tmp_path, dose_result=planned_dose(plan))
    text = " ".join(pdf_text(path))
    assert "lateral from beam axis (mm)" in text and "depth below skin at axis (mm)" in text
    assert "90 % · 7.0 Gy (prescription)" in text and "not recomputed on the session's skin" in text
    page = render(path, tmp_path)[0]
    orange = (page[..., 0] > 200) & (page[..., 1] > 110) & (page[..., 1] < 190) & (page[..., 2] < 90)  # #ff9a00
    # The 90 % line spans each 17 mm window (about 165 px at 60 dpi): one row holds it across both images.
    row = orange.sum(axis=1)
    assert row.max() > 2 * 140
    left_half, right_half = orange[row.argmax(), :page.shape[1] // 2], orange[row.argmax(), page.shape[1] // 2:]
    assert left_half.sum() > 140 and right_half.sum() > 140

    (tmp_path / "no-dose").mkdir()
    without = write(plan, tmp_path / "no-dose")
    assert "baseline: no isodoses, the report was made without the plan's dose" in column_text(without, 0)
    assert "follow-up week 12: no isodoses, the report was made without the plan's dose" in column_text(without, 1)
    no_lines = render(without, tmp_path / "no-dose")[0]
    orange = (no_lines[..., 0] > 200) & (no_lines[..., 1] > 110) & (no_lines[..., 1] < 190) & (no_lines[..., 2] < 90)
    assert orange.sum(axis=1).max() < 140


def column_text(path, column: int) -> str:
    """The first page's text in the left (0) or right (1) half of the page, as pdftotext crops it (72 dpi)."""
    x = 0 if column == 0 else 298
    out = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-x", str(x), "-y", "0", "-W", "297", "-H", "842",
                          str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.split())


def test_a_session_the_dose_cannot_be_placed_on_has_no_isodose_and_says_why(tmp_path, images, monkeypatch):
    drawn = recording_figures(monkeypatch)
    sessions = five_sessions(images)
    sessions[-1] = replace(sessions[-1], skin_surface=SkinSurface(sessions[-1].skin_surface.points_mm,
                                                                  ("echoes above the line",)))
    plan = planned(course_plan(sessions))
    path = write(plan, tmp_path, dose_result=planned_dose(plan))
    assert ("follow-up week 12: no isodoses, not measurable until the skin line is confirmed (echoes above the "
            "line)") in column_text(path, 1)
    assert "no isodoses" not in column_text(path, 0)
    base, latest = drawn[-2:]
    assert base.figure.isodoses and latest.figure.isodoses == ()
    # A dose computed for another prescription is not drawn as this plan's.
    stale = replace(planned_dose(plan), prescribed_dose_gy=6.0)
    path = write(plan, tmp_path, dose_result=stale)
    assert ("baseline: no isodoses, the dose was computed for 6 Gy per fraction but the plan prescribes 7 Gy: "
            "recompute the dose") in column_text(path, 0)
    assert drawn[-2].figure.isodoses == drawn[-1].figure.isodoses == ()


def test_a_missing_image_is_named_in_its_place(tmp_path, images):
    path = write(course_plan(five_sessions(images, missing="followup:12")), tmp_path)
    text = " ".join(pdf_text(path))
    assert "The image cannot be shown" in text and "lost.dcm: file not found" in text    # in its place
    assert "depth 1.80 mm, width 7.00 mm" in text                 # its measure stands
    assert len(embedded_images(path)) == 1                      # the baseline is drawn


def test_a_course_without_sessions_still_reports_its_fractions(tmp_path):
    path = write(course_plan(()), tmp_path)
    text = " ".join(pdf_text(path))
    assert all(on.isoformat() in text for on in FRACTION_DATES)
    assert f"{DELIVERED_GY:.2f} Gy in 5 of 5 fractions; 0.00 Gy remaining as planned (complete)" in text
    assert "No imaging session in the course" in text
    assert "no baseline session: changes are not stated" in text
    assert "No gap longer than the 7-day limit" in text


def test_a_plan_without_a_course_is_refused_in_one_line_and_writes_nothing(tmp_path):
    plan = course_plan(()).with_course(None)
    with pytest.raises(ReportError, match="has no treatment course") as caught:
        write(plan, tmp_path)
    assert len(str(caught.value).splitlines()) == 1
    with pytest.raises(SessionError, match="regrowth threshold"):
        write(course_plan(()), tmp_path, threshold=-5.0)
    assert not (tmp_path / "course.pdf").exists()


def test_a_failure_while_drawing_leaves_no_file(tmp_path, images, monkeypatch):
    def broken_drawing(self):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(pdf_figures.UltrasoundFigure, "draw", broken_drawing)
    with pytest.raises(RuntimeError, match="drawing failed"):
        write(course_plan(five_sessions(images)), tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == []


# A re-planned course (issue 17, points 3 and 6): fractions 1–2 of 7 Gy at 120 s under the first RT Plan, then
# from fraction 3 the revision, 6 Gy at 96 s; fraction 3 given in full, fraction 4 stopped at 48 s, fraction 5
# still to give.
FIRST_UID = "1.2.826.0.1.3680043.8.498.47185934402519512416186315837346013621"
REVISION_UID = "1.2.826.0.1.3680043.8.498.90233519870355716261804915272908450177"
REPLAN_REASON = "after fraction 2: the lesion lies 2.8 mm below the skin, deeper than the 90 % isodose (2.1 mm)"


def phased_plan(sessions=(), replanned_on=date(2026, 11, 6)):
    plan = a_plan(sessions, records=FRACTION_DATES[:2])
    revision = CoursePhase(REVISION_UID, 3, 3, 6.0, 96.0, REPLAN_REASON, replanned_on)
    course = replace(plan.course, rt_plan_uid=FIRST_UID, later_phases=(revision,))
    course = course.record(FRACTION_DATES[2], 96.0, "RTT B", today=TODAY)
    return plan.with_course(course.record(FRACTION_DATES[3], 48.0, "RTT B", today=TODAY))


def test_a_replanned_course_shows_each_fraction_against_its_own_phase_and_the_hand_bed_and_eqd2(tmp_path):
    text = " ".join(pdf_text(write(phased_plan(), tmp_path)))
    # Each fraction's beam-on time against its own phase's planned time, in the timeline and in the fractions table
    # (2 each); fraction 3 and 4 never against the first plan's 120 s.
    assert text.count("120.0 s of 120.0 s") == 4
    assert text.count("96.0 s of 96.0 s") == 2 and text.count("48.0 s of 96.0 s") == 2
    assert "96.0 s of 120.0 s" not in text and "48.0 s of 120.0 s" not in text
    # The doses by hand: D = d_phase · t / t_phase.
    assert "7.00 Gy delivered (120.0 s of 120.0 s)" in text
    assert "6.00 Gy delivered (96.0 s of 96.0 s)" in text and "3.00 Gy delivered (48.0 s of 96.0 s)" in text
    # The prescription lists both phases (2 × 7 + 3 × 6 = 32 Gy); a UID in short is its last 12 characters.
    assert (f"32.00 Gy in 5 fractions, 2 phases: fractions 1–2: 2 × 7 Gy, 120.0 s per fraction, RT Plan "
            f"…{FIRST_UID[-12:]} (the first plan); fractions 3–5: 3 × 6 Gy, 96.0 s per fraction, RT Plan "
            f"…{REVISION_UID[-12:]}, re-planned 2026-11-06: {REPLAN_REASON}") in text
    assert FIRST_UID[-12:] == "837346013621"
    # Delivered 7 + 7 + 6 + 3 = 23 Gy, remaining one fraction of 6 Gy: 29 Gy over the whole course.
    assert "23.00 Gy in 4 of 5 fractions; 6.00 Gy remaining as planned (1 fraction(s) to give)" in text
    assert "29.00 Gy, delivered and remaining;" in text
    # BED = Σ d_i (1 + d_i/(α/β)) over 7, 7, 6, 3 Gy delivered and 6 Gy to give; EQD2 = BED / (1 + 2/(α/β)).
    doses = (7.0, 7.0, 6.0, 3.0, 6.0)
    for alpha_beta, who in ((10.0, "tumour"), (3.0, "late skin effects")):
        bed = sum(d * (1 + d / alpha_beta) for d in doses)
        eqd2 = bed / (1 + 2 / alpha_beta)
        assert f"α/β {alpha_beta:g} Gy ({who}): BED {bed:.2f} Gy, EQD2 {eqd2:.2f} Gy" in text
    assert "BED 46.90 Gy, EQD2 39.08 Gy" in text and "BED 88.67 Gy, EQD2 53.20 Gy" in text   # written out
    # The revision: named with its whole RT Plan UID, its date, what it changed and why.
    assert (f"Re-planned 2026-11-06, from fraction 3 (fractions 3–5): RT Plan {REVISION_UID}; 6 Gy in 96.0 s per "
            f"fraction (before: 7 Gy in 120.0 s). Reason: {REPLAN_REASON}") in text
    assert (f"Re-planned 2026-11-06, RT Plan …{REVISION_UID[-12:]}: from fraction 3, 6 Gy in 96.0 s per fraction"
            in text)                                             # the row in the fractions table where it took over
    # In the timeline, between fractions 2 and 3.
    replan_row = (f"2026-11-06 re-plan from fraction 3: 6 Gy in 96.0 s per fraction, RT Plan …{REVISION_UID[-12:]} "
                  f"{REPLAN_REASON}")
    assert "Timeline: imaging sessions, fractions and re-plans in date order" in text
    assert text.index("fraction 2 7.00 Gy delivered") < text.index(replan_row) < text.index("fraction 3 6.00 Gy")


def test_a_replan_made_the_day_of_an_image_follows_it_in_the_timeline():
    sessions = five_sessions(["/a.dcm", "/b.dcm"])                 # "after fraction 2" is imaged on 2026-11-05
    course = phased_plan(sessions, replanned_on=date(2026, 11, 5)).course
    labels = [item.when.label if hasattr(item, "when") else
              f"fraction {item.number}" if hasattr(item, "number") else f"re-plan from {item.first_fraction}"
              for _, _, item in timeline(course)]
    assert labels == ["baseline", "fraction 1", "fraction 2", "after fraction 2", "re-plan from 3", "fraction 3",
                      "fraction 4", "after fraction 5", "follow-up week 4", "follow-up week 12"]


def test_a_course_never_replanned_says_so_and_keeps_its_one_line_prescription(tmp_path):
    text = " ".join(pdf_text(write(course_plan(()), tmp_path)))
    assert "5 × 7 Gy = 35.00 Gy, 120.0 s per fraction" in text and "RT Plan" not in text
    assert "Revisions None: every fraction is planned under the first plan." in text
    assert "Timeline: imaging sessions and fractions in date order" in text
    # Five fractions of 7 Gy, the third at 60 of 120 s (3.5 Gy): BED3 = 4 · 7 (1 + 7/3) + 3.5 (1 + 3.5/3) = 100.92 Gy;
    # EQD2 at α/β 10 = (4 · 7 · 1.7 + 3.5 · 1.35) / 1.2 = 52.325 / 1.2 = 43.60 Gy.
    bed3 = 4 * 7.0 * (1 + 7.0 / 3) + 3.5 * (1 + 3.5 / 3)
    assert f"{bed3:.2f}" == "100.92"
    assert f"α/β 3 Gy (late skin effects): BED {bed3:.2f} Gy" in text and "EQD2 43.60 Gy" in text


def test_the_report_of_a_superseded_plan_file_says_so_and_gives_no_course_figures(tmp_path):
    """The plan file a course was re-planned from (planner course replan marks it superseded_by the revision):
    its remaining dose and whole-course BED would be the old plan's, so the report says where the course went
    on and gives neither."""
    from planner.core.course import Supersession

    plan = a_plan((), records=FRACTION_DATES[:2])
    moved_on = Supersession(REVISION_UID, "/clinic/plans/revision", 3)
    path = write(plan.with_course(replace(plan.course, superseded_by=moved_on)), tmp_path)
    text = " ".join(pdf_text(path))
    assert (f"this plan was re-planned: fractions from 3 on are given under RT Plan {REVISION_UID}, in "
            f"/clinic/plans/revision") in text
    assert "print the course report from the revision's plan file" in text
    assert "14.00 Gy in 2 of 5 fractions; the rest re-planned (RE-PLANNED: SUPERSEDED, see above)" in text
    assert "remaining as planned" not in text and "delivered and remaining" not in text
