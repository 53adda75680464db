"""Protocol structures matched to a CT's (issue 18, point 2): TG-263 names and variants, the RT ROI
Interpreted Type, the explicit mapping, and the stops (missing, ambiguous)."""

import pytest

from planner.core.protocols.matching import StructureMatchError, match_structures, parse_mapping, tg263_name
from planner.core.protocols.protocol import load_protocol

SBRT = load_protocol("spine-sbrt-16gy-1fx")


@pytest.mark.parametrize("cord", ["SpinalCord", "Cord", "spinal_cord", "Spinal Cord", "Medulla", "SPINALCORD",
                                  "spinal-cord"])
def test_cord_variants_case_free(cord):
    ct = {"PTV": "PTV", cord: "ORGAN", "BODY": "EXTERNAL"}
    assert match_structures(SBRT, ct) == {"PTV": "PTV", "SpinalCord": cord, "External": "BODY"}


def test_target_and_external_by_interpreted_type_when_the_name_differs():
    ct = {"PTV_T8_16Gy": "PTV", "Cord": "ORGAN", "Patient outline": "EXTERNAL", "GTV": "GTV"}
    assert match_structures(SBRT, ct) == {"PTV": "PTV_T8_16Gy", "SpinalCord": "Cord",
                                          "External": "Patient outline"}


def test_an_organ_is_never_matched_by_type_alone():
    ct = {"PTV": "PTV", "Esophagus": "ORGAN", "BODY": "EXTERNAL"}
    with pytest.raises(StructureMatchError) as error:
        match_structures(SBRT, ct)
    assert str(error.value) == ("protocol structure SpinalCord (organ) is not on this CT: map it to one of "
                                "BODY, Esophagus, PTV (--map SpinalCord=<CT ROI>)")


def test_two_candidates_stop_naming_both():
    ct = {"PTV": "PTV", "Cord": "ORGAN", "SpinalCord": "ORGAN", "BODY": "EXTERNAL"}
    with pytest.raises(StructureMatchError) as error:
        match_structures(SBRT, ct)
    assert str(error.value) == ("protocol structure SpinalCord matches both Cord and SpinalCord: "
                                "map one (--map SpinalCord=Cord)")


def test_the_type_settles_two_names():
    ct = {"PTV": "PTV", "Cord": "ORGAN", "SpinalCord": "AVOIDANCE", "BODY": "EXTERNAL", "Body": "ORGAN"}
    # two externals by name, one of type EXTERNAL; two cords, both organ-like types -> still a stop
    with pytest.raises(StructureMatchError, match="matches both Cord and SpinalCord"):
        match_structures(SBRT, ct)
    ct["SpinalCord"] = "PTV"
    assert match_structures(SBRT, ct) == {"PTV": "PTV", "SpinalCord": "Cord", "External": "BODY"}


def test_ptv_variants():
    base = {"Cord": "ORGAN", "BODY": "EXTERNAL"}
    # a name beginning with PTV; the exact name first; of two, the PTV-typed one
    assert match_structures(SBRT, {**base, "ptv_t8": ""})["PTV"] == "ptv_t8"
    assert match_structures(SBRT, {**base, "PTV": "", "PTV_T8": "PTV"})["PTV"] == "PTV"
    assert match_structures(SBRT, {**base, "PTV_T8": "PTV", "PTV_Opt": "CONTROL"})["PTV"] == "PTV_T8"
    with pytest.raises(StructureMatchError, match="PTV matches both PTV_T7 and PTV_T8"):
        match_structures(SBRT, {**base, "PTV_T8": "PTV", "PTV_T7": "PTV"})


def test_two_ptv_typed_structures_without_a_ptv_name_stop():
    ct = {"PTV_high": "PTV", "PTV_low": "PTV", "Cord": "ORGAN", "BODY": "EXTERNAL"}
    with pytest.raises(StructureMatchError, match="PTV matches both PTV_high and PTV_low"):
        match_structures(SBRT, ct)


def test_explicit_mapping_wins_and_is_checked():
    ct = {"PTV": "PTV", "Cord": "ORGAN", "SpinalCord": "ORGAN", "BODY": "EXTERNAL"}
    mapping = parse_mapping(["SpinalCord=Cord"])
    assert match_structures(SBRT, ct, mapping)["SpinalCord"] == "Cord"
    with pytest.raises(StructureMatchError, match="the CT has no structure 'Myelon_T8'"):
        match_structures(SBRT, ct, {"SpinalCord": "Myelon_T8"})
    with pytest.raises(StructureMatchError, match="the protocol has no structure 'Rectum'"):
        match_structures(SBRT, ct, {"Rectum": "Cord"})
    with pytest.raises(StructureMatchError, match="is not Protocol=CT_ROI"):
        parse_mapping(["SpinalCord"])


def test_tg263_names_of_variants():
    assert [tg263_name(n) for n in ("cauda equina", "Brain_Stem", "medulla", "Parotid_L")] == \
        ["CaudaEquina", "BrainStem", "SpinalCord", None]
