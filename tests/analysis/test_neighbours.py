"""querygym analyze with neighbour databases: a published prediction right on Spider's database by
coincidence is flagged (and keeps category ``correct``), the gold queries are robust, and the
summary, report, CLI and comparison give the robust accuracy beside the plain one."""

from __future__ import annotations

import json

import pytest

import querygym
from querygym.analysis import Prediction, analyze, compare_analyses
from querygym.cli import main
from querygym.errors import InvalidArgumentError
from querygym.synth import synthesise_dataset
from tests.support import DATA, SPIDER

pytestmark = pytest.mark.skipif(not (SPIDER / "dev.json").is_file(), reason="../shared/data/spider_dev is absent")
DIN = DATA / "predictions" / "spider_dev" / "din_sql_gpt4" / "pred.sql"
#: DIN-SQL's predictions that equal the gold result on Spider's database but group by the name
#: where the gold query groups by the key (842, orchestra: conductors with more than one
#: orchestra) or the other way round (22, concert_singer: concerts per stadium): two conductors
#: or stadiums sharing a name are merged on a neighbour, never on the real database
COINCIDENCES = (22, 842)
WITH_NEIGHBOURS = ("orchestra", "concert_singer")
DATASET = ["--data", str(SPIDER / "dev.json"), "--db-root", str(SPIDER / "database"),
           "--tables", str(SPIDER / "tables.json")]


@pytest.fixture(scope="module")
def neighbours(tmp_path_factory):
    root = tmp_path_factory.mktemp("neighbours")
    tasks = querygym.load_tasks(SPIDER / "dev.json", db_root=SPIDER / "database", tables=SPIDER / "tables.json")
    chosen = tasks.select([t.id for t in tasks if t.db_id in WITH_NEIGHBOURS])
    written = synthesise_dataset(chosen, root, neighbours=3)
    assert sorted(d.db_id for d in written) == sorted(WITH_NEIGHBOURS)
    return root


@pytest.fixture(scope="module")
def tasks(neighbours):
    tasks = querygym.load_tasks(SPIDER / "dev.json", db_root=SPIDER / "database", tables=SPIDER / "tables.json")
    return tasks.with_neighbours(neighbours)


@pytest.fixture(scope="module")
def analysis(tasks, tmp_path_factory):
    din = DIN.read_text().splitlines()
    # the gold query of every question of the two databases (and of pets_1, which has no
    # neighbours), DIN-SQL's prediction for the two right by coincidence
    preds = [Prediction(t.id, t.id, t.db_id, din[t.id] if t.id in COINCIDENCES else t.gold_sql)
             for t in tasks if t.db_id in (*WITH_NEIGHBOURS, "pets_1")]
    return analyze(preds, tasks, tmp_path_factory.mktemp("analysis"))


def test_a_prediction_right_by_coincidence_is_flagged_and_stays_correct(analysis, tasks):
    by_index = {r["index"]: r for r in analysis.records}
    for index in COINCIDENCES:
        r = by_index[index]
        assert r["category"] == "correct" and r["verdict"]["relation"] == "equal"
        assert r["coincidence"] is True and r["robust"] is False
        assert r["coincidence_on"] and set(r["coincidence_on"]) <= {0, 1, 2}
    # the gold queries themselves give the gold result on every neighbour
    for r in analysis.records:
        if r["index"] in COINCIDENCES:
            continue
        assert r["category"] == "correct" and r["coincidence"] is False and r["coincidence_on"] == []
        assert r["robust"] is (None if r["db_id"] == "pets_1" else True), r
    lines = [json.loads(x) for x in (analysis.out / "analysis.jsonl").read_text().splitlines()]
    assert [x["robust"] for x in lines] == [r["robust"] for r in analysis.records]


def test_the_summary_gives_the_robust_accuracy_beside_the_plain_one(analysis):
    s = json.loads((analysis.out / "summary.json").read_text())
    n = s["scored"]
    assert s["accuracy"]["querygym"] == 1.0
    assert s["accuracy"]["querygym_robust"] == round((n - len(COINCIDENCES)) / n, 4)
    assert s["coincidence"]["count"] == len(COINCIDENCES)
    # a question whose database has no neighbours counts as it does plainly
    assert s["neighbour_checked"] == n - s["by_database"]["pets_1"]["n"]
    assert s["by_database"]["pets_1"]["accuracy"]["querygym_robust"] == 1.0
    for db in WITH_NEIGHBOURS:
        block = s["by_database"][db]
        assert block["coincidence"]["count"] == 1
        assert block["accuracy"]["querygym_robust"] == round((block["n"] - 1) / block["n"], 4)
    assert sum(b["coincidence"]["count"] for b in s["by_difficulty"].values()) == len(COINCIDENCES)
    assert s["categories"]["correct"]["count"] == n  # the taxonomy is unchanged
    report = (analysis.out / "report.md").read_text()
    assert "querygym, robust (every neighbour too)" in report and "## Right by coincidence" in report
    assert all(f"### #{i} " in report for i in COINCIDENCES)


def test_without_neighbours_nothing_robust_is_reported(tasks):
    plain = querygym.load_tasks(SPIDER / "dev.json", db_root=SPIDER / "database", tables=SPIDER / "tables.json")
    preds = [Prediction(t.id, t.id, t.db_id, t.gold_sql) for t in plain if t.db_id == "orchestra"][:3]
    result = analyze(preds, plain)
    assert all(r["robust"] is None and r["coincidence_on"] == [] for r in result.records)
    assert "querygym_robust" not in result.summary["accuracy"] and "coincidence" not in result.summary


def test_neighbours_need_the_sqlite_engine(tasks):
    task = next(t for t in tasks if t.neighbours)
    with pytest.raises(InvalidArgumentError, match="neighbour databases"):
        analyze([Prediction(task.id, task.id, task.db_id, task.gold_sql)], tasks, dialect="duckdb")


def test_the_cli_reports_both_and_compare_shows_both(neighbours, analysis, tmp_path, capsys):
    out = tmp_path / "din"
    args = ["analyze", "--predictions", str(DIN), *DATASET, "--neighbours", str(neighbours), "--out", str(out),
            "--quiet"] + [x for i in COINCIDENCES for x in ("--task", str(i))]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "querygym robust 0.0%" in printed and f"right only by coincidence {len(COINCIDENCES)}" in printed
    comparison = compare_analyses(analysis.out, out)
    assert comparison["robust_accuracy"] == {"a": 0.0, "b": 0.0}
    assert comparison["coincidence"] == {"a": list(COINCIDENCES), "b": list(COINCIDENCES)}
    assert main(["analyze", "--compare", str(analysis.out), str(out)]) == 0
    assert "robust (every neighbour too): A 0.0%, B 0.0%" in capsys.readouterr().out
