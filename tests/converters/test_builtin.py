"""The built-in ``enterprise`` demo dataset: reproducible, small, valid BIRD format."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from querygym.data import build_enterprise

DATA_DIR = Path(build_enterprise.__file__).parent / "enterprise"
DB_PATH = DATA_DIR / "enterprise.sqlite"
QUESTIONS_PATH = DATA_DIR / "questions.json"
TABLES_PATH = DATA_DIR / "tables.json"
REFERENCES_PATH = DATA_DIR / "references.json"
ANALYTICS_PATH = DATA_DIR / "analytics.json"

BIRD_KEYS = {"question_id", "db_id", "question", "evidence", "SQL", "difficulty"}
DIFFICULTIES = {"simple", "moderate", "challenging"}
COLUMN_TYPES = {"text", "number", "time", "boolean", "others"}
OPERATIONS = {
    "perform_projection", "perform_filter", "perform_join", "perform_order_by",
    "perform_limit", "perform_aggregate", "perform_union", "perform_intersect",
}


def connect_read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


@pytest.fixture(scope="module")
def committed_db():
    con = connect_read_only(DB_PATH)
    yield con
    con.close()


@pytest.fixture(scope="module")
def questions():
    return json.loads(QUESTIONS_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def references():
    return json.loads(REFERENCES_PATH.read_text(encoding="utf-8"))


def user_tables(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY rowid")]


# --------------------------------------------------------------------------- database
def test_rebuild_gives_the_committed_database(tmp_path, committed_db):
    rebuilt_path = build_enterprise.build(tmp_path / "enterprise.sqlite")
    rebuilt = connect_read_only(rebuilt_path)
    try:
        assert list(rebuilt.iterdump()) == list(committed_db.iterdump())
    finally:
        rebuilt.close()


def test_two_builds_are_identical(tmp_path):
    first = build_enterprise.build(tmp_path / "a" / "enterprise.sqlite")
    second = build_enterprise.build(tmp_path / "b" / "enterprise.sqlite")
    assert first.read_bytes() == second.read_bytes()


def test_cli_writes_database_and_tables_json(tmp_path, capsys):
    assert build_enterprise.main(["--out", str(tmp_path)]) == 0
    assert (tmp_path / "enterprise" / "enterprise.sqlite").is_file()
    written = (tmp_path / "enterprise" / "tables.json").read_text(encoding="utf-8")
    assert written == TABLES_PATH.read_text(encoding="utf-8")


def test_database_is_small():
    assert DB_PATH.stat().st_size < 2 * 1024 * 1024


def test_database_has_the_documented_tables(committed_db):
    assert set(user_tables(committed_db)) == {
        "regions", "employees", "customers", "products", "subscriptions",
        "orders", "order_items", "payments", "fx_rates",
    }


def test_foreign_keys_hold(committed_db):
    assert committed_db.execute("PRAGMA foreign_key_check").fetchall() == []


@pytest.mark.parametrize("sql", [
    "SELECT COUNT(*) FROM customers WHERE segment IS NULL",
    "SELECT COUNT(*) FROM employees WHERE manager_id IS NULL",
    "SELECT COUNT(*) FROM (SELECT name FROM customers GROUP BY name HAVING COUNT(*) > 1)",
    "SELECT COUNT(DISTINCT channel) - COUNT(DISTINCT LOWER(channel)) FROM orders",
    "SELECT COUNT(*) FROM customers WHERE is_internal = 1",
    "SELECT COUNT(*) FROM orders WHERE status IN ('cancelled', 'refunded')",
])
def test_data_is_realistically_messy(committed_db, sql):
    assert committed_db.execute(sql).fetchone()[0] > 0


def test_dates_are_iso_text_over_several_years(committed_db):
    years = [r[0] for r in committed_db.execute(
        "SELECT DISTINCT substr(order_date, 1, 4) FROM orders ORDER BY 1")]
    assert len(years) >= 2
    bad = committed_db.execute(
        "SELECT COUNT(*) FROM orders WHERE date(order_date) IS NOT order_date").fetchone()[0]
    assert bad == 0


# --------------------------------------------------------------------------- questions
def test_questions_are_bird_format(questions):
    assert isinstance(questions, list) and len(questions) >= 25
    for q in questions:
        assert set(q) == BIRD_KEYS, q
        assert isinstance(q["question_id"], int)
        assert q["db_id"] == "enterprise"
        assert isinstance(q["question"], str) and q["question"].strip()
        assert isinstance(q["evidence"], str)
        assert isinstance(q["SQL"], str) and q["SQL"].strip()
        assert q["difficulty"] in DIFFICULTIES


def test_question_ids_are_unique(questions):
    ids = [q["question_id"] for q in questions]
    assert len(ids) == len(set(ids))


def test_every_difficulty_is_represented(questions):
    assert {q["difficulty"] for q in questions} == DIFFICULTIES


def test_every_gold_sql_returns_rows(committed_db, questions):
    for q in questions:
        rows = committed_db.execute(q["SQL"]).fetchall()
        assert rows, f"question {q['question_id']} returns no rows: {q['SQL']}"


# --------------------------------------------------------------------------- tables.json
def test_tables_json_matches_the_database(committed_db):
    (schema,) = json.loads(TABLES_PATH.read_text(encoding="utf-8"))
    tables = user_tables(committed_db)
    assert schema["db_id"] == "enterprise"
    assert schema["table_names_original"] == tables
    assert len(schema["table_names"]) == len(tables)

    expected_columns = [[-1, "*"]]
    expected_pks = []
    for t_idx, table in enumerate(tables):
        info = committed_db.execute(f"PRAGMA table_info({table})").fetchall()
        pk = [len(expected_columns) + i for i, row in enumerate(info) if row[5]]
        expected_pks.append(pk[0] if len(pk) == 1 else pk)
        expected_columns.extend([t_idx, row[1]] for row in info)
    assert schema["column_names_original"] == expected_columns
    assert len(schema["column_names"]) == len(expected_columns)
    assert [c[0] for c in schema["column_names"]] == [c[0] for c in expected_columns]
    assert len(schema["column_types"]) == len(expected_columns)
    assert set(schema["column_types"]) <= COLUMN_TYPES
    assert schema["primary_keys"] == expected_pks

    index = {(tables[t], name): i for i, (t, name) in enumerate(expected_columns) if t >= 0}
    expected_fks = sorted(
        [index[(table, row[3])], index[(row[2], row[4])]]
        for table in tables
        for row in committed_db.execute(f"PRAGMA foreign_key_list({table})").fetchall())
    assert expected_fks, "the schema declares foreign keys"
    assert sorted(schema["foreign_keys"]) == expected_fks


def test_tables_json_is_what_the_generator_writes():
    assert json.loads(TABLES_PATH.read_text(encoding="utf-8")) == \
        build_enterprise.build_tables_json(DB_PATH)


# --------------------------------------------------------------------------- references
def test_every_question_has_a_well_formed_reference(questions, references):
    analytics = json.loads(ANALYTICS_PATH.read_text(encoding="utf-8"))
    report_ids = {str(q["question_id"]) for q in analytics}
    assert set(references) == {str(q["question_id"]) for q in questions} | report_ids
    for qid, script in references.items():
        actions = [json.loads(step) for step in script]
        assert all(isinstance(a, list) and a and isinstance(a[0], str) for a in actions), qid
        if qid in report_ids:
            assert actions[-1][0] == "submit_report", f"reference {qid} must end with a report"
        else:
            assert actions[-1][0] in OPERATIONS, f"reference {qid} must end with an operation"

# The reference scripts are replayed through the environment in tests/env/test_environment.py.
