"""Measured CSV import: validation with line numbers, replacement of computed data, provenance."""

import hashlib
import math

import pytest

from planner.dose.measured_data import (MeasuredBeamSet, MeasuredDataError, apply_measured, read_backscatter_csv,
                                        read_output_factors_csv, read_pdd_csv, read_profiles_csv)
from tests.dose.kv_fixtures import synthetic_beam

GOOD_PDD = "# 50 kV, 15 mm cone, SSD 15 cm\ndepth_mm,percent\n0,100\n1,88\n2,78\n5,57\n"
GOOD_PROFILES = ("depth_mm,off_axis_mm,percent_of_central_axis\n0,0,100\n0,5,99\n0,7.5,50\n0,9,1\n"
                 "2,0,100\n2,5,98\n2,7.6,50\n2,9,2\n")


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_good_pdd_with_cm_and_uncertainty(tmp_path):
    m = read_pdd_csv(write(tmp_path, "pdd.csv", GOOD_PDD))
    assert m.points == ((0, 100), (1, 88), (2, 78), (5, 57)) and m.uncertainty is None
    assert m.file.sha256 == hashlib.sha256(GOOD_PDD.encode()).hexdigest()
    m = read_pdd_csv(write(tmp_path, "cm.csv", "depth_cm,percent,uncertainty_percent\n0,100,0.5\n0.2,80,0.5\n"))
    assert m.points == ((0, 100), (2.0, 80)) and m.uncertainty == ((0, 0.5), (2.0, 0.5))


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("depth_in,percent\n0,100\n", r"line 1: unknown column 'depth_in'"),
    ("percent\n100\n", r"line 1: .*lacks a column depth_mm or depth_cm"),
    ("depth_mm,dose\n0,100\n", r"line 1: unknown column 'dose'"),
    ("depth_mm,percent\n", "line 1: a header but no data rows"),
    ("depth_mm,percent\n0,100\n1,abc\n", r"line 3: percent 'abc' is not a number"),
    ("depth_mm,percent\n0,100\n1\n", r"line 3: 1 values, the header has 2"),
    ("# c\n\ndepth_mm,percent\n0,100\n1,90\n1,85\n", r"line 6: depth 1 mm does not increase"),
    ("depth_mm,percent\n0.5,100\n1,90\n", r"line 2: the first depth must be 0"),
    ("depth_mm,percent\n0,95\n1,90\n", r"line 2: the surface value is 95 %"),
    ("depth_mm,percent\n0,100\n1,-3\n", r"line 3: -3 % is outside"),
    ("depth_mm,percent\n0,100\n1,inf\n", r"line 3: percent 'inf' is not a finite number"),
    ("depth_mm,percent\n-1,100\n", r"line 2: depth -1 mm is above the surface"),
    ("depth_mm,percent\n0,100\n", "at least 2 depths"),
    ("depth_mm,percent,uncertainty_percent\n0,100,-1\n1,90,1\n", r"line 2: uncertainty -1 is negative"),
])
def test_pdd_errors_name_the_line(tmp_path, text, message):
    with pytest.raises(MeasuredDataError, match=message):
        read_pdd_csv(write(tmp_path, "pdd.csv", text))


def test_profiles_and_their_errors(tmp_path):
    m = read_profiles_csv(write(tmp_path, "prof.csv", GOOD_PROFILES))
    assert [z for z, _ in m.profiles] == [0, 2] and m.profiles[1][1][2] == (7.6, 50)
    for text, message in [
        ("depth_mm,off_axis_mm,percent\n0,0,100\n", "unknown column 'percent'"),
        ("depth_mm,off_axis_mm,percent_of_central_axis\n0,1,100\n0,2,90\n", "line 2: .*must start on the axis"),
        ("depth_mm,off_axis_mm,percent_of_central_axis\n0,0,90\n0,2,90\n", "line 2: .*normalised to 100 % on the axis"),
        ("depth_mm,off_axis_mm,percent_of_central_axis\n2,0,100\n2,1,90\n0,0,100\n0,1,9\n", "line 4: depth 0 mm comes after 2 mm"),
        ("depth_mm,off_axis_mm,percent_of_central_axis\n0,0,100\n0,2,90\n0,1,80\n", "line 4: off-axis distance 1 mm does not increase"),
        ("depth_mm,off_axis_mm,percent_of_central_axis\n0,0,100\n0,-2,90\n", "line 3: off-axis distance -2 mm is negative"),
        ("depth_mm,off_axis_mm,percent_of_central_axis\n0,0,100\n", "line 2: the profile at depth 0 mm has a single point"),
    ]:
        with pytest.raises(MeasuredDataError, match=message):
            read_profiles_csv(write(tmp_path, "p.csv", text))


def test_backscatter_and_output_factors(tmp_path):
    b = read_backscatter_csv(write(tmp_path, "bw.csv", "backscatter_factor,uncertainty\n1.071,0.004\n"))
    assert (b.value, b.uncertainty) == (1.071, 0.004)
    for text, message in [("backscatter_factor,uncertainty\n0.98,0.01\n", "line 2: B_w 0.98 is below 1"),
                          ("backscatter_factor,uncertainty\n1.9,0.01\n", "line 2: B_w 1.9 is above"),
                          ("backscatter_factor,uncertainty\n1.05,0.01\n1.06,0.01\n", "line 3: one data row"),
                          ("uncertainty,backscatter_factor\n0.01,1.05\n", "line 1: expected header")]:
        with pytest.raises(MeasuredDataError, match=message):
            read_backscatter_csv(write(tmp_path, "b.csv", text))
    of = read_output_factors_csv(write(tmp_path, "of.csv", "cone_mm,output_factor\n15,0.970\n20,1.000\n30,1.031\n"))
    assert of.reference_cone_mm == 20 and of.factor(30) == 1.031 and of.factor(40) is None
    for text, message in [("cone_mm,output_factor\n15,0.97\n20,0.99\n", "exactly one cone must have output factor 1.000"),
                          ("cone_mm,output_factor\n15,1.0\n15,0.9\n", "line 3: cone 15 mm appears twice"),
                          ("cone_mm,output_factor\n15,1.0\n20,0\n", "line 3: output factor 0 must be above 0")]:
        with pytest.raises(MeasuredDataError, match=message):
            read_output_factors_csv(write(tmp_path, "o.csv", text))


def test_measured_data_replace_computed_and_record_the_file(tmp_path):
    beam = synthetic_beam(ssd_cm=15.0)
    pdd = read_pdd_csv(write(tmp_path, "pdd.csv", GOOD_PDD))
    prof = read_profiles_csv(write(tmp_path, "prof.csv", GOOD_PROFILES))
    bw = read_backscatter_csv(write(tmp_path, "bw.csv", "backscatter_factor,uncertainty\n1.071,0.004\n"))
    partial = apply_measured(beam, MeasuredBeamSet("50kV", "cone-15mm", 15.0, pdd=pdd), kvp=50, hvl_mm_al=0.52,
                             field_diameter_mm=15)
    assert partial.pdd == pdd.points and partial.profiles == beam.profiles
    assert partial.provenance["pdd"].startswith("measured: pdd.csv (sha256 " + pdd.file.sha256[:12])
    assert partial.provenance["backscatter_factor"] == "synthetic fixture"
    assert math.isnan(partial.pdd_uncertainty[0][1])
    full = apply_measured(None, MeasuredBeamSet("50kV", "cone-15mm", 15.0, pdd, prof, bw), kvp=50, hvl_mm_al=0.52,
                          field_diameter_mm=15)
    assert full.n_photons == 0 and full.backscatter_factor == 1.071
    # profile at 2 mm: % of central axis × PDD(2 mm) = 78 % → 50 % of the axis is 39 % of the surface dose
    assert full.profiles[1].points[2] == (7.6, pytest.approx(39.0))
    assert "bw.csv" in full.provenance["backscatter_factor"]
    with pytest.raises(MeasuredDataError, match="lack profiles, backscatter factor"):
        apply_measured(None, MeasuredBeamSet("50kV", "cone-15mm", 15.0, pdd=pdd), kvp=50, hvl_mm_al=0.52,
                       field_diameter_mm=15)
    with pytest.raises(MeasuredDataError, match="SSD 25 cm"):
        apply_measured(beam, MeasuredBeamSet("50kV", "cone-15mm", 25.0, pdd=pdd), kvp=50, hvl_mm_al=0.52,
                       field_diameter_mm=15)
    deep = read_profiles_csv(write(tmp_path, "deep.csv", "depth_mm,off_axis_mm,percent_of_central_axis\n8,0,100\n8,5,90\n"))
    with pytest.raises(MeasuredDataError, match="deeper than the PDD"):
        apply_measured(beam, MeasuredBeamSet("50kV", "cone-15mm", 15.0, pdd=pdd, profiles=deep), kvp=50,
                       hvl_mm_al=0.52, field_diameter_mm=15)
