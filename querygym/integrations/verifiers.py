"""querygym as a verifiers (v1) environment: a taskset of querygym tasks, played turn by turn.

verifiers 0.4 composes an environment from a *taskset* (the tasks) and an *env* (how one task
becomes one episode).  Here:

- :class:`QueryGymTaskset` turns any querygym task set (the built-in tasks, or a dataset named
  like on the command line: ``data``/``format``/``db_root``/``tables`` or ``bird``) into
  verifiers tasks, one per playable task (``task_ids`` picks some);
- :class:`QueryGymVerifiersEnv` plays one task as a multi-turn exchange with its ``player``
  agent, the way verifiers' own TextArena and OpenEnv environments play a game engine: the
  overview is the first user turn, each model reply is one querygym action (the catalog's 25
  actions are the action space, described in the system prompt from ``actions.yaml``), and the
  observation of that action is the next user turn; the episode ends when querygym's
  environment terminates or truncates (``max_steps``);
- the rubric is querygym's reward: the episode's summed step reward is recorded as the trace's
  ``querygym_reward`` (1.0 for the right table, 0.1 once for a subset or superset), with the
  metrics ``solved`` and ``steps`` and querygym's last info in ``trace.info["querygym"]``.

verifiers loads environments by taskset id, from an installed top-level module that exports
its classes in ``__all__``; ``querygym-ra`` ships one, ``querygym_verifiers``::

    import verifiers.v1 as vf
    from querygym_verifiers import QueryGymEnvConfig
    env = vf.load_environment(QueryGymEnvConfig(taskset={"id": "querygym_verifiers"}))

or ``querygym_verifiers.load_environment(task_ids=[3], max_steps=10)``, and on the command line
``vf-eval querygym_verifiers --model ... --client.base-url ...``.  The player runs verifiers'
plain chat harness (``null``) as a local subprocess by default; change ``player`` to use
another harness or runtime.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from querygym.actions.catalog import catalog
from querygym.converters import load_tasks
from querygym.converters.builtin import builtin_tasks
from querygym.converters.tasks import TaskSet
from querygym.env.environment import QueryGymEnv
from querygym.errors import QueryGymError
from querygym.util import json_safe

try:
    import verifiers.v1 as vf
except ImportError as exc:  # the module is only imported by those who want verifiers
    raise QueryGymError(f"the verifiers integration needs verifiers: pip install 'querygym-ra[verifiers]' ({exc})") from None

TASKSET_ID = "querygym_verifiers"


@functools.cache
def _load(bird: str | None, data: str | None, format: str | None, db_root: str | None,
          tables: str | None) -> TaskSet:
    if bird:
        return load_tasks(bird, db_root=db_root, tables=tables, format="bird")
    if data:
        return load_tasks(data, db_root=db_root, tables=tables, format=format)
    return builtin_tasks()


class QueryGymTasksetConfig(vf.TasksetConfig):
    """Which querygym tasks to play, and how (``--env.taskset.*`` on verifiers' command line)."""

    bird: str | None = None
    """A BIRD-format question file (default: the built-in tasks)."""
    data: str | None = None
    """A dataset file or folder in any format querygym reads."""
    format: str | None = None
    """The format of ``data`` (detected by default)."""
    db_root: str | None = None
    """Folder of the databases (or a PostgreSQL server URL)."""
    tables: str | None = None
    """A tables.json giving schemas."""
    task_ids: list[int | str] | None = None
    """Only these tasks (default: every playable task)."""
    dialect: str = "sqlite"
    """The engine the agent plays on."""
    max_steps: int = 30
    """Actions per episode before truncation."""
    timeout_s: float = 5.0
    """Time limit per query, in seconds."""


class QueryGymData(vf.TaskData):
    """What verifiers keeps of one querygym task: its id, database and question."""
    task_id: int | str
    """The querygym task's id in its task set."""
    db_id: str
    question: str


class QueryGymTask(vf.Task[QueryGymData, vf.State, vf.TaskConfig]):
    """One querygym task as a verifiers task."""
    @property
    def key(self) -> str:
        """The task's key in verifiers' results: ``querygym/<task id>``."""
        return f"querygym/{self.data.task_id}"


class QueryGymTaskset(vf.Taskset[QueryGymTask, QueryGymTasksetConfig]):
    """Every playable task of the configured querygym task set, as a verifiers task."""

    @property
    def querygym_tasks(self) -> TaskSet:
        """The querygym task set the configuration names (the built-in tasks by default)."""
        c = self.config
        return _load(c.bird, c.data, c.format, c.db_root, c.tables)

    def load(self) -> Iterator[QueryGymTask]:
        """Every chosen task (the playable ones by default) as a verifiers task with the catalog's prompt."""
        tasks = self.querygym_tasks
        chosen = [tasks[i] for i in self.config.task_ids] if self.config.task_ids is not None else tasks.playable()
        system = catalog().render_prompt()
        for task in chosen:
            # The prompt is left unset: the overview (question and schema) needs the database,
            # so the env computes it at the start of the episode and opens the exchange with it.
            yield QueryGymTask(QueryGymData(id=str(task.id), name=f"querygym/{task.id}", description=task.question,
                                            system_prompt=system, task_id=task.id, db_id=task.db_id,
                                            question=task.question), self.config.task)

    def environment(self) -> QueryGymEnv:
        """A fresh querygym environment over this taskset's tasks (one per episode)."""
        c = self.config
        return QueryGymEnv(self.querygym_tasks, dialect=c.dialect, max_steps=c.max_steps, timeout_s=c.timeout_s)


class QueryGymEnvConfig(vf.EnvConfig):
    """The verifiers environment's configuration: the player and the taskset."""
    player: vf.AgentConfig = vf.AgentConfig(harness={"id": "null"}, runtime={"type": "subprocess"})
    """The agent that plays: verifiers' plain chat harness, run as a local subprocess."""


class QueryGymVerifiersEnv(vf.Env[QueryGymEnvConfig]):
    """One querygym episode per verifiers episode; the environment plays the user's side."""

    async def run(self, task: QueryGymTask, agents) -> None:
        """Play ``task`` with the player agent: relay its replies to a fresh :class:`QueryGymEnv` until the
        episode ends, then record the total reward, ``solved``, ``steps`` and the last ``info`` on the trace.
        """
        # Each episode gets its own QueryGymEnv and one thread: its SQLite connections stay in
        # the thread that opened them, and the event loop never waits on a query.
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="querygym-episode")
        loop = asyncio.get_running_loop()

        def call(fn, *args, **kwargs):
            return loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))

        qenv = await call(self.taskset.environment)
        total, steps, info = 0.0, 0, {}
        try:
            overview, info = await call(qenv.reset, options={"task_id": task.data.task_id})
            async with agents.player.interaction(task) as interaction:
                segment = await interaction.turn(overview)
                while not segment.terminated:
                    text, reward, terminated, truncated, info = await call(qenv.step, segment.last_reply)
                    total += reward
                    steps += 1
                    if terminated or truncated:
                        interaction.trace.stop("solved" if info.get("solved") else
                                               "terminated" if terminated else "truncated")
                        break
                    segment = await interaction.turn(text)
        finally:
            await call(qenv.close)
            executor.shutdown(wait=False)
        trace = interaction.trace
        trace.record_reward("querygym_reward", total)
        trace.record_metric("solved", float(bool(info.get("solved"))))
        trace.record_metric("steps", float(steps))
        trace.info["querygym"] = json_safe({"task_id": task.data.task_id, **info})


def load_environment(*, player: dict[str, Any] | None = None, **taskset: Any) -> vf.Env:
    """The verifiers environment over querygym tasks; ``taskset`` takes :class:`QueryGymTasksetConfig`'s fields.

    ``player`` overrides the agent's config (``model``, ``client``, ``harness``, ``max_turns``, ...).
    """
    config: dict[str, Any] = {"taskset": {"id": TASKSET_ID, **taskset}}
    if player:
        config["player"] = player
    return vf.load_environment(QueryGymEnvConfig.model_validate(config))
