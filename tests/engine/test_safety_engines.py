"""The core safety tests (tests/engine/test_safety.py) on every engine: injections are error
observations that change nothing, runaway queries stop at their limit and the environment
stays usable, statements that write or reach outside are refused by the engine itself.

On PostgreSQL and DuckDB the Spider databases are the loaded copies; "changes nothing" is
checked on the copy (row counts of every table) as well as on the SQLite files.
"""

from __future__ import annotations

import time
from pathlib import Path

import gymnasium
import pytest

import querygym
from querygym.engine.backend import Backend
from querygym.errors import ExecutionError, QueryTimeoutError
from tests.support import INJECTIONS, SPIDER, TIME_LIMIT, act, assert_databases_untouched, first_task

pytestmark = pytest.mark.skipif(not (SPIDER / "dev_bird_format_19db.json").is_file(),
                                reason=f"Spider dev data not found under {SPIDER}")

CONCERT = SPIDER / "database" / "concert_singer" / "concert_singer.sqlite"


@pytest.fixture(scope="module")
def spider_tasks() -> querygym.TaskSet:
    return querygym.load_bird(SPIDER / "dev_bird_format_19db.json", SPIDER / "database",
                              tables=SPIDER / "tables_19db.json")


def row_counts(engine: str, path: Path) -> dict[str, int]:
    with Backend(path, engine) as db:
        return {t: db.scalar(f'SELECT COUNT(*) FROM "{t}"') for t in db.schema().table_names}


@pytest.fixture(params=["auto", "always"])
def concert_env(request, engine, spider_tasks):
    # "always": every table kept in the session, so the injections also meet kept results
    env = gymnasium.make("querygym/QueryGym-v0", tasks=spider_tasks, timeout_s=2.0, dialect=engine,
                         result_cache=request.param)
    env.reset(options={"task_id": first_task(spider_tasks, "concert_singer").id})
    obs, _, _, _, info = env.step(act("perform_projection", "singer", "singer.Name, singer.Age"))
    assert info["kind"] == "cte", obs
    yield env
    env.close()


def test_injections_are_errors_and_change_nothing(engine, concert_env, tmp_path):
    before = row_counts(engine, CONCERT)
    for params in INJECTIONS:
        params = [p.format(tmp=tmp_path) if isinstance(p, str) else p for p in params]
        obs, _, terminated, _, info = concert_env.step(act(*params))
        assert info["kind"] == "error", f"{engine}: {params} was accepted:\n{obs}"
        assert tuple(concert_env.unwrapped.episode.plan.ids) == ("T_0",) and not terminated
        obs, _, _, _, info = concert_env.step(act("preview_table", "T_0"))
        assert info["kind"] == "exploration" and "Joe Sharp" in obs, f"{engine} after {params}: {obs}"
    assert list(tmp_path.iterdir()) == []
    assert row_counts(engine, CONCERT) == before
    assert_databases_untouched()


ENGINE_ATTACKS = {
    # statements a fragment never produces, sent straight to the engine's guarded connection
    "postgres": ["DELETE FROM singer", "SELECT 1; DROP TABLE singer", "CREATE TABLE x (a int)",
                 "SELECT pg_read_file('/etc/passwd')", "COPY singer TO '/tmp/querygym-copy'",
                 "SELECT lo_import('/etc/passwd')", "CREATE TEMP TABLE x AS SELECT 1"],
    "duckdb": ["DELETE FROM singer", "SELECT 1; DROP TABLE singer", "CREATE TABLE x (a INT)",
               "SELECT * FROM read_text('/etc/passwd')", "COPY singer TO '/tmp/querygym-copy.csv'",
               "ATTACH '/tmp/querygym-attach.db' AS other", "SET enable_external_access = true",
               "INSTALL sqlite", "LOAD sqlite"],
    "sqlite": ["DELETE FROM singer", "SELECT 1; DROP TABLE singer", "CREATE TABLE x (a)",
               "SELECT readfile('/etc/passwd')", "ATTACH DATABASE '/tmp/querygym-attach.db' AS other",
               "CREATE TEMP TABLE x AS SELECT 1", "PRAGMA query_only = OFF"],
}


def test_the_engine_refuses_writes_and_outside_access(engine):
    before = row_counts(engine, CONCERT)
    with Backend(CONCERT, engine) as db:
        for sql in ENGINE_ATTACKS[engine]:
            with pytest.raises(ExecutionError):
                db.execute(sql)
            assert db.scalar("SELECT COUNT(*) FROM singer") == before["singer"]  # still usable
    assert row_counts(engine, CONCERT) == before
    assert not any(Path("/tmp").glob("querygym-copy*")) and not Path("/tmp/querygym-attach.db").exists()


# ---------------------------------------------------------------------- time limits
@pytest.fixture()
def world_env(engine, spider_tasks):
    env = gymnasium.make("querygym/QueryGym-v0", tasks=spider_tasks, timeout_s=TIME_LIMIT, dialect=engine)
    env.reset(options={"task_id": first_task(spider_tasks, "world_1").id})
    yield env
    env.close()


def timed_step(env, text):
    started = time.perf_counter()
    result = env.step(text)
    elapsed = time.perf_counter() - started
    assert elapsed < 10 * TIME_LIMIT, f"{text} took {elapsed:.1f} s with a {TIME_LIMIT} s limit"
    return result


def test_a_runaway_aggregate_stops_at_its_limit(engine, world_env):
    obs, _, _, _, join = timed_step(world_env, act(
        "perform_join", ["city AS a", "city AS b", "city AS c"], ["", ""], ["CROSS JOIN", "CROSS JOIN"]))
    outcomes = [join]
    if join["kind"] == "cte":  # the first rows of a cross product stream quickly; counting them all does not
        obs, _, _, _, aggregate = timed_step(world_env, act("perform_aggregate", join["cte_id"], "", "COUNT(*)"))
        outcomes.append(aggregate)
    last = outcomes[-1]
    assert last["kind"] == "error" and last["error"]["type"] == "timeout", obs
    plan_ids = tuple(world_env.unwrapped.episode.plan.ids)
    obs, _, _, _, info = timed_step(world_env, act("preview_table", "city"))
    assert info["kind"] == "exploration" and "Kabul" in obs
    obs, _, _, _, info = timed_step(world_env, act("perform_filter", "city", "city.Name = 'Kabul'", "city.Population"))
    assert info["kind"] == "cte" and info["row_count"] == 1, obs
    assert tuple(world_env.unwrapped.episode.plan.ids) == plan_ids + (info["cte_id"],)


def test_a_runaway_self_join_of_an_intermediate_table(engine, world_env):
    obs, _, _, _, info = timed_step(world_env, act(
        "perform_join", ["country AS a", "country AS b"], [""], ["CROSS JOIN"], "a.Code AS x, b.Code AS y"))
    assert info["kind"] == "cte" and info["row_count"] == 239 * 239, obs
    obs, _, _, _, info = timed_step(world_env, act(
        "perform_join", ["T_0 AS p", "T_0 AS q"], ["p.x < q.y"], ["INNER JOIN"], "COUNT(*) AS n"))
    assert info["kind"] == "error" and info["error"]["type"] == "timeout", obs
    obs, _, _, _, info = timed_step(world_env, act("get_column_stats", "T_0", "T_0.x"))
    assert info["kind"] == "exploration" and "distinct: 239" in obs, obs


def test_the_backend_stops_a_query_and_keeps_the_connection(engine):
    path = SPIDER / "database" / "world_1" / "world_1.sqlite"
    with Backend(path, engine, timeout_s=0.3) as db:
        started = time.monotonic()
        with pytest.raises(QueryTimeoutError):
            db.execute("SELECT COUNT(*) FROM city a, city b, city c")
        assert time.monotonic() - started < 5
        assert db.scalar("SELECT COUNT(*) FROM country") == 239
        # the next query gets its own full limit, not the remains of the stopped one's alarm
        assert db.execute('SELECT COUNT(*) FROM city a, city b WHERE a."ID" < 200', timeout_s=5.0).rows
