"""What a step of the environment costs, on every engine, and how fast a random agent plays.

1. For every built-in reference script, each relational-algebra step is timed through
   ``env.step`` (parse, plan, validate, compile, execute, compare with the target, render) and
   the SQL it compiled is then run again on the same engine connection directly (execute and
   fetch only).  The median of each, their ratio and the median overhead per step are printed
   for every engine that is available (sqlite always; postgres and duckdb with their extras).
2. The random agent plays episodes on the built-in tasks for a fixed number of steps; steps
   per second are printed, with the engine's own share of the time (every statement run and
   fetched, every result kept), the rate querygym's own work alone would allow, and the share
   of the slowest steps (a random agent draws joins that the engine itself takes seconds over),
   and the garbage collections per generation (counts that do not move with the machine's load).

    python benchmarks/bench_step.py [--repeats 3] [--engines sqlite,postgres,duckdb] [--random-steps 2000]

Machines are noisy: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import querygym
from querygym.agents import get as get_agent
from querygym.engine.backend import Backend
from querygym.env.environment import QueryGymEnv


def time_engine(dialect: str, repeats: int) -> dict:
    tasks = querygym.builtin_tasks()
    refs = querygym.builtin_references()
    env = QueryGymEnv(tasks, dialect=dialect, max_steps=100)
    step_s, direct_s, overhead = [], [], []
    try:
        for _ in range(repeats):
            for task in tasks:
                env.reset(options={"task_id": task.id})
                for action in refs[str(task.id)]:
                    t0 = time.perf_counter()
                    obs, reward, terminated, truncated, info = env.step(action)
                    elapsed = time.perf_counter() - t0
                    if info["kind"] == "cte" and info["action"][0].startswith("perform_"):
                        backend = env.episode.backend
                        t1 = time.perf_counter()
                        backend.execute(info["sql"], max_rows=env.max_result_rows)
                        direct = time.perf_counter() - t1
                        step_s.append(elapsed)
                        direct_s.append(direct)
                        overhead.append(elapsed - direct)
                    if terminated or truncated:
                        break
    finally:
        env.close()
    med = statistics.median
    return {"steps": len(step_s), "step_ms": med(step_s) * 1e3, "direct_ms": med(direct_s) * 1e3,
            "ratio": med(s / d for s, d in zip(step_s, direct_s) if d > 0), "overhead_ms": med(overhead) * 1e3}


def random_agent_rate(steps: int, seed: int = 0) -> float:
    """Steps per second of the random agent on the built-in tasks (agent and environment together)."""
    return random_agent_profile(steps, seed)["rate"]


def random_agent_profile(steps: int, seed: int = 0) -> dict:
    """The random agent's steps per second, with where the time went: the engine's own time (every
    statement executed and fetched, every result kept), and the share of the slowest steps."""
    tasks = querygym.builtin_tasks()
    env = QueryGymEnv(tasks, max_steps=30)
    agent = get_agent("random", seed=seed)
    engine_s = [0.0]
    originals = {name: getattr(Backend, name) for name in ("execute", "materialise", "drop")}

    def timed(method):
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                engine_s[0] += time.perf_counter() - started
        return run

    for name, method in originals.items():
        setattr(Backend, name, timed(method))
    # collections per generation and their time: unlike a rate, the counts do not move with the
    # machine's load, so they show a change that allocates more
    collections, gc_s, gc_started = [0, 0, 0], [0.0], [0.0]

    def on_collection(phase: str, info: dict) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            collections[info["generation"]] += 1
            gc_s[0] += time.perf_counter() - gc_started[0]

    gc.callbacks.append(on_collection)
    step_s: list[float] = []
    played = 0
    started = time.perf_counter()
    try:
        i = 0
        while played < steps:
            task = tasks.tasks[i % len(tasks)]
            i += 1
            agent.reset(task)
            obs, info = env.reset(options={"task_id": task.id})
            while played < steps:
                action = agent.act(obs, info)
                t0 = time.perf_counter()
                obs, reward, terminated, truncated, info = env.step(action)
                step_s.append(time.perf_counter() - t0)
                played += 1
                if terminated or truncated:
                    break
        elapsed = time.perf_counter() - started
    finally:
        gc.callbacks.remove(on_collection)
        for name, method in originals.items():
            setattr(Backend, name, method)
        env.close()
    slowest = sorted(step_s, reverse=True)[:max(1, steps // 1000)]
    return {"rate": played / elapsed, "steps": played, "engine_share": engine_s[0] / elapsed,
            "own_rate": played / max(elapsed - engine_s[0], 1e-9), "slowest": len(slowest),
            "slowest_share": sum(slowest) / elapsed, "slowest_ms": slowest[0] * 1e3,
            "collections": tuple(collections), "gc_share": gc_s[0] / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", default="sqlite,postgres,duckdb")
    parser.add_argument("--random-steps", type=int, default=2000)
    args = parser.parse_args()
    print(f"{'engine':10}{'op steps':>10}{'env.step ms':>13}{'direct ms':>11}{'ratio':>8}{'overhead ms':>13}")
    for engine in args.engines.split(","):
        try:
            r = time_engine(engine, args.repeats)
        except (querygym.QueryGymError, ImportError) as exc:
            print(f"{engine:10}  not available: {exc}")
            continue
        print(f"{engine:10}{r['steps']:>10}{r['step_ms']:>13.2f}{r['direct_ms']:>11.2f}{r['ratio']:>8.2f}"
              f"{r['overhead_ms']:>13.2f}")
    if args.random_steps:
        r = random_agent_profile(args.random_steps)
        print(f"random agent: {r['rate']:.0f} env steps per second ({r['steps']} steps on the built-in tasks)")
        print(f"  the database's time (statements executed, their rows fetched through the driver into arrays, "
              f"results kept) is {r['engine_share']:.0%} of it; the rest allows {r['own_rate']:.0f} steps per second")
        print(f"  the slowest {r['slowest']} steps (one in a thousand) take {r['slowest_share']:.0%} of the time; "
              f"the slowest {r['slowest_ms']:.0f} ms")
        young, middle, full = r["collections"]
        print(f"  garbage collections: {young} young, {middle} middle, {full} full, {r['gc_share']:.0%} of the time")


if __name__ == "__main__":
    main()
