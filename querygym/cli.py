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
    from querygym.runner import format_summary, run_agent

    tasks = _load_tasks(args)
    spec = _agent_spec(args)
    if spec["name"] == "script" and spec.get("scripts") is None and (args.bird or args.data):
        raise QueryGymError("a dataset other than the built-in one needs --scripts FILE_OR_DIR with an action "
                            "script per task, or another --agent (oracle, random, llm, replay)")
    if spec["name"] in ("script", "replay"):
        from querygym.agents import get

        scripted = get(**spec).scripts
        tasks = tasks.select([t.id for t in tasks if str(t.id) in scripted])
        if not len(tasks):
            raise QueryGymError("no task in the selection has an action script")
    env_kwargs = {"dialect": args.dialect, "max_steps": args.max_steps, "timeout_s": args.timeout}
    if args.budget is not None:
        env_kwargs["budget"] = args.budget
    summary = run_agent(tasks, spec, args.out, env_kwargs=env_kwargs, workers=args.workers,
                        executor=args.executor, ray_address=args.ray_address,
                        progress=None if args.quiet else sys.stderr)
    print(format_summary(summary))
    out = Path(args.out)
    print(f"wrote {out / 'trajectories.jsonl'}, {out / 'summary.json'}, {out / 'scorecard.md'} and "
          f"{out / 'scorecard.png'}")
    return 0


def _agent_spec(args: argparse.Namespace) -> dict:
    name = args.agent
    if args.scripts and name != "script":
        raise QueryGymError("--scripts goes with --agent script")
    if name == "script":
        return {"name": "script", "scripts": str(Path(args.scripts).resolve()) if args.scripts else None}
    if name == "replay":
        if not args.trajectories:
            raise QueryGymError("--agent replay needs --trajectories FILE (a trajectories.jsonl)")
        return {"name": "replay", "path": str(Path(args.trajectories).resolve())}
    if name == "random":
        return {"name": "random", "seed": args.seed}
    if name == "llm":
        if not args.model:
            raise QueryGymError("--agent llm needs --model NAME (and --base-url URL for a local server)")
        spec = {"name": "llm", "model": args.model, "temperature": args.temperature, "max_tokens": args.max_tokens,
                "max_retries": args.max_retries}
        if args.base_url:
            spec["base_url"] = args.base_url
        if args.context_tokens:
            spec["context_budget_tokens"] = args.context_tokens
        return spec
    return {"name": name}


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
    from querygym.converters.report import check_tasks, dataset_report

    tasks = _load_tasks(args)
    if args.check:
        check_tasks(tasks, timeout_s=args.timeout)  # setup SQL (BIRD-Critic) runs in a sandbox copy
    for t in tasks:
        status = "ok" if t.playable else f"unplayable: {t.problem}"
        question = " ".join(t.question.split())
        question = question if len(question) <= 70 else question[:69] + "…"
        print(f"{t.id}\t{t.db_id}\t{t.difficulty or '-'}\t{status}\t{question}")
    playable = len(tasks.playable())
    print(f"{len(tasks)} task(s), {playable} playable, {len(tasks.problems)} with problems", file=sys.stderr)
    print(dataset_report(tasks, checked=args.check), file=sys.stderr)
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
    run.add_argument("--agent", choices=["script", "oracle", "replay", "random", "llm"], default="script",
                     help="script: play --scripts (or the built-in references); oracle: decompose each task's "
                          "gold SQL and replay its steps; replay: a trajectories file; random: a baseline; "
                          "llm: a model behind an OpenAI-compatible endpoint")
    run.add_argument("--trajectories", metavar="FILE", help="with --agent replay: the trajectories.jsonl to replay")
    run.add_argument("--model", help="with --agent llm: the model name")
    run.add_argument("--base-url", help="with --agent llm: the endpoint (default: $OPENAI_BASE_URL)")
    run.add_argument("--temperature", type=float, default=0.0, help="with --agent llm: sampling temperature")
    run.add_argument("--max-tokens", type=int, default=512, help="with --agent llm: tokens per reply")
    run.add_argument("--context-tokens", type=int, help="with --agent llm: the model's context window in tokens")
    run.add_argument("--max-retries", type=int, default=5, help="with --agent llm: retries of transport errors")
    run.add_argument("--seed", type=int, help="with --agent random: its seed")
    run.add_argument("--workers", type=int, default=1, help="episodes played at once (default: 1)")
    run.add_argument("--executor", choices=["process", "ray"], default="process",
                     help="process: a local process pool; ray: Ray tasks (default: process)")
    run.add_argument("--ray-address", help="with --executor ray: the cluster to join (default: start one locally)")
    run.add_argument("--budget", type=float, help="action-cost budget per episode (costs are in actions.yaml)")
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
