"""Cheap ways back to a clean database between tests that commit (live server, worker).

Django's TransactionTestCase empties the database after each test with `flush`: one
TRUNCATE of every table (each gets new files on disk) and then the post_migrate signal
recreating every content type and permission. On this suite that is ~0.5-1 s a test, and
the sandbox tenant was then seeded again through the ORM, another ~1 s. Here instead:

- `empty_tables` DELETEs the rows of only the tables that have any, in one transaction
  (Django's foreign keys are deferred, so the order does not matter; the append-only
  audit log, whose trigger refuses DELETE, is TRUNCATEd as flush does). Content types and
  permissions, which post_migrate would recreate identically, are left as they are.
- `SandboxSnapshot` keeps the rows of a freshly seeded sandbox in memory (PostgreSQL COPY,
  binary) and copies them back for the next test: the same tenant, row for row, as
  `sandbox.seed.reset()` makes it, without building it again, but for the signing key:
  a new one each time, as reset() makes (tokens of an earlier test must not verify).
"""

from __future__ import annotations

import functools

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.test import TransactionTestCase

# Rows that migrations and post_migrate create and no test changes.
KEPT_TABLES = frozenset({"django_migrations", "django_content_type", "auth_permission"})


def _quoted(table: str) -> str:
    return connection.ops.quote_name(table)


def non_empty(tables: list[str]) -> list[str]:
    """The tables among `tables` that hold at least one row (one query)."""
    if not tables:
        return []
    probes = " UNION ALL ".join(
        f"SELECT %s WHERE EXISTS (SELECT 1 FROM {_quoted(t)})"  # noqa: S608 (Django's table names)
        for t in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(probes, tables)
        return [row[0] for row in cursor.fetchall()]


@functools.cache
def guarded_tables() -> frozenset[str]:
    """Tables with triggers of their own (the append-only audit log refuses DELETE)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal"
        )
        return frozenset(row[0] for row in cursor.fetchall())


def delete_rows(tables: list[str]) -> None:
    """Delete every row of `tables` in one transaction (foreign keys checked at commit).

    Tables with triggers of their own (the audit log refuses UPDATE, DELETE and TRUNCATE)
    are TRUNCATEd with those triggers disabled for the statement, which only the table's
    owner may do: the test database's role is; Lifeboat's production role need not be."""
    guarded = [t for t in tables if t in guarded_tables()]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for table in tables:
            if table not in guarded:
                cursor.execute(f"DELETE FROM {_quoted(table)}")  # noqa: S608 (Django's table names)
        for table in guarded:
            cursor.execute(f"ALTER TABLE {_quoted(table)} DISABLE TRIGGER USER")
        if guarded:
            cursor.execute(f"TRUNCATE {', '.join(_quoted(t) for t in guarded)}")
        for table in guarded:
            cursor.execute(f"ALTER TABLE {_quoted(table)} ENABLE TRIGGER USER")


@functools.cache
def emptied_tables() -> list[str]:
    """The tables `empty_tables` empties (the schema does not change during a run)."""
    tables = connection.introspection.django_table_names(only_existing=True)
    return [t for t in tables if t not in KEPT_TABLES]


def empty_tables() -> None:
    """Every table of the test database empty again, but for KEPT_TABLES."""
    delete_rows(non_empty(emptied_tables()))


def _fixture_teardown(self: TransactionTestCase) -> None:
    """TransactionTestCase's teardown, with `empty_tables` in place of `flush`."""
    empty_tables()


def use_empty_tables_between_tests() -> None:
    if list(settings.DATABASES) != ["default"]:
        raise RuntimeError("tests/resets.py empties the default database only")
    # A private hook of Django's that django-stubs does not declare, hence setattr.
    setattr(TransactionTestCase, "_fixture_teardown", _fixture_teardown)  # noqa: B010


def sandbox_tables() -> list[str]:
    """The sandbox app's tables, many-to-many tables included."""
    models = apps.get_app_config("sandbox").get_models(include_auto_created=True)
    return sorted({model._meta.db_table for model in models})


class SandboxSnapshot:
    """The seeded sandbox's rows, taken once with COPY and copied back for each test."""

    def __init__(self) -> None:
        self.rows: dict[str, bytes] = {}
        self.redirect_uris: list[str] = []

    def restore_or_seed(self) -> None:
        """The sandbox as `seed.reset()` leaves it; seeded for real on first use (and if
        the portal's address, which the seed registers, has changed)."""
        from sandbox import keys, seed

        if not self.rows or self.redirect_uris != seed.portal_redirect_uris():
            seed.reset()
            self.rows = self._take()
            self.redirect_uris = seed.portal_redirect_uris()
            return
        with transaction.atomic(), connection.cursor() as cursor:
            delete_rows(non_empty(sandbox_tables()))
            for table, data in self.rows.items():
                with cursor.cursor.copy(
                    f"COPY {_quoted(table)} FROM STDIN (FORMAT binary)"
                ) as copy:
                    copy.write(data)
        # A new signing key, as reset() makes: tokens (and the portal's cached app-only
        # tokens, with the roles of their test) from an earlier test must not verify.
        keys.create_key(signing=True)

    def _take(self) -> dict[str, bytes]:
        from sandbox.models import SigningKey

        rows = {}
        with connection.cursor() as cursor:
            for table in non_empty(sandbox_tables()):
                if table == SigningKey._meta.db_table:
                    continue
                with cursor.cursor.copy(f"COPY {_quoted(table)} TO STDOUT (FORMAT binary)") as copy:
                    rows[table] = b"".join(bytes(block) for block in copy)
        return rows
