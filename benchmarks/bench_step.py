"""How much does a step of the environment cost over running the same SQL on the engine directly?

For every built-in reference script (and, with --spider, the Spider dev databases' first
questions played by a fixed script), each relational-algebra step is timed through
``env.step`` (parse, plan, validate, compile, execute, compare with the target, render the
observation) and the SQL it compiled is then timed on a plain read-only sqlite3 connection.

    python benchmarks/bench_step.py [--repeats 5]

Prints the median of each and the ratio; machines are noisy, so compare ratios from one run.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time

import querygym
from querygym.env import QueryGymEnv


def direct_seconds(db: str, sql: str, repeats: int) -> float:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            conn.execute(sql).fetchall()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    tasks = querygym.builtin_tasks()
    refs = querygym.builtin_references()
    env = QueryGymEnv(tasks)
    step_times, direct_times, ratios, explore_times = [], [], [], []
    for _ in range(args.repeats):
        for task in tasks:
            env.reset(options={"task_id": task.id})
            for action in refs[str(task.id)]:
                t0 = time.perf_counter()
                obs, reward, terminated, truncated, info = env.step(action)
                elapsed = time.perf_counter() - t0
                if info["kind"] == "exploration":
                    explore_times.append(elapsed)
                elif info["kind"] == "cte":
                    direct = direct_seconds(task.db, info["sql"], 1)
                    step_times.append(elapsed)
                    direct_times.append(direct)
                    ratios.append(elapsed / direct if direct > 0 else float("inf"))
                if terminated:
                    break
    env.close()
    med = statistics.median
    print(f"operation steps timed: {len(step_times)} ({args.repeats} passes over {len(tasks)} built-in tasks)")
    print(f"{'':32}{'median':>12}{'p90':>12}")
    q = lambda xs: sorted(xs)[int(0.9 * (len(xs) - 1))]  # noqa: E731
    print(f"{'env.step (operation), ms':32}{med(step_times) * 1e3:12.3f}{q(step_times) * 1e3:12.3f}")
    print(f"{'same SQL on sqlite3, ms':32}{med(direct_times) * 1e3:12.3f}{q(direct_times) * 1e3:12.3f}")
    print(f"{'env.step / direct (per step)':32}{med(ratios):12.2f}{q(ratios):12.2f}")
    print(f"{'overhead per step, ms':32}{(med(step_times) - med(direct_times)) * 1e3:12.3f}")
    if explore_times:
        print(f"{'env.step (exploration), ms':32}{med(explore_times) * 1e3:12.3f}{q(explore_times) * 1e3:12.3f}")
        print(f"exploration steps per second: {1 / med(explore_times):.0f}")


if __name__ == "__main__":
    main()
