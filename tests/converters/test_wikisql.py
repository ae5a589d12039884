"""WikiSQL and Criteria2SQL converters.

WikiSQL's dev tables and database are not available, so the structured queries are tested on a
small tables file built here: one real WikiSQL table (``1-10015132-11``, its header and first rows
as printed in WikiSQL's README, BSD-3-Clause, Zhong et al. 2017) with the real dev questions
about it, and one synthetic table that exercises every aggregation and operator, mixed value
types and awkward headers.  Expected answers come from an independent evaluator written below
from the semantics of WikiSQL's official executor (lib/dbengine.py).  All 8421 dev records are
parsed.  Criteria2SQL runs on its real ``dev.db``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import querygym
from tests.support import ROSTER, SYNTHETIC, SYNTHETIC_QUESTIONS
from querygym import compare_tables
from querygym.engine.backend import Backend
from querygym.converters import detect_format, load_criteria2sql, load_wikisql
from querygym.converters.wikisql import column_names, criteria2sql_query, table_name, wikisql_sql

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
WIKISQL = DATA / "wikisql" / "dev.jsonl"
CRITERIA = DATA / "criteria2sql"



def number(text):
    """WikiSQL's reading of a condition value on a real column (babel's parse_decimal, then the
    first number in the text)."""
    try:
        return float(str(text).replace(",", ""))
    except ValueError:
        return float(re.findall(r"[-+]?\d*\.\d+|\d+", str(text))[0])


def reference_answer(table: dict, sql: dict) -> list:
    """The answer of a structured query under WikiSQL's executor semantics, in plain Python."""
    types = table["types"]

    def stored(value, kind):
        if value is None:
            return None
        if kind == "real":
            return float(value) if isinstance(value, (int, float)) else number(value)
        return str(value).lower()

    rows = [[stored(v, k) for v, k in zip(row, types)] for row in table["rows"]]
    ops = {0: lambda a, b: a == b, 1: lambda a, b: a > b, 2: lambda a, b: a < b}
    for column, op, value in sql["conds"]:
        if types[column] == "real":
            value = number(value) if isinstance(value, str) else float(value)
        else:
            value = value.lower() if isinstance(value, str) else str(value)
        rows = [r for r in rows if r[column] is not None and ops[op](r[column], value)]
    values = [r[sql["sel"]] for r in rows]
    present = [v for v in values if v is not None]
    agg = sql["agg"]
    if agg == 0:
        return sorted(values, key=str)
    if agg == 3:
        return [len(present)]
    if not present:
        return [None]
    return [{1: max, 2: min, 4: sum, 5: lambda v: sum(v) / len(v)}[agg](present)]


@pytest.fixture()
def wikisql_source(tmp_path):
    """A WikiSQL question file (the real dev questions on the roster table, plus synthetic ones)
    beside a tables file; the folder is read-only afterwards, as the shared data is."""
    source = tmp_path / "source"
    source.mkdir()
    questions = [json.loads(line) for line in WIKISQL.read_text(encoding="utf-8").splitlines()[:5]] \
        if WIKISQL.is_file() else []
    questions += [{"phase": 1, "table_id": SYNTHETIC["id"], "question": text, "sql": sql}
                  for sql, text in SYNTHETIC_QUESTIONS]
    questions.append({"phase": 1, "table_id": SYNTHETIC["id"], "question": "uses OP",
                      "sql": {"sel": 0, "agg": 0, "conds": [[1, 3, "1"]]}})
    questions.append({"phase": 1, "table_id": "9-9999999-9", "question": "no such table",
                      "sql": {"sel": 0, "agg": 0, "conds": []}})
    (source / "dev.jsonl").write_text("\n".join(json.dumps(q) for q in questions) + "\n\n", encoding="utf-8")
    (source / "dev.tables.jsonl").write_text(json.dumps(ROSTER) + "\n" + json.dumps(SYNTHETIC) + "\n",
                                             encoding="utf-8")
    for path in source.iterdir():
        path.chmod(0o444)
    yield source
    for path in source.iterdir():
        path.chmod(0o644)


# ---------------------------------------------------------------------- WikiSQL
@pytest.mark.skipif(not WIKISQL.is_file(), reason=f"WikiSQL dev questions not found under {DATA}")
def test_all_8421_wikisql_dev_records_parse_into_symbolic_sql():
    tasks = load_wikisql(WIKISQL, keep_missing=True)
    assert len(tasks) == 8421 and detect_format(WIKISQL) == "wikisql"
    assert all(t.problem == "no database for its table: give the .db or the tables file (dev.tables.jsonl)"
               for t in tasks)
    first = tasks.tasks[0]
    assert first.gold_sql == """SELECT "col3" FROM "table_1_10015132_11" WHERE "col5" = 'butler cc (ks)'"""
    assert first.db_id == "table_1_10015132_11" and first.metadata["table_id"] == "1-10015132-11"
    aggregations = {t.gold_sql.split("(")[0].split()[-1] for t in tasks if "(" in t.gold_sql.split(" FROM ")[0]}
    assert aggregations == {"MAX", "MIN", "COUNT", "SUM", "AVG"}
    dropped = load_wikisql(WIKISQL, keep_missing=False)
    assert len(dropped) == 0 and dropped.problems[0].reason.startswith("no database for its table")  # reported


def test_structured_queries_follow_wikisqls_semantics(wikisql_source, tmp_path):
    tasks = load_wikisql(wikisql_source / "dev.jsonl", cache=tmp_path / "cache")
    tables = {ROSTER["id"]: ROSTER, SYNTHETIC["id"]: SYNTHETIC}
    records = [json.loads(line) for line in (wikisql_source / "dev.jsonl").read_text().splitlines() if line]
    assert tasks.check() == [p for p in tasks.problems]  # nothing fails beyond what loading reported
    assert {str(p.task_id): p.reason.split(":")[0] for p in tasks.problems} == {
        str(len(records) - 2): "structured query cannot be rendered",
        str(len(records) - 1): f"its table is not in {wikisql_source / 'dev.tables.jsonl'}"}
    assert len(tasks) == len(records) - 1  # the one whose table is missing is kept, unplayable
    assert [t.id for t in tasks if not t.playable] == [len(records) - 1]
    for task in tasks.playable():
        record = records[task.id]
        expected = reference_answer(tables[record["table_id"]], record["sql"])
        got = [row[0] for row in task.target_result().rows]
        got = sorted(got, key=str) if record["sql"]["agg"] == 0 else got
        assert compare_tables([(v,) for v in got], [(v,) for v in expected]), (task.id, task.gold_sql)
    roster_answer = tasks.tasks[0].target_result().rows
    assert roster_answer == [("guard-forward",)]  # text is stored lower-cased, as in WikiSQL's own database


def test_databases_are_built_per_table_in_the_cache_never_beside_the_source(wikisql_source, tmp_path):
    before = sorted(p.name for p in wikisql_source.iterdir())
    tasks = load_wikisql(wikisql_source / "dev.jsonl", cache=tmp_path / "cache")
    assert sorted(p.name for p in wikisql_source.iterdir()) == before
    paths = {t.db_id: Path(t.db) for t in tasks.playable()}
    assert set(paths) == {table_name(ROSTER["id"]), table_name(SYNTHETIC["id"])}
    for db_id, path in paths.items():
        assert path.is_relative_to(tmp_path / "cache") and path == path.parent / f"{db_id}.sqlite"
        with closing(sqlite3.connect(path)) as con:
            assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == [db_id]
    with closing(sqlite3.connect(paths[table_name(SYNTHETIC["id"])])) as con:
        columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table_name(SYNTHETIC["id"])}")')]
    assert columns == column_names(SYNTHETIC["header"]) == ["Team", "Points", "Goals for", "col3", "team_2",
                                                            "Coach's name"]


def test_the_official_database_layout_gives_the_same_answers(wikisql_source, tmp_path):
    # WikiSQL's released .db: table_<id>, columns col0..colN, text lower-cased, real columns REAL
    official = tmp_path / "official" / "dev.db"
    official.parent.mkdir()
    with closing(sqlite3.connect(official)) as con:
        for table in (ROSTER, SYNTHETIC):
            columns = ", ".join(f"col{i} {t}" for i, t in enumerate(table["types"]))
            con.execute(f"CREATE TABLE {table_name(table['id'])} ({columns})")
            for row in table["rows"]:
                con.execute(f"INSERT INTO {table_name(table['id'])} VALUES ({', '.join('?' * len(row))})",
                            [None if v is None else (float(str(v).replace(",", "")) if k == "real" else str(v).lower())
                             for v, k in zip(row, table["types"])])
        con.commit()
    built = load_wikisql(wikisql_source / "dev.jsonl", cache=tmp_path / "cache")
    from_db = load_wikisql(wikisql_source / "dev.jsonl", official, cache=tmp_path / "cache2")
    assert [t.id for t in from_db.playable()] == [t.id for t in built.playable()]
    assert from_db.tasks[0].gold_sql == """SELECT "col3" FROM "table_1_10015132_11" WHERE "col5" = 'butler cc (ks)'"""
    for a, b in zip(built.playable(), from_db.playable()):
        assert compare_tables(a.target_result().rows, b.target_result().rows), (a.id, a.gold_sql, b.gold_sql)


def test_wikisql_sql_quotes_names_and_values():
    table = {"id": "1-2-3", "header": ['Say "hi"', "it's"], "types": ["text", "text"]}
    assert wikisql_sql({"sel": 0, "agg": 0, "conds": [[1, 0, "O'Neil"]]}, table) == \
        'SELECT "Say ""hi""" FROM "table_1_2_3" WHERE "it\'s" = \'o\'\'neil\''


# ---------------------------------------------------------------------- Criteria2SQL
needs_criteria = pytest.mark.skipif(not (CRITERIA / "dev.db").is_file(), reason=f"Criteria2SQL not found under {DATA}")


@pytest.fixture(scope="module")
def criteria():
    return load_criteria2sql(CRITERIA / "dev.jsonl")


@needs_criteria
def test_criteria2sql_300_tasks_whose_gold_executes(criteria):
    assert len(criteria) == 300 and criteria.problems == []
    assert detect_format(CRITERIA / "dev.jsonl") == "criteria2sql"
    assert criteria.check() == []
    assert {t.db for t in criteria} == {str(CRITERIA / "dev.db")}


@needs_criteria
def test_criteria2sql_structured_query_and_query_string_give_equal_tables(criteria):
    with Backend(str(CRITERIA / "dev.db")) as db:
        for task in criteria:
            structured = task.metadata["structured_sql"]
            assert structured is not None, task.metadata.get("structured_problem")
            result = db.execute(structured, max_rows=None)
            assert compare_tables(result.rows, task.target_result().rows).equal, (task.id, structured, task.gold_sql)


def test_criteria2sql_connectors_become_groups_sums_and_thresholds():
    header = ["id", "a", "b", "c", "NOUSE"]
    sql = {"sel": 0, "agg": 0, "conds": [[1, 0, "'x'"], [1, 0], [2, 1, "5"], [2, 1], [3, 3, "1.5"], [4, 0],
                                         [4, 6, "1"]]}
    assert criteria2sql_query(sql, header).sql("sqlite") == (
        'SELECT "id" FROM "records" WHERE "a" = \'x\' OR (CASE WHEN "b" > 5 THEN 1 ELSE 0 END + '
        'CASE WHEN "c" >= 1.5 THEN 1 ELSE 0 END) >= 1')
    grouped = {"sel": 0, "agg": 0, "conds": [[1, 2, "3"], [0, 1], [2, 0, "1"], [1, 0], [3, 4, "2"]]}
    assert criteria2sql_query(grouped, header).sql("sqlite") == \
        'SELECT "id" FROM "records" WHERE ("a" < 3 AND "b" = 1) OR "c" <= 2'


@needs_criteria
def test_criteria2sql_records_table_rebuilt_from_its_tables_file_when_no_db(tmp_path, criteria):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("dev.jsonl", "dev.tables.jsonl"):
        (source / name).write_bytes((CRITERIA / name).read_bytes())
    rebuilt = load_criteria2sql(source / "dev.jsonl", cache=tmp_path / "cache")
    assert Path(rebuilt.tasks[0].db).is_relative_to(tmp_path / "cache") and rebuilt.problems == []
    for a, b in zip(rebuilt, criteria):
        assert compare_tables(a.target_result().rows, b.target_result().rows).equal, a.id  # both execute


def test_bad_wikisql_files_get_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "dev.jsonl"
    bad.write_text('{"table_id": "1", "question": "q", "sql": {"sel": 0, "agg": 0, "conds": []}}\nnot json\n')
    with pytest.raises(querygym.DatasetError, match=r"dev.jsonl:2:1: not JSON"):
        load_wikisql(bad)
