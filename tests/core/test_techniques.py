from importlib.metadata import EntryPoint

import pytest

from planner.techniques import ENTRY_POINT_GROUP, Technique, UnknownChoice, discover_techniques


def test_the_superficial_kv_plugin_is_found_through_its_entry_point():
    registry = discover_techniques()
    technique = registry.get("superficial-kv")
    assert isinstance(technique, Technique)
    assert registry.problems == ()


def test_superficial_unit_offers_the_published_energies_and_cones():
    machine = discover_techniques().get("superficial-kv").machines[0]
    # Sheu et al. 2015 (HVL, mm Al) and the SRT-100 Vision QA paper (cone diameters, mm).
    assert [(e.kvp, e.hvl_mm_al) for e in machine.energies] == [(50.0, 0.52), (70.0, 1.15), (100.0, 2.20)]
    assert [a.diameter_mm for a in machine.applicators] == [15.0, 20.0, 25.0, 30.0, 40.0, 50.0]
    assert all(e.source and a.source for e in machine.energies for a in machine.applicators)
    assert all(not p.commissioned for p in machine.parameters)  # SSD, filtration, output: the clinic's


def test_an_unknown_choice_names_what_is_offered():
    machine = discover_techniques().get("superficial-kv").machines[0]
    with pytest.raises(UnknownChoice, match="offered: 50kV, 70kV, 100kV"):
        machine.energy("250kV")


def test_a_broken_plugin_is_reported_and_the_others_still_load():
    good = EntryPoint("superficial-kv", "plugins.superficial_kv:technique", ENTRY_POINT_GROUP)
    missing = EntryPoint("ghost", "no_such_module:technique", ENTRY_POINT_GROUP)
    wrong = EntryPoint("not-a-technique", "planner:__version__", ENTRY_POINT_GROUP)
    registry = discover_techniques([good, missing, wrong])
    assert [t.id for t in registry.techniques] == ["superficial-kv"]
    assert any("'ghost'" in p and "failed to load" in p for p in registry.problems)
    assert any("'not-a-technique'" in p and "interface" in p for p in registry.problems)
