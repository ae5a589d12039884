"""Under load and faults, nothing is lost: a run killed with SIGKILL resumes to exactly the episodes
of an uninterrupted run; eight workers share one PostgreSQL server; a PostgreSQL server stopped in
the middle of a run gives a clear error, and the resumed run completes with the same results.

Real parts only: a real ``querygym run`` subprocess killed with ``kill -9``, the real Spider dev
databases, the session's PostgreSQL server and a second, private one this module starts and stops.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import querygym
from querygym.cli import main
from querygym.errors import RunAbortedError
from querygym.runs.runner import run_agent
from tests.support import SPIDER

ROOT = Path(__file__).resolve().parents[2]
BIRD_SPIDER = SPIDER / "dev_bird_format_19db.json"
pytestmark = pytest.mark.skipif(not BIRD_SPIDER.is_file(), reason=f"Spider data not found under {SPIDER}")

#: fields that measure time, not results
TIMING = {"elapsed_s", "played_now", "agent_s", "env_s"}


def without_timing(data):
    if isinstance(data, dict):
        return {k: without_timing(v) for k, v in data.items() if k not in TIMING}
    if isinstance(data, list):
        return [without_timing(v) for v in data]
    return data


def results(out: Path) -> tuple[dict, dict, list]:
    """(summary, episode records by task, trajectory lines) of a run folder, without timings."""
    summary = json.loads((out / "summary.json").read_text())
    records = {p.stem: json.loads(p.read_text()) for p in (out / "episodes").glob("*.json")}
    lines = [json.loads(x) for x in (out / "trajectories.jsonl").read_text().splitlines()]
    return without_timing(summary), without_timing(records), without_timing(lines)


def spread(tasks: querygym.TaskSet, n: int) -> querygym.TaskSet:
    """``n`` tasks spread over the dataset, so over many databases."""
    step = max(1, len(tasks) // n)
    return tasks.select(tasks.ids[::step][:n])


# ---------------------------------------------------------------------- kill -9 in the middle
def test_a_run_killed_with_sigkill_resumes_to_exactly_the_episodes_of_an_uninterrupted_run(tmp_path):
    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "querygym", "run", "--agent", "oracle", "--bird", str(BIRD_SPIDER),
                "--db-root", str(SPIDER / "database"), "--limit", "60", "--workers", "2", "--out", str(out),
                "--quiet"]

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "killed"
    # its own process group: kill -9 reaches the pool's workers too, as a killed terminal session would
    proc = subprocess.Popen(command(out), cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 45
    try:
        while len(list((out / "episodes").glob("*.json"))) < 8:
            assert proc.poll() is None, f"the run ended before it was killed: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "no episodes after 45 s"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = len(list((out / "episodes").glob("*.json")))
    assert 8 <= before < 60 and not (out / "summary.json").exists()

    resumed = subprocess.run(command(out), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    reference = tmp_path / "uninterrupted"
    assert main(command(reference)[3:]) == 0

    summary, records, lines = results(out)
    expected_summary, expected_records, expected_lines = results(reference)
    assert json.loads((out / "summary.json").read_text())["played_now"] == 60 - before
    assert summary == expected_summary and summary["episodes"] == 60 and summary["infrastructure_errors"] == 0
    assert records == expected_records and len(records) == 60  # every episode exactly once, none lost
    assert lines == expected_lines
    assert len({(x["task"], x["step"]) for x in lines}) == len(lines)  # no step twice
    assert not list(out.rglob("*.tmp"))


# ---------------------------------------------------------------------- PostgreSQL under load and faults
@pytest.fixture()
def spider_tasks():
    return querygym.converters.load_tasks(BIRD_SPIDER, db_root=SPIDER / "database")


def test_eight_workers_share_one_postgres_server_with_the_results_of_one(postgres_url, spider_tasks, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("QUERYGYM_POSTGRES_URL", postgres_url)
    tasks = spread(spider_tasks, 24)
    env = {"dialect": "postgres"}
    one = run_agent(tasks, {"name": "oracle"}, tmp_path / "one", env_kwargs=env, progress=None)
    eight = run_agent(tasks, {"name": "oracle"}, tmp_path / "eight", env_kwargs=env, workers=8, progress=None)
    assert (eight["episodes"], eight["infrastructure_errors"], eight["failed_to_start"]) == (24, 0, {})
    assert eight["solved"] >= 20  # the oracle's replays hold on PostgreSQL too
    assert results(tmp_path / "eight") == results(tmp_path / "one")
    assert without_timing(one) == without_timing(eight)


@pytest.fixture()
def private_server(tmp_path, monkeypatch):
    """A PostgreSQL server of this test's own (never the session's), with ``stop()`` and ``start()``."""
    pytest.importorskip("pgserver", reason="the private server needs pgserver (the postgres extra)")
    from querygym.dialects.postgres import EmbeddedServer, PostgresDialect

    class Private:
        def __init__(self):
            self.data = tmp_path / "pgdata"
            self.server = None

        def start(self):
            self.server = EmbeddedServer(self.data)  # a kept data folder: the copied databases survive
            monkeypatch.setattr(PostgresDialect, "server_url", self.server.url)
            return self.server.url

        def stop(self):
            self.server.stop()  # pg_ctl stop: the server ends every session

    private = Private()
    private.start()
    yield private
    private.stop()


def test_a_postgres_server_stopped_mid_run_is_a_clear_error_and_the_resumed_run_completes(private_server,
                                                                                          spider_tasks, tmp_path):
    # the first tasks share one database: the stop hits an open connection in the middle of the run
    tasks = spider_tasks.select(spider_tasks.ids[:6])
    env = {"dialect": "postgres"}
    out = tmp_path / "run"
    finished = []

    def stop_after_two(record):
        finished.append(record["task"])
        if len(finished) == 2:
            private_server.stop()

    with pytest.raises(RunAbortedError) as aborted:
        run_agent(tasks, {"name": "oracle"}, out, env_kwargs=env, progress=None, on_episode=stop_after_two)
    message = str(aborted.value)
    assert message.startswith("the run stopped: EngineUnavailableError: the postgres engine behind 'concert_singer' "
                              "cannot be reached")
    assert "2 episode(s) played, 1 stopped by the error" in message and "\n" not in message
    assert sorted(p.stem for p in (out / "episodes").glob("*.json")) == sorted(map(str, finished))
    stopped = [p.stem for p in (out / "errors").glob("*.json")]
    assert stopped == [str(tasks.ids[2])]  # recorded as an error, not as a played episode
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["episodes"], summary["infrastructure_errors"], summary["not_played"]) == (2, 1, 3)

    private_server.start()
    resumed = run_agent(tasks, {"name": "oracle"}, out, env_kwargs=env, progress=None)
    assert resumed["played_now"] == 4 and resumed["infrastructure_errors"] == 0
    assert not list((out / "errors").glob("*.json"))
    run_agent(tasks, {"name": "oracle"}, tmp_path / "reference", env_kwargs=env, progress=None)
    assert results(out) == results(tmp_path / "reference")
