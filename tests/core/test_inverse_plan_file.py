import json
import os
from dataclasses import replace
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.core.inverse_plan import InversePlan, InversePrescription, Objective
from planner.core.inverse_plan_file import (ImrtRecovery, InversePlanFileError, VolumeSource, inverse_plan_from_dict,
                                            inverse_plan_to_dict, load_inverse_plan, save_inverse_plan)
from plugins.imrt_photon import planning

TG119 = VolumeSource.tg119(10.0)
CT = VolumeSource.ct("/data/patients/P-1/ct", 3.0, rtstruct="/data/patients/P-1/rs.dcm")


def tg119_plan() -> InversePlan:
    return planning.default_plan(planning.tg119_phantom(10.0))


def every_kind_plan() -> InversePlan:
    return InversePlan(
        prescription=InversePrescription(target="PTV_60", dose_per_fraction_gy=3.0, fractions=20,
                                         coverage_volume_fraction=0.98),
        gantry_angles_deg=(0.0, 51.4, 102.9, 154.3, 205.7, 257.1, 308.6),
        bixel_width_mm=7.5,
        objectives=(Objective("PTV_60", "min_dose", 60.0, 1000.0),
                    Objective("PTV_60", "max_dose", 63.0, 300.0),
                    Objective("Parotid L", "mean_dose", 26.0, 50.0),
                    Objective("PTV_60", "min_dvh", 60.0, 500.0, volume_fraction=0.95),
                    Objective("Cord", "max_dvh", 45.0, 200.0, volume_fraction=0.07),
                    Objective("Ünïcode", "max_dose", 30.0, 1.0, volume_fraction=0.5)),  # a stale DVH volume
        max_iterations=150)


@pytest.mark.parametrize("plan, source", [(tg119_plan(), TG119), (every_kind_plan(), CT),
                                          (every_kind_plan(), VolumeSource.ct("/data/ct", 5.0))])
def test_a_saved_plan_loads_back_equal(tmp_path, plan, source):
    path = tmp_path / "plan.imrt.json"
    save_inverse_plan(path, plan, source)
    assert load_inverse_plan(path) == (plan, source)


def test_the_file_is_readable_json_with_units_in_its_keys(tmp_path):
    path = tmp_path / "plan.imrt.json"
    save_inverse_plan(path, every_kind_plan(), CT)
    text = path.read_text(encoding="utf-8")
    assert '\n  "format": "planner-imrt-plan",' in text and '"format_version": 2' in text
    assert '"dose_per_fraction_gy": 3.0' in text and '"fractions": 20' in text
    assert '"gantry_angles_deg": [' in text and '"bixel_width_mm": 7.5' in text and '"max_iterations": 150' in text
    assert '"folder": "/data/patients/P-1/ct"' in text and '"spacing_mm": 3.0' in text
    assert '"volume_fraction": 0.07' in text and "7.000000000000001" not in text
    assert '"Ünïcode"' in text  # not \u-escaped
    objectives = json.loads(text)["objectives"]
    assert objectives[0] == {"structure": "PTV_60", "kind": "min_dose", "dose_gy": 60.0, "weight": 1000.0}


def test_volume_sources_describe_themselves_and_ct_paths_are_made_absolute():
    assert TG119.describe() == "TG-119 C-shape phantom, 10 mm voxels"
    assert "rs.dcm" in CT.describe() and "3 mm voxels" in CT.describe()
    assert "the folder's RT Structure Set" in VolumeSource.ct("/data/ct", 5.0).describe()
    relative = VolumeSource.ct("ct-folder", 5.0)
    assert os.path.isabs(relative.folder) and relative.folder == os.path.abspath("ct-folder")


def write(tmp_path, data) -> str:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def good() -> dict:
    return inverse_plan_to_dict(every_kind_plan(), CT)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(format="planner-plan"), r'not a Planner IMRT plan \(expected "format": "planner-imrt-plan", '
                                                r'found "planner-plan"\)'),
    (lambda d: d.pop("format"), "not a Planner IMRT plan"),
    (lambda d: d.update(format_version=3), "newer Planner .*version 3.*reads version 2"),
    (lambda d: d.update(format_version="1"), "'format_version' must be a whole number ≥ 1, got \"1\""),
    (lambda d: d.pop("max_iterations"), "the field 'max_iterations' is missing"),
    (lambda d: d["prescription"].pop("fractions"), "the field 'prescription.fractions' is missing"),
    (lambda d: d["objectives"][4].pop("volume_fraction"), "the field 'objectives\\[4\\].volume_fraction' is missing"),
    (lambda d: d["planning_volume"].pop("folder"), "the field 'planning_volume.folder' is missing"),
    (lambda d: d["prescription"].update(fractions="twenty"),
     "field 'prescription.fractions' must be a whole number, got \"twenty\""),
    (lambda d: d["prescription"].update(fractions=20.0), "'prescription.fractions' must be a whole number, got 20.0"),
    (lambda d: d.update(max_iterations=True), "'max_iterations' must be a whole number, got true"),
    (lambda d: d["objectives"][1].update(dose_gy="63 Gy"), "'objectives\\[1\\].dose_gy' must be a number, got \"63 Gy\""),
    (lambda d: d["gantry_angles_deg"].__setitem__(2, None), r"'gantry_angles_deg\[2\]' must be a number, got null"),
    (lambda d: d.update(objectives={"a": 1}), "'objectives' must be a list"),
    (lambda d: d.update(prescription=[1, 2]), "'prescription' must be an object"),
    (lambda d: d["prescription"].update(target=7), "'prescription.target' must be text, got 7"),
    (lambda d: d["objectives"][2].update(kind="equivalent_uniform_dose"),
     "objective 3 \\(on 'Parotid L'\\) is of an unknown kind 'equivalent_uniform_dose' \\(known: min_dose"),
    (lambda d: d["planning_volume"].update(kind="mri"), "planning volume of an unknown kind 'mri'"),
    (lambda d: d["planning_volume"].update(folder="relative/ct"), "absolute path of its folder"),
    (lambda d: d["planning_volume"].update(spacing_mm=0), "voxel size must be a number > 0 mm"),
    (lambda d: d.update(objectives=[], bixel_width_mm=50.0),
     "cannot be optimised as written: bixel width must be 2–20 mm, got 50.0; the plan has no objectives"),
    (lambda d: d["objectives"][4].update(volume_fraction=1.5), "a DVH point needs a volume between 0 and 100 %"),
    (lambda d: d["prescription"].update(dose_per_fraction_gy=float("nan")), "dose per fraction must be above 0"),
])
def test_damaged_plan_files_are_refused_naming_what_is_wrong(tmp_path, mutate, message):
    data = good()
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(InversePlanFileError, match=message) as refused:
        load_inverse_plan(path)
    assert str(refused.value).startswith(f"{path}: ")


def test_files_that_are_not_json_are_refused_with_line_and_column(tmp_path):
    text = json.dumps(good(), indent=2).replace('"fractions": 20,', '"fractions": 20', 1)
    with pytest.raises(InversePlanFileError, match=r"not valid JSON \(line \d+, column \d+: Expecting ',' delimiter\)"):
        load_inverse_plan(write(tmp_path, text))
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InversePlanFileError, match="not a text file"):
        load_inverse_plan(binary)
    with pytest.raises(InversePlanFileError, match="cannot read the file"):
        load_inverse_plan(tmp_path / "missing.json")
    with pytest.raises(InversePlanFileError, match="nested too deeply"):
        load_inverse_plan(write(tmp_path, "[" * 100_000 + "]" * 100_000))
    with pytest.raises(InversePlanFileError, match="not a Planner IMRT plan"):
        load_inverse_plan(write(tmp_path, "9" * 5000))


def test_a_plan_that_could_not_be_reopened_is_not_saved(tmp_path):
    path = tmp_path / "plan.imrt.json"
    with pytest.raises(InversePlanFileError, match="not saved: the plan has no objectives"):
        save_inverse_plan(path, replace(tg119_plan(), objectives=()), TG119)
    with pytest.raises(InversePlanFileError, match="not saved: planning volume voxel size"):
        save_inverse_plan(path, tg119_plan(), VolumeSource.tg119(float("nan")))
    assert not path.exists()


def test_recovery_keeps_the_unsaved_plan_until_cleared(tmp_path):
    recovery = ImrtRecovery(tmp_path / "data")
    assert recovery.load() is None and not recovery.pending()
    unfinished = replace(every_kind_plan(), objectives=())  # mid-edit plans are recovered as they were
    before = datetime.now().astimezone().replace(microsecond=0)
    recovery.save(unfinished, CT)
    assert recovery.path == tmp_path / "data" / "imrt-recovery.json" and recovery.pending()
    plan, source, saved_at = recovery.load()
    assert (plan, source) == (unfinished, CT)
    assert saved_at.tzinfo is not None and before <= saved_at <= datetime.now().astimezone()
    assert "saved_at" in json.loads(recovery.path.read_text(encoding="utf-8"))
    recovery.clear()
    assert recovery.load() is None and not recovery.pending()
    recovery.clear()  # clearing twice is fine


@pytest.mark.parametrize("damage", [
    lambda text: text[: len(text) // 2],
    lambda text: text.replace('"saved_at"', '"saved"'),
    lambda text: text.replace('"kind": "ct"', '"kind": "pet"'),
])
def test_a_damaged_recovery_file_is_set_aside_and_not_offered(tmp_path, damage):
    recovery = ImrtRecovery(tmp_path)
    recovery.save(tg119_plan(), VolumeSource.ct("/data/ct", 5.0))
    text = recovery.path.read_text(encoding="utf-8")
    recovery.path.write_text(damage(text), encoding="utf-8")
    assert recovery.load() is None
    assert not recovery.path.exists() and recovery.damaged_path == tmp_path / "imrt-recovery.damaged.json"
    assert recovery.damaged_path.read_text(encoding="utf-8") == damage(text)
    # a second damaged file does not overwrite the first
    recovery.path.write_text("{", encoding="utf-8")
    assert recovery.load() is None
    assert recovery.damaged_path != tmp_path / "imrt-recovery.damaged.json" and recovery.damaged_path.exists()
    assert (tmp_path / "imrt-recovery.damaged.json").read_text(encoding="utf-8") == damage(text)


# --------------------------------------------------------------------------------- fuzz: no tracebacks

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8)
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read_or_refuse(data):
    try:
        plan, source = inverse_plan_from_dict(data)
    except InversePlanFileError as err:
        assert str(err)
        return
    assert isinstance(plan, InversePlan) and isinstance(source, VolumeSource)


@FUZZ
@given(json_values)
def test_any_json_value_gives_a_plan_or_a_refusal(data):
    read_or_refuse(data)
    read_or_refuse({"format": "planner-imrt-plan", "format_version": 1, **(data if isinstance(data, dict) else {})})


def paths_in(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths_in(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from paths_in(item, (*prefix, i))


GOOD_PATHS = [p for p in paths_in(good()) if p]


@FUZZ
@given(st.sampled_from(GOOD_PATHS), json_values, st.booleans())
def test_a_valid_plan_with_one_field_replaced_or_removed_gives_a_plan_or_a_refusal(path, value, remove):
    data = good()
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if remove:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    read_or_refuse(data)


@FUZZ
@given(st.data())
def test_a_valid_file_with_flipped_bytes_gives_a_plan_or_a_refusal(tmp_path_factory, data):
    original = json.dumps(good(), indent=2, ensure_ascii=False).encode("utf-8")
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(damaged) - 1))
        damaged[i] = data.draw(st.integers(0, 255))
    path = tmp_path_factory.mktemp("flip") / "plan.json"
    path.write_bytes(bytes(damaged))
    try:
        plan, source = load_inverse_plan(path)
    except InversePlanFileError:
        return
    assert isinstance(plan, InversePlan) and isinstance(source, VolumeSource)


def test_a_plan_that_cannot_be_written_is_refused_in_one_line(tmp_path):
    """A folder that is not writable (here: a file stands where the folder should be) is an
    InversePlanFileError naming the path and the OS's reason, not a bare OSError."""
    (tmp_path / "not-a-folder").write_text("")
    path = tmp_path / "not-a-folder" / "plan.imrt.json"
    with pytest.raises(InversePlanFileError, match=r"cannot write .*plan\.imrt\.json: ") as caught:
        save_inverse_plan(path, tg119_plan(), TG119)
    assert "\n" not in str(caught.value)
