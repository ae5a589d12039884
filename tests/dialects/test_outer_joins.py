"""RIGHT and FULL JOIN on SQLite, rewritten as LEFT-joined parts so SQLite can index them: the
same rows, values, types and affinity as the join as written, and a plan with automatic indexes."""

from __future__ import annotations

import json
import sqlite3

import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st

import querygym
from querygym.dialects import get
from querygym.dialects.transforms import outer_joins_as_left_joins
from querygym.env.environment import QueryGymEnv

# NULLs, duplicates, and values equal under SQLite's affinity rules but of other types ('5', 5, 5.0)
SCHEMA = """
CREATE TABLE l (id INTEGER, k TEXT, v REAL, anything);
CREATE TABLE r (id INTEGER, k NUMERIC, w TEXT);
CREATE TABLE m (x INTEGER, label TEXT);
INSERT INTO l VALUES (1, '5', 5.0, 5), (2, 'a', NULL, '5'), (2, 'a', 2.5, NULL), (3, NULL, 1.0, x'05'),
                     (4, '7', 7, 'a'), (NULL, '5', 0.5, 5.0);
INSERT INTO r VALUES (1, 5, 'a'), (2, '5', NULL), (5, 'a', 'x'), (5, 'a', 'x'), (NULL, NULL, '7'), (7, 7.0, '5');
INSERT INTO m VALUES (1, 'one'), (2, 'two'), (5, 'five'), (NULL, 'none');
"""

CONDITIONS = [
    "l.k = r.k", "l.id = r.id", "l.anything = r.k", "l.v = r.k", "l.k = r.w", "l.v > r.id",
    "l.id = r.id AND r.w IS NOT NULL", "l.k = r.w OR l.id IS NULL", "1 = 1", "l.id = r.id + 1",
]
LATER = ["", "JOIN m ON m.x = l.id", "LEFT JOIN m ON m.x = r.id", "CROSS JOIN m", "LEFT JOIN m ON m.label = l.k"]
COLUMNS = ["l.id", "l.k", "l.v", "l.anything", "r.id AS rid", "r.k AS rk", "r.w", "l.id + r.id AS total"]


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    path = tmp_path_factory.mktemp("outer") / "outer.sqlite"
    with sqlite3.connect(path) as c:
        c.executescript(SCHEMA)
    c.close()
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    yield connection
    connection.close()


def rewritten(sql: str) -> str:
    tree = sqlglot.parse_one(sql, read="sqlite")
    return outer_joins_as_left_joins(tree.copy()).sql(dialect="sqlite", identify=True)


def typed(rows):
    """Rows as a sorted list of (type, value) cells: 5, 5.0 and '5' stay apart."""
    return sorted((tuple((type(v).__name__, v) for v in row) for row in rows), key=repr)


def declared(con, sql: str) -> list[tuple]:
    """The columns a table made from ``sql`` declares (the kept-table path of the result cache)."""
    con.execute("DROP TABLE IF EXISTS temp.probe")
    con.execute(f"CREATE TEMP TABLE probe AS {sql}")
    return [(c[1], c[2]) for c in con.execute("PRAGMA temp.table_info(probe)")]


@settings(max_examples=150, deadline=None)
@given(side=st.sampled_from(["FULL JOIN", "RIGHT JOIN", "FULL OUTER JOIN", "RIGHT OUTER JOIN"]),
       condition=st.sampled_from(CONDITIONS), later=st.sampled_from(LATER),
       columns=st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=5, unique=True))
def test_the_rewrite_returns_the_rows_types_and_affinity_of_the_join(con, side, condition, later, columns):
    sql = f"SELECT {', '.join(columns)} FROM l {side} r ON {condition} {later}"
    text = rewritten(sql)
    assert "UNION ALL" in text and "RIGHT" not in text.upper().replace("RIGHT(", "") and "FULL" not in text.upper()
    assert typed(con.execute(text).fetchall()) == typed(con.execute(sql).fetchall())
    # compared as in the database: each column with the affinity the query gave it
    for column in ["id", "k", "v", "anything", "rid", "rk", "w", "total"]:
        if any(c.split(".")[-1].split(" AS ")[-1] == column for c in columns):
            probe = f"SELECT COUNT(*) FROM ({{}}) AS q WHERE q.{column} = '5'"
            assert con.execute(probe.format(text)).fetchone() == con.execute(probe.format(sql)).fetchone()
    con.execute("SAVEPOINT s")  # the temp database of a read-only connection is writable
    try:
        assert declared(con, text) == declared(con, sql)
    finally:
        con.execute("ROLLBACK TO s")
        con.execute("RELEASE s")


@pytest.mark.parametrize("sql", [
    "SELECT MIN(l.id) AS low FROM l FULL JOIN r ON l.id = r.id",  # an aggregate over the whole join
    "SELECT COUNT(*) AS n FROM l FULL JOIN r ON l.id = r.id",
    "SELECT * FROM l FULL JOIN r ON l.id = r.id",  # a star: the parts' columns would differ
    "SELECT id FROM l FULL JOIN r USING (id)",
    "SELECT l.id FROM l NATURAL FULL JOIN r",
    "SELECT l.id, r.id AS rid FROM l FULL JOIN r ON l.id = r.id WHERE l.id > 1",
    "SELECT DISTINCT l.id FROM l FULL JOIN r ON l.id = r.id",
    "SELECT l.id FROM l FULL JOIN r ON l.id = r.id ORDER BY l.id LIMIT 2",
    "SELECT l.id FROM l FULL JOIN r ON l.id = r.id FULL JOIN m ON m.x = l.id",  # a second outer join
    "SELECT l.id FROM l JOIN m ON m.x = l.id FULL JOIN r ON l.id = r.id",  # not the first join
    "SELECT l.id, v FROM l FULL JOIN r ON l.id = r.id",  # a column without its table
    "SELECT l.id FROM l FULL JOIN r ON l.id = (SELECT MAX(x) FROM m)",  # a subquery
    "SELECT total(l.v) AS t FROM l FULL JOIN r ON l.id = r.id",  # a function sqlglot does not know
])
def test_what_the_rewrite_cannot_keep_exact_is_left_as_written(con, sql):
    tree = sqlglot.parse_one(sql, read="sqlite")
    assert outer_joins_as_left_joins(tree.copy()) == tree
    con.execute(sql).fetchall()  # and it runs as written


def test_a_marker_name_the_table_already_has_is_not_reused(tmp_path):
    path = tmp_path / "clash.sqlite"
    with sqlite3.connect(path) as c:
        c.executescript("CREATE TABLE a (qg_matched INTEGER, x INTEGER); CREATE TABLE b (y INTEGER);"
                        "INSERT INTO a VALUES (NULL, 1), (NULL, 2); INSERT INTO b VALUES (2), (3);")
    sql = "SELECT a.qg_matched, a.x, b.y FROM a FULL JOIN b ON a.x = b.y"
    text = rewritten(sql)
    assert '"qg_matched_"' in text
    assert typed(c.execute(text).fetchall()) == typed(c.execute(sql).fetchall())
    c.close()


def test_a_full_join_step_on_sqlite_runs_with_automatic_indexes_and_agrees_with_the_other_engines(engine):
    # 3,203 x 3,203 order items joined on unindexed columns: as written, SQLite compares every pair
    step = ["perform_join", ["order_items AS a0", "order_items AS a1"], ["a0.quantity = a1.product_id"],
            ["FULL JOIN"], "a0.order_item_id, a0.quantity, a1.order_item_id AS other, a1.product_id"]
    tasks = querygym.builtin_tasks()
    env = QueryGymEnv(tasks, dialect=engine, result_cache="never")
    try:
        env.reset(options={"task_id": tasks.tasks[0].id})
        obs, _, _, _, info = env.step(json.dumps(step))
        assert info["kind"] == "cte", obs
        rows = info["row_count"]
        sql = env.episode.dialect.compile(env.episode.plan, env.episode.plan.newest)
        if engine == "sqlite":
            assert "UNION ALL" in info["sql"]  # the SQL shown is the SQL run
            plan = [r[3] for r in env.episode.backend.execute(f"EXPLAIN QUERY PLAN {sql}").rows]
            assert not any("RIGHT-JOIN" in p for p in plan) and sum("AUTOMATIC" in p for p in plan) == 2, plan
        else:
            assert "FULL" in sql.upper() and "UNION ALL" not in sql.upper()
    finally:
        env.close()
    with sqlite3.connect(f"file:{querygym.builtin_database()}?mode=ro", uri=True) as c:
        expected = c.execute("SELECT COUNT(*) FROM order_items AS a0 FULL JOIN order_items AS a1 "
                             "ON a0.quantity = a1.product_id").fetchone()[0]
    c.close()
    assert rows == expected


def test_the_dialect_copies_only_what_it_rewrites():
    dialect = get("sqlite")()
    plain = sqlglot.parse_one("SELECT a.x FROM a LEFT JOIN b ON a.x = b.y", read="sqlite")
    assert dialect.prepare(plain) is plain  # nothing to rewrite: no copy
    outer = sqlglot.parse_one("SELECT a.x FROM a FULL JOIN b ON a.x = b.y", read="sqlite")
    before = outer.sql()
    prepared = dialect.prepare(outer)
    assert isinstance(prepared, sqlglot.exp.Union) and outer.sql() == before  # the original is untouched
