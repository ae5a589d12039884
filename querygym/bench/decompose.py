"""Measurements over whole datasets.

:func:`bench_decompose` answers: how much of a dataset's gold SQL decomposes into steps, how
much of that replays to the terminal reward, and why the rest does not.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from querygym.agents.oracle import oracle_decompositions, with_report
from querygym.engine.backend import Backend
from querygym.env.environment import QueryGymEnv
from querygym.errors import QueryGymError, TaskError


def bench_decompose(tasks, out_dir: str | Path | None = None, *, max_steps: int = 100,
                    timeout_s: float = 10.0) -> dict[str, Any]:
    """Decompose every task's gold SQL; replay the playable ones; group failures by cause."""

    started = time.perf_counter()
    tasks = list(tasks)
    decompositions = oracle_decompositions(tasks)
    failures: list[dict[str, Any]] = []
    decomposed = replayed = playable = equal = 0
    env = None
    try:
        for task in tasks:
            d = decompositions[str(task.id)]
            if d.ok:
                decomposed += 1
            else:
                failures.append({"task": task.id, "stage": "decompose", "cause": d.construct,
                                 "detail": d.error, "sql": task.gold_sql})
                continue
            if not task.playable:
                continue
            playable += 1
            if env is None:
                env = QueryGymEnv(tasks, max_steps=max(max_steps, len(d.actions)), timeout_s=timeout_s)
            try:
                env.reset(options={"task_id": task.id})
            except TaskError as exc:
                failures.append({"task": task.id, "stage": "target", "cause": "gold SQL fails", "detail": exc.reason,
                                 "sql": task.gold_sql})
                continue
            replayed += 1
            terminated, info = False, {}
            for action in with_report(task, d.actions):
                _, _, terminated, _, info = env.step(action)
                if info["kind"] == "error":
                    failures.append({"task": task.id, "stage": "replay", "cause": f"step error ({info['error']['type']})",
                                     "detail": info["error"]["message"], "sql": task.gold_sql, "action": action})
                    break
                if terminated:
                    break
            else:
                if not terminated:
                    cause = "tie at the LIMIT cut-off" if _tied_at_limit(task) else "final table differs"
                    detail = (info.get("comparison") or {}).get("detail") if info else None
                    failures.append({"task": task.id, "stage": "replay", "cause": cause, "detail": detail,
                                     "sql": task.gold_sql})
            if terminated and info.get("solved"):  # solved: the answer table equals the target
                equal += 1
    finally:
        if env is not None:
            env.close()
    report = {
        "tasks": len(tasks), "decomposed": decomposed, "decomposed_rate": decomposed / len(tasks) if tasks else 0.0,
        "playable": playable, "replayed": replayed, "equal": equal,
        "equal_rate": equal / playable if playable else None,
        "failures_by_cause": dict(Counter(f["cause"] for f in failures).most_common()),
        "failures": failures, "elapsed_s": round(time.perf_counter() - started, 2),
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "decompose.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return report


def _tied_at_limit(task) -> bool:
    """Whether the gold query's ORDER BY ... LIMIT cuts through rows whose sort keys are equal,
    so that which of them make the answer is the engine's arbitrary choice."""
    try:
        tree = sqlglot.parse_one(task.gold_sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return False
    if not isinstance(tree, exp.Select) or tree.args.get("order") is None or tree.args.get("limit") is None:
        return False
    limit = tree.args["limit"].expression
    offset = tree.args.get("offset")
    if not (isinstance(limit, exp.Literal) and limit.is_int):
        return False
    cut = int(limit.name) + (int(offset.expression.name) if offset is not None else 0)
    keys = tree.copy()
    keys.set("expressions", [o.this.copy() for o in tree.args["order"].expressions])
    keys.set("limit", None)
    keys.set("offset", None)
    try:
        with Backend(task.db, task.dialect, db_id=task.db_id) as db:
            rows = db.execute(keys.sql(dialect="sqlite"), max_rows=cut + 1).rows
    except QueryGymError:
        return False
    return len(rows) > cut and rows[cut - 1] == rows[cut]


def format_decompose_report(report: dict[str, Any], *, examples: int = 3) -> str:
    """The decomposition report as text: counts, then failures grouped by cause with examples."""
    lines = [f"tasks:        {report['tasks']}",
             f"decomposed:   {report['decomposed']} ({report['decomposed_rate']:.1%})"]
    if report["playable"]:
        lines.append(f"replayed to the terminal reward: {report['equal']} of {report['playable']} playable "
                     f"({report['equal_rate']:.1%})")
    else:
        lines.append("no task has a database: decomposition only")
    if report["failures"]:
        lines.append("failures by cause:")
        for cause, count in report["failures_by_cause"].items():
            ids = [str(f["task"]) for f in report["failures"] if f["cause"] == cause]
            lines.append(f"  {count:5d}  {cause}  (tasks {', '.join(ids[:8])}{', …' if len(ids) > 8 else ''})")
            for f in [f for f in report["failures"] if f["cause"] == cause][:examples]:
                lines.append(f"         {f['task']}: {str(f['detail'])[:150]}")
    return "\n".join(lines)
