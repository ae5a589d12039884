"""The BIRD loader on real files: Spider re-keyed into BIRD format (with databases) and BIRD's
own dev questions (without databases).

Expected targets are computed with :mod:`sqlite3` directly on the same files.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import gymnasium
import pandas as pd
import pytest

import querygym

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SPIDER = DATA / "spider_dev"
BIRD = DATA / "bird_dev_questions"
SPIDER_QUESTIONS = SPIDER / "dev_bird_format_19db.json"

pytestmark = pytest.mark.skipif(not SPIDER_QUESTIONS.is_file() or not (BIRD / "dev.json").is_file(),
                                reason=f"benchmark data not found under {DATA}")


def load_spider() -> querygym.TaskSet:
    return querygym.load_bird(SPIDER_QUESTIONS, SPIDER / "database", tables=SPIDER / "tables_19db.json")


@pytest.fixture(scope="module")
def spider_tasks() -> querygym.TaskSet:
    return load_spider()


def run_sqlite(db_id: str, sql: str) -> tuple[list[str], list[tuple]]:
    path = SPIDER / "database" / db_id / f"{db_id}.sqlite"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        cursor = con.execute(sql)
        return [d[0] for d in cursor.description], cursor.fetchall()


def bird_record(question_id, db_id: str, sql: str) -> dict:
    return {"question_id": question_id, "db_id": db_id, "question": f"question {question_id}", "evidence": "",
            "SQL": sql, "difficulty": "simple"}


# ---------------------------------------------------------------------- Spider in BIRD format
def test_spider_loads_972_playable_tasks(spider_tasks):
    records = json.loads(SPIDER_QUESTIONS.read_text(encoding="utf-8"))
    assert len(spider_tasks) == len(records) == 972
    assert len(spider_tasks.playable()) == 972
    assert spider_tasks.problems == []
    assert spider_tasks.ids == [r["question_id"] for r in records]
    for task, record in zip(spider_tasks, records):
        assert (task.db_id, task.question, task.gold_sql, task.difficulty) == (
            record["db_id"], record["question"], record["SQL"], record["difficulty"])
        assert Path(task.db) == SPIDER / "database" / record["db_id"] / f"{record['db_id']}.sqlite"


def test_spider_schemas_come_from_the_tables_file(spider_tasks):
    tables = {entry["db_id"]: entry for entry in json.loads((SPIDER / "tables_19db.json").read_text("utf-8"))}
    task = spider_tasks[0]
    assert task.schema is not None
    assert task.schema.table_names == tuple(tables[task.db_id]["table_names_original"])


@pytest.mark.parametrize("task_id", [
    0,    # SELECT count(*) FROM singer
    2,    # ORDER BY age DESC
    14,   # BETWEEN 5000 AND 10000: no row qualifies
    541,  # two output columns called student_id
    806,  # continent = "Asia": a double-quoted string literal
    812,  # 1860 cities
    1033,  # UNION
])
def test_target_is_the_gold_result(spider_tasks, task_id):
    task = spider_tasks[task_id]
    columns, rows = run_sqlite(task.db_id, task.gold_sql)
    target = task.target()
    assert isinstance(target, pd.DataFrame)
    assert target.shape == (len(rows), len(columns))
    assert target.columns.is_unique
    assert [c.lower() for c in target.columns[:1]] == [columns[0].lower()]
    got = [tuple(None if pd.isna(v) else v for v in row) for row in target.itertuples(index=False)]
    assert sorted(got, key=repr) == sorted(rows, key=repr)
    if task.target_ordered:
        assert got == rows


def test_duplicate_output_names_are_made_unique(spider_tasks):
    target = spider_tasks[541].target()
    assert list(target.columns) == ["student_id", "first_name", "middle_name", "last_name", "count(*)",
                                    "student_id_1"]


def test_target_is_computed_once(spider_tasks):
    task = spider_tasks[3]
    assert task.target_result() is task.target_result()


@pytest.mark.slow
def test_every_spider_gold_query_runs():
    tasks = load_spider()  # fresh: nothing cached
    assert tasks.check() == []
    assert len(tasks.playable()) == 972
    empty = [t.id for t in tasks if len(t.target_result().rows) == 0]
    assert len(empty) == 49  # as the data's README says


# ---------------------------------------------------------------------- BIRD without databases
@pytest.fixture(scope="module")
def bird_tasks(tmp_path_factory) -> querygym.TaskSet:
    empty_root = tmp_path_factory.mktemp("no_databases")
    return querygym.load_bird(BIRD / "dev.json", empty_root, tables=BIRD / "dev_tables.json")


def test_bird_dev_loads_1534_unplayable_tasks(bird_tasks):
    assert len(bird_tasks) == 1534
    assert bird_tasks.playable() == []
    problems = bird_tasks.problems
    assert len(problems) == 1534
    for task, problem in zip(bird_tasks, problems):
        assert not task.playable and task.db is None
        assert problem.task_id == task.id
        assert f"database {task.db_id!r} not found" in problem.reason
        assert f"{task.db_id}/{task.db_id}.sqlite" in problem.reason


def test_bird_dev_schemas_come_from_the_tables_file(bird_tasks):
    tables = {entry["db_id"]: entry for entry in json.loads((BIRD / "dev_tables.json").read_text("utf-8"))}
    assert {t.db_id for t in bird_tasks} == set(tables)
    for task in bird_tasks:
        entry = tables[task.db_id]
        assert task.schema is not None and task.schema.db_id == task.db_id
        assert task.schema.table_names == tuple(entry["table_names_original"])
    schools = next(t for t in bird_tasks if t.db_id == "california_schools").schema
    frpm = schools.table("frpm")
    assert frpm.column("Free Meal Count (K-12)") is not None
    assert any(fk.ref_table == "schools" for fk in frpm.foreign_keys)


def test_bird_dev_keeps_the_evidence(bird_tasks):
    records = json.loads((BIRD / "dev.json").read_text(encoding="utf-8"))
    assert [t.evidence for t in bird_tasks] == [r["evidence"] for r in records]
    assert sum(bool(t.evidence) for t in bird_tasks) > 1000


def test_unplayable_task_raises_task_error_naming_it(bird_tasks):
    task = bird_tasks.tasks[0]
    with pytest.raises(querygym.TaskError, match=rf"task {task.id!r}: database 'california_schools' not found"):
        task.target()
    env = gymnasium.make("querygym/QueryGym-v0", tasks=bird_tasks)
    try:
        with pytest.raises(querygym.TaskError, match="california_schools"):
            env.reset(options={"task_id": task.id})
        with pytest.raises(querygym.TaskError, match="no task in the set has a database"):
            env.reset()
    finally:
        env.close()


def test_a_question_without_a_database_or_schema_says_both(tmp_path):
    path = tmp_path / "q.json"
    path.write_text(json.dumps([bird_record(1, "nowhere_db", "SELECT 1")]), encoding="utf-8")
    tasks = querygym.load_bird(path, tmp_path)
    assert tasks[1].problem.startswith("database 'nowhere_db' not found")
    assert "no schema for it" in tasks[1].problem


# ---------------------------------------------------------------------- programmer mistakes
@pytest.mark.parametrize("path", [
    SPIDER / "dev.json",            # Spider's own format: "query", not "SQL"
    SPIDER / "tables_19db.json",    # a tables file, not questions
    SPIDER / "SHA256SUMS.sqlite.txt",  # not JSON at all
], ids=["spider-format", "tables-file", "not-json"])
def test_a_file_that_is_not_bird_format_raises_dataset_error_naming_it(path):
    with pytest.raises(querygym.DatasetError) as caught:
        querygym.load_bird(path, SPIDER / "database")
    message = str(caught.value)
    assert str(path) in message
    assert "\n" not in message  # one clear line


def test_a_json_object_instead_of_a_list_raises_dataset_error(tmp_path):
    path = tmp_path / "object.json"
    path.write_text(json.dumps({"questions": [bird_record(0, "concert_singer", "SELECT 1")]}), encoding="utf-8")
    with pytest.raises(querygym.DatasetError, match=str(path)):
        querygym.load_bird(path, SPIDER / "database")


def test_a_missing_question_file_raises_dataset_error(tmp_path):
    with pytest.raises(querygym.DatasetError, match="not found"):
        querygym.load_bird(tmp_path / "absent.json", SPIDER / "database")


def test_a_database_root_that_is_not_a_directory_raises_dataset_error():
    with pytest.raises(querygym.DatasetError, match="not a directory"):
        querygym.load_bird(SPIDER_QUESTIONS, SPIDER / "SHA256SUMS.sqlite.txt")


def test_unknown_task_id_raises_unknown_task_error(spider_tasks):
    with pytest.raises(querygym.UnknownTaskError, match="No task with id 'no-such-task'") as caught:
        spider_tasks["no-such-task"]
    assert isinstance(caught.value, KeyError)
    assert "972 tasks" in str(caught.value)
    env = gymnasium.make("querygym/QueryGym-v0", tasks=spider_tasks)
    try:
        with pytest.raises(querygym.UnknownTaskError):
            env.reset(options={"task_id": 123456})
    finally:
        env.close()


def test_ids_are_found_as_numbers_or_strings(spider_tasks):
    assert spider_tasks[12] is spider_tasks["12"]
    assert 12 in spider_tasks and "12" in spider_tasks


@pytest.mark.parametrize("sql", [
    "SELECT no_such_column FROM singer",
    "SELEC name FROM singer",
    "DELETE FROM singer",
    "SELECT 1; DROP TABLE singer",
], ids=["unknown-column", "syntax", "write", "two-statements"])
def test_failing_gold_sql_raises_task_error_naming_the_task(tmp_path, sql):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([bird_record("bad-1", "concert_singer", sql),
                                bird_record("good-1", "concert_singer", "SELECT count(*) FROM singer")]),
                    encoding="utf-8")
    database = SPIDER / "database" / "concert_singer" / "concert_singer.sqlite"
    digest = hashlib.sha256(database.read_bytes()).hexdigest()
    tasks = querygym.load_bird(path, SPIDER / "database")
    assert tasks["bad-1"].playable  # nothing is run at load time
    with pytest.raises(querygym.TaskError, match="task 'bad-1': gold SQL fails") as caught:
        tasks["bad-1"].target()
    assert caught.value.task_id == "bad-1"
    assert not tasks["bad-1"].playable
    assert [p.task_id for p in tasks.problems] == ["bad-1"]
    assert tasks["good-1"].target().iloc[0, 0] == 6
    assert hashlib.sha256(database.read_bytes()).hexdigest() == digest


def test_check_reports_failing_gold_sql_and_reset_refuses_it(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([bird_record("bad-2", "concert_singer", "SELECT nope FROM singer"),
                                bird_record("good-2", "concert_singer", "SELECT name FROM singer")]),
                    encoding="utf-8")
    tasks = querygym.load_bird(path, SPIDER / "database")
    env = gymnasium.make("querygym/QueryGym-v0", tasks=tasks)
    try:
        with pytest.raises(querygym.TaskError, match="'bad-2'.*no such column: nope"):
            env.reset(options={"task_id": "bad-2"})
        obs, info = env.reset(seed=0)  # only the good task is left to draw
        assert info["task_id"] == "good-2"
    finally:
        env.close()
    fresh = querygym.load_bird(path, SPIDER / "database")
    problems = fresh.check()
    assert [(p.task_id, "no such column: nope" in p.reason) for p in problems] == [("bad-2", True)]


def test_verbatim_duplicate_records_load_once_and_are_reported(tmp_path):
    import json

    record = {"question_id": 7, "db_id": "x", "question": "q?", "evidence": "", "SQL": "SELECT 1", "difficulty": ""}
    path = tmp_path / "dup.json"
    path.write_text(json.dumps([record, dict(record)]))
    tasks = querygym.load_bird(path)
    assert len(tasks) == 1
    assert any("repeats an earlier record" in p.reason for p in tasks.problems)
    path.write_text(json.dumps([record, dict(record, question="other?")]))
    with pytest.raises(querygym.DatasetError, match="two different records"):
        querygym.load_bird(path)


@pytest.mark.parametrize("gold", [
    "SELECT a FROM t ORDER BY a", "select x from t order by x desc;", "SELECT a FROM orders",
    "SELECT a FROM orders ORDER BY a", "SELECT a FROM (SELECT a FROM t ORDER BY a)",
    "SELECT COUNT(*) OVER (ORDER BY a) FROM t", "SELECT 1; SELECT 2 ORDER BY 1",
    "WITH q AS (SELECT 1 AS x) SELECT * FROM q ORDER BY 1", "SELECT a FROM t UNION SELECT b FROM u ORDER BY 1",
    "SELECT a FROM t ORDER /* by what */ BY a", "SELECT 'order by' FROM t", "SELECT a FROM t ORDER BY",
])
def test_target_order_is_read_as_the_whole_parse_reads_it(gold):
    # a gold query's top-level ORDER BY, found without parsing queries that hold none
    import dataclasses

    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(gold, read="sqlite")
        expected = isinstance(tree, exp.Query) and tree.args.get("order") is not None
    except sqlglot.errors.SqlglotError:
        expected = False
    task = dataclasses.replace(querygym.builtin_tasks().tasks[0], gold_sql=gold)
    assert task.target_ordered == expected
