"""What the web app costs: start-up, listing a 10,000-episode run, opening a 200-step episode, asset sizes.

1. Start-up: ``querygym serve`` is started as a process; the time until it prints its URL and
   until the first page answers is printed (median of ``--starts`` starts).
2. A run of 10,000 episodes is written synthetically in a temporary folder (records and
   trajectory lines in the format of ``querygym run``); one page of its episode list is requested
   cold (first read of the records) and warm, with and without a filter, in-process.
3. One of its episodes has 200 steps (100 operations); its page is opened.
4. The vendored assets' sizes (raw and gzipped).

    python benchmarks/bench_web.py [--episodes 10000] [--steps 200] [--starts 3]

Machines are noisy (and shared): compare the numbers of one run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import querygym
from querygym.web.app import ASSETS, HERE, create_app

ROOT = Path(__file__).resolve().parents[1]


def synthetic_run(folder: Path, episodes: int, long_steps: int) -> None:
    """A run folder as ``querygym run`` writes it, with ``episodes`` short episodes and one long one."""
    (folder / "episodes").mkdir(parents=True)
    ids = [f"t{i}" for i in range(episodes)]
    (folder / "run.json").write_text(json.dumps({"agent": {"name": "synthetic"}, "env": {}, "tasks": ids}))
    solved = 0
    for i, task in enumerate(ids):
        steps = long_steps if i == 0 else 1 + i % 7
        ok = i % 3 != 0
        solved += ok
        record = {"task": task, "difficulty": ("simple", "moderate", "challenging")[i % 3], "solved": ok,
                  "steps": steps, "errors": i % 2, "error_kinds": {"plan": 1} if i % 2 else {},
                  "reward": 1.0 if ok else 0.0, "cost": 2.0 * steps, "truncated": False, "tokens": {}, "error": None}
        (folder / "episodes" / f"{task}.json").write_text(json.dumps(record))
        lines = []
        for n in range(1, steps + 1):
            table = "products" if n < 3 else f"T_{(n - 3) // 2}"
            if n % 2:
                cte = f"T_{(n - 1) // 2}"
                action = ["perform_filter", table, "list_price > 10"]
                obs = f"Created {cte} with perform_filter.\nColumns: a (TEXT)\nRows: 3\nRows:\na\n-\nx\nSQL:\nSELECT 1"
                kind = "cte"
            else:
                cte, action, obs, kind = None, ["get_preview", table], "a\n-\nx", "exploration"
            lines.append({"task": task, "step": n, "action": "Action: " + json.dumps(action), "parsed_action": action,
                          "kind": kind, "observation": obs, "reward": 0.0, "cte_id": cte, "relation": "different",
                          "error": None, "cost": 2.0, "terminated": False, "truncated": False, "agent_s": 0.1,
                          "env_s": 0.01, "tokens": {"prompt": 100}})
        (folder / "episodes" / f"{task}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (folder / "summary.json").write_text(json.dumps({"episodes": episodes, "solved": solved,
                                                     "success_rate": solved / episodes, "steps": 0, "errors": 0,
                                                     "terminated_wrong": 0, "truncated": 0, "total_cost": 0}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far (Linux), or NaN."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def time_startup() -> tuple[float, float, float]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "querygym", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        proc.stdout.readline()
        printed = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid)
        urllib.request.urlopen(f"http://127.0.0.1:{port}/tasks", timeout=30).read()
        return printed, time.perf_counter() - t0, cpu
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def timed(client, url: str, **kwargs) -> float:
    t0 = time.perf_counter()
    r = client.get(url, **kwargs)
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    from starlette.testclient import TestClient

    starts = [time_startup() for _ in range(args.starts)]
    print(f"start-up: URL printed after {statistics.median(s[0] for s in starts):.2f} s, first page served after "
          f"{statistics.median(s[1] for s in starts):.2f} s; CPU time until the URL "
          f"{statistics.median(s[2] for s in starts):.2f} s (median of {args.starts})")
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "big"
        t0 = time.perf_counter()
        synthetic_run(run, args.episodes, args.steps)
        print(f"wrote a synthetic run of {args.episodes} episodes in {time.perf_counter() - t0:.1f} s")
        app = create_app(querygym.builtin_tasks(), runs=[str(run)])
        client = TestClient(app)
        print(f"list one page of {args.episodes} episodes at once (cold, waits for the records being read): "
              f"{timed(client, '/runs/big'):.3f} s")
        print(f"  warm, HTML: {timed(client, '/runs/big?page=7'):.3f} s; JSON: "
              f"{timed(client, '/api/runs/big/episodes?page=7'):.3f} s")
        print(f"  filtered (failed, moderate, >= 3 steps): "
              f"{timed(client, '/runs/big?status=failed&difficulty=moderate&min_steps=3'):.3f} s")
        print(f"open the {args.steps}-step episode: HTML {timed(client, '/runs/big/t0'):.3f} s; "
              f"JSON {timed(client, '/api/runs/big/episodes/t0'):.3f} s")
    total = 0
    for key, name in ASSETS.items():
        raw = (HERE / "static" / name).read_bytes()
        total += len(raw)
        print(f"asset {name}: {len(raw) / 1024:.1f} KiB ({len(gzip.compress(raw)) / 1024:.1f} KiB gzipped)")
    print(f"assets in all: {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
