"""``querygym bench engines``: the built-in tasks agree on every engine; a crafted tie shows a
disagreement with its cause rather than hiding it."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pytest

from querygym.cli import main
from querygym.bench.engines import bench_engines
from querygym.converters.tasks import Task


@pytest.fixture()
def all_engines(postgres_url, duckdb_available):
    return ["sqlite", "postgres", "duckdb"]


def test_bench_engines_on_the_builtin_tasks(all_engines, tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "engines", "--limit", "40", "--out", str(out), "--engines", ",".join(all_engines)]) == 0
    report = json.loads((out / "engines.json").read_text())
    assert set(report["pairs"]) == {"sqlite-postgres", "sqlite-duckdb", "postgres-duckdb"}
    tasks = report["tasks"]
    assert tasks == 40 and report["compiled"]["sqlite"] == tasks
    for pair in report["pairs"].values():
        assert pair["total"] >= tasks - 2  # every built-in plan compiles on every engine, or nearly
        assert pair["agree"] == pair["total"], pair["disagreements"]
    assert report["all"]["agree"] == report["all"]["total"] >= tasks - 2
    assert report["step_time"]["postgres"]["ratio_to_sqlite"] > 0
    assert f"all engines: {report['all']['agree']}/{report['all']['total']} agree" in capsys.readouterr().out


@pytest.fixture(scope="module")
def ties_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("ties") / "ties.sqlite"
    with closing(sqlite3.connect(path)) as con:
        # rowid order (SQLite's scan order) is not the order of the first column
        con.execute("CREATE TABLE player (name TEXT, score INTEGER)")
        con.executemany("INSERT INTO player VALUES (?, ?)", [("zoe", 5), ("amy", 5), ("bob", 3)])
        con.commit()
    return str(path)


def test_a_tie_is_a_disagreement_with_its_cause(all_engines, ties_db, tmp_path):
    tasks = [Task(id="top", db_id="ties", question="Who scored most?",
                  gold_sql="SELECT name FROM player ORDER BY score DESC LIMIT 1", db=ties_db),
             Task(id="order", db_id="ties", question="Players by score.",
                  gold_sql="SELECT name FROM player ORDER BY score DESC", db=ties_db),
             Task(id="count", db_id="ties", question="How many players?",
                  gold_sql="SELECT COUNT(*) FROM player", db=ties_db)]
    scripts = {"top": ['["perform_order_by", "player", "player.score DESC"]', '["perform_limit", "T_0", "1", "name"]'],
               "order": ['["perform_order_by", "player", "player.score DESC", "player.name"]'],
               "count": ['["perform_aggregate", "player", "", "COUNT(*)"]']}
    report = bench_engines(tasks, scripts, tmp_path, engines=all_engines)
    assert report["pairs"]["postgres-duckdb"] == {**report["pairs"]["postgres-duckdb"], "agree": 3, "total": 3}
    sqlite_pg = report["pairs"]["sqlite-postgres"]
    assert (sqlite_pg["agree"], sqlite_pg["total"]) == (1, 3)
    assert sqlite_pg["disagreements"] == {"limit over ties": 1, "order of tied rows": 1}
    lines = [json.loads(line) for line in (tmp_path / "disagreements.jsonl").read_text().splitlines()]
    top = next(r for r in lines if r["task"] == "top" and r["pair"] == "sqlite-postgres")
    assert top["rows"] == {"sqlite": [["zoe"]], "postgres": [["amy"]]}
