"""The per-dataset report: how many tasks a dataset produced, how many gold queries execute, and
why the others do not (``querygym tasks --check``).

:func:`check_tasks` computes every playable task's target — a task with setup SQL (BIRD-Critic's
``preprocess_sql``) in its sandbox copy (:mod:`querygym.engine.sandbox`), every other one on its database,
one connection per database — and keeps each failure on the task as its ``problem``.

>>> from querygym.converters.builtin import builtin_tasks
>>> tasks = builtin_tasks()
>>> check_tasks(tasks)
[]
>>> dataset_report(tasks, checked=True).splitlines()[1] == (
...     f"  gold SQL executes for {len(tasks)} of {len(tasks)} playable task(s) (100.0%)")
True
"""

from __future__ import annotations

from querygym.converters.common import group_reasons
from querygym.converters.tasks import Problem, TaskSet
from querygym.engine.sandbox import needs_sandbox, open_sandbox
from querygym.errors import QueryGymError


def check_tasks(tasks: TaskSet, *, timeout_s: float | None = 30.0) -> list[Problem]:
    """Run every playable task's gold SQL (in a sandbox when the task has setup SQL); returns the
    problems, which are also kept on the tasks (``task.problem``)."""

    plain = [t for t in tasks.playable() if not needs_sandbox(t)]
    TaskSet(plain).check(timeout_s=timeout_s)
    for task in tasks.playable():
        if not needs_sandbox(task):
            continue
        sandbox = None
        try:
            sandbox = open_sandbox(task)
            sandbox.task.target_result(timeout_s=timeout_s)
        except QueryGymError as exc:
            task.problem = (sandbox.task.problem if sandbox is not None else None) or \
                getattr(exc, "reason", None) or str(exc)
        finally:
            if sandbox is not None:
                sandbox.close()
    return tasks.problems


def dataset_report(tasks: TaskSet, *, checked: bool, max_reasons: int = 15) -> str:
    """A few lines saying what a dataset produced and what cannot be played, with the reasons
    (the ``max_reasons`` most frequent of each kind)."""
    ids = {str(t.id) for t in tasks}
    not_loaded = [p for p in tasks.problems if str(p.task_id) not in ids]
    unplayable = [(t.id, t.problem) for t in tasks if t.problem]
    playable = len(tasks) - len(unplayable)
    formats = sorted({str((t.metadata or {}).get("source_format", "bird")) for t in tasks}) or \
        [getattr(tasks, "format", None) or "-"]
    lines = [f"{tasks.name or 'dataset'} ({', '.join(formats)}): {len(tasks)} task(s) produced"
             + (f" from {len(tasks) + len(not_loaded)} question(s); {len(not_loaded)} not loaded" if not_loaded else "")]
    if checked:
        failing = [(i, r) for i, r in unplayable if r.startswith(("gold SQL fails", "preprocess_sql fails"))]
        tried = playable + len(failing)
        share = f" ({100.0 * playable / tried:.1f}%)" if tried else ""
        lines.append(f"  gold SQL executes for {playable} of {tried} playable task(s){share}")
    else:
        lines.append(f"  {playable} task(s) playable; gold SQL not run (add --check to run it)")
    for title, items in (("not loaded", [(p.task_id, p.reason) for p in not_loaded]),
                         ("cannot be played", unplayable)):
        if not items:
            continue
        lines.append(f"  {len(items)} {title}:")
        groups = group_reasons(items)
        for reason, count, examples in groups[:max_reasons]:
            more = ", …" if count > len(examples) else ""
            lines.append(f"    {count} × {reason}  [{', '.join(map(str, examples))}{more}]")
        if len(groups) > max_reasons:
            rest = sum(count for _, count, _ in groups[max_reasons:])
            lines.append(f"    … {len(groups) - max_reasons} other reason(s) for {rest} more")
    return "\n".join(lines)
