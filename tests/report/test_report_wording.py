"""Issue 13 (points 9 and 2): the kV/eBx plan report says one thing once, in the window's words.

Read back from the PDF (pdftotext, pdftoppm), against sources outside the report's code:
planner.dose.coverage's sentences, the machine's HVL and the beam data's fitted one, the course's
records and the window's Course tab summary, the PDF's own text boxes for the page layout.
"""

import re
import subprocess
import xml.etree.ElementTree as ElementTree
from dataclasses import replace
from datetime import date
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from planner.core.course import Course
from planner.core.prescription import Prescription
from planner.dose.coverage import percent_text, prescription_sentence
from planner.dose.grid_axes import dose_grid_axes
from planner.dose.spectrum import fitted_spectrum
from planner.imaging.planning_image import calibrated_image
from planner.report import render_plan_report, report_content, write_plan_report
from planner.report.content import DepthDoseCurve, DepthMark
from planner.report.fonts import register_fonts
from planner.report.pdf_figures import pdd_layout
from planner.techniques import discover_techniques
from planner.techniques.new_plan import default_prescription, default_setup
from plugins.ebx_surface.applicator_model import applicator_model
from plugins.ebx_surface.commissioning import load_demo_commissioning
from plugins.ebx_surface.dose_engine import EbxDoseEngine
from plugins.ebx_surface.machine_data import ESTEYA_UNIT, XOFT_UNIT
from tests.dose.kv_fixtures import synthetic_beam
from tests.report.test_pdf_report import (PRINTED_AT, SIGNED, confirmed_demo_case, image_region,
                                         isodose_colour_pixels, render)

DMAX_LEVELS_PERCENT = (100, 90, 80, 50, 20)     # the window's isodose levels, % of Dmax
EBX_MU_PER_MM = 0.05                            # synthetic PDD, about the applicator model's at 69.5 kV


def ebx_beam(machine, applicator, ssd_cm):
    """The eBx beam as the engine builds it, without its Monte Carlo: the applicator model's spectrum
    fitted before the flattening filter (so its fitted HVL is not the machine's 1.85 mm Al) and its
    description in the provenance; only the PDD, profiles and B_w are synthetic."""
    model = applicator_model(machine.id, applicator.id, ssd_cm=ssd_cm)
    fit = fitted_spectrum(model.kvp, model.pre_filter_hvl_mm_al, model.anode_angle_deg)
    beam = synthetic_beam(EBX_MU_PER_MM, applicator.diameter_mm, ssd_cm, model.kvp, model.pre_filter_hvl_mm_al)
    return replace(beam, achieved_hvl_mm_al=fit.achieved_hvl_mm_al, fitted_filtration_mm_al=fit.added_filtration_mm_al,
                   mean_energy_kev=fit.mean_energy_kev, filter_description=repr(model.flattening_filter.cache_payload()),
                   provenance={**beam.provenance, "applicator_model": model.description()})


@pytest.fixture(scope="module")
def registry():
    return discover_techniques()


@pytest.fixture(scope="module")
def kv(registry):
    return kv_case(registry)


def kv_case(registry):
    """The demo's kV plan (skin line confirmed), its Monte Carlo dose, energy and beam data."""
    planning_image, plan = confirmed_demo_case(registry)
    technique = registry.get(plan.setup.technique_id)
    dose = technique.dose_engine.compute(plan, dose_grid_axes(calibrated_image(planning_image.image, plan)),
                                         technique.commissioning)
    assert not dose.refused
    machine = technique.machine(plan.setup.machine_id)
    energy, cone = machine.energy(plan.setup.energy_id), machine.applicator(plan.setup.applicator_id)
    return planning_image, plan, technique, dose, energy, technique.dose_engine.beam_data(energy, cone, dose.ssd_cm)


@pytest.fixture(scope="module")
def ebx(registry):
    return ebx_case(registry)


def ebx_case(registry):
    """An eBx plan on the demo image (40 Gy in 8 × 5 Gy at 3 mm) with two recorded fractions: the
    first as planned, the second the next day, interrupted at half the dwell time by another RTT."""
    planning_image, plan = confirmed_demo_case(registry)
    technique = registry.get("ebx-surface")
    plan = replace(plan, setup=default_setup(technique), prescription=default_prescription(technique))
    engine = EbxDoseEngine((ESTEYA_UNIT, XOFT_UNIT), beam_source=ebx_beam)
    commissioning = load_demo_commissioning(ESTEYA_UNIT)
    dose = engine.compute(plan, dose_grid_axes(calibrated_image(planning_image.image, plan)), commissioning)
    assert not dose.refused and dose.treatment_time_min is not None
    energy, applicator = ESTEYA_UNIT.energy(plan.setup.energy_id), ESTEYA_UNIT.applicator(plan.setup.applicator_id)
    beam = engine.beam_data(energy, applicator, dose.ssd_cm)
    rx = plan.prescription
    preset = next(p for p in technique.fractionation_presets
                  if (p.fractions, p.dose_per_fraction_gy) == (rx.fractions, rx.dose_per_fraction_gy))
    planned_s = round(dose.treatment_time_min * 60, 1)      # as the window starts a course
    course = Course(rx.fractions, rx.dose_per_fraction_gy, planned_s, 7, min_interval_hours=preset.min_interval_hours,
                    schedule_source=preset.source)
    today = PRINTED_AT.date()
    course = course.record(date(2025, 3, 3), planned_s, "RTT A. Smith", today=today)
    course = course.record(date(2025, 3, 4), planned_s / 2, "RTT B. Jones", "interrupted: patient moved", today=today)
    plan = plan.with_course(course)
    return planning_image, plan, technique, dose, energy, beam, commissioning


def kv_content(kv, **kwargs):
    planning_image, plan, technique, dose, _, _ = kv
    return report_content(plan, dose, planning_image, technique, printed_at=PRINTED_AT, **kwargs)


def ebx_content(ebx, **kwargs):
    planning_image, plan, technique, dose, _, beam, commissioning = ebx
    return report_content(plan, dose, planning_image, technique, commissioning=commissioning, beam_data=beam,
                          printed_at=PRINTED_AT, **kwargs)


def pdf_pages(path: Path) -> list[str]:
    """One whitespace-normalised text per page, each read on its own (pdftotext -f N -l N)."""
    count = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True,
                                                            check=True).stdout).group(1))
    return [" ".join(subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), str(path), "-"], capture_output=True,
                                    text=True, check=True).stdout.split()) for n in range(1, count + 1)]


def layout_lines(path: Path) -> list[str]:
    """The text as laid out on the pages (pdftotext -layout), one whitespace-normalised line each:
    a table's row reads as one line."""
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return [" ".join(line.split()) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def kv_pdf(kv, tmp_path_factory):
    path = tmp_path_factory.mktemp("kv") / "report.pdf"
    write_plan_report(path, kv_content(kv, signatures=(SIGNED,)))
    return path


@pytest.fixture(scope="module")
def ebx_pdf(ebx, tmp_path_factory):
    path = tmp_path_factory.mktemp("ebx") / "report.pdf"
    write_plan_report(path, ebx_content(ebx))
    return path


# ----------------------------------------------------------------------------------- point 2: X %
def test_prescription_and_coverage_are_planner_dose_coverage_s_sentences(kv, kv_pdf, ebx, ebx_pdf):
    for (_, plan, _, dose, *_), path in ((kv, kv_pdf), (ebx, ebx_pdf)):
        pages = pdf_pages(path)
        rx = plan.prescription
        prescription = prescription_sentence(rx.dose_per_fraction_gy, rx.point, dose.dmax_gy,
                                             dose.prescription_isodose_percent)
        coverage = dose.coverage.sentence()
        # page 1, what the physician signs from; page 2, the prescription table: the same words
        assert f"Prescribed {prescription} Coverage {coverage}" in pages[0]
        assert f"Prescription {prescription} Coverage {coverage}" in pages[1]
        text = " ".join(pages)
        assert text.count(coverage) == 2          # the finding's "under-dosed: …" is in lower case when outside
        assert "at the lesion's maximum depth" not in text


def test_isodoses_and_the_pdd_are_in_percent_of_dmax_and_gy(kv, kv_pdf, ebx, ebx_pdf):
    for (_, _, _, dose, *_), path in ((kv, kv_pdf), (ebx, ebx_pdf)):
        pages = pdf_pages(path)
        dmax, rx = dose.dmax_gy, dose.prescription_isodose_percent
        assert "Isodoses, % of Dmax:" in pages[0]
        assert (f"Isodose percentages are percent of Dmax, the central-axis maximum dose per fraction. "
                f"Dmax = {dmax:.2f} Gy") in pages[0]
        for level in DMAX_LEVELS_PERCENT:
            assert f"{level} % · {level / 100 * dmax:.1f} Gy" in pages[0]
        assert f"{percent_text(rx)} · {rx / 100 * dmax:.1f} Gy (prescription)" in pages[0]
        text = " ".join(pages)
        assert "% of Dmax (surface)" in text                                      # the PDD's axis
        assert "Dmax (surface, central axis)" in text and "Surface dose (central axis)" not in text
        assert "Central-axis depth dose in % of Dmax (the surface dose)" in text
        assert f"prescription, {dose.prescription_depth_mm:.2f} mm: {percent_text(rx)}" in text   # its mark
        for level in (90, 80):
            assert f"Depth of the {level} % isodose ({level} % of Dmax, central axis)" in text   # the window's row
        assert "% of prescription" not in text and "% of the prescribed" not in text
        assert "% of the surface dose" not in text


def test_every_x_percent_in_the_report_is_percent_of_dmax(kv_pdf, ebx_pdf):
    """"X %" is an isodose, a share of Dmax or a PDD mark's isodose; a per-mm rate (%/mm, in the
    demo commissioning file's own words) is another unit and is left alone."""
    meaning = re.compile(r"\d %(?: isodose| of Dmax| · \d+\.\d Gy)")
    pdd_mark = re.compile(r"(?:prescription|point), \d+\.\d\d mm: \d+(?:\.\d)? %")
    for path in (kv_pdf, ebx_pdf):
        text = " ".join(pdf_pages(path))
        found = [m for m in re.finditer(r"\d+(?:\.\d+)? %(?!/mm)", text)]
        assert len(found) > 10
        for m in found:
            around = text[max(0, m.start() - 40):m.end() + 20]
            assert meaning.match(text, m.end() - 3) or pdd_mark.search(around), around


# ----------------------------------------------------------------------------------- point 9: HVL
def hvl_mentions(text: str) -> list[tuple[str, float]]:
    """(the word before "HVL", the value in mm Al) for every HVL the report prints."""
    return [(m.group(1), float(m.group(2))) for m in re.finditer(r"(\S+) HVL (\d+(?:\.\d+)?) mm Al", text)]


def test_one_hvl_per_quantity_the_fitted_one_named_so(kv, kv_pdf, ebx, ebx_pdf):
    kv_energy, kv_beam = kv[4:6]
    ebx_energy, ebx_beam_data = ebx[4:6]
    assert round(ebx_beam_data.achieved_hvl_mm_al, 2) != round(ebx_energy.hvl_mm_al, 2)   # the case the user met
    for path, energy, beam in ((kv_pdf, kv_energy, kv_beam), (ebx_pdf, ebx_energy, ebx_beam_data)):
        fitted = beam.achieved_hvl_mm_al
        pages = pdf_pages(path)
        text = " ".join(pages)
        measured = f"HVL {energy.hvl_mm_al:.2f} mm Al"
        assert measured in pages[0] and f"Half-value layer (HVL) {energy.hvl_mm_al:.2f} mm Al" in pages[1]
        assert f"Beam {energy.kvp:g} kV, {measured}," in text
        for before, value in hvl_mentions(text):
            if before in ("fitted", "pre-filter"):          # the spectrum fit's (the eBx model says pre-filter)
                assert round(value, 2) == round(fitted, 2), (before, value)
            else:
                assert value == pytest.approx(energy.hvl_mm_al), (before, value)
        filter_words = " before the flattening filter" if beam.filter_description else ""
        assert f"Spectrum fitted HVL {fitted:.2f} mm Al{filter_words}, with" in text


# ----------------------------------------------------------------------------------- recorded fractions
def test_recorded_fractions_are_listed_as_in_the_course_tab(ebx, ebx_pdf):

    plan = ebx[1]
    course = plan.course
    text = " ".join(pdf_pages(ebx_pdf))
    lines = layout_lines(ebx_pdf)
    assert "Treatment course (recorded fractions)" in lines
    assert course.summary() in text                   # the window's Course tab shows the same summary
    assert "Fraction Delivered on Dwell time (s) Dose (Gy) Delivered by Remarks" in lines     # the eBx word
    for record in course.records:        # date, beam-on time, the dose it gave, who delivered it, remarks
        dose_gy = course.dose_per_fraction_gy * record.dwell_time_s / course.planned_dwell_time_s
        row = (f"{record.number} {record.delivered_on.isoformat()} {record.dwell_time_s:.1f} {dose_gy:.2f} "
               f"{record.delivered_by}")
        assert [line for line in lines if line.startswith(row)], row
    assert any(f"RTT B. Jones {course.records[1].remarks}" in line for line in lines)   # on its fraction's row
    assert "Flag: fractions 1 (2025-03-03) and 2 (2025-03-04) are less than 48 h apart" in text


def test_a_plan_without_a_course_says_no_fraction_is_recorded(kv_pdf):
    assert "Treatment course (recorded fractions) No fraction recorded yet." in " ".join(pdf_pages(kv_pdf))


# ----------------------------------------------------------------------------------- page layout
def text_lines(path: Path) -> list[tuple[int, float, float, str]]:
    """(page, top, height, text) of every text line, from pdftotext's own boxes (pt, y down)."""
    xml = subprocess.run(["pdftotext", "-bbox-layout", str(path), "-"], capture_output=True, text=True,
                         check=True).stdout
    xml = xml[xml.index("<doc>"):xml.index("</doc>") + len("</doc>")]
    lines = []
    for number, page in enumerate(ElementTree.fromstring(xml).iter("page"), start=1):
        for line in page.iter("line"):
            y0, y1 = float(line.get("yMin")), float(line.get("yMax"))
            lines.append((number, y0, y1 - y0, " ".join(w.text or "" for w in line.iter("word"))))
    return lines


def stranded_headings(path: Path) -> list[str]:
    """Headings that are the last text of their page above the footer. A heading is a line as tall
    as the "Findings" heading, or the BED sub-heading."""
    lines = text_lines(path)
    heading_height = next(h for _, _, h, t in lines if t == "Findings")
    footer_top = next(y for _, y, _, t in lines if t.startswith("Patient ID:")) - 1
    stranded = []
    for page in sorted({p for p, *_ in lines}):
        body = [(y, h, t) for p, y, h, t in lines if p == page and y < footer_top]
        bottom = max(y + h for y, h, _ in body)
        for y, h, t in body:
            if y + h > bottom - 2 and (abs(h - heading_height) < 0.05 or t.startswith("BED and EQD2")):
                stranded.append(f"page {page}: {t}")
    return stranded


def test_no_heading_is_the_last_line_of_a_page(kv, ebx, tmp_path):
    """The reports, and the kV one pushed down a line at a time by notes of growing length (every
    heading passes a page foot somewhere in the sweep)."""
    contents = [ebx_content(ebx), kv_content(kv), kv_content(kv, signatures=(SIGNED,))]
    base = kv_content(kv)
    contents += [replace(base, notes=" ".join(["Checked on the ultrasound before planning: wording padding."] * n))
                 for n in range(2, 48, 4)]
    for k, content in enumerate(contents):
        path = tmp_path / f"report-{k}.pdf"
        path.write_bytes(render_plan_report(content))
        assert stranded_headings(path) == [], f"report {k}"


def test_a_stranded_heading_is_detected(tmp_path):
    """The check above finds a heading at a page's foot (a page built to end with one)."""
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Spacer

    from planner.report.pdf_report import build_pdf, draw_page_frame, report_styles

    s = report_styles()

    def story():     # room for the heading only, then a paragraph that goes to page 2
        return [Spacer(1, 690), Paragraph("Findings", s["h2"].clone("plain", keepWithNext=0)),
                Paragraph("next page", s["body"])]

    data = build_pdf(story, lambda total: lambda canvas, doc: draw_page_frame(
        canvas, doc.page, total, title="t", status_text="s", status_colour=colors.black, marks=(),
        identity="Patient ID: X", printed="p"))
    path = tmp_path / "lone.pdf"
    path.write_bytes(data)
    assert stranded_headings(path) == ["page 1: Findings"]


def test_pdd_mark_labels_never_meet(kv):
    """Label boxes from the figure's own layout: inside the plot, apart from each other, not crossed
    by another mark's line and clear of the curve, even for marks a hair apart."""
    register_fonts()
    beam = synthetic_beam()
    cases = [((0.79, 90.0), (2.70, None)), ((3.0, 86.1), (2.7, None)), ((0.79, 90.0), (0.80, None)),
             ((0.0, 100.0), (0.05, None), (0.1, None)), ((4.9, 61.0), (5.0, None))]
    for marks in cases:
        curve = DepthDoseCurve(beam.pdd, beam.pdd_uncertainty,
                               tuple(DepthMark("prescription" if p else "lesion's deepest point", z, p) for z, p in marks),
                               "")
        layout = pdd_layout(curve, 510.0)
        boxes = layout.labels
        assert len(boxes) == len(marks)
        for box in boxes:
            assert layout.x0 < box.left < box.right < layout.x0 + layout.w
            assert layout.y0 < box.bottom < box.top < layout.y0 + layout.h
        for a, b in combinations(boxes, 2):
            assert not a.intersects(b), (a, b)
        for k, box in enumerate(boxes):
            for j, (x, top) in enumerate(layout.mark_lines):
                crosses = box.left <= x <= box.right and box.bottom < top
                assert j == k or not crosses, (marks, box.text, x)
            z = np.linspace((box.left - layout.x0) / layout.w * layout.x_max_mm,
                            (box.right - layout.x0) / layout.w * layout.x_max_mm, 50)
            curve_y = layout.py(np.interp(z, *zip(*beam.pdd)))
            assert curve_y.min() > box.top or curve_y.max() < box.bottom, (marks, box.text)


# ----------------------------------------------------------------------------------- a refused dose
def test_a_refused_dose_prints_the_refusal_and_none_of_its_numbers(kv, tmp_path):
    """22 Gy to the 90 % isodose puts 24.4 Gy on the skin, over the 22.5 Gy limit: the engine
    computes the whole dose, then refuses. The report shows the refusal and withholds every number."""
    planning_image, plan, technique, *_ = kv
    plan = plan.with_prescription(Prescription(22.0, 1, plan.prescription.point))
    dose = technique.dose_engine.compute(plan, dose_grid_axes(calibrated_image(planning_image.image, plan)),
                                         technique.commissioning)
    assert dose.refused and dose.dose_grid_gy is not None and dose.coverage is not None
    path = tmp_path / "refused.pdf"
    write_plan_report(path, report_content(plan, dose, planning_image, technique, printed_at=PRINTED_AT))
    pages = pdf_pages(path)
    text = " ".join(pages)
    assert all("REFUSED" in page for page in pages)
    assert "REFUSED — NOT FOR TREATMENT" in text and "NO DOSE — REFUSED" in text
    (refusal,) = [f.message for f in dose.findings if f.severity == "refuse"]
    assert text.count(refusal) == 3                    # the banner, the time's reason and the finding: all of it
    text = text.replace(refusal, "")
    assert "Prescribed 22 Gy per fraction to the 90 % isodose Coverage not shown: the dose engine refused" in pages[0]
    for number in (f"{dose.surface_dose_gy:.2f} Gy", f"{dose.surface_dose_gy:.1f} Gy",
                   f"{dose.surface_dose_rate_gy_per_min:.3f} Gy/min", f"{dose.prescription_depth_mm:.2f} mm",
                   f"{dose.metrics.lesion_d90_gy:.2f} Gy", dose.coverage.sentence(), "Dmax =", "isodose (% of Dmax",
                   "Isodoses, % of Dmax", "prescription, "):
        assert number not in text, number
    first = render(path, tmp_path)[0]
    top, bottom, left, right = image_region(first)
    assert set(isodose_colour_pixels(first[top:bottom, left:right]).values()) == {0}     # no line drawn
