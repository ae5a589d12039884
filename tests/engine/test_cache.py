"""Intermediate results kept as temporary tables: the same observations as computing every step
again, values and SQLite affinity kept, safety as strong, and nothing left after the episode."""

from __future__ import annotations

import re
import sqlite3

import pytest

import querygym
from querygym.engine.backend import Backend
from querygym.engine.cache import ResultCache
from querygym.env.environment import QueryGymEnv
from querygym.errors import ExecutionError, InvalidArgumentError
from tests.support import SPIDER, act, assert_databases_untouched, sha256

ENGINES = ["sqlite", "duckdb"]


def play(env: QueryGymEnv, task_id, actions: list[str]) -> list[tuple]:
    """Every step's observation and the parts of its info a cache could change.  The rows of a table
    with no order are compared as a set of lines: the engine may scan a kept table in another order."""
    out = []
    env.reset(seed=0, options={"task_id": task_id})  # the same sample values in both
    for text in actions:
        obs, reward, terminated, truncated, info = env.step(text)
        if info["kind"] == "cte" and "Row order:" not in obs:
            table, _, sql = obs.partition("\nSQL:\n")
            head, _, rows = table.partition("ows:\n")  # "Rows:" or "First 10 rows:"
            # all rows shown: the same lines in any order; some shown: which ones is the engine's choice
            obs = (head, sorted(rows.splitlines()[2:]) if info["row_count"] <= env.unwrapped.display_rows else None,
                   sql)
        out.append((_rounded(obs), reward, terminated, info["kind"], info.get("row_count"), info.get("relation")))
        if terminated or truncated:
            break
    return out


def _rounded(obs):
    """Floats to 9 significant digits, as the comparison reads them: a sum over rows read in another
    order may differ in its last bits (PostgreSQL sums floats in scan order)."""
    if isinstance(obs, tuple):
        return tuple(_rounded(part) for part in obs)
    if isinstance(obs, list):
        return [_rounded(part) for part in obs]
    if obs is None:
        return None
    return re.sub(r"\d+\.\d{6,}", lambda m: f"{float(m.group()):.9g}", obs)


def temp_tables(backend: Backend) -> list[str]:
    if backend.dialect.name == "sqlite":
        return [r[0] for r in backend.execute("SELECT name FROM sqlite_temp_master WHERE type = 'table'").rows]
    return [r[0] for r in backend.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").rows]


def test_kept_results_give_the_observations_of_recomputed_ones_on_the_builtin_tasks(engine):
    tasks = querygym.builtin_tasks()
    references = querygym.builtin_references()
    kept, plain = (QueryGymEnv(tasks, dialect=engine, result_cache=policy) for policy in ("always", "never"))
    try:
        compared = 0
        for task_id, script in references.items():
            a = play(kept, int(task_id), script)
            assert a == play(plain, int(task_id), script), task_id
            compared += sum(1 for step in a if step[3] == "cte")
        assert compared > 50 and len(kept.episode.cache) > 0
    finally:
        kept.close()
        plain.close()


@pytest.mark.skipif(not (SPIDER / "dev_bird_format_19db.json").is_file(), reason="Spider dev data not found")
def test_kept_results_give_the_observations_of_recomputed_ones_on_spider(engine):
    tasks = querygym.load_bird(SPIDER / "dev_bird_format_19db.json", SPIDER / "database",
                               tables=SPIDER / "tables_19db.json")
    chosen = [t for t in tasks if t.playable][::8]  # every eighth question: all 19 databases, 120 shapes
    kept, plain = (QueryGymEnv(tasks, dialect=engine, result_cache=policy) for policy in ("always", "never"))
    try:
        solved = 0
        for task in chosen:
            steps = querygym.decompose(task.gold_sql, task).actions
            a = play(kept, task.id, steps)
            assert a == play(plain, task.id, steps), task.id
            solved += bool(a) and a[-1][2]
        assert solved >= 0.9 * len(chosen)
    finally:
        kept.close()
        plain.close()
    assert_databases_untouched()


def test_questions_about_kept_tables_give_the_answers_of_recomputed_ones(engine, monkeypatch):
    """Explorations read a kept table instead of computing it again: every column's statistics,
    distinct values and types are as when the table is computed from the base tables."""
    statements, playing = [], [None]
    execute = Backend.execute
    monkeypatch.setattr(Backend, "execute",
                        lambda self, sql, **kw: statements.append((playing[0], sql)) or execute(self, sql, **kw))
    tasks = querygym.builtin_tasks()
    references = querygym.builtin_references()
    kept, plain = (QueryGymEnv(tasks, dialect=engine, result_cache=policy) for policy in ("always", "never"))
    try:
        asked = 0
        for task_id, script in list(references.items())[::6]:
            answers = []
            for env in (kept, plain):
                playing[0] = env
                env.reset(seed=0, options={"task_id": int(task_id)})
                seen = []
                for text in script:
                    obs, reward, terminated, truncated, info = env.step(text)
                    if info["kind"] == "cte":
                        node = env.unwrapped.episode.plan.get(info["cte_id"])
                        for column in node.column_names:
                            for question in ("get_column_stats", "get_unique_values", "get_column_types"):
                                seen.append(_rounded(env.step(act(question, node.id, column)
                                                              if question != "get_column_types"
                                                              else act(question, node.id))[0]))
                    if terminated or truncated:
                        break
                answers.append(seen)
            assert answers[0] == answers[1], task_id
            asked += len(answers[0])
        assert asked > 100 and len(kept.episode.cache) > 0
        # the questions read the kept tables (or, on PostgreSQL, the rows written into them)
        reading = [sql for env, sql in statements if env is kept and "COUNT(DISTINCT" in sql.upper()]
        keeps = '"qg_' if engine != "postgres" else "VALUES"
        assert sum(keeps in sql for sql in reading) > len(reading) / 2
    finally:
        kept.close()
        plain.close()


AFFINITY = """
CREATE TABLE t (id INTEGER PRIMARY KEY, txt TEXT, num NUMERIC, i INTEGER, r REAL, b BLOB, anything);
INSERT INTO t VALUES (1, '98', '5', 7, 1.0, x'00ff', '12');
INSERT INTO t VALUES (2, '150', '5.0', 8, 2.5, x'01', 12);
INSERT INTO t VALUES (3, 'abc', 'xyz', 9, 3, NULL, 1.5);
INSERT INTO t VALUES (4, NULL, 10, NULL, NULL, x'', NULL);
"""

# Each chain projects first (T_0), then compares the projected columns: text against numbers,
# numeric text, blobs and untyped values meet SQLite's affinity rules through the kept table.
AFFINITY_CHAINS = [
    [act("perform_projection", "t", "t.id, t.txt, t.num, t.i, t.r, t.b, t.anything"),
     act("perform_filter", "T_0", "T_0.txt > 100"),
     act("perform_filter", "T_1", "T_1.num = '5'"),
     act("perform_projection", "T_2", "T_2.id, T_2.txt, T_2.num")],  # typed columns only: kept
    [act("perform_projection", "t", "t.id, t.txt, t.num, t.anything, t.b"),
     act("perform_filter", "T_0", "T_0.anything = 12"),
     act("perform_projection", "T_1", "T_1.id, T_1.anything + 1 AS next, typeof(T_1.anything) AS kind")],
    [act("perform_projection", "t", "t.id, t.txt || '' AS plain, t.i * 1.0 AS real_i, t.b"),
     act("perform_filter", "T_0", "T_0.plain < 2 OR T_0.real_i >= 8"),
     act("perform_order_by", "T_1", "T_1.plain DESC"),
     act("perform_projection", "T_2", "T_2.id, typeof(T_2.plain), typeof(T_2.real_i), T_2.b")],
    [act("perform_aggregate", "t", "", "SUM(t.txt) AS s, MAX(t.num) AS m, COUNT(t.b) AS blobs"),
     act("perform_filter", "T_0", "T_0.s > 200 AND T_0.m = 10")],
]


TYPED = """
CREATE TABLE t (id INTEGER PRIMARY KEY, txt TEXT, num NUMERIC, i INTEGER, r REAL);
INSERT INTO t VALUES (1, '98', '5', 7, 1.0);
INSERT INTO t VALUES (2, '150', '5.0', 8, 2.5);
INSERT INTO t VALUES (3, 'abc', 'xyz', 9, 3);
INSERT INTO t VALUES (4, NULL, 10, NULL, NULL);
"""

# With no BLOB-affinity column in the database, expressions (no affinity) are kept too and read
# back as +column: text against them is compared as text, as in the query they came from.
TYPED_CHAINS = [
    [act("perform_projection", "t", "t.id, t.txt, t.i * 10 AS ten, AVG(t.i) OVER () AS mean, t.r"),
     act("perform_filter", "T_0", "T_0.txt > T_0.ten OR T_0.txt < T_0.mean"),
     act("perform_projection", "T_1", "T_1.id, typeof(T_1.ten), T_1.txt = T_1.ten")],
    [act("perform_aggregate", "t", "", "COUNT(*) AS n, MAX(t.i) AS top, SUM(t.r) AS total"),
     act("perform_filter", "t", "t.txt > (SELECT T_0.n FROM T_0) AND t.num = (SELECT T_0.n FROM T_0) + 1"),
     act("perform_filter", "T_1", "T_1.txt <> (SELECT T_0.top FROM T_0)")],
    [act("perform_projection", "t", "t.id, t.txt, t.num"), act("perform_filter", "T_0", "T_0.txt > 100")],
]


@pytest.fixture(params=["untyped", "typed"])
def affinity_tasks(request, tmp_path):
    db = tmp_path / "aff" / "aff.sqlite"
    db.parent.mkdir()
    with sqlite3.connect(db) as con:
        con.executescript(AFFINITY if request.param == "untyped" else TYPED)
    con.close()
    questions = tmp_path / "questions.json"
    questions.write_text('[{"question_id": 0, "db_id": "aff", "question": "ids", "SQL": "SELECT id FROM t"}]')
    return querygym.load_bird(questions, tmp_path), db, request.param


def test_values_and_sqlite_affinity_survive_a_kept_table(affinity_tasks):
    tasks, db, variant = affinity_tasks
    before = sha256(db)
    kept, plain = (QueryGymEnv(tasks, result_cache=policy, display_rows=10) for policy in ("always", "never"))
    kept_any = 0
    try:
        for chain in AFFINITY_CHAINS if variant == "untyped" else TYPED_CHAINS:
            a, b = play(kept, 0, chain), play(plain, 0, chain)
            assert all(step[3] == "cte" for step in a), a
            assert a == b
            # and the rows themselves, with their Python types, read back from the kept table
            ep_kept, ep_plain = kept.episode, plain.episode
            kept_any += len(ep_kept.cache)
            for node in ep_kept.plan:
                rows_kept = ep_kept.rows(node, None).rows
                rows_plain = ep_plain.rows(ep_plain.plan.node(node.id), None).rows
                assert rows_kept == rows_plain
                assert [[type(v) for v in r] for r in rows_kept] == [[type(v) for v in r] for r in rows_plain]
        # text compared with the number 100 is compared as text ('98' > '100'), as in SQLite
        text_against_number = [act("perform_projection", "t", "t.id, t.txt"), act("perform_filter", "T_0", "T_0.txt > 100")]
        assert play(kept, 0, text_against_number)[-1][4] == 3  # '98', '150' and 'abc' are all > '100'
        assert kept_any >= (3 if variant == "typed" else 1)
    finally:
        kept.close()
        plain.close()
    assert sha256(db) == before


@pytest.mark.skipif(not (SPIDER / "dev_bird_format_19db.json").is_file(), reason="Spider dev data not found")
def test_an_aggregate_read_back_keeps_no_affinity_against_text():
    # Dogs.age is VARCHAR (TEXT affinity); AVG(age) has none, so SQLite compares it as text with
    # age.  Kept in a table, the average must still have no affinity, or no dog would match.
    tasks = querygym.load_bird(SPIDER / "dev_bird_format_19db.json", SPIDER / "database",
                               tables=SPIDER / "tables_19db.json")
    env = QueryGymEnv(tasks, result_cache="always")
    try:
        env.reset(options={"task_id": 974})
        env.step(act("perform_aggregate", "Dogs", "", "AVG(age)"))
        assert "T_0" in env.episode.cache.tables(env.episode.plan)
        obs, reward, _, _, info = env.step(act("perform_filter", "Dogs", 'age < (SELECT T_0."AVG(age)" FROM T_0)'))
        assert info["kind"] == "cte" and info["row_count"] == 9, obs
    finally:
        env.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_kept_tables_vanish_with_the_episode(engine):
    env = QueryGymEnv(dialect=engine, result_cache="always")
    try:
        script = querygym.builtin_references()["3"]
        play(env, 3, script)
        backend = env.episode.backend
        names = temp_tables(backend)
        assert len(names) == len(env.episode.cache) >= 1 and all(n.startswith("qg_") for n in names)
        env.reset(options={"task_id": 3})
        assert temp_tables(backend) == []
    finally:
        env.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_lost_session_falls_back_to_computing_again(engine):
    env = QueryGymEnv(dialect=engine, result_cache="always")
    try:
        env.reset(options={"task_id": 3})
        env.step(act("perform_filter", "subscriptions", "status = 'A'"))
        assert len(env.episode.cache) == 1
        env.episode.backend.close()  # the connection, and its temporary tables, are gone
        obs, reward, terminated, _, info = env.step(act("perform_aggregate", "T_0", "", "SUM(monthly_amount)"))
        assert info["kind"] == "cte" and terminated and reward == 1.0, obs
    finally:
        env.close()


def test_only_querygyms_own_statement_may_create_a_temporary_table():
    path = SPIDER / "database" / "concert_singer" / "concert_singer.sqlite"
    with Backend(path) as db:
        for sql in ["CREATE TEMP TABLE x AS SELECT 1", "CREATE TEMP TABLE qg_1 (a)", "PRAGMA query_only = OFF"]:
            with pytest.raises(ExecutionError):
                db.execute(sql)
        db.materialise("qg_test", "SELECT Name FROM singer")
        assert db.scalar('SELECT COUNT(*) FROM "qg_test"') == 6
        # the window closed with the statement: writes are refused again, the kept table included
        for sql in ['INSERT INTO "qg_test" VALUES (1)', 'DROP TABLE "qg_test"', "CREATE TEMP TABLE y AS SELECT 1"]:
            with pytest.raises(ExecutionError):
                db.execute(sql)
        # the database file itself stays read-only even inside the window
        with pytest.raises(ExecutionError):
            db.materialise("qg_main", "SELECT 1; DROP TABLE singer")
        db.drop("qg_test")
        assert db.scalar("SELECT COUNT(*) FROM sqlite_temp_master") == 0
    assert_databases_untouched()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_table_that_proved_slow_is_kept_when_it_is_asked_about(engine):
    tasks = querygym.builtin_tasks()
    env = QueryGymEnv(tasks, dialect=engine)  # the "auto" policy
    try:
        env.reset(options={"task_id": tasks.tasks[0].id})
        cache = env.episode.cache
        env.step(act("perform_filter", "orders", "orders.order_id > 10"))  # small: run plainly
        assert len(cache) == 0
        env.step(act("get_column_stats", "T_0", "T_0.order_id"))
        assert len(cache) == 0  # it ran faster than slow_s: asked about, it is computed again
        cache.slow_s = 0.0  # now every table ran "slowly"
        env.step(act("perform_filter", "customers", "customers.customer_id > 10"))
        assert len(cache) == 0
        before = env.step(act("get_column_stats", "T_1", "T_1.customer_id"))[0]
        assert len(cache) == 1 and "T_1" in cache.tables(env.episode.plan)
        assert temp_tables(env.episode.backend) != []
        # the answers from the kept table are the same, and a next step over it runs
        assert env.step(act("get_column_stats", "T_1", "T_1.customer_id"))[0] == before
        info = env.step(act("perform_limit", "T_1", "3"))[4]
        assert info["kind"] == "cte" and info["row_count"] == 3
        # a slow table of many rows is not written out to answer a question about it
        rows = env.step(act("perform_filter", "products", "products.product_id > 1"))[4]["row_count"]
        assert "T_3" not in cache.tables(env.episode.plan)
        cache.source_rows = rows - 1
        env.step(act("preview_table", "T_3"))
        assert "T_3" not in cache.tables(env.episode.plan)
    finally:
        env.close()


def test_a_materialisation_stops_at_the_time_limit_and_leaves_nothing():
    tasks = querygym.load_bird(SPIDER / "dev_bird_format_19db.json", SPIDER / "database",
                               tables=SPIDER / "tables_19db.json")
    world = next(t for t in tasks if t.db_id == "world_1")
    env = QueryGymEnv(tasks, result_cache="always", timeout_s=0.3)
    try:
        env.reset(options={"task_id": world.id})
        obs, _, _, _, info = env.step(act("perform_join", ["city AS a", "city AS b", "city AS c"], ["", ""],
                                          ["CROSS JOIN", "CROSS JOIN"], "COUNT(*) AS n"))
        assert info["kind"] == "error" and info["error"]["type"] == "timeout", obs
        assert temp_tables(env.episode.backend) == [] and len(env.episode.cache) == 0
        obs, _, _, _, info = env.step(act("perform_filter", "city", "city.Name = 'Kabul'", "city.Population"))
        assert info["kind"] == "cte" and info["row_count"] == 1, obs
    finally:
        env.close()


def test_an_unknown_policy_is_refused():
    with pytest.raises(InvalidArgumentError, match="result_cache"):
        QueryGymEnv(result_cache="sometimes")
    with Backend(querygym.builtin_tasks()[0].db) as db, pytest.raises(InvalidArgumentError, match="policy"):
        ResultCache(db, policy="sometimes")


def test_the_auto_policy_keeps_deep_and_large_results_only(affinity_tasks):
    tasks, _, _ = affinity_tasks
    env = QueryGymEnv(tasks)
    try:
        env.reset(options={"task_id": 0})
        obs, _, _, _, info = env.step(act("perform_projection", "t", "t.id, t.txt"))
        for i in range(1, 9):
            source = f"T_{i - 1}"
            obs, _, _, _, info = env.step(act("perform_filter", source, f"{source}.id > 0"))
            assert info["kind"] == "cte", obs
        cache = env.episode.cache
        # a 4-row table: only the depth bound keeps anything, one node in every max_pending
        assert 1 <= len(cache) <= 9 // (cache.max_pending - 1)
    finally:
        env.close()


PG_VALUES = """SELECT 1::int8 AS i, 0.1::float8 + 0.2::float8 AS f, 'NaN'::float8 AS nan, 'Infinity'::float8 AS inf,
    123456789012345678901234.5678::numeric AS n, 'it''s É "q"'::text AS t, TRUE AS b, DATE '2024-02-29' AS d,
    TIMESTAMPTZ '2024-01-01 12:34:56.789+05:30' AS tz, TIMESTAMP '2024-01-01 00:00:00.000001' AS ts,
    NULL::int4 AS nothing, 'x'::varchar(3) AS v
    UNION ALL SELECT -9223372036854775808, -0.0, 1e308, '-Infinity', 0, '', FALSE, NULL, NULL, NULL, 7, NULL"""


def test_postgres_writes_small_kept_results_as_exact_values(postgres_url):
    with Backend(SPIDER / "database" / "concert_singer" / "concert_singer.sqlite", "postgres") as db:
        original = db.execute(PG_VALUES)
        select = db.dialect.inline_select(original.columns, original.types, original.rows)
        assert select is not None and "VALUES" in select
        again = db.execute(select)
        assert again.columns == original.columns and again.types == original.types
        assert [[(type(v), repr(v)) for v in r] for r in again.rows] == \
            [[(type(v), repr(v)) for v in r] for r in original.rows]
        # text keeps the copied tables' byte order and ASCII-only case folding (COLLATE "C")
        names = db.execute('SELECT "Name" FROM singer').rows
        inline = db.dialect.inline_select(("Name",), db.execute('SELECT "Name" FROM singer').types, names)
        assert db.execute(f'SELECT "Name" FROM ({inline}) AS k ORDER BY 1').rows == \
            db.execute('SELECT "Name" FROM singer ORDER BY 1').rows
        empty = db.dialect.inline_select(("a",), original.types[:1], [])
        assert db.execute(empty).rows == [] and db.execute(empty).types == original.types[:1]
        # a type not written exactly here is not inlined
        arrays = db.execute("SELECT ARRAY[1, 2] AS a")
        assert db.dialect.inline_select(arrays.columns, arrays.types, arrays.rows) is None
    assert_databases_untouched()


def test_postgres_keeps_small_results_without_writing_anything(postgres_url):
    env = QueryGymEnv(dialect="postgres", result_cache="always")
    try:
        env.reset(options={"task_id": 3})
        env.step(act("perform_filter", "subscriptions", "status = 'A'"))
        kept = env.episode.cache.tables(env.episode.plan)
        assert list(kept) == ["T_0"] and "VALUES" in kept["T_0"]
        obs, reward, terminated, _, info = env.step(act("perform_aggregate", "T_0", "", "SUM(monthly_amount)"))
        assert info["kind"] == "cte" and terminated and reward == 1.0, obs
        env.reset(options={"task_id": 3})
        assert len(env.episode.cache) == 0
    finally:
        env.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_kept_table_past_the_row_cap_is_counted_not_fetched(engine):
    kept, plain = (QueryGymEnv(dialect=engine, result_cache=policy, max_result_rows=100, display_rows=4)
                   for policy in ("always", "never"))
    try:
        a, b = (play(env, 3, [act("perform_filter", "subscriptions", "status = 'A'")]) for env in (kept, plain))
        assert a[0][4] == b[0][4] == 261 and a[0][5] == b[0][5] == "different"  # too large to compare
        assert a[0][0][0] == b[0][0][0] and "Rows: 261" in a[0][0][0]
        assert len(kept.episode.rows(kept.episode.plan.newest, 100).rows) == 100
    finally:
        kept.close()
        plain.close()
