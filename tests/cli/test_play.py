"""``querygym play``'s prompt, driven in-process on the built-in tasks."""

from __future__ import annotations

import pytest

import querygym
from querygym.cli.play import PlaySession
from querygym.env.environment import QueryGymEnv


@pytest.fixture
def session():
    env = QueryGymEnv(querygym.builtin_tasks(), max_steps=3)
    lines: list[str] = []
    play = PlaySession(env, write=lines.append)
    play.lines = lines
    yield play
    env.close()


def test_help_explains_the_prompts_own_commands(session):
    session.start(session.task_ids[0])
    session.handle(":help")
    text = session.lines[-1]
    for command in (":actions", ":history", ":reset", ":next", ":quit"):
        assert command in text


def test_text_that_is_no_action_uses_no_step(session):
    session.start(session.task_ids[0])
    session.handle("show me the tables please")
    session.handle(":frobnicate")
    assert session.env._steps == 0 and session.history == []
    assert "No step was used" in session.lines[-2] and "Unknown command :frobnicate" in session.lines[-1]


def test_history_shows_results_and_rewards(session):
    task_id = session.task_ids[0]
    session.start(task_id)
    session.handle('["get_tables"]')
    session.handle('["perform_limit", "regions", "1"]')
    session.handle(":history")
    shown = session.lines[-1]
    assert '1: ["get_tables"] -> exploration, reward 0' in shown
    assert '2: ["perform_limit", "regions", "1"] -> T_0 (' in shown


def test_an_unsolved_end_shows_a_summary_and_the_gold_answer_then_reset_and_next_continue(session):
    first = session.task_ids[0]
    session.start(first)
    for _ in range(3):
        session.handle('["get_tables"]')
    text = "\n".join(session.lines[-3:])
    assert "Out of steps. 3 step(s)" in text and "The gold SQL:" in text
    assert session.env.task.gold_sql.strip() in text
    session.handle('["get_tables"]')  # the episode is over: no step is taken
    assert "The episode is over" in session.lines[-1] and session.env._steps == 3
    session.handle(":reset")
    assert session.task_id == first and session.env._steps == 0 and session.history == []
    session.handle(":next")
    assert session.task_id == session.task_ids[1]


def test_a_solved_episode_says_so(session):
    session.env.max_steps = 30
    task_id = session.task_ids[0]
    session.start(task_id)
    for action in querygym.builtin_references()[str(task_id)]:
        session.handle(action)
    assert any(line.startswith("Solved!") for line in session.lines)
    assert not any("The gold SQL:" in line for line in session.lines)
