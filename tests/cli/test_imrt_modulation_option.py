"""`planner imrt --modulation-weight`: the weight reaches the plan, every run reports the MU per
fraction and segments of the leaf-sequenced plan and its factor over open fields, and a negative
weight is a one-line error."""

import json

import pytest

from planner.cli.main import main


def test_the_weight_is_used_and_mu_and_segments_are_reported(capsys):
    assert main(["imrt", "--tg119", "--grid-mm", "10", "--iterations", "30", "--modulation-weight", "0",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    modulation = out["modulation"]
    assert modulation["modulation_weight"] == 0.0
    assert isinstance(out["segments"], int) and out["segments"] > 9
    assert out["mu_per_fraction"] > modulation["open_field_mu_per_fraction"] > 0
    assert modulation["modulation_factor"] == pytest.approx(out["mu_per_fraction"]
                                                            / modulation["open_field_mu_per_fraction"])
    assert (modulation["min_segment_mu"], modulation["min_segment_area_cm2"]) == (2.0, 1.0)
    assert out["deliverable"] is None   # no --out: nothing written
    # the leaf-sequenced plan is normalised again: its PTV D95 is the prescription too
    assert out["delivered_dvh_points"]["PTV"]["d95_gy"] == pytest.approx(50.0, abs=1e-3)
    assert set(out["delivered_dvh_points"]) == {"PTV", "Core", "Body"}


def test_a_negative_weight_is_refused_in_one_line(capsys):
    assert main(["imrt", "--tg119", "--grid-mm", "10", "--modulation-weight", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "modulation weight must be a number ≥ 0" in err and "\n" not in err
