"""How a step's cost grows with the depth of the plan, on every engine.

A chain of ``--depth`` filters is built on the built-in enterprise database, each reading the
table the previous step made (``T_k`` from ``T_{k-1}``), so the step at depth k compiles and
runs a WITH chain of k+1 intermediate tables.  For every engine available (sqlite always;
postgres and duckdb with their extras) the median step through ``env.step`` at depths 1-3 and
at the last three depths is printed, with their ratio, and the same for the bare engine time
of the compiled SQL (run again directly on the connection) and for compilation alone.

    python benchmarks/bench_depth.py [--depth 40] [--repeats 5] [--engines sqlite,postgres,duckdb]

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
    try:
        for _ in range(repeats):
            env.reset(options={"task_id": tasks.tasks[0].id})
            for k, action in enumerate(chain(depth)):
                t0 = time.perf_counter()
                _, _, terminated, _, info = env.step(action)
                per_depth["step"][k].append(time.perf_counter() - t0)
                if info["kind"] != "cte":
                    raise SystemExit(f"{engine}: step {k} failed: {info['error']}")
                episode = env.episode
                t0 = time.perf_counter()
                episode.backend.execute(info["sql"], max_rows=env.max_result_rows)
                per_depth["engine"][k].append(time.perf_counter() - t0)
                # compilation at this depth as the step does it: the newest node not yet rendered,
                # its lineage as the plan's cache holds it
                node = episode.plan.newest
                cache = getattr(episode.plan, "rendered", {})
                for key in [key for key in cache if key[1] == node.id]:
                    del cache[key]
                t0 = time.perf_counter()
                episode.dialect.compile(episode.plan, node, pretty=True)
                per_depth["compile"][k].append(time.perf_counter() - t0)
                if terminated:
                    break
    finally:
        env.close()
    return {key: [statistics.median(v) for v in values] for key, values in per_depth.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--engines", default="sqlite,postgres,duckdb")
    args = parser.parse_args()
    for engine in args.engines.split(","):
        try:
            times = time_engine(engine, args.depth, args.repeats)
        except querygym.errors.QueryGymError as exc:
            print(f"{engine}: unavailable ({exc})")
            continue
        for key in ("step", "engine", "compile"):
            shallow = statistics.median(times[key][1:4]) * 1e3
            deep = statistics.median(times[key][-3:]) * 1e3
            print(f"{engine:8s} {key:8s} depth 1-3: {shallow:7.3f} ms   depth {args.depth - 2}-{args.depth}: "
                  f"{deep:7.3f} ms   ratio {deep / shallow:5.2f}x")


if __name__ == "__main__":
    main()
