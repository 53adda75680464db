"""``planner course send`` and ``planner course fetch``: the course on the PACS, and rebuilt from it.

``course send PLAN --pacs AE@HOST:PORT`` stores the plan package as ``planner send`` does (the same
core function, the same refusals of a broken or unasked-for draft plan), then the course's session images
and treatment records, then the course object that names them all (planner.dicom.course_objects). All
or nothing is not possible over a network: every object is listed with what the PACS answered and whether a
C-FIND then lists it (a success answer is not proof: Orthanc answers success for an instance its filter
drops), and the course object is stored only when everything it names is on the PACS, so a PACS never holds
a course whose parts it lacks. ``course fetch --pacs ... --patient-id ID --out DIR`` rebuilds the course into an empty
folder from the PACS alone (planner.dicom.course_fetch); `planner course show DIR/plan.json` then shows it. The fetch
says which RT Plan it took (the current one of a re-planned course; the earlier phases' RT Plans, and any the PACS
lacks) and its signature status and treatment verdict, judged with the trusted certificates as `planner review`
judges them (--trust); a broken or unreadable RT Plan is refused in one line (exit 1): no plan file is built from it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from planner.cli.audit_recording import add_audit_db_argument, recording
from planner.cli.shared import (EXIT_FAILURE, EXIT_OK, CommandError, InputError, add_json_argument,
                                add_pacs_arguments, add_trust_argument, pacs_node, print_json, treatment_json,
                                treatment_lines, trusted_certificates)


def register(sub) -> None:
    """Add ``send`` and ``fetch`` to the ``course`` subcommands ``sub``."""
    send = sub.add_parser("send", help="send the plan package and the course's images, records and course object "
                                       "to a PACS",
                          description="C-STORE the plan package beside PLAN (as `planner send`), each imaging "
                                      "session's image (a picture converted to DICOM), each fraction's treatment "
                                      "record, and last the course object naming them all, once a C-FIND shows the "
                                      "PACS holds everything it names. Exit 0 when everything is on the PACS; 1 when "
                                      "something is not (each object is listed); 2 on wrong input.")
    send.add_argument("plan", metavar="PLAN", help="the plan file of the package (plan.json beside RTPLAN.dcm)")
    add_pacs_arguments(send)
    send.add_argument("--draft", action="store_true", help="send an unsigned plan (a draft) too")
    add_audit_db_argument(send)
    add_json_argument(send)
    send.set_defaults(run=run_course_send)

    fetch = sub.add_parser("fetch", help="rebuild a patient's course from the PACS into an empty folder",
                           description="C-FIND the patient's studies, C-GET the newest Planner course object of the "
                                       "patient's plan and everything it names, and write DIR/plan.json with the "
                                       "package, session images and treatment records beside it. A missing object "
                                       "is named and nothing is written. The plan file is built from the plan the "
                                       "RT Plan embeds: its signatures are checked as `planner review` checks them "
                                       "and said; a broken signature is refused (exit 1).")
    add_pacs_arguments(fetch)
    fetch.add_argument("--patient-id", required=True, metavar="ID", help="the patient's ID, exactly")
    fetch.add_argument("--out", required=True, metavar="DIR", help="an empty or new folder to write the course into")
    fetch.add_argument("--rt-plan", default=None, metavar="UID",
                       help="the RT Plan's SOP Instance UID, when the patient has courses of several plans")
    add_trust_argument(fetch)
    add_json_argument(fetch)
    fetch.set_defaults(run=run_course_fetch)


def run_course_send(args) -> int:
    from planner.core.plan_file import PlanFileError, load_plan
    from planner.dicom.course_objects import CourseObjectError, prepare_course_objects
    from planner.dicom.network import PacsError, send_files
    from planner.dicom.package import PackageError
    from planner.dicom.package_send import BrokenPlanNotSent, DraftNotAskedFor, check_sendable, send_plan_package
    from planner.dicom.signatures import SignatureError

    node = pacs_node(args)
    path = Path(args.plan)
    try:
        plan = load_plan(path)
        check_sendable(path.parent, send_draft=args.draft)
    except (PlanFileError, SignatureError) as err:
        raise InputError(str(err)) from None
    except BrokenPlanNotSent as err:
        raise CommandError(str(err)) from None
    except DraftNotAskedFor as err:
        raise InputError(f"{err} (--draft)") from None
    rows: list[dict] = []
    details = {"to": str(node), "folder": str(path.parent), "what": "the plan package and its course"}
    with tempfile.TemporaryDirectory(prefix="planner-course-send-") as staging:
        try:   # everything is made and checked before the first object leaves, and before the log is opened
            objects = prepare_course_objects(plan, path.parent, staging)
        except CourseObjectError as err:
            raise InputError(str(err)) from None
        with recording(args.audit_db, "send", details, what="the send") as record:   # audited as `planner send`
            try:
                package = send_plan_package(node, path.parent, send_draft=args.draft)
                rows += [_row(o, f"the plan package's {o.path.name}") for o in package.files.outcomes]
                parts = send_files(node, [part.path for part in objects.parts])
                rows += [_row(o, part.what) for o, part in zip(parts.outcomes, objects.parts)]
                named = {**{ref.sop_instance: f"the plan package's {name}" for name, ref in objects.package.items()},
                         **{part.ref.sop_instance: part.what for part in objects.parts}}
                if _confirmed(node, rows, named, [*objects.package.values(), *(p.ref for p in objects.parts)]):
                    rows.append(_row(send_files(node, [objects.course_object.path]).outcomes[0], "the course object"))
                    _confirmed(node, rows, {}, [objects.course_object.ref])
                else:
                    rows.append({"object": "the course object", "file": objects.course_object.path.name,
                                 "sop_instance_uid": objects.course_object.ref.sop_instance, "stored": False,
                                 "status": "not sent: the objects it names are not all on the PACS"})
            except PackageError as err:
                raise InputError(str(err)) from None
            except PacsError as err:
                stored = ", ".join(r["object"] for r in rows if r["stored"]) or "nothing"
                raise CommandError(f"not sent: {err} (stored before: {stored})") from None
            details.update(stored=sum(r["stored"] for r in rows), files=len(rows), planning_image=package.planning_image)
            record(objects.rt_plan_uid)
    all_stored = all(r["stored"] for r in rows)
    if args.json:
        print_json({"pacs": str(node), "all_stored": all_stored, "planning_image": package.planning_image,
                    "objects": rows})
    else:
        print(f"{'Sent' if all_stored else 'Not everything was stored'}: {sum(r['stored'] for r in rows)} of "
              f"{len(rows)} objects on {node}; planning image: {package.planning_image}")
        for row in rows:
            print(f"  {row['object']} ({row['file']}): {row['status']}")
    return EXIT_OK if all_stored else EXIT_FAILURE


def _row(outcome, what: str) -> dict:
    return {"object": what, "file": outcome.path.name, "sop_instance_uid": outcome.sop_instance_uid,
            "stored": outcome.stored, "status": outcome.meaning}


def _confirmed(node, rows: list[dict], named: dict[str, str], refs) -> bool:
    """Whether the PACS lists every instance of ``refs`` (a C-FIND each: planner.dicom.course_objects.not_held);
    a row the PACS answered success for but does not list is marked not stored, an instance with no row
    (named: SOP Instance UID → what it is) gets one. A PACS that refuses queries: the C-STORE answers stand."""
    from planner.dicom.course_objects import not_held
    from planner.dicom.network import PacsError

    try:
        missing = not_held(node, refs)
    except PacsError as err:
        asked = {ref.sop_instance for ref in refs}
        for row in rows:
            if row["sop_instance_uid"] in asked:
                row["status"] += f" (not confirmed: {err})"
        return all(row["stored"] for row in rows)
    for row in rows:
        if row["sop_instance_uid"] in missing:
            row["stored"], row["status"] = False, f"{row['status']}, but the PACS does not list it (C-FIND)"
    listed = {row["sop_instance_uid"] for row in rows}
    rows += [{"object": named[uid], "file": "", "sop_instance_uid": uid, "stored": False,
              "status": "not on the PACS (C-FIND)"} for uid in sorted(missing - listed)]
    return all(row["stored"] for row in rows)


def run_course_fetch(args) -> int:
    from planner.dicom.course_fetch import BrokenPlanNotFetched, CourseFetchError, CourseNotOnPacs, fetch_course
    from planner.dicom.network import PacsError

    node = pacs_node(args)
    trusted = trusted_certificates(args.trust)
    try:
        fetched = fetch_course(node, args.patient_id, Path(args.out), rt_plan_uid=args.rt_plan,
                               trusted_certificates=trusted)
    except (CourseNotOnPacs, BrokenPlanNotFetched, PacsError) as err:
        raise CommandError(f"not fetched: {err}") from None
    except CourseFetchError as err:
        raise InputError(str(err)) from None
    signed = fetched.signed
    if args.json:
        print_json({"pacs": str(node), "plan": str(fetched.plan_path), "rt_plan": fetched.rt_plan_uid,
                    "earlier_rt_plans": list(fetched.earlier_rt_plans),
                    "earlier_rt_plans_not_on_pacs": list(fetched.earlier_not_on_pacs),
                    "course_object": fetched.course_object_uid,
                    "sent_at": fetched.sent_at, "signature": signed.status.value, **treatment_json(signed),
                    "files": [str(f) for f in fetched.files]})
        return EXIT_OK
    earlier = (f", re-planned from RT Plan {', '.join(fetched.earlier_rt_plans)}" if fetched.earlier_rt_plans else "")
    print(f"course of RT Plan {fetched.rt_plan_uid} (the current plan{earlier}; sent {fetched.sent_at}) "
          f"written to {fetched.plan_path}")
    print(f"  signatures: {signed.status.value}")
    for uid in fetched.earlier_not_on_pacs:
        print(f"  the PACS does not list the earlier RT Plan {uid} (its fractions' records reference it)")
    print(*treatment_lines(signed), sep="\n")
    print("files:")
    for file in fetched.files:
        print(f"  {file.name}")
    return EXIT_OK
