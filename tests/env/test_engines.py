"""``gymnasium.make("querygym/QueryGym-v0", dialect=...)`` plays the same tasks on every engine:
the built-in reference scripts reach the answer, and Gymnasium's checker passes."""

from __future__ import annotations

import warnings

import gymnasium
from gymnasium.utils.env_checker import check_env

import querygym
from querygym.dialects import get


def test_reference_scripts_solve_the_builtin_tasks(engine):
    tasks = querygym.builtin_tasks()
    references = querygym.builtin_references()
    env = gymnasium.make("querygym/QueryGym-v0", dialect=engine, max_steps=50)
    solved = []
    try:
        for task_id in tasks.ids[:33]:  # the SQL tasks; later ones add report actions
            env.reset(options={"task_id": task_id})
            for action in references[str(task_id)]:
                _, reward, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
            solved.append(terminated and reward == 1.0)
            assert env.unwrapped.episode.backend.dialect.name == engine
    finally:
        env.close()
    assert all(solved), [t for t, ok in zip(tasks.ids, solved) if not ok]


def test_check_env_passes(engine):
    env = gymnasium.make("querygym/QueryGym-v0", dialect=engine)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_env(env.unwrapped)
    finally:
        env.close()


def test_dialects_are_classes_found_by_name():
    for name in ("sqlite", "postgres", "duckdb"):
        cls = get(name)
        assert isinstance(cls, type) and cls.name == name and cls.input_dialect == "sqlite"
