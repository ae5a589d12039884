"""Action scripts and trajectories on disk: what scripted and replaying agents read.

>>> import json, tempfile, pathlib
>>> f = pathlib.Path(tempfile.mkdtemp()) / "scripts.json"
>>> _ = f.write_text(json.dumps({"9": [["perform_limit", "customers", "1"]]}))
>>> load_scripts(f)
{'9': ['["perform_limit", "customers", "1"]']}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from querygym.errors import DatasetError
from querygym.util import json_error_place, json_lines


def load_scripts(path: str | Path) -> dict[str, list[str]]:
    """Action scripts by task id (ids as strings): a JSON object ``{task_id: [actions]}``, JSONL lines
    ``{"task_id": ..., "actions": [...]}``, or a folder of ``<task_id>.txt`` files, one action a line."""
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
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("{") and "\n{" not in text.strip():  # one object that does not parse
            raise DatasetError(f"{json_error_place(path, exc)}: not a JSON object of scripts: {exc.msg}") from None
        data = None
    if isinstance(data, dict):
        return {str(k): _script(path, k, v) for k, v in data.items()}
    scripts = {}
    expected = 'expected a JSON object {task_id: [actions]} or JSONL lines {"task_id": ..., "actions": [...]}'
    for n, rec in json_lines(path, text.splitlines(), expected=expected):
        try:
            scripts[str(rec["task_id"])] = _script(path, rec["task_id"], rec["actions"])
        except (KeyError, TypeError):
            raise DatasetError(f"{path}:{n}: {expected}") from None
    return scripts


def _script(path: Path, task_id: Any, actions: Any) -> list[str]:
    if not isinstance(actions, list):
        raise DatasetError(f"{path}: the script of task {task_id} must be a list of actions")
    return [a if isinstance(a, str) else json.dumps(a, ensure_ascii=False) for a in actions]


def load_trajectory_actions(path: str | Path) -> dict[str, list[str]]:
    """The actions of each task in a trajectory file (``trajectories.jsonl`` written by ``querygym run``),
    in step order, by task id."""
    file = Path(path)
    if not file.is_file():
        raise DatasetError(f"{path}: trajectory file not found")
    steps: dict[str, list[tuple[int, str]]] = {}
    lines = file.read_text(encoding="utf-8").splitlines()
    for n, rec in json_lines(path, lines, expected="a trajectory file has one JSON object per line"):
        try:
            steps.setdefault(str(rec["task"]), []).append((int(rec["step"]), rec["action"]))
        except (ValueError, KeyError, TypeError):
            raise DatasetError(f"{path}:{n}: not a trajectory line (needs task, step, action)") from None
    return {k: [a for _, a in sorted(v)] for k, v in steps.items()}


def trajectory_line(task_id: Any, step: int, action: str, observation: str, reward: float, terminated: bool,
                    truncated: bool, info: dict[str, Any], *, agent_s: float | None = None,
                    env_s: float | None = None, tokens: dict[str, int] | None = None) -> dict[str, Any]:
    """One step as a line of ``trajectories.jsonl`` (what ``querygym run`` writes and the replay agent reads)."""
    return {"task": task_id, "step": step, "action": action, "parsed_action": info.get("action"),
            "kind": info.get("kind"), "observation": observation, "reward": reward, "cte_id": info.get("cte_id"),
            "relation": info.get("relation"), "error": info.get("error") or None, "cost": info.get("cost", 0.0),
            "terminated": terminated, "truncated": truncated, "solved": bool(info.get("solved")),
            "agent_s": None if agent_s is None else round(agent_s, 6),
            "env_s": None if env_s is None else round(env_s, 6), "tokens": dict(tokens or {})}
