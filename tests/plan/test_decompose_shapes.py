"""SQL shapes from outside Spider: GeoQuery, ATIS, Restaurants and Scholar write comma joins over
upper-case aliases (``STATEalias0``), nested ``IN`` subqueries and ``NOT IN``.  Each query here is
decomposed, replayed in the environment on a real SQLite file, and its final table compared with
the query's own result read through a plain sqlite3 connection."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

import querygym
from querygym.env.environment import QueryGymEnv
from querygym.plan.decompose import decompose
from tests.support import SPIDER

BUILTIN = Path(querygym.builtin_database())

#: (database, SQL): ``builtin`` is the built-in enterprise database, the others Spider dev databases
SHAPES = [
    # GeoQuery: a comma join with the linking equality after a constant condition
    ("builtin", "SELECT CUSTOMERSalias0.name FROM customers AS CUSTOMERSalias0, regions AS REGIONSalias0 "
                "WHERE REGIONSalias0.country = 'Spain' AND CUSTOMERSalias0.region_id = REGIONSalias0.region_id"),
    # ATIS: four tables listed alphabetically, so the written order joins unlinked tables first
    ("builtin", "SELECT DISTINCT PRODUCTSalias0.product_name FROM customers AS CUSTOMERSalias0, "
                "order_items AS ORDER_ITEMSalias0, orders AS ORDERSalias0, products AS PRODUCTSalias0 "
                "WHERE CUSTOMERSalias0.segment = 'SMB' AND ORDERSalias0.customer_id = CUSTOMERSalias0.customer_id "
                "AND ORDER_ITEMSalias0.order_id = ORDERSalias0.order_id "
                "AND PRODUCTSalias0.product_id = ORDER_ITEMSalias0.product_id"),
    # GeoQuery: nested IN subqueries, each a comma join
    ("builtin", "SELECT REGIONSalias0.region_name FROM regions AS REGIONSalias0 WHERE REGIONSalias0.region_id IN "
                "(SELECT CUSTOMERSalias0.region_id FROM customers AS CUSTOMERSalias0, orders AS ORDERSalias0 "
                "WHERE ORDERSalias0.customer_id = CUSTOMERSalias0.customer_id AND ORDERSalias0.order_id IN "
                "(SELECT PAYMENTSalias0.order_id FROM payments AS PAYMENTSalias0, orders AS ORDERSalias1 "
                "WHERE ORDERSalias1.order_id = PAYMENTSalias0.order_id AND PAYMENTSalias0.method = 'wire'))"),
    # NOT IN over a comma join
    ("builtin", "SELECT EMPLOYEESalias0.first_name, EMPLOYEESalias0.last_name FROM employees AS EMPLOYEESalias0 "
                "WHERE EMPLOYEESalias0.employee_id NOT IN (SELECT ORDERSalias0.employee_id FROM orders AS "
                "ORDERSalias0, customers AS CUSTOMERSalias0 WHERE CUSTOMERSalias0.customer_id = "
                "ORDERSalias0.customer_id AND CUSTOMERSalias0.segment = 'SMB' AND ORDERSalias0.employee_id "
                "IS NOT NULL)"),
    # GeoQuery's "> ALL" as SQLite can run it: greater than every value of a comma join
    ("builtin", "SELECT PRODUCTSalias0.product_name FROM products AS PRODUCTSalias0 WHERE "
                "PRODUCTSalias0.list_price > (SELECT MAX(SUBSCRIPTIONSalias0.monthly_amount) FROM subscriptions "
                "AS SUBSCRIPTIONSalias0, customers AS CUSTOMERSalias0 WHERE CUSTOMERSalias0.customer_id = "
                "SUBSCRIPTIONSalias0.customer_id AND CUSTOMERSalias0.segment = 'SMB')"),
    # Scholar: count per group over a four-way comma join, ties broken for a deterministic cut
    ("builtin", "SELECT DISTINCT COUNT(DISTINCT ORDERSalias0.order_id), CUSTOMERSalias0.name FROM customers AS "
                "CUSTOMERSalias0, order_items AS ORDER_ITEMSalias0, orders AS ORDERSalias0, products AS "
                "PRODUCTSalias0 WHERE PRODUCTSalias0.category = 'Software' AND ORDER_ITEMSalias0.product_id = "
                "PRODUCTSalias0.product_id AND ORDERSalias0.order_id = ORDER_ITEMSalias0.order_id AND "
                "CUSTOMERSalias0.customer_id = ORDERSalias0.customer_id GROUP BY CUSTOMERSalias0.name "
                "ORDER BY COUNT(DISTINCT ORDERSalias0.order_id) DESC, CUSTOMERSalias0.name LIMIT 5"),
    # table names as qualifiers, and an unqualified column that only one table has
    ("builtin", "SELECT products.product_name, quantity FROM products, order_items "
                "WHERE products.product_id = order_items.product_id AND order_items.order_id = 7"),
    # an explicit JOIN followed by a comma join; SELECT * keeps the written column order
    ("builtin", "SELECT * FROM orders o, customers c JOIN regions r ON c.region_id = r.region_id "
                "WHERE o.customer_id = c.customer_id AND r.country = 'Sweden'"),
    # an OR between tables stays in the filter (a cross product the SQL asks for; 7 x 24 rows)
    ("builtin", "SELECT r.region_code, p.sku FROM regions r, products p "
                "WHERE r.region_id = p.product_id OR r.region_id * 10 = p.product_id"),
    # an outer join keeps its place and the WHERE clause
    ("builtin", "SELECT e.first_name, r.region_name FROM employees e LEFT JOIN employees m "
                "ON e.manager_id = m.employee_id, regions r WHERE r.region_id = e.region_id AND m.employee_id IS NULL"),
    # a correlated subquery stays in the filter; the linking equality joins
    ("builtin", "SELECT c.name FROM customers c, regions r WHERE c.region_id = r.region_id AND r.country = 'Spain' "
                "AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id)"),
    # the reported failure: SELECT * ... GROUP BY ... ORDER BY an aggregate
    ("builtin", "SELECT * FROM products GROUP BY category ORDER BY COUNT(*) DESC LIMIT 1"),
    ("builtin", "SELECT *, COUNT(*) FROM products GROUP BY category ORDER BY COUNT(*) DESC LIMIT 1"),
    # a four-way self join of a 100-row table, written in an order that links nothing at first
    ("flight_2", "SELECT DISTINCT AIRPORTSalias3.AirportName FROM airports AS AIRPORTSalias3, airports AS "
                 "AIRPORTSalias0, airports AS AIRPORTSalias2, airports AS AIRPORTSalias1 WHERE "
                 "AIRPORTSalias0.AirportCode = 'APG' AND AIRPORTSalias0.City = AIRPORTSalias1.City AND "
                 "AIRPORTSalias1.Country = AIRPORTSalias2.Country AND AIRPORTSalias2.City = AIRPORTSalias3.City "
                 "AND AIRPORTSalias2.AirportCode = AIRPORTSalias1.AirportCode"),
    # GeoQuery on world_1: the largest city of a continent, through a comma join in a subquery
    ("world_1", "SELECT CITYalias0.Name FROM city AS CITYalias0 WHERE CITYalias0.Population = (SELECT "
                "MAX(CITYalias1.Population) FROM city AS CITYalias1, country AS COUNTRYalias0 WHERE "
                "COUNTRYalias0.Code = CITYalias1.CountryCode AND COUNTRYalias0.Continent = 'Europe')"),
    ("world_1", "SELECT COUNTRYalias0.Name FROM country AS COUNTRYalias0, countrylanguage AS "
                "COUNTRYLANGUAGEalias0, city AS CITYalias0 WHERE COUNTRYLANGUAGEalias0.Language = 'Dutch' AND "
                "COUNTRYLANGUAGEalias0.CountryCode = COUNTRYalias0.Code AND CITYalias0.ID = COUNTRYalias0.Capital "
                "AND CITYalias0.Population > 100000 ORDER BY COUNTRYalias0.Name"),
    ("car_1", "SELECT DISTINCT CAR_MAKERSalias0.Maker FROM car_makers AS CAR_MAKERSalias0, countries AS "
              "COUNTRIESalias0, continents AS CONTINENTSalias0 WHERE CONTINENTSalias0.Continent = 'europe' AND "
              "COUNTRIESalias0.Continent = CONTINENTSalias0.ContId AND CAR_MAKERSalias0.Country = "
              "COUNTRIESalias0.CountryId"),
    ("concert_singer", "SELECT T1.Name FROM singer AS T1, singer_in_concert AS T2, concert AS T3 WHERE "
                       "T1.Singer_ID = T2.Singer_ID AND T2.concert_ID = T3.concert_ID AND T3.Year = 2014"),
]

#: the queries above whose every WHERE link between two tables must become a join condition
COMMA_JOINS = [sql for _, sql in SHAPES if " OR " not in sql and "LEFT JOIN" not in sql and "," in sql.split(
    "WHERE")[0].split("FROM")[-1]]


def database(db_id: str) -> Path:
    return BUILTIN if db_id == "builtin" else SPIDER / "database" / db_id / f"{db_id}.sqlite"


needs_spider = pytest.mark.skipif(not (SPIDER / "database").is_dir(), reason="Spider dev databases not present")
CASES = [pytest.param(db, sql, id=f"{db}-{n}", marks=[needs_spider] if db != "builtin" else [])
         for n, (db, sql) in enumerate(SHAPES)]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory) -> querygym.TaskSet:
    """The shapes as a BIRD-format dataset whose gold SQL is each query."""
    root = tmp_path_factory.mktemp("shapes")
    for db_id in {db for db, _ in SHAPES}:
        if database(db_id).is_file():
            (root / db_id).mkdir()
            (root / db_id / f"{db_id}.sqlite").symlink_to(database(db_id))
    records = [{"question_id": n, "db_id": db, "question": f"shape {n}", "SQL": sql, "evidence": "",
                "difficulty": "simple"} for n, (db, sql) in enumerate(SHAPES) if database(db).is_file()]
    (root / "questions.json").write_text(json.dumps(records), encoding="utf-8")
    return querygym.load_bird(root / "questions.json", root)


@pytest.fixture(scope="module")
def env(tasks):
    e = QueryGymEnv(tasks, max_steps=50, timeout_s=10.0)
    yield e
    e.close()


def direct(db_id: str, sql: str):
    with closing(sqlite3.connect(f"file:{database(db_id)}?mode=ro", uri=True)) as conn:
        return conn.execute(sql).fetchall()


def joins_of(actions: list[str]) -> list[list]:
    return [json.loads(a) for a in actions if json.loads(a)[0] == "perform_join"]


@pytest.mark.parametrize("db_id, sql", CASES)
def test_shape_replays_to_the_queries_own_result(tasks, env, db_id, sql):
    task = next(t for t in tasks if t.gold_sql == sql)
    d = decompose(sql, task)
    assert d.ok, d.error
    env.reset(options={"task_id": task.id})
    for action in d.actions:
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["kind"] == "cte", (action, obs)
    assert terminated
    ep = env.episode
    rows = ep.backend.execute(ep.dialect.compile(ep.plan, ep.plan.newest)).rows
    ordered = sqlglot.parse_one(sql, read="sqlite").args.get("order") is not None
    assert querygym.compare_tables(rows, direct(db_id, sql), ordered=ordered).equal


@pytest.mark.parametrize("sql", COMMA_JOINS)
def test_equalities_linking_two_tables_become_inner_joins(tasks, sql):
    task = next(t for t in tasks if t.gold_sql == sql) if any(t.gold_sql == sql for t in tasks) else None
    if task is None:
        pytest.skip("its Spider database is not present")
    d = decompose(sql, task)
    joins = joins_of(d.actions)
    assert joins and all(types == ["INNER JOIN"] * len(types) for _, _, _, types, *_ in joins), d.actions
    # no equality between two columns is left for a filter step
    for action in map(json.loads, d.actions):
        if action[0] == "perform_filter":
            condition = sqlglot.parse_one(f"SELECT 1 FROM t WHERE {action[2]}").args["where"].this
            for conjunct in condition.flatten() if isinstance(condition, exp.And) else [condition]:
                assert not (isinstance(conjunct, exp.EQ) and isinstance(conjunct.this, exp.Column)
                            and isinstance(conjunct.expression, exp.Column)), action


@needs_spider
def test_four_way_self_join_joins_each_table_to_one_already_joined(tasks):
    sql = next(s for db, s in SHAPES if db == "flight_2")
    d = decompose(sql, next(t for t in tasks if t.gold_sql == sql))
    (join,) = joins_of(d.actions)
    _, tables, conditions, types, projection = join
    # the written order starts with a table nothing links to the second: the join starts from it
    # and brings in the others in the order the equalities link them
    assert tables == ["airports AS AIRPORTSalias3", "airports AS AIRPORTSalias2", "airports AS AIRPORTSalias1",
                      "airports AS AIRPORTSalias0"]
    assert conditions == ["AIRPORTSalias2.City = AIRPORTSalias3.City",
                          "AIRPORTSalias1.Country = AIRPORTSalias2.Country AND "
                          "AIRPORTSalias2.AirportCode = AIRPORTSalias1.AirportCode",
                          "AIRPORTSalias0.City = AIRPORTSalias1.City"]
    assert types == ["INNER JOIN"] * 3
    assert projection.startswith("AIRPORTSalias3.*, AIRPORTSalias0.*")  # the written column order


def test_or_outer_joins_and_unlinked_tables_keep_a_cross_join_and_the_filter():
    task = querygym.builtin_tasks()[0]
    or_sql = next(s for _, s in SHAPES if " OR " in s)
    (join,) = joins_of(decompose(or_sql, task).actions)
    assert join[3] == ["CROSS JOIN"]
    outer = next(s for _, s in SHAPES if "LEFT JOIN" in s)
    (join,) = joins_of(decompose(outer, task).actions)
    assert join[3] == ["LEFT JOIN", "CROSS JOIN"] and join[1] == ["employees AS e", "employees AS m", "regions AS r"]
    d = decompose("SELECT c.name, r.region_code FROM customers c, regions r, products p "
                  "WHERE c.region_id = r.region_id AND p.sku = 'X'", task)
    (join,) = joins_of(d.actions)
    assert join[2:4] == [["c.region_id = r.region_id", ""], ["INNER JOIN", "CROSS JOIN"]]
    assert json.loads(d.actions[1])[2] == "T_0.sku = 'X'"


def test_an_equality_within_one_table_or_with_a_constant_is_no_join_condition():
    task = querygym.builtin_tasks()[0]
    d = decompose("SELECT a.name FROM customers a, customers b WHERE a.customer_id = a.account_manager_id "
                  "AND b.customer_id = 3 AND a.region_id = b.region_id", task)
    (join,) = joins_of(d.actions)
    assert join[2:4] == [["a.region_id = b.region_id"], ["INNER JOIN"]]
    assert "account_manager_id" in json.loads(d.actions[1])[2]



ALL_ANY = ("SELECT PRODUCTSalias0.product_name FROM products AS PRODUCTSalias0 WHERE PRODUCTSalias0.list_price > ALL "
           "(SELECT SUBSCRIPTIONSalias0.monthly_amount FROM subscriptions AS SUBSCRIPTIONSalias0, customers AS "
           "CUSTOMERSalias0 WHERE CUSTOMERSalias0.customer_id = SUBSCRIPTIONSalias0.customer_id AND "
           "CUSTOMERSalias0.segment = 'SMB') AND PRODUCTSalias0.product_id = ANY (SELECT ORDER_ITEMSalias0.product_id "
           "FROM order_items AS ORDER_ITEMSalias0 WHERE ORDER_ITEMSalias0.quantity > 5)")


def test_quantified_comparisons_read_their_subqueries_steps(env):
    """GeoQuery's ``> ALL``: its subquery becomes steps (a comma join becoming an inner join) like
    any other.  SQLite runs neither ALL nor ANY, so the steps up to the last are replayed here and
    each subquery's table compared with the subquery's own result."""
    d = decompose(ALL_ANY, querygym.builtin_tasks()[0])
    assert d.ok, d.error
    steps = [json.loads(a) for a in d.actions]
    assert steps[0][0] == "perform_join" and steps[0][3] == ["INNER JOIN"]
    assert steps[-1][0] == "perform_filter" and steps[-1][1] == "products AS PRODUCTSalias0"
    assert "> ALL (SELECT T_1.monthly_amount FROM T_1)" in steps[-1][2]
    assert "= ANY(SELECT T_2.product_id FROM T_2)" in steps[-1][2]
    env.reset(options={"task_id": next(t.id for t in env.tasks if t.db_id == "builtin")})
    for action in d.actions[:-1]:
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["kind"] == "cte", (action, obs)
    ep = env.episode
    inner = sqlglot.parse_one(ALL_ANY, read="sqlite").find_all(exp.Select)
    subqueries = [q for q in inner if q.parent is not None]
    for node_id, query in zip(["T_1", "T_2"], subqueries):
        rows = ep.backend.execute(ep.dialect.compile(ep.plan, ep.plan.get(node_id))).rows
        assert querygym.compare_tables(rows, direct("builtin", query.sql(dialect="sqlite"))).equal
