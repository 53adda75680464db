"""`planner imrt` reports the hot-spot finding (planner.dose.hot_spot) in its JSON and its text."""

import json
import re

from planner.cli.main import main

ARGS = ["imrt", "--tg119", "--grid-mm", "10", "--iterations", "20"]


def test_json_has_the_findings_and_the_check_names_the_reported_body_d0_03cc(capsys):
    assert main([*ARGS, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out["findings"], list)
    for finding in out["findings"]:
        assert finding["code"] == "hot-spot-outside-target" and finding["severity"] == "warn"
        assert finding["message"] == out["hot_spot_check"]
    # the check reads the body at the samples its reported D0.03cc comes from: the same number
    body = out["dvh_points"]["Body"]["d0_03cc_gy"]
    assert f"D0.03cc {body:.2f} Gy" in out["hot_spot_check"]
    hot = out["hot_spot_check"].startswith("Hot spot outside the target: Body D0.03cc ")
    assert hot == bool(out["findings"])
    assert hot or re.fullmatch(r"No hot spot outside the target: the Body's hottest 0\.03 cc \(D0\.03cc \d+\.\d\d Gy\) "
                               r"lies inside PTV; Body outside PTV D0\.03cc \d+\.\d\d Gy", out["hot_spot_check"])


def test_text_prints_the_finding_or_why_there_is_none(capsys):
    assert main(ARGS) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("finding", "findings"))]
    assert len(lines) >= 1
    assert all(line.startswith("finding       ⚠ Hot spot outside the target: ")
               or line.startswith("findings      none: No hot spot outside the target: ") for line in lines)
