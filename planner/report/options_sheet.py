"""The options sheet: the published regimens of the plan's technique side by side, printed for the decision
with the patient (issue 17, point 7).

A4, large type, plain words. What it shows comes from planner.core.treatment_options (visits, weeks from the
regimen's own stated schedule, the time per visit for this lesion and plan, BED and EQD2, the plan's
coverage); the decision, once recorded in the course (planner.core.course.TreatmentDecision), is printed in
its box, else the box is left empty to fill in by hand. The page frame, fonts, tables and the two-pass build
are the plan report's (planner.report.pdf_report); the file is written atomically, as the plan report is.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import CondPageBreak, KeepTogether, Spacer

import planner
from planner.core.atomic import atomic_write_bytes
from planner.core.course import TreatmentDecision
from planner.core.plan import Plan
from planner.core.radiobiology import ALPHA_BETA_LATE_SKIN_GY, ALPHA_BETA_TUMOUR_GY
from planner.core.treatment_options import (ALPHA_BETA_SOURCE, TreatmentOption, TreatmentOptions, about_time_text,
                                            gy_text)
from planner.report import formatting as fmt
from planner.report.content import ReportError
from planner.report.fonts import BOLD, REGULAR
from planner.report.pdf_report import (GREEN, LABEL_BG, ORANGE, TEXT_W, build_pdf, draw_page_frame, grid_table,
                                       paragraph)

TITLE = "Treatment options"
PLAN_COLUMN_BG = colors.HexColor("#fff4d6")   # the plan's own regimen, marked in the table


def sheet_styles() -> dict[str, ParagraphStyle]:
    """Large type: 12 pt text, 10.5 pt in the table, 9 pt only for the sources and the technical notes."""
    body = ParagraphStyle("sheet_body", fontName=REGULAR, fontSize=12, leading=15.5)
    return {
        "body": body,
        "h1": ParagraphStyle("sheet_h1", body, fontName=BOLD, fontSize=22, leading=26, spaceAfter=4),
        "h2": ParagraphStyle("sheet_h2", body, fontName=BOLD, fontSize=15, leading=19, spaceBefore=10, spaceAfter=4,
                             keepWithNext=1),
        "label": ParagraphStyle("sheet_label", body, fontName=BOLD),
        "cell": ParagraphStyle("sheet_cell", body, fontSize=10.5, leading=13),
        "cell_bold": ParagraphStyle("sheet_cell_bold", body, fontName=BOLD, fontSize=10.5, leading=13),
        "head": ParagraphStyle("sheet_head", body, fontName=BOLD, fontSize=13, leading=16),
        "small": ParagraphStyle("sheet_small", body, fontSize=9, leading=11.5),
        "option": ParagraphStyle("sheet_option", body, leftIndent=14, firstLineIndent=-14, spaceAfter=3),
        "filled": ParagraphStyle("sheet_filled", body, fontSize=13, leading=17),
    }


def _identity(plan: Plan, options: TreatmentOptions, s) -> list:
    rows = [[paragraph("Patient", s["label"]), paragraph(fmt.person_name(plan.patient_name), s["body"]),
             paragraph("Patient ID", s["label"]), paragraph(plan.patient_id, s["body"])],
            [paragraph("Area to treat", s["label"]), paragraph(plan.label, s["body"]),
             paragraph("Treatment", s["label"]), paragraph(options.technique_name, s["body"])]]
    label_w, value_w = 32 * mm, TEXT_W / 2 - 32 * mm
    return [paragraph("Your treatment options", s["h1"]),
            grid_table(rows, [label_w, value_w, label_w, value_w],
                       [("BACKGROUND", (0, 0), (0, -1), LABEL_BG), ("BACKGROUND", (2, 0), (2, -1), LABEL_BG)]),
            Spacer(1, 6),
            paragraph("Each option is a published way of giving this treatment to the same area with the same "
                      "plan. They differ in the number of visits, the weeks, the dose at each visit and the time "
                      "the machine is on. Your doctor will go through them with you.", s["body"])]


def _in_short(options: TreatmentOptions, s) -> list:
    out = [paragraph("The options in short", s["h2"])]
    for o in options.options:
        mark = " — the plan as it is now" if o.is_plan_regimen else ""
        out.append(paragraph(f"Option {o.letter}, {o.label}{mark}: {o.plain_text}.", s["option"]))
    if not options.plan_regimen_is_published:
        out.append(paragraph(f"The plan is prescribed {options.plan_regimen} now, which is none of these published "
                             f"options.", s["body"]))
    return out


def _time_cell(o: TreatmentOption, s) -> list:
    if o.beam_on_time_min is None:
        return [paragraph(fmt.time_per_fraction(None, o.time_unavailable_reason), s["cell"])]
    exact = fmt.time_per_fraction(o.beam_on_time_min, None).split(" (")    # "2.25 min", "135 s)": one a line
    return [paragraph(about_time_text(o.beam_on_time_min), s["cell_bold"]),
            *(paragraph(part if i == 0 else f"({part}", s["small"]) for i, part in enumerate(exact))]


def _options_table(options: TreatmentOptions, s):
    """The options as columns, side by side; the plan's own regimen shaded."""
    opts = options.options
    time_name = options.time_name.strip() or "treatment time"
    rows = [
        ("Option", [[paragraph(f"Option {o.letter}", s["head"]), paragraph(o.label, s["cell"])]
                    + ([paragraph("(the plan now)", s["small"])] if o.is_plan_regimen else []) for o in opts]),
        ("Visits", [paragraph(str(o.visits), s["head"]) for o in opts]),
        ("Weeks of treatment", [[paragraph(o.weeks_text, s["cell"])]
                                + ([paragraph(o.interval_text, s["small"])] if o.interval_text else []) for o in opts]),
        (f"{time_name[0].upper()}{time_name[1:]} at each visit (machine on)", [_time_cell(o, s) for o in opts]),
        ("Dose at each visit", [paragraph(f"{o.dose_per_fraction_gy:g} Gy", s["cell"]) for o in opts]),
        ("Total dose", [paragraph(f"{o.total_dose_gy:g} Gy", s["cell"]) for o in opts]),
    ]
    for ab, who in ((ALPHA_BETA_TUMOUR_GY, "tumour"), (ALPHA_BETA_LATE_SKIN_GY, "late skin effects")):
        doses = [o.biological_dose(ab) for o in opts]
        rows.append((f"BED, {who} (α/β {ab:g} Gy)", [paragraph(gy_text(d.bed_gy), s["cell"]) for d in doses]))
        rows.append((f"EQD2, {who} (α/β {ab:g} Gy)", [paragraph(gy_text(d.eqd2_gy), s["cell"]) for d in doses]))
    rows.append(("Does the plan cover the lesion?", [paragraph(o.covers, s["cell_bold"]) for o in opts]))
    label_w = 44 * mm
    column_w = (TEXT_W - label_w) / len(opts)
    table_rows = [[paragraph(label, s["cell_bold"]), *cells] for label, cells in rows]
    commands = [("BACKGROUND", (0, 0), (0, -1), LABEL_BG), ("BACKGROUND", (1, 0), (-1, 0), LABEL_BG)]
    commands += [("BACKGROUND", (1 + i, 0), (1 + i, -1), PLAN_COLUMN_BG) for i, o in enumerate(opts) if o.is_plan_regimen]
    return grid_table(table_rows, [label_w] + [column_w] * len(opts), commands)


def _lesion(options: TreatmentOptions, s) -> list:
    return [paragraph("The lesion and how the plan covers it", s["h2"]), paragraph(options.coverage_words, s["body"]),
            Spacer(1, 2),
            paragraph(f"For the physician: {options.coverage_text} (the plan as it is now, {options.plan_regimen}, "
                      f"prescribed {options.prescribed}). {options.coverage_note}", s["small"])]


def _meaning(options: TreatmentOptions, s) -> list:
    time_name = options.time_name.strip() or "treatment time"
    return [paragraph("What the numbers mean", s["h2"]),
            paragraph("BED and EQD2 put regimens with different numbers of visits on one scale, so they can be "
                      "compared. For the tumour, a higher number means a stronger effect on the tumour; for late "
                      "skin effects, a higher number means a stronger effect on the healthy skin over the years.",
                      s["body"]),
            Spacer(1, 3),
            paragraph(f"The time at each visit is the {time_name} for this lesion and this plan, computed by "
                      f"Planner: the time the machine is on. A visit takes longer (getting ready, positioning). "
                      f"Weeks are counted from the schedule each option's source states; where it states none, "
                      f"they are \"not stated\".", s["small"]),
            paragraph(ALPHA_BETA_SOURCE, s["small"])]


def _decision_box(decision: TreatmentDecision | None, s) -> KeepTogether:
    """The chosen option, the patient's preferences, the date and the physician: filled from the course when a
    decision is recorded, else empty rows to write in."""
    if decision is None:   # room to write by hand
        values = [Spacer(1, h) for h in (14 * mm, 30 * mm, 7 * mm, 7 * mm)]
    else:
        values = [paragraph(text, s["filled"]) for text in (
            decision.chosen_regimen, decision.preferences or "none stated", decision.decided_on.isoformat(),
            decision.decided_by)]
    labels = ("Option chosen", "What matters to the patient (in their words)", "Date", "Physician")
    rows = [[paragraph(label, s["label"]), value] for label, value in zip(labels, values)]
    rows.append([paragraph("Physician's signature", s["label"]), Spacer(1, 12 * mm)])
    table = grid_table(rows, [58 * mm, TEXT_W - 58 * mm],
                       [("BOX", (0, 0), (-1, -1), 1.5, colors.black), ("BACKGROUND", (0, 0), (0, -1), LABEL_BG)])
    return KeepTogether([paragraph("The decision", s["h2"]), table])


def _sources(options: TreatmentOptions, s) -> list:
    return [paragraph("Where the options come from", s["h2"]),
            *(paragraph(f"Option {o.letter}, {o.label}: {o.source}", s["small"]) for o in options.options)]


def _story(plan: Plan, options: TreatmentOptions, s) -> list:
    decision = None if plan.course is None else plan.course.decision
    return [*_identity(plan, options, s), *_in_short(options, s),
            paragraph("The options side by side", s["h2"]), _options_table(options, s), CondPageBreak(120 * mm),
            *_lesion(options, s), *_meaning(options, s), _decision_box(decision, s), *_sources(options, s)]


def render_options_sheet(plan: Plan, options: TreatmentOptions, *, printed_at: datetime) -> bytes:
    """The PDF's bytes. ReportError when the options were made for another prescription than the plan's."""
    rx = plan.prescription
    if options.plan_regimen != f"{rx.dose_per_fraction_gy:g} Gy × {rx.fractions}":
        raise ReportError(f"the options were made for a plan prescribed {options.plan_regimen}; this plan is "
                          f"prescribed {rx.dose_per_fraction_gy:g} Gy × {rx.fractions}: make them again")
    s = sheet_styles()
    decision = None if plan.course is None else plan.course.decision
    status, colour = (("Decision recorded " + decision.decided_on.isoformat(), GREEN) if decision is not None
                      else ("For the decision with the patient: not a prescription", ORANGE))
    frame = {"title": f"Planner — {TITLE.lower()}", "status_text": status, "status_colour": colour, "marks": (),
             "identity": f"Patient ID: {plan.patient_id}   ·   {plan.patient_name}   ·   Plan: {plan.label}",
             "printed": f"Printed {fmt.moment(printed_at)} by Planner {planner.__version__}"}
    return build_pdf(lambda: _story(plan, options, s),
                     lambda total: lambda canvas, doc: draw_page_frame(canvas, doc.page, total, **frame),
                     creator=f"Planner {planner.__version__}", title=f"{TITLE} — {plan.label}",
                     author=f"Planner {planner.__version__}",
                     subject=f"Patient ID {plan.patient_id}; the published regimens of {options.technique_name}")


def write_options_sheet(plan: Plan, options: TreatmentOptions, out_path: str | os.PathLike, *,
                        printed_at: datetime) -> Path:
    """Draw the sheet in memory, then write ``out_path`` atomically (never a truncated PDF); returns the path."""
    path = Path(out_path)
    data = render_options_sheet(plan, options, printed_at=printed_at)
    try:
        atomic_write_bytes(path, data)
    except OSError as err:
        raise ReportError(f"cannot write the options sheet to {os.fspath(path)}: {err.strerror or err}") from err
    return path
