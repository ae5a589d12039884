"""The guarded backend on the built-in database: URLs, read-only access, time limits, row caps."""

import hashlib
import time
from pathlib import Path

import pytest

import querygym
from querygym.engine.backend import Backend
from querygym.dialects import available, get
from querygym.errors import DatabaseNotFoundError, ExecutionError, QueryTimeoutError

DB = querygym.builtin_database()


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("target", [DB, f"sqlite:///{DB}"])
def test_path_and_url_open_the_same_database(target):
    with Backend(target) as db:
        assert db.scalar("SELECT COUNT(*) FROM regions") == 7
        assert "customers" in db.schema().table_names


@pytest.mark.parametrize("sql", [
    "DELETE FROM regions",
    "UPDATE regions SET country = 'x'",
    "CREATE TABLE t (x)",
    "CREATE TEMP TABLE t (x)",
    "DROP TABLE regions",
    "PRAGMA query_only = 0",
    "PRAGMA writable_schema = 1",
    "ATTACH DATABASE ':memory:' AS other",
    "SELECT load_extension('whatever')",
    "SELECT readfile('/etc/passwd')",
    "SELECT 1; DROP TABLE regions",
])
def test_nothing_can_write_attach_or_load(sql):
    before = sha(DB)
    with Backend(DB) as db:
        with pytest.raises(ExecutionError):
            db.execute(sql)
        assert db.scalar("SELECT COUNT(*) FROM regions") == 7  # still usable
    assert sha(DB) == before


def test_a_runaway_query_stops_at_its_limit_and_the_connection_keeps_working():
    with Backend(DB, timeout_s=0.3) as db:
        started = time.monotonic()
        with pytest.raises(QueryTimeoutError):
            db.execute("SELECT COUNT(*) FROM order_items a, order_items b, order_items c")
        assert time.monotonic() - started < 5
        assert db.scalar("SELECT COUNT(*) FROM regions") == 7


def test_row_cap_reports_truncation():
    with Backend(DB) as db:
        result = db.execute("SELECT * FROM order_items", max_rows=10)
        assert len(result.rows) == 10 and result.truncated
        assert not db.execute("SELECT * FROM regions", max_rows=10).truncated


def test_missing_database_and_foreign_urls_are_typed_errors(tmp_path):
    with pytest.raises(DatabaseNotFoundError):
        Backend(tmp_path / "nope.sqlite")
    with pytest.raises(querygym.QueryGymError):
        Backend("postgresql://localhost/x", "sqlite")


def test_dialect_registry():
    assert "sqlite" in available()
    assert get("sqlite").name == "sqlite"
    with pytest.raises(querygym.UnknownDialectError, match="Did you mean 'sqlite'"):
        get("sqlitee")
