"""`planner send PACKAGE --pacs AE@HOST:PORT` as a script runs it, against a real Orthanc (fresh per test):
the planning image goes once, the exit statuses, the refusals, and the audit entry of each send."""

import json
import shutil
from pathlib import Path

import pytest

from planner.dicom.package import write_plan_package
from tests.dicom.signature_fixtures import flip_byte_after
from tests.dicom.test_send_package_to_pacs import orthanc, stored_in_orthanc  # noqa: F401  (fresh Orthanc)
from tests.review.test_plan_review import real_case, signed_package
from tests.cli_runner import planner

ROOT = Path(__file__).resolve().parents[2]




def send(folder, orthanc, audit_db, *extra):  # noqa: F811
    return planner("send", folder, "--pacs", f"{orthanc.ae_title}@{orthanc.host}:{orthanc.dicom_port}",
                   "--calling-ae", orthanc.client_ae_title, "--timeout-s", 5, "--audit-db", audit_db, *extra)


def test_send_brings_the_planning_image_once_and_audits_each_send(tmp_path, orthanc):  # noqa: F811
    folder, _, _ = signed_package(tmp_path / "plan", tmp_path)
    audit_db = tmp_path / "audit.sqlite"

    first = send(folder, orthanc, audit_db)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0].endswith("; planning image: sent")
    assert len(stored_in_orthanc(orthanc)) == 4

    again = send(folder, orthanc, audit_db, "--json")
    assert again.returncode == 0, again.stderr
    out = json.loads(again.stdout)
    assert out["planning_image"] == "already on the PACS" and out["all_stored"]
    assert [f["file"] for f in out["files"]] == ["RTPLAN.dcm", "RTSTRUCT.dcm", "RTDOSE.dcm"]
    assert len(stored_in_orthanc(orthanc)) == 4

    shown = json.loads(planner("audit", "show", "--db", audit_db, "--json").stdout)["entries"]
    assert [(e["action"], e["details"]["planning_image"]) for e in shown] == [("send", "sent"),
                                                                              ("send", "already on the PACS")]


def test_a_draft_is_sent_only_when_asked_and_a_broken_plan_never(tmp_path, orthanc):  # noqa: F811
    _, planning_image, plan, technique, dose, beam = real_case()
    draft = write_plan_package(tmp_path / "draft", plan, dose, planning_image, technique, beam_data=beam).folder
    refused = send(draft, orthanc, tmp_path / "audit.sqlite")
    assert refused.returncode == 2 and "unsigned (a draft)" in refused.stderr and "--draft" in refused.stderr
    assert orthanc.rest("/instances") == []
    assert send(draft, orthanc, tmp_path / "audit.sqlite", "--draft").returncode == 0

    signed, _, _ = signed_package(tmp_path / "signed", tmp_path)
    broken = shutil.copytree(signed, tmp_path / "broken")
    flip_byte_after(broken / "RTPLAN.dcm", b'"dose_per_fraction_gy":', 1)
    result = send(broken, orthanc, tmp_path / "audit.sqlite")
    assert result.returncode == 1 and "a signature is broken; the plan is not sent" in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("typed, command", [("send", ("send", "{folder}")),
                                            ("course send", ("course", "send", "{folder}/plan.json")),
                                            ("course fetch", ("course", "fetch", "--patient-id", "DEMO-0001",
                                                              "--out", "{folder}/b"))])
def test_a_pacs_address_that_is_not_ae_at_host_port_is_exit_2(tmp_path, typed, command):
    """Every command that talks to a PACS reads --pacs alike (planner.cli.shared.pacs_node), before anything else."""
    result = planner(*(part.format(folder=tmp_path) for part in command), "--pacs", "pacs.clinic:4242")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"planner {typed}: "
                                     "--pacs 'pacs.clinic:4242' is not AE@HOST:PORT (e.g. ORTHANC@pacs.clinic:4242)")
    assert list(tmp_path.iterdir()) == []
