"""Run directories written by ``querygym run``, read for the app: summaries, episode lists, replays.

A run is named by its folder's name; the app only opens folders given on its command line, and
an episode is found by its task id among the records the run wrote (never by a path from a URL).
Records are read once per run and kept in memory (re-read when ``summary.json`` changes), so
filtering and paging a run of 10,000 episodes is a list comprehension.

>>> RunLibrary([]).names()
[]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from querygym.errors import InvalidArgumentError
from querygym.runs.runner import safe_name
from querygym.web.folders import OutputFolder

PAGE_SIZE = 50
#: filters the episodes list understands, and how each tests one record
FILTERS = ("status", "difficulty", "db", "error_kind", "min_steps", "max_steps", "max_cost", "q")


class Run(OutputFolder):
    """One run directory: its config, summary and episode records."""

    CONFIG = "run.json"
    CHART = "scorecard.png"

    def __init__(self, path: Path):
        super().__init__(path)
        self._by_task: dict[str, dict[str, Any]] = {}

    def records(self) -> list[dict[str, Any]]:
        """Every episode record, in the run's task order."""
        summary = self.path / "summary.json"
        stamp = summary.stat().st_mtime if summary.is_file() else None
        with self._lock:
            if self._records is None or stamp != self._stamp:
                order = [str(t) for t in self.config.get("tasks", [])]
                found = {}
                for path in (self.path / "episodes").glob("*.json"):
                    try:
                        record = json.loads(path.read_text(encoding="utf-8"))
                    except (OSError, ValueError):
                        continue
                    found[str(record.get("task"))] = record
                ordered = [found.pop(t) for t in order if t in found] + list(found.values())
                for record in ordered:
                    record.setdefault("db_id", _db_of(record))
                self._records, self._stamp = ordered, stamp
                self._by_task = {str(r.get("task")): r for r in ordered}
            return self._records

    def record(self, task_id: str) -> dict[str, Any] | None:
        """The episode record of ``task_id``, or None when the run has none."""
        self.records()
        return self._by_task.get(str(task_id))

    def lines(self, task_id: str) -> list[dict[str, Any]]:
        """The steps of one episode (its trajectory lines)."""
        record = self.record(task_id)
        if record is None:
            return []
        path = self.path / "episodes" / f"{safe_name(record['task'])}.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def episodes(self, filters: dict[str, str] | None = None, page: int = 1,
                 page_size: int = PAGE_SIZE, tasks=None) -> dict[str, Any]:
        """One page of the episodes that pass ``filters``, with the facets to filter by."""
        records = self.records()
        chosen = [r for r in records if _passes(r, filters or {}, tasks)]
        page = max(1, int(page))
        start = (page - 1) * page_size
        return {"run": self.name, "total": len(records), "matching": len(chosen), "page": page,
                "page_size": page_size, "pages": max(1, -(-len(chosen) // page_size)),
                "episodes": [_row(r, tasks) for r in chosen[start:start + page_size]],
                "facets": facets(records, tasks)}


def _db_of(record: dict[str, Any]) -> str:
    return str(record.get("db_id") or "")


def _row(record: dict[str, Any], tasks) -> dict[str, Any]:
    task = _task(tasks, record.get("task"))
    return {"task": record.get("task"), "solved": bool(record.get("solved")), "steps": record.get("steps", 0),
            "errors": record.get("errors", 0), "error_kinds": record.get("error_kinds") or {},
            "reward": record.get("reward", 0.0), "cost": record.get("cost", 0.0),
            "difficulty": record.get("difficulty") or "", "truncated": bool(record.get("truncated")),
            "db_id": record.get("db_id") or (task.db_id if task is not None else ""),
            "question": task.question if task is not None else "", "error": record.get("error")}


def _task(tasks, task_id):
    if tasks is None or task_id not in tasks:
        return None
    return tasks[task_id]


def _passes(record: dict[str, Any], filters: dict[str, str], tasks) -> bool:
    status = filters.get("status")
    if status == "solved" and not record.get("solved"):
        return False
    if status == "failed" and record.get("solved"):
        return False
    if filters.get("difficulty") and (record.get("difficulty") or "") != filters["difficulty"]:
        return False
    if filters.get("db"):
        task = _task(tasks, record.get("task"))
        db = record.get("db_id") or (task.db_id if task is not None else "")
        if db != filters["db"]:
            return False
    if filters.get("error_kind") and not (record.get("error_kinds") or {}).get(filters["error_kind"]):
        return False
    steps = record.get("steps", 0)
    if filters.get("min_steps") and steps < _number(filters["min_steps"], "min_steps"):
        return False
    if filters.get("max_steps") and steps > _number(filters["max_steps"], "max_steps"):
        return False
    if filters.get("max_cost") and record.get("cost", 0.0) > _number(filters["max_cost"], "max_cost"):
        return False
    if filters.get("q"):
        task = _task(tasks, record.get("task"))
        hay = f"{record.get('task')} {task.question if task is not None else ''}".casefold()
        if filters["q"].casefold() not in hay:
            return False
    return True


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidArgumentError(f"{name} must be a number, got {text!r}") from None


def facets(records: list[dict[str, Any]], tasks=None) -> dict[str, list[str]]:
    """The values the run page can filter ``records`` by: difficulties, error kinds and databases, sorted."""
    difficulties, kinds, dbs = set(), set(), set()
    for r in records:
        difficulties.add(r.get("difficulty") or "")
        kinds.update((r.get("error_kinds") or {}).keys())
        task = _task(tasks, r.get("task"))
        dbs.add(r.get("db_id") or (task.db_id if task is not None else ""))
    return {"difficulty": sorted(d for d in difficulties if d), "error_kind": sorted(kinds),
            "db": sorted(d for d in dbs if d)}


class RunLibrary:
    """The runs named on the command line, by folder name (a folder holding runs lists each of them)."""

    def __init__(self, dirs: Iterable[str | Path]):
        self._runs: dict[str, Run] = {}
        for d in dirs:
            path = Path(d).expanduser().resolve()
            if not path.is_dir():
                raise InvalidArgumentError(f"--runs {d}: not a directory")
            candidates = [path] if (path / "episodes").is_dir() else sorted(
                p for p in path.iterdir() if (p / "episodes").is_dir())
            if not candidates:
                raise InvalidArgumentError(f"--runs {d}: neither a run of querygym run (no episodes/ folder) "
                                           f"nor a folder of runs")
            for run in candidates:
                self._runs.setdefault(run.name, Run(run))

    def names(self) -> list[str]:
        """The runs' names (their folder names), in the order they were found."""
        return list(self._runs)

    def get(self, name: str) -> Run | None:
        """The run called ``name``, or None."""
        return self._runs.get(name)

    def __iter__(self):
        return iter(self._runs.values())

    def preload(self) -> None:
        """Read every run's records (the app does it in a background thread at start)."""
        for run in self:
            run.records()


def compare_runs(a: Run, b: Run, tasks=None) -> dict[str, Any]:
    """Two runs episode by episode, over the tasks both played."""
    left = {str(r["task"]): r for r in a.records()}
    right = {str(r["task"]): r for r in b.records()}
    common = [t for t in left if t in right]
    rows = []
    for t in common:
        x, y = left[t], right[t]
        change = ("both" if x["solved"] and y["solved"] else "neither" if not (x["solved"] or y["solved"])
                  else "only_a" if x["solved"] else "only_b")
        rows.append({"task": x["task"], "a_solved": bool(x["solved"]), "b_solved": bool(y["solved"]),
                     "a_steps": x.get("steps", 0), "b_steps": y.get("steps", 0), "a_cost": x.get("cost", 0.0),
                     "b_cost": y.get("cost", 0.0), "change": change})
    counts = {k: sum(r["change"] == k for r in rows) for k in ("both", "only_a", "only_b", "neither")}
    return {"a": a.name, "b": b.name, "common": len(common), "only_in_a": len(left) - len(common),
            "only_in_b": len(right) - len(common), "counts": counts, "episodes": rows}
