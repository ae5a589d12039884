"""querygym's step against a peer's: SkyRL-gym's text2sql environment, on Spider dev, SQLite.

1. querygym: every Spider dev question's gold SQL is decomposed into steps (the oracle); each
   relational-algebra step is timed through ``env.step`` (parse, build, validate, compile,
   execute, compare with the target, render).  Printed: the median operation step, and the
   bare engine time of the same compiled SQL run again directly on the connection.
2. SkyRL-gym (``pip install skyrl-gym``, imported unchanged): ``SQLEnv.step`` with the gold SQL
   as an intermediate ``<sql>...</sql>`` turn (execute and show the result) and as the final
   ``<solution>`` turn (execute both, compare), on the same databases.
3. The random agent's steps per second on the built-in tasks.

The ratio querygym / SkyRL of the median steps is printed; if SkyRL-gym cannot be installed or
imported, the script says exactly why and prints querygym's figures alone.

    python benchmarks/bench_peer.py [--limit 300] [--spider ../shared/data/spider_dev] [--random-steps 2000]

Machines are noisy: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import querygym
from querygym.agents.oracle import oracle_decompositions
from querygym.env.environment import QueryGymEnv
from bench_step import random_agent_rate  # the same measure as bench_step's (benchmarks/ is on sys.path)

DEFAULT_SPIDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider_dev"


def querygym_steps(tasks, decompositions) -> dict:
    env = QueryGymEnv(tasks, max_steps=100)
    step_s, engine_s = [], []
    try:
        for task in tasks:
            d = decompositions[str(task.id)]
            if not (d.ok and task.playable):
                continue
            try:
                env.reset(options={"task_id": task.id})
            except querygym.errors.QueryGymError:
                continue
            for action in d.actions:
                t0 = time.perf_counter()
                _, _, terminated, truncated, info = env.step(action)
                elapsed = time.perf_counter() - t0
                if info["kind"] == "cte":
                    step_s.append(elapsed)
                    t1 = time.perf_counter()
                    env.episode.backend.execute(info["sql"], max_rows=env.max_result_rows)
                    engine_s.append(time.perf_counter() - t1)
                if terminated or truncated or info["kind"] == "error":
                    break
    finally:
        env.close()
    return {"steps": len(step_s), "step_ms": statistics.median(step_s) * 1e3,
            "engine_ms": statistics.median(engine_s) * 1e3}


def skyrl_steps(tasks, spider: Path) -> dict:
    """SkyRL-gym's SQLEnv on the same questions; raises ImportError with the reason if unavailable."""
    from skyrl_gym.envs.sql.env import SQLEnv  # noqa: PLC0415  (the peer is optional)
    from omegaconf import DictConfig  # noqa: PLC0415

    # SkyRL reads <db_path>/spider/database/<db_id>/<db_id>.sqlite
    root = Path(tempfile.mkdtemp(prefix="qg_peer_"))
    (root / "spider").mkdir()
    os.symlink((spider / "database").resolve(), root / "spider" / "database")
    config = DictConfig({"db_path": str(root)})
    sql_s, solution_s = [], []
    for task in tasks:
        if not task.playable:
            continue
        extras = {"db_id": task.db_id, "reward_spec": {"ground_truth": task.gold_sql}, "data": "spider",
                  "max_turns": 5}
        env = SQLEnv(config, extras)
        env.init([{"role": "user", "content": task.question}])
        t0 = time.perf_counter()
        env.step(f"<think>run it</think><sql>{task.gold_sql}</sql>")
        sql_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        env.step(f"<think>done</think><solution>{task.gold_sql}</solution>")
        solution_s.append(time.perf_counter() - t0)
    return {"steps": len(sql_s), "sql_step_ms": statistics.median(sql_s) * 1e3,
            "solution_step_ms": statistics.median(solution_s) * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spider", type=Path, default=DEFAULT_SPIDER)
    parser.add_argument("--limit", type=int, default=300, help="questions of Spider dev to play (0: all 972)")
    parser.add_argument("--random-steps", type=int, default=2000)
    args = parser.parse_args()
    tasks = querygym.load_bird(args.spider / "dev_bird_format_19db.json", args.spider / "database")
    tasks = list(tasks)[: args.limit or None]
    decompositions = oracle_decompositions(tasks)
    ours = querygym_steps(tasks, decompositions)
    print(f"querygym  Spider dev, SQLite: {ours['steps']} operation steps, median step {ours['step_ms']:.3f} ms, "
          f"bare engine {ours['engine_ms']:.3f} ms (x{ours['step_ms'] / ours['engine_ms']:.1f})")
    try:
        peer = skyrl_steps(tasks, args.spider)
    except ImportError as exc:
        print(f"SkyRL-gym unavailable: cannot import it ({exc}); install it with `pip install skyrl-gym`")
    else:
        print(f"SkyRL-gym SQLEnv, same questions: {peer['steps']} steps, median <sql> step "
              f"{peer['sql_step_ms']:.3f} ms, median <solution> step {peer['solution_step_ms']:.3f} ms")
        print(f"ratio querygym step / SkyRL <sql> step: {ours['step_ms'] / peer['sql_step_ms']:.2f}x; "
              f"/ SkyRL <solution> step: {ours['step_ms'] / peer['solution_step_ms']:.2f}x")
    if args.random_steps:
        print(f"random agent (built-in tasks): {random_agent_rate(args.random_steps):.0f} steps/s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
