"""BIRD-Critic converter on the real preview instances and ``dev_schema.json``, and the sandbox that
runs their setup SQL on a copy.  The full databases are not available: the schema's CREATE TABLE
statements and three sample rows per table are loaded into the session's real PostgreSQL server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import querygym
from querygym.converters import detect_format, load_bird_critic
from querygym.converters.bird_critic import parse_dev_schema
from querygym.engine.samples import sample_value
from querygym.converters.check import check_tasks
from querygym.engine.sandbox import SANDBOX_PREFIX, _connect, open_sandbox
from querygym.converters.tasks import TaskSet

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "bird_critic"
INSTANCES = DATA / "postgresql_preview_0110_data.jsonl"
SCHEMA = DATA / "dev_schema.json"

pytestmark = pytest.mark.skipif(not INSTANCES.is_file() or not SCHEMA.is_file(),
                                reason=f"BIRD-Critic data not found under {DATA}")


def records() -> list[dict]:
    return [json.loads(line) for line in INSTANCES.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def offline():
    return load_bird_critic(INSTANCES, tables=SCHEMA)


@pytest.fixture(scope="module")
def on_server(postgres_url):
    return load_bird_critic(INSTANCES, postgres_url, SCHEMA)


# ---------------------------------------------------------------------- without a server
def test_all_141_instances_load_as_postgres_error_remediation_tasks(offline):
    raw = records()
    assert len(offline) == 141 and detect_format(INSTANCES) == "bird_critic"
    for task, rec in zip(offline, raw):
        assert task.id == rec["instance_id"] and task.db_id == rec["selected_database"]
        assert task.question == rec["query"] and task.dialect == "postgres"
        issue = rec["error_sql"] if isinstance(rec["error_sql"], list) else [rec["error_sql"]]
        issue = [s.strip() for s in issue if s.strip()]
        assert task.initial_sql == (issue[0] if len(issue) == 1 else
                                    "\n".join(s if s.endswith(";") else s + ";" for s in issue))
        assert task.metadata["test_cases"] == rec["test_cases"]
        assert task.schema is not None and task.schema.table_names
    assert sum(1 for t in offline if t.problem.startswith("no PostgreSQL server")) == 98
    assert offline["551_1"].target_ordered  # its ORDER BY is read as PostgreSQL (it is not SQLite)


def test_instances_whose_fix_is_not_a_select_are_reported_unsupported_with_the_reason(offline):
    unsupported = {t.id: t.problem for t in offline if t.problem.startswith("unsupported")}
    assert len(unsupported) == 43
    assert unsupported["572_1"] == ("unsupported: the solution is an UPDATE statement (a DDL/DML fix), "
                                    "not a read-only query")
    assert "4 statements (DROP, CREATE, ANALYZE, SELECT) and ends with a SELECT" in unsupported["237_1"]
    assert unsupported["244_1"].startswith("unsupported: the solution is an INSERT")  # WITH … INSERT … SELECT


def test_released_field_names_and_string_fields_read_the_same(tmp_path, offline):
    released = tmp_path / "bird_critic_released.jsonl"
    lines = []
    for rec in records()[:5]:
        rec = dict(rec)
        rec["db_id"] = rec.pop("selected_database")
        issue = rec.pop("error_sql")
        rec["issue_sql"] = issue[0] if isinstance(issue, list) and len(issue) == 1 else issue
        rec["dialect"], rec["category"] = "PostgreSQL", "Query"
        lines.append(json.dumps(rec))
    released.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert detect_format(released) == "bird_critic"
    again = load_bird_critic(released, tables=SCHEMA)
    for a, b in zip(again, offline.tasks[:5]):
        assert (a.id, a.db_id, a.question, a.gold_sql, a.initial_sql, a.problem) == \
            (b.id, b.db_id, b.question, b.gold_sql, b.initial_sql, b.problem)
        assert a.metadata["category"] == "Query" and a.dialect == "postgres"


def test_dev_schema_gives_every_table_with_its_three_sample_rows():
    samples = parse_dev_schema(SCHEMA)
    assert len(samples) == 11 and sum(len(tables) for tables in samples.values()) == 75
    assert all(len(t.rows) == 3 and not t.note for tables in samples.values() for t in tables)
    district = next(t for t in samples["financial"] if t.name == "district")
    assert (district.rows[0]["a2"], district.rows[1]["a3"]) == ("Hl.m. Praha", "central Bohemia")
    frpm = next(t for t in samples["california_schools"] if t.name == "frpm")
    assert "Free Meal Count (K-12)" in [c.name for c in frpm.columns]  # names with spaces survive
    trans = next(t for t in samples["financial"] if t.name == "trans")
    bank = next(c for c in trans.columns if c.name == "bank")
    account = next(c for c in trans.columns if c.name == "account")
    assert sample_value(trans.rows[0]["bank"], bank) is None  # pandas printed None
    assert sample_value(trans.rows[1]["account"], account) == 41403269  # a float-printed bigint


# ---------------------------------------------------------------------- on PostgreSQL
def test_sol_sql_runs_for_at_least_90_percent_of_the_select_instances(on_server):
    select = [t for t in on_server if not (t.problem or "").startswith("unsupported")]
    assert len(select) == 98 and all(t.playable for t in select)
    check_tasks(on_server)
    failing = {t.id: t.problem for t in select if t.problem}
    assert (len(select) - len(failing)) / len(select) >= 0.9, failing
    assert all(reason.startswith(("gold SQL fails", "preprocess_sql fails")) for reason in failing.values())


def test_setup_sql_runs_in_a_sandbox_copy_and_the_shared_database_never_changes(on_server, postgres_url):
    temp_table = on_server["247_2"]   # preprocess: CREATE TEMP TABLE sets_releaseInfo … INSERT …
    new_column = next(t for t in on_server if t.playable and
                      any("ADD COLUMN" in s for s in t.metadata["preprocess_sql"]))
    for task in (temp_table, new_column):
        with open_sandbox(task) as sandbox:
            assert sandbox.task is not task and sandbox.task.db != task.db
            result = sandbox.task.target_result()
            assert result.columns
        assert sandbox.cleanup_error is None
    with _connect(temp_table.db) as con:
        assert con.execute("SELECT to_regclass('sets_releaseinfo')").fetchone()[0] is None
    with _connect(new_column.db) as con:
        columns = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                             "WHERE table_name = 'trans'")]
        assert "next_amount" not in columns
    with _connect(postgres_url) as admin:
        left = [r[0] for r in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                            (SANDBOX_PREFIX + "%",))]
    assert left == []


def test_episodes_start_from_the_decomposed_issue_sql(on_server):
    from querygym.env.environment import QueryGymEnv

    started = 0
    tasks = [t for t in on_server if t.playable][:8]
    env = QueryGymEnv(TaskSet(tasks), dialect="postgres")  # the env opens each task's sandbox itself
    try:
        for task in tasks:
            obs, info = env.reset(options={"task_id": task.id})
            assert info["initial"]["sql"] == task.initial_sql
            started += bool(info["initial"]["cte_ids"])
    finally:
        env.close()
    assert started >= len(tasks) // 2
    with _connect(tasks[0].db) as con:
        assert con.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                           (SANDBOX_PREFIX + "%",)).fetchone()[0] == 0


def test_round_trip_through_bird_format_keeps_tasks_and_targets(on_server, postgres_url, tmp_path):
    from querygym.cli import main

    assert main(["convert", "--from", "bird_critic", str(INSTANCES), str(SCHEMA), postgres_url,
                 "--out", str(tmp_path / "out")]) == 0
    again = querygym.load_bird(tmp_path / "out" / "questions.json", postgres_url,
                               tables=tmp_path / "out" / "tables.json")
    assert again.ids == on_server.ids
    for a, b in zip(again, on_server):
        assert (a.db_id, a.question, a.gold_sql, a.initial_sql, a.dialect, a.db) == \
            (b.db_id, b.question, b.gold_sql, b.initial_sql, b.dialect, b.db)
        assert a.metadata == b.metadata
        assert (a.problem or "").startswith("unsupported") == (b.problem or "").startswith("unsupported")
    sample = [t for t in again if t.problem is None][:10]
    for task in sample:
        with open_sandbox(task) as sa, open_sandbox(on_server[task.id]) as sb:
            assert sa.task.target_result().rows == sb.task.target_result().rows
