"""The agent interface and the agents that play fixed steps (scripts, the oracle, replays)."""

from __future__ import annotations

from typing import Any

from querygym.agents.oracle import with_report
from querygym.agents.scripts import load_scripts, load_trajectory_actions
from querygym.converters.builtin import builtin_references
from querygym.errors import InvalidArgumentError
from querygym.plan.decompose import decompose


class Agent:
    """Base class: ``reset(task)`` before each episode, ``act(observation, info)`` for each step.

    ``usage`` holds counters the runner records with each step (tokens for language models).
    ``done`` tells the runner the agent has nothing more to say (a script that ran out).
    """

    name = "agent"
    #: Whether a failed step ends the episode: the runner stops there and records the step and its
    #: error.  True for agents whose later steps build on every earlier one (the oracle's
    #: ``T_n`` ids assume each step made its table), False for agents that repair their mistakes.
    STOPS_AT_FAILED_STEP: bool = False

    def __init__(self) -> None:
        self.usage: dict[str, int] = {}
        self.done = False

    def reset(self, task) -> None:
        """Begin an episode of ``task``."""
        self.done = False

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """The next action text, given the newest observation and the environment's ``info``."""
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """How to rebuild this agent in another process: ``querygym.agents.get(**spec)``."""
        return {"name": self.name}


class ScriptedAgent(Agent):
    """Plays a fixed list of actions per task, then stops."""

    def __init__(self) -> None:
        super().__init__()
        self._queue: list[str] = []

    def script_for(self, task) -> list[str] | None:
        """The actions to play on ``task``, or None when there is no script for it."""
        raise NotImplementedError

    def reset(self, task) -> None:
        """Load the task's script; a task without one is an :class:`~querygym.errors.InvalidArgumentError`."""
        super().reset(task)
        script = self.script_for(task)
        if script is None:
            raise InvalidArgumentError(f"{self.name}: no script for task {task.id}")
        self._queue = list(script)
        self.done = not self._queue

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """The script's next action; ``done`` is set once the script is used up."""
        if not self._queue:
            self.done = True
            raise InvalidArgumentError(f"{self.name}: the script has no more actions")
        action = self._queue.pop(0)
        self.done = not self._queue
        return action


class ScriptAgent(ScriptedAgent):
    """Action scripts by task id: a file or folder (see :func:`querygym.agents.scripts.load_scripts`), a
    mapping, or the built-in reference scripts when neither is given."""

    name = "script"

    def __init__(self, scripts: str | dict[str, list[str]] | None = None) -> None:
        super().__init__()
        self._source = scripts
        if scripts is None:
            self.scripts = builtin_references()
        elif isinstance(scripts, dict):
            self.scripts = {str(k): list(v) for k, v in scripts.items()}
        else:
            self.scripts = load_scripts(scripts)

    def script_for(self, task) -> list[str] | None:
        """The script given for ``task``'s id, or None."""
        return self.scripts.get(str(task.id))

    def spec(self) -> dict[str, Any]:
        """How to rebuild this agent elsewhere: its name and where its scripts came from."""
        return {"name": self.name, "scripts": self._source if not isinstance(self._source, dict) else self.scripts}


class OracleAgent(ScriptedAgent):
    """Decomposes each task's gold SQL into steps and plays them, stopping at the first that fails.

    Each step reads the tables of the steps before it, so after a failure (a time-out, a step the
    engine rejects) the rest of the script could only fail again; ``failed_step`` keeps the step
    number, the action and the environment's error, and the runner writes them in the episode record.
    """

    name = "oracle"
    STOPS_AT_FAILED_STEP = True

    def __init__(self) -> None:
        super().__init__()
        self._schemas: dict[Any, Any] = {}
        self.last_error: str | None = None
        self.failed_step: dict[str, Any] | None = None
        self._last_action: str | None = None
        self._played = 0

    def reset(self, task) -> None:
        """Decompose the task's gold SQL into its script, and forget any earlier failed step."""
        self.failed_step, self._last_action, self._played = None, None, 0
        super().reset(task)

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """The next step of the gold SQL; after a step that failed, stop (the failure is kept in ``failed_step``)."""
        if self._played and info.get("kind") == "error":
            # Also when driven by a loop other than the runner's, which stops before asking.
            self.failed_step = {"step": self._played, "action": self._last_action, "error": info.get("error")}
            self.done = True
            self._queue = []
            raise InvalidArgumentError(f"oracle: step {self._played} failed ({(info.get('error') or {}).get('type')}: "
                                       f"{(info.get('error') or {}).get('message')}); the later steps read its table")
        self._last_action = super().act(observation, info)
        self._played += 1
        return self._last_action

    def script_for(self, task) -> list[str] | None:
        """The catalog actions of the task's decomposed gold SQL (and a cited report when the task asks for one)."""
        key = task.db or task.db_id
        if key not in self._schemas:
            self._schemas[key] = task.database_schema()
        d = decompose(task.gold_sql, self._schemas[key], dialect=task.dialect)
        self.last_error = d.error
        if not d.ok:
            raise InvalidArgumentError(f"oracle: the gold SQL of task {task.id} does not decompose: {d.error}")
        return with_report(task, d.actions)


class ReplayAgent(ScriptedAgent):
    """Replays the actions of a trajectory file (``trajectories.jsonl`` written by ``querygym run``)."""

    name = "replay"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = str(path)
        self.scripts = load_trajectory_actions(path)

    def script_for(self, task) -> list[str] | None:
        """The actions the trajectory file recorded for ``task``, or None."""
        return self.scripts.get(str(task.id))

    def spec(self) -> dict[str, Any]:
        """How to rebuild this agent elsewhere: its name and the trajectory file."""
        return {"name": self.name, "path": self.path}
