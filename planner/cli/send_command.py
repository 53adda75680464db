"""``planner send PACKAGE_DIR --pacs AE@HOST:PORT``: the window's Send to PACS from the command line.

The same core function (planner.dicom.package_send): the RT Plan, Structure Set and Dose, and the
planning image unless the PACS holds it already. As in the window, a broken signature is never sent
and an unsigned draft only when asked for (``--draft``). The send is audited like the window's; a log
that cannot record means nothing is sent.
"""

from __future__ import annotations

from pathlib import Path

from planner.cli.audit_recording import add_audit_db_argument, recording
from planner.cli.shared import (EXIT_FAILURE, EXIT_OK, CommandError, InputError, add_json_argument,
                                add_pacs_arguments, pacs_node, print_json)


def register(commands) -> None:
    send = commands.add_parser(
        "send", help="send a plan package to a PACS, with its planning image unless the PACS holds it",
        description="C-STORE the package's RTPLAN.dcm, RTSTRUCT.dcm and RTDOSE.dcm, and US.dcm (the planning "
                    "image) when a C-FIND shows the PACS lacks it. Exit 0 when everything, the image included, "
                    "is on the PACS; 1 when something was not stored or the PACS failed; 2 on wrong input.")
    send.add_argument("package", help="the plan package folder (as written by `planner plan` or the window)")
    add_pacs_arguments(send)
    send.add_argument("--draft", action="store_true", help="send an unsigned plan (a draft) too")
    add_audit_db_argument(send)
    add_json_argument(send)
    send.set_defaults(run=run_send)


def run_send(args) -> int:
    from planner.dicom.export import RT_PLAN_FILE
    from planner.dicom.network import PacsError
    from planner.dicom.package import PackageError
    from planner.dicom.package_send import (BrokenPlanNotSent, DraftNotAskedFor, check_sendable,
                                            send_plan_package)
    from planner.dicom.signatures import SignatureError

    node = pacs_node(args)
    folder = Path(args.package)
    rt_plan = folder / RT_PLAN_FILE
    if not rt_plan.is_file():
        raise InputError(f"{folder} is not a plan package (no {RT_PLAN_FILE})")
    try:  # refused before the audit log is opened: a refusal is not a send
        check_sendable(folder, send_draft=args.draft)
    except SignatureError as err:
        raise InputError(f"{rt_plan}: {err}") from None
    except BrokenPlanNotSent as err:
        raise CommandError(str(err)) from None
    except DraftNotAskedFor as err:
        raise InputError(f"{err} (--draft)") from None
    details = {"to": str(node), "folder": str(folder)}
    with recording(args.audit_db, "send", details, what="the send") as record:
        try:
            report = send_plan_package(node, folder, send_draft=args.draft)
        except PackageError as err:
            raise InputError(str(err)) from None
        except PacsError as err:
            raise CommandError(f"not sent: {err}") from None
        details.update(stored=len(report.files.stored), files=len(report.files.outcomes),
                       planning_image=report.planning_image)
        record(_rt_plan_uid(rt_plan))
    if args.json:
        print_json({"pacs": str(node), "all_stored": report.all_stored, "planning_image": report.planning_image,
                    "files": [{"file": o.path.name, "stored": o.stored, "status": o.meaning}
                              for o in report.files.outcomes]})
    else:
        print(("Sent: " if report.all_stored else "Not everything was stored: ") + report.summary())
        for outcome in report.files.outcomes:
            print(f"  {outcome.path.name}: {outcome.meaning}")
    return EXIT_OK if report.all_stored else EXIT_FAILURE


def _rt_plan_uid(rt_plan: Path) -> str:
    from pydicom import dcmread

    return str(dcmread(rt_plan, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID)
