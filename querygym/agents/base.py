"""The agent interface and the agents that play fixed steps (scripts, the oracle, replays)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from querygym.errors import DatasetError, InvalidArgumentError


class Agent:
    """Base class: ``reset(task)`` before each episode, ``act(observation, info)`` for each step.

    ``usage`` holds counters the runner records with each step (tokens for language models).
    ``done`` tells the runner the agent has nothing more to say (a script that ran out).
    """

    name = "agent"

    def __init__(self) -> None:
        self.usage: dict[str, int] = {}
        self.done = False

    def reset(self, task) -> None:
        self.done = False

    def act(self, observation: str, info: dict[str, Any]) -> str:
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
        raise NotImplementedError

    def reset(self, task) -> None:
        super().reset(task)
        script = self.script_for(task)
        if script is None:
            raise InvalidArgumentError(f"{self.name}: no script for task {task.id}")
        self._queue = list(script)
        self.done = not self._queue

    def act(self, observation: str, info: dict[str, Any]) -> str:
        if not self._queue:
            self.done = True
            raise InvalidArgumentError(f"{self.name}: the script has no more actions")
        action = self._queue.pop(0)
        self.done = not self._queue
        return action


class ScriptAgent(ScriptedAgent):
    """Action scripts by task id: a file or folder (see :func:`querygym.runner.load_scripts`), a
    mapping, or the built-in reference scripts when neither is given."""

    name = "script"

    def __init__(self, scripts: str | dict[str, list[str]] | None = None) -> None:
        super().__init__()
        from querygym.runner import load_scripts
        from querygym.tasks import builtin_references

        self._source = scripts
        if scripts is None:
            self.scripts = builtin_references()
        elif isinstance(scripts, dict):
            self.scripts = {str(k): list(v) for k, v in scripts.items()}
        else:
            self.scripts = load_scripts(scripts)

    def script_for(self, task) -> list[str] | None:
        return self.scripts.get(str(task.id))

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "scripts": self._source if not isinstance(self._source, dict) else self.scripts}


class OracleAgent(ScriptedAgent):
    """Decomposes each task's gold SQL into steps and plays them."""

    name = "oracle"

    def __init__(self) -> None:
        super().__init__()
        self._schemas: dict[Any, Any] = {}
        self.last_error: str | None = None

    def script_for(self, task) -> list[str] | None:
        from querygym.decompose import decompose, schema_of

        key = task.db or task.db_id
        if key not in self._schemas:
            self._schemas[key] = schema_of(task)
        from querygym.oracle import with_report

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
        file = Path(path)
        if not file.is_file():
            raise DatasetError(f"{path}: trajectory file not found")
        steps: dict[str, list[tuple[int, str]]] = {}
        for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                steps.setdefault(str(rec["task"]), []).append((int(rec["step"]), rec["action"]))
            except (ValueError, KeyError, TypeError):
                raise DatasetError(f"{path}:{n}: not a trajectory line (needs task, step, action)") from None
        self.scripts = {k: [a for _, a in sorted(v)] for k, v in steps.items()}

    def script_for(self, task) -> list[str] | None:
        return self.scripts.get(str(task.id))

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path}
