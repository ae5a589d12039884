"""``querygym serve``: the web app (Explore, SQL analysis, Agents, Predictions) on a local port; needs the
``ui`` extra."""

from __future__ import annotations

import argparse
import sys
import time

from querygym.cli.common import dataset_args, load_tasks
from querygym.errors import QueryGymError
from querygym.web.app import create_app

LOCAL = ("127.0.0.1", "localhost", "::1")


def register(subparsers) -> None:
    """Add ``querygym serve`` to the command line."""
    serve = subparsers.add_parser("serve", help="explore tasks, analyse SQL and watch agents in a web app")
    dataset_args(serve)
    serve.add_argument("--runs", action="append", default=[], metavar="DIR",
                       help="a folder written by querygym run, or a folder of them (repeatable)")
    serve.add_argument("--analyses", nargs="+", action="extend", default=[], metavar="DIR",
                       help="folders written by querygym analyze, or folders of them (their pages: /analyses)")
    serve.add_argument("--dialect", default="sqlite", help="database engine dialect (default: sqlite)")
    serve.add_argument("--timeout", type=float, default=5.0, help="time limit per query in seconds (default: 5)")
    serve.add_argument("--max-steps", type=int, default=200, help="steps per episode (default: 200)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the web app on the dataset, runs and analyses named, and serve until interrupted."""
    started = time.perf_counter()
    try:
        import uvicorn
    except ImportError:
        raise QueryGymError("querygym serve needs the ui extra: pip install 'querygym-ra[ui]'") from None
    tasks = load_tasks(args)
    app = create_app(tasks, runs=args.runs, analyses=args.analyses, dialect=args.dialect, timeout_s=args.timeout,
                     max_steps=args.max_steps)
    if args.host not in LOCAL:
        print(f"warning: binding to {args.host}: anyone who can reach this address can use the app "
              f"(it has no login); the default is 127.0.0.1", file=sys.stderr)
    host = f"[{args.host}]" if ":" in args.host else args.host
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    original = server.startup

    async def startup(sockets=None):
        await original(sockets=sockets)
        print(f"querygym serve: {len(tasks)} tasks, {len(args.runs)} run folder(s), "
              f"{len(args.analyses)} analysis folder(s); listening on "
              f"http://{host}:{args.port}/ (ready in {time.perf_counter() - started:.1f} s; Ctrl+C stops)",
              flush=True)

    server.startup = startup
    server.run()
    return 0
