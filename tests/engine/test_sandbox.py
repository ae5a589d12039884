"""Sandboxes on a real PostgreSQL server: each episode gets its own copy, setup SQL never reaches
the shared database, a failing setup is the task's problem, and copies are dropped."""

from __future__ import annotations

import uuid

import pytest

from querygym.converters.tasks import Task
from querygym.engine.samples import SampleColumn, SampleTable
from querygym.engine.sandbox import (
    SANDBOX_PREFIX,
    _connect,
    database_url,
    install_sample_databases,
    needs_sandbox,
    open_sandbox,
)
from querygym.errors import TaskError


@pytest.fixture(scope="module")
def shop(postgres_url):
    db_id = f"shop_{uuid.uuid4().hex[:6]}"
    table = SampleTable("item", [SampleColumn("id", "integer", True), SampleColumn("name", "text")], ("id",),
                        rows=[{"id": "1", "name": "pen"}, {"id": "2", "name": "ink"}])
    assert install_sample_databases({db_id: [table]}, postgres_url) == [db_id]
    assert install_sample_databases({db_id: [table]}, postgres_url) == []  # existing databases stay as they are
    return database_url(postgres_url, db_id)


def _task(url, preprocess, clean_up=()):
    return Task(id="t", db_id="shop", question="q", gold_sql="SELECT COUNT(*) FROM item", db=url, dialect="postgres",
                metadata={"preprocess_sql": list(preprocess), "clean_up_sql": list(clean_up)})


def test_setup_sql_runs_in_a_copy_and_the_shared_database_never_changes(shop):
    task = _task(shop, ["CREATE TEMP TABLE extra (x int)", "INSERT INTO item VALUES (3, 'cap')"], ["DROP TABLE extra"])
    assert needs_sandbox(task)
    with open_sandbox(task) as sandbox:
        assert sandbox.task.db != task.db and SANDBOX_PREFIX in sandbox.task.db
        assert sandbox.task.target_result().rows == [(3,)]
        assert not needs_sandbox(sandbox.task)  # a copy is not copied again
        copy = sandbox.database
    assert sandbox.cleanup_error is None
    with _connect(shop) as con:
        assert con.execute("SELECT COUNT(*) FROM item").fetchone()[0] == 2
        assert con.execute("SELECT COUNT(*) FROM pg_database WHERE datname = %s", (copy,)).fetchone()[0] == 0


def test_two_episodes_of_one_task_do_not_see_each_other(shop):
    task = _task(shop, ["INSERT INTO item VALUES (9, 'hat')"])
    with open_sandbox(task) as a, open_sandbox(task) as b:
        assert a.task.db != b.task.db
        with _connect(a.task.db) as con:
            con.execute("DELETE FROM item")
        assert b.task.target_result().rows == [(3,)]


def test_a_failing_setup_is_the_tasks_problem_and_leaves_no_copy(shop):
    task = _task(shop, ["INSERT INTO no_such_table VALUES (1)"])
    with pytest.raises(TaskError, match="preprocess_sql fails"):
        open_sandbox(task)
    assert task.problem.startswith("preprocess_sql fails")
    with _connect(shop) as con:
        left = con.execute("SELECT COUNT(*) FROM pg_database WHERE datname LIKE %s",
                           (SANDBOX_PREFIX + "%_shop",)).fetchone()[0]
    assert left == 0


def test_a_task_without_setup_plays_on_its_own_database(shop):
    task = _task(shop, [])
    with open_sandbox(task) as sandbox:
        assert sandbox.task is task and sandbox.database is None
