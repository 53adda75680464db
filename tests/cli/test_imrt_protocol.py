"""`planner imrt --ct DIR --protocol NAME` on the thoracic-spine phantom (issue 18, point 6): the
protocol's structures matched (a missing one stops naming it, --map resolves a renamed one), its
goals judged on the honest DVH, every organ without a goal listed, and a CT planned without a
protocol warned about. The phantom's CT at 5 mm, few iterations: fast, so no goal is expected met."""

import contextlib
import importlib.util
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from planner.cli.main import main
from planner.core.protocols.protocol import protocols_dir
from planner.dose.structure_dvh import sampled_structures
from planner.imaging.ct_series import load_ct_volume, resample_volume

ROOT = Path(__file__).resolve().parents[2]
CONVENTIONAL = "spine-imrt-50gy-25fx"   # its 5 mm cord PRV can be made on a 5 mm grid (the SBRT 2 mm one cannot)


@pytest.fixture(scope="module")
def spine_ct(tmp_path_factory) -> Path:
    """G's spine phantom written at 5 mm (scripts/make_spine_phantom.py), its cord renamed Cord_T8."""
    spec = importlib.util.spec_from_file_location("make_spine_phantom", ROOT / "scripts" / "make_spine_phantom.py")
    make = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = make      # its dataclass looks its module up while being made
    spec.loader.exec_module(make)
    case = make.write_spine_case(tmp_path_factory.mktemp("spine"), 5.0)
    rtstruct = case.ct_folder / "rtstruct.dcm"
    ds = dcmread(rtstruct)
    for roi in ds.StructureSetROISequence:
        if roi.ROIName == "SpinalCord":
            roi.ROIName = "Cord_T8"     # not a TG-263 variant of SpinalCord: only --map finds it
    ds.save_as(rtstruct)
    return case.ct_folder


def organs_of(ct: Path) -> set[str]:
    """The structure set's ORGAN structures, as pydicom reads their RT ROI Interpreted Type."""
    ds = dcmread(ct / "rtstruct.dcm")
    names = {int(r.ROINumber): str(r.ROIName) for r in ds.StructureSetROISequence}
    return {names[int(o.ReferencedROINumber)] for o in ds.RTROIObservationsSequence if o.RTROIInterpretedType == "ORGAN"}


def test_a_protocol_organ_the_ct_lacks_stops_naming_it(spine_ct, tmp_path, capsys):
    # the renamed cord: the shipped protocol's SpinalCord is not on this CT
    assert main(["imrt", "--ct", str(spine_ct), "--protocol", CONVENTIONAL, "--grid-mm", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("planner imrt: protocol structure SpinalCord (organ) is not on this CT")
    # a clinic's copy of the protocol with one more organ, which the CT lacks (the cord mapped)
    data = json.loads((protocols_dir() / f"{CONVENTIONAL}.json").read_text(encoding="utf-8"))
    data["structures"].append({"name": "BrainStem", "role": "organ"})
    own = tmp_path / "clinic-spine.json"
    own.write_text(json.dumps(data), encoding="utf-8")
    assert main(["imrt", "--ct", str(spine_ct), "--protocol", str(own), "--map", "SpinalCord=Cord_T8",
                 "--grid-mm", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("planner imrt: protocol structure BrainStem (organ) is not on this CT")


def test_two_structures_that_fit_one_protocol_organ_stop_naming_both(spine_ct, tmp_path, capsys):
    ct = tmp_path / "ct"
    shutil.copytree(spine_ct, ct)
    ds = dcmread(ct / "rtstruct.dcm")
    renamed = {"Cord_T8": "SpinalCord", "SpinalCanal": "Cord"}   # "Cord" is a TG-263 variant of SpinalCord
    for roi in ds.StructureSetROISequence:
        roi.ROIName = renamed.get(roi.ROIName, roi.ROIName)
    ds.save_as(ct / "rtstruct.dcm")
    assert main(["imrt", "--ct", str(ct), "--protocol", CONVENTIONAL, "--grid-mm", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("planner imrt: protocol structure SpinalCord matches both Cord and SpinalCord")


def test_protocol_and_map_need_each_other_and_a_ct(spine_ct, capsys):
    assert main(["imrt", "--ct", str(spine_ct), "--map", "SpinalCord=Cord_T8", "--grid-mm", "5"]) == 2
    assert "--map needs --protocol" in capsys.readouterr().err
    assert main(["imrt", "--tg119", "--protocol", CONVENTIONAL, "--grid-mm", "10"]) == 2
    assert "--protocol needs --ct" in capsys.readouterr().err
    assert main(["imrt", "--ct", str(spine_ct), "--protocol", "no-such-protocol", "--grid-mm", "5"]) == 2
    assert "no protocol 'no-such-protocol'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def mapped_run(spine_ct, tmp_path_factory):
    """The conventional protocol with the renamed cord mapped: its JSON and the export's folder."""
    out = tmp_path_factory.mktemp("plan") / "export"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["imrt", "--ct", str(spine_ct), "--protocol", CONVENTIONAL, "--map", "SpinalCord=Cord_T8",
                     "--grid-mm", "5", "--iterations", "15", "--out", str(out), "--json"])
    assert code == 0
    return json.loads(printed.getvalue()), out


def test_map_resolves_the_renamed_cord_and_the_goals_are_the_honest_dvhs(spine_ct, mapped_run):
    result, out = mapped_run
    assert result["protocol"]["name"] == CONVENTIONAL and result["protocol"]["version"] == "1"
    assert result["structures_matched"]["SpinalCord"] == "Cord_T8"
    assert result["prescription"] == "50 Gy in 25 × 2 Gy to PTV D95"
    # the derived PRV (cord + 5 mm) is made and an objective is on it
    assert "SpinalCord_PRV05" in result["dvh_points"]
    goals = {(g["structure"], g["goal"]): g for g in result["delivered_clinical_goals"]}
    assert set(goals) == {("Cord_T8", "D0.03cc"), ("SpinalCord_PRV05", "D1cc"), ("PTV", "D95%"), ("PTV", "D10%")}
    cord = goals["Cord_T8", "D0.03cc"]
    assert (cord["limit_gy"], cord["priority"]) == (45.0, 1)
    assert cord["met"] == (round(cord["value_gy"], 2) <= 45.0)
    # the same figure from the exported RT Dose read by pydicom, on the CT's own cord sampled below the
    # voxel by planner.dose.structure_dvh, not through the command's goals table
    ds = dcmread(out / "RTDOSE.dcm")
    dose_xyz = ds.pixel_array.astype(float).transpose(2, 1, 0) * float(ds.DoseGridScaling)
    volume = resample_volume(load_ct_volume(spine_ct), 5.0)
    assert dose_xyz.shape == volume.grid.shape
    np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient],
                               [volume.grid.x_mm[0], volume.grid.y_mm[0], volume.grid.z_mm[0]])
    dvh = sampled_structures(volume).dvhs(dose_xyz)["Cord_T8"]
    assert cord["value_gy"] == pytest.approx(dvh.dose_at_volume_cc_gy(0.03), abs=float(ds.DoseGridScaling))
    # the coverage the priority-1 limits allow: the dose scaled until the first of them is reached (by
    # hand from the goals' values: both limits are doses, so they scale with it), PTV D95 scaled alike
    headroom = result["delivered_limits_headroom"]
    prv = goals["SpinalCord_PRV05", "D1cc"]
    scale = min(45.0 / cord["value_gy"], 50.0 / prv["value_gy"])
    assert headroom["scale"] == pytest.approx(scale, rel=1e-12)
    assert headroom["limiting_goal"] == ("Cord_T8 D0.03cc ≤ 45 Gy" if 45.0 / cord["value_gy"] < 50.0 / prv["value_gy"]
                                         else "SpinalCord_PRV05 D1cc ≤ 50 Gy")
    assert (headroom["coverage_goal"], headroom["unit"]) == ("PTV D95% ≥ 50 Gy", "Gy")
    assert headroom["coverage"] == pytest.approx(scale * goals["PTV", "D95%"]["value_gy"], rel=1e-9)
    # every ORGAN of the structure set without a goal is listed with its D0.03cc and Dmean
    watched = {o["structure"]: o for o in result["organs_without_goals"]}
    assert set(watched) == organs_of(spine_ct) - {"Cord_T8"}
    for name, organ in watched.items():
        points = result["dvh_points"][name]
        assert (organ["d0_03cc_gy"], organ["mean_gy"]) == (points["d0_03cc_gy"], points["mean_gy"])
    assert result["warnings"] == []
    assert (out / "RTPLAN.dcm").exists() and (out / "report.pdf").exists()
    plan = dcmread(out / "RTPLAN.dcm")
    structure_set = dcmread(spine_ct / "rtstruct.dcm")
    assert plan.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == structure_set.SOPInstanceUID


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed")
def test_the_report_lists_the_protocols_goals(mapped_run):
    import subprocess

    _, out = mapped_run
    text = " ".join(subprocess.run(["pdftotext", "-layout", str(out / "report.pdf"), "-"], capture_output=True,
                                   text=True, check=True).stdout.split())
    assert f"Clinical goals of the deliverable dose (after leaf sequencing): {CONVENTIONAL} version 1" in text
    assert "1 Cord_T8 D0.03cc ≤ 45 Gy" in text
    assert "Esophagus D0.03cc" in text and "no goal: shown" in text


def test_a_ct_without_a_protocol_warns_that_the_organs_have_no_limits(spine_ct, capsys):
    assert main(["imrt", "--ct", str(spine_ct), "--grid-mm", "5", "--iterations", "5"]) == 0
    out = capsys.readouterr().out
    assert "warning       ⚠ no --protocol: the organs at risk have no dose limits" in out


def test_the_coverage_the_sbrt_cord_limits_allow_is_read_at_the_scaled_dose():
    """limits_headroom on hand-made DVHs: a cord at D0.03cc 9 Gy, D0.35cc 8.8 Gy, and a PTV whose
    volume above d Gy is 100 % - 2.5 % per Gy above 12 Gy (V16Gy 90 %)."""
    from types import SimpleNamespace

    from planner.core.protocols.protocol import load_protocol
    from plugins.imrt_photon.protocol_plan import limits_headroom

    class Cord:
        def dose_at_volume_cc_gy(self, cc):
            return {0.03: 9.0, 0.35: 8.8}[cc]

    class Ptv:
        def volume_at_dose(self, dose_gy):
            return SimpleNamespace(volume_percent=100.0 - 2.5 * max(dose_gy - 12.0, 0.0), volume_cc=float("nan"))

    sbrt = load_protocol("spine-sbrt-16gy-1fx")
    headroom = limits_headroom(sbrt, {"SpinalCord": "Cord", "PTV": "PTV"}, {"Cord": Cord(), "PTV": Ptv()})
    scale = 10.0 / 8.8      # D0.35cc ≤ 10 Gy is reached before D0.03cc ≤ 14 Gy (14 / 9 = 1.56)
    assert headroom.scale == pytest.approx(scale)
    assert headroom.limiting_goal == "Cord D0.35cc ≤ 10 Gy"
    assert headroom.coverage_goal == "PTV V16Gy ≥ 90 %" and headroom.unit == "%"
    assert headroom.coverage == pytest.approx(100.0 - 2.5 * (16.0 / scale - 12.0))
