"""The built-in definition-aware tasks played end to end: references earn the full report score,
a definition-blind analyst does markedly worse, and search finds the definitions."""

import pytest

import querygym
from querygym.bench.analytics import blind_scripts, search_recall
from querygym.runs.runner import run_agent

TASKS = querygym.builtin_tasks()
ANALYTICS = TASKS.select([t.id for t in TASKS if t.requires_report])


def test_there_are_at_least_forty_definition_aware_tasks():
    assert len(ANALYTICS) >= 40
    assert len(ANALYTICS[ANALYTICS.ids[0]].docs) >= 15


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    refs = querygym.builtin_references()
    scripts = {str(t.id): refs[str(t.id)] for t in ANALYTICS}
    out = tmp_path_factory.mktemp("reference")
    return run_agent(ANALYTICS, {"name": "script", "scripts": scripts}, out, progress=None), out


def test_every_reference_trajectory_earns_the_full_report_score(reference_run):
    summary, out = reference_run
    import json

    records = [json.loads(p.read_text()) for p in sorted((out / "episodes").glob("*.json"))]
    assert len(records) == len(ANALYTICS)
    low = {r["task"]: r["report"] for r in records if not r["report"] or r["report"]["score"] != 1.0}
    assert not low
    assert summary["reports"]["answer_accuracy"] == summary["reports"]["definition_accuracy"] == 1.0


def test_a_definition_blind_analyst_scores_markedly_lower(reference_run, tmp_path):
    reference, _ = reference_run
    blind = blind_scripts(ANALYTICS)
    assert len(blind) == len(ANALYTICS)
    summary = run_agent(ANALYTICS, {"name": "script", "scripts": blind}, tmp_path, progress=None)
    assert summary["reports"]["submitted"] == len(ANALYTICS)
    assert summary["reports"]["answer_accuracy"] == 0.0  # every naive SQL gives another table
    assert summary["reports"]["mean_report_score"] <= reference["reports"]["mean_report_score"] - 0.5


def test_search_finds_a_required_document_in_the_top_three_for_nine_tasks_in_ten():
    hits, total, misses = search_recall(ANALYTICS, k=3)
    assert hits / total >= 0.9, misses
