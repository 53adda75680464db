"""The audit log's rows in the department's PostgreSQL database, shared by the workstations.

Roles: the DBA creates the schema once as its owner (:func:`create_audit_schema`, or `planner audit
init-db --db URL --app-role ROLE`); Planner connects as the application role, which may only INSERT
and SELECT entries. The server refuses UPDATE, DELETE and TRUNCATE from it (no such privilege), and
Planner refuses to write as a role that has them, so the insert-only promise cannot be lost by a
configuration slip. A trigger also refuses UPDATE, DELETE and TRUNCATE for the owner, so a slip in a
console fails loudly.

One chain from many workstations: an append takes ``pg_advisory_xact_lock`` (a lock any role may
take, unlike ``SELECT … FOR UPDATE`` or ``LOCK TABLE``, which need UPDATE rights the app role must
not have) before it reads the end of the chain, and holds it until its entries are committed, so
two writers never chain to the same entry. A trigger checks in the server that every inserted entry
continues the chain (seq one past the last, previous hash the last hash), and ``seq`` is the primary
key: a writer that skips the lock is refused rather than forking the chain.

What is proved and what is not: the head is not stored (keeping it current would need UPDATE); it is
the highest ``seq``. So the chain finds an entry altered in place or deleted from the middle, but
entries cut off the end by someone with the owner's rights (or a superuser's) leave a shorter chain
that verifies on its own; the anchors in the plans exported and signed since (`planner audit verify
--against FOLDER`) catch that, as they catch a consistent rewrite (planner.review.audit).

A server that cannot be reached, or goes away mid-write, is one line naming HOST:PORT/DB; the
transaction was not committed, so nothing of it is stored and the caller reports nothing done.
psycopg is imported here only, so SQLite users never need it.
"""

from __future__ import annotations

from contextlib import contextmanager

from planner.review.audit import (
    COLUMNS, GENESIS_HASH, SCHEMA_VERSION, AuditEntry, AuditError, AuditHead, StoredChain, entries_query,
)

SCHEMA = "planner_audit"
APPLICATION = "Planner audit log"
APPEND_LOCK_KEY = 0x504C4155         # "PLAU": the advisory lock every appender takes, per database
CONNECT_TIMEOUT_S = 10
LOCK_TIMEOUT = "30s"                 # a second writer waits this long for the first one's transaction
_SELECT = ", ".join(COLUMNS)

_SCHEMA_SQL = (
    f"CREATE SCHEMA {SCHEMA}",
    f"""CREATE TABLE {SCHEMA}.entries (
        seq bigint PRIMARY KEY CHECK (seq > 0), at_utc text NOT NULL, who text NOT NULL, action text NOT NULL,
        plan_uid text NOT NULL, details text NOT NULL, previous_hash text NOT NULL, entry_hash text NOT NULL UNIQUE,
        os_user text NOT NULL DEFAULT '')""",
    f"CREATE INDEX entries_by_plan ON {SCHEMA}.entries (plan_uid, seq)",
    f"CREATE TABLE {SCHEMA}.about (application text PRIMARY KEY, schema_version integer NOT NULL)",
    f"INSERT INTO {SCHEMA}.about VALUES ('{APPLICATION}', {SCHEMA_VERSION})",
    f"""CREATE FUNCTION {SCHEMA}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit entries are append-only'; END $$""",
    f"""CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {SCHEMA}.entries
        FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.refuse_change()""",
    f"""CREATE FUNCTION {SCHEMA}.continue_chain() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE last_seq bigint; last_hash text;
        BEGIN
            SELECT seq, entry_hash INTO last_seq, last_hash FROM {SCHEMA}.entries ORDER BY seq DESC LIMIT 1;
            IF NEW.seq <> coalesce(last_seq, 0) + 1
               OR NEW.previous_hash <> coalesce(last_hash, '{GENESIS_HASH}') THEN
                RAISE EXCEPTION 'audit entry seq % does not continue the chain (it ends at seq %)',
                    NEW.seq, coalesce(last_seq, 0);
            END IF;
            RETURN NEW;
        END $$""",
    f"""CREATE TRIGGER entries_continue_chain BEFORE INSERT ON {SCHEMA}.entries
        FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.continue_chain()""",
    f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC",
    f"REVOKE ALL ON ALL TABLES IN SCHEMA {SCHEMA} FROM PUBLIC",
)


def _driver():
    try:
        import psycopg
    except ImportError:
        raise AuditError("a PostgreSQL audit log needs the psycopg package: pip install 'psycopg[binary]'") from None
    return psycopg


def database_location(url: str) -> str:
    """HOST:PORT/DB of a URL, for messages (never the password)."""
    psycopg = _driver()
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError as err:
        raise AuditError(f"not a usable PostgreSQL URL: {_first_line(err)}") from None
    database = parts.get("dbname") or parts.get("user") or ""
    return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/{database}"


def create_audit_schema(url: str, app_role: str) -> str:
    """Run once by the DBA, connected as the schema's owner: the tables, the triggers, and SELECT and
    INSERT (nothing more) for ``app_role``. Returns where it was created."""
    _driver()
    from psycopg import sql

    location = database_location(url)
    with _errors(location), _connect(url) as db, db.transaction():
        owner = db.execute("SELECT current_user").fetchone()[0]
        if app_role == owner:
            raise AuditError(f"the application role must not be the owner {owner!r}: the owner may change entries")
        if db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (app_role,)).fetchone() is None:
            raise AuditError(f"the audit database at {location} has no role {app_role!r}; create it first "
                             f"(CREATE ROLE {app_role} LOGIN)")
        if db.execute("SELECT to_regnamespace(%s)", (SCHEMA,)).fetchone()[0] is not None:
            raise AuditError(f"the audit database at {location} already holds a Planner audit log ({SCHEMA})")
        for statement in _SCHEMA_SQL:
            db.execute(statement)
        role = sql.Identifier(app_role)
        for grant in ("GRANT USAGE ON SCHEMA {schema} TO {role}",
                      "GRANT SELECT, INSERT ON {schema}.entries TO {role}",
                      "GRANT SELECT ON {schema}.about TO {role}"):
            db.execute(sql.SQL(grant).format(schema=sql.Identifier(SCHEMA), role=role))
    return location


class PostgresStore:
    def __init__(self, url: str, *, writing: bool):
        self.location, self._writing = database_location(url), writing
        with _errors(self.location):
            self._db = _connect(url)

    def close(self) -> None:
        self._db.close()


    @contextmanager
    def write(self):
        with _errors(self.location), self._db.transaction():
            self._db.execute("SELECT set_config('lock_timeout', %s, true)", (LOCK_TIMEOUT,))
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK_KEY,))
            yield

    @contextmanager
    def read(self):
        with _errors(self.location), self._db.transaction():
            yield

    def head(self) -> AuditHead:
        count, last_seq, last_hash = self._db.execute(
            f"SELECT count(*), coalesce(max(seq), 0), coalesce((SELECT entry_hash FROM {SCHEMA}.entries "
            f"ORDER BY seq DESC LIMIT 1), '{GENESIS_HASH}') FROM {SCHEMA}.entries").fetchone()
        return AuditHead(count, last_seq, last_hash)

    def append(self, entries: tuple[AuditEntry, ...]) -> None:
        for e in entries:     # one by one: the chain trigger checks each against the one before
            self._db.execute(f"INSERT INTO {SCHEMA}.entries ({_SELECT}) VALUES ({', '.join(['%s'] * len(COLUMNS))})",
                             (e.seq, e.at_utc, e.who, e.action, e.plan_uid, e.details_json, e.previous_hash,
                              e.entry_hash, e.os_user))

    def rows(self, plan_uid: str | None) -> list[tuple]:
        return self._db.execute(*entries_query(f"{SCHEMA}.entries", "%s", plan_uid)).fetchall()

    def stored_chain(self) -> StoredChain:
        return StoredChain(tuple(self.rows(None)))     # no head kept: see the module's docstring

    def prepare(self) -> None:
        """Refuse a database without Planner's schema, and writing as a role that may change entries."""
        with _errors(self.location), self._db.transaction():
            if self._db.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.about",)).fetchone()[0] is None:
                raise AuditError(f"the audit database at {self.location} holds no Planner audit log; its DBA "
                                 f"creates one once with `planner audit init-db --db URL --app-role ROLE`")
            row = self._db.execute(f"SELECT schema_version FROM {SCHEMA}.about WHERE application = %s",
                                   (APPLICATION,)).fetchone()
            if row is None or row[0] != SCHEMA_VERSION:
                raise AuditError(f"the audit database at {self.location}: audit log schema version "
                                 f"{row[0] if row else 'unknown'}; this Planner reads version {SCHEMA_VERSION}")
            may_change = self._db.execute(
                "SELECT current_user, has_table_privilege(%s, 'UPDATE') OR has_table_privilege(%s, 'DELETE') "
                "OR has_table_privilege(%s, 'TRUNCATE')", (f"{SCHEMA}.entries",) * 3).fetchone()
        if self._writing and may_change[1]:
            raise AuditError(f"the audit database at {self.location}: role {may_change[0]!r} may update or delete "
                             f"entries; Planner writes only as a role that may insert and read (see `planner audit "
                             f"init-db`)")


def _connect(url: str):
    return _driver().connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                           application_name="Planner")


@contextmanager
def _errors(location: str):
    """psycopg's errors as one line naming the database; a lost connection says it is not reachable."""
    psycopg = _driver()
    try:
        yield
    except psycopg.Error as err:
        if isinstance(err, psycopg.OperationalError) and _connection_lost(err):
            raise AuditError(f"the audit database at {location} is not reachable: {_first_line(err)}") from None
        raise AuditError(f"the audit database at {location}: {_first_line(err)}") from None


def _connection_lost(err) -> bool:
    """No connection, or the server shutting down (SQLSTATE class 08, 57P01-57P03), not a lock timeout."""
    state = getattr(err, "sqlstate", None)
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
