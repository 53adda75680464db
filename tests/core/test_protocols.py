"""Clinical protocol files (issue 18, point 1): loading, refusal of unsourced numbers, the goal →
objective rule, and TG-119's objectives read from its file."""

import copy
import json

import pytest

from planner.core.errors import PlannerError
from planner.core.inverse_plan import Objective
from planner.core.protocols.objectives import starting_objectives
from planner.core.protocols.protocol import (ProtocolError, load_protocol, parse_protocol, protocols_dir,
                                             shipped_protocols)


def raw(name):
    return json.loads((protocols_dir() / f"{name}.json").read_text(encoding="utf-8"))


def test_the_three_protocols_ship_and_load():
    assert set(shipped_protocols()) >= {"tg119-c-shape", "spine-imrt-50gy-25fx", "spine-sbrt-16gy-1fx"}
    sbrt = load_protocol("spine-sbrt-16gy-1fx")
    assert (sbrt.target, sbrt.dose_gy.value, sbrt.fractions.value) == ("PTV", 16.0, 1.0)
    goals = {(g.structure, g.metric, g.comparison, g.limit.value, g.unit) for g in sbrt.goals}
    # the RTOG 0631 set: PTV V16Gy >= 90 %, cord D0.03cc <= 14 Gy, D0.35cc <= 10 Gy
    assert goals == {("PTV", "V16Gy", ">=", 90.0, "%"), ("SpinalCord", "D0.03cc", "<=", 14.0, "Gy"),
                     ("SpinalCord", "D0.35cc", "<=", 10.0, "Gy")}
    assert sbrt.alpha_beta_gy["SpinalCord"].value == 2.0
    conventional = load_protocol("spine-imrt-50gy-25fx")
    assert conventional.dose_per_fraction_gy == 2.0
    cord = next(g for g in conventional.goals if g.structure == "SpinalCord")
    assert (cord.metric, cord.limit.value) == ("D0.03cc", 45.0)
    assert "RTOG 0225" in cord.limit.source
    assert any(g.structure.startswith("SpinalCord_PRV") for g in conventional.goals)


def test_every_shipped_file_says_what_was_verified():
    for name in shipped_protocols():
        assert load_protocol(name).verification.strip(), name


def test_a_clinics_own_file_loads_from_its_path(tmp_path):
    data = raw("spine-sbrt-16gy-1fx")
    data["id"], data["title"] = "our-spine", "Our spine SBRT"
    path = tmp_path / "our-spine.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_protocol(path).id == "our-spine"
    assert load_protocol(str(path)).dose_gy.value == 16.0


def test_a_bare_number_is_refused_naming_its_field():
    data = raw("spine-sbrt-16gy-1fx")
    data["goals"][1]["limit"] = 10
    with pytest.raises(ProtocolError) as error:
        parse_protocol(data, "x.json")
    assert str(error.value) == ('x.json: goals[1].limit = 10 has no source '
                                '(write {"value": 10, "source": "..."})')


def test_an_empty_source_is_refused_naming_its_field():
    data = raw("spine-imrt-50gy-25fx")
    data["derived_structures"][0]["margin_mm"]["source"] = "  "
    with pytest.raises(PlannerError, match=r"derived_structures\[0\]\.margin_mm has no source"):
        parse_protocol(data, "x.json")
    data = raw("tg119-c-shape")
    del data["prescription"]["dose_gy"]["source"]
    with pytest.raises(ProtocolError, match=r"prescription\.dose_gy has no source"):
        parse_protocol(data, "x.json")


def test_other_mistakes_are_named():
    data = raw("tg119-c-shape")
    data["goals"][0]["structure"] = "Rectum"
    with pytest.raises(ProtocolError, match=r"goals\[0\]\.structure 'Rectum' is not one of"):
        parse_protocol(copy.deepcopy(data))
    data = raw("tg119-c-shape")
    data["goals"][0]["metric"] = "D95"
    with pytest.raises(ProtocolError, match=r"goals\[0\]\.metric 'D95' is not"):
        parse_protocol(data)
    with pytest.raises(ProtocolError, match="no protocol 'nope'"):
        load_protocol("nope")
    data = raw("spine-sbrt-16gy-1fx")
    data["goals"][0]["volume_cc"] = {"value": 0.03, "source": "s"}
    with pytest.raises(ProtocolError, match=r"goals\[0\]\.volume_cc is not a field of a protocol goals"):
        parse_protocol(data)
    data = raw("spine-sbrt-16gy-1fx")
    data["goals"][2]["limit"]["value"] = 190
    with pytest.raises(ProtocolError, match=r"goals\[2\]\.limit is 190 %: a volume is at most 100 %"):
        parse_protocol(data)
    data = raw("spine-sbrt-16gy-1fx")
    data["structures"][1]["aliases"] = "Cord"
    with pytest.raises(ProtocolError, match=r"structures\[1\]\.aliases must be a list of names"):
        parse_protocol(data)
    data = raw("spine-sbrt-16gy-1fx")
    data["goals"][1]["id"] = data["goals"][0]["id"]
    with pytest.raises(ProtocolError, match="goal id cord-d0.03cc is used twice"):
        parse_protocol(data)
    data = raw("spine-sbrt-16gy-1fx")
    data["alpha_beta_gy"]["Cord"] = {"value": 2, "source": "s"}
    with pytest.raises(ProtocolError, match=r"alpha_beta_gy\.Cord is not one of the protocol's structures"):
        parse_protocol(data)


def test_tg119_objectives_are_the_files_and_the_plugins():
    from plugins.imrt_photon.plans import PRESCRIPTION_GY, TG119_OBJECTIVES

    # the set plugins/imrt_photon/plans.py held before it read the file (issue 14's table)
    assert TG119_OBJECTIVES == (
        Objective("PTV", "min_dose", 50.0, weight=1000.0),
        Objective("PTV", "max_dose", 52.0, weight=1000.0),
        Objective("Core", "max_dose", 8.0, weight=300.0),
        Objective("Body", "max_dose", 30.0, weight=30.0),
    )
    assert TG119_OBJECTIVES == starting_objectives(load_protocol("tg119-c-shape"))
    assert PRESCRIPTION_GY == 50.0


def test_the_goal_to_objective_rule():
    sbrt = load_protocol("spine-sbrt-16gy-1fx")
    # cord upper limits -> max_dose at the limit, priority 1 weight; coverage -> the file's own term
    assert starting_objectives(sbrt, {"SpinalCord": "Cord", "PTV": "PTV_T8", "PTV_Opt": "PTV_Opt"}) == (
        Objective("Cord", "max_dose", 14.0, weight=1000.0),
        Objective("Cord", "max_dose", 10.0, weight=1000.0),
        Objective("PTV_Opt", "min_dose", 16.0, weight=300.0),
    )
    # with the cord's volume known (1.4 cc), each absolute-volume limit is the DVH point it states
    assert starting_objectives(sbrt, volumes_cc={"SpinalCord": 1.4})[:2] == (
        Objective("SpinalCord", "max_dvh", 14.0, weight=1000.0, volume_fraction=0.03 / 1.4),
        Objective("SpinalCord", "max_dvh", 10.0, weight=1000.0, volume_fraction=0.35 / 1.4),
    )
    # a cord smaller than the goal's volume: the whole cord below the limit
    assert starting_objectives(sbrt, volumes_cc={"SpinalCord": 0.3})[1] == Objective("SpinalCord", "max_dose", 10.0,
                                                                                      weight=1000.0)
    conventional = starting_objectives(load_protocol("spine-imrt-50gy-25fx"))
    assert conventional[-1] == Objective("PTV", "max_dvh", 55.0, weight=30.0, volume_fraction=0.10)   # D10 <= 55
    data = raw("spine-sbrt-16gy-1fx")
    # a V_x <= p % goal -> max_dvh; Dmean -> mean_dose; a lower goal without its own term -> min_dose
    data["goals"] = [
        {"id": "a", "structure": "SpinalCord", "metric": "V10Gy", "comparison": "<=", "unit": "%", "priority": 2,
         "limit": {"value": 10, "source": "s"}},
        {"id": "b", "structure": "SpinalCord", "metric": "Dmean", "comparison": "<=", "unit": "Gy", "priority": 3,
         "limit": {"value": 4, "source": "s"}},
        {"id": "c", "structure": "PTV", "metric": "V16Gy", "comparison": ">=", "unit": "%", "priority": 1,
         "limit": {"value": 90, "source": "s"}},
    ]
    assert starting_objectives(parse_protocol(data)) == (
        Objective("SpinalCord", "max_dvh", 10.0, weight=300.0, volume_fraction=0.10),
        Objective("SpinalCord", "mean_dose", 4.0, weight=30.0),
        Objective("PTV", "min_dose", 16.0, weight=1000.0),
    )


def test_the_normalisation_is_read_and_checked():
    """spine SBRT is scaled to its cord limits (the coverage is what they leave); the others to
    coverage. "limits" needs a priority-1 dose limit to scale against and a V<Rx>Gy coverage goal."""
    assert load_protocol("spine-sbrt-16gy-1fx").normalisation.to == "limits"
    assert load_protocol("spine-imrt-50gy-25fx").normalisation.to == "coverage"
    assert load_protocol("tg119-c-shape").normalisation.to == "coverage"
    base = raw("spine-sbrt-16gy-1fx")

    def refused(change) -> str:
        data = copy.deepcopy(base)
        change(data)
        with pytest.raises(ProtocolError) as err:
            parse_protocol(data)
        return str(err.value)

    assert "prescription.normalisation.to must be one of coverage, limits, got 'cord'" in refused(
        lambda d: d["prescription"]["normalisation"].update(to="cord"))
    assert "prescription.normalisation.extra is not a field" in refused(
        lambda d: d["prescription"]["normalisation"].update(extra="x"))
    assert "needs a coverage goal V16Gy >= p % on PTV" in refused(
        lambda d: d.update(goals=[g for g in d["goals"] if g["structure"] != "PTV"]))

    def volume_limit(d):
        d["goals"][0].update(metric="V14Gy", unit="cc")
    assert "cannot scale against goal cord-d0.03cc (V14Gy in cc)" in refused(volume_limit)

    def no_limit(d):
        d.pop("reirradiation")
        d.update(goals=[g for g in d["goals"] if g["structure"] == "PTV"])
    assert "needs a priority-1 organ limit" in refused(no_limit)
