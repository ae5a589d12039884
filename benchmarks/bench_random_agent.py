"""The random agent over the built-in tasks with ten seeds: how often an episode is solved (its
answer equals the target), ends on a wrong answer, or is cut off.

    python benchmarks/bench_random_agent.py [--seeds N]

A baseline a researcher can publish must be near zero here: the random agent knows nothing of
the question.  (Before querygym separated "solved" from "terminated", about 23% of these episodes
counted as solved; on a checkout without ``info["solved"]`` the script reports terminated episodes
as solved, the old meaning.)
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import gymnasium

import querygym
import querygym.agents  # explicit, so the script also runs on checkouts without the lazy namespace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--max-steps", type=int, default=30)
    args = parser.parse_args()
    tasks = querygym.builtin_tasks()
    env = gymnasium.make("querygym/QueryGym-v0", tasks=tasks, max_steps=args.max_steps).unwrapped
    counts: Counter = Counter()
    steps, started = 0, time.perf_counter()
    for seed in range(args.seeds):
        agent = querygym.agents.get("random", seed=seed)
        for task in tasks:
            obs, info = env.reset(seed=seed, options={"task_id": task.id})
            agent.reset(task)
            while True:
                obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
                steps += 1
                if terminated or truncated:
                    solved = info.get("solved", terminated)
                    counts["solved" if solved else "ended wrong" if terminated else "truncated"] += 1
                    break
    env.close()
    n = sum(counts.values())
    elapsed = time.perf_counter() - started
    print(f"{n} episodes ({args.seeds} seeds x {len(tasks)} tasks): solved {counts['solved']} "
          f"({counts['solved'] / n:.1%}), ended on a wrong answer {counts['ended wrong']}, truncated "
          f"{counts['truncated']}; {steps} steps, {steps / elapsed:.0f} steps/s")


if __name__ == "__main__":
    main()
