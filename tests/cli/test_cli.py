"""The command line: same core functions as the GUI, one-line errors, no tracebacks."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli_runner import planner, planner_process

ROOT = Path(__file__).resolve().parents[2]




def test_help_lists_the_commands():
    result = planner_process("--help")  # the real `python -m planner`: the entry point itself
    assert result.returncode == 0
    for command in ("gui", "info", "techniques", "bed"):
        assert command in result.stdout


def test_bed_json_matches_the_published_arithmetic():
    result = planner("bed", "--dose-per-fraction-gy", "5", "--fractions", "8", "--json")
    data = json.loads(result.stdout)
    bed10 = next(d for d in data["biological_doses"] if d["alpha_beta_gy"] == 10.0)
    assert bed10["bed_gy"] == pytest.approx(60.0)  # Delishaj et al. 2015: 40 Gy / 8 fx → BED10 60 Gy


def test_an_impossible_prescription_is_one_line_on_stderr():
    result = planner("bed", "--dose-per-fraction-gy", "0", "--fractions", "5")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "above 0 Gy" in result.stderr
    assert "Traceback" not in result.stderr


def test_techniques_lists_the_superficial_unit_with_sources():
    data = json.loads(planner("techniques", "--json").stdout)
    technique = next(t for t in data["techniques"] if t["id"] == "superficial-kv")
    energies = technique["machines"][0]["energies"]
    assert [e["hvl_mm_al"] for e in energies] == [0.52, 1.15, 2.2]
    assert all("Sheu 2015" in e["source"] for e in energies)


def test_info_on_the_demo_reports_the_calibration():
    result = planner("info", "resources/demo/demo_ultrasound.dcm", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    truth = json.loads((ROOT / "resources/demo/demo_case.json").read_text())["truth"]
    assert data["modality"] == "US" and data["frames"] == 1
    assert data["calibration"]["mm_per_pixel_x"] == pytest.approx(truth["mm_per_pixel_x"])
    assert data["calibration"]["mm_per_pixel_y"] == pytest.approx(truth["mm_per_pixel_y"])
    assert "Ultrasound Regions" in data["calibration"]["source"]
    # the skin line the window would propose: confident, one point per column, on the generator's line
    skin = data["skin_line"]
    assert skin["confident"] is True and skin["problems"] == []
    truth_y_mm = [y for _, y in json.loads((ROOT / "resources/demo/demo_case.json").read_text())["skin_line_mm"]]
    assert [col for col, _ in skin["points_px"]] == list(range(640))
    assert max(abs(row * truth["mm_per_pixel_y"] - y) for (_, row), y in zip(skin["points_px"], truth_y_mm)) <= 0.3


def test_info_on_a_file_that_is_not_dicom_is_one_line(tmp_path):
    bad = tmp_path / "x.dcm"
    bad.write_bytes(b"hello")
    result = planner("info", str(bad))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_screenshot_renders_the_demo_window_to_png(tmp_path):
    out = tmp_path / "shot.png"
    env_result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--demo", "--screenshot", str(out)],
                                capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert env_result.returncode == 0, env_result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(out) as shot:
        assert shot.size[0] >= 1000 and shot.size[1] >= 600
        grey = shot.convert("L").resize((100, 60))
        assert len(grey.getcolors(maxcolors=256) or []) > 20  # an image was drawn, not a blank window


@pytest.mark.parametrize("make_bad, fragment", [
    (lambda tmp: tmp / "absent.dcm", "absent.dcm"),
    (lambda tmp: _write(tmp / "truncated.dcm", (ROOT / "resources/demo/demo_ultrasound.dcm").read_bytes()[:5000]), "truncated.dcm"),
    (lambda tmp: Path(__import__("pydicom.data", fromlist=["x"]).get_testdata_file("rtplan.dcm")), "RT Plan"),
])
def test_info_on_bad_input_is_one_line_with_a_non_zero_exit(tmp_path, make_bad, fragment):
    result = planner("info", str(make_bad(tmp_path)))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr


def test_info_reports_the_problem_of_a_region_outside_the_image():
    from pydicom.data import get_testdata_file

    data = json.loads(planner("info", get_testdata_file("examples_palette.dcm"), "--json").stdout)
    assert data["calibration"] is None
    assert any("outside" in p for p in data["problems"])


def test_info_says_in_one_line_that_a_curved_array_skin_line_is_not_confident():
    from pydicom.data import get_testdata_file

    result = planner("info", get_testdata_file("examples_palette.dcm"))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip().startswith("skin line")]
    assert len(lines) == 1
    assert "found, not confident" in lines[0] and "the line is an arc" in lines[0]


def _write(path, data):
    path.write_bytes(data)
    return path


def test_beam_data_json_has_the_backscatter_factor_pdd_and_provenance():
    result = planner("beam-data", "--kvp", "100", "--hvl-mm-al", "2.2", "--cone-mm", "30", "--ssd-cm", "15",
                     "--photons", "100000", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    # TG-61 Table V at HVL 2.2 mm Al, Ø 3 cm, SSD 10–20 cm is ≈ 1.14; the engine's own tolerance is 3 %.
    assert data["backscatter_factor"] == pytest.approx(1.14, rel=0.03 + 3 * data["backscatter_uncertainty"])
    depths = [z for z, _ in data["pdd"]]
    assert depths[0] == 0 and data["pdd"][0][1] == pytest.approx(100.0)
    pdd = {round(z, 2): p for z, p in data["pdd"]}
    assert 101 > pdd[1.0] > pdd[5.0] > pdd[10.0] > pdd[20.0] > 0  # falls with depth (few photons: coarse steps)
    for quantity in ("backscatter_factor", "pdd", "profiles", "spectrum"):
        assert "SpekPy" in data["provenance"][quantity] or "Monte Carlo" in data["provenance"][quantity]


def test_beam_data_refuses_an_impossible_input_in_one_line():
    result = planner("beam-data", "--kvp", "70", "--hvl-mm-al", "0", "--cone-mm", "20", "--ssd-cm", "15")
    assert result.returncode == 1
    assert "HVL" in result.stderr.strip().splitlines()[-1] and "Traceback" not in result.stderr


def test_the_window_is_the_programs_to_open_not_any_callers():
    # planner/__main__.py hands the window to the command line; a caller of main() alone gets one line
    result = planner("gui", "--demo")
    assert result.returncode == 1
    assert result.stderr.strip() == ("planner gui: the window opens from `planner gui` or `python main.py`, "
                                     "not from this caller")
