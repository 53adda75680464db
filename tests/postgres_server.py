"""A real, throw-away PostgreSQL server for the audit tests: Debian's binaries, a cluster made with
initdb in a temporary folder, listening on 127.0.0.1 on a free port (and a unix socket in that
folder only), stopped and removed at the end.

PostgreSQL refuses to run as root, so as root the server runs as Debian's ``postgres`` system user
(``runuser``), in a folder made under /tmp and given to that user (a pytest tmp_path under
/tmp/pytest-of-root is not reachable by it). Missing binaries or user fail the test with what to
install: CI installs them (scripts/setup.sh), a skip would hide a broken set-up.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.ports import free_port

SUPERUSER = "dba"                  # the cluster's bootstrap superuser
OWNER = "planner_owner"            # owns the audit database and its schema (the DBA's role for Planner)
APP = "planner_app"                # what Planner connects as: INSERT and SELECT only
DATABASE = "planner_audit"


def server_binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        pytest.fail("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): install Debian's "
                    "`postgresql` package (scripts/setup.sh does)", pytrace=False)
    return Path(found[-1]).parent


class PostgresServer:
    def __init__(self):
        self.bin = server_binaries()
        self._as_user: list[str] = []
        owner = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("PostgreSQL will not run as root and there is no `postgres` system user to run it as: "
                            "install Debian's `postgresql` package, which creates it", pytrace=False)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.folder = Path(tempfile.mkdtemp(prefix="planner-pg-", dir="/tmp"))
        if owner is not None:
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.data = self.folder / "data"
        self.port = free_port()

    def url(self, role: str = APP, database: str = DATABASE) -> str:
        return f"postgresql://{role}@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self._run("initdb", "-D", self.data, "-U", SUPERUSER, "--auth=trust", "--no-sync", "-E", "UTF8",
                  "--locale=C")

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.folder} "
                   "-c fsync=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", self.folder / "server.log", "-w", "-t", "30",
                  "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def sql(self, *statements: str, role: str = SUPERUSER, database: str = DATABASE) -> None:
        """Statements run as ``role`` (autocommit), the way a DBA at psql would."""
        import psycopg

        with psycopg.connect(self.url(role, database), autocommit=True) as db:
            for statement in statements:
                db.execute(statement)

    def _run(self, program: str, *args) -> None:
        command = [*self._as_user, str(self.bin / program), *map(str, args)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{tail}", pytrace=False)


def started_audit_server():
    """A generator for a fixture: the server with the owner and app roles and the audit schema made
    by `create_audit_schema` as the owner; stopped and removed afterwards, also when a test failed."""
    from planner.review.audit_postgres import create_audit_schema

    server = PostgresServer()
    try:
        server.init()
        server.start()
        server.sql(f"CREATE ROLE {OWNER} LOGIN", f"CREATE ROLE {APP} LOGIN",
                   f"CREATE DATABASE {DATABASE} OWNER {OWNER}", database="postgres")
        create_audit_schema(server.url(OWNER), APP)
        yield server
    finally:
        server.remove()


