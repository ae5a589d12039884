"""querygym.analyze and ``querygym analyze`` end to end on a sample of Spider dev with a published
system's predictions: files, summary, resumption, workers, the CLI, comparison and refusals."""

from __future__ import annotations

import json
import shutil

import pytest

import querygym
from querygym.analysis import CATEGORIES, analyze
from querygym.cli import main
from querygym.errors import PredictionsError
from tests.support import DATA, SPIDER

pytestmark = pytest.mark.skipif(not (SPIDER / "dev.json").is_file(), reason="../shared/data/spider_dev is absent")
PREDICTIONS = DATA / "predictions" / "spider_dev"
DIN = PREDICTIONS / "din_sql_gpt4" / "pred.sql"
C3 = PREDICTIONS / "c3_gpt35" / "pred.sql"
#: every 15th question, and the first questions of wta_1 (no database)
SAMPLE = sorted(set(range(0, 1034, 15)) | {429, 430})
DATASET = ["--data", str(SPIDER / "dev.json"), "--db-root", str(SPIDER / "database"),
           "--tables", str(SPIDER / "tables.json")]


@pytest.fixture(scope="module")
def tasks():
    return querygym.load_tasks(SPIDER / "dev.json", db_root=SPIDER / "database", tables=SPIDER / "tables.json")


@pytest.fixture(scope="module")
def din(tasks, tmp_path_factory):
    out = tmp_path_factory.mktemp("din")
    return analyze(DIN, tasks, out, only=SAMPLE, workers=2)


def test_every_question_gets_a_line_and_every_wrong_one_a_category_and_a_step(din):
    records = din.records
    assert [r["index"] for r in records] == SAMPLE
    lines = [json.loads(x) for x in (din.out / "analysis.jsonl").read_text().splitlines()]
    assert lines == json.loads(json.dumps(records, default=str))
    for r in records:
        assert {"index", "question_id", "db_id", "runs", "verdict", "spider_ex", "bird_ex", "category", "step",
                "operation", "detail", "pred_actions", "gold_actions"} <= set(r)
        if r["db_id"] == "wta_1":
            assert r["category"] is None and "wta_1" in r["skipped"]
            continue
        assert r["category"] in CATEGORIES
        if r["category"] != "correct":
            assert isinstance(r["step"], int) and r["step"] >= 0 and r["detail"], r
            assert r["runs"] is False or r["verdict"]["relation"] != "equal"
        else:
            assert r["gold_actions"]


def test_the_summary_counts_and_shares(din):
    s = json.loads((din.out / "summary.json").read_text())
    no_database = sum(r["db_id"] == "wta_1" for r in din.records)
    assert no_database >= 2 and s["questions"] == len(SAMPLE)
    assert s["skipped"] == no_database and s["scored"] == len(SAMPLE) - no_database
    assert sum(c["count"] for c in s["categories"].values()) + s["tie_at_limit"]["count"] == s["scored"]
    assert s["accuracy"]["querygym"] == round(s["categories"]["correct"]["count"] / s["scored"], 4)
    assert 0.7 < s["accuracy"]["querygym"] < 0.95 and 0.7 < s["accuracy"]["spider_ex"] < 0.95
    assert set(s["by_difficulty"]) == {"easy", "medium", "hard", "extra"}
    assert "concert_singer" in s["by_database"] and s["taxonomy"] == CATEGORIES
    report = (din.out / "report.md").read_text()
    assert "| filter |" in report and "## Wrong predictions" in report and "Spider EX" in report
    assert (din.out / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_a_rerun_resumes_and_one_worker_agrees_with_two(din, tasks, tmp_path):
    out = tmp_path / "copy"  # a copy: the shared fixture's files stay as the first run wrote them
    shutil.copytree(din.out, out)
    again = analyze(DIN, tasks, out, only=SAMPLE)
    assert again.summary["analysed_now"] == 0 and again.records == din.records
    (out / "questions" / f"{SAMPLE[3]}.json").unlink()
    again = analyze(DIN, tasks, out, only=SAMPLE)
    assert again.summary["analysed_now"] == 1
    strip = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in again.records]
    assert strip == [{k: v for k, v in r.items() if k != "elapsed_s"} for r in din.records]
    with pytest.raises(querygym.QueryGymError, match="holds an analysis of other predictions"):
        analyze(C3, tasks, out, only=SAMPLE)


def test_sql_strings_in_question_order(tasks):
    questions = [t.gold_sql for t in tasks][:-1]  # one short: the file does not line up
    with pytest.raises(PredictionsError, match="1033 predictions for 1034 questions"):
        analyze(questions, tasks)


def test_the_cli_analyses_compares_and_refuses(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["analyze", "--predictions", str(DIN), *DATASET, "--limit", "40", "--out", str(a), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "40 of 40 questions scored" in out and "querygym" in out
    assert main(["analyze", "--predictions", str(C3), *DATASET, "--limit", "40", "--out", str(b), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["analyze", "--compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    text = capsys.readouterr().out
    comparison = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert comparison["questions"] == 40 and "only A right" in text
    assert (comparison["both_right"] + comparison["both_wrong"] + len(comparison["only_a_right"])
            + len(comparison["only_b_right"])) == 40
    short = tmp_path / "short.sql"
    short.write_text("SELECT 1\n")
    assert main(["analyze", "--predictions", str(short), *DATASET, "--out", str(tmp_path / "c")]) == 2
    assert "querygym: error:" in capsys.readouterr().err
