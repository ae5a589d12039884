"""Safety of the environment on real Spider databases.

(a) Random actions, valid-looking and hostile, never raise out of ``env.step``, always give
    one of the four observation kinds, and never change a database file.
(b) Injection attempts are error observations that leave the plan as it was.
(c) A runaway query stops at its time limit and the environment stays usable.
(d) Gymnasium's own ``check_env`` passes.

The database files are checked against ``spider_dev/SHA256SUMS.sqlite.txt``, which comes
with the data, so a test proves the files are exactly as published.
"""

from __future__ import annotations

import json
import sqlite3
import time
import warnings
from contextlib import closing
from pathlib import Path

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import querygym
from tests.support import INJECTIONS, SPIDER, SUMS, TIME_LIMIT, act, assert_databases_untouched, first_task


pytestmark = pytest.mark.skipif(not (SPIDER / "dev_bird_format_19db.json").is_file() or not SUMS.is_file(),
                                reason=f"Spider dev data not found under {SPIDER}")

KINDS = {"overview", "exploration", "cte", "error"}
ERROR_TYPES = {"parse", "plan", "execution", "timeout"}
ACTIONS = tuple(spec.name for spec in querygym.catalog())
FUZZ_DBS = ("concert_singer", "world_1", "pets_1", "car_1", "cre_Doc_Template_Mgt", "dog_kennels")










def schema_of(db_id: str) -> dict[str, list[str]]:
    path = SPIDER / "database" / db_id / f"{db_id}.sqlite"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {t: [r[1] for r in con.execute(f'PRAGMA table_info("{t}")')] for t in tables}


@pytest.fixture(scope="module")
def spider_tasks() -> querygym.TaskSet:
    return querygym.load_bird(SPIDER / "dev_bird_format_19db.json", SPIDER / "database",
                              tables=SPIDER / "tables_19db.json")




def check_step(env, text: str, plan_before: tuple[str, ...]):
    """One step with every invariant of the step protocol checked."""
    obs, reward, terminated, truncated, info = env.step(text)
    assert isinstance(obs, str)
    assert isinstance(reward, float)
    assert isinstance(terminated, bool) and isinstance(truncated, bool)
    assert info["kind"] in KINDS - {"overview"}, info["kind"]
    plan_after = tuple(env.unwrapped.episode.plan.ids)
    if info["kind"] == "error":
        assert info["error"]["type"] in ERROR_TYPES, info["error"]
        assert plan_after == plan_before, f"a failed action changed the plan: {text!r}"
        assert not terminated
    else:
        assert info["error"] == {}
    if info["kind"] == "cte":
        assert plan_after == plan_before + (info["cte_id"],)
    else:
        assert plan_after == plan_before
    assert "root:x:0:0" not in obs  # nothing of /etc/passwd ever shows
    return obs, reward, terminated, truncated, info


# ---------------------------------------------------------------------- (a) random actions
def hostile(tmp: Path) -> list[str]:
    """Injection attempts and comment tricks, as fragments that may land in any parameter."""
    return [
        "1=1; DROP TABLE singer", "1=1 -- x", "x'); DELETE FROM singer; --", "1=1 /* */", "/* */ DROP TABLE city",
        "1=1 /* unterminated", "*/ 1=1", "1 -- */ OR 1=1 /*", f"ATTACH DATABASE '{tmp}/x.db' AS x",
        "PRAGMA query_only=0", "PRAGMA writable_schema=ON", "load_extension('x')", "readfile('/etc/passwd')",
        f"writefile('{tmp}/w', 'x')", "fts3_tokenizer('simple')", "edit('x')", "VACUUM",
        f"VACUUM INTO '{tmp}/copy.db'", "1 UNION SELECT sql FROM sqlite_master",
        "(SELECT name FROM sqlite_master)", "pragma_table_info('city')", "main.city", "temp.x",
        "1; INSERT INTO city DEFAULT VALUES", "UPDATE city SET Name = NULL", "CREATE TABLE x (a)",
        "BEGIN; DELETE FROM city; COMMIT", "x\" OR 1=1 --", "`x`; DROP`", "'", "\"", ";", "--", "/*", "*/",
        "COUNT(*) > 0; DROP TABLE singer", "1) OR (1=1", "sqlite_version()", "randomblob(16)",
    ]


SQL_WORDS = ["SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "IS NULL", "LIKE", "'%a%'", "(", ")", ",", "=",
             ">", "<", "<>", "*", "1", "0", "-1", "2.5", "NULL", "'x'", "\"x\"", "COUNT(*)", "AVG(", "GROUP BY",
             "ORDER BY", "DESC", "LIMIT", "AS", "DISTINCT", "CASE WHEN", "THEN", "ELSE", "END", "||", "CAST(",
             "AS INTEGER)", "EXISTS", "BETWEEN"]


def action_texts(schema: dict[str, list[str]], tmp: Path) -> st.SearchStrategy[str]:
    tables = sorted(schema)
    columns = sorted({c for cols in schema.values() for c in cols})
    qualified = [f"{t}.{c}" for t, cols in schema.items() for c in cols]
    injections = hostile(tmp)
    node_ids = [f"T_{i}" for i in range(6)] + ["T_99"]

    noise = st.text(max_size=24)
    table_ref = st.one_of(
        st.sampled_from(tables), st.sampled_from(tables).map(str.upper), st.sampled_from(node_ids),
        st.builds(lambda t, a: f"{t} AS {a}", st.sampled_from(tables + node_ids), st.sampled_from(["a", "b", "T1"])),
        st.sampled_from(injections), noise,
    )
    column = st.one_of(
        st.sampled_from(qualified), st.sampled_from(columns), st.sampled_from(columns).map(lambda c: f"a.{c}"),
        st.builds(lambda n, c: f"{n}.{c}", st.sampled_from(node_ids), st.sampled_from(columns)),
        st.sampled_from(injections), noise,
    )
    value = st.one_of(st.integers(-5, 5000).map(str), st.sampled_from(["'France'", "NULL", "'%a%'", "2.5", "''"]),
                      column)
    comparison = st.builds(lambda c, op, v: f"{c} {op} {v}", column,
                           st.sampled_from(["=", ">", "<", "<>", ">=", "LIKE", "IS", "IN"]), value)
    subquery = st.builds(
        lambda c, t, c2, form: form.format(c=c, t=t, c2=c2), column, st.sampled_from(tables), st.sampled_from(columns),
        st.sampled_from(["{c} IN (SELECT {c2} FROM {t})", "{c} NOT IN (SELECT {t}.{c2} FROM {t})",
                         "{c} > (SELECT AVG({c2}) FROM {t})", "EXISTS (SELECT * FROM {t} WHERE {t}.{c2} = {c})"]))
    word_salad = st.lists(st.one_of(st.sampled_from(SQL_WORDS), column), max_size=8).map(" ".join)
    condition = st.one_of(
        comparison, subquery, st.builds(lambda a, op, b: f"{a} {op} {b}", comparison, st.sampled_from(["AND", "OR"]),
                                        st.one_of(comparison, st.sampled_from(injections))),
        st.sampled_from(injections), word_salad, noise, st.just(""),
    )
    select_item = st.one_of(
        column, st.builds(lambda f, c: f"{f}({c})", st.sampled_from(["COUNT", "SUM", "AVG", "MIN", "MAX", "LENGTH",
                                                                     "UPPER", "load_extension", "readfile"]), column),
        st.just("COUNT(*)"), st.just("*"), st.builds(lambda c: f"{c} AS out", column), st.sampled_from(injections),
    )
    columns_list = st.one_of(
        st.builds(lambda d, items: d + ", ".join(items), st.sampled_from(["", "", "DISTINCT "]),
                  st.lists(select_item, min_size=1, max_size=4)),
        word_salad, noise,
    )
    ordering = st.one_of(
        st.builds(lambda c, d: f"{c} {d}".strip(), column, st.sampled_from(["", "ASC", "DESC", "DESC NULLS LAST"])),
        st.sampled_from(injections), noise,
    )
    limit = st.one_of(st.integers(-3, 50).map(str), st.just("5 OFFSET 2"), st.sampled_from(injections), noise)
    join_type = st.one_of(st.sampled_from(["INNER JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "CROSS JOIN", "JOIN",
                                           "NATURAL JOIN"]), st.sampled_from(injections), noise)
    # CROSS JOINs of the big tables are left to test (c); here every join gets a condition or fails fast.
    join = st.integers(1, 4).flatmap(lambda n: st.tuples(
        st.lists(table_ref, min_size=n, max_size=n),
        st.lists(st.one_of(condition.filter(bool), comparison), min_size=max(n - 1, 0), max_size=max(n - 1, 0)),
        st.lists(join_type.filter(lambda j: "CROSS" not in j.upper()), min_size=max(n - 1, 0), max_size=max(n - 1, 0)),
    ))

    def params(name: str) -> st.SearchStrategy[list]:
        optional_columns = st.one_of(st.just([]), columns_list.map(lambda c: [c]))
        by_name = {
            "get_columns": st.tuples(table_ref).map(list),
            "preview_table": st.tuples(table_ref).map(list),
            "get_column_types": st.tuples(table_ref).map(list),
            "get_column_stats": st.tuples(table_ref, column).map(list),
            "get_unique_values": st.tuples(table_ref, column).map(list),
            "get_sample_values": st.tuples(table_ref, column).map(list),
            "perform_projection": st.tuples(table_ref, columns_list).map(list),
            "perform_filter": st.tuples(table_ref, condition, optional_columns).map(lambda p: [p[0], p[1], *p[2]]),
            "perform_join": st.tuples(join, optional_columns).map(lambda p: [*p[0], *p[1]]),
            "perform_order_by": st.tuples(table_ref, ordering, optional_columns).map(lambda p: [p[0], p[1], *p[2]]),
            "perform_limit": st.tuples(table_ref, limit, optional_columns).map(lambda p: [p[0], p[1], *p[2]]),
            "perform_aggregate": st.tuples(
                table_ref, st.one_of(st.just(""), column), columns_list,
                st.one_of(st.just([]), condition.map(lambda c: [c]))).map(lambda p: [p[0], p[1], p[2], *p[3]]),
            "perform_union": st.tuples(st.sampled_from(["ALL", "DISTINCT", "all", "SOME", "ALL; DROP TABLE city"]),
                                       table_ref, table_ref, optional_columns, optional_columns)
                              .map(lambda p: [p[0], p[1], p[2], *p[3], *p[4]]),
            "perform_intersect": st.tuples(table_ref, table_ref, optional_columns, optional_columns)
                                  .map(lambda p: [p[0], p[1], *p[2], *p[3]]),
        }
        return by_name.get(name, st.just([]))

    anything = st.sampled_from(ACTIONS).flatmap(lambda name: params(name).map(lambda args: [name, *args]))
    well_formed = st.one_of(anything, coherent_actions(schema), coherent_actions(schema))
    odd_json = st.lists(st.one_of(st.sampled_from(ACTIONS), noise, st.integers(), st.none(), st.booleans(),
                                  st.lists(noise, max_size=3), st.dictionaries(noise, noise, max_size=2)), max_size=5)
    as_text = st.one_of(
        well_formed.map(lambda a: "Action: " + json.dumps(a)),
        well_formed.map(json.dumps),
        well_formed.map(lambda a: f"I think so. Action: {json.dumps(a)} Done."),
        well_formed.map(repr),  # Python literal quoting
        odd_json.map(lambda a: "Action: " + json.dumps(a)),
        well_formed.map(lambda a: "Action: " + json.dumps(a)[:-1]),  # unclosed list
        st.sampled_from(injections), noise, st.text(max_size=200),
    )
    return as_text


def coherent_actions(schema: dict[str, list[str]]) -> st.SearchStrategy[list]:
    """Actions that fit the schema (a table with its own columns), so that many of them succeed."""
    tables = sorted(schema)
    node = st.sampled_from(["T_0", "T_1", "T_2", "T_3"])

    def on_table(t: str) -> st.SearchStrategy[list]:
        col = st.sampled_from(schema[t]).map(lambda c: f"{t}.{c}")
        cols = st.lists(col, min_size=1, max_size=3, unique=True).map(", ".join)
        value = st.one_of(st.integers(-1, 3000).map(str), st.sampled_from(["'France'", "'a'", "NULL", "'%e%'"]))
        condition = st.builds(lambda c, op, v: f"{c} {op} {v}", col, st.sampled_from(["=", ">", "<", "<>", "LIKE"]),
                              value)
        other = st.sampled_from(tables).flatmap(
            lambda u: st.tuples(st.just(u), st.sampled_from(schema[u])))
        return st.one_of(
            st.tuples(st.sampled_from(["get_columns", "preview_table", "get_column_types"]), st.just(t)).map(list),
            st.tuples(st.sampled_from(["get_column_stats", "get_unique_values", "get_sample_values"]), st.just(t),
                      col).map(list),
            st.builds(lambda c: ["perform_filter", t, c], condition),
            st.builds(lambda c, p: ["perform_filter", t, c, p], condition, cols),
            st.builds(lambda d, p: ["perform_projection", t, d + p], st.sampled_from(["", "DISTINCT "]), cols),
            st.builds(lambda c, d: ["perform_order_by", t, f"{c} {d}"], col, st.sampled_from(["ASC", "DESC"])),
            st.builds(lambda n: ["perform_limit", t, str(n)], st.integers(0, 20)),
            st.builds(lambda c, k: ["perform_aggregate", t, c, f"{c}, COUNT(*) AS n", f"COUNT(*) > {k}"], col,
                      st.integers(0, 3)),
            st.builds(lambda c: ["perform_aggregate", t, "", f"COUNT(DISTINCT {c}), MAX({c})"], col),
            st.builds(lambda c, o, j: ["perform_join", [f"{t} AS a", f"{o[0]} AS b"],
                                       [f"a.{c.split('.', 1)[1]} = b.{o[1]}"], [j]],
                      col, other, st.sampled_from(["INNER JOIN", "LEFT JOIN"])),
            st.builds(lambda c, q: [q[0], *q[1:], t, t, c, c] if q[0] == "perform_union" else [q[0], t, t, c, c],
                      col, st.sampled_from([("perform_union", "ALL"), ("perform_union", "DISTINCT"),
                                            ("perform_intersect",)])),
        )

    on_nodes = st.one_of(
        st.tuples(st.sampled_from(["get_columns", "preview_table", "get_column_types"]), node).map(list),
        st.builds(lambda n, k: ["perform_limit", n, str(k)], node, st.integers(0, 5)),
        st.builds(lambda n, q: ["perform_union", q, n, n], node, st.sampled_from(["ALL", "DISTINCT"])),
        st.builds(lambda n: ["perform_intersect", n, n], node),
        st.builds(lambda n: ["perform_aggregate", n, "", "COUNT(*)"], node),
    )
    return st.one_of(st.sampled_from(tables).flatmap(on_table), on_nodes)


def test_random_actions_never_escape_and_never_write(spider_tasks, tmp_path):
    assert_databases_untouched()
    attach_dir = tmp_path / "targets"
    attach_dir.mkdir()
    envs, strategies = {}, {}
    for db_id in FUZZ_DBS:
        envs[db_id] = gymnasium.make("querygym/QueryGym-v0", tasks=spider_tasks, max_steps=10_000, timeout_s=0.25,
                                     max_result_rows=2_000, max_observation_chars=4_000)
        strategies[db_id] = action_texts(schema_of(db_id), attach_dir)
    counts = {"steps": 0, "episodes": 0}
    kinds: dict[str, int] = {}

    @settings(max_examples=400, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data(), db_id=st.sampled_from(FUZZ_DBS))
    def episode(data, db_id):
        env = envs[db_id]
        obs, info = env.reset(options={"task_id": first_task(spider_tasks, db_id).id})
        assert isinstance(obs, str) and info["kind"] == "overview"
        counts["episodes"] += 1
        texts = data.draw(st.lists(strategies[db_id], min_size=5, max_size=40), label="actions")
        for text in texts:
            before = tuple(env.unwrapped.episode.plan.ids)
            _, _, _, _, info = check_step(env, text, before)
            counts["steps"] += 1
            kinds[info["kind"]] = kinds.get(info["kind"], 0) + 1

    started = time.perf_counter()
    try:
        episode()
    finally:
        for env in envs.values():
            env.close()
    elapsed = time.perf_counter() - started
    print(f"\nfuzz: {counts['steps']} random steps in {counts['episodes']} episodes, {elapsed:.1f} s; kinds {kinds}")

    assert counts["steps"] >= 2_000
    assert kinds.get("cte", 0) > 50 and kinds.get("exploration", 0) > 50 and kinds.get("error", 0) > 500, kinds
    assert_databases_untouched()
    assert list(attach_dir.iterdir()) == [], "an action created a file"


# ---------------------------------------------------------------------- (b) injections


@pytest.fixture()
def concert_env(spider_tasks):
    env = gymnasium.make("querygym/QueryGym-v0", tasks=spider_tasks, timeout_s=2.0)
    env.reset(options={"task_id": first_task(spider_tasks, "concert_singer").id})
    obs, _, _, _, info = env.step(act("perform_projection", "singer", "singer.Name, singer.Age"))
    assert info["kind"] == "cte", obs
    yield env
    env.close()


@pytest.mark.parametrize("params", INJECTIONS, ids=[f"{i}-{p[0]}" for i, p in enumerate(INJECTIONS)])
def test_injection_is_an_error_and_changes_nothing(concert_env, tmp_path, params):
    params = [p.format(tmp=tmp_path) if isinstance(p, str) else p for p in params]
    plan = concert_env.unwrapped.episode.plan
    before = tuple(plan.ids)
    obs, reward, terminated, truncated, info = concert_env.step(act(*params))
    assert info["kind"] == "error", f"{params} was accepted:\n{obs}"
    assert obs.startswith("Error")
    assert tuple(concert_env.unwrapped.episode.plan.ids) == before == ("T_0",)
    assert not terminated
    assert list(tmp_path.iterdir()) == []
    # the environment is still usable
    obs, _, _, _, info = concert_env.step(act("preview_table", "T_0"))
    assert info["kind"] == "exploration" and "Joe Sharp" in obs
    assert_databases_untouched()


# A comment is not an injection when SQL is built as a tree: it is kept as a comment that cannot
# end early, and it never changes what the query means.
COMMENT_TRICKS = [
    ("singer.Age > 40 -- AND singer.Age < 0", "Age > 40"),
    ("singer.Age > 100 -- */ OR 1=1 /*", "Age > 100"),
    ("singer.Age > 100 /* */ OR 1=1", None),  # a real OR, not hidden: every row
    ("singer.Age > 100 -- */; DROP TABLE singer; /*", "Age > 100"),
]


@pytest.mark.parametrize(("condition", "meaning"), COMMENT_TRICKS)
def test_comment_tricks_do_not_change_the_query(concert_env, condition, meaning):
    obs, _, _, _, info = concert_env.step(act("perform_filter", "singer", condition, "singer.Name"))
    assert info["kind"] == "cte", obs
    path = SPIDER / "database" / "concert_singer" / "concert_singer.sqlite"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        where = f" WHERE {meaning}" if meaning else ""
        expected = con.execute(f"SELECT COUNT(*) FROM singer{where}").fetchone()[0]
    assert info["row_count"] == expected
    assert "DROP" not in info["sql"].replace("/* * /; DROP TABLE singer; / * */", "")
    assert_databases_untouched()


# ---------------------------------------------------------------------- (c) time limits


@pytest.fixture()
def world_env(spider_tasks):
    env = gymnasium.make("querygym/QueryGym-v0", tasks=spider_tasks, timeout_s=TIME_LIMIT)
    env.reset(options={"task_id": first_task(spider_tasks, "world_1").id})
    yield env
    env.close()


def timed_step(env, text):
    started = time.perf_counter()
    result = env.step(text)
    elapsed = time.perf_counter() - started
    # liveness, not a benchmark: a step may run a couple of queries, each under the limit
    assert elapsed < 10 * TIME_LIMIT, f"{text} took {elapsed:.1f} s with a {TIME_LIMIT} s limit"
    return result


def test_runaway_cross_join_stops_at_its_time_limit(world_env):
    # city has 4079 rows: the triple cross product has 6.8e10 rows
    obs, _, _, _, join = timed_step(world_env, act(
        "perform_join", ["city AS a", "city AS b", "city AS c"], ["", ""], ["CROSS JOIN", "CROSS JOIN"]))
    outcomes = [join]
    if join["kind"] == "cte":  # an implementation may defer the work to the next query over it
        obs, _, _, _, aggregate = timed_step(world_env, act("perform_aggregate", join["cte_id"], "", "COUNT(*)"))
        outcomes.append(aggregate)
    last = outcomes[-1]
    assert last["kind"] == "error", obs
    assert last["error"]["type"] == "timeout", last["error"]
    assert "limit" in obs and obs.startswith("Error")
    plan_ids = tuple(world_env.unwrapped.episode.plan.ids)
    # the connection survives: exploration and operations work again
    obs, _, _, _, info = timed_step(world_env, act("preview_table", "city"))
    assert info["kind"] == "exploration" and "Kabul" in obs
    obs, _, _, _, info = timed_step(world_env, act("perform_filter", "city", "city.Name = 'Kabul'", "city.Population"))
    assert info["kind"] == "cte" and info["row_count"] == 1, obs
    assert tuple(world_env.unwrapped.episode.plan.ids) == plan_ids + (info["cte_id"],)


def test_runaway_self_join_of_an_intermediate_table(world_env):
    obs, _, _, _, info = timed_step(world_env, act(
        "perform_join", ["country AS a", "country AS b"], [""], ["CROSS JOIN"], "a.Code AS x, b.Code AS y"))
    assert info["kind"] == "cte" and info["row_count"] == 239 * 239, obs
    # 57121 x 57121 pairs to compare
    obs, _, _, _, info = timed_step(world_env, act(
        "perform_join", ["T_0 AS p", "T_0 AS q"], ["p.x < q.y"], ["INNER JOIN"], "COUNT(*) AS n"))
    assert info["kind"] == "error" and info["error"]["type"] == "timeout", obs
    assert tuple(world_env.unwrapped.episode.plan.ids) == ("T_0",)
    obs, _, _, _, info = timed_step(world_env, act("get_column_stats", "T_0", "T_0.x"))
    assert info["kind"] == "exploration" and "distinct: 239" in obs, obs


def test_expensive_function_per_row_is_stopped_too(world_env):
    # One call of randomblob(100 MB) takes most of a second inside a single VM instruction, where
    # a progress handler is never called; 20 rows of it must still end near the limit.
    obs, _, _, _, info = timed_step(world_env, act(
        "perform_filter", "city", "city.ID <= 20", "LENGTH(RANDOMBLOB(100000000)) AS n"))
    assert info["kind"] == "error", f"the query ran to completion:\n{obs[:300]}"
    obs, _, _, _, info = timed_step(world_env, act("preview_table", "country"))
    assert info["kind"] == "exploration"


# ---------------------------------------------------------------------- (d) gymnasium's checker
@pytest.mark.parametrize("which", ["spider", "builtin"])
def test_check_env_passes(spider_tasks, which):
    kwargs = {"tasks": spider_tasks} if which == "spider" else {}  # the built-in set is the default
    env = gymnasium.make("querygym/QueryGym-v0", **kwargs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the checker reports most problems as warnings
            check_env(env.unwrapped)
    finally:
        env.close()


def test_env_made_with_a_task_set_can_be_made_again_from_its_spec(spider_tasks):
    # gymnasium deep-copies the keyword arguments of a spec when it makes an env from it
    # (check_env does so to try every render mode)
    env = gymnasium.make("querygym/QueryGym-v0", tasks=spider_tasks)
    try:
        assert env.spec is not None and env.spec.kwargs["tasks"] is not None
        again = env.spec.make(render_mode="ansi")
        try:
            obs, info = again.reset(options={"task_id": 0})
            assert info["task_id"] == 0 and again.render() == obs
        finally:
            again.close()
    finally:
        env.close()
