"""Runs of agents: scripts, oracle, replay; process pool; resuming; scorecards; budgets; vector envs."""

import json

import gymnasium
import pytest

import querygym
from querygym.cli import main
from querygym.runs.runner import run_agent

TASKS = querygym.builtin_tasks()


def read_lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_a_run_writes_trajectories_summary_and_scorecard(tmp_path):
    summary = run_agent(TASKS, {"name": "oracle"}, tmp_path, progress=None)
    assert summary["episodes"] == summary["solved"] == len(TASKS)
    lines = read_lines(tmp_path / "trajectories.jsonl")
    assert len(lines) == summary["steps"]
    assert {"task", "step", "action", "parsed_action", "kind", "observation", "reward", "cte_id", "cost",
            "agent_s", "env_s", "tokens"} <= set(lines[0])
    assert [line["task"] for line in lines] == sorted((line["task"] for line in lines), key=TASKS.ids.index)
    card = (tmp_path / "scorecard.md").read_text()
    assert "| simple |" in card and "steps to solve" in card
    assert (tmp_path / "scorecard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_two_workers_give_the_same_episodes_as_one(tmp_path):
    one = run_agent(TASKS, {"name": "oracle"}, tmp_path / "one", progress=None)
    two = run_agent(TASKS, {"name": "oracle"}, tmp_path / "two", workers=2, progress=None)
    assert {k: one[k] for k in ("episodes", "solved", "steps", "errors")} == \
           {k: two[k] for k in ("episodes", "solved", "steps", "errors")}
    assert (tmp_path / "one" / "trajectories.jsonl").read_text().count("\n") == \
           (tmp_path / "two" / "trajectories.jsonl").read_text().count("\n")


def test_an_interrupted_run_resumes_without_duplicating_or_losing_episodes(tmp_path):
    seen = []

    def stop_after_five(record):
        seen.append(record["task"])
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_agent(TASKS, {"name": "script", "scripts": None}, tmp_path, progress=None, on_episode=stop_after_five)
    assert len(list((tmp_path / "episodes").glob("*.json"))) == 5
    assert not list((tmp_path / "episodes").glob("*.tmp"))
    summary = run_agent(TASKS, {"name": "script", "scripts": None}, tmp_path, progress=None)
    assert summary["played_now"] == len(TASKS) - 5
    assert summary["episodes"] == summary["solved"] == len(TASKS)
    lines = read_lines(tmp_path / "trajectories.jsonl")
    assert len({(line["task"], line["step"]) for line in lines}) == len(lines) == summary["steps"]


def test_resuming_with_other_settings_is_refused(tmp_path):
    run_agent(TASKS.select(TASKS.ids[:2]), {"name": "oracle"}, tmp_path, progress=None)
    with pytest.raises(querygym.InvalidArgumentError, match="another agent"):
        run_agent(TASKS.select(TASKS.ids[:2]), {"name": "script", "scripts": None}, tmp_path, progress=None)


def test_replay_agent_replays_a_trajectory_file(tmp_path):
    assert main(["run", "--agent", "oracle", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["run", "--agent", "replay", "--trajectories", str(tmp_path / "a" / "trajectories.jsonl"),
                 "--out", str(tmp_path / "b"), "--quiet"]) == 0
    a = read_lines(tmp_path / "a" / "trajectories.jsonl")
    b = read_lines(tmp_path / "b" / "trajectories.jsonl")
    assert [(x["task"], x["action"], x["reward"]) for x in a] == [(x["task"], x["action"], x["reward"]) for x in b]


def test_budget_truncates_and_costs_come_from_the_catalog():
    env = querygym.QueryGymEnv(budget=2.0)
    try:
        env.reset(options={"task_id": TASKS.ids[0]})
        obs, reward, terminated, truncated, info = env.step('["get_tables"]')
        assert info["cost"] == querygym.catalog()["get_tables"].cost == 0.5 and not truncated
        obs, reward, terminated, truncated, info = env.step("not an action")
        assert info["cost"] == 1.0 and info["total_cost"] == 1.5 and not truncated
        obs, reward, terminated, truncated, info = env.step('["preview_table", "regions"]')
        assert info["total_cost"] == 2.5 and truncated and info["out_of_budget"]
    finally:
        env.close()


def test_scorecard_reports_cost_normalised_success(tmp_path):
    summary = run_agent(TASKS, {"name": "oracle"}, tmp_path, env_kwargs={"budget": 3.0}, progress=None)
    # an oracle needing two operations (cost 4) runs out of budget after the first
    assert 0 < summary["solved"] < summary["episodes"]
    assert summary["solved_per_100_cost"] == pytest.approx(100 * summary["solved"] / summary["total_cost"], rel=1e-3)
    assert "solved per 100 units" in (tmp_path / "scorecard.md").read_text()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_gymnasium_vector_environments(mode):
    envs = gymnasium.make_vec("querygym/QueryGym-v0", num_envs=2, vectorization_mode=mode)
    try:
        obs, info = envs.reset(seed=3, options={"task_id": 9})
        assert len(obs) == 2 and list(info["task_id"]) == [9, 9]
        obs, reward, terminated, truncated, info = envs.step(
            ('["get_tables"]', '["perform_aggregate", "customers", "segment", "segment, COUNT(*)"]'))
        assert list(terminated) == [False, True] and list(info["kind"]) == ["exploration", "cte"]
        assert reward[1] == querygym.RewardConfig().success
    finally:
        envs.close()


def test_ray_executor_runs_episodes_as_ray_tasks(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    summary = run_agent(TASKS.select(TASKS.ids[:6]), {"name": "oracle"}, tmp_path, workers=2, executor="ray",
                        progress=None)
    assert summary["episodes"] == summary["solved"] == 6
