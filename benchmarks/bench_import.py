"""How long ``import querygym`` takes in a fresh interpreter, and what it loads.

    python benchmarks/bench_import.py [--runs N]

Each run starts a new Python process (so nothing is cached in ``sys.modules``) and times the
import alone; the median of N runs is printed with the bare interpreter's start-up for scale,
and the heavy libraries the import pulls in (the goal: none but Gymnasium, which registering the
environment needs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

PROBE = r"""
import sys, time, json
t = time.perf_counter()
import querygym
elapsed = time.perf_counter() - t
heavy = sorted(m for m in ("pandas", "sqlalchemy", "sqlglot", "networkx", "yaml", "numpy", "gymnasium", "duckdb",
                           "psycopg", "openai", "ray", "matplotlib") if m in sys.modules)
print(json.dumps({"seconds": elapsed, "heavy": heavy}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results = [json.loads(subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                                         check=True).stdout) for _ in range(args.runs)]
    seconds = statistics.median(r["seconds"] for r in results)
    touch = statistics.median(
        json.loads(subprocess.run([sys.executable, "-c", "import time,json;t=time.perf_counter();import gymnasium;"
                                   "print(json.dumps(time.perf_counter()-t))"], capture_output=True, text=True,
                                  check=True).stdout) for _ in range(args.runs))
    print(f"import querygym: {seconds * 1000:.0f} ms median of {args.runs} fresh interpreters "
          f"(goal <= 300 ms); import gymnasium alone: {touch * 1000:.0f} ms ({seconds / touch:.2f}x)")
    print(f"heavy modules loaded by the import: {', '.join(results[0]['heavy']) or 'none'}")


if __name__ == "__main__":
    main()
