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


def test_rows_just_past_the_cap_are_counted_in_the_same_pass():
    with Backend(DB) as db:
        statements = []
        # every statement SQLite itself runs on the connection
        db.connection.connection.dbapi_connection.set_trace_callback(statements.append)
        everything = db.execute("SELECT * FROM order_items")
        # fewer rows past the cap than one batch: read to the end, whatever the time
        result = db.execute("SELECT * FROM order_items", max_rows=7, count=True)
        uncounted = db.execute("SELECT * FROM order_items", max_rows=7)
    assert len(statements) == 3  # one execution per call: no second query to count
    assert result.truncated and len(result.rows) == 7 and result.total == len(everything.rows) > 7
    assert result.rows == everything.rows[:7] and uncounted.total is None
    assert db.execute("SELECT 1", max_rows=7, count=True).total == 1


# a wide join of 3,203 x 7 rows per region: cheap for the engine, costly to read row by row
WIDE = "SELECT * FROM order_items AS a CROSS JOIN order_items AS b WHERE b.order_item_id <= 60"


@pytest.mark.parametrize("columnar", [None, 5])
def test_rows_far_past_the_cap_are_counted_by_the_engine(columnar):
    with Backend(DB) as db:
        statements = []
        db.connection.connection.dbapi_connection.set_trace_callback(statements.append)
        expected = db.scalar(f"SELECT COUNT(*) FROM ({WIDE})")
        statements.clear()
        # the first rows come at once, so reading on gives up after a batch and the engine counts
        result = db.execute(WIDE, max_rows=3, count=True, columnar=columnar)
        assert result.truncated and result.total == expected == 3203 * 60
        assert len(statements) == 2 and statements[1].startswith("SELECT COUNT(*) FROM (")
        assert result.rows == db.execute(WIDE, max_rows=3).rows
        # the connection is usable after the count, and the cursor of the first pass is closed
        assert db.scalar("SELECT COUNT(*) FROM regions") == 7


def test_the_engine_counts_a_statement_ending_in_a_comment_or_semicolon():
    with Backend(DB) as db:
        for ending in ("  -- the end", ";  ", "\n/* done */ ;"):
            result = db.execute(WIDE + ending, max_rows=3, count=True)
            assert result.truncated and result.total == 3203 * 60


def test_an_engine_count_past_the_deadline_stops_like_the_query():
    with Backend(DB, timeout_s=0.3) as db:
        # ten million rows: the first come at once, the count outlasts the limit
        huge = "SELECT * FROM order_items AS a CROSS JOIN order_items AS b CROSS JOIN regions"
        statements = []
        db.connection.connection.dbapi_connection.set_trace_callback(statements.append)
        started = time.perf_counter()
        with pytest.raises(QueryTimeoutError):
            db.execute(huge, max_rows=3, count=True)
        assert time.perf_counter() - started < 2.0
        assert statements[-1].startswith("SELECT COUNT(*) FROM (")  # stopped while the engine counted
        assert db.scalar("SELECT COUNT(*) FROM regions") == 7  # the connection is still usable


def test_a_statement_that_is_not_a_query_is_read_to_the_end_when_counted():
    with Backend(DB) as db:
        statements = []
        db.connection.connection.dbapi_connection.set_trace_callback(statements.append)
        result = db.execute("VALUES " + ", ".join(f"({k})" for k in range(25_000)), max_rows=2, count=True)
    assert result.truncated and result.total == 25_000 and len(statements) == 1


def test_engines_count_rows_past_the_cap_alike(engine):
    with Backend(DB, engine) as db:
        result = db.execute(WIDE, max_rows=3, count=True)
        read = db.execute(WIDE, max_rows=None)
    assert result.truncated and result.total == len(read.rows) == 3203 * 60


def test_values_read_back_keep_their_types_and_sqlite_affinity(tmp_path):
    import sqlite3

    path = tmp_path / "types.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT, n NUMERIC, b BLOB, u)")
    # affinity converts on the way in: '5' into INTEGER is 5, 7 into TEXT is '7', '2.50' into NUMERIC 2.5
    con.execute("INSERT INTO t VALUES ('5', 1, 7, '2.50', x'00ff', '08')")
    con.execute("INSERT INTO t VALUES (NULL, 0.5, 'x', 'abc', NULL, 3)")
    con.commit()
    con.close()
    with Backend(str(path)) as db:
        rows = db.execute("SELECT * FROM t ORDER BY rowid").rows
        assert rows == [(5, 1.0, "7", 2.5, b"\x00\xff", "08"), (None, 0.5, "x", "abc", None, 3)]
        assert [type(v) for v in rows[0]] == [int, float, str, float, bytes, str]
        assert all(type(r) is tuple for r in rows)
        # text compared with a number follows SQLite's rules in the engine, not ours
        assert db.execute("SELECT s = 7, s > 100, u = '08' FROM t WHERE rowid = 1").rows == [(1, 1, 1)]


def test_a_huge_result_is_fetched_in_bounded_memory():
    import tracemalloc

    sql = ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300000) "
           "SELECT x, 'some text ' || x FROM n")
    with Backend(DB, timeout_s=60) as db:
        tracemalloc.start()
        result = db.execute(sql, max_rows=1000, count=True)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert result.total == 300_000 and len(result.rows) == 1000
    assert peak < 8_000_000  # 300,000 rows held at once would take ~40 MB


def test_an_error_while_rows_are_read_is_an_execution_error_and_the_connection_recovers():
    with Backend(DB, timeout_s=0.2) as db:
        with pytest.raises((ExecutionError, QueryTimeoutError)):
            db.execute("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n WHERE x < 0",
                       max_rows=5, count=True)
        with pytest.raises(ExecutionError):
            db.execute("SELECT abs(-9223372036854775807 - 1) FROM regions", max_rows=5)  # integer overflow while stepping
        assert db.scalar("SELECT COUNT(*) FROM regions") == 7


def test_a_columnar_fetch_holds_every_value_exactly_and_keeps_only_the_first_rows(tmp_path):
    import sqlite3

    import numpy as np

    from querygym.scoring.compare import compare_tables

    db = tmp_path / "mixed.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE t (i INTEGER, r REAL, anything, s TEXT)")
        rows = [(k, k / 3, [k, 2.5, "x", None, 2**62 + k][k % 5], f"s{k}") for k in range(25_000)]
        rows.append((2**63 - 1, None, b"\x00", None))
        con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
    con.close()
    with Backend(db) as backend:
        plain = backend.execute("SELECT * FROM t", max_rows=None)
        columnar = backend.execute("SELECT * FROM t", max_rows=None, columnar=3)
        assert columnar.rows == plain.rows[:3] and columnar.total == len(plain.rows) == 25_001
        assert columnar.data[0].dtype == np.int64  # every batch of whole numbers fits int64
        restored = list(zip(*(column.tolist() for column in columnar.data)))
        assert restored == plain.rows
        assert [type(v) for r in restored for v in r] == [type(v) for r in plain.rows for v in r]
        assert compare_tables(columnar.table(), plain.rows).relation == "equal"
        # texts stay Python strings in the frame (pandas would convert them to its string dtype)
        frame = columnar.table()
        assert [frame[j].dtype for j in frame.columns] == [column.dtype for column in columnar.data]
        assert all(np.shares_memory(frame[j].to_numpy(), columnar.data[j]) for j in frame.columns)
        # capped and counted in the same pass
        capped = backend.execute("SELECT * FROM t", max_rows=20_000, columnar=5, count=True)
        assert capped.truncated and capped.total == 25_001 and len(capped.data[0]) == 20_000
        empty = backend.execute("SELECT * FROM t WHERE 0", max_rows=None, columnar=5)
        assert empty.rows == [] and empty.table() == []  # no rows: no width, as a list of rows
