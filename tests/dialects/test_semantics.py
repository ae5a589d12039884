"""Where engines differ, on every engine: each test plays actions written in SQLite's syntax and
meaning (every dialect's ``input_dialect``) and expects SQLite's answer.  What an engine
cannot give is marked ``never``/``notyet``/``notimpl`` for that engine (strict xfail), so a
difference that goes away, or a new one, fails the suite.

The database is crafted for the differences: mixed-case text, non-ASCII text, NULLs in sort
keys, negative integers to divide, dates as text, and a table with mixed-case names.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from decimal import Decimal

import pytest

from querygym.env.environment import QueryGymEnv
from querygym.converters.tasks import Task

ITEMS = [
    (1, "apple", 7, 1.5, "2021-03-04", "a"),
    (2, "Apple", 3, 2.25, "2020-12-31", "a"),
    (3, "BANANA", None, 0.5, "2021-07-01", "b"),
    (4, "cherry", -7, None, "2019-01-15", "b"),
    (5, "Éclair", 0, 3.0, "2021-03-20", "c"),
    (6, None, 2, 1.0, None, "c"),
]


@pytest.fixture(scope="module")
def semantics_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("semantics") / "semantics.sqlite"
    with closing(sqlite3.connect(path)) as con:
        con.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price REAL, day TEXT, "
                    "grp TEXT)")
        con.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", ITEMS)
        con.execute('CREATE TABLE "MixedCase" ("Key_ID" INTEGER PRIMARY KEY, "Label" TEXT)')
        con.executemany('INSERT INTO "MixedCase" VALUES (?, ?)', [(1, "one"), (2, "two")])
        # Spider's habit: a text column referring to an integer key
        con.execute("CREATE TABLE refs (item_ref TEXT REFERENCES items(id), note TEXT)")
        con.executemany("INSERT INTO refs VALUES (?, ?)", [("1", "x"), ("2", "y"), ("7", "z")])
        con.commit()
    return str(path)


@pytest.fixture()
def play(engine, semantics_db):
    """``play(action...) -> rows`` of the new table, on a fresh episode of the engine."""
    task = Task(id="semantics", db_id="semantics", question="(engine semantics)", gold_sql="SELECT 1",
                db=semantics_db)
    env = QueryGymEnv([task], dialect=engine, timeout_s=5.0)
    env.reset(options={"task_id": "semantics"})

    def run(*action):
        obs, _, _, _, info = env.step("Action: " + json.dumps(list(action)))
        assert info["kind"] == "cte", f"{engine}: {obs}"
        rows = env.unwrapped.episode.backend.execute(info["sql"], max_rows=None).rows
        return [tuple(float(v) if isinstance(v, Decimal) else v for v in row) for row in rows]

    run.env = env
    yield run
    env.close()


def ids(rows):
    return sorted(r[0] for r in rows)


# ---------------------------------------------------------------------- arithmetic
def test_integer_division_truncates(play):
    rows = play("perform_filter", "items", "items.id IN (1, 4, 3)",
                "items.id, items.qty / 2 AS half, 7 / 2 AS c, items.price / 2 AS p")
    assert sorted(rows, key=lambda r: r[0]) == [(1, 3, 3, 0.75), (3, None, 3, 0.25), (4, -3, 3, None)]
    assert all(type(r[1]) is int for r in rows if r[1] is not None)


def test_division_by_zero_is_null(play):
    assert play("perform_filter", "items", "items.id = 1", "items.qty / 0 AS z, items.price / 0 AS w") == [
        (None, None)]


def test_average_of_integers_and_rounding(play):
    rows = play("perform_aggregate", "items", "",
                "AVG(items.qty) AS a, ROUND(SUM(items.price) / 7.0, 3) AS r, ROUND(AVG(items.id)) AS n")
    assert rows == [(1.0, 1.179, 4.0)]


# ---------------------------------------------------------------------- text
def test_text_equality_is_case_sensitive(play):
    assert ids(play("perform_filter", "items", "items.name = 'apple'", "items.id")) == [1]


def test_like_ignores_ascii_case(play):
    assert ids(play("perform_filter", "items", "items.name LIKE 'a%'", "items.id")) == [1, 2]
    assert ids(play("perform_filter", "items", "items.name NOT LIKE 'A%'", "items.id")) == [3, 4, 5]


@pytest.mark.never(["duckdb"], reason="DuckDB's ILIKE folds the case of every letter; SQLite's LIKE only ASCII's, "
                                      "so 'Éclair' LIKE 'é%' is false there (PostgreSQL's ILIKE on the copied "
                                      "COLLATE \"C\" columns folds ASCII only, as SQLite)", raises=AssertionError)
def test_like_keeps_the_case_of_non_ascii_letters(play):
    assert ids(play("perform_filter", "items", "items.name LIKE 'é%'", "items.id")) == []


def test_text_sorts_by_bytes_with_nulls_first(play):
    rows = play("perform_order_by", "items", "items.name", "items.name")
    assert [r[0] for r in rows] == [None, "Apple", "BANANA", "apple", "cherry", "Éclair"]


def test_double_quoted_text_that_is_no_column_is_a_string(play):
    assert ids(play("perform_filter", "items", 'items.name = "apple"', "items.id")) == [1]


def test_group_concat_of_numbers(play):
    rows = play("perform_aggregate", "items", "items.grp", "items.grp, GROUP_CONCAT(items.id) AS ids")
    assert sorted((g, sorted(s.split(","))) for g, s in rows) == [("a", ["1", "2"]), ("b", ["3", "4"]),
                                                                ("c", ["5", "6"])]


def test_text_that_is_no_number_sorts_after_every_number(play):
    # SQLite: numeric affinity leaves 'apple' text, and text compares greater than numbers
    assert ids(play("perform_filter", "items", "items.name > 5", "items.id")) == [1, 2, 3, 4, 5]
    assert ids(play("perform_filter", "items", "items.name < 5", "items.id")) == []


# ---------------------------------------------------------------------- NULLs and booleans
def test_nulls_sort_first_ascending_and_last_descending(play):
    ascending = play("perform_order_by", "items", "items.qty", "items.qty")
    assert [r[0] for r in ascending] == [None, -7, 0, 2, 3, 7]
    descending = play("perform_order_by", "items", "items.qty DESC", "items.qty")
    assert [r[0] for r in descending] == [7, 3, 2, 0, -7, None]


def test_comparisons_are_the_integers_0_and_1(play):
    rows = play("perform_filter", "items", "items.id IN (1, 3, 5)",
                "items.id, items.qty > 2 AS big, items.name LIKE 'a%' AS a, TRUE AS t")
    assert sorted(rows, key=lambda r: r[0]) == [(1, 1, 1, 1), (3, None, 0, 1), (5, 0, 0, 1)]
    assert all(type(v) is int for r in rows for v in r if v is not None)  # not bool
    assert play("perform_aggregate", "items", "", "SUM(items.qty > 2) AS n") == [(2,)]


# ---------------------------------------------------------------------- dates
def test_strftime_on_text_dates(play):
    rows = play("perform_filter", "items", "items.id IN (1, 2)",
                "items.id, strftime('%Y', items.day) AS y, strftime('%m-%d', items.day) AS md")
    assert sorted(rows) == [(1, "2021", "03-04"), (2, "2020", "12-31")]


def test_sum_and_average_of_text_read_its_leading_number(play):
    assert play("perform_aggregate", "items", "", "AVG(items.day) AS y, SUM(items.grp) AS z") == [(2020.4, 0.0)]


def test_date_with_modifiers_is_text(play):
    rows = play("perform_filter", "items", "items.id = 1",
                "date(items.day) AS d, date(items.day, 'start of month', '-1 month') AS prev, "
                "datetime(items.day, '+1 day') AS next, strftime('%m', date(items.day, 'start of year')) AS m")
    assert rows == [("2021-03-04", "2021-02-01", "2021-03-05 00:00:00", "01")]


def test_julianday_differences(play):
    rows = play("perform_filter", "items", "items.id = 1",
                "julianday(items.day) - julianday('2021-01-01') AS days, julianday('2000-01-01 12:00:00') AS j")
    assert rows == [(62.0, 2451545.0)]


def test_filter_on_a_year_as_text(play):
    assert ids(play("perform_filter", "items", "strftime('%Y', items.day) = '2021'", "items.id")) == [1, 3, 5]


# ---------------------------------------------------------------------- names
def test_mixed_case_names_resolve_whatever_case_the_agent_writes(play):
    rows = play("perform_filter", "mixedcase", "MIXEDCASE.key_id = 2", "mixedcase.label")
    assert rows == [("two",)]
    columns = play.env.unwrapped.episode.plan.get("T_0").column_names
    assert columns == ("Label",)


# ---------------------------------------------------------------------- grouping
def test_group_by_with_aggregates(play):
    rows = play("perform_aggregate", "items", "items.grp", "items.grp, COUNT(*) AS n, MAX(items.qty) AS m",
                "COUNT(items.qty) > 1")
    assert sorted(rows) == [("a", 2, 7), ("c", 2, 2)]


def test_a_bare_column_comes_from_the_row_of_the_max(play):
    # SQLite's rule for a column neither grouped nor aggregated beside one max(): that row's value
    rows = play("perform_aggregate", "items", "items.grp", "items.grp, MAX(items.qty) AS m, items.name")
    assert sorted(rows, key=lambda r: r[0]) == [("a", 7, "apple"), ("b", -7, "cherry"), ("c", 2, None)]
    rows = play("perform_aggregate", "items", "items.grp", "items.grp, MIN(items.price), items.day")
    assert sorted(rows, key=lambda r: r[0]) == [("a", 1.5, "2021-03-04"), ("b", 0.5, "2021-07-01"),
                                                ("c", 1.0, None)]


def test_a_bare_column_that_depends_on_the_group(play):
    rows = play("perform_join", ["items AS i", "refs AS r"], ["i.id = r.item_ref"], ["INNER JOIN"],
                "i.id, i.name, r.note")
    rows = play("perform_aggregate", "T_0", "T_0.id", "T_0.id, T_0.name, COUNT(*) AS n")
    assert sorted(rows) == [(1, "apple", 1), (2, "Apple", 1)]


def test_text_compared_with_numbers_reads_as_numbers(play):
    # SQLite's numeric affinity: '7' = 7 when one side is a number column or literal
    rows = play("perform_join", ["refs AS r", "items AS i"], ["r.item_ref = i.id"], ["INNER JOIN"], "r.item_ref, i.name")
    assert sorted(rows) == [("1", "apple"), ("2", "Apple")]
    assert sorted(play("perform_filter", "refs", "refs.item_ref > 1", "refs.item_ref")) == [("2",), ("7",)]
    assert play("perform_aggregate", "refs", "", "SUM(refs.item_ref) AS s") == [(10,)]
    # against a literal, a text column compares as text ('7' > '10'), as SQLite applies text affinity
    assert sorted(play("perform_filter", "refs", "refs.item_ref > 10", "refs.item_ref")) == [("2",), ("7",)]
    rows = play("perform_filter", "items", "items.id IN (SELECT item_ref FROM refs)", "items.id")
    assert ids(rows) == [1, 2]


# ---------------------------------------------------------------------- set operations and LIMIT
def test_limited_tables_in_a_set_operation(play):
    play("perform_order_by", "items", "items.id")
    play("perform_limit", "T_0", "2")
    play("perform_order_by", "items", "items.id DESC")
    play("perform_limit", "T_2", "1")
    rows = play("perform_union", "ALL", "T_1", "T_3", "T_1.id", "T_3.id")
    assert sorted(rows) == [(1,), (2,), (6,)]


def test_limit_after_a_compound_subquery_applies_to_the_whole(play):
    rows = play("perform_filter", "items",
                "items.id IN (SELECT id FROM items WHERE qty > 2 UNION SELECT id FROM items WHERE price > 2 "
                "ORDER BY 1 LIMIT 2)", "items.id")
    assert ids(rows) == [1, 2]
