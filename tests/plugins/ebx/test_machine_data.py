"""The ebx-surface plugin: found through its entry point; published numbers, sources, commissioning gaps."""

import pytest

from planner.techniques import NOT_COMMISSIONED, Technique, UnknownChoice, discover_techniques
from plugins.ebx_surface import technique
from plugins.ebx_surface.machine_data import (ESTEYA_PUBLISHED, INTERMEDIATE_SIZE_NOTE,
                                              XOFT_PUBLISHED, XOFT_TREATABLE_DIAMETER_MM)


def test_found_through_its_entry_point():
    registry = discover_techniques()
    found = registry.get("ebx-surface")
    assert isinstance(found, Technique) and isinstance(technique, Technique)
    assert found.name == "Electronic brachytherapy, surface applicators (HDR eBx)"
    assert registry.problems == ()


def test_esteya_class_published_numbers():
    m = technique.machine("esteya-class")
    # Garcia-Martinez et al., J Contemp Brachytherapy 6(1):45–53, 2014 (abstract).
    assert [(e.kvp, e.hvl_mm_al) for e in m.energies] == [(69.5, 1.85)]
    assert [a.diameter_mm for a in m.applicators] == [10.0, 15.0, 20.0, 25.0, 30.0]
    intermediate = [a for a in m.applicators if INTERMEDIATE_SIZE_NOTE in a.source]
    assert [a.diameter_mm for a in intermediate] == [15.0, 20.0, 25.0]
    params = {p.name: p for p in m.parameters}
    assert not params["source-to-surface distance"].commissioned
    assert params["source-to-surface distance"].source == NOT_COMMISSIONED
    typical = next(p for n, p in params.items() if n.startswith("published typical dose rate"))
    assert typical.value == 3.3 and "typical" in typical.source and "not this unit" in typical.name
    assert {(f.name, f.value) for f in ESTEYA_PUBLISHED} >= {("flatness and symmetry", 5.0), ("penumbra", 1.0),
                                                             ("depth-dose gradient", 7.0)}


def test_xoft_class_published_numbers_and_gaps():
    m = technique.machine("xoft-class")
    assert [a.diameter_mm for a in m.applicators] == [10.0, 20.0, 35.0, 50.0]
    assert m.energies[0].kvp == 50.0 and m.energies[0].hvl_mm_al is None   # HVL not published
    ssd = [p for p in m.parameters if p.name.startswith("source-to-surface distance")]
    assert len(ssd) == 4 and not any(p.commissioned for p in ssd)
    assert XOFT_PUBLISHED[0].value == 15.0
    assert XOFT_TREATABLE_DIAMETER_MM[10] == 5.0 and XOFT_TREATABLE_DIAMETER_MM[50] == 45.0


def test_every_number_has_a_source():
    for m in technique.machines:
        assert all(e.source for e in m.energies) and all(a.source for a in m.applicators)
        assert all(p.source for p in m.parameters)
    assert all(p.source for p in technique.fractionation_presets)


def test_fractionation_presets_from_section_4_1():
    presets = {(p.fractions, p.dose_per_fraction_gy): p for p in technique.fractionation_presets}
    assert set(presets) == {(8, 5.0), (6, 7.0), (6, 6.1)}
    assert "Radiat Oncol 5:87" in presets[(8, 5.0)].source
    assert "8(1):48–55" in presets[(6, 7.0)].source and "8(1):48–55" in presets[(6, 6.1)].source
    assert presets[(8, 5.0)].min_interval_hours == 48.0 and "48 h" in presets[(8, 5.0)].source


def test_unknown_applicator_names_what_is_offered():
    with pytest.raises(UnknownChoice, match="offered: surface-10mm, surface-20mm, surface-35mm, surface-50mm"):
        technique.machine("xoft-class").applicator("surface-30mm")
    with pytest.raises(UnknownChoice, match="offered: esteya-class, xoft-class"):
        technique.machine("intrabeam")
