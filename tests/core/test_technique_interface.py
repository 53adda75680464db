"""Every registered technique offers the whole Technique interface in one of its two shapes, a
DoseEngine or an InversePlanner, with the protocols' signatures.

Why signatures too: a runtime-checkable isinstance only asks whether the names exist, so a renamed
parameter would first fail in a window or a report; here it fails at once.
"""

import inspect
from importlib.metadata import EntryPoint

import pytest

from planner.techniques import ENTRY_POINT_GROUP, discover_techniques
from planner.techniques.interface import DoseEngine, InversePlanner, Technique, missing_members

REGISTRY = discover_techniques()


def methods_of(protocol) -> list[str]:
    return [name for name, value in vars(protocol).items() if not name.startswith("_") and callable(value)]


def parameters(function, *, drop_self: bool = False) -> list[tuple[str, str, bool]]:
    """(name, kind, has a default) of each parameter, in order."""
    found = list(inspect.signature(function).parameters.values())[1 if drop_self else 0:]
    return [(p.name, p.kind.name, p.default is not inspect.Parameter.empty) for p in found]


def signature_differences(obj, protocol) -> list[str]:
    """Each method of ``protocol`` whose parameters on ``obj`` differ from the declared ones."""
    differences = []
    for name in methods_of(protocol):
        declared = parameters(getattr(protocol, name), drop_self=True)
        offered = parameters(getattr(obj, name))
        if offered != declared:
            differences.append(f"{type(obj).__name__}.{name}{offered} is not {protocol.__name__}.{name}{declared}")
    return differences


def implements(obj, protocol) -> list[str]:
    """Everything by which ``obj`` falls short of ``protocol`` (empty: it implements it)."""
    missing = [f"no {name}" for name in missing_members(obj, protocol)]
    return missing or signature_differences(obj, protocol)


def test_every_plugin_is_registered():
    assert REGISTRY.problems == ()
    assert {t.id for t in REGISTRY.techniques} == {"superficial-kv", "ebx-surface", "imrt-photon"}


@pytest.mark.parametrize("technique", REGISTRY.techniques, ids=lambda t: t.id)
def test_a_technique_implements_the_interface_in_exactly_one_shape(technique):
    assert isinstance(technique, Technique)
    assert implements(technique, Technique) == []
    engine, planner = technique.dose_engine, technique.inverse_planner
    assert (engine is None) != (planner is None)
    if engine is not None:
        assert isinstance(engine, DoseEngine) and implements(engine, DoseEngine) == []
    if planner is not None:
        assert isinstance(planner, InversePlanner) and implements(planner, InversePlanner) == []
        assert isinstance(planner.MODEL_DESCRIPTION, str) and planner.MODEL_DESCRIPTION


def test_the_check_finds_a_missing_method_and_a_renamed_parameter():
    engine = REGISTRY.get("ebx-surface").dose_engine

    class OldNames(type(engine)):
        def beam_data(self, energy, cone, ssd_cm, progress=None, is_cancelled=None):
            return super().beam_data(energy, cone, ssd_cm, progress, is_cancelled)

    class NoRecommendation:
        compute, beam_data, beam_model = engine.compute, engine.beam_data, engine.beam_model

    renamed = OldNames.__new__(OldNames)
    assert isinstance(renamed, DoseEngine)  # the names alone pass ...
    [difference] = implements(renamed, DoseEngine)  # ... the parameters do not
    assert difference.startswith("OldNames.beam_data[") and "('cone'," in difference and "('applicator'," in difference
    assert not isinstance(NoRecommendation(), DoseEngine)
    assert implements(NoRecommendation(), DoseEngine) == ["no recommend"]


class OlderInterface:
    """A plugin written before the shapes were declared: it lacks the members it did not offer."""

    id = "older"
    name = "Older plugin"
    machines = ()
    fractionation_presets = ()

    def machine(self, machine_id):
        raise KeyError(machine_id)


older = OlderInterface()


def test_a_plugin_lacking_members_is_told_which():
    entry = EntryPoint("older", f"{__name__}:older", ENTRY_POINT_GROUP)
    registry = discover_techniques([entry])
    assert registry.techniques == ()
    assert registry.problems == (
        f"technique plugin 'older' ({__name__}:older) does not provide the Technique interface (missing: "
        "commissioning_for, default_prescription_point, dose_engine, inverse_planner)",)
