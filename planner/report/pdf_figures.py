"""The report's two figures in reportlab vector graphics: the ultrasound with the plan drawn over
it (lines stay sharp at any zoom and print) and the central-axis PDD.

Text on a figure is laid out by construction, never left to chance: the legend wraps to as many
rows as it needs, and each PDD mark's label gets a row of its own, beside its line, crossed by no
other mark's line (``pdd_layout``, which the tests read too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from reportlab.graphics.shapes import Drawing, Line, PolyLine, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase.pdfmetrics import getAscentDescent, stringWidth
from reportlab.platypus import Flowable

from planner.dose import isodose_palette as palette
from planner.dose.coverage import percent_text
from planner.report.content import DepthDoseCurve, ImageFigure
from planner.report.fonts import BOLD, REGULAR

# The window's colours (planner/ui/image_view.py), so the printout reads like the screen: the outline
# magenta and the skin green, which no isodose line uses.
OUTLINE_COLOUR = colors.HexColor(palette.OUTLINE_COLOUR)
SKIN_COLOUR = colors.HexColor(palette.SKIN_COLOUR)
CONE_COLOUR = colors.Color(200 / 255, 120 / 255, 1.0)
REFUSED_RED = colors.HexColor("#c00000")
CHIP = colors.HexColor("#202020")      # legend swatches sit on the image's dark, so white and yellow show

AXIS_LEFT_PT, AXIS_BOTTOM_PT, LEGEND_ROW_PT = 34.0, 26.0, 15.0
LEGEND_FONT_PT, SWATCH_W_PT = 7.0, 20.0
_NEW_ROW = ("\n", None)   # a legend entry that starts a new row
ISODOSE_WIDTH_PT, PRESCRIPTION_WIDTH_PT = 1.1, 2.0   # the prescription isodose stands out, as in the window


def nice_step(span: float, target_ticks: int = 6) -> float:
    """1, 2 or 5 × 10ⁿ: the tick spacing giving about ``target_ticks`` ticks over ``span``."""
    raw = span / max(target_ticks, 1)
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def ticks(low: float, high: float, step: float) -> list[float]:
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + k * step, 10) for k in range(int((high - first) / step + 1e-9) + 1)]


def scale_bar_mm(image_width_mm: float) -> float:
    """About a fifth of the image width, in round millimetres."""
    return max((v for v in (0.5, 1, 2, 5, 10, 20, 50, 100) if v <= image_width_mm / 4), default=0.5)


class UltrasoundFigure(Flowable):
    """The ultrasound frame at 1 mm = 1 mm in both directions, with mm axes, a scale bar and a legend."""

    def __init__(self, figure: ImageFigure, width_pt: float, max_image_height_pt: float):
        super().__init__()
        self.figure = figure
        _, _, w_mm, h_mm = figure.extent_mm
        self.pt_per_mm = min((width_pt - AXIS_LEFT_PT - 6) / w_mm, max_image_height_pt / h_mm)
        self.image_w, self.image_h = w_mm * self.pt_per_mm, h_mm * self.pt_per_mm
        self.width = width_pt
        self.legend = self._legend_layout()
        self.legend_rows = 1 + max((row for row, _, _ in self.legend), default=0)
        self.height = self.image_h + AXIS_BOTTOM_PT + self.legend_rows * LEGEND_ROW_PT + 4

    def wrap(self, available_width, available_height):
        return self.width, self.height

    # image frame (mm, y down) → page (pt, y up), relative to the flowable's origin
    def _x(self, x_mm):
        return AXIS_LEFT_PT + (np.asarray(x_mm, dtype=float) - self.figure.extent_mm[0]) * self.pt_per_mm

    def _y(self, y_mm):
        return self._image_y0 + self.image_h - (np.asarray(y_mm, dtype=float) - self.figure.extent_mm[1]) * self.pt_per_mm

    def draw(self) -> None:
        c, f = self.canv, self.figure
        self._image_y0 = self.height - self.image_h
        mode = "RGB" if f.pixels.ndim == 3 else "L"
        c.drawImage(ImageReader(Image.fromarray(f.pixels, mode)), AXIS_LEFT_PT, self._image_y0,
                    self.image_w, self.image_h)
        c.saveState()
        clip = c.beginPath()
        clip.rect(AXIS_LEFT_PT, self._image_y0, self.image_w, self.image_h)
        c.clipPath(clip, stroke=0, fill=0)
        for line in sorted(f.isodoses, key=lambda line: line.prescription):   # the prescription's on top
            self._segments(line.x_mm, line.y_mm, colors.HexColor(line.colour),
                           PRESCRIPTION_WIDTH_PT if line.prescription else ISODOSE_WIDTH_PT,
                           dash=(4, 2.5) if line.dashed else None)
        if f.skin_mm:
            self._polyline(f.skin_mm, SKIN_COLOUR, 1.0, dash=(3, 2))
        self._cone()
        if f.outline_mm:   # on top of everything, with a dark halo that keeps it apart from the isodoses
            self._polyline(f.outline_mm, colors.black, 2.8, closed=True)
            self._polyline(f.outline_mm, OUTLINE_COLOUR, 1.6, closed=True)
        if not f.isodoses:
            self._no_dose_stamp()
        self._scale_bar()
        c.restoreState()
        c.setStrokeColor(colors.black)
        c.setLineWidth(0.6)
        c.rect(AXIS_LEFT_PT, self._image_y0, self.image_w, self.image_h, stroke=1, fill=0)
        self._axes()
        self._legend()

    def _segments(self, xs, ys, colour, width, dash=None) -> None:
        if len(xs) == 0:
            return
        c = self.canv
        px, py = self._x(xs).tolist(), self._y(ys).tolist()
        path = c.beginPath()
        for k in range(0, len(px) - 1, 2):
            path.moveTo(px[k], py[k])
            path.lineTo(px[k + 1], py[k + 1])
        c.setStrokeColor(colour)
        c.setLineWidth(width)
        c.setLineCap(1)
        c.setDash(*dash) if dash else c.setDash()
        c.drawPath(path, stroke=1, fill=0)
        c.setDash()

    def _polyline(self, points, colour, width, closed=False, dash=None) -> None:
        c = self.canv
        px = self._x([p[0] for p in points]).tolist()
        py = self._y([p[1] for p in points]).tolist()
        path = c.beginPath()
        path.moveTo(px[0], py[0])
        for x, y in zip(px[1:], py[1:]):
            path.lineTo(x, y)
        if closed:
            path.close()
        c.setStrokeColor(colour)
        c.setLineWidth(width)
        c.setLineJoin(1)
        c.setDash(*dash) if dash else c.setDash()
        c.drawPath(path, stroke=1, fill=0)
        c.setDash()

    def _cone(self) -> None:
        f, c = self.figure, self.canv
        if f.cone_axis_x_mm is None:
            return
        x = float(self._x(f.cone_axis_x_mm))
        c.setStrokeColor(CONE_COLOUR)
        c.setLineWidth(0.9)
        c.setDash(4, 3)
        c.line(x, self._image_y0, x, self._image_y0 + self.image_h)
        c.setDash()
        if f.cone_diameter_mm is not None and f.cone_footprint_y_mm is not None:
            half = f.cone_diameter_mm / 2
            y = float(self._y(f.cone_footprint_y_mm))
            c.setLineWidth(2.4)
            c.setLineCap(0)
            c.line(float(self._x(f.cone_axis_x_mm - half)), y, float(self._x(f.cone_axis_x_mm + half)), y)

    def _no_dose_stamp(self) -> None:
        c = self.canv
        cx, cy = AXIS_LEFT_PT + self.image_w / 2, self._image_y0 + self.image_h / 2
        c.setFillColor(colors.Color(1, 1, 1, alpha=0.85))
        c.roundRect(cx - 120, cy - 16, 240, 32, 4, stroke=0, fill=1)
        c.setFillColor(REFUSED_RED)
        c.setFont(BOLD, 15)
        c.drawCentredString(cx, cy - 5, "NO DOSE — REFUSED")

    def _scale_bar(self) -> None:
        c = self.canv
        length_mm = scale_bar_mm(self.figure.extent_mm[2])
        length = length_mm * self.pt_per_mm
        x0, y0 = AXIS_LEFT_PT + 8, self._image_y0 + 8
        c.setFillColor(colors.Color(0, 0, 0, alpha=0.6))
        c.roundRect(x0 - 4, y0 - 4, length + 8, 18, 2, stroke=0, fill=1)
        c.setStrokeColor(colors.white)
        c.setLineWidth(1.5)
        c.line(x0, y0, x0 + length, y0)
        c.line(x0, y0 - 2, x0, y0 + 3)
        c.line(x0 + length, y0 - 2, x0 + length, y0 + 3)
        c.setFillColor(colors.white)
        c.setFont(REGULAR, 7)
        c.drawCentredString(x0 + length / 2, y0 + 3.5, f"{length_mm:g} mm")

    def _axes(self) -> None:
        c, (left, top, w_mm, h_mm) = self.canv, self.figure.extent_mm
        c.setFont(REGULAR, 6.5)
        c.setFillColor(colors.black)
        c.setLineWidth(0.5)
        for x_mm in ticks(left, left + w_mm, nice_step(w_mm, 8)):
            x = float(self._x(x_mm))
            c.line(x, self._image_y0, x, self._image_y0 - 3)
            c.drawCentredString(x, self._image_y0 - 10, f"{x_mm:g}")
        c.drawCentredString(AXIS_LEFT_PT + self.image_w / 2, self._image_y0 - 20, "lateral position (mm)")
        for y_mm in ticks(top, top + h_mm, nice_step(h_mm, 5)):
            y = float(self._y(y_mm))
            c.line(AXIS_LEFT_PT, y, AXIS_LEFT_PT - 3, y)
            c.drawRightString(AXIS_LEFT_PT - 4, y - 2.3, f"{y_mm:g}")
        c.saveState()
        c.translate(7, self._image_y0 + self.image_h / 2)
        c.rotate(90)
        c.drawCentredString(0, 0, "depth below transducer (mm)")
        c.restoreState()

    def _legend_entries(self) -> list[tuple[str, object]]:
        """(text, how to draw its sample) in reading order; a None sample is a title in plain text."""
        f, entries = self.figure, []
        if f.isodoses:
            entries.append((f.isodose_title, None))
            for line in f.isodoses:
                colour = colors.HexColor(line.colour)
                width = PRESCRIPTION_WIDTH_PT if line.prescription else 1.4
                dash = (4, 2.5) if line.dashed else None
                entries.append((line.label + ("" if len(line.x_mm) else " (not reached)"),
                                lambda x0, y0, c=colour, w=width, d=dash: self._sample(x0, y0, c, w, dash=d)))
            entries.append(_NEW_ROW)                                        # outlines start a row of their own
        if f.outline_mm:
            entries.append(("lesion outline", lambda x0, y0: (self._sample(x0, y0, colors.black, 2.8),
                                                              self._sample(x0, y0, OUTLINE_COLOUR, 1.6))))
        if f.skin_mm:
            entries.append(("skin surface", lambda x0, y0: self._sample(x0, y0, SKIN_COLOUR, 1.0, dash=(3, 2))))
        if f.cone_axis_x_mm is not None:
            if f.cone_diameter_mm is not None and f.cone_footprint_y_mm is not None:
                entries.append((f"applicator Ø {f.cone_diameter_mm:g} mm footprint on the skin",
                                lambda x0, y0: self._sample(x0, y0, CONE_COLOUR, 2.4)))
            entries.append(("applicator axis", lambda x0, y0: self._sample(x0, y0, CONE_COLOUR, 0.9, dash=(4, 3))))
        return entries

    def _legend_layout(self) -> list[tuple[int, float, tuple[str, object]]]:
        """(row, x, entry) for every legend entry: an entry that would pass the figure's right edge
        starts a new row, so no two entries share space whatever the labels' lengths."""
        placed, row, x = [], 0, AXIS_LEFT_PT
        for text, sample in self._legend_entries():
            if (text, sample) == _NEW_ROW:
                if x > AXIS_LEFT_PT:
                    row, x = row + 1, AXIS_LEFT_PT
                continue
            width = stringWidth(text, REGULAR, LEGEND_FONT_PT) + (6 if sample is None else SWATCH_W_PT + 3 + 10)
            if x > AXIS_LEFT_PT and x + width > self.width:
                row, x = row + 1, AXIS_LEFT_PT
            placed.append((row, x, (text, sample)))
            x += width
        return placed

    def _legend(self) -> None:
        top = self._image_y0 - AXIS_BOTTOM_PT - LEGEND_ROW_PT + 4
        for row, x, (text, sample) in self.legend:
            y = top - row * LEGEND_ROW_PT
            if sample is None:
                self._legend_text(x, y, text)
            else:
                self._swatch(x, y, sample, text)

    def _legend_text(self, x, y, text) -> float:
        self.canv.setFont(REGULAR, LEGEND_FONT_PT)
        self.canv.setFillColor(colors.black)
        self.canv.drawString(x, y, text)
        return x + self.canv.stringWidth(text, REGULAR, LEGEND_FONT_PT) + 6

    def _swatch(self, x, y, draw_sample, text) -> float:
        self.canv.setFillColor(CHIP)
        self.canv.roundRect(x, y - 2.5, SWATCH_W_PT, 10, 1.5, stroke=0, fill=1)
        draw_sample(x + 3, y + 2.5)
        return self._legend_text(x + SWATCH_W_PT + 3, y, text) + 4

    def _sample(self, x, y, colour, width, dash=None) -> None:
        c = self.canv
        c.setStrokeColor(colour)
        c.setLineWidth(width)
        c.setDash(*dash) if dash else c.setDash()
        c.line(x, y, x + 14, y)
        c.setDash()


PDD_LABEL_FONT_PT, PDD_LABEL_ROW_PT, PDD_LABEL_GAP_PT = 7.0, 10.0, 3.0
PDD_TOP_PERCENT = 110.0
PDD_AXIS_TITLE = "% of Dmax (surface)"
MARK_COLOUR = colors.HexColor("#c00000")


@dataclass(frozen=True)
class LabelBox:
    """Where one PDD mark's label is drawn: its text from ``left`` at the baseline ``baseline``, and
    the box its glyphs fill (drawing coordinates, pt, y up)."""

    text: str
    left: float
    baseline: float
    right: float
    bottom: float
    top: float

    def intersects(self, other: "LabelBox", pad: float = 0.0) -> bool:
        return (self.left < other.right + pad and other.left < self.right + pad
                and self.bottom < other.top + pad and other.bottom < self.top + pad)


@dataclass(frozen=True)
class PddLayout:
    """The PDD figure's geometry: plot frame (pt), depth range, each mark's line (x and the height
    it rises to, pt) and its label's box, in the order of the marks' depths."""

    x0: float
    y0: float
    w: float
    h: float
    x_max_mm: float
    mark_lines: tuple[tuple[float, float], ...]
    labels: tuple[LabelBox, ...]

    def px(self, depth_mm: float) -> float:
        return self.x0 + depth_mm / self.x_max_mm * self.w

    def py(self, percent: float) -> float:
        return self.y0 + percent / PDD_TOP_PERCENT * self.h


def pdd_label_text(mark) -> str:
    """'prescription, 0.79 mm: 90 %' (the isodose, % of Dmax), or 'lesion's deepest point, 2.70 mm'."""
    text = f"{mark.label}, {mark.depth_mm:.2f} mm"
    return text if mark.percent_of_dmax is None else f"{text}: {percent_text(mark.percent_of_dmax)}"


def pdd_layout(curve: DepthDoseCurve, width_pt: float, height_pt: float = 190.0) -> PddLayout:
    """Shows the first 10 mm, or twice the deepest marked depth when deeper: the depths a skin plan
    reads are there, and a 30 mm axis would squeeze them into its first tenth.

    Labels do not overlap, by construction: marks are taken from the shallowest, each label goes
    in a row of its own below the previous label's (the first whose box clears the curve, else the
    first free), and rows are further apart than a label is tall. Each label sits right of its line,
    which rises only to the label's top: a deeper mark's line, to the right, stops in a lower row,
    and a shallower one is left of the label, so no line crosses another mark's label. (Only a label
    too long for the plot's right part goes left of its line, where a shallower line may cross it.)
    """
    x0, y0, w, h = 40.0, 30.0, width_pt - 50.0, height_pt - 40.0
    data_max = curve.points[-1][0]
    deepest_mark = max((m.depth_mm for m in curve.marks), default=0.0)
    x_max = min(data_max, max(10.0, 2.0 * deepest_mark))
    frame = PddLayout(x0, y0, w, h, x_max, (), ())
    marks = sorted((m for m in curve.marks if m.depth_mm <= x_max), key=lambda m: m.depth_mm)
    ascent, descent = getAscentDescent(REGULAR, PDD_LABEL_FONT_PT)
    depths = np.array([z for z, _ in curve.points])
    percents = np.array([p for _, p in curve.points])

    def clears_curve(box: LabelBox, pad: float = 1.5) -> bool:
        z = np.linspace((box.left - x0) / w * x_max, (box.right - x0) / w * x_max, 24)
        ys = frame.py(np.interp(np.clip(z, 0.0, data_max), depths, percents))
        return not (box.bottom - pad < ys.max() and ys.min() < box.top + pad)

    rows = int((h - 2 * PDD_LABEL_GAP_PT) // PDD_LABEL_ROW_PT)
    if len(marks) > rows:
        raise ValueError(f"{len(marks)} depth marks do not fit the PDD figure's {rows} label rows")
    lines, labels, row = [], [], -1
    for k, mark in enumerate(marks):
        x = frame.px(mark.depth_mm)
        text = pdd_label_text(mark)
        width = stringWidth(text, REGULAR, PDD_LABEL_FONT_PT)
        left = x + PDD_LABEL_GAP_PT if x + PDD_LABEL_GAP_PT + width <= x0 + w - 1 else x - PDD_LABEL_GAP_PT - width
        left = max(left, x0 + 1)
        boxes = []
        for r in range(row + 1, rows - (len(marks) - 1 - k)):     # leave a row for each label still to come
            baseline = y0 + h - PDD_LABEL_GAP_PT - ascent - r * PDD_LABEL_ROW_PT
            boxes.append((r, LabelBox(text, left, baseline, left + width, baseline + descent, baseline + ascent)))
        row, box = next(((r, b) for r, b in boxes if clears_curve(b)), boxes[0])
        labels.append(box)
        lines.append((x, box.top))
    return PddLayout(x0, y0, w, h, x_max, tuple(lines), tuple(labels))


def pdd_drawing(curve: DepthDoseCurve, width_pt: float, height_pt: float = 190.0) -> Drawing:
    """PDD in % of Dmax (the surface dose) against depth in mm, with the k=1 band and the plan's depths marked."""
    d = Drawing(width_pt, height_pt)
    layout = pdd_layout(curve, width_pt, height_pt)
    x0, y0, w, h, x_max = layout.x0, layout.y0, layout.w, layout.h, layout.x_max_mm
    px, py = layout.px, layout.py
    pts = [(z, p) for z, p in curve.points if z <= x_max + 1e-9]
    sigma = dict(curve.uncertainty)

    d.add(Rect(x0, y0, w, h, fillColor=None, strokeColor=colors.black, strokeWidth=0.6))
    for p in range(0, int(PDD_TOP_PERCENT) + 1, 10):
        d.add(Line(x0, py(p), x0 + w, py(p), strokeColor=colors.HexColor("#dddddd"), strokeWidth=0.4))
        d.add(String(x0 - 4, py(p) - 2.5, f"{p}", fontName=REGULAR, fontSize=7, textAnchor="end"))
    for z in ticks(0, x_max, nice_step(x_max, 10)):
        d.add(Line(px(z), y0, px(z), y0 - 3, strokeColor=colors.black, strokeWidth=0.5))
        d.add(String(px(z), y0 - 11, f"{z:g}", fontName=REGULAR, fontSize=7, textAnchor="middle"))
    d.add(String(x0 + w / 2, y0 - 24, "depth below the skin (mm)", fontName=REGULAR, fontSize=8, textAnchor="middle"))
    d.add(String(x0 - 28, y0 + h + 4, PDD_AXIS_TITLE, fontName=REGULAR, fontSize=8))
    upper = [(px(z), py(min(p + sigma.get(z, 0.0), PDD_TOP_PERCENT))) for z, p in pts]
    lower = [(px(z), py(max(p - sigma.get(z, 0.0), 0))) for z, p in reversed(pts)]
    d.add(Polygon([v for xy in upper + lower for v in xy], fillColor=colors.HexColor("#b8cce4"), strokeColor=None))
    d.add(PolyLine([v for z, p in pts for v in (px(z), py(p))], strokeColor=colors.HexColor("#1f4e99"),
                   strokeWidth=1.4))
    for x, top in layout.mark_lines:
        d.add(Line(x, y0, x, top, strokeColor=MARK_COLOUR, strokeWidth=0.8, strokeDashArray=(3, 2)))
    for box in layout.labels:
        d.add(Rect(box.left - 1, box.bottom - 0.5, box.right - box.left + 2, box.top - box.bottom + 1,
                   fillColor=colors.Color(1, 1, 1, alpha=0.8), strokeColor=None))
        d.add(String(box.left, box.baseline, box.text, fontName=REGULAR, fontSize=PDD_LABEL_FONT_PT,
                     fillColor=MARK_COLOUR))
    return d
