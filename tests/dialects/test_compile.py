"""Incremental compilation: each node's CTE rendered once per plan, the text unchanged."""

import json

import pytest

import querygym
from sqlglot import exp
from querygym.dialects import get
from querygym.env.environment import QueryGymEnv

STEPS = [
    ["perform_filter", "products", "products.list_price > '100'", "products.product_id, products.category, products.list_price"],
    ["perform_aggregate", "T_0", "T_0.category", "T_0.category, SUM(T_0.list_price) AS total, T_0.product_id"],
    ["perform_order_by", "T_1", "T_1.total DESC"],
    ["perform_filter", "T_0", "T_0.list_price LIKE '1%' AND (T_0.list_price > 5) = 1"],
    ["perform_limit", "T_2", "2"],
    # reads the last table and one of another branch: the last step's statement is not all it needs
    ["perform_join", ["T_3", "T_1"], ["T_3.category = T_1.category"], ["INNER JOIN"]],
    ["perform_filter", "T_5", "T_5.total > 0 OR T_5.total IS NULL"],  # reads the last table only: its statement extended
]


@pytest.fixture(scope="module")
def played():
    tasks = querygym.builtin_tasks()
    env = QueryGymEnv(tasks)
    env.reset(options={"task_id": tasks.tasks[0].id})
    for step in STEPS:
        assert env.step(json.dumps(step))[4]["kind"] == "cte"
    yield env
    env.close()


@pytest.mark.parametrize("name", ["sqlite", "postgres", "duckdb"])
@pytest.mark.parametrize("pretty", [False, True])
def test_assembled_text_is_the_whole_statement_rendered(played, name, pretty):
    dialect = get(name)()
    dialect.remember(played.episode.schema)
    plan = played.episode.plan
    for node in plan:
        whole = dialect.render(dialect.compile_node(plan, node), pretty=pretty)
        assert dialect.compile(plan, node, pretty=pretty) == whole
        assert dialect.compile(plan, node, pretty=pretty) == whole  # from the cache


def test_each_node_is_rendered_once_and_a_new_episode_starts_afresh(played):
    episode = played.episode
    plan, dialect = episode.plan, episode.dialect
    rendered = dict(plan.rendered)
    assert {key[1] for key in rendered} >= set(plan.ids)
    calls = []
    original = dialect.prepare
    dialect.prepare = lambda expression: calls.append(expression) or original(expression)
    try:
        dialect.compile(plan, plan.newest, pretty=True)
    finally:
        del dialect.prepare
    assert calls == []  # every CTE came from the plan's cache
    played.reset(options={"task_id": episode.task.id})
    assert played.episode.plan.rendered == {}
    _, _, _, _, info = played.step(json.dumps(["perform_filter", "regions", "regions.country = 'x'"]))
    assert '"regions"' in info["sql"] and "products" not in info["sql"]


def test_a_node_that_failed_to_be_added_is_not_served_from_the_cache(played):
    plan = played.episode.plan
    dialect = played.episode.dialect
    import sqlglot

    ghost_a = plan.new_node("perform_projection", ("regions",), ("regions",),
                            sqlglot.parse_one("SELECT 1 AS a FROM regions"), ())
    ghost_b = plan.new_node("perform_projection", ("regions",), ("regions",),
                            sqlglot.parse_one("SELECT 2 AS b FROM regions"), ())
    assert ghost_a.id == ghost_b.id
    assert "1 AS" in dialect.compile(plan, ghost_a) and "2 AS" in dialect.compile(plan, ghost_b)


@pytest.mark.parametrize("name", ["postgres", "duckdb"])
def test_a_plan_deeper_than_the_type_search_compiles_as_the_whole_statement(name):
    # 60 filters, each comparing a text column (followed back through every earlier table for its
    # type) with a number, which SQLite compares as text: the memoised type search gives what the whole statement's search gives, also
    # past the depth (50) where that search stops.
    tasks = querygym.builtin_tasks()
    env = QueryGymEnv(tasks, max_steps=80, result_cache="never")
    try:
        env.reset(options={"task_id": tasks.tasks[0].id})
        env.step(json.dumps(["perform_projection", "products", "products.product_id, products.product_name"]))
        for k in range(1, 61):
            source = f"T_{k - 1}"
            info = env.step(json.dumps(["perform_filter", source, f"{source}.product_name > {-k}",
                                        f"{source}.product_id, {source}.product_name"]))[4]
            assert info["kind"] == "cte", info
        plan = env.episode.plan
        dialect = get(name)()
        dialect.remember(env.episode.schema)
        for node in plan:  # in order, as the steps compile them
            dialect.compile(plan, node)
        fresh = get(name)()
        fresh.remember(env.episode.schema)
        for node in list(plan)[::7] + [plan.newest]:
            assert dialect.compile(plan, node) == fresh.render(fresh.compile_node(plan, node)), node.id
    finally:
        env.close()


def _questions(node_id: str):
    """Queries an exploration asks of a table: its rows, a count under an alias, a column's values."""
    table = exp.Table(this=exp.to_identifier(node_id, quoted=True))
    aliased = exp.Table(this=exp.to_identifier(node_id, quoted=True), alias=exp.TableAlias(this=exp.to_identifier("x")))
    return [exp.select(exp.Star()).from_(table.copy()).limit(5),
            exp.select(exp.Count(this=exp.Star())).from_(aliased),
            exp.select(exp.Column(this=exp.Star())).from_(table.copy()).where("1 = 1").order_by("1")]


@pytest.mark.parametrize("name", ["sqlite", "postgres", "duckdb"])
def test_a_question_about_a_table_compiles_as_the_whole_statement(played, name):
    dialect = get(name)()
    dialect.remember(played.episode.schema)
    plan = played.episode.plan
    for node in plan:
        for query in _questions(node.id):
            assert dialect.compile_reading(plan, query) == dialect.render(dialect.compile_query(plan, query))
    # a question about a base table alone has no WITH clause
    base = exp.select(exp.Star()).from_("products")
    assert dialect.compile_reading(plan, base) == dialect.render(base)


def test_a_question_about_a_kept_table_reads_that_table_and_nothing_under_it():
    tasks = querygym.builtin_tasks()
    env = QueryGymEnv(tasks)
    try:
        env.reset(options={"task_id": tasks.tasks[0].id})
        for step in STEPS:
            env.step(json.dumps(step))
        plan = env.episode.plan
    finally:
        env.close()
    dialect = get("sqlite")()
    last = plan.get("T_6")  # the filter of T_5 (STEPS)
    kept = {"T_5": 'SELECT * FROM "qg_kept_5"'}
    text = dialect.compile_reading(plan, _questions(last.id)[0], cached=kept)
    assert '"T_5" AS (SELECT * FROM "qg_kept_5")' in text
    # T_5 joins T_3 and T_1: behind the kept table, none of its lineage is computed
    assert not any(f'"{n}" AS (' in text for n in ("T_0", "T_1", "T_2", "T_3"))
    assert text.endswith(dialect.render(_questions(last.id)[0]))


# constructs sqlglot's SQLite generator rewrites in place as it writes them (QUALIFY, DISTINCT ON),
# next to plain steps and a RIGHT JOIN (which SQLite's prepare rewrites on a copy)
REWRITTEN_STEPS = [
    ["perform_filter", "orders", "orders.customer_id IN (SELECT c.customer_id FROM customers AS c "
                                 "QUALIFY ROW_NUMBER() OVER (ORDER BY c.customer_id) < 5)"],
    ["perform_filter", "orders", "orders.customer_id IN (SELECT DISTINCT ON (c.region_id) c.customer_id "
                                 "FROM customers AS c)"],
    ["perform_join", ["T_0", "T_1"], ["T_0.order_id = T_1.order_id"], ["RIGHT JOIN"]],
    ["perform_order_by", "T_2", "T_2.order_id DESC"],
    ["perform_projection", "T_3", "T_3.order_id"],
]


def _parents_hold(tree: exp.Expression) -> bool:
    return all(child.parent is node for node in tree.walk() for child in node.iter_expressions())


@pytest.mark.parametrize("name", ["sqlite", "postgres", "duckdb"])
def test_writing_a_node_leaves_its_tree_as_it_was(name):
    # nodes are written without a copy where the engine's generator changes nothing in them
    tasks = querygym.builtin_tasks()
    env = QueryGymEnv(tasks)
    try:
        env.reset(options={"task_id": tasks.tasks[0].id})
        for step in REWRITTEN_STEPS:
            assert env.step(json.dumps(step))[4]["kind"] == "cte", step
        plan = env.episode.plan
        before = {node.id: node.expression.copy() for node in plan}
        for pretty in (False, True):
            dialect = get(name)()
            dialect.remember(env.episode.schema)
            for node in plan:
                whole = dialect.render(dialect.compile_node(plan, node).copy(), pretty=pretty)
                assert dialect.compile(plan, node, pretty=pretty) == whole
                assert dialect.compile_reading(plan, exp.select("*").from_(exp.to_identifier(node.id, quoted=True)))
                assert node.expression == before[node.id] and node.expression.parent is None
                assert _parents_hold(node.expression)
        if name != "duckdb":  # (DuckDB has QUALIFY of its own)
            assert "QUALIFY" not in dialect.compile(plan, plan.get("T_0")).upper()  # rewritten, on a copy
    finally:
        env.close()


def test_a_tree_is_copied_before_it_is_written_when_the_generators_rewrites_are_not_known(monkeypatch):
    # a sqlglot whose SQLite generator rewrites a SELECT in ways querygym does not know of
    import querygym.dialects.sqlite as sqlite_dialect

    dialect = get("sqlite")()
    plain = exp.select("a").from_("t")
    assert dialect.prepare(plain) is plain
    monkeypatch.setattr(sqlite_dialect, "_GENERATOR_KNOWN", False)
    prepared = dialect.prepare(plain)
    assert prepared is not plain and prepared == plain
