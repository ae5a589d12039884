"""Solved means right: the random agent over the built-in tasks, ten seeds, solves almost nothing,
and every episode counted as solved has an answer table equal to the target (checked here again
from the table itself, not from the environment's verdict)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import pytest

import querygym
from querygym.agents import get
from querygym.env.environment import QueryGymEnv

SEEDS = range(10)


def _play_seed(seed: int, agent_name: str = "random") -> list[tuple]:
    """(task id, seed, solved, answer rows, ordered) for every built-in task played with ``seed``."""
    tasks = querygym.builtin_tasks()
    env = QueryGymEnv(tasks, max_steps=30)
    agent = get("random", seed=seed) if agent_name == "random" else get(agent_name)
    played = []
    try:
        for task in tasks:
            obs, info = env.reset(seed=seed, options={"task_id": task.id})
            agent.reset(task)
            answer_id, solved = None, False
            for _ in range(30):
                if agent.done:
                    break
                obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
                if info["kind"] == "cte":
                    answer_id = info["cte_id"]
                if info["kind"] == "report":
                    answer_id = info["action"][1]
                if terminated or truncated:
                    solved = info["solved"]
                    break
            rows, ordered = None, False
            if solved:  # the table itself, read again: not the environment's verdict
                node = env.episode.plan.node(answer_id)
                result = env.episode.backend.execute(env.episode.dialect.compile(env.episode.plan, node),
                                                     max_rows=None)
                rows, ordered = result.rows, task.target_ordered and node.ordered
            played.append((task.id, seed, solved, rows, ordered))
    finally:
        env.close()
    return played


@pytest.fixture(scope="module")
def episodes():
    """Every episode of the random agent, seeds played two at a time in worker processes."""
    with ProcessPoolExecutor(max_workers=2) as pool:
        return [episode for seed_episodes in pool.map(_play_seed, SEEDS) for episode in seed_episodes]


def test_the_random_agent_solves_at_most_one_percent(episodes):
    solved = sum(s for _, _, s, _, _ in episodes)
    assert len(episodes) == 10 * len(querygym.builtin_tasks())
    assert solved <= 0.01 * len(episodes), f"the random agent solved {solved} of {len(episodes)} episodes"


def test_every_solved_episode_has_an_answer_equal_to_the_target(episodes):
    tasks = querygym.builtin_tasks()
    for task_id, seed, solved, rows, ordered in episodes:
        if solved:
            comparison = querygym.compare_tables(rows, tasks[task_id].target_result().rows, ordered=ordered)
            assert comparison.equal, f"task {task_id} (seed {seed}) counted as solved: {comparison.relation}"


def test_the_solved_check_sees_right_answers_too():
    """The same check on the reference scripts, which solve every task: each answer table, read again,
    equals the target (so the check above is not passing for want of solved episodes)."""
    played = _play_seed(0, "script")
    tasks = querygym.builtin_tasks()
    assert len(played) == len(tasks) and all(solved for _, _, solved, _, _ in played)
    for task_id, _, _, rows, ordered in played:
        assert querygym.compare_tables(rows, tasks[task_id].target_result().rows, ordered=ordered).equal, task_id


def test_a_wrong_report_ends_the_episode_unsolved():
    """The other side: a report task ended by submit_report on a wrong table is terminated, not solved."""
    tasks = querygym.builtin_tasks()
    task = next(t for t in tasks if t.requires_report)
    env = QueryGymEnv(tasks)
    try:
        env.reset(options={"task_id": task.id})
        obs, reward, terminated, truncated, info = env.step('["perform_limit", "regions", "1"]')
        obs, reward, terminated, truncated, info = env.step(f'["submit_report", "{info["cte_id"]}", "hello"]')
        assert terminated and not info["solved"] and reward == 0.0
    finally:
        env.close()
