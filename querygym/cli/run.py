"""``querygym run``: play an agent over a task set and write trajectories, a summary and a scorecard."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from querygym.agents import AGENTS, get
from querygym.cli.common import dataset_args, env_args, load_tasks
from querygym.dialects import get as get_dialect
from querygym.errors import QueryGymError
from querygym.runs.runner import format_summary, run_agent


def register(subparsers) -> None:
    """Add ``querygym run`` to the command line."""
    run = subparsers.add_parser("run", help="play action scripts and write trajectories")
    dataset_args(run)
    env_args(run)
    run.add_argument("--agent", choices=list(AGENTS), default="script",
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
    run.add_argument("--episode-timeout", type=float, metavar="S",
                     help="time limit of a whole episode in seconds; an episode past it is an error that a rerun "
                          "plays again (default: none)")
    run.add_argument("--out", default="querygym-run", metavar="DIR", help="output directory (default: querygym-run)")
    run.add_argument("--quiet", action="store_true", help="no progress line")
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    # What cannot work fails here, in one line and before anything is loaded or played.
    """Play the chosen agent over the selected tasks and write the run's files; print the summary."""
    get_dialect(args.dialect)
    spec = _agent_spec(args)
    tasks = load_tasks(args)
    if spec["name"] == "script" and spec.get("scripts") is None and (args.bird or args.data):
        raise QueryGymError("a dataset other than the built-in one needs --scripts FILE_OR_DIR with an action "
                            "script per task, or another --agent (oracle, random, llm, replay)")
    if spec["name"] in ("script", "replay"):
        scripted = get(**spec).scripts
        tasks = tasks.select([t.id for t in tasks if str(t.id) in scripted])
        if not len(tasks):
            raise QueryGymError("no task in the selection has an action script")
    env_kwargs = {"dialect": args.dialect, "max_steps": args.max_steps, "timeout_s": args.timeout}
    if args.budget is not None:
        env_kwargs["budget"] = args.budget
    summary = run_agent(tasks, spec, args.out, env_kwargs=env_kwargs, workers=args.workers,
                        executor=args.executor, ray_address=args.ray_address,
                        progress=None if args.quiet else sys.stderr,
                        episode_timeout_s=args.episode_timeout)  # raises RunAbortedError: exit 2
    print(format_summary(summary))
    out = Path(args.out)
    print(f"wrote {out / 'trajectories.jsonl'}, {out / 'summary.json'}, {out / 'scorecard.md'} and "
          f"{out / 'scorecard.png'}")
    if summary["infrastructure_errors"]:
        print(f"querygym: error: {summary['infrastructure_errors']} episode(s) stopped by an infrastructure error "
              f"(listed in {out / 'errors'}); run the same command again to play them", file=sys.stderr)
        return 1
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
