"""The course report (issue 17, point 6): a PDF of the treatment course, drawn with reportlab like the
plan report, whose fonts, styles, page frame, two-pass "page i of n" and atomic write it uses.

First: a red box when a follow-up is a suspected recurrence, the patient, plan, prescription (every phase of
a re-planned course), delivered dose, the whole course's dose, BED and EQD2, imaging and latest change in one
table, the lesion's depth, width and area against the date with the fractions marked, and the baseline beside
the latest session at one mm scale, aligned on the beam axis and the skin line, with their outlines and the
plan's isodoses.
Then the timeline (imaging sessions, fractions and re-plans in date order), the fractions delivered, each against its
own phase's planned time and dose (Course.phase_at), the revisions (each re-plan and its reason), the response
findings, the adaptation findings the caller passes in, and the schedule's findings.
Every page carries the patient ID, the plan, "page i of n" and, when there is one, the recurrence mark.

Everything is read from the plan's course (planner.core.course, planner.core.course_imaging): the
measures are the sessions' own, the findings ``response_findings`` with the caller's threshold (None:
the findings' own "not judged"), the delivered dose ``Course.fraction_dose_gy``, the whole course's BED and EQD2
``Course.course_bed_gy`` / ``course_eqd2_gy`` at α/β 10 and 3 Gy (planner.core.radiobiology). The isodoses are the
plan's dose the caller passes in (its DoseResult), placed on each session by planner.dose.session_dose
and drawn as the plan report draws them (planner.report.figure.isodose_lines); without a dose, or on a
session it cannot be placed on, none is drawn and the reason is printed under the image.
"""

from __future__ import annotations

import math
import os
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import KeepTogether, Spacer, Table, TableStyle

import planner
from planner.core.atomic import atomic_write_bytes
from planner.core.course import CoursePhase
from planner.core.course_imaging import ImagingSession, response_findings
from planner.core.errors import PlannerError
from planner.core.radiobiology import ALPHA_BETA_LATE_SKIN_GY, ALPHA_BETA_TUMOUR_GY
from planner.dose.session_dose import APPROXIMATION, placed_or_reason
from planner.imaging.loader import load_ultrasound
from planner.report import formatting as fmt
from planner.report.content import Alert, ImageFigure, Item, ReportError
from planner.report.figure import ISODOSE_TITLE, display_pixels, image_caption, isodose_lines
from planner.report.fonts import REGULAR, register_fonts
from planner.report.pdf_figures import LEGEND_ROW_PT as LEGEND_ROW_PT_FIGURE
from planner.report.pdf_figures import (AXIS_LEFT_PT, CHIP, CONE_COLOUR, ISODOSE_WIDTH_PT, OUTLINE_COLOUR,
                                        PRESCRIPTION_WIDTH_PT, SKIN_COLOUR, UltrasoundFigure, nice_step, ticks)
from planner.report.pdf_report import (GREEN, LABEL_BG, ORANGE, RED, TEXT_W, alert_boxes, build_pdf, draw_page_frame,
                                       grid_table, items_table, paragraph, report_styles)

REPORT_TITLE = "Treatment course report"
RECURRENCE_MARK = "SUSPECTED RECURRENCE"
SUPERSEDED_MARK = "RE-PLANNED: SUPERSEDED"

# The plot's colours: darker than the window's (planner/ui/course_response.py) so they read on white paper;
# each series has its own marker too, so a grey printout still tells them apart.
DEPTH_COLOUR = colors.HexColor("#d9480f")
WIDTH_COLOUR = colors.HexColor("#1c6fd1")
AREA_COLOUR = colors.HexColor("#2b8a3e")
UNMEASURED_COLOUR = colors.HexColor("#777777")
FRACTION_ROW_BG = colors.HexColor("#f5f0fc")
FRACTION_LINE = CONE_COLOUR                      # the applicator's violet: the beam was on

IMAGE_MARGIN_MM = 4.0                            # around the lesions in the side-by-side images (as the window)
ABOVE_SKIN_MM, BELOW_LESION_MM = 1.5, 3.0
IMAGE_MAX_HEIGHT_PT = 150.0
LEGEND_ROW_PT = 11.0
# UltrasoundFigure's axis titles, and the side-by-side images' (mm from the session's beam axis and its skin there)
BEAM_FRAME_TITLES = {"lateral position (mm)": "lateral from beam axis (mm)",
                     "depth below transducer (mm)": "depth below skin at axis (mm)"}
DEPTH_AXIS_TITLE = "depth below transducer (mm)"      # the longer of the two depth titles, 6.5 pt
CELL_PADDING_PT = 6.0                            # between the two images
UID_TAIL_CHARS = 12                              # a UID's short form (short_uid)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ----------------------------------------------------------------------------------- the timeline
def _session_rank(when) -> float:
    """Within one day: the baseline first, then before fraction N, fraction N, after fraction N, follow-up."""
    if when.kind == "baseline":
        return -1.0
    if when.kind == "followup":
        return math.inf
    return 2.0 * when.number + (0.0 if when.kind == "before" else 1.0)


def timeline(course) -> list[tuple[date, float, object]]:
    """(date, order within the day, ImagingSession, FractionRecord or the CoursePhase of a re-plan), in date order;
    a re-plan from fraction N after the image after fraction N − 1 and before the one before fraction N."""
    items = [(s.acquired_on, _session_rank(s.when), s) for s in course.sessions]
    items += [(r.delivered_on, 2.0 * r.number + 0.5, r) for r in course.records]
    items += [(p.started_on, 2.0 * p.first_fraction - 0.5, p) for p in course.later_phases]
    return sorted(items, key=lambda item: (item[0], item[1]))


def measure_cells(measure) -> tuple[str, str, str]:
    """"2.80 mm", "9.00 mm", "19.29 mm²": how the report prints a session's depth, width and area."""
    return (fmt.quantity(measure.depth_mm, "mm"), fmt.quantity(measure.width_mm, "mm"),
            fmt.quantity(measure.area_mm2, "mm²"))


def _timeline_table(course, s) -> Table:
    header = [paragraph(t, s["label"]) for t in ("Date", "Event", "Depth below skin", "Width", "Area",
                                                  "Image; mm scale from")]
    rows, commands = [header], [("BACKGROUND", (0, 0), (-1, 0), LABEL_BG)]
    reason_style = ParagraphStyle("reason", s["body"], textColor=ORANGE)
    for day, _, item in timeline(course):
        r = len(rows)
        if isinstance(item, ImagingSession):
            measure = item.measure
            source = item.calibration_source or "none (the image has no mm scale)"
            where = paragraph(f"{Path(item.image_path).name}; {source}", s["small"])
            if measure is None:
                rows.append([paragraph(day.isoformat(), s["body"]), paragraph(item.when.label, s["body"]),
                             paragraph(item.unmeasured_reason, reason_style), "", "", where])
                commands.append(("SPAN", (2, r), (4, r)))
            else:
                rows.append([paragraph(day.isoformat(), s["body"]), paragraph(item.when.label, s["body"]),
                             *(paragraph(c, s["body"]) for c in measure_cells(measure)), where])
        elif isinstance(item, CoursePhase):     # a re-plan
            rows.append([paragraph(day.isoformat(), s["body"]), paragraph("re-plan", s["label"]),
                         paragraph(f"from fraction {item.first_fraction}: {item.dose_per_fraction_gy:g} Gy in "
                                   f"{item.planned_time_s:.1f} s per fraction, RT Plan {short_uid(item.rt_plan_uid)}",
                                   s["body"]), "", "", paragraph(item.reason or "no reason recorded", s["small"])])
            commands += [("SPAN", (2, r), (4, r)), ("BACKGROUND", (0, r), (-1, r), FRACTION_ROW_BG)]
        else:                           # a fraction delivered
            dose = course.fraction_dose_gy(item)
            rows.append([paragraph(day.isoformat(), s["body"]), paragraph(f"fraction {item.number}", s["label"]),
                         paragraph(f"{dose:.2f} Gy delivered ({item.dwell_time_s:.1f} s of "
                                   f"{course.phase_at(item.number).planned_time_s:.1f} s)", s["body"]), "", "",
                         paragraph(f"by {item.delivered_by}", s["small"])])
            commands += [("SPAN", (2, r), (4, r)), ("BACKGROUND", (0, r), (-1, r), FRACTION_ROW_BG)]
    table = grid_table(rows, [23 * mm, 30 * mm, 22 * mm, 20 * mm, 22 * mm, TEXT_W - 117 * mm], commands)
    table.repeatRows = 1
    return table


# ----------------------------------------------------------------------------------- the plot
def date_ticks(low: date, high: date, max_ticks: int) -> list[tuple[date, str]]:
    """Round dates between ``low`` and ``high``: the first of each month (or of every 2nd, 3rd, 6th) over
    a long course, else every 1, 2, 7 or 14 days; at most ``max_ticks``."""
    span = (high - low).days
    if span > 70:
        firsts, d = [], date(low.year, low.month, 1)
        while d <= high:
            if d >= low:
                firsts.append(d)
            d = date(d.year + d.month // 12, d.month % 12 + 1, 1)
        step = next((k for k in (1, 2, 3, 6, 12) if len(firsts[::k]) <= max_ticks), 12)
        return [(d, f"{_MONTHS[d.month - 1]} {d.year}") for d in firsts[::step]]
    step = next((k for k in (1, 2, 7, 14, 28) if span / k + 1 <= max_ticks), 28)
    return [(low + timedelta(days=k), (low + timedelta(days=k)).isoformat()) for k in range(0, span + 1, step)]


def _upper(values, target_ticks: int) -> tuple[float, float]:
    """(top of the axis, tick step): a round number a little above the largest value."""
    top = max(values, default=1.0) or 1.0
    step = nice_step(top, target_ticks)
    return math.ceil(top * 1.08 / step) * step, step


def response_plot(course, width_pt: float) -> Drawing:
    """Depth below the skin and width (mm) above, area (mm²) below, against the date; each fraction a
    violet dashed line through both; an unmeasurable session a hollow marker in a grey band under 0."""
    register_fonts()                          # its text is laid out with the report's font
    measured = [(s.acquired_on, s.measure) for s in course.sessions if s.measure is not None]
    unmeasured = [s.acquired_on for s in course.sessions if s.measure is None]
    fractions = [(r.number, r.delivered_on) for r in course.records]
    days = [s.acquired_on for s in course.sessions] + [d for _, d in fractions]
    low, high = min(days), max(days)
    if low == high:
        low, high = low - timedelta(days=3), high + timedelta(days=3)
    pad = max(1.0, 0.04 * (high - low).days)
    x_lo, x_hi = low.toordinal() - pad, high.toordinal() + pad

    x0, w = 40.0, width_pt - 52.0
    axis_h, area_h, gap, size_h, above = 26.0, 44.0, 12.0, 84.0, 12.0
    area_y0 = axis_h
    size_y0 = area_y0 + area_h + gap
    band = 14.0 if unmeasured else 0.0
    legend = _plot_legend(bool(unmeasured), x0, x0 + w)
    legend_rows = 1 + max(row for row, *_ in legend)
    height = size_y0 + size_h + above + legend_rows * LEGEND_ROW_PT + 2
    d = Drawing(width_pt, height)

    def px(day: date) -> float:
        return x0 + (day.toordinal() - x_lo) / (x_hi - x_lo) * w

    size_top, size_step = _upper([m.depth_mm for _, m in measured] + [m.width_mm for _, m in measured], 5)
    area_top, area_step = _upper([m.area_mm2 for _, m in measured], 3)

    def py_size(v: float) -> float:
        return size_y0 + band + v / size_top * (size_h - band)

    def py_area(v: float) -> float:
        return area_y0 + v / area_top * area_h

    grid = colors.HexColor("#dddddd")
    for y0, h, top, step, py, unit in ((size_y0, size_h, size_top, size_step, py_size, "mm"),
                                       (area_y0, area_h, area_top, area_step, py_area, "mm²")):
        values = ticks(0.0, top, step)
        for v in values:                      # the unit on the top value: "10 mm", "30 mm²"
            d.add(Line(x0, py(v), x0 + w, py(v), strokeColor=grid, strokeWidth=0.4))
            d.add(String(x0 - 4, py(v) - 2.5, f"{v:g} {unit}" if v == values[-1] else f"{v:g}", fontName=REGULAR,
                         fontSize=7, textAnchor="end"))
        d.add(Rect(x0, y0, w, h, fillColor=None, strokeColor=colors.black, strokeWidth=0.6))
    if band:
        d.add(Rect(x0, size_y0, w, band, fillColor=colors.HexColor("#eeeeee"), strokeColor=None))  # the legend says

    # the fractions: a line through both plots, numbered above where there is room
    last_label = -math.inf
    for number, day in fractions:
        x = px(day)
        d.add(Line(x, area_y0, x, size_y0 + size_h, strokeColor=FRACTION_LINE, strokeWidth=0.8,
                   strokeDashArray=(3, 2)))
        label = f"F{number}"
        if x - last_label >= stringWidth(label, REGULAR, 6.5) + 4:
            d.add(String(x, size_y0 + size_h + 3, label, fontName=REGULAR, fontSize=6.5, textAnchor="middle",
                         fillColor=FRACTION_LINE))
            last_label = x

    for day, label in date_ticks(low - timedelta(days=int(pad)), high + timedelta(days=int(pad)),
                                 max(2, int(w // 62))):
        x = px(day)
        if x0 <= x <= x0 + w:
            d.add(Line(x, area_y0, x, area_y0 - 3, strokeColor=colors.black, strokeWidth=0.5))
            d.add(String(x, area_y0 - 11, label, fontName=REGULAR, fontSize=6.5, textAnchor="middle"))

    def series(values, py, colour, marker) -> None:
        points = [(px(day), py(v)) for day, v in values]
        if len(points) > 1:
            d.add(PolyLine([c for p in points for c in p], strokeColor=colour, strokeWidth=1.3))
        for x, y in points:
            d.add(marker(x, y, colour))

    series([(day, m.depth_mm) for day, m in measured], py_size, DEPTH_COLOUR, _circle)
    series([(day, m.width_mm) for day, m in measured], py_size, WIDTH_COLOUR, _square)
    series([(day, m.area_mm2) for day, m in measured], py_area, AREA_COLOUR, _diamond)
    for day in unmeasured:
        d.add(_hollow(px(day), size_y0 + band / 2))
    _draw_legend(d, legend, height - 8)
    return d


def _draw_legend(d: Drawing, placed, top: float) -> None:
    """Each entry of ``placed`` (from _legend_rows): its sample, then its text, row under row from ``top``."""
    for row, x, text, sample in placed:
        y = top - row * LEGEND_ROW_PT
        for shape in sample(x, y + 2.5):
            d.add(shape)
        d.add(String(x + 18, y, text, fontName=REGULAR, fontSize=7))


def _circle(x, y, colour):
    return Circle(x, y, 2.4, fillColor=colour, strokeColor=colour)


def _square(x, y, colour):
    return Rect(x - 2.2, y - 2.2, 4.4, 4.4, fillColor=colour, strokeColor=colour)


def _diamond(x, y, colour):
    return Polygon([x, y + 3, x + 3, y, x, y - 3, x - 3, y], fillColor=colour, strokeColor=colour)


def _hollow(x, y):
    return Circle(x, y, 2.6, fillColor=colors.white, strokeColor=UNMEASURED_COLOUR, strokeWidth=0.9)


def _plot_legend(with_unmeasured: bool, left: float, right: float) -> list:
    """(row, x, text, draw its sample at (x, y)) for each entry of the legend above the plot: an entry
    that would pass ``right`` starts a new row."""
    entries = [("depth below the skin", lambda x, y: [Line(x, y, x + 14, y, strokeColor=DEPTH_COLOUR, strokeWidth=1.3),
                                                      _circle(x + 7, y, DEPTH_COLOUR)]),
               ("lateral width", lambda x, y: [Line(x, y, x + 14, y, strokeColor=WIDTH_COLOUR, strokeWidth=1.3),
                                               _square(x + 7, y, WIDTH_COLOUR)]),
               ("area (lower plot)", lambda x, y: [Line(x, y, x + 14, y, strokeColor=AREA_COLOUR, strokeWidth=1.3),
                                                   _diamond(x + 7, y, AREA_COLOUR)]),
               ("fraction delivered", lambda x, y: [Line(x + 7, y - 4, x + 7, y + 5, strokeColor=FRACTION_LINE,
                                                         strokeWidth=0.8, strokeDashArray=(3, 2))])]
    if with_unmeasured:
        entries.append(("session not measurable", lambda x, y: [_hollow(x + 7, y)]))
    return _legend_rows(entries, left, right)


def _legend_rows(entries, left: float, right: float) -> list:
    """(row, x, text, sample) for each (text, sample) entry: an entry that would pass ``right`` starts a new row."""
    placed, row, x = [], 0, left
    for text, sample in entries:
        width = 18 + stringWidth(text, REGULAR, 7) + 10
        if x > left and x + width > right:
            row, x = row + 1, left
        placed.append((row, x, text, sample))
        x += width
    return placed


# ----------------------------------------------------------------------------------- the images
def images_legend(figures, width_pt: float) -> Drawing:
    """One legend for the side-by-side images: the isodoses (one plan, so the same on both; labels and colours as
    the plan report's), the outline, the skin line and the beam axis, on as many rows as the width needs."""
    register_fonts()
    isodoses = next((f.isodoses for f in figures if f.isodoses), ())
    entries = [(line.label + ("" if len(line.x_mm) else " (not reached)"),
                lambda x, y, c=colors.HexColor(line.colour), w=PRESCRIPTION_WIDTH_PT if line.prescription
                else ISODOSE_WIDTH_PT, dash=(4, 2.5) if line.dashed else None:
                [Rect(x, y - 4, 16, 8, fillColor=CHIP, strokeColor=None),
                 Line(x + 2, y, x + 14, y, strokeColor=c, strokeWidth=w, strokeDashArray=dash)])
               for line in isodoses]
    entries += [("lesion outline", lambda x, y: [Line(x, y, x + 14, y, strokeColor=colors.black, strokeWidth=2.8),
                                                 Line(x, y, x + 14, y, strokeColor=OUTLINE_COLOUR, strokeWidth=1.6)]),
                ("skin line", lambda x, y: [Line(x, y, x + 14, y, strokeColor=SKIN_COLOUR, strokeWidth=1.0,
                                                 strokeDashArray=(3, 2))]),
                ("beam axis", lambda x, y: [Line(x, y, x + 14, y, strokeColor=CONE_COLOUR, strokeWidth=0.9,
                                                 strokeDashArray=(4, 3))])]
    placed = _legend_rows(entries, 0.0, width_pt)
    height = (1 + max(row for row, *_ in placed)) * LEGEND_ROW_PT + 2
    d = Drawing(width_pt, height)
    _draw_legend(d, placed, height - 9)
    return d


class SessionFigure(UltrasoundFigure):
    """A session's ultrasound drawn as the plan report draws the planning image. Without isodoses (none placed:
    the reason is printed under it) it is no refusal: no "NO DOSE — REFUSED" stamp. In the beam frame its axes
    say so: mm from the beam axis and below the skin there."""

    def __init__(self, figure: ImageFigure, width_pt: float, max_image_height_pt: float, beam_frame: bool):
        super().__init__(figure, width_pt, max_image_height_pt)
        self.beam_frame = beam_frame
        self.height -= self.legend_rows * LEGEND_ROW_PT_FIGURE     # no legend of its own: no room kept for one
        self.legend_rows = 0

    def _no_dose_stamp(self) -> None:
        return None

    def _legend_entries(self) -> list:
        return []                   # one legend under both images (images_legend): theirs is the same

    def _axes(self) -> None:
        if not self.beam_frame:
            super()._axes()
            return
        canvas = self.canv
        self.canv = _Retitled(canvas, BEAM_FRAME_TITLES)     # the ticks as the plan report draws them
        try:
            super()._axes()
        finally:
            self.canv = canvas


class _Retitled:
    """A canvas that writes other axis titles (``titles``: UltrasoundFigure's → ours); all else passes through."""

    def __init__(self, canvas, titles: dict[str, str]):
        self._canvas, self._titles = canvas, titles

    def __getattr__(self, name):
        return getattr(self._canvas, name)

    def drawCentredString(self, x, y, text, *args, **kwargs):  # noqa: N802 (reportlab's name)
        return self._canvas.drawCentredString(x, y, self._titles.get(text, text), *args, **kwargs)


def _window_mm(sessions) -> tuple[float, float] | None:
    """(width, depth) in mm of the window shown around each lesion, the same for both images: the
    widest lesion and a margin across, from just above the skin to below the deepest lesion. None
    when a session has no outline or skin line (then the whole images are shown)."""
    if not sessions or any(s.outline is None or s.skin_surface is None for s in sessions):
        return None
    half = max(s.outline.lateral_width_mm / 2 for s in sessions) + IMAGE_MARGIN_MM
    deep = max(max(y for _, y in s.outline.vertices_mm) - s.skin_surface.depth_at(s.outline.lateral_centre_mm)
               for s in sessions)
    return 2 * half, ABOVE_SKIN_MM + deep + BELOW_LESION_MM


def window_pixels(pixels: np.ndarray, extent_mm, window_mm) -> np.ndarray:
    """The image's pixels resampled (nearest pixel, about the image's own pixel size) onto ``window_mm`` = (left, top,
    width, height) in the image's mm, so that two images cut to the same window share its exact extent; outside
    the image, black."""
    left, top, width, height = (float(v) for v in extent_mm)
    rows, cols = pixels.shape[:2]
    w_left, w_top, w_width, w_height = window_mm
    n_cols = max(1, math.ceil(w_width / (width / cols) - 1e-6))
    n_rows = max(1, math.ceil(w_height / (height / rows) - 1e-6))
    col = np.floor((w_left + (np.arange(n_cols) + 0.5) * w_width / n_cols - left) / (width / cols)).astype(int)
    row = np.floor((w_top + (np.arange(n_rows) + 0.5) * w_height / n_rows - top) / (height / rows)).astype(int)
    inside = (row[:, None] >= 0) & (row[:, None] < rows) & (col[None, :] >= 0) & (col[None, :] < cols)
    out = pixels[np.clip(row, 0, rows - 1)][:, np.clip(col, 0, cols - 1)]
    out[~inside] = 0
    return np.ascontiguousarray(out)


def session_figure(session, image, window_mm, placed) -> ImageFigure:
    """The session's image (its first frame) with its outline and skin line and, with ``placed`` (the plan's
    SessionDose on it, else the reason there is none), the plan's isodoses.

    With ``window_mm`` (width, depth): in mm from the session's beam axis (the lesion's centre) and below its skin
    there, the window centred on the axis from ABOVE_SKIN_MM above the skin, its extent exactly the window's, so
    two sessions' figures put the same lateral and depth at the same place. None: the whole image in its own mm."""
    pixels = display_pixels(image)
    axis_x = skin_y = 0.0
    extent = tuple(float(v) for v in image.extent_mm)
    if window_mm is not None:
        axis_x = session.outline.lateral_centre_mm
        skin_y = float(session.skin_surface.depth_at(axis_x))
        frame = (-window_mm[0] / 2, -ABOVE_SKIN_MM, float(window_mm[0]), float(window_mm[1]))
        pixels = window_pixels(pixels, extent, (frame[0] + axis_x, frame[1] + skin_y, frame[2], frame[3]))
        extent = frame

    def moved(points):
        return None if points is None else tuple((x - axis_x, y - skin_y) for x, y in points)
    lines, caption = (), placed
    if not isinstance(placed, str):
        dose = placed.in_beam_frame()
        if window_mm is None:                       # the image's own mm
            dose = placed
        lines = isodose_lines(dose.dose_gy, dose.x_mm, dose.y_mm, dose.dmax_gy, dose.skin_depth_at,
                              dose.prescription_isodose_percent)
        caption = f"Isodoses: {APPROXIMATION}; Dmax {dose.dmax_gy:.2f} Gy."
    return ImageFigure(
        pixels=pixels, extent_mm=extent,
        outline_mm=moved(None if session.outline is None else session.outline.vertices_mm),
        skin_mm=moved(None if session.skin_surface is None else session.skin_surface.points_mm),
        cone_axis_x_mm=None if window_mm is None else 0.0, cone_diameter_mm=None, cone_footprint_y_mm=None,
        isodoses=lines, isodose_title=ISODOSE_TITLE, dose_caption=caption, image_caption=image_caption(image))


def _load(load_image, path: str, cache: dict):
    """(image, "") or (None, why it cannot be shown); each file read once (the PDF is laid out twice)."""
    if path not in cache:
        try:
            image = load_image(path)
        except (PlannerError, OSError) as err:
            cache[path] = (None, f"The image cannot be shown: {getattr(err, 'user_message', None) or err}")
        else:
            cache[path] = ((image, "") if image.calibration is not None else
                           (None, f"{Path(path).name}: the image file has no mm scale, so it cannot be shown in mm"))
    return cache[path]


def _images(course, s, load, placed_on) -> list:
    """The baseline and the latest later session side by side, at one scale (pt per mm of tissue), aligned on
    the beam axis and the skin line, with the plan's isodoses where ``placed_on(session)`` places them."""
    title = paragraph("Baseline and latest session, side by side at the same scale", s["h2"])
    baseline = next((x for x in course.sessions if x.when.kind == "baseline"), None)
    later = [x for x in course.sessions if x.when.kind != "baseline"]
    shown = [x for x in (baseline, later[-1] if later else None) if x is not None]
    if not shown:
        return [title, paragraph("No imaging session in the course: no image to show.", s["body"])]
    loaded = [(x, *load(x.image_path)) for x in shown]
    image_of = {id(x): image for x, image, _ in loaded}
    window = _window_mm([x for x, image, _ in loaded if image is not None])
    figures = [(x, None if image is None else session_figure(x, image, window, placed_on(x)), problem)
               for x, image, problem in loaded]
    col_w = TEXT_W / 2
    inner = col_w - CELL_PADDING_PT - 2      # what a figure may take of its cell
    scale = min((min((inner - AXIS_LEFT_PT - 6) / f.extent_mm[2], IMAGE_MAX_HEIGHT_PT / f.extent_mm[3])
                 for _, f, _ in figures if f is not None), default=None)
    # One table row each for the headings, the measures, the images and their captions: the images start at
    # the same height whatever the text above them, so the same depth is at the same height on the page.
    rows: list[list] = [[], [], [], []]
    warning = ParagraphStyle("no isodoses", s["small"], textColor=ORANGE)
    for session, figure, problem in figures:
        measure = session.measure
        rows[0].append(paragraph(f"{session.when.label[0].upper()}{session.when.label[1:]}, "
                                 f"{session.acquired_on.isoformat()}", s["h3"]))
        rows[1].append(paragraph(session.unmeasured_reason if measure is None else
                                 "depth {}, width {}, area {}".format(*measure_cells(measure)), s["small"]))
        if figure is None:
            rows[2].append(paragraph(problem, ParagraphStyle("missing", s["body"], textColor=RED)))
            rows[3].append("")
            continue
        _, _, w_mm, h_mm = figure.extent_mm
        # the figure's vertical axis title is centred on the image and may be longer than the image is tall
        overhang = (stringWidth(DEPTH_AXIS_TITLE, REGULAR, 6.5) - h_mm * scale) / 2
        # UltrasoundFigure takes the smaller of width/w_mm and height/h_mm: both are ``scale`` here
        rows[2].append([Spacer(1, max(2.0, overhang + 2.0)),
                        SessionFigure(figure, AXIS_LEFT_PT + 6 + w_mm * scale, h_mm * scale * (1 + 1e-9),
                                      beam_frame=window is not None)])
        cal = image_of[id(session)].calibration
        rows[3].append([paragraph(f"Image: {Path(session.image_path).name}, {cal.mm_per_pixel_x:.4g} × "
                                  f"{cal.mm_per_pixel_y:.4g} mm per pixel", s["small"])] +
                       ([] if figure.isodoses else [paragraph(figure.dose_caption, warning)]))
    if len(figures) == 1:
        for row, text in zip(rows, ("", "No later session than the baseline.", "", "")):
            row.append(paragraph(text, s["body"]) if text else "")
    drawn = [f for _, f, _ in figures if f is not None]
    if drawn:
        rows.insert(3, [images_legend(drawn, TEXT_W - CELL_PADDING_PT), ""])
    table = Table(rows, colWidths=[col_w, col_w], hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING_PT),
                               ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                               *([("SPAN", (0, 3), (1, 3))] if drawn else [])]))
    out = [title, table]
    dosed = next((f for f in drawn if f.isodoses), None)
    if scale is not None:
        where = ("the lesion with a margin, in mm from each session's beam axis (its lesion's lateral centre) and "
                 "below its skin line there: the same place in both is the same lateral position and depth"
                 if window is not None else "the whole image, each in its own mm (a session without an outline or "
                                            "skin line cannot be aligned on its beam axis and skin)")
        out.append(paragraph(f"Both at one scale: 1 mm of tissue is {scale / mm:.1f} mm on the page; {where}. " + (
            f"{dosed.dose_caption} Isodoses in % of Dmax, as in the plan report." if dosed is not None
            else "No isodose is drawn (the reason is under each image)."), s["small"]))
    return out


# ----------------------------------------------------------------------------------- the sections
def key_items(plan, course, findings) -> tuple[Item, ...]:
    """Who, what was planned and delivered, the imaging and the latest change: the report's first table."""
    sessions = course.sessions
    if sessions:
        measured = sum(1 for x in sessions if x.measure is not None)
        imaging = (f"{len(sessions)} session(s), {measured} measured: {sessions[0].when.label} "
                   f"{sessions[0].acquired_on.isoformat()} to {sessions[-1].when.label} "
                   f"{sessions[-1].acquired_on.isoformat()}")
    else:
        imaging = "no imaging session in the course"
    latest = next((f.message for f in reversed(findings) if f.kind == "change"), None)
    left = course.planned_fractions - course.delivered_fractions
    to_give = f"{left} fraction(s) to give" if left else "complete"
    superseded = course.superseded_by is not None
    return (Item("Patient", f"{fmt.person_name(plan.patient_name)} (ID {plan.patient_id})"),
            Item("Plan", plan.label),
            Item("Prescription", prescription_text(course)),
            Item("Delivered", f"{course.delivered_dose_gy:.2f} Gy in {course.delivered_fractions} of "
                              f"{course.planned_fractions} fractions; " + (
                                  f"the rest re-planned ({SUPERSEDED_MARK}, see above)" if superseded else
                                  f"{course.remaining_dose_gy:.2f} Gy remaining as planned ({to_give})")),
            Item("Whole course", f"not this plan file's to give: {SUPERSEDED_MARK} (see above)" if superseded else
                 f"{course.course_dose_gy:.2f} Gy, delivered and remaining; {biological_text(course)}"),
            Item("Imaging", imaging),
            Item("Latest change", latest or "not stated (see the response findings)"))


def short_uid(uid: str) -> str:
    """A UID's last UID_TAIL_CHARS characters, where generated UIDs differ ("…1234567890ab"); the revisions list
    the whole UIDs."""
    if not uid:
        return "not recorded"
    return uid if len(uid) <= UID_TAIL_CHARS + 1 else f"…{uid[-UID_TAIL_CHARS:]}"


def _fraction_span(phase) -> str:
    first, last = phase.first_fraction, phase.last_fraction
    return f"fraction {first}" if first == last else f"fractions {first}–{last}"


def phase_text(phase) -> str:
    """One phase on one line: its fractions, dose and time per fraction, RT Plan, and for a re-plan its date and
    reason (the adaptation finding's text)."""
    text = (f"{_fraction_span(phase)}: {phase.fractions} × {phase.dose_per_fraction_gy:g} Gy, "
            f"{phase.planned_time_s:.1f} s per fraction, RT Plan {short_uid(phase.rt_plan_uid)}")
    if phase.started_on is None:
        return f"{text} (the first plan)"
    return f"{text}, re-planned {phase.started_on.isoformat()}: {phase.reason or 'no reason recorded'}"


def prescription_text(course) -> str:
    """The course's prescription: every phase of a re-planned course, else its one regimen."""
    if not course.later_phases:
        text = (f"{course.planned_fractions} × {course.dose_per_fraction_gy:g} Gy = {course.planned_dose_gy:.2f} Gy, "
                f"{course.planned_dwell_time_s:.1f} s per fraction")
        return f"{text}, RT Plan {short_uid(course.rt_plan_uid)}" if course.rt_plan_uid else text
    return (f"{course.planned_dose_gy:.2f} Gy in {course.planned_fractions} fractions, {len(course.phases)} phases: "
            + "; ".join(phase_text(p) for p in course.phases))


def biological_text(course) -> str:
    """The whole course's BED and EQD2 (each fraction with its own dose: delivered, then the remaining as planned)
    at the tumour's and the late skin effects' α/β (planner.core.radiobiology)."""
    return "; ".join(f"α/β {ab:g} Gy ({who}): BED {course.course_bed_gy(ab):.2f} Gy, EQD2 "
                     f"{course.course_eqd2_gy(ab):.2f} Gy"
                     for ab, who in ((ALPHA_BETA_TUMOUR_GY, "tumour"), (ALPHA_BETA_LATE_SKIN_GY, "late skin effects")))


def _fractions(course, s) -> list:
    title = paragraph("Fractions delivered", s["h2"])
    if not course.records:
        return [title, paragraph(f"No fraction delivered yet. {course.summary()}", s["body"])]
    header = [paragraph(t, s["label"]) for t in ("Fraction", "Date", "Beam-on time", "Dose delivered",
                                                  "Dose planned", "Delivered by", "Remarks")]
    rows, commands = [header], []
    replanned_from = {p.first_fraction for p in course.later_phases}
    for record, (number, on, seconds, dose, by, remarks) in zip(course.records, course.table_rows()):
        phase = course.phase_at(record.number)
        if record.number in replanned_from:      # a re-plan took over from this fraction: a row saying so
            commands += [("SPAN", (0, len(rows)), (-1, len(rows))), ("BACKGROUND", (0, len(rows)), (-1, len(rows)),
                                                                      FRACTION_ROW_BG)]
            rows.append([paragraph(f"Re-planned {phase.started_on.isoformat()}, RT Plan {short_uid(phase.rt_plan_uid)}"
                                   f": from fraction {phase.first_fraction}, {phase.dose_per_fraction_gy:g} Gy in "
                                   f"{phase.planned_time_s:.1f} s per fraction", s["label"]), "", "", "", "", "", ""])
        cells = (number, on, f"{seconds} s of {phase.planned_time_s:.1f} s", f"{dose} Gy",
                 f"{phase.dose_per_fraction_gy:.2f} Gy", by, remarks)
        rows.append([paragraph(c, s["body"]) for c in cells])
    total_s = sum(r.dwell_time_s for r in course.records)
    rows.append([paragraph(c, s["label"]) for c in (
        "Course", "", f"{total_s:.1f} s", f"{course.delivered_dose_gy:.2f} Gy",
        f"{course.planned_dose_gy:.2f} Gy", "", f"{course.delivered_fractions} of {course.planned_fractions} "
                                                 f"fractions")])
    table = grid_table(rows, [16 * mm, 22 * mm, 30 * mm, 24 * mm, 22 * mm, 30 * mm, TEXT_W - 144 * mm],
                       [("BACKGROUND", (0, 0), (-1, 0), LABEL_BG), ("BACKGROUND", (0, -1), (-1, -1), LABEL_BG),
                        ("LINEABOVE", (0, -1), (-1, -1), 1.0, colors.black), *commands])
    table.repeatRows = 1
    note = paragraph("A fraction's dose is its phase's planned dose per fraction times its beam-on time over that "
                     "phase's planned time (the dose rate is constant while the beam is on); the planned total is the "
                     "whole course's, each phase's fractions at its dose.", s["small"])
    return [title, table, Spacer(1, 2), note]


def _revisions(course, s) -> list:
    """Each re-plan: from which fraction, when, under which RT Plan (whole UID), its dose and time per fraction
    against the phase before, and why."""
    out = [paragraph("Revisions", s["h2"])]
    if not course.later_phases:
        return out + [paragraph("None: every fraction is planned under the first plan.", s["body"])]
    phases = course.phases
    for before, phase in zip(phases, phases[1:]):
        out.append(paragraph(
            f"• Re-planned {phase.started_on.isoformat()}, from fraction {phase.first_fraction} "
            f"({_fraction_span(phase)}): RT Plan {phase.rt_plan_uid or 'not recorded'}; {phase.dose_per_fraction_gy:g} "
            f"Gy in {phase.planned_time_s:.1f} s per fraction (before: {before.dose_per_fraction_gy:g} Gy in "
            f"{before.planned_time_s:.1f} s). Reason: {phase.reason or 'none recorded'}",
            _finding_style(s, colors.black)))
    return out


def _finding_style(s, colour, bold_style: bool = False) -> ParagraphStyle:
    return ParagraphStyle("finding", s["label"] if bold_style else s["body"], textColor=colour, leftIndent=8,
                          firstLineIndent=-8, spaceAfter=2)


def _findings(findings, adaptation_lines, s) -> list:
    out = [paragraph("Response findings", s["h2"])]
    for f in findings:
        if f.kind == "suspected recurrence":
            style = _finding_style(s, RED, bold_style=True)
        elif f.kind in ("not measurable", "no baseline", "recurrence not judged"):
            style = _finding_style(s, ORANGE)
        else:
            style = _finding_style(s, colors.black)
        out.append(paragraph(f"• {f.message}", style))
    out.append(paragraph("Adaptation findings", s["h2"]))
    if adaptation_lines:
        out += [paragraph(f"• {line}", _finding_style(s, colors.black)) for line in adaptation_lines]
    else:
        out.append(paragraph("None given for this report.", s["body"]))
    return out


def _schedule(course, s, today: date) -> list:
    out = [paragraph("Schedule", s["h2"])]
    gaps = course.gaps(today=today)
    if gaps:
        out += [paragraph(f"• {g.message}", _finding_style(s, ORANGE)) for g in gaps]
    else:
        text = f"No gap longer than the {course.max_gap_days}-day limit"
        if course.min_interval_hours is not None:
            source = f" ({course.schedule_source})" if course.schedule_source else ""
            text += f", and no fractions closer than the minimum interval of {course.min_interval_hours:g} h{source}"
        out.append(paragraph(text + ".", s["body"]))
    return out


def _story(plan, s, *, today: date, findings, adaptation_lines, load, dose_result) -> list:
    course = plan.course
    suspected = [f for f in findings if f.kind == "suspected recurrence"]
    story = [paragraph(REPORT_TITLE, s["h1"])]
    events = "imaging sessions, fractions and re-plans" if course.later_phases else "imaging sessions and fractions"
    alerts = []
    if course.superseded_by is not None:   # the remaining fractions are the revision's: its report has the course
        alerts.append(Alert("refuse", SUPERSEDED_MARK, f"{course.superseded_by.refusal}. This report is of the plan "
                            f"file before that re-plan: print the course report from the revision's plan file.",
                            SUPERSEDED_MARK))
    if suspected:
        alerts.append(Alert("refuse", RECURRENCE_MARK, " ".join(f.message for f in suspected), RECURRENCE_MARK))
    if alerts:
        story += alert_boxes(alerts, s)
    story += [Spacer(1, 6), items_table(key_items(plan, course, findings), s, label_w=30 * mm)]
    plot_title = paragraph("The lesion over the course: depth, width and area against the date", s["h2"])
    if course.sessions:
        story.append(KeepTogether([plot_title, response_plot(course, TEXT_W),
                                   paragraph("Depth: the lesion's deepest point below the skin line; width: its "
                                             "lateral extent; area: inside its outline; each as measured on the "
                                             "session's image with its own mm scale (see the timeline).",
                                             s["small"])]))
    else:
        story += [plot_title, paragraph("No imaging session in the course: nothing to plot.", s["body"])]
    story += [KeepTogether(_images(course, s, load, lambda session: placed_or_reason(
        dose_result, plan, session, no_dose="the report was made without the plan's dose"))),
              paragraph(f"Timeline: {events} in date order", s["h2"]), _timeline_table(course, s),
              *_fractions(course, s), *_revisions(course, s), *_findings(findings, adaptation_lines, s),
              *_schedule(course, s, today)]
    return story


# ----------------------------------------------------------------------------------- the document
def render_course_report(plan, *, printed_at: datetime, regrowth_threshold_percent: float | None,
                         adaptation_lines: tuple[str, ...] = (), load_image=load_ultrasound, dose_result=None) -> bytes:
    """The PDF's bytes. ``dose_result``: the plan's DoseResult, whose isodoses are drawn on the session images
    (None: none, and the report says so). ReportError (one line) for a plan without a course; the findings' own
    SessionError for a threshold that is not a percentage above 0."""
    course = plan.course
    if course is None:
        raise ReportError(f"plan {plan.label!r} has no treatment course: start the course before printing its "
                          f"report")
    if not isinstance(printed_at, datetime):
        raise ReportError(f"the report's print time must be a date and time, got {printed_at!r}")
    lines = tuple(adaptation_lines)
    if isinstance(adaptation_lines, str) or not all(isinstance(line, str) for line in lines):
        raise ReportError("the adaptation findings must be a sequence of lines of text")
    findings = response_findings(course.sessions, regrowth_threshold_percent=regrowth_threshold_percent)
    register_fonts()
    s = report_styles()
    suspected = any(f.kind == "suspected recurrence" for f in findings)
    status = f"{course.delivered_fractions} of {course.planned_fractions} fractions delivered"
    images: dict = {}

    frame = {"title": f"Planner — {REPORT_TITLE.lower()}", "status_text": status,
             "status_colour": GREEN if course.complete else ORANGE,
             "marks": (RECURRENCE_MARK,) if suspected else (),
             "identity": f"Patient ID: {plan.patient_id}   ·   {fmt.person_name(plan.patient_name)}   ·   "
                         f"Plan: {plan.label}",
             "printed": f"Printed {fmt.moment(printed_at)} by Planner {planner.__version__}"}
    version = f"Planner {planner.__version__}"
    return build_pdf(lambda: _story(plan, s, today=printed_at.date(), findings=findings, adaptation_lines=lines,
                                    load=lambda path: _load(load_image, path, images), dose_result=dose_result),
                     lambda total: lambda canvas, doc: draw_page_frame(canvas, doc.page, total, **frame),
                     creator=version, author=version, title=f"{REPORT_TITLE} — {plan.label}",
                     subject=f"Patient ID {plan.patient_id}; {status}")


def write_course_report(plan, out_path: str | os.PathLike, *, printed_at: datetime,
                        regrowth_threshold_percent: float | None, adaptation_lines: tuple[str, ...] = (),
                        load_image=load_ultrasound, dose_result=None) -> Path:
    """Draw the whole report in memory, then write ``out_path`` atomically: a failure at any point
    leaves no file (or the previous report as it was). ``load_image``: path → UltrasoundImage (the
    planning loader); an image that cannot be loaded is named in place of the image. ``dose_result``: the
    plan's dose (see render_course_report)."""
    data = render_course_report(plan, printed_at=printed_at, regrowth_threshold_percent=regrowth_threshold_percent,
                                adaptation_lines=adaptation_lines, load_image=load_image, dose_result=dose_result)
    try:
        atomic_write_bytes(out_path, data)
    except OSError as err:
        raise ReportError(f"cannot write the course report to {os.fspath(out_path)}: {err.strerror or err}") from err
    return Path(out_path)
