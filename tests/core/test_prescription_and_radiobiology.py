import pytest

from planner.core.prescription import Prescription, PrescriptionError
from planner.core.radiobiology import bed_gy, biological_doses, eqd2_gy

# shared/reference/physics-data.md §4.2 (BED/EQD2 arithmetic, printed to 2 decimals);
# 40 Gy / 8 fx → BED10 60 Gy and 50 Gy / 10 fx → BED10 75 Gy are printed by Delishaj et al. 2015.
PUBLISHED = [
    # dose/fx, fx, BED10, EQD2(10), BED3, EQD2(3)
    (18.0, 1, 50.40, 42.00, 126.00, 75.60),
    (7.0, 5, 59.50, 49.58, 116.67, 70.00),
    (5.0, 8, 60.00, 50.00, 106.67, 64.00),
    (7.0, 6, 71.40, 59.50, 140.00, 84.00),
    (6.1, 6, 58.93, 49.10, 111.02, 66.61),
    (4.5, 9, 58.73, 48.94, 101.25, 60.75),
    (5.0, 10, 75.00, 62.50, 133.33, 80.00),
]


@pytest.mark.parametrize("d, n, bed10, eqd2_10, bed3, eqd2_3", PUBLISHED)
def test_bed_and_eqd2_match_the_reference_table_to_its_printed_precision(d, n, bed10, eqd2_10, bed3, eqd2_3):
    rx = Prescription(d, n)
    assert bed_gy(rx, 10.0) == pytest.approx(bed10, abs=0.005)
    assert eqd2_gy(rx, 10.0) == pytest.approx(eqd2_10, abs=0.005)
    assert bed_gy(rx, 3.0) == pytest.approx(bed3, abs=0.005)
    assert eqd2_gy(rx, 3.0) == pytest.approx(eqd2_3, abs=0.005)


def test_biological_doses_are_given_for_tumour_and_late_skin():
    doses = biological_doses(Prescription(7.0, 5))
    assert [d.alpha_beta_gy for d in doses] == [10.0, 3.0]


def test_total_dose():
    assert Prescription(7.0, 5).total_dose_gy == pytest.approx(35.0)


@pytest.mark.parametrize("d, n, fragment", [
    (0.0, 5, "above 0 Gy"), (-2.0, 5, "above 0 Gy"), (float("nan"), 5, "number of Gy"),
    (5.0, 0, "at least 1"), (5.0, 2.5, "whole number"), (5.0, True, "whole number"),
])
def test_impossible_prescriptions_are_refused_with_the_reason(d, n, fragment):
    with pytest.raises(PrescriptionError, match=fragment):
        Prescription(d, n)
