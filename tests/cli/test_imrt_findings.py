"""`planner imrt` reports the hot-spot finding (planner.dose.hot_spot) in its JSON and its text."""

import json
import re

import pytest

from planner.cli.main import main

ARGS = ["imrt", "--tg119", "--grid-mm", "10", "--iterations", "20"]


def test_json_has_the_findings_with_their_numbers(capsys):
    assert main([*ARGS, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    text = out["hot_spot_check"]
    messages = [f["message"] for f in out["findings"]]
    for finding in out["findings"]:
        assert finding["code"] == "hot-spot-outside-target" and finding["severity"] == "warn"
        assert finding["message"].startswith("Hot spot outside the target: Body ")
    body = out["dvh_points"]["Body"]["d0_03cc_gy"]
    if messages:
        assert "; ".join(messages) == text
    else:   # the check reads the body at the samples its reported D0.03cc comes from: the same number
        assert text.startswith(f"No hot spot outside the target: the Body's hottest 0.03 cc (D0.03cc {body:.2f} Gy)")
    # the body outside the PTV, in Gy and in % of the 50 Gy prescribed; above 107 % (ICRU 50) it is a finding
    outside_gy, percent = (float(v) for v in re.search(r"Body outside PTV D0\.03cc (\d+\.\d\d) Gy \((\d+(?:\.\d)?) % "
                                                       r"of 50 Gy\)", text).groups())
    assert percent == pytest.approx(100 * outside_gy / 50.0, abs=0.06)
    assert any("above the 107 % ICRU Report 50 allows" in m for m in messages) == (outside_gy > 53.5)


def test_text_prints_the_finding_or_why_there_is_none(capsys):
    assert main(ARGS) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("finding", "findings"))]
    assert len(lines) >= 1
    assert all(line.startswith("finding       ⚠ Hot spot outside the target: ")
               or line.startswith("findings      none: No hot spot outside the target: ") for line in lines)
