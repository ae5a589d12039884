"""Decomposition coverage on real benchmark data (the issue's goals, kept as regression checks)."""

from pathlib import Path

import pytest

import querygym
from querygym.bench.decompose import bench_decompose

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data (real benchmark data) is not present")]


def test_spider_dev_gold_queries_decompose_and_replay_to_the_answer():
    tasks = querygym.load_bird(DATA / "spider_dev" / "dev_bird_format_19db.json", DATA / "spider_dev" / "database")
    report = bench_decompose(tasks)
    assert report["tasks"] == report["playable"] == 972
    assert report["equal"] / 972 >= 0.97, report["failures_by_cause"]
    # every failure has a cause, and the only accepted one is an ambiguous gold answer
    assert set(report["failures_by_cause"]) <= {"tie at the LIMIT cut-off", "final table differs"}
    assert report["failures_by_cause"].get("final table differs", 0) <= 5


@pytest.mark.parametrize("questions", ["dev.json", "mini_dev_sqlite.json"])
def test_bird_dev_questions_decompose_against_their_schemas(questions):
    tasks = querygym.load_bird(DATA / "bird_dev_questions" / questions, None,
                               tables=DATA / "bird_dev_questions" / "dev_tables.json")
    report = bench_decompose(tasks)
    assert report["playable"] == 0
    assert report["decomposed_rate"] >= 0.95, report["failures_by_cause"]
