"""The ``querygym`` command.

querygym run      play action scripts (the built-in references by default, or the oracle) and write trajectories
querygym actions  print the action catalog
querygym tasks    list a dataset's tasks (``--check`` computes every target)
querygym play     type actions by hand at a prompt
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from querygym.commands import register_all
from querygym.commands.common import dataset_args, env_args, load_tasks
from querygym.errors import QueryGymError


_dataset_args = dataset_args
_env_args = env_args
_load_tasks = load_tasks


def cmd_run(args: argparse.Namespace) -> int:
    from querygym.runner import format_summary, load_scripts, run_scripts
    from querygym.tasks import builtin_references

    tasks = _load_tasks(args)
    unscripted: dict[str, str] = {}
    if args.agent == "oracle":
        from querygym.oracle import oracle_scripts

        if args.scripts:
            raise QueryGymError("--agent oracle makes its own scripts; drop --scripts")
        scripts, unscripted = oracle_scripts(t for t in tasks if t.playable)
    elif args.scripts:
        scripts = load_scripts(args.scripts)
    elif args.bird or args.data:
        raise QueryGymError("a dataset other than the built-in one needs --scripts FILE_OR_DIR with an action "
                            "script per task, or --agent oracle")
    else:
        scripts = builtin_references()
    wanted = {str(t.id) for t in tasks}
    scripts = {k: v for k, v in scripts.items() if k in wanted}
    if not scripts and not unscripted:
        raise QueryGymError("no task in the selection has an action script")
    env_kwargs = {"dialect": args.dialect, "max_steps": args.max_steps, "timeout_s": args.timeout}
    summary = run_scripts(tasks, scripts, args.out, env_kwargs=env_kwargs,
                          progress=None if args.quiet else sys.stderr, unscripted=unscripted)
    print(format_summary(summary))
    print(f"wrote {Path(args.out) / 'trajectories.jsonl'} and {Path(args.out) / 'summary.json'}")
    return 0


def cmd_actions(args: argparse.Namespace) -> int:
    from querygym.catalog import catalog

    cat = catalog()
    if args.json:
        print(json.dumps([{"name": a.name, "group": a.group, "description": cat.describe(a), "usage": a.usage,
                           "params": [p.__dict__ for p in a.params], "examples": list(a.examples)} for a in cat],
                         indent=2))
    else:
        print(cat.render_help())
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    tasks = _load_tasks(args)
    if args.check:
        tasks.check(timeout_s=args.timeout)
    for t in tasks:
        status = "ok" if t.playable else f"unplayable: {t.problem}"
        question = t.question if len(t.question) <= 70 else t.question[:69] + "…"
        print(f"{t.id}\t{t.db_id}\t{t.difficulty or '-'}\t{status}\t{question}")
    playable = len(tasks.playable())
    print(f"{len(tasks)} task(s), {playable} playable, {len(tasks.problems)} with problems", file=sys.stderr)
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    from querygym.env import QueryGymEnv

    tasks = _load_tasks(args)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="querygym", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="play action scripts and write trajectories")
    _dataset_args(run)
    _env_args(run)
    run.add_argument("--agent", choices=["script", "oracle"], default="script",
                     help="script: play --scripts (or the built-in references); oracle: decompose each task's "
                          "gold SQL and replay its steps")
    run.add_argument("--scripts", metavar="PATH", help="action scripts: JSON {task_id: [actions]}, JSONL, or a "
                     "directory of <task_id>.txt (default: the built-in reference scripts)")
    run.add_argument("--out", default="querygym-run", metavar="DIR", help="output directory (default: querygym-run)")
    run.add_argument("--quiet", action="store_true", help="no progress line")
    run.set_defaults(func=cmd_run)

    actions = sub.add_parser("actions", help="print the action catalog")
    actions.add_argument("--json", action="store_true", help="as JSON")
    actions.set_defaults(func=cmd_actions)

    tasks = sub.add_parser("tasks", help="list a dataset's tasks")
    _dataset_args(tasks)
    tasks.add_argument("--check", action="store_true", help="run every gold query and report failures")
    tasks.add_argument("--timeout", type=float, default=30.0, help="time limit per gold query (default: 30)")
    tasks.set_defaults(func=cmd_tasks)

    play = sub.add_parser("play", help="type actions by hand")
    _dataset_args(play)
    _env_args(play)
    play.add_argument("--seed", type=int, help="seed for picking a task")
    play.set_defaults(func=cmd_play)
    register_all(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except QueryGymError as exc:
        print(f"querygym: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
