"""Live mode: an agent plays one task in a thread of its own while the page watches its steps.

Each step becomes an event (the trajectory line, plus the plan so far); the page reads them as
server-sent events. A stop request ends the episode after the step in progress.

>>> from querygym.converters.builtin import builtin_tasks
>>> from querygym.web.episodes import Workbench
>>> live = LiveEpisode(Workbench(builtin_tasks()), 0, {"name": "oracle"})
>>> live.run()  # in the caller's thread, for the example
>>> live.events[-1]["type"], live.events[-1]["solved"]
('end', True)
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from querygym.agents import get as get_agent
from querygym.errors import QueryGymError
from querygym.web.episodes import plan_from_lines

#: agents a page may start, and the options each may take from the page
AGENT_OPTIONS = {"oracle": (), "random": ("seed",), "llm": ("base_url", "model")}


class LiveEpisode:
    """One agent on one task, its events appended as they happen."""

    def __init__(self, bench, task_id: Any, agent_spec: dict[str, Any], *, max_steps: int = 30):
        name = agent_spec.get("name")
        if name not in AGENT_OPTIONS:
            raise QueryGymError(f"live mode runs {', '.join(AGENT_OPTIONS)}; got {name!r}")
        self.id = secrets.token_urlsafe(9)
        self.bench = bench
        self.task = bench.task(task_id)
        self.spec = {"name": name, **{k: v for k, v in agent_spec.items() if k in AGENT_OPTIONS[name] and v}}
        self.max_steps = max_steps
        self.events: list[dict[str, Any]] = []
        self.lines: list[dict[str, Any]] = []
        self.stopped = threading.Event()
        self.finished = threading.Event()
        self.started = time.monotonic()
        self.thread: threading.Thread | None = None

    def start(self) -> "LiveEpisode":
        """Run the episode in a background thread; returns this episode."""
        self.thread = threading.Thread(target=self.run, name=f"querygym-live-{self.id}", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Ask the episode to stop before its next step."""
        self.stopped.set()

    def run(self) -> None:
        """Play the agent on the task until it ends, stops or is stopped, appending a ``start`` event, one
        ``step`` event per step (with the plan so far) and an ``end`` event; an agent's failure ends it too.
        """
        env = self.bench.new_env()
        try:
            agent = get_agent(**self.spec)
            agent.reset(self.task)
            obs, info = env.reset(options={"task_id": self.task.id})
            self.events.append({"type": "start", "task": self.task.id, "agent": self.spec["name"],
                                "observation": obs})
            solved, reason = False, "the agent stopped"
            for number in range(1, self.max_steps + 1):
                if self.stopped.is_set():
                    reason = "stopped from the page"
                    break
                if agent.done:
                    break
                before = dict(agent.usage)
                t0 = time.perf_counter()
                action = agent.act(obs, info)
                t1 = time.perf_counter()
                obs, reward, terminated, truncated, info = env.step(action)
                t2 = time.perf_counter()
                line = {"task": self.task.id, "step": number, "action": action, "parsed_action": info["action"],
                        "kind": info["kind"], "observation": obs, "reward": reward, "cte_id": info["cte_id"],
                        "relation": info.get("relation"), "error": info["error"], "cost": info.get("cost", 0.0),
                        "terminated": terminated, "truncated": truncated, "agent_s": round(t1 - t0, 6),
                        "env_s": round(t2 - t1, 6),
                        "tokens": {k: v - before.get(k, 0) for k, v in agent.usage.items() if v != before.get(k, 0)}}
                self.lines.append(line)
                self.events.append({"type": "step", "line": line, "plan": plan_from_lines(self.lines)})
                if terminated or truncated:
                    solved = bool(info.get("solved"))
                    reason = "solved" if solved else ("truncated" if truncated else "ended")
                    break
            else:
                reason = f"stopped after {self.max_steps} steps"
            self.events.append({"type": "end", "solved": solved, "reason": reason, "steps": len(self.lines)})
        except Exception as exc:  # an agent's failure (a model endpoint down) is shown on the page
            self.events.append({"type": "end", "solved": False, "reason": f"error: {exc}", "steps": len(self.lines)})
        finally:
            env.close()
            self.finished.set()
