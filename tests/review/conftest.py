"""The PostgreSQL server for the audit tests: started once per module that asks for it (tests/postgres_server.py)."""

import itertools

import pytest

from tests.postgres_server import APP, OWNER, started_audit_server

_databases = itertools.count(1)


@pytest.fixture(scope="module")
def postgres_server():
    yield from started_audit_server()


@pytest.fixture
def audit_db_url(postgres_server):
    """A fresh audit database of this test's own, made as the DBA would; Planner's (app role) URL to it."""
    from planner.review.audit_postgres import create_audit_schema

    name = f"audit_{next(_databases)}"
    postgres_server.sql(f"CREATE DATABASE {name} OWNER {OWNER}", database="postgres")
    create_audit_schema(postgres_server.url(OWNER, name), APP)
    return postgres_server.url(APP, name)
