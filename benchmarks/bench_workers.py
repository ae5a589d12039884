"""How much faster ``querygym run`` gets with more worker processes.

Plays the oracle over a BIRD-format dataset (Spider dev by default) with 1 and with 2 workers
(or the counts given) into fresh output folders and prints the wall times and the speed-up.

    python benchmarks/bench_workers.py [--bird QUESTIONS --db-root DIR] [--workers 1,2] [--limit N]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import querygym
from querygym.runs.runner import run_agent

SPIDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider_dev"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bird", default=str(SPIDER / "dev_bird_format_19db.json"))
    parser.add_argument("--db-root", default=str(SPIDER / "database"))
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--agent", default="oracle")
    args = parser.parse_args()
    tasks = querygym.load_bird(args.bird, args.db_root)
    if args.limit:
        tasks = tasks.select(tasks.ids[: args.limit])
    times = {}
    for workers in map(int, args.workers.split(",")):
        out = Path(tempfile.mkdtemp(prefix=f"qg-bench-w{workers}-"))
        try:
            started = time.perf_counter()
            summary = run_agent(tasks, {"name": args.agent}, out, workers=workers, progress=None)
            times[workers] = time.perf_counter() - started
        finally:
            shutil.rmtree(out, ignore_errors=True)
        print(f"workers={workers}: {times[workers]:.1f} s, {summary['solved']}/{summary['episodes']} solved "
              f"({summary['success_rate']:.1%})")
    base = min(times)
    for workers, seconds in times.items():
        if workers != base:
            print(f"speed-up {workers} vs {base} workers: {times[base] / seconds:.2f}x")


if __name__ == "__main__":
    main()
