"""How a step's cost grows with the depth of the plan, on every engine.

A chain of ``--depth`` filters is built on the built-in enterprise database, each reading the
table the previous step made (``T_k`` from ``T_{k-1}``), so the step at depth k compiles and
runs a WITH chain of k+1 intermediate tables.  For every engine available (sqlite always;
postgres and duckdb with their extras) the step through ``env.step`` (median over the repeats),
averaged over depths 1-8 and over the last eight depths, is printed, with their ratio; and the
same for the bare engine time of each step's whole statement (run directly on the connection
after the episode) and for the compilation the step does (the SQL it shows, and the statement
it runs over the results kept so far).

    python benchmarks/bench_depth.py [--depth 40] [--repeats 5] [--window 8] [--engines sqlite,postgres,duckdb]

Machines are noisy: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import querygym
from querygym.env.environment import QueryGymEnv

FIRST = ["perform_filter", "products", "products.list_price > -1",
         "products.product_id, products.product_name, products.category, products.list_price"]


def chain(depth: int) -> list[str]:
    steps = [json.dumps(FIRST)]
    for k in range(1, depth + 1):
        steps.append(json.dumps(["perform_filter", f"T_{k - 1}", f"T_{k - 1}.list_price > -{k + 1}"]))
    return steps


def time_engine(engine: str, depth: int, repeats: int) -> dict[str, list[float]]:
    tasks = querygym.builtin_tasks()
    env = QueryGymEnv(tasks, dialect=engine, max_steps=depth + 10)
    per_depth: dict[str, list[list[float]]] = {"step": [[] for _ in range(depth + 1)],
                                               "engine": [[] for _ in range(depth + 1)],
                                               "compile": [[] for _ in range(depth + 1)]}
    spent: list[float] = []  # compilation inside the step being timed
    shown: list[str] = []  # each step's SQL, as the episode shows it
    try:
        for _ in range(repeats):
            env.reset(options={"task_id": tasks.tasks[0].id})
            dialect = env.episode.dialect
            original = dialect.compile

            def timed_compile(*args, **kwargs):
                t0 = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    spent.append(time.perf_counter() - t0)

            dialect.compile = timed_compile  # on this object only: what the step itself compiles
            try:
                for k, action in enumerate(chain(depth)):
                    spent.clear()
                    t0 = time.perf_counter()
                    _, _, terminated, _, info = env.step(action)
                    per_depth["step"][k].append(time.perf_counter() - t0)
                    per_depth["compile"][k].append(sum(spent))
                    if info["kind"] != "cte":
                        raise SystemExit(f"{engine}: step {k} failed: {info['error']}")
                    shown.append(info["sql"])
                    if terminated:
                        break
            finally:
                del dialect.compile
            # the bare engine on each step's whole statement, after the episode: a 40-table
            # statement run between two steps would weigh on the next step's time
            for k, sql in enumerate(shown):
                t0 = time.perf_counter()
                env.episode.backend.execute(sql, max_rows=env.max_result_rows)
                per_depth["engine"][k].append(time.perf_counter() - t0)
            shown.clear()
    finally:
        env.close()
    return {key: [statistics.median(v) for v in values] for key, values in per_depth.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--engines", default="sqlite,postgres,duckdb")
    parser.add_argument("--window", type=int, default=8,
                        help="depths averaged at each end (whole cycles of keeping results: 4 steps, 2 on PostgreSQL)")
    args = parser.parse_args()
    for engine in args.engines.split(","):
        try:
            times = time_engine(engine, args.depth, args.repeats)
        except querygym.errors.QueryGymError as exc:
            print(f"{engine}: unavailable ({exc})")
            continue
        w = args.window
        for key in ("step", "engine", "compile"):
            # the mean over a window of depths: every few steps a result is kept (a step that costs
            # more), so a window of whole keeping cycles compares like with like
            shallow = statistics.mean(times[key][1:1 + w]) * 1e3
            deep = statistics.mean(times[key][-w:]) * 1e3
            print(f"{engine:8s} {key:8s} depth 1-{w}: {shallow:7.3f} ms   depth {args.depth - w + 1}-{args.depth}: "
                  f"{deep:7.3f} ms   ratio {deep / shallow:5.2f}x")


if __name__ == "__main__":
    main()
