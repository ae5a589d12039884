"""One plan, three engines, on real data: a fifth of Spider dev's questions (every fifth, all 19
databases), their oracle plans replayed on SQLite, PostgreSQL and DuckDB.  Every plan compiles
on every engine and the final tables agree, but for ties that a LIMIT cuts through (a documented
difference); the whole of Spider dev is ``querygym bench engines`` (README, Engines)."""

from __future__ import annotations

from pathlib import Path

import pytest

import querygym
from querygym.bench.engines import bench_engines
from querygym.agents.oracle import oracle_scripts

SPIDER = Path(__file__).resolve().parents[3] / "shared" / "data" / "spider_dev"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (SPIDER / "dev_bird_format_19db.json").is_file(),
                                 reason=f"Spider dev data not found under {SPIDER}")]


def test_spider_plans_agree_across_engines(postgres_url, duckdb_available, tmp_path):
    tasks = querygym.load_bird(SPIDER / "dev_bird_format_19db.json", SPIDER / "database",
                               tables=SPIDER / "tables_19db.json")
    tasks = tasks.select(tasks.ids[::5])
    assert len({t.db_id for t in tasks}) == 19
    scripts, undecomposed = oracle_scripts(t for t in tasks if t.playable)
    assert not undecomposed
    report = bench_engines(tasks, scripts, tmp_path, engines=["sqlite", "postgres", "duckdb"])
    assert report["compiled"] == {"sqlite": len(tasks), "postgres": len(tasks), "duckdb": len(tasks)}, \
        report["failures"]
    assert report["pairs"]["postgres-duckdb"]["agree"] == len(tasks)
    for key, pair in report["pairs"].items():
        assert set(pair["disagreements"]) <= {"limit over ties"}, (key, pair["examples"])
    assert report["all"]["share"] >= 0.99, report["pairs"]
    assert (tmp_path / "engines.json").is_file()
