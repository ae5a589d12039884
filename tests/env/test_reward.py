"""The reward on its own, and in the environment: nothing is paid twice or for nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import querygym
from querygym.env.environment import QueryGymEnv
from querygym.env.reward import RewardConfig, RewardTracker

RELATIONS = st.sampled_from(["equal", "subset", "superset", "different", None])
KINDS = st.sampled_from(["cte", "exploration", "error"])


@given(st.lists(st.tuples(KINDS, RELATIONS), max_size=60))
def test_partial_credit_is_paid_at_most_once_and_success_only_for_equal(steps):
    tracker = RewardTracker(RewardConfig())
    totals = [tracker.score(kind, relation if kind == "cte" else None) for kind, relation in steps]
    assert sum(t["partial"] for t in totals) <= 0.1
    for (kind, relation), t in zip(steps, totals):
        assert (t["success"] > 0) == (kind == "cte" and relation == "equal")


def test_error_and_step_costs_apply_to_every_step():
    tracker = RewardTracker(RewardConfig(error=-0.05, step=-0.01))
    assert tracker.score("error")["total"] == pytest.approx(-0.06)
    assert tracker.score("exploration")["total"] == pytest.approx(-0.01)


def test_a_report_pays_only_for_a_right_answer():
    tracker = RewardTracker(RewardConfig(success=2.0))
    assert tracker.score("report", report={"answer": False, "quality": 1.0})["total"] == 0.0
    assert tracker.score("report", report={"answer": True, "quality": 0.75})["total"] == 1.5


@pytest.fixture
def env():
    env = QueryGymEnv(querygym.builtin_tasks())
    env.reset(options={"task_id": querygym.builtin_tasks().ids[0]})
    yield env
    env.close()


def test_an_empty_table_earns_nothing_and_repeating_a_superset_pays_once(env):
    *_, info = env.step('["perform_filter", "regions", "1 = 0"]')
    assert info["row_count"] == 0 and info["relation"] == "different" and info["reward"]["total"] == 0.0
    paid = []
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step('["perform_limit", "regions", "100"]')
        paid.append(reward)
    assert paid[1:] == [0.0, 0.0] and not info["solved"]
