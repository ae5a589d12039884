"""A stateful Hypothesis test of whole episodes on every engine.

A :class:`hypothesis.stateful.RuleBasedStateMachine` plays the real Spider database
``concert_singer`` through the environment, mixing valid-looking operations built from its real
schema (and from the columns of the tables already built), hostile text (injections, ``ATTACH``,
``load_extension``, expressions nested thousands deep or tens of thousands of characters long,
unknown tables), random text, resets, and resets with ``initial_sql`` (the user's SQL decomposed
into steps).  After every step it checks:

- no exception escapes ``reset`` or ``step``, and no warning is raised (warnings are errors in
  this suite, so a "querygym internal error" fails the test);
- the plan graph stays consistent: ids ``T_0..T_n`` contiguous, the graph's intermediate tables are
  exactly those ids, every edge's source exists, each node's inputs exist (earlier nodes or base
  tables) and are exactly its predecessors, and the newest node is the one ``info`` reported;
- every observation stays within ``max_observation_chars`` (set small here, so that the cap is hit);
- at the end, every Spider database file keeps its published SHA-256.

Bounded for CI: ``derandomize=True`` (the same examples every run, no example database) and
a few short runs per engine.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from contextlib import closing

import gymnasium
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, \
    run_state_machine_as_test

import querygym
from tests.support import INJECTIONS, SPIDER, SUMS, assert_databases_untouched

pytestmark = pytest.mark.skipif(not (SPIDER / "dev_bird_format_19db.json").is_file() or not SUMS.is_file(),
                                reason=f"Spider dev data not found under {SPIDER}")

DB_ID = "concert_singer"
OBSERVATION_CAP = 1_500
KINDS = {"exploration", "cte", "error"}
ERROR_TYPES = {"parse", "plan", "execution", "timeout"}
RUNS = settings(max_examples=10, stateful_step_count=15, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def _schema() -> tuple[dict[str, list[str]], list[tuple[str, str, str, str]]]:
    """Tables with their columns, and foreign keys (table, column, referenced table, column)."""
    path = SPIDER / "database" / DB_ID / f"{DB_ID}.sqlite"
    if not path.is_file():
        return {}, []
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        columns = {t: [r[1] for r in con.execute(f'PRAGMA table_info("{t}")')] for t in tables}
        keys = [(t, r[3], r[2], r[4]) for t in tables for r in con.execute(f'PRAGMA foreign_key_list("{t}")')]
    return columns, keys


SCHEMA, FOREIGN_KEYS = _schema()
TABLES = sorted(SCHEMA) or ["singer"]
QUALIFIED = [f"{t}.{c}" for t, cols in SCHEMA.items() for c in cols] or ["singer.Name"]

DEEP = ["(" * 3000 + "singer.Age" + ")" * 3000 + " > 0", "+".join(["1"] * 600) + " > 0",
        "NOT " * 2000 + "1 = 1", " OR ".join(["singer.Age > 1"] * 250)]
HUGE = ["singer.Name = '" + "x" * 60_000 + "'", "singer.Name IN (" + ", ".join(map(str, range(300))) + ")",
        "x" * 30_000]
HOSTILE_FRAGMENTS = [
    "ATTACH DATABASE '/tmp/querygym-state-machine.db' AS x", "load_extension('x') IS NULL",
    "load_extension('/tmp/x.so')", "readfile('/etc/passwd') IS NOT NULL", "1=1; DROP TABLE singer",
    "PRAGMA query_only=0", "pg_read_file('/etc/passwd') IS NOT NULL", "read_csv_auto('/etc/passwd') IS NULL",
    "nowhere", "nowhere.x = 1", "T_99", "T_99.x > 0", "main.singer", "sqlite_master", "information_schema.tables",
    "pg_catalog.pg_tables", "(SELECT * FROM nowhere)", *DEEP, *HUGE,
]
HOSTILE_SQL = [
    "ATTACH DATABASE '/tmp/querygym-state-machine.db' AS x", "SELECT load_extension('x')", "DROP TABLE singer",
    "SELECT 1; DROP TABLE singer", "SELECT * FROM nowhere", "", "   ", "SELECT", "PRAGMA writable_schema=ON",
    "SELECT Name FROM singer WHERE " + "(" * 2000 + "Age > 0" + ")" * 2000,
    "SELECT " + "+".join(["Age"] * 600) + " FROM singer", "SELECT * FROM singer WHERE Name = '" + "y" * 40_000 + "'",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r",
    "SELECT readfile('/etc/passwd')", "VACUUM INTO '/tmp/querygym-state-machine-copy.db'",
]


def _pick(values: list):
    """``sampled_from`` that draws an index: Hypothesis would otherwise repr the huge values."""
    def chosen(index: int):
        return values[index]

    return st.sampled_from(range(len(values))).map(chosen)


def _format(template: str) -> str:
    return template.replace("{tmp}", "/tmp/querygym-state-machine")


# ---------------------------------------------------------------------- strategies
table = st.sampled_from(TABLES)
table_column = table.flatmap(lambda t: st.sampled_from(SCHEMA.get(t) or ["x"]).map(lambda c: (t, f"{t}.{c}")))
comparison = st.tuples(table_column, st.sampled_from(["=", ">", "<", "<>", ">=", "LIKE"]),
                       st.sampled_from(["1", "30", "2014", "'France'", "'%a%'", "NULL", "2.5"]))
valid_operation = st.one_of(
    table.map(lambda t: ["get_columns", t]),
    table.map(lambda t: ["preview_table", t]),
    table_column.map(lambda tc: ["get_unique_values", tc[0], tc[1]]),
    table_column.map(lambda tc: ["get_column_stats", tc[0], tc[1]]),
    st.just(["get_tables"]),
    table.flatmap(lambda t: st.lists(st.sampled_from(SCHEMA.get(t) or ["x"]), min_size=1, max_size=3, unique=True)
                  .map(lambda cs: ["perform_projection", t, ", ".join(f"{t}.{c}" for c in cs)])),
    comparison.map(lambda c: ["perform_filter", c[0][0], f"{c[0][1]} {c[1]} {c[2]}"]),
    table_column.map(lambda tc: ["perform_aggregate", tc[0], tc[1], f"{tc[1]}, COUNT(*) AS n"]),
    table_column.map(lambda tc: ["perform_order_by", tc[0], f"{tc[1]} DESC"]),
    table.map(lambda t: ["perform_limit", t, "3"]),
    st.sampled_from(FOREIGN_KEYS or [("singer", "Singer_ID", "singer", "Singer_ID")]).map(
        lambda fk: ["perform_join", [f"{fk[0]} AS a", f"{fk[2]} AS b"], [f"a.{fk[1]} = b.{fk[3]}"], ["INNER JOIN"]]),
)
hostile_action = st.one_of(
    st.sampled_from(INJECTIONS).map(lambda a: [_format(p) if isinstance(p, str) else p for p in a]),
    st.tuples(st.sampled_from(["perform_filter", "perform_projection", "perform_order_by", "get_unique_values",
                               "perform_aggregate", "preview_table"]),
              _pick(TABLES + HOSTILE_FRAGMENTS[:16]), _pick(HOSTILE_FRAGMENTS))
    .map(lambda p: [p[0], p[1], p[2]] if p[0] != "preview_table" else [p[0], p[2]]),
)
as_text = st.sampled_from([lambda a: "Action: " + json.dumps(a), json.dumps, repr,
                           lambda a: f"Let me try. Action: {json.dumps(a)}"])
noise = st.one_of(st.text(max_size=80), _pick(["Action: " + "[" * 5000 + "]" * 5000, "Action: []", "{" * 3000]))


class EpisodeMachine(RuleBasedStateMachine):
    """Drives one environment (``env`` and ``task_ids`` are set by the test, per engine)."""

    env: gymnasium.Env = None
    task_ids: list = []
    gold: dict = {}
    seen: Counter = None  # what the runs reached, across examples, to check the test's own coverage

    def __init__(self):
        super().__init__()
        self.newest: str | None = None
        self.done = False

    # ------------------------------------------------------------------ helpers
    @property
    def plan(self):
        return self.env.unwrapped.episode.plan

    def _reset(self, task_id, sql: str | None) -> None:
        options = {"task_id": task_id} if sql is None else {"task_id": task_id, "initial_sql": sql}
        obs, info = self.env.reset(options=options)
        assert isinstance(obs, str) and len(obs) <= OBSERVATION_CAP
        assert info["kind"] == "overview"
        made = info.get("initial", {}).get("cte_ids", [])
        self.seen["reset with initial_sql" if sql is not None else "reset"] += 1
        self.seen["tables from initial_sql"] += len(made)
        assert list(self.plan.ids) == made, (self.plan.ids, info.get("initial"))
        self.newest = made[-1] if made else None
        self.done = False

    def _step(self, action) -> None:
        if self.done:  # an ended episode is reset, as an agent's loop does
            self._reset(self.task_ids[0], None)
        before = self.plan.ids
        obs, reward, terminated, truncated, info = self.env.step(action)
        assert isinstance(obs, str) and len(obs) <= OBSERVATION_CAP, len(obs)
        assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(truncated, bool)
        assert info["kind"] in KINDS, info["kind"]
        self.seen[info["kind"]] += 1
        if info["kind"] == "error":
            self.seen[f"error:{info['error']['type']}"] += 1
        if info["kind"] == "error":
            assert info["error"]["type"] in ERROR_TYPES, info["error"]
            assert self.plan.ids == before
        if info["kind"] == "cte":
            assert self.plan.ids == before + (info["cte_id"],)
            self.newest = info["cte_id"]
            if any(self.plan.get(i) is not None for i in self.plan.newest.inputs):
                self.seen["table built on a table"] += 1
        else:
            assert info["cte_id"] is None and self.plan.ids == before
        self.done = terminated or truncated

    # ------------------------------------------------------------------ rules
    @initialize(index=st.integers(0, 100), from_gold=st.booleans())
    def start(self, index, from_gold):
        task_id = self.task_ids[index % len(self.task_ids)]
        self._reset(task_id, self.gold[task_id] if from_gold else None)

    @rule(index=st.integers(0, 100), how=st.sampled_from(["gold", "hostile", "noise", "none"]), data=st.data())
    def reset(self, index, how, data):
        task_id = self.task_ids[index % len(self.task_ids)]
        sql = {"gold": lambda: self.gold[task_id], "none": lambda: None,
               "hostile": lambda: data.draw(_pick(HOSTILE_SQL)),
               "noise": lambda: data.draw(st.text(max_size=60))}[how]()
        self._reset(task_id, sql)

    @rule(actions=st.lists(st.tuples(valid_operation, as_text), min_size=1, max_size=3))
    def valid(self, actions):  # a few at a time, so that episodes get past their first tables
        for action, form in actions:
            self._step(form(action))

    @precondition(lambda self: self.newest is not None)
    @rule(data=st.data(), steps=st.integers(1, 2))
    def build_on_newest(self, data, steps):
        for _ in range(steps):
            if not self.done:
                self._build_on(self.plan.newest, data)

    def _build_on(self, node, data):
        column = f"{node.id}.{data.draw(st.sampled_from(node.column_names))}"
        action = data.draw(st.sampled_from([
            ["perform_filter", node.id, f"{column} IS NOT NULL"],
            ["perform_order_by", node.id, f"{column} ASC"],
            ["perform_limit", node.id, "2"],
            ["perform_projection", node.id, column],
            ["perform_aggregate", node.id, column, f"{column}, COUNT(*)"],
            ["perform_union", "ALL", node.id, node.id],
            ["perform_intersect", node.id, node.id],
            ["preview_table", node.id],
        ]))
        self._step(json.dumps(action))

    @rule(action=hostile_action, form=as_text)
    def hostile(self, action, form):
        self._step(form(action))

    @rule(text=noise)
    def random_text(self, text):
        self._step(text)

    # ------------------------------------------------------------------ invariants
    @invariant()
    def plan_graph_is_consistent(self):
        if self.env.unwrapped.episode is None:
            return
        plan = self.plan
        ids = plan.ids
        assert ids == tuple(f"T_{i}" for i in range(len(ids)))
        graph = plan.graph
        assert {n for n, kind in graph.nodes(data="kind") if kind == "cte"} == set(ids)
        assert all(kind in {"cte", "table"} for _, kind in graph.nodes(data="kind"))
        for source, target in graph.edges:
            assert source in graph.nodes and target in ids
        for node in plan:
            expected = set()
            for name in node.inputs:
                earlier = plan.get(name)
                if earlier is not None:
                    assert earlier.index < node.index, (node.id, name)
                    expected.add(earlier.id)
                else:
                    assert graph.nodes[f"table:{name}"]["kind"] == "table"
                    expected.add(f"table:{name}")
            assert set(graph.predecessors(node.id)) == expected
        assert (plan.newest.id if plan.newest else None) == self.newest


@pytest.fixture(scope="module")
def concert_tasks() -> querygym.TaskSet:
    tasks = querygym.load_bird(SPIDER / "dev_bird_format_19db.json", SPIDER / "database",
                               tables=SPIDER / "tables_19db.json")
    return tasks.select([t.id for t in tasks if t.db_id == DB_ID][:6])


def test_random_and_hostile_episodes_keep_the_plan_consistent(engine, concert_tasks):
    env = gymnasium.make("querygym/QueryGym-v0", tasks=concert_tasks, dialect=engine, timeout_s=2.0,
                         max_steps=12, display_rows=40, max_observation_chars=OBSERVATION_CAP)
    machine = type(f"EpisodeMachine_{engine}", (EpisodeMachine,),
                   {"env": env, "task_ids": list(concert_tasks.ids),
                    "gold": {t.id: t.gold_sql for t in concert_tasks}, "seen": Counter()})
    try:
        run_state_machine_as_test(machine, settings=RUNS)
    finally:
        env.close()
    assert_databases_untouched()
    # the runs did reach what they are meant to exercise
    seen = machine.seen
    missing = [k for k in ("cte", "exploration", "error:parse", "error:plan", "table built on a table",
                           "reset with initial_sql", "tables from initial_sql") if not seen[k]]
    assert not missing, (missing, sorted(seen.items()))


def test_observations_are_cut_at_their_cap(concert_tasks):
    env = gymnasium.make("querygym/QueryGym-v0", tasks=concert_tasks, display_rows=500, max_observation_chars=300)
    try:
        obs, info = env.reset(options={"task_id": concert_tasks.ids[0]})
        assert len(obs) == 300 and obs.endswith("[observation truncated]")
        obs, *_ = env.step('["perform_join", ["singer AS a", "singer AS b"], ["a.Age >= b.Age"], ["INNER JOIN"]]')
        assert len(obs) == 300 and obs.endswith("[observation truncated]")
    finally:
        env.close()
