"""The oracle: every task's gold SQL decomposed into steps, as replayable action scripts.

Its trajectories are demonstrations for imitation learning and offline RL, and its success
rate measures how much of a dataset the decomposition covers.
"""

from __future__ import annotations

from typing import Iterable

from querygym.decompose import Decomposition, decompose, schema_of
from querygym.errors import QueryGymError


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
    scripts, failures = {}, {}
    for task_id, d in oracle_decompositions(tasks).items():
        if d.ok:
            scripts[task_id] = d.actions
        else:
            failures[task_id] = f"gold SQL does not decompose: {d.error}"
    return scripts, failures
