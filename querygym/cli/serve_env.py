"""``querygym serve-env``: serve the environment over OpenEnv's WebSocket protocol (extra ``openenv``)."""

from __future__ import annotations

import argparse

from querygym.cli.common import dataset_args, env_args, load_tasks
from querygym.integrations import openenv


def register(subparsers) -> None:
    """Add ``querygym serve-env`` to the command line."""
    p = subparsers.add_parser("serve-env", help="serve the environment to OpenEnv clients (one episode per session)")
    dataset_args(p)
    env_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument("--max-sessions", type=int, default=64, help="concurrent sessions at most (default: 64)")
    p.set_defaults(func=cmd_serve_env)


def cmd_serve_env(args: argparse.Namespace) -> int:
    """Serve the environment to OpenEnv clients until interrupted."""
    tasks = load_tasks(args)
    print(f"querygym: serving {len(tasks)} task(s) to OpenEnv clients at ws://{args.host}:{args.port}/ws", flush=True)
    openenv.serve(tasks, host=args.host, port=args.port, max_sessions=args.max_sessions,
                  dialect=args.dialect, max_steps=args.max_steps, timeout_s=args.timeout)
    return 0
