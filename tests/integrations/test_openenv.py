"""The OpenEnv server and client: a real ``querygym serve-env`` process, OpenEnv's own client, real sockets."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("openenv.core", reason="the openenv extra is not installed: pip install 'querygym-ra[openenv]'")

import querygym  # noqa: E402
from querygym.integrations import openenv  # noqa: E402
from tests.support import act, builtin_rows, sha256  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """``querygym serve-env`` on a free port, stopped at the end of the module."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-m", "querygym", "serve-env", "--port", str(port),
                             "--max-sessions", str(SESSIONS), "--max-steps", "12"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"serve-env did not start (exit code {proc.poll()})") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_eight_sessions_play_every_reference_script_to_success(server):
    scripts = querygym.builtin_references()
    results = asyncio.run(openenv.play_scripts(server, scripts, sessions=SESSIONS))
    unsolved = [tid for tid, steps in results.items() if not (steps[-1]["solved"] and steps[-1]["done"])]
    assert not unsolved, f"reference scripts that did not solve their task over OpenEnv: {unsolved}"
    assert all(steps[0]["kind"] == "overview" for steps in results.values())
    assert all(steps[-1]["reward"] >= 1.0 for steps in results.values())


def test_eight_concurrent_sessions_give_the_results_of_eight_sequential_ones(server):
    scripts = dict(list(querygym.builtin_references().items())[:SESSIONS])
    at_once = asyncio.run(openenv.play_scripts(server, scripts, sessions=SESSIONS))
    one_by_one = {tid: asyncio.run(openenv.play_scripts(server, {tid: script}, sessions=1))[tid]
                  for tid, script in scripts.items()}
    assert at_once == one_by_one
    assert all(steps[-1]["solved"] for steps in at_once.values())


def test_the_typed_action_observation_and_state(server):
    t = openenv.types()
    with t.QueryGymClient(base_url=server).sync() as client:
        first = client.reset(task_id=3)
        assert first.observation.kind == "overview" and first.observation.task_id == 3
        assert "total monthly amount" in first.observation.text
        named = client.step(t.QueryGymAction(name="preview_table", args=["subscriptions"]))
        assert named.observation.kind == "exploration" and named.reward == 0.0 and not named.done
        wrong = client.step('Action: ["perform_filter", "subscriptions", "no_such_column > 1"]')
        assert wrong.observation.kind == "error" and "no_such_column" in wrong.observation.text
        assert wrong.observation.info["error"]["type"]
        state = client.state()
        assert (state.task_id, state.db_id, state.step_count, state.solved) == (3, "enterprise", 2, False)
    with pytest.raises(ValueError, match="either text"):
        t.QueryGymAction(text='Action: ["get_tables"]', name="get_tables")


def test_the_schema_is_built_from_the_catalog(server):
    with urllib.request.urlopen(f"{server}/schema", timeout=10) as response:
        schema = json.load(response)
    action = schema["action"]
    names = next(option["enum"] for option in action["properties"]["name"]["anyOf"] if "enum" in option)
    assert tuple(names) == querygym.catalog().names
    assert action["actions"]["perform_join"]["usage"] == querygym.catalog()["perform_join"].usage
    assert {"text", "kind", "solved", "info"} <= set(schema["observation"]["properties"])



def test_the_read_only_guards_hold_over_the_server(server, tmp_path):
    before = sha256(Path(querygym.builtin_database()))
    customers = builtin_rows("SELECT COUNT(*) FROM customers")
    attacks = [("perform_filter", "customers", "1=1; DROP TABLE customers"),
               ("perform_filter", "customers", "x'); DELETE FROM customers; --"),
               ("perform_filter", "customers", f"ATTACH DATABASE '{tmp_path}/x.db' AS x"),
               ("perform_projection", "customers", "readfile('/etc/passwd')"),
               ("preview_table", "customers; DROP TABLE customers")]
    with openenv.types().QueryGymClient(base_url=server).sync() as client:
        client.reset(task_id=9)
        for attack in attacks:
            result = client.step(act(*attack))
            assert result.observation.kind == "error", (attack, result.observation.text)
            assert "root:" not in result.observation.text
        assert client.step(act("preview_table", "customers")).observation.kind == "exploration"
    assert sha256(Path(querygym.builtin_database())) == before
    assert builtin_rows("SELECT COUNT(*) FROM customers") == customers
    assert not list(tmp_path.iterdir())
