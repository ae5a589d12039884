"""Playing action scripts through the environment and recording trajectories.

A script is a list of action texts for one task.  Scripts come from the built-in references,
a JSON object ``{task_id: [action, ...]}``, a JSONL file of ``{"task_id": ..., "actions": [...]}``
lines, or a directory of ``<task_id>.txt`` files with one action per line.

Each step becomes one line of ``trajectories.jsonl``; ``summary.json`` counts episodes,
solved episodes, steps and errors.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO

from querygym.errors import DatasetError, TaskError
from querygym.tasks import TaskSet


def load_scripts(path: str | Path) -> dict[str, list[str]]:
    """Action scripts by task id (ids as strings)."""
    path = Path(path)
    if path.is_dir():
        scripts = {}
        for f in sorted(path.glob("*.txt")):
            lines = [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines()]
            scripts[f.stem] = [ln for ln in lines if ln and not ln.startswith("#")]
        if not scripts:
            raise DatasetError(f"{path}: no <task_id>.txt action scripts in this directory")
        return scripts
    if not path.is_file():
        raise DatasetError(f"{path}: script file not found")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return {str(k): _script(path, k, v) for k, v in data.items()}
    scripts = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            scripts[str(rec["task_id"])] = _script(path, rec["task_id"], rec["actions"])
        except (ValueError, KeyError, TypeError):
            raise DatasetError(f"{path}:{n}: expected a JSON object {{task_id: [actions]}} or JSONL lines "
                               f"{{\"task_id\": ..., \"actions\": [...]}}") from None
    return scripts


def _script(path: Path, task_id: Any, actions: Any) -> list[str]:
    if not isinstance(actions, list):
        raise DatasetError(f"{path}: the script of task {task_id} must be a list of actions")
    return [a if isinstance(a, str) else json.dumps(a, ensure_ascii=False) for a in actions]


@dataclass
class EpisodeRecord:
    task_id: Any
    difficulty: str
    solved: bool
    steps: int
    errors: int
    reward: float
    error: str | None = None


@dataclass
class RunSummary:
    episodes: list[EpisodeRecord] = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        n = len(self.episodes)
        solved = sum(e.solved for e in self.episodes)
        by_difficulty: dict[str, dict[str, int]] = {}
        for e in self.episodes:
            d = by_difficulty.setdefault(e.difficulty or "unknown", {"episodes": 0, "solved": 0})
            d["episodes"] += 1
            d["solved"] += e.solved
        return {
            "episodes": n, "solved": solved, "success_rate": solved / n if n else 0.0,
            "steps": sum(e.steps for e in self.episodes), "errors": sum(e.errors for e in self.episodes),
            "mean_steps_solved": (sum(e.steps for e in self.episodes if e.solved) / solved) if solved else None,
            "by_difficulty": by_difficulty, "elapsed_s": round(self.elapsed_s, 3),
            "unsolved": [e.task_id for e in self.episodes if not e.solved],
            "failed_to_start": {str(e.task_id): e.error for e in self.episodes if e.error},
        }


def run_scripts(tasks: TaskSet, scripts: dict[str, list[str]], out_dir: str | Path, *,
                env_kwargs: dict[str, Any] | None = None, progress: TextIO | None = sys.stderr,
                on_step: Callable[[dict], None] | None = None,
                unscripted: dict[str, str] | None = None) -> dict[str, Any]:
    """Play every task that has a script; write ``trajectories.jsonl`` and ``summary.json`` to ``out_dir``.

    ``unscripted`` names tasks that should have been played but have no script, with the
    reason; they count as unsolved episodes of zero steps.
    """
    from querygym.env import QueryGymEnv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unscripted = dict(unscripted or {})
    selected = [t for t in tasks if str(t.id) in scripts or str(t.id) in unscripted]
    missing = sorted(set(scripts) - {str(t.id) for t in tasks})
    if missing:
        raise DatasetError(f"scripts name task ids that are not in the task set: {', '.join(missing[:10])}")
    env = QueryGymEnv(tasks, **(env_kwargs or {}))
    summary = RunSummary()
    started = time.perf_counter()
    traj_tmp = out / "trajectories.jsonl.partial"
    try:
        with traj_tmp.open("w", encoding="utf-8") as fh:
            for i, task in enumerate(selected, 1):
                if str(task.id) in unscripted:
                    summary.episodes.append(EpisodeRecord(task.id, task.difficulty, False, 0, 0, 0.0,
                                                          error=unscripted[str(task.id)]))
                else:
                    summary.episodes.append(_play(env, task, scripts[str(task.id)], fh, on_step))
                if progress is not None:
                    _progress(progress, i, len(selected), sum(e.solved for e in summary.episodes))
        os.replace(traj_tmp, out / "trajectories.jsonl")
    finally:
        env.close()
        if progress is not None and selected and _is_tty(progress):
            progress.write("\n")
    summary.elapsed_s = time.perf_counter() - started
    result = summary.to_dict()
    _atomic_write(out / "summary.json", json.dumps(result, indent=2, default=str))
    return result


def _play(env, task, script: Iterable[str], fh: TextIO, on_step) -> EpisodeRecord:
    try:
        obs, info = env.reset(options={"task_id": task.id})
    except TaskError as exc:
        return EpisodeRecord(task.id, task.difficulty, False, 0, 0, 0.0, error=exc.reason)
    record = EpisodeRecord(task.id, task.difficulty, False, 0, 0, 0.0)
    for step, action in enumerate(script, 1):
        t0 = time.perf_counter()
        obs, reward, terminated, truncated, info = env.step(action)
        line = {"task": task.id, "step": step, "action": action, "parsed_action": info["action"],
                "kind": info["kind"], "observation": obs, "reward": reward, "cte_id": info["cte_id"],
                "relation": info.get("relation"), "error": info["error"], "terminated": terminated,
                "truncated": truncated, "elapsed_s": round(time.perf_counter() - t0, 6)}
        fh.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        if on_step is not None:
            on_step(line)
        record.steps = step
        record.reward += reward
        record.errors += info["kind"] == "error"
        if terminated or truncated:
            record.solved = terminated
            break
    return record


def _is_tty(stream: TextIO) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def _progress(stream: TextIO, done: int, total: int, solved: int) -> None:
    line = f"[{done}/{total}] solved {solved} ({solved / done:.0%})"
    if _is_tty(stream):
        stream.write("\r" + line)
    elif done == total or done % max(1, total // 10) == 0:
        stream.write(line + "\n")  # a log file gets about ten lines, not one per episode
    stream.flush()


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def format_summary(summary: dict[str, Any]) -> str:
    lines = [f"episodes: {summary['episodes']}",
             f"solved:   {summary['solved']} ({summary['success_rate']:.1%})",
             f"steps:    {summary['steps']} (errors: {summary['errors']})"]
    if summary["mean_steps_solved"] is not None:
        lines.append(f"mean steps to solve: {summary['mean_steps_solved']:.1f}")
    for diff, d in sorted(summary["by_difficulty"].items()):
        lines.append(f"  {diff:<12} {d['solved']}/{d['episodes']}")
    if summary["unsolved"]:
        lines.append("unsolved: " + ", ".join(map(str, summary["unsolved"][:20])))
    return "\n".join(lines)
