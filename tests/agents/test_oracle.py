"""The oracle stops at its first failed step and says which step failed and why."""

from __future__ import annotations

import json

import pytest

import querygym
from querygym.agents.base import OracleAgent
from querygym.env.environment import QueryGymEnv
from querygym.errors import InvalidArgumentError
from querygym.runs.runner import run_agent

# Its inequality join is a cross product of 3,203 x 3,203 rows: counting it takes far longer than
# the environment's time limit below (and well within the 30 s the target is computed with).
HEAVY = ("SELECT n FROM (SELECT COUNT(*) AS n FROM order_items a, order_items b WHERE a.quantity < b.quantity) "
         "ORDER BY n LIMIT 1")
LIMIT_S = 0.05


@pytest.fixture(scope="module")
def tasks(tmp_path_factory) -> querygym.TaskSet:
    root = tmp_path_factory.mktemp("oracle")
    (root / "builtin").mkdir()
    (root / "builtin" / "builtin.sqlite").symlink_to(querygym.builtin_database())
    records = [{"question_id": 1, "db_id": "builtin", "question": "heavy", "SQL": HEAVY, "evidence": "",
                "difficulty": "simple"},
               {"question_id": 2, "db_id": "builtin", "question": "light", "evidence": "", "difficulty": "simple",
                "SQL": "SELECT c.name FROM customers c, regions r WHERE c.region_id = r.region_id "
                       "AND r.country = 'Spain'"}]
    (root / "questions.json").write_text(json.dumps(records), encoding="utf-8")
    return querygym.load_bird(root / "questions.json", root)


def test_the_runner_stops_an_oracle_at_its_first_failed_step(tasks, tmp_path):
    steps = len(querygym.decompose(HEAVY, tasks[1]).actions)
    summary = run_agent(tasks, {"name": "oracle"}, tmp_path, env_kwargs={"timeout_s": LIMIT_S}, progress=None)
    record = json.loads((tmp_path / "episodes" / "1.json").read_text())
    failed = record["failed_step"]
    assert failed["error"]["type"] == "timeout" and failed["step"] < steps
    assert record["steps"] == failed["step"] and record["errors"] == 1 and not record["solved"]
    lines = [json.loads(line) for line in (tmp_path / "episodes" / "1.jsonl").read_text().splitlines()]
    assert len(lines) == failed["step"] and lines[-1]["action"] == failed["action"]
    assert [line["kind"] for line in lines] == ["cte"] * (failed["step"] - 1) + ["error"]
    assert summary["failed_steps"] == {"1": f"step {failed['step']} failed (timeout): {failed['error']['message']}"}
    assert summary["solved"] == 1 and json.loads((tmp_path / "episodes" / "2.json").read_text())["failed_step"] is None


def test_an_oracle_driven_by_hand_refuses_to_play_past_a_failed_step(tasks):
    env = QueryGymEnv(tasks, timeout_s=LIMIT_S)
    agent = OracleAgent()
    try:
        agent.reset(tasks[1])
        obs, info = env.reset(options={"task_id": 1})
        with pytest.raises(InvalidArgumentError, match=r"step \d failed \(timeout"):
            while True:
                obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
        assert agent.done and agent.failed_step["error"]["type"] == "timeout"
        assert agent.failed_step["action"].startswith('["perform_')
    finally:
        env.close()
