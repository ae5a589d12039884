"""Throughput of the environment served over OpenEnv: steps per second with 1 and 8 concurrent clients.

Starts ``querygym serve-env`` on a free local port, then OpenEnv's client plays every built-in
reference script (reset + each action, one WebSocket session per client, each client playing
every N-th task) with 1 client and with 8; a step here is one ``step`` round trip.  For scale it
also plays the same scripts in-process (``QueryGymEnv.step`` without a server).  The server is
warmed up first and the in-process env's first pass is not counted: both compute each task's
target once.

    python benchmarks/bench_openenv.py [--clients 1,8] [--repeats 2]

Needs the openenv extra.  Machines are noisy, and the server and clients share its cores:
compare the numbers of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import querygym
from querygym.env.environment import QueryGymEnv
from querygym.integrations import openenv

ROOT = Path(__file__).resolve().parents[1]


def start_server(sessions: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-m", "querygym", "serve-env", "--port", str(port),
                             "--max-sessions", str(sessions)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("serve-env did not start") from None
            time.sleep(0.1)


def in_process(scripts: dict, repeats: int) -> float:
    """Steps per second of one in-process QueryGymEnv; the first pass computes every target and is not counted."""
    env = QueryGymEnv(querygym.builtin_tasks())
    best = 0.0
    for _ in range(repeats + 1):
        steps, t0 = 0, time.perf_counter()
        for task_id, actions in scripts.items():
            env.reset(seed=0, options={"task_id": task_id})
            for action in actions:
                steps += 1
                if env.step(action)[2]:
                    break
        rate = steps / (time.perf_counter() - t0)
        best = max(best, rate) if _ else 0.0
    env.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,8", help="comma-separated client counts (default: 1,8)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per client count; the best is kept")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    scripts = querygym.builtin_references()
    proc, url = start_server(max(counts))
    try:
        asyncio.run(openenv.play_scripts(url, dict(list(scripts.items())[:4]), sessions=1))  # warm the server up
        print(f"{len(scripts)} built-in reference scripts, {os.cpu_count()} cores")
        print(f"in-process QueryGymEnv.step: {in_process(scripts, args.repeats):.1f} steps/s")
        for n in counts:
            best = 0.0
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                results = asyncio.run(openenv.play_scripts(url, scripts, sessions=n))
                elapsed = time.perf_counter() - t0
                steps = sum(len(r) - 1 for r in results.values())
                assert all(r[-1]["solved"] for r in results.values()), "a reference script failed over OpenEnv"
                best = max(best, steps / elapsed)
            print(f"OpenEnv, {n} concurrent client(s): {best:.1f} steps/s ({steps} steps, every task solved)")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
