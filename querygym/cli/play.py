"""``querygym play``: type actions by hand at a prompt."""

from __future__ import annotations

import argparse

from querygym.cli.common import dataset_args, env_args, load_tasks
from querygym.env.environment import QueryGymEnv


def register(subparsers) -> None:
    play = subparsers.add_parser("play", help="type actions by hand")
    dataset_args(play)
    env_args(play)
    play.add_argument("--seed", type=int, help="seed for picking a task")
    play.set_defaults(func=cmd_play)


def cmd_play(args: argparse.Namespace) -> int:
    tasks = load_tasks(args)
    env = QueryGymEnv(tasks, dialect=args.dialect, max_steps=args.max_steps, timeout_s=args.timeout)
    try:
        import readline  # noqa: F401  (line editing and history at the prompt)
    except ImportError:
        pass
    history: list[str] = []
    options = {"task_id": args.task[0]} if args.task else None
    obs, info = env.reset(seed=args.seed, options=options)
    print(f"Task {info['task_id']} on {info['db_id']}\n{obs}\n")
    print('Type an action such as ["get_tables"]; :history, :help, :quit.')
    try:
        while True:
            try:
                line = input("action> ").strip()
            except EOFError:
                break
            if not line:
                continue
            if line in (":q", ":quit", ":exit"):
                break
            if line == ":history":
                print("\n".join(f"{i}: {h}" for i, h in enumerate(history, 1)) or "(no actions yet)")
                continue
            if line == ":help":
                print(env.catalog.render_help())
                continue
            history.append(line)
            obs, reward, terminated, truncated, info = env.step(line)
            print(f"\n[{info['kind']}] reward {reward:g}\n{obs}\n")
            if terminated or truncated:
                print("Solved!" if terminated else "Out of steps.")
                break
    finally:
        env.close()
    return 0
