"""The fluence smoothness weight in the IMRT plan file: it round-trips, a file written before it
existed opens with the default, and a wrong value is refused naming the field."""

import json
from dataclasses import replace

import pytest

from planner.core.inverse_plan import DEFAULT_MODULATION_WEIGHT, InversePlan, Objective
from planner.core.inverse_plan_file import (InversePlanFileError, VolumeSource, load_inverse_plan,
                                            save_inverse_plan)

PLAN = InversePlan(objectives=(Objective("PTV", "min_dose", 50.0, 100.0),), modulation_weight=12.5)
SOURCE = VolumeSource.tg119(5.0)


def test_the_weight_round_trips(tmp_path):
    path = tmp_path / "plan.imrt.json"
    save_inverse_plan(path, PLAN, SOURCE)
    assert json.loads(path.read_text(encoding="utf-8"))["modulation_weight"] == 12.5
    assert load_inverse_plan(path) == (PLAN, SOURCE)
    save_inverse_plan(path, replace(PLAN, modulation_weight=0.0), SOURCE)   # off is kept as off
    assert load_inverse_plan(path)[0].modulation_weight == 0.0


def test_an_older_file_without_the_weight_opens_with_the_default(tmp_path):
    path = tmp_path / "old.imrt.json"
    save_inverse_plan(path, PLAN, SOURCE)
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["modulation_weight"]
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_inverse_plan(path)[0] == replace(PLAN, modulation_weight=DEFAULT_MODULATION_WEIGHT)


@pytest.mark.parametrize("value, words", [(-1.0, "modulation weight must be a number ≥ 0"),
                                          ("strong", "field 'modulation_weight' must be a number")])
def test_a_wrong_weight_is_refused_naming_it(tmp_path, value, words):
    path = tmp_path / "bad.imrt.json"
    save_inverse_plan(path, PLAN, SOURCE)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["modulation_weight"] = value
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InversePlanFileError, match=words):
        load_inverse_plan(path)
