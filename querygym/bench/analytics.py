"""Measurements for definition-aware tasks: reference vs definition-blind play, and search recall.

``blind_scripts(tasks)`` builds, for every task with a naive SQL, the script a definition-blind
analyst follows: run the naive SQL with ``execute_sql`` and submit its final table with a
report that states its first number and cites only that table.  Comparing its run with the
reference trajectories shows what reading the definitions is worth.
"""

from __future__ import annotations

import json

from querygym.agents.oracle import cited_report
from querygym.engine.backend import Backend
from querygym.plan.decompose import decompose, schema_of


def blind_scripts(tasks) -> dict[str, list[str]]:
    """Action scripts of a definition-blind analyst: each task's naive SQL, executed, then reported."""
    scripts: dict[str, list[str]] = {}
    schemas: dict = {}
    for task in tasks:
        if not task.naive_sql:
            continue
        key = task.db or task.db_id
        if key not in schemas:
            schemas[key] = schema_of(task)
        d = decompose(task.naive_sql, schemas[key], dialect=task.dialect)
        if not d.ok:
            continue
        final = f"T_{len(d.actions) - 1}"
        report = cited_report(final, task_rows(task, task.naive_sql))  # cites no document: it read none
        scripts[str(task.id)] = [json.dumps(["execute_sql", task.naive_sql]),
                                 json.dumps(["submit_report", final, report])]
    return scripts


def task_rows(task, sql: str, limit: int = 50):
    """The first ``limit`` rows of ``sql`` on the task's database."""
    with Backend(task.db, task.dialect, db_id=task.db_id) as db:
        return db.execute(sql, max_rows=limit).rows


def search_recall(tasks, k: int = 3) -> tuple[int, int, list]:
    """How many tasks find one of their required documents in the top ``k`` when searching their question."""
    hits, misses = 0, []
    relevant = [t for t in tasks if t.required_docs]
    for task in relevant:
        found = [h.document.id for h in task.documents.search(task.question, k=k)]
        if set(found) & set(task.required_docs):
            hits += 1
        else:
            misses.append((task.id, task.required_docs, found))
    return hits, len(relevant), misses
