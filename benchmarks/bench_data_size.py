"""How a step's cost grows with the data: a fact table with two dimensions, 10^4 rows and up.

A SQLite star schema is generated in a temporary folder for each size (``sales`` with
``--max-rows`` rows at most, ``customers`` and ``products``); a 6-step episode joins, filters,
aggregates, orders and limits it.  For each size and engine the time of every step through
``env.step`` is printed, with the sum of each step's own work (the step's operation alone on its
input kept as a temporary table, SQLite only) and the ratio of the episode to that sum.
Then, at the largest size, on SQLite:

* a step whose result has the size of the fact table: the rise of peak RSS it causes
  (measured in a fresh process);
* comparing a 1,000-row table with a target of min(size, 1M) rows, with the target encoded
  once (what the environment does) and from its rows each time.

    python benchmarks/bench_data_size.py [--max-rows 1000000] [--engines sqlite,duckdb,postgres]

5x10^6 rows take several minutes to generate and play: ``--max-rows 5000000``.
Machines are noisy: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import querygym
from querygym.env.environment import QueryGymEnv
from querygym.scoring.compare import compare_tables

GOLD = ("SELECT c.region, SUM(s.amount) AS total FROM sales AS s JOIN products AS p ON s.product_id = p.product_id "
        "JOIN customers AS c ON s.customer_id = c.customer_id WHERE p.category = 'tools' "
        "GROUP BY c.region ORDER BY total DESC LIMIT 3")
EPISODE = [
    ["perform_join", ["sales", "products"], ["sales.product_id = products.product_id"], ["INNER JOIN"],
     "sales.customer_id, sales.amount, products.category"],
    ["perform_join", ["T_0", "customers"], ["T_0.customer_id = customers.customer_id"], ["INNER JOIN"],
     "T_0.amount, T_0.category, customers.region"],
    ["perform_filter", "T_1", "T_1.category = 'tools'"],
    ["perform_aggregate", "T_2", "T_2.region", "T_2.region, SUM(T_2.amount) AS total"],
    ["perform_order_by", "T_3", "T_3.total DESC"],
    ["perform_limit", "T_4", "3"],
]
WIDE = ["perform_projection", "sales", "sales.sale_id, sales.customer_id, sales.product_id, sales.amount"]


def build(folder: Path, rows: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    db = folder / "star" / "star.sqlite"
    db.parent.mkdir(parents=True)
    con = sqlite3.connect(db)
    con.executescript("""
        CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT, region TEXT);
        CREATE TABLE products (product_id INTEGER PRIMARY KEY, name TEXT, category TEXT);
        CREATE TABLE sales (sale_id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers,
                            product_id INTEGER REFERENCES products, quantity INTEGER, amount REAL);
    """)
    regions = ["north", "south", "east", "west", "centre"]
    categories = ["tools", "toys", "food", "books"]
    con.executemany("INSERT INTO customers VALUES (?, ?, ?)",
                    [(i, f"customer {i}", regions[i % len(regions)]) for i in range(1000)])
    con.executemany("INSERT INTO products VALUES (?, ?, ?)",
                    [(i, f"product {i}", categories[i % len(categories)]) for i in range(100)])
    chunk = 100_000
    for start in range(0, rows, chunk):
        con.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?)",
                        [(i, rng.randrange(1000), rng.randrange(100), rng.randrange(1, 10),
                          round(rng.random() * 100, 2)) for i in range(start, min(rows, start + chunk))])
    con.commit()
    con.close()
    questions = folder / "questions.json"
    questions.write_text(json.dumps([{"question_id": 0, "db_id": "star", "question": "Top regions by tools sales?",
                                      "evidence": "", "SQL": GOLD},
                                     {"question_id": 1, "db_id": "star", "question": "Every sale.", "evidence": "",
                                      "SQL": "SELECT sale_id, customer_id, product_id, amount FROM sales "
                                             f"LIMIT {min(rows, 1_000_000)}"}]))
    return questions


def own_work(db: Path, env: QueryGymEnv) -> list[float]:
    """Each step's operation alone, its inputs kept as temporary tables (SQLite, temp store in memory)."""
    plan = env.episode.plan
    dialect = env.episode.dialect
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.execute("PRAGMA temp_store = MEMORY")
    times = []
    for node in plan:
        body = node.expression.sql(dialect=dialect.sqlglot_dialect, identify=True)
        t0 = time.perf_counter()
        con.execute(f'CREATE TEMP TABLE "{node.id}" AS {body}')
        times.append(time.perf_counter() - t0)
    con.close()
    return times


def play(questions: Path, engine: str) -> tuple[list[float], QueryGymEnv]:
    tasks = querygym.load_bird(questions, questions.parent)
    env = QueryGymEnv(tasks, dialect=engine, timeout_s=600, max_steps=20)
    env.reset(options={"task_id": 0})
    times = []
    for action in EPISODE:
        t0 = time.perf_counter()
        _, _, _, _, info = env.step(json.dumps(action))
        times.append(time.perf_counter() - t0)
        if info["kind"] != "cte":
            raise SystemExit(f"{engine}: {action[0]} failed: {info['error']}")
    return times, env


RSS_PROBE = """
import json, sys
import querygym
from querygym.env.environment import QueryGymEnv

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

tasks = querygym.load_bird(sys.argv[1], sys.argv[2])
env = QueryGymEnv(tasks, timeout_s=600, max_result_rows=int(sys.argv[4]))
env.reset(options={"task_id": 0})
env.step('["get_tables"]')
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:  # the peak (VmHWM) starts again from here
    f.write("5")
_, _, _, _, info = env.step(sys.argv[3])
print(json.dumps({"rise_mb": status("VmHWM") - before, "rows": info.get("row_count")}))
"""


def rss_rise(questions: Path, max_result_rows: int) -> dict:
    """The rise of peak RSS over the step (Linux: VmHWM reset through /proc/self/clear_refs)."""
    out = subprocess.run([sys.executable, "-c", RSS_PROBE, str(questions), str(questions.parent), json.dumps(WIDE),
                          str(max_result_rows)], capture_output=True, text=True, env={**os.environ}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare_big_target(questions: Path) -> dict:
    tasks = querygym.load_bird(questions, questions.parent)
    task = tasks[1]
    target = task.target_result()
    pred = [tuple(r) for r in target.rows[:1000]]
    t0 = time.perf_counter()
    compare_tables(pred, target.rows)
    raw_s = time.perf_counter() - t0
    if not hasattr(task, "prepared_target"):  # a querygym from before the target was encoded once
        return {"target_rows": len(target.rows), "prepare_ms": 0.0, "prepared_ms": raw_s * 1e3,
                "raw_ms": raw_s * 1e3, "relation": "n/a"}
    t0 = time.perf_counter()
    prepared = task.prepared_target()
    prepare_s = time.perf_counter() - t0
    compare_tables(pred, prepared)  # its indexes are built on first use
    t0 = time.perf_counter()
    for _ in range(3):
        relation = compare_tables(pred, prepared).relation
    prepared_s = (time.perf_counter() - t0) / 3
    return {"target_rows": len(target.rows), "prepare_ms": prepare_s * 1e3, "prepared_ms": prepared_s * 1e3,
            "raw_ms": raw_s * 1e3, "relation": relation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default="sqlite,duckdb,postgres")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    sizes = [n for n in (10_000, 100_000, 1_000_000, 5_000_000) if n <= args.max_rows] or [args.max_rows]
    with tempfile.TemporaryDirectory(prefix="qg_star_") as tmp:
        for size in sizes:
            folder = Path(tmp) / str(size)
            t0 = time.perf_counter()
            questions = build(folder, size)
            print(f"\n{size:,} sales rows (generated in {time.perf_counter() - t0:.1f} s)")
            for engine in args.engines.split(","):
                try:
                    times, env = play(questions, engine)
                except querygym.errors.QueryGymError as exc:
                    print(f"  {engine}: unavailable ({exc})")
                    continue
                steps = " ".join(f"{t * 1e3:8.1f}" for t in times)
                line = f"  {engine:8s} steps (ms): {steps}   episode {sum(times):7.2f} s"
                if engine == "sqlite":
                    work = own_work(questions.parent / "star" / "star.sqlite", env)
                    line += f"   own work {sum(work):7.2f} s   ratio {sum(times) / sum(work):5.2f}x"
                after = max(times[4:])
                line += f"   slowest step after the aggregate {after * 1e3:.1f} ms"
                env.close()
                print(line)
        largest = Path(tmp) / str(sizes[-1]) / "questions.json"
        if not args.skip_memory:
            for cap in (100_000, 2 * sizes[-1]):
                rise = rss_rise(largest, cap)
                print(f"step returning {rise['rows']:,} rows (max_result_rows={cap:,}): "
                      f"peak RSS rises {rise['rise_mb']:.0f} MB")
        cmp = compare_big_target(largest)
        print(f"1,000-row table vs {cmp['target_rows']:,}-row target: {cmp['prepared_ms']:.1f} ms with the "
              f"target encoded once ({cmp['prepare_ms']:.0f} ms to encode it, once per task); "
              f"{cmp['raw_ms']:.0f} ms from its rows; ratio {cmp['raw_ms'] / cmp['prepared_ms']:.0f}x "
              f"({cmp['relation']})")


if __name__ == "__main__":
    main()
