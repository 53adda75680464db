"""The IMRT plan report (report.pdf beside the exported RT Plan), read back the way a person and a
printer see it: pdftotext and pdftoppm. A coarse TG-119 plan (10 mm phantom, few iterations)."""

import ast
import hashlib
import shutil
import subprocess
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread

from planner.cli.main import main
from planner.dicom import imrt_export
from planner.dicom.imrt_export import ImrtExportError, export_imrt_plan
from planner.report.content import ReportError
from planner.report.formatting import fingerprint
from planner.report.imrt_report import (DEMO_BEAM_DATA, DEMO_CALIBRATION, DEMO_TITLE, GoalRow, imrt_report_for,
                                        write_imrt_report)
from plugins.imrt_photon import planning

ROOT = Path(__file__).resolve().parents[2]
PRINTED_AT = datetime(2025, 3, 4, 9, 30, tzinfo=timezone.utc)
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
                                   reason="poppler-utils (pdftotext, pdftoppm) is not installed")


def pdf_text(path: Path) -> list[str]:
    """One whitespace-normalised text per page (pdftotext -layout keeps a table row on one line and
    separates pages with a form feed)."""
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return [" ".join(page.split()) for page in out.split("\f") if page.strip()]


@pytest.fixture(scope="module")
def planned():
    volume = planning.tg119_phantom(10.0)
    plan = replace(planning.default_plan(volume), max_iterations=20)
    influence = planning.compute_dose_influence(volume, plan)
    result = planning.optimise_plan(volume, influence, plan)
    deliverable = planning.deliverable_plan(volume, influence, result, label="TG119 C-shape")
    dose = planning.dose_grid_gy(volume, influence, deliverable.dose_rows_gy)
    report, curves = imrt_report_for(planning, volume, influence, result, deliverable, patient_name="PHANTOM^TG119",
                                     patient_id="TG119", printed_at=PRINTED_AT)
    return volume, result, deliverable, dose, report, curves


@pytest.fixture(scope="module")
def exported(planned, tmp_path_factory):
    volume, _, deliverable, dose, report, curves = planned
    folder = tmp_path_factory.mktemp("imrt-report") / "export"
    export = export_imrt_plan(folder, volume, deliverable.mlc_plan, dose, "PHANTOM^TG119", "TG119",
                              report=report, dvh_curves=curves)
    return export


def test_the_content_holds_the_plan_in_plain_values(planned):
    _, result, deliverable, _, report, curves = planned
    plan = deliverable.mlc_plan
    assert report.patient_name == "PHANTOM, TG119" and report.patient_id == "TG119"
    assert report.prescription_text == "50 Gy in 25 × 2 Gy to PTV D95" and report.prescribed_total_gy == 50.0
    assert [b.name for b in report.beams] == [b.name for b in plan.beams]
    assert report.total_segments == sum(plan.segment_counts)
    assert report.total_mu_per_fraction == pytest.approx(plan.total_mu_per_fraction)
    assert report.beams[0].jaws_mm == (*plan.beams[0].jaws_x_mm, *plan.beams[0].jaws_y_mm)
    assert [(o.structure, o.kind, o.dose_gy) for o in report.objectives] == \
        [(o.structure, {"min_dose": "Min dose", "max_dose": "Max dose"}[o.kind], o.dose_gy) for o in result.plan.objectives]
    points = {p.structure: p for p in report.dvh_points}
    # the reported points are the sub-voxel DVH's (planner.dose.structure_dvh), as the CLI and window show
    assert points["PTV"].deliverable.d95_gy == pytest.approx(deliverable.metrics["PTV"].d95_gy)
    assert points["PTV"].deliverable.d0_03cc_gy == pytest.approx(deliverable.metrics["PTV"].d0_03cc_gy)
    assert points["Core"].optimised.d10_gy == pytest.approx(result.metrics["Core"].d10_gy)
    assert points["Core"].deliverable.d10_gy == pytest.approx(deliverable.metrics["Core"].d10_gy)
    assert [g.label for g in report.goals] == [g.label for g in planning.tg119_goals(deliverable.metrics)]
    assert DEMO_BEAM_DATA in report.beam_data_description and report.calibration_note == DEMO_CALIBRATION
    assert report.rt_plan_uid == "" and report.files_written == ()   # only the export knows them
    assert set(curves) == {"PTV", "Core", "Body"}
    assert curves["PTV"].volume_percent[0] == pytest.approx(100.0)
    # the curve and the points are one DVH: the curve crosses 95 % at D95 (within its 0.25 Gy bins)
    d95 = deliverable.metrics["PTV"].d95_gy
    assert np.interp(d95, curves["PTV"].dose_gy, curves["PTV"].volume_percent) == pytest.approx(95.0, abs=1.5)
    assert "TG-119 analytic shape" in report.dvh_text and "scaled so that PTV D95 = 50 Gy on the reported DVH" in report.normalisation_text


def test_the_export_writes_the_report_with_the_dicom_files(exported):
    assert exported.report == exported.folder / "report.pdf"
    names = sorted(p.name for p in exported.folder.iterdir())
    assert "report.pdf" in names and "RTPLAN.dcm" in names and not [n for n in names if n.startswith(".")]
    assert exported.report.read_bytes().startswith(b"%PDF")


@needs_poppler
def test_the_report_prints_banner_prescription_goals_mu_model_and_uid(planned, exported):
    _, _, deliverable, _, report, _ = planned
    pages = pdf_text(exported.report)
    assert len(pages) == 2
    first, text = pages[0], " ".join(pages)
    for page_number, page in enumerate(pages, 1):
        assert DEMO_TITLE in page and f"Page {page_number} of 2" in page and "Patient ID: TG119" in page
    assert "DEMO — NOT FOR CLINICAL USE The dose comes from DEMO beam data" in first
    assert "PHANTOM, TG119" in first and "50 Gy in 25 × 2 Gy to PTV D95" in first
    for goal in planning.tg119_goals(deliverable.metrics):
        assert f"{goal.label} {goal.value_gy:.2f} Gy {'✓ met' if goal.met else '✗ NOT met'}" in first
    assert "Dose [Gy]" in first and "Volume [%]" in first and "prescription 50 Gy" in first
    rt_plan = dcmread(exported.rt_plan)
    total_mu = sum(float(b.BeamMeterset) for b in rt_plan.FractionGroupSequence[0].ReferencedBeamSequence)
    assert f"{total_mu:.1f} MU in 9 beams" in first
    assert f"Total {sum(deliverable.mlc_plan.segment_counts)} {total_mu:.1f} MU × 25 fractions" in pages[1]
    beam = deliverable.mlc_plan.beams[0]
    assert (f"{beam.name} {beam.gantry_deg:g}° {len(beam.segments)} {beam.meterset_mu:.1f} MU "
            f"{beam.jaws_x_mm[0]:.1f} mm {beam.jaws_x_mm[1]:.1f} mm") in pages[1]
    assert DEMO_BEAM_DATA in text and DEMO_CALIBRATION in text and "6 MV pencil beam, SVD kernels" in text
    assert rt_plan.SOPInstanceUID == exported.rt_plan_uid
    assert f"RT Plan UID {exported.rt_plan_uid}" in first
    # the objectives and both DVH points per structure, each value with its unit
    assert "Core Max dose 8 Gy — 300" in pages[1]
    ptv = next(p for p in report.dvh_points if p.structure == "PTV")
    o, d = ptv.optimised, ptv.deliverable
    assert "DVH points in Gy: optimised and deliverable (whole course) Structure Dose Volume D98 D95 D10 D2 " \
        "D0.03cc Mean" in pages[1]
    assert (f"PTV optimised {o.volume_cc:.1f} cc {o.d98_gy:.2f} {o.d95_gy:.2f} {o.d10_gy:.2f} {o.d2_gy:.2f} "
            f"{o.d0_03cc_gy:.2f} {o.mean_gy:.2f} deliverable (leaf-sequenced) {d.volume_cc:.1f} cc "
            f"{d.d98_gy:.2f} {d.d95_gy:.2f}") in pages[1]
    assert "DVH structures sampled below the dose voxel" in pages[1] and "0.5 × 0.5 × 0.5 mm lattice" in pages[1]
    # the files as they were moved into place, with the SHA-256 of the bytes now in the folder
    digest = fingerprint(hashlib.sha256(exported.rt_plan.read_bytes()).hexdigest())
    assert "RTPLAN.dcm" in pages[1] and digest.replace(":", "") in pages[1].replace(":", "").replace(" ", "")


@needs_poppler
def test_page_one_shows_the_red_banner_and_the_dvh(exported, tmp_path):
    subprocess.run(["pdftoppm", "-r", "30", "-png", "-f", "1", "-l", "1", str(exported.report), str(tmp_path / "p")],
                   check=True)
    (png,) = tmp_path.glob("p*.png")
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    red = (pixels[..., 0] > 150) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    rows = np.flatnonzero(red.any(axis=1))
    assert rows.size and rows.min() < pixels.shape[0] * 0.05, "the DEMO band on top of the page"
    blue = (pixels[..., 2] > 120) & (pixels[..., 0] < 80)     # the core's DVH curve
    assert np.flatnonzero(blue.any(axis=1)).min() > pixels.shape[0] * 0.45, "the DVH in the page's lower half"


@needs_poppler
def test_a_goal_not_met_says_so_in_words(planned, tmp_path):
    report, curves = planned[4], planned[5]
    failing = replace(report, goals=(GoalRow("Core D10 ≤ 10 Gy (harder goal)", 12.345, False),))
    write_imrt_report(tmp_path / "r.pdf", failing, curves)
    assert "Core D10 ≤ 10 Gy (harder goal) 12.35 Gy ✗ NOT met" in pdf_text(tmp_path / "r.pdf")[0]


@needs_poppler
def test_page_one_lists_the_findings_of_the_deliverable_dose(planned, tmp_path):
    volume, _, deliverable, dose, report, curves = planned
    # the deliverable dose's hot-spot check, with the body outside the PTV against the prescription
    assert report.hot_spot_text.startswith(("Hot spot outside the target: ", "No hot spot outside the target: "))
    assert "Body outside PTV D0.03cc " in report.hot_spot_text and " % of 50 Gy)" in report.hot_spot_text
    assert bool(report.findings) == report.hot_spot_text.startswith("Hot spot")
    message = ("Hot spot outside the target: Body D0.03cc 56.30 Gy is above PTV D0.03cc 55.90 Gy (both at the "
               "Body's samples); Body outside PTV D0.03cc 56.10 Gy")
    write_imrt_report(tmp_path / "hot.pdf", replace(report, findings=(message,), hot_spot_text=message), curves)
    assert f"Findings of the deliverable dose ⚠ {message}" in pdf_text(tmp_path / "hot.pdf")[0]
    none = "No hot spot outside the target: the Body's hottest 0.03 cc (D0.03cc 55.90 Gy) lies inside PTV"
    write_imrt_report(tmp_path / "none.pdf", replace(report, findings=(), hot_spot_text=none), curves)
    assert f"Findings of the deliverable dose {none}" in pdf_text(tmp_path / "none.pdf")[0]


def test_a_report_failure_writes_nothing_at_all(planned, tmp_path, monkeypatch):
    volume, _, deliverable, dose, report, curves = planned

    def broken(path, content, dvh_curves=None):
        Path(path).write_bytes(b"%PDF-1.4 half")   # a partial file, then the failure
        raise ReportError("no room for the DVH")

    monkeypatch.setattr(imrt_export, "write_imrt_report", broken)
    with pytest.raises(ImrtExportError, match="the report could not be made .no room for the DVH.; nothing was written"):
        export_imrt_plan(tmp_path / "a", volume, deliverable.mlc_plan, dose, "PHANTOM^TG119", "TG119",
                         report=report, dvh_curves=curves)
    assert not (tmp_path / "a").exists()
    # any other failure of the writer too: the folder that existed before stays empty
    (tmp_path / "b").mkdir()
    monkeypatch.setattr(imrt_export, "write_imrt_report", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        export_imrt_plan(tmp_path / "b", volume, deliverable.mlc_plan, dose, "PHANTOM^TG119", "TG119",
                         report=report, dvh_curves=curves)
    assert list((tmp_path / "b").iterdir()) == []


def test_a_report_of_another_plan_or_patient_is_refused(planned, tmp_path):
    volume, _, deliverable, dose, report, curves = planned
    plan = deliverable.mlc_plan
    changed = replace(plan, beams=(replace(plan.beams[0], meterset_mu=plan.beams[0].meterset_mu * 1.1),
                                   *plan.beams[1:]))
    with pytest.raises(ImrtExportError, match="not the exported plan's"):
        export_imrt_plan(tmp_path / "a", volume, changed, dose, "PHANTOM^TG119", "TG119", report=report)
    with pytest.raises(ImrtExportError, match="report is for patient ID 'TG119', the exported files for 'OTHER'"):
        export_imrt_plan(tmp_path / "b", volume, plan, dose, "OTHER^ONE", "OTHER", report=report, dvh_curves=curves)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_command_line_writes_the_report(tmp_path, capsys):
    out = tmp_path / "plan"
    assert main(["imrt", "--tg119", "--grid-mm", "10", "--iterations", "5", "--out", str(out)]) == 0
    assert "report.pdf" in capsys.readouterr().out
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


def test_the_report_module_imports_no_plugin_and_no_qt():
    tree = ast.parse((ROOT / "planner" / "report" / "imrt_report.py").read_text(encoding="utf-8"))
    modules = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    modules += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    assert not [m for m in modules if m.split(".")[0] in ("plugins", "PySide6", "pyqtgraph")]
    assert not [m for m in modules if m.startswith("planner.ui")]


@needs_poppler
def test_a_protocols_goals_replace_tg119s_with_priority_and_watched_organs(planned, tmp_path):
    from planner.core.protocols.goals import GoalReport, GoalResult
    from planner.core.protocols.protocol import load_protocol
    from planner.report.imrt_report import ProtocolGoals

    sbrt = load_protocol("spine-sbrt-16gy-1fx")   # goals: cord D0.03cc ≤ 14, D0.35cc ≤ 10 Gy, PTV V16Gy ≥ 90 %
    rows = (GoalResult("D0.03cc", "SpinalCord", 13.996, "Gy", 14.0, True, 1),
            GoalResult("D0.35cc", "SpinalCord", 10.5, "Gy", 10.0, False, 1),
            GoalResult("V16Gy", "PTV", 88.04, "%", 90.0, False, 2),
            GoalResult("D0.03cc", "Esophagus", 7.5, "Gy", None, None, None),
            GoalResult("Dmean", "Esophagus", 2.25, "Gy", None, None, None))
    warning = "Myelon (SpinalCord) has no dose limit in protocol x: its dose is shown, not judged"
    goals = ProtocolGoals.of(sbrt, GoalReport(rows, (warning,)))
    report, curves = planned[4], planned[5]
    write_imrt_report(tmp_path / "p.pdf", replace(report, goals=(), protocol_goals=goals), curves)
    page = pdf_text(tmp_path / "p.pdf")[0]
    assert ("Clinical goals of the deliverable dose (after leaf sequencing): spine-sbrt-16gy-1fx version 1: "
            "Spine SBRT after RTOG 0631: 16 Gy in 1 fraction") in page
    assert "1 SpinalCord D0.03cc ≤ 14 Gy 14.00 Gy ✓ met" in page
    assert "1 SpinalCord D0.35cc ≤ 10 Gy 10.50 Gy ✗ NOT met" in page
    assert "2 PTV V16Gy ≥ 90 % 88.0 % ✗ NOT met" in page
    assert "— Esophagus D0.03cc 7.50 Gy no goal: shown" in page and "— Esophagus Dmean 2.25 Gy no goal: shown" in page
    assert f"⚠ {warning}" in page
    assert "TG-119 goals" not in page
