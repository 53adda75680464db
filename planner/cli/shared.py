"""What the command modules share: exit statuses, the two errors main() prints, JSON output, and the
signer's and the trusted certificates' options that sign, verify, review, approve and reject all read.

Why here: every command module imports this, and nothing in planner.cli but this, audit_recording and
main; main imports the command modules. So no command module needs main, and there is no cycle
(an import-linter contract in pyproject.toml keeps it so).
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

from planner.core.errors import PlannerError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_CANCELLED = 130  # the shell's status for a program stopped by Ctrl-C (128 + SIGINT)


class InputError(PlannerError):
    """An input the user must change (a value not offered, a missing file, a wrong passphrase):
    printed as one line, exit status 2."""


class CommandError(PlannerError):
    """A user-facing failure: printed as one line, exit status 1."""


def print_json(data) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def add_json_argument(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


# --------------------------------------------------------------------------------- the signer

def identity_from_args(args):
    """The signer from --key, --cert and --passphrase-file (or the terminal); one-line errors."""
    from planner.dicom.keys import SigningKeyError, load_signing_identity

    passphrase = read_passphrase(args.passphrase_file, f"Passphrase for {args.key}: ")
    try:
        return load_signing_identity(args.key, args.cert, passphrase)
    except SigningKeyError as err:
        raise InputError(str(err)) from None
    finally:
        passphrase = None  # noqa: F841 - dropped at once: never kept, printed or logged


def read_passphrase(path: str | None, prompt: str, *, confirm: bool = False) -> bytes | None:
    """The passphrase from the first line of ``path``, else asked on the terminal (not echoed).
    Empty means none (an unencrypted key)."""
    if path is not None:
        try:
            text = Path(path).read_bytes()
        except OSError as err:
            raise InputError(f"cannot read the passphrase file {path}: {err.strerror or err}") from None
        line = text.splitlines()[0] if text else b""
        return line or None
    if not terminal_available():
        raise InputError("no terminal to ask the passphrase on; use --passphrase-file F")
    try:
        answer = getpass.getpass(prompt)
        if confirm and getpass.getpass("Again: ") != answer:
            raise InputError("the two passphrases differ")
    except EOFError:
        raise InputError("no passphrase given; use --passphrase-file F") from None
    return answer.encode("utf-8") or None


def terminal_available() -> bool:
    """getpass asks on /dev/tty (else on stdin, echoing it): never ask where a passphrase would show."""
    try:
        with open("/dev/tty", "rb"):
            return True
    except OSError:
        return sys.stdin is not None and sys.stdin.isatty()


# --------------------------------------------------------------------------------- trust and treatment

def trusted_certificates(paths) -> tuple:
    """The certificates trusted by fingerprint in the trust store (as in the window) and those in
    the PEM files given (--trust); a store or file that cannot be read is an input error."""
    from planner.dicom.keys import SigningKeyError, load_trusted_certificates
    from planner.dicom.trust import TrustStoreError, certificates_of, load_trust_store

    try:
        trusted = list(certificates_of(load_trust_store()))
    except TrustStoreError as err:
        raise InputError(str(err)) from None
    for path in paths:
        try:
            trusted += load_trusted_certificates(path)
        except SigningKeyError as err:
            raise InputError(str(err)) from None
    return tuple(trusted)


TREATMENT_KEYS = ("treatable", "reviewed", "clinic_policy", "treatable_message")


def treatment_json(opened) -> dict:
    """What verify and review say of treatment, all from the one verdict (planner.dicom.signed_plan)."""
    return dict(zip(TREATMENT_KEYS, (opened.treatable, opened.reviewed, opened.clinic.policy, opened.message)))


def treatment_lines(opened) -> tuple[str, str]:
    return (f"  treatable: {'yes' if opened.treatable else 'NO'} — {opened.message}",
            f"  reviewed:  {'yes' if opened.reviewed else 'NO'} — {opened.clinic.review_policy_text}")
