"""One meaning of "X %": percent of Dmax; the coverage line and the prescription sentence, by hand."""

import pytest

from planner.core.prescription import PrescriptionPoint
from planner.dose.coverage import Coverage, percent_text, prescription_sentence
from planner.dose.image_dose import lesion_coverage
from planner.dose.metrics import DoseMetrics


def test_the_demo_numbers_of_the_issue_read_outside_the_90_percent_isodose():
    # 18 Gy to the 90 % isodose: Dmax = 18 / 0.9 = 20 Gy; the deepest point at 2.70 mm gets 14.30 Gy = 71.5 %.
    c = Coverage(dmax_gy=20.0, prescription_isodose_percent=90.0, deepest_point_depth_mm=2.70,
                 deepest_point_dose_gy=14.30)
    assert c.deepest_point_percent_of_dmax == pytest.approx(71.5)
    assert c.covered is False
    assert c.sentence() == "Lesion's deepest point, 2.70 mm: 71.5 % of Dmax, 14.30 Gy — outside the 90 % isodose"


def test_covered_is_judged_on_the_percentage_as_shown():
    at_the_line = Coverage(20.0, 90.0, 1.0, 18.0)          # 90.0 %
    just_below = Coverage(20.0, 90.0, 1.0, 17.98)          # 89.9 %
    assert at_the_line.covered and "inside the 90 % isodose" in at_the_line.sentence()
    assert not just_below.covered and "89.9 % of Dmax" in just_below.sentence()


def test_a_depth_prescription_names_the_isodose_it_amounts_to():
    assert percent_text(76.43) == "76.4 %" and percent_text(90.0) == "90 %"
    assert prescription_sentence(5.0, PrescriptionPoint.at_depth(3.0), 6.54, 76.43) == \
        "5 Gy per fraction at 3 mm depth on the beam axis: the 76.4 % isodose (Dmax = 6.54 Gy)"
    assert prescription_sentence(18.0, PrescriptionPoint.isodose(90.0), 20.0, 90.0) == \
        "18 Gy per fraction to the 90 % isodose (Dmax = 20.00 Gy)"
    assert prescription_sentence(18.0, PrescriptionPoint.surface(), 18.0, 100.0) == \
        "18 Gy per fraction at the surface (Dmax = 18.00 Gy)"


def metrics(dose_at_deepest_gy):
    return DoseMetrics(surface_dose_gy=20.0, deepest_point_mm=(0.0, 3.7), deepest_point_depth_mm=2.7,
                       dose_at_deepest_point_gy=dose_at_deepest_gy, lesion_pixel_count=10, lesion_d98_gy=None,
                       lesion_d90_gy=None, lesion_dmin_gy=None, lesion_dmean_gy=None,
                       depth_90_percent_isodose_mm=None, depth_80_percent_isodose_mm=None)


def test_an_uncovered_deepest_point_is_a_warning_with_the_same_sentence():
    coverage, findings = lesion_coverage(metrics(14.3), 20.0, 90.0)
    assert [(f.severity, f.code) for f in findings] == [("warn", "isodose-short")]
    assert findings[0].message == ("under-dosed: lesion's deepest point, 2.70 mm: 71.5 % of Dmax, 14.30 Gy — "
                                   "outside the 90 % isodose")
    covered, none = lesion_coverage(metrics(18.5), 20.0, 90.0)
    assert covered.covered and none == []
    assert lesion_coverage(metrics(None), 20.0, 90.0) == (None, [])
