"""Loading benchmark databases into PostgreSQL and DuckDB, and one plan's cost on each engine.

1. Loading: the 19 Spider dev SQLite databases are copied into a fresh private PostgreSQL
   server and into fresh DuckDB files (a new cache folder), timed per engine; then loaded again
   (idempotent: nothing is copied).  The baseline is reading every row of every table through
   Python's sqlite3 (what any copy must at least do); ratios are to that baseline.  The
   PostgreSQL server's start-up is timed apart.
2. Cross-engine replay: the oracle trajectories of Spider dev (or ``--limit N`` of them) are
   replayed on every engine with :func:`querygym.bench.engines.bench_engines`; the agreement per
   engine pair and the median per-step time of each engine, with its ratio to SQLite's on the
   steps that ran on both, are printed.

    python benchmarks/bench_engines.py [--spider ../shared/data/spider_dev] [--limit N] [--out DIR]

Machines are noisy: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_SPIDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider_dev"


def read_all(files: list[Path]) -> tuple[float, int]:
    started = time.perf_counter()
    rows = 0
    for path in files:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                               "AND name NOT LIKE 'sqlite_%'")]
            con.text_factory = bytes  # some Spider text is not UTF-8; the baseline must not fail on it
            for name in names:
                rows += len(con.execute(f'SELECT * FROM "{name}"').fetchall())
    return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spider", type=Path, default=DEFAULT_SPIDER)
    parser.add_argument("--limit", type=int, default=None, help="replay only the first N questions")
    parser.add_argument("--out", type=Path, default=None, help="also write engines.json and details here")
    args = parser.parse_args()
    files = sorted((args.spider / "database").glob("*/*.sqlite"))
    if not files:
        sys.exit(f"no Spider databases under {args.spider / 'database'}")
    os.environ["QUERYGYM_CACHE"] = tempfile.mkdtemp(prefix="querygym-bench-cache-")
    os.environ.pop("QUERYGYM_POSTGRES_DATA", None)

    from querygym.dialects.postgres import embedded_server
    from querygym.dialects import load_database

    baseline, rows = read_all(files)
    print(f"{len(files)} Spider dev databases, {rows} rows; reading them all with sqlite3: {baseline:.3f} s")
    t0 = time.perf_counter()
    embedded_server()
    print(f"private PostgreSQL server start: {time.perf_counter() - t0:.2f} s")
    print(f"{'engine':10}{'first load s':>14}{'x baseline':>12}{'again s':>10}{'tables':>8}{'rows':>9}")
    for engine in ("postgres", "duckdb"):
        t0 = time.perf_counter()
        results = [load_database(path, engine) for path in files]
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = [load_database(path, engine) for path in files]
        second = time.perf_counter() - t0
        assert all(r.loaded for r in results) and not any(r.loaded for r in again)
        print(f"{engine:10}{first:>14.2f}{first / baseline:>12.1f}{second:>10.3f}"
              f"{sum(r.tables for r in results):>8}{sum(r.rows for r in results):>9}")

    import querygym
    from querygym.bench.engines import bench_engines, format_engines_report
    from querygym.agents.oracle import oracle_scripts

    tasks = querygym.load_bird(args.spider / "dev_bird_format_19db.json", args.spider / "database",
                               tables=args.spider / "tables_19db.json")
    if args.limit:
        tasks = tasks.select(tasks.ids[: args.limit])
    scripts, _ = oracle_scripts(t for t in tasks if t.playable)
    report = bench_engines(tasks, scripts, args.out, engines=["sqlite", "postgres", "duckdb"])
    print(format_engines_report(report))


if __name__ == "__main__":
    main()
