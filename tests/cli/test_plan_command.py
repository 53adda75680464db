"""`planner plan`: the demo planned from the command line gives the whole, valid set of files; an
impossible input is one line and exit 2; a failure after the export leaves no partial set."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from planner.cli.main import InputError, main
from planner.cli.plan_command import choose_unit, read_outline
from planner.core.plan_file import load_plan
from planner.techniques import discover_techniques
from tests.cli_runner import planner

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo" / "demo_ultrasound.dcm"
PACKAGE_FILES = {"RTPLAN.dcm", "RTSTRUCT.dcm", "RTDOSE.dcm", "US.dcm", "report.pdf", "plan.json"}
KV_50_CONE_15 = ("--technique", "superficial-kv", "--energy-kv", "50", "--applicator-mm", "15")
SEVEN_GY_BY_FIVE = ("--dose-per-fraction-gy", "7", "--fractions", "5")




def plan_args(out, *extra, outline=("--auto-outline",), unit=KV_50_CONE_15, rx=SEVEN_GY_BY_FIVE):
    return ("plan", "--image", DEMO, *outline, *unit, *rx, *extra, "--out", out)


@pytest.fixture(scope="module")
def demo_plan(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-plan") / "plan"
    # module scope runs before the per-test PLANNER_DATA_DIR: the audit log is named, never the user's
    result = planner(*plan_args(out, "--audit-db", out.parent / "audit.sqlite"))
    assert result.returncode == 0, result.stderr
    return out, result


def test_the_demo_plan_writes_the_package_and_says_time_and_demo(demo_plan):
    out, result = demo_plan
    assert {p.name for p in out.iterdir()} == PACKAGE_FILES   # the DICOM image copied as US.dcm, no temporaries
    assert (out / "US.dcm").read_bytes() == DEMO.read_bytes()
    assert "treatment time per fraction" in result.stdout and "DEMO" in result.stdout
    for name in PACKAGE_FILES:
        assert str(out / name) in result.stdout
    assert result.stderr == ""


def test_the_rt_plan_holds_the_chosen_beam_and_passes_dciodvfy(demo_plan):
    out, result = demo_plan
    ds = pydicom.dcmread(out / "RTPLAN.dcm")
    beam = ds.BeamSequence[0]
    assert float(beam.ControlPointSequence[0].NominalBeamEnergy) == pytest.approx(0.050)   # MeV: 50 kVp
    assert beam.ApplicatorSequence[0].ApplicatorID == "cone-15mm"
    assert beam.ApplicatorSequence[0].ApplicatorGeometrySequence[0].ApplicatorOpening == pytest.approx(15.0)
    fractions = ds.FractionGroupSequence[0]
    assert fractions.NumberOfFractionsPlanned == 5
    minutes = float(fractions.ReferencedBeamSequence[0].BeamMeterset)
    assert f"{minutes:.2f} min ({minutes * 60:.0f} s)" in result.stdout        # the printed time is the exported
    assert "DEMO" in ds.RTPlanLabel
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (dicom3tools) is not installed")
    run = subprocess.run(["dciodvfy", str(out / "RTPLAN.dcm")], capture_output=True, text=True, timeout=60)
    errors = [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]
    assert errors == []


def test_the_report_is_a_pdf_and_the_plan_file_reloads(demo_plan):
    out, _ = demo_plan
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    plan = load_plan(out / "plan.json")
    assert (plan.setup.technique_id, plan.setup.energy_id, plan.setup.applicator_id) == \
        ("superficial-kv", "50kV", "cone-15mm")
    assert (plan.prescription.dose_per_fraction_gy, plan.prescription.fractions) == (7.0, 5)
    assert plan.prescription.point.mode == "isodose"                 # the kV convention without a depth
    # the proposed outline is the demo lesion (8.95 mm wide, about 2.6 mm below the skin)
    assert plan.outline.lateral_width_mm == pytest.approx(8.95, abs=1.0)
    assert plan.outline.max_depth_below_skin_mm(plan.skin_surface.depth_at) == pytest.approx(2.6, abs=0.3)
    assert json.loads((out / "plan.json").read_text())["calculation_record"]["treatment_time_min"] > 0


def test_a_csv_outline_and_a_depth_are_planned_as_given(demo_plan, tmp_path):
    vertices = load_plan(demo_plan[0] / "plan.json").outline.vertices_mm
    outline = tmp_path / "lesion.csv"
    outline.write_text("x_mm,y_mm  # lateral, depth\n" + "".join(f"{x},{y}\n" for x, y in vertices))
    out = tmp_path / "out"
    result = planner(*plan_args(out, "--prescribe-depth-mm", "2", outline=("--outline", outline)))
    assert result.returncode == 0, result.stderr
    plan = load_plan(out / "plan.json")
    assert np.allclose(plan.outline.vertices_mm, vertices)
    assert (plan.prescription.point.mode, plan.prescription.point.depth_mm) == ("depth", 2.0)
    assert "at 2 mm depth" in result.stdout


def test_a_json_outline_reads_a_list_or_a_plan_file(demo_plan, tmp_path):
    vertices = load_plan(demo_plan[0] / "plan.json").outline.vertices_mm
    as_list = tmp_path / "outline.json"
    as_list.write_text(json.dumps([list(v) for v in vertices]))
    assert read_outline(as_list).vertices_mm == read_outline(demo_plan[0] / "plan.json").vertices_mm == vertices
    broken = tmp_path / "broken.csv"
    broken.write_text("1,2\n3,4\nfive,6\n")
    with pytest.raises(InputError, match="line 3"):
        read_outline(broken)


def test_ebx_picks_the_machine_offering_the_energy_and_applicator():
    ebx = discover_techniques().get("ebx-surface")
    machine, energy, applicator = choose_unit(ebx, 50, 35)
    assert (energy.kvp, applicator.diameter_mm) == (50.0, 35.0) and machine is ebx.machines[1]
    assert choose_unit(ebx, 69.5, 20)[0] is ebx.machines[0]
    with pytest.raises(InputError) as refused:
        choose_unit(ebx, 50, 25)
    assert "no machine has both" in str(refused.value) and "10, 20, 35, 50" in str(refused.value)


@pytest.mark.parametrize("change, expected", [
    ({"unit": ("--technique", "superficial-kv", "--energy-kv", "50", "--applicator-mm", "12")},
     "offered: srt100-class: 50, 70, 100 kV with Ø 15, 20, 25, 30, 40, 50 mm"),
    ({"unit": ("--technique", "superficial-kv", "--energy-kv", "80", "--applicator-mm", "15")}, "no such energy"),
    ({"unit": ("--technique", "imrt", "--energy-kv", "50", "--applicator-mm", "15")}, "no treatment technique"),
    ({"outline": ("--outline", "no-such-outline.csv")}, "cannot read the outline file"),
    ({"rx": ("--dose-per-fraction-gy", "-7", "--fractions", "5")}, "above 0 Gy"),
    ({"rx": ("--dose-per-fraction-gy", "7", "--fractions", "0")}, "at least 1"),
    ({"rx": ("--dose-per-fraction-gy", "150", "--fractions", "1")},
     "150 Gy in 1 × 150 Gy is refused: more than 100 Gy in total"),
    ({"rx": ("--dose-per-fraction-gy", "3", "--fractions", "5")},
     "outside the published regimens of Superficial kV X-rays (IGSRT)"),
    ({"rx": ("--dose-per-fraction-gy", "1e6", "--fractions", "1")}, "is refused: more than 100 Gy in total"),
], ids=["applicator-not-offered", "energy-not-offered", "unknown-technique", "outline-missing",
        "negative-dose", "no-fractions", "nonsense-total", "unusual-regimen", "scientific-notation"])
def test_an_impossible_input_is_one_line_exit_2_and_writes_nothing(tmp_path, change, expected):
    out = tmp_path / "out"
    result = planner(*plan_args(out, **change))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("planner plan: ") and result.stderr.count("\n") == 1
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_a_picture_without_a_scale_is_calibrated_by_hand_and_exported_with_its_us_copy(tmp_path):
    from planner.imaging.planning_image import load_planning_image
    from tests.dicom.export_fixtures import write_png

    picture = tmp_path / "lesion.png"
    write_png(picture, load_planning_image(DEMO).image.frames[0])
    refused = planner("plan", "--image", picture, "--auto-outline", *KV_50_CONE_15, *SEVEN_GY_BY_FIVE,
                      "--patient-id", "PNG-0001", "--out", tmp_path / "refused")
    assert refused.returncode == 2 and "no mm scale" in refused.stderr
    out = tmp_path / "out"
    result = planner("plan", "--image", picture, "--known-distance-mm", "10", "--known-distance-pixels", "400",
                     "--patient-id", "PNG-0001", "--patient-name", "Photo^Pat", "--auto-outline", *KV_50_CONE_15,
                     *SEVEN_GY_BY_FIVE, "--out", out)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == PACKAGE_FILES
    plan = load_plan(out / "plan.json")
    assert plan.patient_id == "PNG-0001" and plan.manual_calibration.mm_per_pixel == pytest.approx(0.025)
    assert pydicom.dcmread(out / "RTPLAN.dcm").PatientID == "PNG-0001"


def test_a_plan_the_dose_engine_refuses_is_exit_2_with_its_reason(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text("-10,1.5\n10,1.5\n10,3\n-10,3\n")                    # 20 mm wide, the cone is 15 mm
    result = planner(*plan_args(tmp_path / "out", outline=("--outline", wide)))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "refuses" in result.stderr and "narrower than the lesion" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_patient_id_never_replaces_the_one_the_image_carries(tmp_path):
    result = planner(*plan_args(tmp_path / "out", "--patient-id", "SOMEONE-ELSE"))
    assert result.returncode == 2 and "DEMO-0001" in result.stderr and not (tmp_path / "out").exists()


def test_a_folder_holding_an_export_is_refused_and_left_as_it_was(demo_plan):
    out, _ = demo_plan
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = planner(*plan_args(out))
    assert result.returncode == 2 and "already holds a plan" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_report_that_fails_leaves_no_files(tmp_path, monkeypatch, capsys):
    from planner.dicom import package
    from planner.report import ReportError

    def refuse(path, content):
        raise ReportError("the printer driver is on fire")

    monkeypatch.setattr(package, "write_plan_report", refuse)           # write_plan_package's report
    out = tmp_path / "out"
    assert main([str(a) for a in plan_args(out)]) == 1
    assert "the printer driver is on fire" in capsys.readouterr().err
    assert not out.exists()


def test_a_write_that_fails_after_the_export_removes_the_whole_set(tmp_path, monkeypatch, capsys):
    from planner.dicom import package

    def disk_full(path, plan, record):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(package, "save_plan", disk_full)               # plan.json, the last file
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file stays")
    assert main([str(a) for a in plan_args(out)]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_each_prescription_mode_has_one_meaning_in_the_json(demo_plan, tmp_path):
    # the same outline and unit, prescribed three ways; Dmax by hand from each mode's definition
    outline = ("--outline", demo_plan[0] / "plan.json")
    results = {}
    for mode in (("--prescribe-surface",), ("--prescribe-depth-mm", "1"), ("--prescribe-isodose-percent", "80")):
        out = tmp_path / mode[0].strip("-")
        run = planner(*plan_args(out, *mode, "--json", outline=outline))
        assert run.returncode == 0, run.stderr
        results[mode[0]] = json.loads(run.stdout)
    surface, depth, isodose = (results[k] for k in ("--prescribe-surface", "--prescribe-depth-mm",
                                                     "--prescribe-isodose-percent"))
    assert surface["dmax_gy"] == pytest.approx(7.0) and surface["prescription_isodose_percent"] == 100.0
    assert isodose["dmax_gy"] == pytest.approx(7.0 / 0.80) and isodose["prescription_isodose_percent"] == 80.0
    # at 1 mm the prescription isodose is the PDD there, so Dmax = 7 Gy / (PDD(1 mm)/100)
    assert depth["dose_at_prescription_depth_gy"] == pytest.approx(7.0)
    assert depth["dmax_gy"] == pytest.approx(7.0 * 100 / depth["prescription_isodose_percent"])
    for result in (surface, depth, isodose):
        c = result["coverage"]
        # the deepest point's percentage is its dose over Dmax, and "covered" is that against the prescription isodose
        assert c["deepest_point_percent_of_dmax"] == pytest.approx(100 * c["deepest_point_dose_gy"] / result["dmax_gy"])
        assert c["covered"] == (round(c["deepest_point_percent_of_dmax"], 1) >= result["prescription_isodose_percent"])
        assert c["deepest_point_depth_mm"] == pytest.approx(surface["coverage"]["deepest_point_depth_mm"])
        assert result["prescription"]["technique_convention"] is False
    # the same physical point, three normalisations: its dose scales with Dmax
    assert isodose["coverage"]["deepest_point_dose_gy"] / surface["coverage"]["deepest_point_dose_gy"] == \
        pytest.approx(isodose["dmax_gy"] / surface["dmax_gy"], rel=1e-9)
    assert surface["prescription"]["text"] == "7 Gy per fraction at the surface (Dmax = 7.00 Gy)"
    assert isodose["prescription"]["text"] == f"7 Gy per fraction to the 80 % isodose (Dmax = {7 / 0.8:.2f} Gy)"


def test_without_an_option_the_technique_convention_is_named(demo_plan):
    _, result = demo_plan
    assert "7 Gy per fraction to the 90 % isodose (Dmax = 7.78 Gy) — the technique's convention" in result.stdout
    assert "coverage  Lesion's deepest point" in result.stdout


def test_an_unusual_regimen_is_planned_when_accepted(demo_plan, tmp_path):
    # 15 Gy in 5 × 3 Gy lies below every published kV regimen (3 < 4.5 Gy per fraction, 15 < 18 Gy total)
    result = planner(*plan_args(tmp_path / "out", "--accept-unusual-regimen", "--json",
                                outline=("--outline", demo_plan[0] / "plan.json"),
                                rx=("--dose-per-fraction-gy", "3", "--fractions", "5")))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["prescription"]["total_dose_gy"] == 15.0


def test_two_prescription_modes_are_refused(tmp_path):
    result = planner(*plan_args(tmp_path / "out", "--prescribe-surface", "--prescribe-depth-mm", "2"))
    assert result.returncode == 2 and "not allowed with argument" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_skin_line_file_replaces_the_detected_one(demo_plan, tmp_path):
    skin = tmp_path / "skin.csv"
    skin.write_text("x_mm,y_mm\n-16,1.2\n16,1.2\n")                      # a flat line, given by the user
    out = tmp_path / "out"
    result = planner(*plan_args(out, "--skin-line", skin, "--json", outline=("--outline", demo_plan[0] / "plan.json")))
    assert result.returncode == 0, result.stderr
    plan = load_plan(out / "plan.json")
    assert plan.skin_surface.points_mm == ((-16.0, 1.2), (16.0, 1.2)) and plan.skin_surface.confirmed
    # the depth is measured from the given line: the outline's deepest vertex y minus 1.2 mm
    deepest_y = max(y for _, y in plan.outline.vertices_mm)
    assert json.loads(result.stdout)["coverage"]["deepest_point_depth_mm"] == pytest.approx(deepest_y - 1.2, abs=0.01)
    bad = tmp_path / "bad.csv"
    bad.write_text("0,1\n")
    refused = planner(*plan_args(tmp_path / "refused", "--skin-line", bad))
    assert refused.returncode == 2 and "skin line file" in refused.stderr and "at least 2 points" in refused.stderr


def test_a_skin_line_the_detector_doubts_is_refused_with_its_reasons(tmp_path):
    # pydicom's palette example is a curved-array obstetric scan: no flat skin line to plan from
    from pydicom import examples

    image = examples.get_path("palette_color")
    result = planner("plan", "--image", image, "--known-distance-mm", "10", "--known-distance-pixels", "100",
                     "--auto-outline", "--technique", "superficial-kv", "--energy-kv", "100", "--applicator-mm", "25",
                     "--dose-per-fraction-gy", "18", "--fractions", "1", "--out", tmp_path / "out")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "is not confident (the line is an arc" in result.stderr and "--skin-line FILE" in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_export_is_audited_and_the_rt_plan_and_report_carry_its_entry(demo_plan):
    """Issue 15, point 6: `planner plan --out` writes its "export" entry; RTPLAN.dcm holds that entry's
    hash (what a later signature covers) and the report prints it."""
    import getpass

    from planner.dicom.audit_anchor import AuditAnchor, read_audit_anchors
    from planner.review.audit import AuditLog

    out, result = demo_plan
    with AuditLog(out.parent / "audit.sqlite", create=False) as log:
        [entry] = log.entries()
        assert log.verify().ok
    ds = pydicom.dcmread(out / "RTPLAN.dcm")
    assert (entry.action, entry.plan_uid, entry.who, entry.os_user) == (
        "export", ds.SOPInstanceUID, getpass.getuser(), getpass.getuser())     # no certificate: the OS user
    assert entry.details == {"command": "planner plan", "file": str(out / "RTPLAN.dcm")}
    assert read_audit_anchors(ds) == (AuditAnchor("export", ds.SOPInstanceUID, 1, entry.entry_hash),)
    assert f"audit entry seq 1 (export) {entry.entry_hash}" in result.stdout
    report = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True,
                            check=True).stdout
    assert entry.entry_hash in "".join(report.split())
