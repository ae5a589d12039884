"""The oracle: every task's gold SQL decomposed into steps, as replayable action scripts.

Its trajectories are demonstrations for imitation learning and offline RL, and its success
rate measures how much of a dataset the decomposition covers.
"""

from __future__ import annotations

import json
from typing import Iterable

from querygym.env.render import format_value
from querygym.errors import QueryGymError
from querygym.plan.decompose import Decomposition, decompose, schema_of


def oracle_decompositions(tasks: Iterable) -> dict[str, Decomposition]:
    """Each task's gold SQL decomposed, by task id (schemas read once per database)."""
    schemas: dict[object, object] = {}
    out: dict[str, Decomposition] = {}
    for task in tasks:
        key = task.db or ("schema", task.db_id)
        try:
            if key not in schemas:
                schemas[key] = schema_of(task)
        except QueryGymError as exc:
            out[str(task.id)] = Decomposition(task.gold_sql, error=f"no schema: {exc}", construct="schema")
            continue
        out[str(task.id)] = decompose(task.gold_sql, schemas[key], dialect=task.dialect)
    return out


def oracle_scripts(tasks: Iterable) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Action scripts of the tasks whose gold SQL decomposes, and why the others do not."""
    tasks = list(tasks)
    by_id = {str(t.id): t for t in tasks}
    scripts, failures = {}, {}
    for task_id, d in oracle_decompositions(tasks).items():
        if d.ok:
            scripts[task_id] = with_report(by_id[task_id], d.actions)
        else:
            failures[task_id] = f"gold SQL does not decompose: {d.error}"
    return scripts, failures


def with_report(task, actions: list[str], rows=None) -> list[str]:
    """``actions``, plus a cited report on the final table when the task asks for one."""
    if not getattr(task, "requires_report", False) or not actions:
        return list(actions)
    final = f"T_{len(actions) - 1}"
    rows = rows if rows is not None else task.target_result().rows
    return list(actions) + [json.dumps(["submit_report", final, cited_report(final, rows, task.required_docs)])]


def cited_report(table_id: str, rows, docs: Iterable[str] = ()) -> str:
    """A one-sentence report stating the table's first number, citing the table and ``docs``."""

    figure = next((format_value(v) for row in rows for v in row
                   if isinstance(v, (int, float)) and not isinstance(v, bool)), None)
    cited = "".join(f" [{d}]" for d in docs)
    if figure is None:
        return f"The answer is in [{table_id}]{',' if cited else ''}{' as defined in' if cited else ''}{cited}."
    return f"The answer is {figure} [{table_id}]{', as defined in' if cited else ''}{cited}."
