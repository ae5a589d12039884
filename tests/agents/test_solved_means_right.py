"""Solved means right: the random agent over the built-in tasks, ten seeds, solves almost nothing,
and every episode counted as solved has an answer table equal to the target (checked here again
from the table itself, not from the environment's verdict)."""

from __future__ import annotations

import pytest

import querygym
from querygym.agents import get
from querygym.env.environment import QueryGymEnv

SEEDS = range(10)


@pytest.fixture(scope="module")
def episodes():
    """(task, seed, solved, answer table rows, ordered) for every episode of the random agent."""
    tasks = querygym.builtin_tasks()
    env = QueryGymEnv(tasks, max_steps=30)
    played = []
    try:
        for seed in SEEDS:
            agent = get("random", seed=seed)
            for task in tasks:
                obs, info = env.reset(seed=seed, options={"task_id": task.id})
                agent.reset(task)
                answer_id, solved = None, False
                for _ in range(30):
                    obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
                    if info["kind"] == "cte":
                        answer_id = info["cte_id"]
                    if info["kind"] == "report":
                        answer_id = info["action"][1]
                    if terminated or truncated:
                        solved = info["solved"]
                        break
                rows, ordered = None, False
                if solved:
                    node = env.episode.plan.node(answer_id)
                    result = env.episode.backend.execute(env.episode.dialect.compile(env.episode.plan, node),
                                                         max_rows=None)
                    rows, ordered = result.rows, task.target_ordered and node.ordered
                played.append((task, seed, solved, rows, ordered))
    finally:
        env.close()
    return played


def test_the_random_agent_solves_at_most_one_percent(episodes):
    solved = sum(s for _, _, s, _, _ in episodes)
    assert len(episodes) == 10 * len(querygym.builtin_tasks())
    assert solved <= 0.01 * len(episodes), f"the random agent solved {solved} of {len(episodes)} episodes"


def test_every_solved_episode_has_an_answer_equal_to_the_target(episodes):
    for task, seed, solved, rows, ordered in episodes:
        if solved:
            comparison = querygym.compare_tables(rows, task.target_result().rows, ordered=ordered)
            assert comparison.equal, f"task {task.id} (seed {seed}) counted as solved: {comparison.relation}"


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
