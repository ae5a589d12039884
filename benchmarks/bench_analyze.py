"""``querygym analyze`` on Spider dev: time with 1 and 2 workers, and its `correct` share against an
independent execution accuracy.

    python benchmarks/bench_analyze.py [--systems din_sql_gpt4 c3_gpt35] [--workers 1 2]

For each system's ``pred.sql`` (../shared/data/predictions/spider_dev/<system>/) it runs a fresh
analysis per worker count and prints the wall time, then computes an execution accuracy with
nothing of querygym: plain ``sqlite3``, every value a float rounded to 4 decimals when it is a
number, rows compared as multisets, column order ignored (every permutation of the prediction's
columns is tried), row order ignored.  It prints that next to the analysis's ``correct`` share,
Spider EX and BIRD EX.  Questions without a database (wta_1) are left out of both.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

import querygym

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SPIDER = DATA / "spider_dev"
PREDICTIONS = DATA / "predictions" / "spider_dev"


def _norm(value):
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return round(float(value), 4)
    return value


def _bag(rows, order):
    return Counter(tuple(_norm(row[i]) for i in order) for row in rows)


def independent_match(pred, gold) -> bool:
    """Multiset of rows equal under some column permutation; floats to 4 decimals; row order ignored."""
    if not pred and not gold:
        return True
    width = len(gold[0]) if gold else len(pred[0])
    if (pred and len(pred[0]) != width) or len(pred) != len(gold):
        return False
    target = _bag(gold, range(width))
    return any(_bag(pred, perm) == target for perm in itertools.permutations(range(width)))


def independent_ex(pred_file: Path) -> tuple[int, int]:
    """(matches, questions with a database) of one predictions file."""
    questions = json.loads((SPIDER / "dev.json").read_text())
    preds = pred_file.read_text().splitlines()
    hits = total = 0
    conns: dict[str, sqlite3.Connection] = {}
    for q, sql in zip(questions, preds):
        db = SPIDER / "database" / q["db_id"] / f"{q['db_id']}.sqlite"
        if not db.is_file():
            continue
        total += 1
        conn = conns.setdefault(q["db_id"], sqlite3.connect(f"file:{db}?mode=ro", uri=True))
        conn.text_factory = lambda b: b.decode(errors="replace")
        gold = conn.execute(q["query"]).fetchall()
        try:
            got = conn.execute(sql.split("\t")[0].strip().rstrip(";")).fetchall()
        except sqlite3.Error:
            continue
        hits += independent_match(got, gold)
    return hits, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", nargs="+", default=["din_sql_gpt4", "c3_gpt35"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    args = parser.parse_args()
    tasks = querygym.load_tasks(SPIDER / "dev.json", db_root=SPIDER / "database", tables=SPIDER / "tables.json")
    for system in args.systems:
        pred_file = PREDICTIONS / system / "pred.sql"
        summary = None
        for workers in args.workers:
            with tempfile.TemporaryDirectory() as out:
                started = time.perf_counter()
                result = querygym.analyze(pred_file, tasks, out, workers=workers)
                elapsed = time.perf_counter() - started
            summary = result.summary
            print(f"{system:14} workers {workers}: {summary['questions']} predictions ({summary['scored']} scored) "
                  f"in {elapsed:.1f} s")
        hits, total = independent_ex(pred_file)
        acc = summary["accuracy"]
        print(f"{system:14} correct {acc['querygym']:.2%}  independent EX {hits / total:.2%} ({hits}/{total})  "
              f"difference {100 * (acc['querygym'] - hits / total):+.2f} points  Spider EX {acc['spider_ex']:.2%}  "
              f"BIRD EX {acc['bird_ex']:.2%}")
        wrong = {k: v["count"] for k, v in summary["categories"].items() if k != "correct" and v["count"]}
        print(f"{system:14} wrong: " + ", ".join(f"{k} {v}" for k, v in sorted(wrong.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
