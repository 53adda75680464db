"""IMRT isodose levels: percent of the prescription, named in Gy, in the shared isodose palette."""

import pytest

from planner.dose.isodose_palette import ISODOSE_COLOURS, PRESCRIPTION_ISODOSE_COLOUR
from planner.dose.prescription_isodoses import legend_title, prescription_isodoses


def test_levels_of_50_gy_are_named_in_gy_and_percent():
    levels = prescription_isodoses(50.0)
    assert [level.dose_gy for level in levels] == pytest.approx([52.5, 50.0, 47.5, 40.0, 25.0, 10.0])
    assert [level.label for level in levels] == ["52.5 Gy · 105 %", "50 Gy · 100 %", "47.5 Gy · 95 %",
                                                 "40 Gy · 80 %", "25 Gy · 50 %", "10 Gy · 20 %"]
    assert legend_title(50.0) == "Isodoses, % of 50 Gy prescribed"


def test_colours_are_the_palettes_hottest_first_and_the_prescription_white():
    colours = [level.colour for level in prescription_isodoses(70.0)]
    assert colours == [ISODOSE_COLOURS[0], PRESCRIPTION_ISODOSE_COLOUR, *ISODOSE_COLOURS[1:]]
    assert [level.dose_text for level in prescription_isodoses(70.0)] == ["73.5 Gy", "70 Gy", "66.5 Gy", "56 Gy",
                                                                          "35 Gy", "14 Gy"]


def test_a_prescription_of_no_dose_is_refused():
    with pytest.raises(ValueError, match="above 0 Gy"):
        prescription_isodoses(0.0)
