"""FIBEN as a dataset format: Db2 DDL and SQL read with sqlglot, paraphrases linked, the data
loaded from its CSV archive when given, synthesised otherwise."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from contextlib import closing

import pytest

from querygym.converters import detect_format, load_tasks
from querygym.converters.fiben import load_fiben, read_ddl, to_sqlite
from querygym.errors import DatasetError
from tests.support import DATA

FIBEN = DATA / "fiben"


@pytest.fixture(scope="module")
def fiben(tmp_path_factory):
    return load_fiben(FIBEN / "FIBEN_Queries.json", cache=tmp_path_factory.mktemp("cache"), rows=10)


def test_schema_from_the_db2_ddl():
    schema = read_ddl(FIBEN / "FIBEN.sql")
    assert len(schema.tables) == 152
    corp = schema.table("CORPORATION")
    assert corp.primary_key == ("CORPORATIONID",)
    assert corp.column("CORPORATIONID").not_null and not corp.column("HASLEGALNAME").not_null
    # FIBEN.sql declares its foreign keys in ALTER TABLE statements at the end
    assert sum(len(t.foreign_keys) for t in schema) > 100
    assert schema.table("DISCLOSURE").column("HASMETRICVALUE").type == "DOUBLE PRECISION"


def test_db2_sql_becomes_sqlite():
    sql = to_sqlite(' SELECT o."HASNAME" FROM FIBEN."COUNTRY" o WHERE o."X" > 1.0E6 FETCH FIRST 5 ROWS ONLY')
    assert sql == 'SELECT o."HASNAME" FROM "COUNTRY" AS o WHERE o."X" > 1000000.0 LIMIT 5'
    assert "STRFTIME('%m'" in to_sqlite('SELECT MONTH(t."D") FROM FIBEN."T" t')
    # the published file has a query without its closing quote and one without its last parenthesis
    assert to_sqlite("SELECT 1 FROM T WHERE a = 'x").endswith("'x'")
    assert to_sqlite("SELECT 1 FROM T WHERE a IN (SELECT b FROM U").endswith(")")


def test_every_question_loads_with_linked_paraphrases(fiben):
    assert detect_format(FIBEN / "FIBEN_Queries.json") == "fiben"
    assert len(fiben) == 300 and not fiben.problems
    raw = json.loads((FIBEN / "FIBEN_Queries.json").read_text())
    assert len({t.metadata["unique_query_id"] for t in fiben}) == len({r["uniqueQueryID"] for r in raw}) == 237
    paraphrased = [t for t in fiben if t.metadata["is_paraphrased"]]
    assert paraphrased
    for task in paraphrased:
        original = fiben[str(task.metadata["unique_query_id"])]
        assert original.id in task.metadata["paraphrases"] and task.id in original.metadata["paraphrases"]
        assert original.gold_sql == task.gold_sql
    assert all("FIBEN." not in t.gold_sql and "FETCH FIRST" not in t.gold_sql for t in fiben)


def test_without_data_the_database_is_synthesised_and_answers_the_gold_queries(fiben):
    assert all(t.playable for t in fiben)
    db = fiben.tasks[0].db
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        answered = 0
        for task in fiben:
            try:
                answered += bool(conn.execute(task.gold_sql).fetchmany(1))
            except sqlite3.Error:
                pass
    assert answered >= 0.85 * len(fiben), answered
    task = fiben["1"]
    assert task.target_result().rows  # through the env's own backend


def test_the_csv_archive_is_loaded_when_given(tmp_path):
    with zipfile.ZipFile(tmp_path / "data.zip", "w") as archive:
        archive.writestr("data/COUNTRY.csv", "COUNTRYID,HASNAME,HASNUMERICCOUNTRYCODE\n1,Norway,578\n2,Chile,\n")
    tasks = load_fiben(FIBEN / "FIBEN_Queries.json", db_root=tmp_path, cache=tmp_path / "cache")
    with closing(sqlite3.connect(tasks.tasks[0].db)) as conn:
        assert conn.execute('SELECT * FROM "COUNTRY" ORDER BY 1').fetchall() == [(1, "Norway", "578"), (2, "Chile", None)]
        assert conn.execute('SELECT COUNT(*) FROM "CORPORATION"').fetchone() == (0,)
    with pytest.raises(DatasetError, match="no FIBEN data"):
        load_tasks(FIBEN / "FIBEN_Queries.json", db_root=tmp_path / "cache")
