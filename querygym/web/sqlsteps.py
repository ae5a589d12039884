"""One SQL query, black box versus steps: the SQL analysis page's computation (no HTTP here).

Black box: the query runs as one statement on the task's database and is compared with the
target. Steps: it is decomposed into the catalog's operations and each step is materialised in
order (:meth:`querygym.env.episode.Episode.run_sql`). ``failing_step`` is the index (from 0)
of the first step that cannot be built or run; for a query that runs but is wrong,
``diverging_step`` is the first step whose table is neither equal to, a subset of, nor a
superset of any table of the gold query's own steps.

This is not the predictions analysis of ``querygym analyze`` (``querygym.analysis``), which the
app may show beside it once it exists.

>>> from querygym.converters.builtin import builtin_tasks
>>> from querygym.web.episodes import Workbench
>>> bench = Workbench(builtin_tasks())
>>> report = analyze_sql(bench, 0, "SELECT product_name FROM products WHERE category = 'Hardwar'")
>>> report["black_box"]["relation"], report["failing_step"], report["diverging_step"]
('different', None, 0)
"""

from __future__ import annotations

import json
from typing import Any

from querygym.env.episode import Episode
from querygym.errors import ExecutionError, QueryGymError
from querygym.scoring.compare import compare_tables
from querygym.web.episodes import table_inputs

#: rows of the black-box result shown on the page
SHOWN_ROWS = 50
#: rows fetched to compare one step's table (a larger table counts as different)
MAX_ROWS = 20_000
_MATCHING = ("equal", "subset", "superset")


def analyze_sql(bench, task_id: Any, sql: str) -> dict[str, Any]:
    """The black-box verdict and the steps of ``sql`` on task ``task_id``, with failing and diverging step."""
    task = bench.task(task_id)
    env = bench.new_env()
    try:
        env.reset(options={"task_id": task.id})
        episode = env.episode
        target = env.task.target_result()
        ordered = env.task.target_ordered
        report: dict[str, Any] = {"task_id": task.id, "sql": sql, "gold_sql": task.gold_sql,
                                  "black_box": _black_box(episode, sql, target, ordered, task.dialect)}
        steps, failing, error = _steps(episode, sql, task.dialect)
        gold_episode = Episode(env.task, episode.backend, env.catalog)
        gold_steps, _, gold_error = _steps(gold_episode, task.gold_sql, task.dialect)
        report.update(steps=steps, failing_step=failing, error=error, gold_steps=gold_steps, gold_error=gold_error)
        report["diverging_step"] = None
        if failing is None and report["black_box"]["relation"] != "equal" and steps:
            gold_tables = [s["_rows"] for s in gold_steps if s["_rows"] is not None]
            for index, step in enumerate(steps):
                step["matches_gold"] = [g["cte_id"] for g in gold_steps if g["_rows"] is not None and
                                        _matches(step["_rows"], g["_rows"])]
                if step["_rows"] is None or not step["matches_gold"]:
                    report["diverging_step"] = index
                    break
            else:
                if not gold_tables:
                    report["diverging_step"] = 0
        for step in steps + gold_steps:
            step.pop("_rows", None)
        return report
    finally:
        env.close()


def _matches(rows, gold_rows) -> bool:
    return rows is not None and _relation(rows, gold_rows) in _MATCHING


def _relation(rows, gold_rows, ordered: bool = False) -> str:
    relation = compare_tables(rows, gold_rows, ordered=ordered).relation
    # as in the environment: an empty table is a subset of every answer and says nothing
    return "different" if relation == "subset" and not rows else relation


def _black_box(episode: Episode, sql: str, target, ordered: bool, dialect: str) -> dict[str, Any]:
    try:
        result = episode.backend.execute(sql, max_rows=MAX_ROWS)
    except (ExecutionError, QueryGymError) as exc:
        return {"ok": False, "error": str(exc), "relation": None, "columns": [], "rows": [], "row_count": 0}
    if result.truncated:
        relation, detail = "different", f"more than {MAX_ROWS} rows: not compared"
    else:
        comparison = compare_tables(result.rows, target.rows, ordered=ordered)
        relation, detail = _relation(result.rows, target.rows, ordered), comparison.detail
    return {"ok": True, "error": None, "relation": relation, "detail": detail, "columns": list(result.columns),
            "rows": _jsonable(result.rows[:SHOWN_ROWS]), "row_count": len(result.rows),
            "more_rows": result.truncated}


def _steps(episode: Episode, sql: str, dialect: str) -> tuple[list[dict[str, Any]], int | None, dict | None]:
    """Each step of ``sql`` with its table id, row count and rows (to compare); the failing index and error."""
    _, detail, _ = episode.run_sql(sql, dialect)
    steps: list[dict[str, Any]] = []
    for number, action in enumerate(detail["steps"], 1):
        cte = detail["cte_ids"][number - 1] if number <= len(detail["cte_ids"]) else None
        step: dict[str, Any] = {"index": number - 1, "action": action, "cte_id": cte, "row_count": None,
                                "status": "ok" if cte else "not run", "error": None, "_rows": None}
        if cte:
            node = episode.plan.node(cte)
            step["operation"] = node.operation
            step["sql"] = episode.dialect.compile(episode.plan, node, pretty=True)
            try:
                result = episode.backend.execute(step["sql"], max_rows=MAX_ROWS)
                step["row_count"] = len(result.rows)
                step["_rows"] = None if result.truncated else result.rows
            except QueryGymError as exc:  # ran once already; a timeout now must not break the page
                step["error"] = {"type": "execution", "message": str(exc)}
        steps.append(step)
    failed = detail["failed_step"]
    error = detail["error"]
    if failed is not None:
        if failed > len(steps):  # the next step could not even be written as an action
            steps.append({"index": failed - 1, "action": None, "cte_id": None, "row_count": None,
                          "status": "failed", "error": error, "_rows": None})
        else:
            steps[failed - 1].update(status="failed", error=error)
    edges = []
    for step in steps:
        if step["cte_id"]:
            node = episode.plan.node(step["cte_id"])
            edges += [[i if episode.plan.get(i) else f"table:{i}", node.id] for i in node.inputs]
    for step in steps:
        if step["cte_id"]:
            step["inputs"] = [a for a, b in edges if b == step["cte_id"]]
        elif step["action"]:  # a step that was not built: the tables its action names
            step["inputs"] = table_inputs(json.loads(step["action"]))
        else:  # a step that could not even be written reads the table before it
            built = [s["cte_id"] for s in steps if s["cte_id"]]
            step["inputs"] = built[-1:]
    return steps, (failed - 1 if failed is not None else None), error


def _jsonable(rows):
    return json.loads(json.dumps([list(r) for r in rows], default=str))
