"""Commissioning file: the demo file is marked illustrative; validation names the entry and field."""

import copy
import json

import pytest

from planner.dose.commissioning import (DEMO_MARK, CommissioningError, commissioning_from_dict,
                                        demo_commissioning_path, load_commissioning, load_demo_commissioning,
                                        uncommissioned)
from plugins.superficial_kv.machine_data import SUPERFICIAL_UNIT as M


def demo_dict():
    return json.loads(demo_commissioning_path().read_text(encoding="utf-8"))


def test_demo_file_is_complete_and_marked_illustrative():
    c = load_demo_commissioning(M)
    assert c.is_demo and DEMO_MARK in c.disclaimer
    assert len(c.entries) == len(M.energies) * len(M.applicators)
    for e in c.entries:
        assert e.ssd_cm.value == 15.0 and DEMO_MARK in e.ssd_cm.source
        assert 1.0 < e.air_kerma_rate_gy_per_min.value < 5.0 and DEMO_MARK in e.air_kerma_rate_gy_per_min.source
        assert e.timer_end_effect_min.value == 0.0006 and "upper bound" in e.timer_end_effect_min.source
        assert e.added_filtration_mm_al.value is None and not e.added_filtration_mm_al.commissioned
    assert c.sha256 and "DEMO" in c.describe()


def test_missing_entries_and_values_stay_not_commissioned():
    d = demo_dict()
    d["entries"] = d["entries"][:1]
    d["entries"][0]["air_kerma_rate_gy_per_min"] = {"value": None, "source": "to be measured"}
    del d["entries"][0]["timer_end_effect_min"]
    c = commissioning_from_dict(d, M)
    first = c.entry("50kV", "cone-15mm")
    assert first.air_kerma_rate_gy_per_min.value is None and first.timer_end_effect_min.label == "not commissioned"
    other = c.entry("100kV", "cone-50mm")
    assert other.ssd_cm.value is None and "not commissioned" in other.ssd_cm.source
    assert all(e.ssd_cm.value is None for e in uncommissioned(M).entries)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(format="x"), "not a commissioning file"),
    (lambda d: d.update(version=2), "version 2"),
    (lambda d: d.update(machine_id="other"), "not 'srt100-class'"),
    (lambda d: d["entries"][0].update(energy="80kV"), r"entries\[0\].*80kV"),
    (lambda d: d["entries"][0].update(cone="cone-12mm"), r"entries\[0\].*cone-12mm"),
    (lambda d: d["entries"].append(copy.deepcopy(d["entries"][0])), "second entry"),
    (lambda d: d["entries"][0]["ssd_cm"].update(value=-15), r"ssd_cm must be above 0 cm, got -15"),
    (lambda d: d["entries"][0]["ssd_cm"].update(value=0), "above 0"),
    (lambda d: d["entries"][0]["air_kerma_rate_gy_per_min"].update(value=float("nan")), "finite number of Gy/min"),
    (lambda d: d["entries"][0]["air_kerma_rate_gy_per_min"].update(value="2"), "finite number"),
    (lambda d: d["entries"][0]["timer_end_effect_min"].update(value=True), "finite number"),
    (lambda d: d["entries"][0]["added_filtration_mm_al"].update(value=-0.1), "cannot be negative"),
    (lambda d: d["entries"][0]["ssd_cm"].update(source=""), "no source text"),
    (lambda d: d["entries"][0].update(output=1), "unknown field"),
    (lambda d: d.update(label=""), "label"),
])
def test_invalid_commissioning_is_refused_with_a_specific_message(mutate, message):
    d = demo_dict()
    mutate(d)
    with pytest.raises(CommissioningError, match=message):
        commissioning_from_dict(d, M)


def test_negative_end_effect_is_allowed(tmp_path):
    d = demo_dict()
    d["entries"][0]["timer_end_effect_min"]["value"] = -0.001
    path = tmp_path / "c.json"
    path.write_text(json.dumps(d))
    assert load_commissioning(path, M).entries[0].timer_end_effect_min.value == -0.001


def test_unreadable_files(tmp_path):
    with pytest.raises(CommissioningError, match="cannot read"):
        load_commissioning(tmp_path / "none.json", M)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": \n')
    with pytest.raises(CommissioningError, match=r"bad.json: not valid JSON \(line 2"):
        load_commissioning(bad, M)
