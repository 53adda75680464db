"""`planner course start` and `planner course record-fraction` (issue 17, points 5 and 8): a course started on
an exported kV package and an eBx package, two fractions recorded, each written as the DICOM treatment record
beside the plan. Judged from outside: the plan file's JSON read as text, dciodvfy (dicom3tools) on the
records, pydicom's reading of them against the RT Plan file; times converted by hand (1.5 min = 90 s)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from pydicom import dcmread

from planner.cli import course_commands
from planner.core.plan_file import save_plan
from planner.dicom.export import export_plan
from tests.cli_runner import planner
from tests.dicom.export_fixtures import dciodvfy, demo_ebx_case, demo_kv_case

pytestmark = pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is needed")

# The command dates against the computer's clock (no fraction after today): the days are counted back from
# it, the RT Plans made before the first fraction.
TODAY = dt.date.today()
EXPORTED = dt.datetime.combine(TODAY - dt.timedelta(days=40), dt.time(16, 0))
DAYS = [(TODAY - dt.timedelta(days=back)).isoformat() for back in (30, 28, 26, 23, 21, 19)]
DAY_1, DAY_2 = DAYS[0], DAYS[1]
OPERATOR = "Lee^Ann"
RECORD = {"engine": "kept as written"}
# The eBx RT Plan's Application Setup Type "SURFACE" (no Defined Term for a skin applicator) is repeated
# in the record; dciodvfy warns about it there as on the RT Plan (tests/dicom/test_treatment_record.py).
ACCEPTED_BRACHY_WARNING = ("Warning - Unrecognized defined term <SURFACE> for value 1 of attribute "
                           "<Application Setup Type>")


def _package(folder: Path, case) -> dict:
    image, plan, technique, dose = case
    export_plan(plan, dose, image, technique, folder, now=EXPORTED)
    save_plan(folder / "plan.json", plan, calculation_record=RECORD)
    return {"folder": folder, "plan": plan, "dose": dose}


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    root = tmp_path_factory.mktemp("course-packages")
    return {"kv": _package(root / "kv", demo_kv_case()), "ebx": _package(root / "ebx", demo_ebx_case())}


@pytest.fixture
def package(packages, tmp_path, request, monkeypatch):
    """A fresh copy of the kV or eBx package; the dose `course start` computes is the one exported (the test
    engines: synthetic kV beam data, a hand-made eBx dose), standing in for the engine the window runs."""
    source = packages[request.param]
    folder = tmp_path / request.param
    shutil.copytree(source["folder"], folder)
    monkeypatch.setattr(course_commands, "planned_dose", lambda plan, path, technique: source["dose"])
    return folder


def rt_plan_seconds(folder: Path) -> float:
    """The time per fraction the RT Plan file says, in seconds: kV meterset in minutes × 60, eBx channel s."""
    rt_plan = dcmread(folder / "RTPLAN.dcm")
    if "ApplicationSetupSequence" in rt_plan:
        return round(float(rt_plan.ApplicationSetupSequence[0].ChannelSequence[0].ChannelTotalTime), 1)
    return round(float(rt_plan.FractionGroupSequence[0].ReferencedBeamSequence[0].BeamMeterset) * 60.0, 1)


def course_of(folder: Path) -> dict | None:
    """The course as the plan file holds it, read as JSON text (not through Planner's reader)."""
    return json.loads((folder / "plan.json").read_text(encoding="utf-8"))["course"]


def start(folder: Path, *extra):
    return planner("course", "start", folder / "plan.json", "--max-gap-days", "7", *extra)


def record(folder: Path, date: str, minutes: str, *extra):
    return planner("course", "record-fraction", folder / "plan.json", "--date", date, "--time-min", minutes,
                   "--operator", OPERATOR, *extra)


@pytest.mark.parametrize("package", ["kv", "ebx"], indirect=True)
def test_two_fractions_recorded_and_written_as_treatment_records(package):
    started = start(package, "--json")
    assert started.returncode == 0, started.stderr
    planned_s = rt_plan_seconds(package)
    first = record(package, DAY_1, "1.5", "--at", "09:30", "--remarks", "mild erythema", "--json")
    assert first.returncode == 0, first.stderr
    second = record(package, DAY_2, "1", "--at", "14:05", "--json")
    assert second.returncode == 0, second.stderr

    saved = json.loads((package / "plan.json").read_text(encoding="utf-8"))
    assert saved["calculation_record"] == RECORD
    course = course_of(package)
    fractions = 6 if package.name == "ebx" else 5        # demo_ebx_case: 6 × 7 Gy; demo_kv_case: 5 × 7 Gy
    assert (course["planned_fractions"], course["dose_per_fraction_gy"]) == (fractions, 7.0)
    assert course["max_gap_days"] == 7
    assert course["planned_dwell_time_s"] == pytest.approx(planned_s, abs=0.05)
    assert [(r["number"], r["delivered_on"], r["dwell_time_s"], r["delivered_by"], r["remarks"])
            for r in course["records"]] == [(1, DAY_1, 90.0, OPERATOR, "mild erythema"), (2, DAY_2, 60.0, OPERATOR, "")]

    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert (two["fraction"], two["date"], two["time"], two["operator"]) == (2, DAY_2, "14:05:00", OPERATOR)
    assert two["delivered_dose_gy"] == pytest.approx(7.0 * 60.0 / course["planned_dwell_time_s"], rel=1e-9)
    assert two["course_delivered_gy"] == pytest.approx(7.0 * 150.0 / course["planned_dwell_time_s"], rel=1e-9)
    assert two["course_planned_gy"] == pytest.approx(7.0 * fractions)
    assert one["record"] == str(package / "RTRECORD-F01.dcm") and two["record"] == str(package / "RTRECORD-F02.dcm")

    rt_plan = dcmread(package / "RTPLAN.dcm")
    brachy = package.name == "ebx"
    for number, result, seconds, day, clock in ((1, one, 90.0, DAY_1.replace("-", ""), "093000"),
                                                (2, two, 60.0, DAY_2.replace("-", ""), "140500")):
        path = Path(result["record"])
        errors, warnings = dciodvfy(path)
        assert errors == []
        assert warnings == ([ACCEPTED_BRACHY_WARNING] if brachy else [])
        ds = dcmread(path)
        assert ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == rt_plan.SOPInstanceUID
        assert (ds.TreatmentDate, ds.TreatmentTime, ds.OperatorsName) == (day, clock, OPERATOR)
        if brachy:
            setup = ds.TreatmentSessionApplicationSetupSequence[0]
            assert setup.CurrentFractionNumber == number
            assert float(setup.RecordedChannelSequence[0].DeliveredChannelTotalTime) == pytest.approx(seconds)
        else:
            session = ds.TreatmentSessionBeamSequence[0]
            assert session.CurrentFractionNumber == number
            # the kV plan's unit is the timer's minutes: 90 s = 1.5 min, 60 s = 1.0 min
            assert float(session.DeliveredPrimaryMeterset) == pytest.approx(seconds / 60.0)

    shown = planner("course", "show", package / "plan.json", "--json")
    assert shown.returncode == 0, shown.stderr
    assert [f["record"] for f in json.loads(shown.stdout)["fractions"]] == [one["record"], two["record"]]
    text = planner("course", "show", package / "plan.json")
    assert f"record: {package / 'RTRECORD-F02.dcm'}" in text.stdout


@pytest.mark.parametrize("package", ["kv"], indirect=True)
def test_a_course_is_not_started_twice(package):
    assert start(package).returncode == 0
    before = (package / "plan.json").read_bytes()
    again = start(package)
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "already has a treatment course" in again.stderr
    assert (package / "plan.json").read_bytes() == before


@pytest.mark.parametrize("package", ["kv"], indirect=True)
def test_the_longest_gap_is_required_to_start(package):
    result = planner("course", "start", package / "plan.json")
    assert result.returncode == 2 and "--max-gap-days" in result.stderr
    assert course_of(package) is None


@pytest.mark.parametrize("package", ["kv"], indirect=True)
def test_without_a_course_nothing_is_recorded(package):
    before = (package / "plan.json").read_bytes()
    result = record(package, DAY_1, "1.5", "--at", "09:30")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "no treatment course yet" in result.stderr and "planner course start" in result.stderr
    assert (package / "plan.json").read_bytes() == before and not list(package.glob("RTRECORD*"))


@pytest.mark.parametrize("package", ["kv"], indirect=True)
def test_a_past_date_needs_the_time_of_day(package):
    assert start(package).returncode == 0
    before = (package / "plan.json").read_bytes()
    result = record(package, DAY_1, "1.5")
    assert result.returncode == 2
    assert result.stderr == "planner course record-fraction: give --at HH:MM, the time the fraction was delivered\n"
    assert (package / "plan.json").read_bytes() == before and not list(package.glob("RTRECORD*"))


@pytest.mark.parametrize("package", ["kv"], indirect=True)
def test_today_without_a_time_takes_the_clock_and_says_so(package):
    assert start(package).returncode == 0
    today = dt.date.today().isoformat()
    result = record(package, today, "1.5")
    assert result.returncode == 0, result.stderr
    assert "delivery time not given: the current time" in result.stdout
    assert dcmread(package / "RTRECORD-F01.dcm").TreatmentDate == today.replace("-", "")


@pytest.mark.parametrize("package", ["kv"], indirect=True)
def test_without_the_rt_plan_beside_the_plan_nothing_is_recorded(package):
    assert start(package).returncode == 0
    (package / "RTPLAN.dcm").unlink()
    before = (package / "plan.json").read_bytes()
    result = record(package, DAY_1, "1.5", "--at", "09:30")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"no RTPLAN.dcm beside {package / 'plan.json'}" in result.stderr
    assert (package / "plan.json").read_bytes() == before and not list(package.glob("RTRECORD*"))


@pytest.mark.parametrize("package", ["kv"], indirect=True)
def test_a_record_that_cannot_be_written_leaves_the_plan_file_unchanged(package):
    assert start(package).returncode == 0
    (package / "RTRECORD-F01.dcm").write_bytes(b"keep")
    before = (package / "plan.json").read_bytes()
    result = record(package, DAY_1, "1.5", "--at", "09:30")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "already exists" in result.stderr and "nothing was recorded" in result.stderr
    assert (package / "plan.json").read_bytes() == before
    assert (package / "RTRECORD-F01.dcm").read_bytes() == b"keep"


@pytest.mark.parametrize("package", ["kv"], indirect=True)
def test_a_fraction_beyond_the_planned_count_is_refused(package):
    assert start(package).returncode == 0
    for day in DAYS[:5]:   # the 5 planned fractions
        assert record(package, day, "1.5", "--at", "09:30").returncode == 0
    before = (package / "plan.json").read_bytes()
    result = record(package, DAYS[5], "1.5", "--at", "09:30")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "all 5 planned fractions are already recorded" in result.stderr
    assert (package / "plan.json").read_bytes() == before
    assert sorted(p.name for p in package.glob("RTRECORD*")) == [f"RTRECORD-F0{n}.dcm" for n in range(1, 6)]


@pytest.mark.parametrize("package", ["kv"], indirect=True)
def test_an_operator_without_family_and_given_name_is_refused(package):
    assert start(package).returncode == 0
    before = (package / "plan.json").read_bytes()
    result = planner("course", "record-fraction", package / "plan.json", "--date", DAY_1, "--time-min", "1.5",
                     "--at", "09:30", "--operator", "Lee")
    assert result.returncode == 2 and "Family^Given" in result.stderr
    assert (package / "plan.json").read_bytes() == before and not list(package.glob("RTRECORD*"))


@pytest.mark.parametrize("package", ["kv"], indirect=True)
def test_a_plan_file_that_cannot_be_written_takes_the_new_record_away(package, monkeypatch):
    import planner.core.plan_file as plan_file

    assert start(package).returncode == 0
    before = (package / "plan.json").read_bytes()

    def disk_full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plan_file, "save_plan", disk_full)
    result = record(package, DAY_1, "1.5", "--at", "09:30")
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "No space left on device" in result.stderr and "RTRECORD-F01.dcm was removed" in result.stderr
    assert (package / "plan.json").read_bytes() == before and not list(package.glob("RTRECORD*"))


@pytest.fixture
def engine_registry(monkeypatch):
    """The installed techniques, the kV engine on the synthetic beam data the kV package was exported with
    (no Monte Carlo): `course start` then runs its own dose computation, not a stand-in for it."""
    import dataclasses

    from planner.techniques import registry as registry_module
    from plugins.superficial_kv.dose_engine import SuperficialDoseEngine
    from tests.dose.kv_fixtures import fixture_source

    installed = registry_module.discover_techniques()
    techniques = tuple(dataclasses.replace(t, dose_engine=SuperficialDoseEngine(beam_source=fixture_source))
                       if t.id == "superficial-kv" else t for t in installed.techniques)
    monkeypatch.setattr(registry_module, "discover_techniques",
                        lambda *a, **k: dataclasses.replace(installed, techniques=techniques))


def test_start_computes_the_time_the_rt_plan_was_exported_with(packages, tmp_path, engine_registry):
    folder = tmp_path / "kv"
    shutil.copytree(packages["kv"]["folder"], folder)
    result = start(folder, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["time_name"] == "treatment time"
    assert course_of(folder)["planned_dwell_time_s"] == pytest.approx(rt_plan_seconds(folder), abs=0.05)
    assert record(folder, DAY_1, "1.5", "--at", "09:30").returncode == 0


def test_start_falls_back_to_the_packages_image_and_refuses_without_one(packages, tmp_path, engine_registry):
    folder = tmp_path / "kv"
    shutil.copytree(packages["kv"]["folder"], folder)
    moved = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    moved["image_path"] = str(tmp_path / "gone.dcm")
    (folder / "plan.json").write_text(json.dumps(moved), encoding="utf-8")
    assert start(folder).returncode == 0                                  # US.dcm of the package
    assert course_of(folder)["planned_dwell_time_s"] == pytest.approx(rt_plan_seconds(folder), abs=0.05)

    (folder / "plan.json").write_text(json.dumps(moved), encoding="utf-8")
    (folder / "US.dcm").unlink()
    result = start(folder)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"the plan's image {tmp_path / 'gone.dcm'} is not found, nor US.dcm beside" in result.stderr
    assert course_of(folder) is None


@pytest.mark.parametrize("package", ["kv"], indirect=True)
def test_a_time_later_today_than_now_is_refused(package):
    assert start(package).returncode == 0
    before = (package / "plan.json").read_bytes()
    result = record(package, dt.date.today().isoformat(), "1.5", "--at", "23:59:59")
    assert result.returncode == 2 and "is later than now" in result.stderr
    assert (package / "plan.json").read_bytes() == before and not list(package.glob("RTRECORD*"))


@pytest.mark.parametrize("package", ["kv", "ebx"], indirect=True)
def test_start_refuses_a_time_the_exported_rt_plan_does_not_specify(package):
    """The engine's time today against the RT Plan beside the plan: here the RT Plan's time is made 10 % longer
    (as if the beam data had changed since the export), so the course would not follow the approved plan."""
    rt_plan = dcmread(package / "RTPLAN.dcm")
    if "ApplicationSetupSequence" in rt_plan:
        channel = rt_plan.ApplicationSetupSequence[0].ChannelSequence[0]
        channel.ChannelTotalTime = f"{float(channel.ChannelTotalTime) * 1.1:.4f}"
    else:
        beam = rt_plan.FractionGroupSequence[0].ReferencedBeamSequence[0]
        beam.BeamMeterset = f"{float(beam.BeamMeterset) * 1.1:.6f}"
    rt_plan.save_as(package / "RTPLAN.dcm")
    before = (package / "plan.json").read_bytes()
    result = start(package)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    specified = rt_plan_seconds(package)
    assert f"specifies {specified:.1f} s" in result.stderr and "export the plan again" in result.stderr
    assert (package / "plan.json").read_bytes() == before


def test_options_sheet_times_each_regimen_and_records_the_choice(packages, tmp_path, engine_registry):
    """`course options`: every published kV regimen's time per visit from the engine for this lesion and setup.
    For one setup the time is the dose per fraction over the dose rate, so by hand an 18 Gy visit takes 18/7 of
    the exported 7 Gy plan's time (the RT Plan's own meterset). Read back with pdftotext (third party)."""
    import re
    import subprocess

    folder = tmp_path / "kv"
    shutil.copytree(packages["kv"]["folder"], folder)
    assert start(folder).returncode == 0
    out = tmp_path / "options.pdf"
    refused = planner("course", "options", folder / "plan.json", "--out", out, "--choose", "A")
    assert refused.returncode == 2 and "--decided-by" in refused.stderr and not out.exists()
    result = planner("course", "options", folder / "plan.json", "--out", out, "--choose", "b",
                     "--preferences", "fewer visits: lives 80 km away", "--decided-by", "Oncologist^Ann")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "recorded in the course: Option B: 20 Gy × 1"
    decision = course_of(folder)["decision"]
    assert (decision["chosen_regimen"], decision["preferences"], decision["decided_by"]) == (
        "Option B: 20 Gy × 1", "fewer visits: lives 80 km away", "Oncologist^Ann")
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    seconds = [int(s) for s in re.findall(r"\((\d+) s\)", text)]
    plan_s = rt_plan_seconds(folder)
    for dose_per_fraction in (18.0, 20.0, 7.0, 4.5):
        assert any(abs(s - plan_s * dose_per_fraction / 7.0) <= 1.0 for s in seconds), (dose_per_fraction, seconds)
    assert "fewer visits: lives 80 km away" in text
