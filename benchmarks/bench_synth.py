"""Coverage of synthesised databases: the share of gold queries that run and return a non-empty
result on databases synthesised from each dataset's schemas and gold queries, and the share of
those the oracle agent replays to the terminal reward.

    PYTHONPATH=. python benchmarks/bench_synth.py [--rows N] [--seed S] [--only NAME] [--oracle N]

Datasets (from ../shared/data): BIRD dev (dev.json + dev_tables.json), BIRD mini-dev, FIBEN, and
the Spider dev schemas (166 in tables.json; the 1034 questions).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def datasets():
    bird = DATA / "bird_dev_questions"
    return {
        "bird_dev": dict(path=bird / "dev.json", tables=bird / "dev_tables.json", format="bird"),
        "bird_mini_dev": dict(path=bird / "mini_dev_sqlite.json", tables=bird / "dev_tables.json", format="bird"),
        "fiben": dict(path=DATA / "fiben" / "FIBEN_Queries.json", tables=None, format="fiben"),
        "spider_dev": dict(path=DATA / "spider_dev" / "dev.json", tables=DATA / "spider_dev" / "tables.json",
                           format="spider"),
    }


def coverage(tasks, root: Path, timeout_s: float = 10.0):
    """(runs and non-empty, runs, total, failures by reason) of the gold queries on ``root``'s databases."""
    ok = ran = 0
    failures: dict[str, int] = {}
    connections: dict[str, sqlite3.Connection] = {}
    for task in tasks:
        path = root / task.db_id / f"{task.db_id}.sqlite"
        if task.db_id not in connections:
            connections[task.db_id] = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn = connections[task.db_id]
        deadline = time.monotonic() + timeout_s
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10000)
        try:
            rows = conn.execute(task.gold_sql).fetchmany(1)
        except sqlite3.Error as exc:
            reason = str(exc).split(":")[0]
            failures[reason] = failures.get(reason, 0) + 1
            continue
        ran += 1
        if rows:
            ok += 1
        else:
            failures["empty"] = failures.get("empty", 0) + 1
    for conn in connections.values():
        conn.close()
    return ok, ran, len(tasks), failures


def oracle_rate(tasks, root: Path, limit: int | None):
    """The share of tasks whose gold query is non-empty on the synthesised database that the oracle solves."""
    from querygym.agents.oracle import OracleAgent
    from querygym.converters import load_bird
    from querygym.runs.runner import run_agent

    raise NotImplementedError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", action="append")
    parser.add_argument("--out", help="keep the databases here (default: a temporary folder)")
    parser.add_argument("--oracle", type=int, default=0, metavar="N",
                        help="also replay the oracle on up to N covered tasks per dataset (0: none, -1: all)")
    args = parser.parse_args(argv)
    from querygym.converters import load_spider, load_tasks
    from querygym.synth import synthesise_dataset

    report = {}
    for name, spec in datasets().items():
        if args.only and name not in args.only:
            continue
        kwargs = {"tables": spec["tables"]} if spec["tables"] else {}
        if spec["format"] == "spider":  # every question, wta_1's too (its schema is in tables.json)
            tasks = load_spider(spec["path"], tables=spec["tables"], keep_missing=True)
        else:
            tasks = load_tasks(spec["path"], format=spec["format"], **kwargs)
        out = Path(args.out) / name if args.out else Path(tempfile.mkdtemp(prefix=f"synth-{name}-"))
        start = time.perf_counter()
        written = synthesise_dataset(tasks, out, rows=args.rows, seed=args.seed, real_pools=False)
        took = time.perf_counter() - start
        ok, ran, total, failures = coverage(tasks, out)
        entry = {"databases": len(written), "questions": total, "run": ran, "non_empty": ok,
                 "coverage": round(ok / total, 4) if total else None, "seconds": round(took, 1),
                 "failures": dict(sorted(failures.items(), key=lambda kv: -kv[1])[:8]), "out": str(out)}
        if args.oracle:
            entry["oracle"] = oracle_replay(tasks, out, spec, None if args.oracle < 0 else args.oracle)
        report[name] = entry
        print(json.dumps({name: entry}), flush=True)
    return 0


def oracle_replay(tasks, out: Path, spec, limit):
    """(solved, tried) for the oracle on tasks whose gold query has a non-empty answer on ``out``."""
    from querygym.agents.oracle import OracleAgent
    from querygym.converters import load_tasks
    from querygym.runs.runner import run_agent

    raise NotImplementedError


if __name__ == "__main__":
    sys.exit(main())
