"""The episode on its own: dispatch, errors as outcomes, a failed step changes nothing, SQL replay."""

from __future__ import annotations

import pytest

import querygym
from querygym.actions.catalog import catalog
from querygym.converters.builtin import _builtin_dir
from querygym.engine.backend import Backend
from querygym.env.episode import Episode


@pytest.fixture
def episode():
    root = _builtin_dir()
    task = querygym.load_bird(root / "questions.json", root.parent)[0]  # no corpus: no workflow actions
    backend = Backend(task.db, "sqlite", db_id=task.db_id)
    yield Episode(task, backend, catalog())
    backend.close()


def apply(episode, text):
    return episode.apply(catalog().parse(text))


def test_exploration_and_operations_come_back_as_outcomes(episode):
    tables = apply(episode, '["get_tables"]')
    assert tables.kind == "exploration" and "customers" in tables.text
    made = apply(episode, '["perform_filter", "regions", "regions.region_id < 3"]')
    assert made.kind == "cte" and made.node.id == "T_0" and made.row_count == len(made.result.rows)
    assert episode.plan.ids == ("T_0",)


def test_a_failed_operation_is_an_error_outcome_and_leaves_the_plan_as_it_was(episode):
    apply(episode, '["perform_limit", "regions", "2"]')
    failed = apply(episode, '["perform_filter", "T_0", "T_0.no_such_column = 1"]')
    assert failed.kind == "error" and failed.error["type"] == "plan"
    assert "no_such_column" in failed.text and "intermediate tables are unchanged (T_0)" in failed.text
    assert episode.plan.ids == ("T_0",) and episode.last_error is failed


def test_workflow_actions_need_documentation(episode):
    outcome = apply(episode, '["search_docs", "revenue"]')
    assert outcome.kind == "error" and "not offered for this task" in outcome.text


def test_run_sql_applies_steps_until_the_first_that_fails(episode):
    text, detail, last = episode.run_sql("SELECT region_code FROM regions WHERE region_id < 3 ORDER BY region_code")
    assert detail["failed_step"] is None and detail["applied"] == len(detail["steps"]) >= 2
    assert last.node.id == detail["final_cte_id"]
    text, detail, last = episode.run_sql("SELECT nope FROM regions")
    assert detail["failed_step"] == 1 and "nope" in detail["error"]["message"]


def test_a_table_holding_an_infinity_is_shown(episode):
    made = apply(episode, '["perform_projection", "regions", "regions.region_id, 1e999 AS big, -1e999 AS small"]')
    assert made.kind == "cte", made.text
    assert made.result.rows[0][1:] == (float("inf"), float("-inf"))
    assert "| inf | -inf" in made.text
