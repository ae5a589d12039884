"""querygym's step against a peer's: SkyRL-gym's text2sql environment, on Spider dev, SQLite.

1. querygym: every Spider dev question's gold SQL is decomposed into steps (the oracle); each
   relational-algebra step is timed through ``env.step`` (parse, build, validate, compile,
   execute, compare with the target, render).  Printed: the median operation step, and the
   bare engine time of the same compiled SQL run again directly on the connection.
2. SkyRL-gym (``pip install skyrl-gym``, imported unchanged): ``SQLEnv.step`` with the gold SQL
   as an intermediate ``<sql>...</sql>`` turn (execute and show the result) and as the final
   ``<solution>`` turn (execute both, compare), on the same databases.
3. The random agent's steps per second on the built-in tasks.

The two play blocks of 50 questions in turn, over every question, ``--rounds`` times, and the
ratio querygym / SkyRL of the median steps is printed for each round, by wall clock and by CPU
time (which moves less when other programs share the machine); if SkyRL-gym cannot be installed or
imported, the script says exactly why and prints querygym's figures alone.

    python benchmarks/bench_peer.py [--limit 300] [--rounds 3] [--spider ../shared/data/spider_dev] [--random-steps 2000]

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


class Clock:
    """Wall-clock and CPU time of a span (CPU time moves less when other programs share the machine)."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def querygym_episode(env: QueryGymEnv, task, decomposition, times: dict) -> None:
    """Play the oracle's steps of one question, timing each relational-algebra step."""
    try:
        env.reset(options={"task_id": task.id})
    except querygym.errors.QueryGymError:
        return
    shown = []
    for action in decomposition.actions:
        with Clock() as step:
            _, _, terminated, truncated, info = env.step(action)
        if info["kind"] == "cte":
            times["step"].append(step.wall)
            times["step cpu"].append(step.cpu)
            shown.append(info["sql"])
        if terminated or truncated or info["kind"] == "error":
            break
    for sql in shown:  # the bare engine on each step's statement, after the episode's steps
        with Clock() as engine:
            env.episode.backend.execute(sql, max_rows=env.max_result_rows)
        times["engine"].append(engine.wall)
        times["engine cpu"].append(engine.cpu)


def skyrl_episode(make_env, task, times: dict) -> None:
    """SkyRL-gym's SQLEnv on one question: the gold SQL as a ``<sql>`` turn, then as the ``<solution>``."""
    env = make_env(task)
    env.init([{"role": "user", "content": task.question}])
    for key, text in (("sql", f"<think>run it</think><sql>{task.gold_sql}</sql>"),
                      ("solution", f"<think>done</think><solution>{task.gold_sql}</solution>")):
        with Clock() as clock:
            env.step(text)
        times[key].append(clock.wall)
        times[key + " cpu"].append(clock.cpu)


def skyrl_factory(spider: Path):
    """A function making SkyRL-gym's SQLEnv for a task; raises ImportError with the reason if unavailable."""
    from skyrl_gym.envs.sql.env import SQLEnv  # noqa: PLC0415  (the peer is optional)
    from omegaconf import DictConfig  # noqa: PLC0415

    # SkyRL reads <db_path>/spider/database/<db_id>/<db_id>.sqlite
    root = Path(tempfile.mkdtemp(prefix="qg_peer_"))
    (root / "spider").mkdir()
    os.symlink((spider / "database").resolve(), root / "spider" / "database")
    config = DictConfig({"db_path": str(root)})

    def make(task):
        extras = {"db_id": task.db_id, "reward_spec": {"ground_truth": task.gold_sql}, "data": "spider",
                  "max_turns": 5}
        return SQLEnv(config, extras)

    return make


def forget_everything_learned() -> None:
    """Empty every memo of querygym's modules (parsed fragments, rendered names, ...), so that a
    round plays its questions as new ones, not as a replay of the last round's."""
    for name, module in list(sys.modules.items()):
        if name == "querygym" or name.startswith("querygym."):
            for value in list(vars(module).values()):
                if not isinstance(value, type) and callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()


def play_both(load_tasks, decompositions, make_skyrl, rounds: int, block: int = 50) -> list[dict]:
    """Both environments in turn on blocks of ``block`` questions (querygym then SkyRL-gym), over
    all the questions, ``rounds`` times: a change of the machine's load weighs on both alike, and
    each round gives a ratio.  Every round starts cold: tasks loaded again (no target kept from the
    last round), a new environment, querygym's memos emptied.  Medians in ms, wall clock and CPU time."""
    results = []
    for _ in range(rounds):
        tasks = load_tasks()
        forget_everything_learned()
        env = QueryGymEnv(tasks, max_steps=100)
        playable = [t for t in tasks if t.playable]
        times = {k: [] for k in ("step", "engine", "sql", "solution", "step cpu", "engine cpu", "sql cpu",
                                 "solution cpu")}
        try:
            for start in range(0, len(playable), block):
                chunk = playable[start:start + block]
                for task in chunk:
                    d = decompositions[str(task.id)]
                    if d.ok:
                        querygym_episode(env, task, d, times)
                if make_skyrl is not None:
                    for task in chunk:
                        skyrl_episode(make_skyrl, task, times)
        finally:
            env.close()
        results.append({key: (statistics.median(v) * 1e3 if v else float("nan")) for key, v in times.items()}
                       | {"steps": len(times["step"]), "peer_steps": len(times["sql"])})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spider", type=Path, default=DEFAULT_SPIDER)
    parser.add_argument("--limit", type=int, default=300, help="questions of Spider dev to play (0: all 972)")
    parser.add_argument("--random-steps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="times both environments play every question, in turn")
    args = parser.parse_args()
    def load_tasks():
        tasks = querygym.load_bird(args.spider / "dev_bird_format_19db.json", args.spider / "database")
        return list(tasks)[: args.limit or None]

    tasks = load_tasks()
    decompositions = oracle_decompositions(tasks)
    try:
        make_skyrl = skyrl_factory(args.spider)
    except ImportError as exc:
        make_skyrl = None
        why = exc
    for number, times in enumerate(play_both(load_tasks, decompositions, make_skyrl, args.rounds), 1):
        print(f"round {number}")
        print(f"  querygym  Spider dev, SQLite: {times['steps']} operation steps, median step "
              f"{times['step']:.3f} ms (CPU {times['step cpu']:.3f}), bare engine {times['engine']:.3f} ms "
              f"(x{times['step'] / times['engine']:.1f})")
        if make_skyrl is None:
            print(f"  SkyRL-gym unavailable: cannot import it ({why}); install it with `pip install skyrl-gym`")
            continue
        print(f"  SkyRL-gym SQLEnv, same questions: {times['peer_steps']} steps, median <sql> step "
              f"{times['sql']:.3f} ms (CPU {times['sql cpu']:.3f}), median <solution> step "
              f"{times['solution']:.3f} ms (CPU {times['solution cpu']:.3f})")
        print(f"  ratio querygym step / SkyRL <sql> step: {times['step'] / times['sql']:.2f}x "
              f"(CPU {times['step cpu'] / times['sql cpu']:.2f}x); / SkyRL <solution> step: "
              f"{times['step'] / times['solution']:.2f}x (CPU {times['step cpu'] / times['solution cpu']:.2f}x)")
    if args.random_steps:
        print(f"random agent (built-in tasks): {random_agent_rate(args.random_steps):.0f} steps/s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
