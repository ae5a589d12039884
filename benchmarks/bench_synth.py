"""Coverage of synthesised databases: the share of gold queries that run and return a non-empty
result on databases synthesised from each dataset's schemas and gold queries, and the share of
those the oracle agent replays to the terminal reward.

    PYTHONPATH=. python benchmarks/bench_synth.py [--rows N] [--seed S] [--only NAME] [--oracle N]
    PYTHONPATH=. python benchmarks/bench_synth.py --neighbours 5      # predictions caught by neighbours

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
        conn.set_progress_handler(lambda d=deadline: 1 if time.monotonic() > d else 0, 10000)
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", action="append")
    parser.add_argument("--out", help="keep the databases here (default: a temporary folder)")
    parser.add_argument("--oracle", type=int, default=0, metavar="N",
                        help="also replay the oracle on up to N covered tasks per dataset (0: none, -1: all)")
    parser.add_argument("--neighbours", type=int, default=0, metavar="K",
                        help="instead: K neighbours of each real Spider dev database, and how many of the shared "
                             "systems' predictions right on the real database are wrong on one")
    args = parser.parse_args(argv)
    if args.neighbours:
        out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="synth-neighbours-"))
        print(json.dumps(neighbour_catch(args.neighbours, args.rows, args.seed, out), indent=1))
        return 0
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
            entry["oracle"] = oracle_replay(tasks, out, None if args.oracle < 0 else args.oracle)
        report[name] = entry
        print(json.dumps({name: entry}), flush=True)
    return 0


def oracle_replay(tasks, out: Path, limit: int | None):
    """The oracle on the tasks whose gold query is non-empty on the synthesised databases under ``out``:
    ``(reached the terminal reward, tried, gold SQL did not decompose)``."""
    from querygym import QueryGymEnv
    from querygym.agents.oracle import oracle_scripts
    from querygym.converters.common import find_sqlite
    from querygym.converters.tasks import TaskSet

    playable = []
    for task in tasks:
        db = find_sqlite(out, task.db_id)
        if db is None:
            continue
        task.db, task.problem, task._target = db, None, None
        try:
            if not task.target_result(timeout_s=10).rows:
                continue
        except Exception:
            continue
        playable.append(task)
    if limit is not None:
        playable = playable[:limit]
    scripts, failures = oracle_scripts(playable)
    env = QueryGymEnv(TaskSet(playable, name="synth"), max_steps=60, timeout_s=10.0)
    solved = 0
    try:
        for task in playable:
            script = scripts.get(str(task.id))
            if script is None:
                continue
            env.reset(options={"task_id": task.id})
            for action in script:
                _, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    solved += bool(info["solved"])
                    break
    finally:
        env.close()
    return {"solved": solved, "tried": len(playable), "rate": round(solved / len(playable), 4) if playable else None,
            "not_decomposed": len(failures)}


def neighbour_catch(k: int, rows: int, seed: int, out: Path):
    """With ``k`` neighbours of each real Spider dev database: how many of each shared system's
    predictions that are right on the real database are wrong on some neighbour."""
    from querygym.converters import load_spider
    from querygym.scoring.compare import compare_tables
    from querygym.synth import neighbour_paths, synthesise_dataset

    spider = DATA / "spider_dev"
    tasks = load_spider(spider / "dev.json", tables=spider / "tables.json", keep_missing=True)
    with_db = [t for t in tasks if t.db]
    synthesise_dataset(with_db, out, rows=rows, seed=seed, neighbours=k)
    report = {}
    for system_dir in sorted((DATA / "predictions" / "spider_dev").iterdir()):
        predictions = (system_dir / "pred.sql").read_text(encoding="utf-8").splitlines()
        right = caught = caught_limit = 0
        examples = []
        for task in tasks:
            if not task.db:
                continue
            pred = predictions[int(task.id)] if int(task.id) < len(predictions) else ""
            ordered = task.target_ordered
            real_gold, real_pred = _run(task.db, task.gold_sql), _run(task.db, pred)
            if real_gold is None or real_pred is None or \
                    compare_tables(real_pred, real_gold, ordered=ordered).relation != "equal":
                continue
            right += 1
            wrong_on = []
            for index, path in enumerate(neighbour_paths(out, task.db_id)):
                gold, got = _run(path, task.gold_sql), _run(path, pred)
                if gold is None:
                    continue
                if got is None or compare_tables(got, gold, ordered=ordered).relation != "equal":
                    wrong_on.append(index + 1)
            if wrong_on:
                caught += 1
                caught_limit += " limit " in task.gold_sql.lower()
                if len(examples) < 12:
                    examples.append({"id": task.id, "neighbours": wrong_on, "gold": task.gold_sql, "pred": pred})
        report[system_dir.name] = {"right_on_real": right, "wrong_on_a_neighbour": caught,
                                   "of_which_gold_has_limit": caught_limit, "examples": examples}
    return report


def _run(path, sql):
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            deadline = time.monotonic() + 10
            conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10000)
            conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
            return conn.execute(sql).fetchall()
    except (sqlite3.Error, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
