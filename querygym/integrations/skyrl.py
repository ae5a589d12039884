"""querygym as a skyrl-gym text environment, registered as ``querygym``.

It follows skyrl-gym's text environments (``skyrl_gym.envs.sql.env.SQLEnv``, text2sql): the
environment is built with ``(env_config, extras)`` where ``extras`` is the dataset row's extra
fields, ``init(prompt)`` returns the chat to start from, and ``step(llm_text)`` returns
``{"observations": [{"role": "user", "content": ...}], "reward", "done", "metadata"}`` —
``metadata`` is querygym's whole info dict (kind, relation, sql, solved, reward breakdown, ...).

>>> import skyrl_gym
>>> from querygym.integrations.skyrl import dataset_rows, register
>>> register()
>>> row = dataset_rows(task_ids=[3])[0]
>>> env = skyrl_gym.make("querygym", env_config={}, extras=row)
>>> chat, meta = env.init(row["prompt"])
>>> [m["role"] for m in chat], meta["task_id"]
(['system', 'user'], 3)
>>> out = env.step('Action: ["get_tables"]')
>>> out["done"], out["metadata"]["kind"]
(False, 'exploration')
>>> env.close()

``env_config`` (SkyRL's ``environment.skyrl_gym.querygym`` section) names the task set like the
command line does — ``data``/``format``/``db_root``/``tables`` or ``bird``, the built-in tasks by
default — and the QueryGymEnv options ``dialect``, ``max_steps`` and ``timeout_s``.  ``extras``
must carry ``task_id``; ``max_turns`` ends the episode after that many turns (default: the
environment's ``max_steps``).  Task sets are loaded once per process and configuration.
"""

from __future__ import annotations

import functools
from typing import Any

from querygym.actions.catalog import catalog
from querygym.converters import load_tasks
from querygym.converters.builtin import builtin_tasks
from querygym.converters.tasks import TaskSet
from querygym.env.environment import QueryGymEnv
from querygym.errors import InvalidArgumentError, QueryGymError
from querygym.util import json_safe

ENV_ID = "querygym"
EXTRA_HINT = "pip install 'querygym-ra[skyrl]'"
#: env_config keys that choose the task set, and those passed to QueryGymEnv
DATASET_KEYS = ("bird", "data", "format", "db_root", "tables")
ENV_KEYS = ("dialect", "max_steps", "timeout_s")


def register() -> None:
    """Register ``querygym`` with skyrl-gym (``skyrl_gym.make("querygym", env_config=..., extras=...)``)."""
    try:
        import skyrl_gym
    except ImportError:
        raise QueryGymError(f"the SkyRL integration needs skyrl-gym: {EXTRA_HINT}") from None
    if ENV_ID not in skyrl_gym.registry:
        skyrl_gym.register(id=ENV_ID, entry_point="querygym.integrations.skyrl:QueryGymTextEnv")


@functools.cache
def _tasks(key: tuple[tuple[str, Any], ...]) -> TaskSet:
    config = dict(key)
    if config.get("bird"):
        return load_tasks(config["bird"], db_root=config.get("db_root"), tables=config.get("tables"), format="bird")
    if config.get("data"):
        return load_tasks(config["data"], db_root=config.get("db_root"), tables=config.get("tables"),
                          format=config.get("format"))
    return builtin_tasks()


def tasks_for(env_config: Any) -> TaskSet:
    """The task set an ``env_config`` (dict or OmegaConf) names; loaded once per process."""
    config = dict(env_config or {})
    return _tasks(tuple(sorted((k, config.get(k)) for k in DATASET_KEYS if config.get(k) is not None)))


def dataset_rows(tasks: TaskSet | None = None, *, task_ids=None, max_turns: int | None = None,
                 system_prompt: str | None = None) -> list[dict[str, Any]]:
    """SkyRL dataset rows (``prompt``, ``env_class``, ``task_id``, ``reward_spec``, ...) for ``tasks``.

    The prompt is the catalog's system prompt and the task's question; the environment's
    ``init`` replaces the user turn with the full overview (question and schema).  Write the rows
    to Parquet for SkyRL's trainer: ``pandas.DataFrame(rows).to_parquet(path)``.
    """
    tasks = tasks if tasks is not None else builtin_tasks()
    chosen = [tasks[i] for i in task_ids] if task_ids is not None else tasks.playable()
    system = system_prompt if system_prompt is not None else catalog().render_prompt()
    rows = []
    for task in chosen:
        row = {"prompt": [{"role": "system", "content": system}, {"role": "user", "content": task.question}],
               "env_class": ENV_ID, "task_id": task.id, "data_source": f"querygym/{tasks.name or 'tasks'}",
               "reward_spec": {"method": "rule", "ground_truth": task.gold_sql}}
        if max_turns is not None:
            row["max_turns"] = max_turns
        rows.append(row)
    return rows


def _text_env_base():
    try:
        from skyrl_gym.envs.base_text_env import BaseTextEnv
    except ImportError:
        raise QueryGymError(f"the SkyRL integration needs skyrl-gym: {EXTRA_HINT}") from None
    return BaseTextEnv


@functools.cache
def _env_class():
    BaseTextEnv = _text_env_base()

    class QueryGymTextEnv(BaseTextEnv):
        """One querygym episode driven by an LLM's text (see the module's documentation)."""

        def __init__(self, env_config: Any = None, extras: dict[str, Any] | None = None):
            super().__init__()
            extras = dict(extras or {})
            if extras.get("task_id") is None:
                raise InvalidArgumentError("a querygym SkyRL row needs extras['task_id'] (see dataset_rows)")
            config = dict(env_config or {})
            options = {k: config[k] for k in ENV_KEYS if config.get(k) is not None}
            self.env = QueryGymEnv(tasks_for(config), **options)
            self.task_id = extras["task_id"]
            self.max_turns = int(extras.get("max_turns") or self.env.max_steps)
            self.total_reward = 0.0
            self.solved = False
            self.chat_history: list[dict[str, str]] = []

        def init(self, prompt):
            overview, info = self.env.reset(options={"task_id": self.task_id})
            chat = [dict(m) for m in (prompt or [])]
            users = [i for i, m in enumerate(chat) if m.get("role") == "user"]
            if users:
                chat[users[-1]] = {"role": "user", "content": overview}
            else:
                chat.append({"role": "user", "content": overview})
            self.chat_history = list(chat)
            return chat, json_safe(info)

        def step(self, action: str):
            self.turns += 1
            self.chat_history.append({"role": "assistant", "content": action})
            text, reward, terminated, truncated, info = self.env.step(action)
            self.total_reward += reward
            self.solved = self.solved or bool(info.get("solved"))
            done = terminated or truncated or self.turns >= self.max_turns
            info = json_safe(info)
            info.update(terminated=terminated, truncated=truncated or (done and not terminated))
            observations = [] if done else [{"role": "user", "content": text}]
            self.chat_history += observations
            return {"observations": observations, "reward": float(reward), "done": done, "metadata": info,
                    "postprocessed_action": None}

        def get_metrics(self) -> dict[str, Any]:
            return {"solved": float(self.solved), "steps": self.turns, "total_reward": self.total_reward}

        def close(self):
            self.env.close()

    QueryGymTextEnv.__qualname__ = "QueryGymTextEnv"  # importable as querygym.integrations.skyrl.QueryGymTextEnv
    return QueryGymTextEnv


def __getattr__(name: str) -> Any:
    if name == "QueryGymTextEnv":  # skyrl-gym's entry point; built on first use (imports skyrl-gym)
        return _env_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
