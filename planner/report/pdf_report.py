"""The plan report as a PDF, drawn with reportlab (no Qt: the command line writes it too).

Page 1 is what a physician checks before signing: identity, status, alerts, the time per
fraction, the prescription and its coverage, and the plan on the ultrasound. Then the numbers
behind it, the recorded fractions, the model and beam data, the digital signatures and the
hand-signed sign-off. Every page carries the patient ID, the plan, the status, any alert and
"page i of n". A heading is never the last line of a page: headings keep with what follows them.
"""

from __future__ import annotations

import io
import os
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import (CondPageBreak, KeepTogether, Paragraph, SimpleDocTemplate, Spacer,
                                Table, TableStyle)

from planner.core.atomic import atomic_write_bytes
from planner.report import formatting as fmt
from planner.report.content import PlanStatus, ReportContent, ReportError
from planner.report.fonts import BOLD, MONO, REGULAR, register_fonts
from planner.report.pdf_figures import UltrasoundFigure, pdd_drawing

PAGE_W, PAGE_H = A4
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 15 * mm, 24 * mm, 16 * mm
TEXT_W = PAGE_W - 2 * MARGIN_X

RED, ORANGE, GREEN = colors.HexColor("#c00000"), colors.HexColor("#b35c00"), colors.HexColor("#1b7f2a")
GREY_LINE, LABEL_BG = colors.HexColor("#bbbbbb"), colors.HexColor("#f0f0f0")
STATUS_COLOUR = {PlanStatus.DRAFT: ORANGE, PlanStatus.SIGNED: GREEN, PlanStatus.APPROVED: GREEN,
                 PlanStatus.REJECTED: RED, PlanStatus.SIGNATURE_BROKEN: RED}


def report_styles() -> dict[str, ParagraphStyle]:
    """The report's paragraph styles by name (body, small, label, h1, h2, h3, alert_*, key_*, mono, centre).
    Headings (h2, h3) keep with the flowable after them, so none is stranded at a page's foot."""
    base = ParagraphStyle("body", fontName=REGULAR, fontSize=8.5, leading=10.5)
    return {
        "body": base,
        "small": ParagraphStyle("small", base, fontSize=7, leading=8.6),
        "label": ParagraphStyle("label", base, fontName=BOLD, fontSize=8, leading=10),
        "h1": ParagraphStyle("h1", base, fontName=BOLD, fontSize=15, leading=18, spaceAfter=4),
        "h2": ParagraphStyle("h2", base, fontName=BOLD, fontSize=10.5, leading=13, spaceBefore=8, spaceAfter=3,
                             keepWithNext=1),
        "h3": ParagraphStyle("h3", base, fontName=BOLD, fontSize=8, leading=10, spaceBefore=3, spaceAfter=2,
                             keepWithNext=1),
        "alert_title": ParagraphStyle("alert_title", base, fontName=BOLD, fontSize=11, leading=13,
                                      textColor=colors.white),
        "alert_text": ParagraphStyle("alert_text", base, textColor=colors.white),
        "key_label": ParagraphStyle("key_label", base, fontName=BOLD, fontSize=10, leading=12),
        "key_value": ParagraphStyle("key_value", base, fontName=BOLD, fontSize=14, leading=17),
        "mono": ParagraphStyle("mono", base, fontName=MONO, fontSize=7, leading=8.6),
        "centre": ParagraphStyle("centre", base, alignment=TA_CENTER, fontSize=7, leading=8.6),
    }


def paragraph(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text: plan labels, names and messages are escaped, never read as markup."""
    return Paragraph(escape(text), style)


def grid_table(rows, col_widths, style_commands=()) -> Table:
    table = Table(rows, colWidths=col_widths, hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("GRID", (0, 0), (-1, -1), 0.4, GREY_LINE),
                               ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
                               ("LEFTPADDING", (0, 0), (-1, -1), 4), ("RIGHTPADDING", (0, 0), (-1, -1), 4),
                               *style_commands]))
    return table


def items_table(items, s, label_w=58 * mm, value_style="body") -> Table:
    rows = [[_p(i.label, s["label"]), _p(i.value, s[value_style])] for i in items]
    return _table(rows, [label_w, TEXT_W - label_w], [("BACKGROUND", (0, 0), (0, -1), LABEL_BG)])


# the short names the sections below use (the public ones serve the IMRT report too)
_styles, _p, _table, _items_table = report_styles, paragraph, grid_table, items_table


# ----------------------------------------------------------------------------------- sections
def _identity(content: ReportContent, s) -> list:
    status_style = ParagraphStyle("status", s["label"], textColor=STATUS_COLOUR[content.status], fontSize=10)
    cells = [
        ("Patient", content.patient_name, "Patient ID", content.patient_id),
        ("Plan", content.plan_label, "Plan status", None),
        ("Printed", content.printed_at, "Planner version", content.planner_version),
    ]
    rows = [[_p(a, s["label"]), _p(b, s["body"]), _p(c, s["label"]),
             _p(content.status.value, status_style) if d is None else _p(d, s["body"])] for a, b, c, d in cells]
    w = TEXT_W / 2
    out = [_p("Treatment plan report", s["h1"]),
           _table(rows, [26 * mm, w - 26 * mm, 30 * mm, w - 30 * mm],
                  [("BACKGROUND", (0, 0), (0, -1), LABEL_BG), ("BACKGROUND", (2, 0), (2, -1), LABEL_BG)])]
    if content.audit_head:  # the audit log's entry this plan carries: checked by `planner audit verify --against`
        out.append(_p(f"Audit log: {content.audit_head}", s["body"]))
    return out


def _alerts(content: ReportContent, s) -> list:
    return alert_boxes(content.alerts, s)


def alert_boxes(alerts, s) -> list:
    """Each alert as a coloured box, title large: red for "refuse", orange for "warn"."""
    out = []
    for alert in alerts:
        colour = RED if alert.severity == "refuse" else ORANGE
        box = _table([[_p(alert.title, s["alert_title"])], [_p(alert.text, s["alert_text"])]], [TEXT_W],
                     [("BACKGROUND", (0, 0), (-1, -1), colour), ("GRID", (0, 0), (-1, -1), 0, colour)])
        out += [Spacer(1, 4), box]
    return out


def _key_facts(content: ReportContent, s) -> Table:
    """The time per fraction and the prescription, large: what the treatment unit is set to."""
    rx = {i.label: i.value for i in content.prescription}
    time_style = s["key_value"] if not content.refused else ParagraphStyle("refused_time", s["key_value"],
                                                                           textColor=RED, fontSize=10, leading=12)
    rows = [[_p(content.time_title, s["key_label"]), _p(content.time_text, time_style)],
            [_p("Dose per fraction × fractions", s["key_label"]),
             _p(rx["Dose per fraction × fractions"], s["key_value"])],
            [_p("Prescribed", s["key_label"]), _p(rx["Prescription"], s["body"])],
            [_p("Coverage", s["key_label"]), _p(rx["Coverage"], s["body"])],
            [_p("Treatment unit", s["key_label"]), _p(_unit_summary(content), s["body"])]]
    return _table(rows, [66 * mm, TEXT_W - 66 * mm], [("BOX", (0, 0), (-1, -1), 1.2, colors.black),
                                                      ("BACKGROUND", (0, 0), (0, -1), LABEL_BG)])


def _unit_summary(content: ReportContent) -> str:
    """Machine, energy with HVL, applicator and SSD on one line: what the unit is set up with."""
    unit = {i.label: i.value for i in content.treatment_unit}
    return (f"{unit['Machine']}; {unit['Energy']}, HVL {unit['Half-value layer (HVL)']}; applicator "
            f"{unit['Applicator']}; SSD {unit['Source-to-surface distance (SSD)']}")


def _image(content: ReportContent, s, max_height_pt: float) -> list:
    f = content.image
    return [Spacer(1, 6), _p("The plan on the ultrasound image", s["h2"]),
            UltrasoundFigure(f, TEXT_W, max_height_pt),
            _p(f.dose_caption, s["small"]), _p(f"Image: {f.image_caption}", s["small"])]


def _radiobiology(content: ReportContent, s) -> Table:
    header = [_p(t, s["label"]) for t in ("α/β", "BED", "EQD2")]
    rows = [header] + [[_p(f"{b.alpha_beta_gy:g} Gy ({'tumour' if b.alpha_beta_gy >= 10 else 'late skin effects'})",
                           s["body"]), _p(f"{b.bed_gy:.2f} Gy", s["body"]), _p(f"{b.eqd2_gy:.2f} Gy", s["body"])]
                       for b in content.radiobiology]
    return _table(rows, [58 * mm, 40 * mm, 40 * mm], [("BACKGROUND", (0, 0), (-1, 0), LABEL_BG)])


def _findings(content: ReportContent, s) -> list:
    if not content.findings:
        return [_p("None: the dose engine found nothing to refuse or warn about.", s["body"])]
    out = []
    for f in content.findings:
        refuse = f.severity == "refuse"
        style = ParagraphStyle("finding", s["body"], textColor=RED if refuse else ORANGE, leftIndent=8,
                               firstLineIndent=-8, spaceAfter=2)
        out.append(Paragraph(f"<b>{'Refused' if refuse else 'Warning'}:</b> {escape(f.message)}", style))
    return out


def _model(content: ReportContent, s) -> list:
    out = [_p("Dose model and beam data", s["h2"]), _p(f"Dose from: {content.model_description}", s["body"]),
           Spacer(1, 4)]
    if content.pdd is not None:
        out += [KeepTogether([pdd_drawing(content.pdd, TEXT_W), _p(content.pdd.caption, s["small"])]), Spacer(1, 4)]
    else:
        out.append(_p(f"PDD not shown: {content.pdd_missing_reason}.", s["body"]))
    if content.beam_data:
        out.append(_items_table(content.beam_data, s, value_style="small"))
    if content.data_sources:
        out += [_p("Where each quantity came from", s["h2"]), _items_table(content.data_sources, s, value_style="small")]
    out += [_p("Commissioning", s["h2"]), _items_table(content.commissioning, s, value_style="small")]
    return out


def _course(content: ReportContent, s) -> list:
    """The recorded fractions, as the window's Course tab lists them."""
    course = content.course
    out = [_p("Treatment course (recorded fractions)", s["h2"]), _p(course.summary, s["body"])]
    if course.rows:
        rows = [[_p(t, s["label"]) for t in course.columns]]
        rows += [[_p(cell, s["body"]) for cell in row] for row in course.rows]
        table = _table(rows, [17 * mm, 24 * mm, 34 * mm, 20 * mm, 36 * mm, TEXT_W - 131 * mm],
                       [("BACKGROUND", (0, 0), (-1, 0), LABEL_BG)])
        table.repeatRows = 1
        out += [Spacer(1, 3), table]
    flag_style = ParagraphStyle("flag", s["body"], textColor=ORANGE, leftIndent=8, firstLineIndent=-8, spaceBefore=2)
    out += [Paragraph(f"<b>Flag:</b> {escape(flag)}", flag_style) for flag in course.flags]
    return [KeepTogether(out)]     # on one page when it fits; a long course splits between its rows


def _signatures(content: ReportContent, s) -> list:
    title = _p("Digital signatures", s["h2"])
    if not content.signatures:
        return [title, _p("No digital signature: this plan is a DRAFT.", s["body"])]
    rows = [[_p(t, s["label"]) for t in ("Role", "Signer", "Signed at", "Verification")]]
    commands = [("BACKGROUND", (0, 0), (-1, 0), LABEL_BG)]
    for sig in content.signatures:
        verdict = ParagraphStyle("verdict", s["label"], textColor=GREEN if sig.valid else RED)
        text = "valid" if sig.valid else f"SIGNATURE BROKEN: {sig.problem}"
        cell = [_p(text, verdict)]
        if sig.test_certificate:
            cell.append(_p("TEST certificate: not a clinical signature", ParagraphStyle("test", s["label"],
                                                                                        textColor=ORANGE)))
        rows.append([_p(sig.role, s["body"]), _p(sig.signer, s["body"]), _p(fmt.moment(sig.signed_at), s["body"]),
                     cell])
        rows.append([_p(f"Certificate SHA-256: {fmt.fingerprint(sig.fingerprint_sha256)}", s["mono"]), "", "", ""])
        commands.append(("SPAN", (0, len(rows) - 1), (-1, len(rows) - 1)))
    table = _table(rows, [24 * mm, 46 * mm, 56 * mm, TEXT_W - 126 * mm], commands)
    table.repeatRows = 1
    return [KeepTogether([title, table])]


def _sign_off(content: ReportContent, s) -> KeepTogether:
    """Hand signatures on the printout, one block per reviewer."""
    statement = (f"I have checked this plan on this printout: patient identity, prescription and fractionation, "
                 f"treatment unit, {content.time_title.lower()}, dose, findings and signatures.")
    blocks = []
    for who in ("Physician (radiation oncologist)", "Medical physicist"):
        rows = [[_p(who, s["key_label"]), "", ""],
                [_p("Name", s["small"]), _p("Signature", s["small"]), _p("Date", s["small"])]]
        blocks.append(_table(rows, [70 * mm, 70 * mm, TEXT_W - 140 * mm], [
            ("SPAN", (0, 0), (-1, 0)), ("GRID", (0, 0), (-1, -1), 0, colors.white),
            ("LINEABOVE", (0, 1), (-1, 1), 0.8, colors.black), ("TOPPADDING", (0, 1), (-1, 1), 1),
            ("BOTTOMPADDING", (0, 0), (-1, 0), 26)]))
        blocks.append(Spacer(1, 10))
    return KeepTogether([_p("Sign-off", s["h2"]), _p(statement, s["body"]), Spacer(1, 6), *blocks])


def _story(content: ReportContent, s) -> list:
    story = [*_identity(content, s), *_alerts(content, s), Spacer(1, 6), _key_facts(content, s)]
    # The image takes what is left of page 1 (alerts vary), within reason.
    used = sum(f.wrap(TEXT_W, PAGE_H)[1] for f in story) + 60
    legend_and_axes = 80
    story += _image(content, s, max(140.0, min(300.0, PAGE_H - MARGIN_TOP - MARGIN_BOTTOM - used - legend_and_axes)))
    story += [_p("Findings", s["h2"]), *_findings(content, s), CondPageBreak(90 * mm),
              _p("Treatment unit", s["h2"]), _items_table(content.treatment_unit, s),
              _p("Prescription and fractionation", s["h2"]), _items_table(content.prescription, s),
              _p("BED and EQD2 of this plan (linear-quadratic model, no time factor)", s["h3"]),
              _radiobiology(content, s),
              _p("Lesion (from the outline)", s["h2"]), _items_table(content.lesion, s),
              _p("Dose per fraction", s["h2"]), _items_table(content.dose, s),
              *_course(content, s)]
    if content.notes:
        story += [_p("Notes", s["h2"]), _p(content.notes, s["body"])]
    story += [CondPageBreak(120 * mm), *_model(content, s), *_signatures(content, s), Spacer(1, 6),
              _sign_off(content, s)]
    return story


# ----------------------------------------------------------------------------------- pages
def fit_text(text: str, font: str, size: float, width: float) -> str:
    """``text`` shortened with "…" to fit ``width`` (a long plan label must not run into the page number)."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def draw_page_frame(canvas, page: int, total_pages: int | None, *, title: str, status_text: str,
                    status_colour, marks: tuple[str, ...], identity: str, printed: str) -> None:
    """Every page's header and footer: the report's title and the plan's status on top, the
    alerts' marks in a red band under them (a single loose page still carries them), the patient
    line, when and by what it was printed, and "Page i of n" at the foot."""
    canvas.saveState()
    top = PAGE_H - 10 * mm
    canvas.setFont(BOLD, 9)
    canvas.setFillColor(colors.black)
    canvas.drawString(MARGIN_X, top, title)
    canvas.setFillColor(status_colour)
    canvas.drawRightString(PAGE_W - MARGIN_X, top, status_text)
    if marks:
        canvas.setFillColor(RED)
        canvas.rect(MARGIN_X, top - 9.5, TEXT_W, 7.5, stroke=0, fill=1)
        canvas.setFillColor(colors.white)
        canvas.setFont(BOLD, 6.5)
        canvas.drawCentredString(PAGE_W / 2, top - 7.4, "  ·  ".join(marks))
    canvas.setStrokeColor(GREY_LINE)
    canvas.line(MARGIN_X, 11 * mm, PAGE_W - MARGIN_X, 11 * mm)
    canvas.setFillColor(colors.black)
    canvas.setFont(REGULAR, 7)
    canvas.drawString(MARGIN_X, 7.5 * mm, fit_text(identity, REGULAR, 7, TEXT_W - 30 * mm))
    canvas.drawString(MARGIN_X, 4.5 * mm, printed)
    pages = f"Page {page} of {total_pages}" if total_pages else f"Page {page}"
    canvas.setFont(BOLD, 7)
    canvas.drawRightString(PAGE_W - MARGIN_X, 7.5 * mm, pages)
    canvas.restoreState()


def _page_decorations(content: ReportContent, total_pages: int | None):
    def draw(canvas, doc) -> None:
        draw_page_frame(
            canvas, doc.page, total_pages, title="Planner — treatment plan report",
            status_text=f"Plan status: {content.status.value}", status_colour=STATUS_COLOUR[content.status],
            marks=content.page_marks,
            identity=f"Patient ID: {content.patient_id}   ·   {content.patient_name}   ·   Plan: {content.plan_label}",
            printed=f"Printed {content.printed_at} by Planner {content.planner_version}")
    return draw


class _PageCountingCanvas(Canvas):
    """The first pass only counts pages: it neither encodes images nor writes the file (most of a
    build's time), and neither moves the layout."""

    def drawImage(self, *args, **kwargs):
        return (0, 0)

    def save(self) -> None:
        pass


def build_pdf(story, decorations, **document_info) -> bytes:
    """A PDF's bytes from ``story()`` (a fresh list of flowables per call) with every page drawn by
    ``decorations(total_pages)``. Built twice: the first pass counts the pages for "page i of n".
    ``document_info``: title, author, subject, creator (the PDF's own metadata)."""
    register_fonts()
    total = None
    for canvas_class in (_PageCountingCanvas, Canvas):
        buffer = io.BytesIO()
        doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=MARGIN_TOP,
                                bottomMargin=MARGIN_BOTTOM, **document_info)
        decorate = decorations(total)
        doc.build(story(), onFirstPage=decorate, onLaterPages=decorate, canvasmaker=canvas_class)
        total = doc.page
    return buffer.getvalue()


def render_plan_report(content: ReportContent) -> bytes:
    """The PDF's bytes."""
    register_fonts()
    styles = _styles()
    return build_pdf(lambda: _story(content, styles), lambda total: _page_decorations(content, total),
                     creator=f"Planner {content.planner_version}",
                     title=f"Treatment plan report — {content.plan_label}",
                     author=f"Planner {content.planner_version}",
                     subject=f"Patient ID {content.patient_id}; status {content.status.value}")


def write_plan_report(path: str | os.PathLike, content: ReportContent) -> None:
    """Draw the whole report in memory, then replace ``path`` atomically: a failure at any point
    leaves the previous report as it was, never a truncated PDF someone could print."""
    data = render_plan_report(content)
    try:
        atomic_write_bytes(path, data)
    except OSError as err:
        raise ReportError(f"cannot write the report to {os.fspath(path)}: {err.strerror or err}") from err
