"""querygym as an OpenEnv environment: a server with typed action, observation and state, and its client.

The server is OpenEnv's own (``openenv.core.env_server.create_fastapi_app``): every WebSocket
session gets its own :class:`QueryGymEnvironment`, which wraps its own
:class:`~querygym.env.environment.QueryGymEnv` — its own episode, its own read-only database
connections, the same statement timeouts and row caps as in-process play.  Start it with
``querygym serve-env [dataset options] [--port 8000]`` or :func:`serve`; talk to it with
:class:`QueryGymClient`::

    from querygym.integrations.openenv import QueryGymAction, QueryGymClient
    with QueryGymClient(base_url="http://127.0.0.1:8000").sync() as env:
        result = env.reset(task_id=3)                   # result.observation.text: the overview
        result = env.step(QueryGymAction(text='Action: ["get_tables"]'))
        result.observation.kind, result.reward, result.done, result.observation.info

Types, all built from the action catalog (``actions.yaml``) when first used:

- ``QueryGymAction``: either ``text`` (the agent's reply, parsed like ``QueryGymEnv.step``) or
  ``name`` (one of the catalog's action names, a ``Literal`` in the JSON schema) plus ``args``.
- ``QueryGymObservation``: ``text``, ``kind`` (overview / exploration / cte / error / report),
  ``task_id``, ``step``, ``solved``, ``truncated`` and ``info`` (the env's info dict, JSON-safe);
  OpenEnv's ``reward`` and ``done`` (terminated or truncated) travel beside it.
- ``QueryGymState``: the session's episode: ``task_id``, ``db_id``, ``question``, ``step_count``,
  ``total_reward``, ``solved``, ``done``.

OpenEnv itself is imported only when one of these is first used (extra ``openenv``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
import uuid
from types import SimpleNamespace
from typing import Any, Literal

from querygym.actions.catalog import catalog
from querygym.converters.tasks import Task, TaskSet
from querygym.env.environment import QueryGymEnv
from querygym.errors import InvalidArgumentError, QueryGymError
from querygym.util import json_safe

#: the names this module serves through ``__getattr__`` (built on first use)
_TYPES = ("QueryGymAction", "QueryGymObservation", "QueryGymState", "QueryGymEnvironment", "QueryGymClient")
EXTRA_HINT = "pip install 'querygym-ra[openenv]'"


def action_text(name: str, args: list[Any] | tuple[Any, ...] = ()) -> str:
    """The text form of an action given by name and arguments.

    >>> action_text("preview_table", ["customers"])
    'Action: ["preview_table", "customers"]'
    """
    return "Action: " + json.dumps([name, *args], ensure_ascii=False)


def _action_docs() -> dict[str, dict[str, Any]]:
    """Every action of the catalog as JSON-schema documentation: group, description, usage."""
    return {spec.name: {"group": spec.group, "description": spec.description, "usage": spec.usage,
                        "params": [{"name": p.name, "type": p.type, "required": p.required,
                                    "description": p.description} for p in spec.params]}
            for spec in catalog()}


@functools.cache
def types() -> SimpleNamespace:
    """The OpenEnv classes, built once (imports OpenEnv).

    Raises :class:`~querygym.errors.QueryGymError` naming the extra when OpenEnv is missing.
    """
    # ``openenv.core`` imports Gradio for its optional web page whenever Gradio is installed, and
    # that import is most of OpenEnv's (seconds); it skips the page when Gradio cannot be
    # imported.  Unless the page is asked for (ENABLE_WEB_INTERFACE, as OpenEnv reads it), Gradio
    # is marked absent while OpenEnv is first imported, then importable again.
    hide_gradio = ("openenv.core" not in sys.modules and "gradio" not in sys.modules
                   and os.environ.get("ENABLE_WEB_INTERFACE", "false").lower() not in ("true", "1", "yes"))
    if hide_gradio:
        sys.modules["gradio"] = None  # `import gradio` raises ModuleNotFoundError
    try:
        from openenv.core.client_types import StepResult
        from openenv.core.env_client import EnvClient
        from openenv.core.env_server.interfaces import Environment
        from openenv.core.env_server.types import Action, Observation, State
        from pydantic import Field, model_validator
    except ImportError as exc:
        raise QueryGymError(f"the OpenEnv integration needs openenv-core: {EXTRA_HINT} ({exc})") from None
    finally:
        if hide_gradio and sys.modules.get("gradio", 0) is None:
            del sys.modules["gradio"]
    names = catalog().names
    ActionName = Literal[names]

    class QueryGymAction(Action):
        """One querygym action: the agent's ``text``, or an action ``name`` with its ``args``."""

        text: str | None = Field(default=None, description=(
            'The agent\'s reply holding one action, e.g. \'Action: ["get_tables"]\'; parsed like QueryGymEnv.step.'))
        name: ActionName | None = Field(default=None, description="An action of the catalog (instead of text).")
        args: list[Any] = Field(default_factory=list, description="The action's parameters, in order (with name).")

        model_config = {**Action.model_config, "json_schema_extra": {"actions": _action_docs()}}

        @model_validator(mode="after")
        def _one_form(self):
            if (self.text is None) == (self.name is None):
                raise ValueError("give either text (the agent's reply) or name (an action of the catalog), not both")
            if self.text is not None and self.args:
                raise ValueError("args go with name, not with text")
            return self

        def to_text(self) -> str:
            return self.text if self.text is not None else action_text(self.name, self.args)

    class QueryGymObservation(Observation):
        """What the agent sees after a reset or a step, and the environment's info."""

        text: str = Field(default="", description="The observation text shown to the agent.")
        kind: str = Field(default="overview", description="overview, exploration, cte, error or report.")
        task_id: int | str | None = Field(default=None, description="The task being played.")
        step: int = Field(default=0, description="Steps taken in this episode.")
        solved: bool = Field(default=False, description="The answer table equals the target.")
        truncated: bool = Field(default=False, description="The episode ran out of steps or budget.")
        info: dict[str, Any] = Field(default_factory=dict, description="QueryGymEnv's info dict (JSON-safe).")

    class QueryGymState(State):
        """The session's current episode."""

        task_id: int | str | None = None
        db_id: str | None = None
        question: str | None = None
        total_reward: float = 0.0
        solved: bool = False
        done: bool = False

    class QueryGymEnvironment(Environment):
        """One session's environment: a :class:`QueryGymEnv` of its own over a shared task set.

        ``reset(seed=None, episode_id=None, task_id=None)`` starts an episode (a random playable
        task unless ``task_id`` names one); ``step(action)`` plays one action.
        """

        # Each instance owns its QueryGymEnv and database connections; the only shared object is
        # the task set, whose targets are computed once under each task's lock.
        SUPPORTS_CONCURRENT_SESSIONS = True

        def __init__(self, tasks: TaskSet | list[Task] | None = None, **env_kwargs: Any):
            super().__init__()
            self.env = QueryGymEnv(tasks, **env_kwargs)
            self._state = QueryGymState()

        def reset(self, seed: int | None = None, episode_id: str | None = None,
                  task_id: int | str | None = None, **kwargs: Any) -> QueryGymObservation:
            if kwargs:
                raise InvalidArgumentError(f"unknown reset argument(s) {sorted(kwargs)}; "
                                           "supported: seed, episode_id, task_id")
            options = {"task_id": task_id} if task_id is not None else None
            text, info = self.env.reset(seed=seed, options=options)
            task = self.env.task
            self._state = QueryGymState(episode_id=episode_id or str(uuid.uuid4()), step_count=0,
                                        task_id=task.id, db_id=task.db_id, question=task.question)
            return QueryGymObservation(text=text, kind=info["kind"], task_id=task.id, info=json_safe(info),
                                       done=False, reward=None)

        def step(self, action: QueryGymAction, timeout_s: float | None = None,
                 **kwargs: Any) -> QueryGymObservation:
            if self.env.episode is None:
                raise InvalidArgumentError("reset the environment before the first step")
            text, reward, terminated, truncated, info = self.env.step(action.to_text())
            state = self._state
            state.step_count += 1
            state.total_reward += reward
            state.solved = state.solved or bool(info.get("solved"))
            state.done = terminated or truncated
            return QueryGymObservation(text=text, kind=info["kind"], task_id=info["task_id"], step=info["step"],
                                       solved=bool(info.get("solved")), truncated=truncated,
                                       info=json_safe(info), reward=reward, done=terminated or truncated)

        @property
        def state(self) -> QueryGymState:
            return self._state

        def close(self) -> None:
            self.env.close()

    class QueryGymClient(EnvClient[QueryGymAction, QueryGymObservation, QueryGymState]):
        """The client of a querygym OpenEnv server; ``step`` also takes plain action text."""

        def _step_payload(self, action: QueryGymAction | str) -> dict[str, Any]:
            if isinstance(action, str):
                action = QueryGymAction(text=action)
            return action.model_dump(exclude_none=True, exclude={"metadata"})

        def _parse_result(self, payload: dict[str, Any]) -> StepResult[QueryGymObservation]:
            if "observation" not in payload:  # an error answer of the server
                raise QueryGymError(f"the environment server answered with an error: {payload}")
            observation = QueryGymObservation(**payload["observation"], reward=payload.get("reward"),
                                              done=payload.get("done", False))
            return StepResult(observation=observation, reward=payload.get("reward"), done=payload.get("done", False))

        def _parse_state(self, payload: dict[str, Any]) -> QueryGymState:
            return QueryGymState(**payload)

        async def disconnect(self) -> None:
            # OpenEnv's client closes its socket right after its "close" message, while the
            # server, having ended the session, closes it too and logs the client's early close
            # as an error.  Letting the server close first ends every session without one.
            ws = self._ws
            if ws is None:
                return
            try:
                await self._send({"type": "close"})
                await asyncio.wait_for(ws.wait_closed(), timeout=5)
            except Exception:  # best effort, as in OpenEnv's own disconnect
                pass
            finally:
                try:
                    await ws.close()
                except Exception:
                    pass
                self._ws = None

    classes = (QueryGymAction, QueryGymObservation, QueryGymState, QueryGymEnvironment, QueryGymClient)
    for cls in classes:  # importable (and picklable) as querygym.integrations.openenv.<name>
        cls.__qualname__ = cls.__name__
    return SimpleNamespace(QueryGymAction=QueryGymAction, QueryGymObservation=QueryGymObservation,
                           QueryGymState=QueryGymState, QueryGymEnvironment=QueryGymEnvironment,
                           QueryGymClient=QueryGymClient)


def __getattr__(name: str) -> Any:
    if name in _TYPES:
        return getattr(types(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def create_app(tasks: TaskSet | list[Task] | None = None, *, max_sessions: int = 64, **env_kwargs: Any):
    """The FastAPI app of OpenEnv's server over ``tasks`` (the built-in tasks by default).

    ``max_sessions`` caps concurrent WebSocket sessions (each one episode at a time);
    ``env_kwargs`` go to every session's :class:`QueryGymEnv` (``dialect``, ``max_steps``,
    ``timeout_s``, ...).
    """
    if max_sessions < 1:
        raise InvalidArgumentError(f"max_sessions must be at least 1, got {max_sessions}")
    t = types()
    from openenv.core.env_server.http_server import create_fastapi_app

    if tasks is not None and not isinstance(tasks, TaskSet):
        tasks = TaskSet(tasks)
    factory = functools.partial(t.QueryGymEnvironment, tasks=tasks, **env_kwargs)
    return create_fastapi_app(factory, t.QueryGymAction, t.QueryGymObservation, max_concurrent_envs=max_sessions)


def serve(tasks: TaskSet | list[Task] | None = None, *, host: str = "127.0.0.1", port: int = 8000,
          max_sessions: int = 64, log_level: str = "warning", **env_kwargs: Any) -> None:
    """Serve :func:`create_app` with uvicorn until interrupted."""
    app = create_app(tasks, max_sessions=max_sessions, **env_kwargs)
    try:
        import uvicorn
    except ImportError:
        raise QueryGymError(f"serving needs uvicorn: {EXTRA_HINT}") from None
    uvicorn.run(app, host=host, port=port, log_level=log_level)


async def play_scripts(base_url: str, scripts: dict[Any, list[str]], *, sessions: int = 8,
                       seed: int | None = 0) -> dict[Any, list[dict[str, Any]]]:
    """Play action scripts (``{task_id: [action text, ...]}``) over ``sessions`` concurrent sessions.

    Session ``i`` plays every ``sessions``-th task, one episode after another, stopping a script
    when the episode ends.  Returns, per task, the reset's and each step's record: ``kind``,
    ``text``, ``reward``, ``done``, ``solved``.  Used by the tests and ``benchmarks/bench_openenv.py``.
    """
    client_cls = types().QueryGymClient
    ids = list(scripts)

    def record(result) -> dict[str, Any]:
        obs = result.observation
        return {"kind": obs.kind, "text": obs.text, "reward": result.reward, "done": result.done,
                "solved": obs.solved}

    async def session(share: list[Any]) -> dict[Any, list[dict[str, Any]]]:
        out: dict[Any, list[dict[str, Any]]] = {}
        async with client_cls(base_url=base_url) as client:
            for task_id in share:
                steps = [record(await client.reset(task_id=task_id, seed=seed))]
                for action in scripts[task_id]:
                    steps.append(record(await client.step(action)))
                    if steps[-1]["done"]:
                        break
                out[task_id] = steps
        return out

    shares = [ids[i::sessions] for i in range(sessions)]
    results: dict[Any, list[dict[str, Any]]] = {}
    for part in await asyncio.gather(*(session(share) for share in shares if share)):
        results.update(part)
    return {task_id: results[task_id] for task_id in ids}
