"""``planner audit verify``, ``planner audit show`` and ``planner audit init-db``: the audit log from the
command line.

Why the exit statuses: a script (or a nightly job) must tell "the log is intact" (0) from "the log
was tampered with" (1) from "that is not a log" (2). The last entry hash is printed so it can be
noted outside the file: the one check a consistent rewrite of the whole file cannot pass.
"""

from __future__ import annotations

from contextlib import contextmanager

from planner.cli.audit_recording import AUDIT_DB_DEFAULT
from planner.cli.shared import EXIT_FAILURE, EXIT_OK, InputError, add_json_argument, print_json


def register(commands) -> None:
    audit = commands.add_parser(
        "audit", help="the audit log: verify its hash chain, show who did what to a plan",
        description="Every create, edit, sign, approve, reject, export and send of a plan, with who and when, "
                    "chained by SHA-256 hashes, in an SQLite file or the department's PostgreSQL database "
                    "(default: the clinic setting audit_db, else audit.sqlite in the user data folder).")
    actions = audit.add_subparsers(dest="audit_action", metavar="ACTION", required=True)

    verify = actions.add_parser(
        "verify", help="check every entry's hash and link; exit 0 only when the log is intact",
        description="Exit 0 when every entry's hash, every link and the head agree; 1 when an entry was altered "
                    "or deleted (each named by its seq); 2 when the file is not an audit log.")
    _add_db_argument(verify)
    verify.add_argument("--anchor", action="append", default=[], metavar="HASH",
                        help="an entry hash noted outside the file (e.g. in a report) that must still be in "
                             "the log; repeatable")
    verify.add_argument("--against", metavar="FOLDER", default=None,
                        help="also check every plan under FOLDER: the audit entry each was exported or signed "
                             "with (its hash is inside the signed plan) must still be in the log, which a "
                             "rewritten or truncated history cannot fake")
    add_json_argument(verify)
    verify.set_defaults(run=run_verify)

    show = actions.add_parser("show", help="list the entries, of every plan or of one")
    _add_db_argument(show)
    show.add_argument("--plan", metavar="UID", default=None, help="only this plan's entries (its SOP Instance UID)")
    add_json_argument(show)
    show.set_defaults(run=run_show)

    init = actions.add_parser(
        "init-db", help="create the audit log in a PostgreSQL database (once, by its owner)",
        description="Run once by the DBA, connected as the role that is to own the audit tables: creates them "
                    "and lets the application role only insert and read entries (never update or delete them). "
                    "Workstations then use --audit-db URL or audit_db in clinic.toml with the application role.")
    init.add_argument("--db", metavar="URL", required=True,
                      help="postgresql://OWNER@HOST:PORT/DATABASE, connecting as the tables' owner")
    init.add_argument("--app-role", metavar="ROLE", required=True,
                      help="the existing role Planner connects as; granted SELECT and INSERT only")
    init.set_defaults(run=run_init_db)


def run_verify(args) -> int:
    with _open(args.db) as log:
        result = log.verify(anchors=args.anchor)
        head = log.head() if result.ok else None
        against = _against(log, args.against) if args.against else None
    ok = result.ok and (against is None or against.ok)
    if args.json:
        out = {"path": log.location, "ok": ok, "entries_checked": result.entries_checked,
               "problems": list(result.problems), "last_hash": head.last_hash if head else None}
        if against is not None:
            out["against"] = {"folder": args.against, "ok": against.ok, "plans_checked": against.plans_checked,
                              "anchors_checked": against.anchors_checked, "problems": list(against.problems)}
        print_json(out)
        return EXIT_OK if ok else EXIT_FAILURE
    if result.ok:
        print(f"audit log intact: {result.entries_checked} entries")
        print(f"  log        {log.location}")
        print(f"  last hash  {head.last_hash}  (note it outside the file to anchor the log)")
    else:
        print(f"audit log NOT intact: {len(result.problems)} problem(s) in {result.entries_checked} entries "
              f"({log.location})")
        for problem in result.problems:
            print(f"  {problem}")
    if against is not None and against.ok:
        print(f"plans in {args.against} match the log: {against.anchors_checked} audit entries recorded in "
              f"{against.plans_checked} plan(s) are all in it")
    elif against is not None:
        print(f"plans in {args.against} do NOT match the log: {len(against.problems)} problem(s)")
        for problem in against.problems:
            print(f"  {problem}")
    return EXIT_OK if ok else EXIT_FAILURE


def _against(log, folder):
    from planner.review.audit_anchors import verify_against

    try:
        return verify_against(log.entries(), folder)
    except FileNotFoundError as err:
        raise InputError(str(err)) from None


def run_show(args) -> int:
    with _open(args.db) as log:
        entries = log.entries(args.plan)
    if args.json:
        print_json({"path": log.location, "plan_uid": args.plan, "entries": [e.as_dict() for e in entries]})
        return EXIT_OK
    if not entries:
        print(f"no entries{' for plan ' + args.plan if args.plan else ''} in {log.location}")
        return EXIT_OK
    for e in entries:
        details = ", ".join(f"{key}={value}" for key, value in e.details.items())
        who = e.who if not e.os_user or e.os_user == e.who else f"{e.who} [OS user {e.os_user}]"
        print(f"{e.seq:>6}  {e.at_utc}  {e.action:<8}  {who}  {e.plan_uid}" + (f"  [{details}]" if details else ""))
    return EXIT_OK


def run_init_db(args) -> int:
    from planner.review.audit import AuditError, is_postgres_url

    if not is_postgres_url(args.db):
        raise InputError(f"init-db is for a postgresql:// URL, not {args.db!r}; an SQLite log is created on first use")
    from planner.review.audit_postgres import create_audit_schema

    try:
        location = create_audit_schema(args.db, args.app_role)
    except AuditError as err:
        raise InputError(str(err)) from None
    print(f"audit log created in {location}; role {args.app_role} may insert and read entries, never change them")
    return EXIT_OK


def _add_db_argument(parser) -> None:
    parser.add_argument("--db", metavar="PATH|URL", default=None,
                        help=f"the audit log: an SQLite file or a postgresql:// URL ({AUDIT_DB_DEFAULT})")


@contextmanager
def _open(db):
    """The log, never created here; any failure to read it is one line and exit 2."""
    from planner.review.audit import AuditError, open_audit_log

    try:
        with open_audit_log(db, create=False) as log:
            yield log
    except AuditError as err:
        raise InputError(str(err)) from None
