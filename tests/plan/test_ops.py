"""Relational-algebra operations on the built-in database, checked against SQLite run directly."""

import json
from collections import Counter
from pathlib import Path

import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st

import querygym
from tests.support import builtin_rows
from querygym.env.environment import QueryGymEnv
from querygym.plan import ops
from querygym.plan.ops import forget_positions, parse_guarded

DB = querygym.builtin_database()
GOLDEN = Path(__file__).parents[1] / "golden"


direct = builtin_rows


@pytest.fixture
def env():
    e = QueryGymEnv()
    e.reset(options={"task_id": querygym.builtin_tasks().ids[0]})
    yield e
    e.close()


def step(env, action):
    obs, reward, terminated, truncated, info = env.step(action)
    return obs, info


def rows(env, node_id):
    ep = env.episode
    return ep.backend.execute(ep.dialect.compile(ep.plan, ep.plan.node(node_id))).rows


def bag(rows_):
    return Counter(map(tuple, rows_))


def test_filter_with_projection_matches_sqlite(env):
    obs, info = step(env, '["perform_filter", "customers AS c", "c.segment = \'SMB\' AND c.is_internal = 0", '
                          '"c.name, c.signup_date"]')
    assert info["kind"] == "cte" and info["cte_id"] == "T_0"
    assert bag(rows(env, "T_0")) == bag(direct(
        "SELECT name, signup_date FROM customers WHERE segment = 'SMB' AND is_internal = 0"))
    assert "Columns: name (TEXT), signup_date (TEXT)" in obs


def test_three_way_join_with_left_join(env):
    obs, info = step(env, '["perform_join", ["customers AS c", "orders AS o", "regions AS r"], '
                          '["c.customer_id = o.customer_id", "r.region_id = c.region_id"], '
                          '["LEFT JOIN", "INNER JOIN"], "c.name, o.order_id, r.region_code"]')
    assert info["kind"] == "cte", obs
    assert bag(rows(env, "T_0")) == bag(direct(
        "SELECT c.name, o.order_id, r.region_code FROM customers c LEFT JOIN orders o ON c.customer_id = "
        "o.customer_id JOIN regions r ON r.region_id = c.region_id"))


def test_join_needs_n_minus_one_conditions_and_types(env):
    obs, info = step(env, '["perform_join", ["customers", "orders", "regions"], '
                          '["customers.customer_id = orders.customer_id"], ["INNER JOIN"]]')
    assert info["kind"] == "error"
    assert "3 tables needs 2 join condition(s) and 2 join type(s)" in obs


def test_join_output_names_are_unique_and_prefixed(env):
    obs, info = step(env, '["perform_join", ["customers AS c", "orders AS o"], ["c.customer_id = o.customer_id"], '
                          '["INNER JOIN"]]')
    names = env.episode.plan.node("T_0").column_names
    assert len({n.lower() for n in names}) == len(names)
    assert "o_customer_id" in names and "customer_id" in names


def test_self_join_needs_aliases_and_works_with_them(env):
    obs, info = step(env, '["perform_join", ["employees", "employees"], ["employees.manager_id = '
                          'employees.employee_id"], ["INNER JOIN"]]')
    assert info["kind"] == "error" and "own alias" in obs
    obs, info = step(env, '["perform_join", ["employees AS e", "employees as m"], ["e.manager_id = m.employee_id"], '
                          '["INNER JOIN"], "e.first_name, m.first_name AS manager"]')
    assert info["kind"] == "cte", obs
    assert bag(rows(env, "T_0")) == bag(direct(
        "SELECT e.first_name, m.first_name FROM employees e JOIN employees m ON e.manager_id = m.employee_id"))


def test_aggregate_with_group_by_and_having(env):
    obs, info = step(env, '["perform_aggregate", "orders", "orders.channel, orders.status", '
                          '"orders.channel, orders.status, COUNT(*) AS n", "COUNT(*) > 50"]')
    assert info["kind"] == "cte", obs
    assert bag(rows(env, "T_0")) == bag(direct(
        "SELECT channel, status, COUNT(*) FROM orders GROUP BY channel, status HAVING COUNT(*) > 50"))


def test_global_aggregate_with_empty_group_by(env):
    obs, info = step(env, '["perform_aggregate", "order_items", "", "SUM(quantity * unit_price) AS revenue"]')
    assert rows(env, "T_0") == direct("SELECT SUM(quantity * unit_price) FROM order_items")


def test_union_all_keeps_duplicates_and_distinct_removes_them(env):
    step(env, '["perform_projection", "customers", "region_id"]')
    step(env, '["perform_projection", "employees", "region_id"]')
    step(env, '["perform_union", "ALL", "T_0", "T_1"]')
    step(env, '["perform_union", "DISTINCT", "T_0", "T_1"]')
    assert len(rows(env, "T_2")) == len(direct("SELECT region_id FROM customers")) + len(
        direct("SELECT region_id FROM employees"))
    assert bag(rows(env, "T_3")) == bag(direct("SELECT region_id FROM customers UNION SELECT region_id FROM employees"))
    obs, info = step(env, '["perform_union", "SOME", "T_0", "T_1"]')
    assert info["kind"] == "error" and "ALL or DISTINCT" in obs


def test_union_and_intersect_with_column_lists(env):
    obs, info = step(env, '["perform_intersect", "customers", "employees", "customers.region_id", '
                          '"employees.region_id"]')
    assert bag(rows(env, "T_0")) == bag(direct(
        "SELECT region_id FROM customers INTERSECT SELECT region_id FROM employees"))
    obs, info = step(env, '["perform_union", "ALL", "customers", "employees", "customers.region_id, customers.name", '
                          '"employees.region_id"]')
    assert info["kind"] == "error" and "same number of columns" in obs


def test_order_by_then_limit_is_the_top_k(env):
    step(env, '["perform_order_by", "products", "list_price DESC, product_id", "product_name"]')
    step(env, '["perform_limit", "T_0", "3"]')
    assert rows(env, "T_1") == direct("SELECT product_name FROM products ORDER BY list_price DESC, product_id LIMIT 3")
    assert env.episode.plan.node("T_1").ordered
    step(env, '["perform_limit", "T_0", "2 OFFSET 1"]')
    assert rows(env, "T_2") == direct(
        "SELECT product_name FROM products ORDER BY list_price DESC, product_id LIMIT 2 OFFSET 1")


def test_filter_and_limit_keep_the_inputs_order(env):
    step(env, '["perform_order_by", "products", "products.list_price", "product_name, list_price"]')
    step(env, '["perform_filter", "T_0", "T_0.list_price > 100"]')
    step(env, '["perform_limit", "T_1", "4", "T_1.product_name"]')
    assert rows(env, "T_2") == direct(
        "SELECT product_name FROM products WHERE list_price > 100 ORDER BY list_price LIMIT 4")


def test_nested_conditions_resolve_in_their_own_scope(env):
    obs, info = step(env, '["perform_filter", "products", "list_price > (SELECT AVG(list_price) FROM products)", '
                          '"product_name"]')
    assert bag(rows(env, "T_0")) == bag(direct(
        "SELECT product_name FROM products WHERE list_price > (SELECT AVG(list_price) FROM products)"))
    obs, info = step(env, '["perform_filter", "customers AS c", "NOT EXISTS (SELECT 1 FROM orders o WHERE '
                          'o.customer_id = c.customer_id)", "c.customer_id"]')
    assert info["kind"] == "cte", obs
    assert bag(rows(env, "T_1")) == bag(direct(
        "SELECT customer_id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE "
        "o.customer_id = c.customer_id)"))
    obs, info = step(env, '["perform_filter", "customers", "customer_id IN (SELECT customer_id FROM T_1)"]')
    assert info["kind"] == "cte", obs
    assert "T_1" in env.episode.plan.node("T_2").inputs


@pytest.mark.parametrize("action, fragments", [
    ('["perform_filter", "customers", "customers.segmnt = 1"]', ["'segmnt'", "Did you mean 'segment'",
                                                                 "Existing columns: customer_id"]),
    ('["perform_filter", "custmers", "1 = 1"]', ["Unknown table 'custmers'", "Did you mean 'customers'"]),
    ('["perform_join", ["customers", "orders"], ["customer_id = customer_id"], ["INNER JOIN"]]',
     ["ambiguous", "customers.customer_id, orders.customer_id"]),
    ('["perform_filter", "T_9", "1 = 1"]', ["Unknown intermediate table 'T_9'"]),
    ('["perform_filter", "customers AS c", "customers.name = \'x\'"]', ["aliased as c", "c.name"]),
    ('["perform_filter", "customers", "COUNT(*) > 1"]', ["perform_aggregate"]),
    ('["perform_limit", "customers", "ten"]', ["whole number"]),
    ('["perform_join", ["customers", "orders"], [""], ["INNER JOIN"]]', ["needs a condition", "CROSS JOIN"]),
    ('["perform_join", ["customers", "orders"], ["1=1"], ["SIDEWAYS JOIN"]]', ["Unknown join type"]),
    ('["perform_filter", "customers", "1=1) UNION SELECT * FROM employees --"]', ["condition"]),
])
def test_agent_mistakes_are_error_observations_that_name_what_exists(env, action, fragments):
    before = env.episode.plan.ids
    obs, info = step(env, action)
    assert info["kind"] == "error"
    for fragment in fragments:
        assert fragment in obs
    assert env.episode.plan.ids == before
    assert len(env.episode.plan.graph) == 0


def test_failed_operation_leaves_the_plan_unchanged(env):
    step(env, '["perform_projection", "regions", "region_code"]')
    graph_before = (set(env.episode.plan.graph.nodes), set(env.episode.plan.graph.edges))
    obs, info = step(env, '["perform_filter", "T_0", "T_0.nope = 1"]')
    assert info["kind"] == "error"
    assert (set(env.episode.plan.graph.nodes), set(env.episode.plan.graph.edges)) == graph_before
    obs, info = step(env, '["perform_filter", "T_0", "T_0.region_code LIKE \'EU%\'"]')
    assert info["cte_id"] == "T_1"


def test_plan_graph_nodes_keep_operation_parameters_ast_and_schema(env):
    step(env, '["perform_join", ["customers AS c", "regions AS r"], ["c.region_id = r.region_id"], ["INNER JOIN"], '
              '"c.name, r.region_name"]')
    step(env, '["perform_filter", "T_0", "T_0.region_name LIKE \'%Europe%\'"]')
    plan = env.episode.plan
    assert set(plan.graph.predecessors("T_0")) == {"table:customers", "table:regions"}
    assert set(plan.graph.predecessors("T_1")) == {"T_0"}
    node = plan.node("T_1")
    assert node.operation == "perform_filter"
    assert node.params == ("T_0", "T_0.region_name LIKE '%Europe%'")
    assert node.column_names == ("name", "region_name")
    assert isinstance(node.expression, sqlglot.exp.Select)


def test_double_quoted_value_is_a_string_as_in_sqlite(env):
    obs, info = step(env, '["perform_filter", "regions", "country = \\"Sweden\\""]')
    assert rows(env, "T_0") == direct("SELECT * FROM regions WHERE country = 'Sweden'")


def test_unaliased_expression_is_named_by_its_sql_and_can_be_referenced(env):
    step(env, '["perform_aggregate", "orders", "channel", "channel, COUNT(*)"]')
    assert env.episode.plan.node("T_0").column_names == ("channel", "COUNT(*)")
    obs, info = step(env, '["perform_filter", "T_0", "T_0.\\"COUNT(*)\\" > 100"]')
    assert info["kind"] == "cte", obs


def test_compiled_sql_parses_back_and_matches_the_golden_file(env):
    step(env, '["perform_join", ["customers AS c", "orders AS o"], ["c.customer_id = o.customer_id"], '
              '["INNER JOIN"], "c.name, o.order_date"]')
    step(env, '["perform_aggregate", "T_0", "T_0.name", "T_0.name, COUNT(*) AS orders", "COUNT(*) >= 10"]')
    step(env, '["perform_order_by", "T_1", "orders DESC, name"]')
    step(env, '["perform_limit", "T_2", "5"]')
    ep = env.episode
    sql = ep.dialect.compile(ep.plan, ep.plan.node("T_3"), pretty=True)
    assert sqlglot.parse_one(sql, read="sqlite").sql(dialect="sqlite") == sqlglot.parse_one(
        sqlglot.parse_one(sql, read="sqlite").sql(dialect="sqlite"), read="sqlite").sql(dialect="sqlite")
    golden = GOLDEN / "top_customers.sqlite.sql"
    assert sql.strip() == golden.read_text().strip()
    assert direct(sql) == direct(
        "SELECT c.name, COUNT(*) AS orders FROM customers c JOIN orders o ON c.customer_id = o.customer_id "
        "GROUP BY c.name HAVING COUNT(*) >= 10 ORDER BY orders DESC, c.name LIMIT 5")


@settings(max_examples=40, deadline=None)
@given(threshold=st.integers(0, 3000), category=st.sampled_from(["Hardware", "Software", "Services", "Training", "x"]),
       columns=st.lists(st.sampled_from(["product_name", "list_price", "category", "sku"]), min_size=1, max_size=4,
                        unique=True),
       descending=st.booleans(), k=st.integers(1, 10))
def test_random_filter_order_limit_plans_equal_direct_sql(threshold, category, columns, descending, k):
    env = QueryGymEnv()
    try:
        env.reset(options={"task_id": querygym.builtin_tasks().ids[0]})
        cols = ", ".join(columns)
        direction = "DESC" if descending else "ASC"
        step(env, f'["perform_filter", "products", "list_price >= {threshold} OR category = \'{category}\'"]')
        step(env, f'["perform_order_by", "T_0", "list_price {direction}, product_id", "{cols}"]')
        step(env, f'["perform_limit", "T_1", "{k}"]')
        assert rows(env, "T_2") == direct(
            f"SELECT {cols} FROM products WHERE list_price >= {threshold} OR category = '{category}' "
            f"ORDER BY list_price {direction}, product_id LIMIT {k}")
    finally:
        env.close()


def test_parsed_fragments_forget_source_positions_and_keep_other_metadata():
    (tree,) = parse_guarded("SELECT a.x, COUNT(*) FROM t AS a WHERE a.y > 1", "sqlite", "SQL", "")
    assert all(not node._meta for node in tree.walk())  # positions are gone from every node
    marked = sqlglot.parse_one("SELECT a /* sqlglot.meta case_sensitive */ FROM t")
    forget_positions(marked)
    column = marked.find(sqlglot.exp.Column)
    assert column.meta == {"case_sensitive": True}
    assert tree.copy().sql() == tree.sql() == "SELECT a.x, COUNT(*) FROM t AS a WHERE a.y > 1"


def test_a_fragment_parsed_again_is_shared_and_never_changed_by_the_steps_that_use_it(env):
    condition = "regions.region_id < 3 AND regions.country IN (SELECT country FROM regions)"
    columns = "region_name, COUNT(*) AS n, UPPER(country)"
    dialect = env.episode.dialect

    def parsed():
        return [ops._parse(f"SELECT 1 FROM {ops.PLACEHOLDER} WHERE {condition}\n", dialect, "condition", condition),
                ops._parse(f"SELECT {columns}\nFROM {ops.PLACEHOLDER}", dialect, "column list", columns)]

    before = parsed()
    texts = [tree.sql() for tree in before]
    for _ in range(2):
        for action in (["perform_filter", "regions", condition, "region_name, country"],
                       ["perform_aggregate", "regions", "region_name, country", columns]):
            assert env.step(action)[4]["kind"] == "cte"
    after = parsed()
    assert all(a is b for a, b in zip(after, before))  # the same trees, read again
    assert [tree.sql() for tree in after] == texts  # and no step changed them


@given(count=st.integers(min_value=0, max_value=10**30), offset=st.integers(min_value=0, max_value=10**12))
def test_a_limit_set_in_place_is_the_tree_sqlglots_builder_parses(count, offset):
    built = sqlglot.exp.select("x").from_("t").limit(count)
    if offset:
        built = built.offset(offset)
    made = ops.with_limit(sqlglot.exp.select("x").from_("t"), count, offset)
    assert made == built and repr(made) == repr(built)
    assert made.sql() == built.sql()


def test_a_star_takes_each_columns_type_from_its_source(env):
    env.step(json.dumps(["perform_join", ["orders AS o", "customers AS c"], ["o.customer_id = c.customer_id"],
                         ["INNER JOIN"]]))
    joined = env.episode.plan.newest
    env.step(json.dumps(["perform_filter", joined.id, f"{joined.id}.order_id > 3"]))  # no column list: all
    filtered = env.episode.plan.newest
    schema = env.episode.schema
    expected = [c.type for c in schema.table("orders").columns] + [c.type for c in schema.table("customers").columns]
    assert [c.type for c in joined.schema] == expected and all(expected)
    assert [(c.name, c.type) for c in filtered.schema] == [(c.name, c.type) for c in joined.schema]



_READ_TEXTS = ["SELECT a + 1 FROM t WHERE b > 2", "SELECT 'it''s', \"q\".\"c\" FROM qg AS q ORDER BY 1 DESC",
               "SELECT (1", "SELECT 'unterminated", "SELECT " + "NOT " * 5000 + "x FROM t",
               "SELECT " + "(" * 500 + "1" + ")" * 500, "SELECT count(*) FROM x GROUP BY y HAVING count(*) > 1"]


def _read_as(text: str, parse) -> object:
    """The statements ``parse`` reads from ``text`` (their SQL), or the kind of error it raised."""
    from sqlglot.errors import ParseError, TokenError

    from querygym.errors import PlanError

    try:
        return [s.sql() for s in parse(text)]
    except (ParseError, TokenError) as exc:
        return type(exc).__name__
    except (PlanError, RecursionError):
        return "too deep"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(_READ_TEXTS), min_size=1, max_size=8))
def test_the_reused_tokenizer_and_parser_read_each_text_as_fresh_ones_do(texts):
    # the thread's tokenizer and parser serve one fragment after another: whatever the last text
    # raised (a parse error, a token error, a nesting error), the next reads as with new ones
    from querygym.util import sqlglot_dialect

    dialect = sqlglot_dialect("sqlite")
    for text in texts:
        guarded = _read_as(text, lambda t: parse_guarded(t, "sqlite", "SQL", t))
        if guarded != "too deep":  # (the guard stops some nesting that sqlglot itself would read)
            assert guarded == _read_as(text, lambda t: dialect.parser().parse(dialect.tokenize(t), t))




def test_only_repeated_fragments_are_kept():
    # a text read twice in a row is parsed once; one read once and then pushed out of the recent
    # results leaves only its hash behind and is parsed again, and kept, when it comes back
    calls = []
    repeated = ops._Repeated(lambda text: calls.append(text) or [text], maxsize=2, recent=2, remembered=3)
    first, second = repeated("a"), repeated("a")
    assert calls == ["a"] and first is second and repeated("a") is first
    repeated("b"), repeated("c"), repeated("d")  # "b" is pushed out of the recent ones
    assert calls == ["a", "b", "c", "d"]
    again = repeated("b")
    assert calls[-1] == "b" and len(calls) == 5 and repeated("b") is again  # parsed again, then kept
    for text in "efghijklmn":  # at most three hashes are remembered at a time
        repeated(text)
        assert len(repeated._seen) <= 3
    repeated.cache_clear()
    calls.clear()
    repeated("a")
    assert calls == ["a"]
