"""The audit entry of a command that writes a plan (``planner plan --out``, ``planner sign``).

The entry is reserved before the plan is written, the plan carries its hash (planner.dicom.audit_anchor),
and it is stored when the command's files are written: ``with recording(...) as anchor:`` hands the
writer ``anchor(plan_uid)``. A log that cannot record is one line and no "done" (exit 2).
"""

from __future__ import annotations

from contextlib import contextmanager

from planner.cli.shared import InputError

AUDIT_DB_DEFAULT = "default: the clinic setting audit_db, else audit.sqlite in the user data folder"


def add_audit_db_argument(parser, what: str = "this") -> None:
    parser.add_argument("--audit-db", metavar="PATH|URL", default=None,
                        help=f"the audit log to record {what} in: an SQLite file or a postgresql:// URL "
                             f"({AUDIT_DB_DEFAULT})")


class Recording:
    def __init__(self, reservation, action: str, details: dict, certificate):
        from planner.review.actor import actor

        self._reservation, self._action, self._details = reservation, action, details
        self._actor = actor(certificate)
        self.entries: list = []

    def __call__(self, plan_uid: str):
        entry = self._reservation.entry(self._action, self._actor.who, plan_uid, self._details,
                                        os_user=self._actor.os_user)
        self.entries.append(entry)
        return entry


@contextmanager
def recording(db, action: str, details: dict, certificate=None, what: str = "the plan"):
    """Yield the anchor callback; its entries are stored when the block ends without an exception."""
    from planner.review.audit import AuditError, open_audit_log

    written = False
    try:
        with open_audit_log(db) as log:
            with log.reserve() as reservation:
                record = Recording(reservation, action, details, certificate)
                yield record
                written = True
    except AuditError as err:
        if written:
            raise InputError(f"the audit log could not record the {action} ({err}); {what} was written but is not "
                             f"in the log: `planner audit verify --against` will name it") from None
        raise InputError(f"the audit log cannot record the {action}, nothing was written: {err}") from None
