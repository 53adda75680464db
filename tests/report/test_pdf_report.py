"""The PDF plan report, read back the way a person and a printer see it: pdftotext and pdftoppm."""

import errno
import os
import subprocess
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from planner.core.clinic_settings import ClinicSettings
from planner.core.prescription import Prescription, PrescriptionPoint
from planner.core.radiobiology import bed_gy, eqd2_gy
from planner.dose.coverage import prescription_sentence
from planner.dose.grid_axes import dose_grid_axes
from planner.dose.plan_checks import Finding
from planner.dose.result import DWELL_TIME, DoseResult
from planner.imaging.planning_image import calibrated_image
from planner.report import (AUTHORIZATION, CREATOR, PlanStatus, ReportError, SignatureLine, report_content,
                            write_plan_report)
from planner.report import pdf_figures
from planner.techniques import discover_techniques
from planner.techniques.new_plan import open_demo_case
from tests.dose.kv_fixtures import synthetic_beam

PRINTED_AT = datetime(2025, 3, 4, 9, 30, tzinfo=timezone.utc)
SIGNED = SignatureLine(CREATOR, "Dr Ada Oncologist", datetime(2025, 3, 4, 10, 15, tzinfo=timezone.utc), True,
                       fingerprint_sha256="0a" * 32, test_certificate=True)
BROKEN = SignatureLine(AUTHORIZATION, "Bo Physicist", datetime(2025, 3, 4, 11, 0, tzinfo=timezone.utc), False,
                       problem="the signed bytes changed (digest mismatch)", fingerprint_sha256="c7" * 32)


def confirmed_demo_case(registry):
    """The demo case with its skin line confirmed, as the user does before planning: the detected
    line carries doubts, and no depth is measured from an unconfirmed line (the dose is refused)."""
    planning_image, plan = open_demo_case(registry)
    return planning_image, plan.with_skin_surface(plan.skin_surface.confirm())


@pytest.fixture(scope="module")
def demo():
    """The demo case with its real kV dose (Monte Carlo beam data from the session cache)."""
    registry = discover_techniques()
    planning_image, plan = confirmed_demo_case(registry)
    technique = registry.get(plan.setup.technique_id)
    image = calibrated_image(planning_image.image, plan)
    dose = technique.dose_engine.compute(plan, dose_grid_axes(image), technique.commissioning)
    return registry, planning_image, plan, technique, dose


def pdf_text(path: Path) -> list[str]:
    """One whitespace-normalised text per page (pdftotext separates pages with a form feed)."""
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return [" ".join(page.split()) for page in out.split("\f") if page.strip()]


def render(path: Path, folder: Path, dpi: int = 60) -> list[np.ndarray]:
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(path), str(folder / "page")], check=True)
    return [np.asarray(Image.open(p).convert("RGB")).astype(int) for p in sorted(folder.glob("page-*.png"))]


def longest_run(mask) -> tuple[int, int]:
    best, start = (0, 0), None
    for i, inside in enumerate([*mask, False]):
        if inside and start is None:
            start = i
        elif not inside and start is not None:
            best, start = max(best, (start, i), key=lambda run: run[1] - run[0]), None
    return best


def image_region(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the ultrasound on a rendered page: the tallest block of rows,
    then the widest block of columns, that are mostly ink (the image has no white, the page is white)."""
    ink = rgb.mean(axis=2) < 235
    top, bottom = longest_run(ink.mean(axis=1) > 0.3)
    left, right = longest_run(ink[top:bottom].mean(axis=0) > 0.5)
    return top, bottom, left, right


def isodose_colour_pixels(region: np.ndarray) -> dict[str, int]:
    """Pixels of three of the window's isodose colours (% of Dmax), allowing for anti-aliasing into
    the grey image at 60 dpi; the skin (green), outline (magenta) and applicator (violet) do not count."""
    r, g, b = region[..., 0], region[..., 1], region[..., 2]
    return {"90 % orange": int(((r > 150) & (g > 0.45 * r) & (g < 0.8 * r) & (b < 0.35 * r)).sum()),  # #ff9a00
            "80 % yellow": int(((r > 180) & (g > 180) & (b < 0.45 * r) & (abs(r - g) < 40)).sum()),   # #fff200
            "20 % blue": int(((b > 150) & (b - r > 70) & (b - g > 70)).sum())}                         # #3c78ff


def write(tmp_path, *args, name="report.pdf", **kwargs) -> Path:
    path = tmp_path / name
    write_plan_report(path, report_content(*args, printed_at=PRINTED_AT, **kwargs))
    return path


def test_demo_report_prints_what_the_physician_signs_from(demo, tmp_path):
    _, planning_image, plan, technique, dose = demo
    path = write(tmp_path, plan, dose, planning_image, technique, signatures=(SIGNED, BROKEN))
    pages = pdf_text(path)
    text = " ".join(pages)
    t = dose.treatment_time_min
    rx = plan.prescription
    assert "DEMO-0001" in text and plan.label in text
    assert f"Treatment time per fraction {t:.2f} min ({t * 60:.0f} s)" in text      # the dose panel's format
    assert f"{rx.dose_per_fraction_gy:g} Gy × 1 fraction = {rx.total_dose_gy:g} Gy total" in text
    assert prescription_sentence(rx.dose_per_fraction_gy, rx.point, dose.dmax_gy,
                                 dose.prescription_isodose_percent) in text
    assert f"Coverage {dose.coverage.sentence()}" in text
    for alpha_beta, name in ((10.0, "tumour"), (3.0, "late skin effects")):
        assert (f"{alpha_beta:g} Gy ({name}) {bed_gy(rx, alpha_beta):.2f} Gy {eqd2_gy(rx, alpha_beta):.2f} Gy"
                in text)
    energy = technique.machine(plan.setup.machine_id).energy(plan.setup.energy_id)
    assert f"Half-value layer (HVL) {energy.hvl_mm_al:.2f} mm Al" in text
    assert f"Source-to-surface distance (SSD) {dose.ssd_cm:g} cm" in text
    assert "Lesion D90" in text and f"{dose.metrics.lesion_d90_gy:.2f} Gy" in text
    assert "DEMO COMMISSIONING — NOT FOR CLINICAL USE" in text
    assert "Warning: DEMO commissioning" in text                                     # the engine's finding too
    assert "B_w" in text and dose.model_description.split(";")[0] in text
    # signatures: status, each signer, the broken one named with its problem, fingerprints, TEST mark
    assert "Plan status: SIGNATURE BROKEN" in text and "SIGNATURE BROKEN — DO NOT TREAT" in text
    assert "Dr Ada Oncologist" in text and "Bo Physicist" in text
    assert "SIGNATURE BROKEN: the signed bytes changed (digest mismatch)" in text
    assert "Certificate SHA-256: " + ":".join(["0A"] * 32) in text
    assert "Certificate SHA-256: " + ":".join(["C7"] * 32) in text
    assert "TEST CERTIFICATE — NOT A CLINICAL SIGNATURE" in text
    assert "Physician (radiation oncologist)" in text and "Medical physicist" in text
    # every page: its number of the total, the patient ID and the loud marks
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        assert "Patient ID: DEMO-0001" in page
        assert "SIGNATURE BROKEN · DEMO COMMISSIONING · TEST CERTIFICATE" in page


def test_pages_render_with_the_image_and_its_isodose_colours(demo, tmp_path):
    _, planning_image, plan, technique, dose = demo
    path = write(tmp_path, plan, dose, planning_image, technique)
    pages = render(path, tmp_path)
    assert len(pages) == len(pdf_text(path)) >= 3
    first = pages[0]
    grey = first.mean(axis=2)
    assert grey.std() > 30 and (grey < 200).mean() > 0.1                              # not a blank page
    top, bottom, left, right = image_region(first)
    region = first[top:bottom, left:right]
    assert region.shape[0] > 100 and region.shape[1] > 300
    for name, count in isodose_colour_pixels(region).items():
        assert count > 20, f"no {name} isodose pixels in the image region"


def test_status_follows_the_signatures(demo):
    _, planning_image, plan, technique, dose = demo

    def status(**kw):
        return report_content(plan, dose, planning_image, technique, printed_at=PRINTED_AT, **kw).status

    assert status() is PlanStatus.DRAFT
    assert status(signatures=(SIGNED,)) is PlanStatus.SIGNED
    assert status(signatures=(SIGNED, replace(BROKEN, valid=True))) is PlanStatus.APPROVED
    assert status(signatures=(SIGNED, BROKEN)) is PlanStatus.SIGNATURE_BROKEN
    with pytest.raises(ReportError, match="contradicts the signatures"):
        status(signatures=(SIGNED, BROKEN), status=PlanStatus.APPROVED)      # a broken signature is never hidden
    with pytest.raises(ReportError, match="contradicts"):
        status(status=PlanStatus.SIGNED)                                        # "signed" needs a signature to show
    with pytest.raises(ReportError, match="SHA-256"):
        SignatureLine(CREATOR, "X", PRINTED_AT, True, fingerprint_sha256="abc")


def ebx_plan_and_dose(plan, image, time_min=2.5):
    """An eBx plan on the demo image with a hand-made dose (the eBx engine is not in yet)."""
    plan = replace(plan.with_setup(technique_id="ebx-surface", machine_id="esteya-class", energy_id="69.5kV",
                                   applicator_id="applicator-15mm"),
                   prescription=Prescription(5.0, 8, PrescriptionPoint.at_depth(3.0)),
                   label="Left cheek <2 cm> & nose")
    x, y = dose_grid_axes(image)
    depth = y[:, None] - plan.skin_surface.depth_at(x)[None, :]
    grid = np.where(depth >= 0, 7.0 * np.exp(-0.1 * depth), 0.0) * (np.abs(x - plan.cone_axis_x_mm) < 7.5)[None, :]
    dose = DoseResult(dose_grid_gy=grid, x_mm=x, y_mm=y, cone_axis_x_mm=plan.cone_axis_x_mm,
                      prescription_point=plan.prescription.point, prescribed_dose_gy=5.0, surface_dose_gy=7.0,
                      prescription_depth_mm=3.0, dose_at_prescription_depth_gy=5.19,
                      surface_dose_rate_gy_per_min=2.8, treatment_time_min=time_min, treatment_time_reason=None,
                      absolute=None, metrics=None, findings=(Finding("warn", "hand-made test dose", "test"),),
                      model_description="hand-made exponential test dose", time_name=DWELL_TIME, ssd_cm=6.0)
    return plan, dose


def test_ebx_report_says_dwell_time(demo, tmp_path):
    registry, planning_image, plan, _, _ = demo
    plan, dose = ebx_plan_and_dose(plan, calibrated_image(planning_image.image, plan))
    beam = synthetic_beam(kvp=69.5, hvl_mm_al=1.85, diameter_mm=15.0, ssd_cm=6.0)   # spares the eBx Monte Carlo
    path = write(tmp_path, plan, dose, planning_image, registry.get("ebx-surface"), beam_data=beam)
    text = " ".join(pdf_text(path))
    assert "Dwell time per fraction 2.50 min (150 s)" in text
    assert "Treatment time" not in text
    assert "Left cheek <2 cm> & nose" in text                      # printed as typed, never read as markup
    assert "5 Gy × 8 fractions = 40 Gy total" in text and "at 3 mm depth" in text
    assert "Energy 69.5 kV" in text and "Half-value layer (HVL) 1.85 mm Al" in text
    assert "Source-to-surface distance (SSD) 6 cm" in text
    assert "Central-axis depth dose in % of Dmax (the surface dose), 69.5 kV, HVL 1.85 mm Al" in text
    with pytest.raises(ReportError, match="beam data are for 50 kV"):
        report_content(plan, dose, planning_image, registry.get("ebx-surface"), beam_data=synthetic_beam())
    assert "Plan status: DRAFT (unsigned)" in text and "No digital signature" in text


def test_a_refused_plan_is_reported_as_refused(demo, tmp_path):
    _, planning_image, plan, technique, _ = demo
    plan = plan.with_skin_surface(None)                      # no depth can be measured
    image = calibrated_image(planning_image.image, plan)
    dose = technique.dose_engine.compute(plan, dose_grid_axes(image), technique.commissioning)
    assert dose.refused and dose.dose_grid_gy is None
    path = write(tmp_path, plan, dose, planning_image, technique)
    pages = pdf_text(path)
    assert all("REFUSED" in page for page in pages)
    text = " ".join(pages)
    assert "REFUSED — NOT FOR TREATMENT" in text and "NO DOSE — REFUSED" in text
    assert "Treatment time per fraction not available: " in text and "Refused: no skin surface on the image" in text
    rendered = render(path, tmp_path)
    assert len(rendered) == len(pages)
    top, bottom, left, right = image_region(rendered[0])
    colours = isodose_colour_pixels(rendered[0][top:bottom, left:right])
    assert colours["90 % orange"] == colours["20 % blue"] == 0          # no isodose drawn without a dose


def test_what_cannot_be_reported_says_why(demo):
    _, planning_image, plan, technique, dose = demo
    with pytest.raises(ReportError, match="no image"):
        report_content(plan, dose, None, technique)
    with pytest.raises(ReportError, match="no dose"):
        report_content(plan, None, planning_image, technique)
    stale = plan.with_prescription(Prescription(20.0, 1, plan.prescription.point))
    with pytest.raises(ReportError, match="recompute the dose"):
        report_content(stale, dose, planning_image, technique)
    unscaled = replace(planning_image.image, calibration=None)
    with pytest.raises(ReportError, match="no mm scale"):
        report_content(plan, dose, unscaled, technique)


def test_a_failed_write_leaves_the_old_report_intact(demo, tmp_path, monkeypatch):
    _, planning_image, plan, technique, dose = demo
    content = report_content(plan, dose, planning_image, technique, printed_at=PRINTED_AT)
    path = tmp_path / "report.pdf"
    write_plan_report(path, content)
    old = path.read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:      # the new bytes are written to the temporary file, then the disk fills
        m.setattr(os, "fsync", disk_full)
        with pytest.raises(ReportError, match="cannot write the report"):
            write_plan_report(path, content)

    def broken_drawing(self):
        raise RuntimeError("drawing failed on page 1")

    with monkeypatch.context() as m:      # drawing fails part-way through the document
        m.setattr(pdf_figures.UltrasoundFigure, "draw", broken_drawing)
        with pytest.raises(RuntimeError, match="drawing failed"):
            write_plan_report(path, content)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]     # no temporary file left behind


def test_a_plan_signed_by_the_physician_alone_says_unreviewed_where_the_clinic_treats_before_review(
        demo, tmp_path, private_user_folders):
    _, planning_image, plan, technique, dose = demo
    early = ClinicSettings(treat_before_review=True, source="/etc/planner/clinic.toml")
    pages = pdf_text(write(tmp_path, plan, dose, planning_image, technique, signatures=(SIGNED,), clinic=early))
    assert ("UNREVIEWED — treated before the physics review by clinic policy (/etc/planner/clinic.toml)"
            in " ".join(pages))
    assert all("UNREVIEWED" in page for page in pages)                   # the mark in every page's header
    approved = (SIGNED, replace(BROKEN, valid=True))
    for signatures, clinic in (((SIGNED,), ClinicSettings()), (approved, early)):
        text = " ".join(pdf_text(write(tmp_path, plan, dose, planning_image, technique, signatures=signatures,
                                       clinic=clinic, name="other.pdf")))
        assert "UNREVIEWED" not in text
    settings = private_user_folders[1] / "clinic.toml"                  # not given: the clinic's file decides
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("treat_before_review = maybe\n", encoding="utf-8")
    with pytest.raises(ReportError, match="the clinic settings .* are not valid TOML"):
        report_content(plan, dose, planning_image, technique, signatures=(SIGNED,))
