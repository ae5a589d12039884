"""Step-level analysis of text-to-SQL predictions: where did a model go wrong?

:func:`analyze` reads a system's predictions (:mod:`querygym.analysis.predictions`), runs each
against its question's database, scores it under querygym's semantics and the official Spider
and BIRD ones, and for every wrong prediction names the first step of its plan that stops
tracking the gold plan and one category of a fixed taxonomy (:mod:`querygym.analysis.align`,
:data:`CATEGORIES`).

Layout of an output directory (every file says what it is; nothing needs this module to read)::

    analysis.json            what was analysed (predictions file and digest, dataset, dialect);
                             a resumed analysis must match it
    questions/<index>.json   the record of one analysed question, written atomically
    analysis.jsonl           every record, in question order (rebuilt at the end)
    summary.json             counts and shares per category; accuracies under the three semantics;
                             per difficulty and per database; the taxonomy itself
    report.md / report.png   the report and its chart (categories by difficulty)

A question's file appears only once it is analysed, by rename, so an interrupted analysis
resumes where it stopped.  A record holds ``index`` (position in the questions file),
``question_id``, ``db_id``, ``difficulty``, ``question``, ``sql`` and ``gold_sql``, ``runs``,
``verdict`` (relation, rows, columns, detail, shapes), ``spider_ex``, ``bird_ex``, ``category``,
``step`` (0-based index of the first diverging step of the prediction's plan — step *i* makes
``T_i`` — or of the failing step), ``operation``, ``gold_step``, ``detail``, ``reason`` (for
``other``), ``clause_differences``, ``gold_ambiguous``, ``tie_at_limit``, ``pred_actions`` and
``gold_actions``.  A question that cannot be scored (no database) has ``category`` None and says
why in ``skipped``.

When the task set carries neighbour databases (``tasks.with_neighbours(DIR)``, written by
``querygym synth-db --neighbours K``), a prediction equal to the gold result is also run on every
neighbour of its database and compared with the gold query's result there, as the environment's
robust reward judges (:meth:`~querygym.converters.tasks.Task.neighbour_mismatches`).  The record
then holds ``robust`` (right on the database and on every neighbour; None when its database has
no neighbours), ``coincidence_on`` (the 0-based indexes of the neighbours where it differs, or
fails) and ``coincidence`` (right on the database only).  The taxonomy stays fixed: such a
prediction keeps category ``correct`` (the plain semantics) and is flagged ``coincidence``; the
summary gives the robust accuracy beside the plain one.

>>> from querygym.converters.builtin import builtin_tasks
>>> tasks = builtin_tasks()
>>> result = analyze([t.gold_sql for t in tasks], tasks)
>>> result.summary["accuracy"]["querygym"], result.records[0]["category"]
(1.0, 'correct')
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from querygym.actions.catalog import catalog
from querygym.analysis.align import CATEGORIES, analyse_prediction, clause_differences
from querygym.analysis.predictions import (
    Prediction,
    Question,
    clean_sql,
    questions_of,
    read_predictions,
)
from querygym.analysis.report import (
    compare_analyses,
    summarise,
    write_report,
)
from querygym.engine.backend import Backend
from querygym.errors import InvalidArgumentError, PredictionsError, QueryGymError
from querygym.runs.progress import Progress
from querygym.util import atomic_write, check_resume

__all__ = [
    "CATEGORIES",
    "Analysis",
    "Prediction",
    "analyze",
    "clause_differences",
    "clean_sql",
    "compare_analyses",
    "read_predictions",
]

FORMAT = "querygym-analysis/1"


@dataclass
class Analysis:
    """The outcome of :func:`analyze`: one record per question and the summary."""

    records: list[dict[str, Any]]
    summary: dict[str, Any]
    out: Path | None = None


def analyze(predictions: str | Path | Sequence[str] | Sequence[Prediction], tasks, out: str | Path | None = None, *,
            dialect: str | None = None, workers: int = 1, timeout_s: float = 10.0, only: Iterable[Any] | None = None,
            progress: TextIO | None = None) -> Analysis:
    """Analyse a system's predictions on ``tasks`` (a :class:`~querygym.converters.tasks.TaskSet`).

    ``predictions`` is a predictions file (any form :func:`read_predictions` reads), a list of SQL
    strings in question order, or a list of :class:`Prediction`.  With ``out`` the records,
    ``analysis.jsonl``, ``summary.json``, ``report.md`` and ``report.png`` are written there and a
    rerun resumes; ``workers`` > 1 analyses in a process pool.  ``dialect`` is the engine the
    predictions are run on (default: each task's own).  ``only`` restricts the analysis to these
    question ids.
    """
    if workers < 1:
        raise InvalidArgumentError(f"workers must be at least 1, got {workers}")
    questions = questions_of(tasks)
    with_neighbours = [t for t in tasks if t.neighbours]
    wrong_engine = next((t for t in with_neighbours if (dialect or t.dialect) != "sqlite"), None)
    if wrong_engine is not None:
        raise InvalidArgumentError(f"task {wrong_engine.id} has neighbour databases (SQLite files), which the "
                                   f"{dialect or wrong_engine.dialect!r} engine cannot open; analyse on sqlite or "
                                   f"without neighbours")
    preds = _predictions(predictions, questions)
    if only is not None:
        wanted = {str(i) for i in only}
        preds = [p for p in preds if str(p.question_id) in wanted]
    out_dir = Path(out) if out is not None else None
    records: dict[int, dict[str, Any]] = {}
    if out_dir is not None:
        (out_dir / "questions").mkdir(parents=True, exist_ok=True)
        config = {"format": FORMAT, "predictions": str(predictions) if isinstance(predictions, (str, Path)) else None,
                  "predictions_digest": _digest(preds), "dataset": getattr(tasks, "name", ""),
                  "dialect": dialect, "questions": len(preds)}
        if with_neighbours:  # robust verdicts differ with other neighbours: a resumed analysis must use the same
            config["neighbours"] = _digest_neighbours(with_neighbours)
        check_resume(out_dir / "analysis.json", config, holds="an analysis of other predictions, questions or settings")
        for p in preds:
            path = out_dir / "questions" / f"{p.index}.json"
            if path.is_file():
                records[p.index] = json.loads(path.read_text(encoding="utf-8"))
    todo = [p for p in preds if p.index not in records]
    started = time.perf_counter()
    bar = Progress(progress, len(preds), already=len(preds) - len(todo), label="correct",
                   solved=sum(r.get("category") == "correct" for r in records.values()))

    def finish(record: dict[str, Any]) -> None:
        records[record["index"]] = record
        if out_dir is not None:
            atomic_write(out_dir / "questions" / f"{record['index']}.json", json.dumps(record, default=str))
        bar.update(record.get("category") == "correct")

    runnable = []
    for p in todo:
        reason = _unscorable(tasks, p)
        if reason is None:
            runnable.append(p)
        else:
            finish(_skipped(p, reason, tasks))
    if workers == 1 or len(runnable) < 2 * workers:
        _worker_init(tasks, dialect, timeout_s)
        try:
            for chunk in _chunks(runnable, 16):
                for record in _worker_analyse(chunk):
                    finish(record)
        finally:
            _worker_close()
    else:
        _run_pool(tasks, runnable, dialect, timeout_s, workers, finish)
    bar.close()
    ordered = [records[p.index] for p in preds]
    summary = summarise(ordered)
    summary["elapsed_s"] = round(time.perf_counter() - started, 3)
    summary["analysed_now"] = len(todo)
    if out_dir is not None:
        atomic_write(out_dir / "analysis.jsonl",
                      "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in ordered))
        write_report(summary, ordered, out_dir)
    return Analysis(ordered, summary, out_dir)


def _predictions(predictions, questions: list[Question]) -> list[Prediction]:
    if isinstance(predictions, (str, Path)):
        return read_predictions(predictions, questions)
    items = list(predictions)
    if items and all(isinstance(p, Prediction) for p in items):
        return items
    if not all(isinstance(p, str) for p in items):
        raise PredictionsError("predictions must be a file path, a list of SQL strings in question order, or a "
                               "list of Prediction")
    if len(items) != len(questions):
        raise PredictionsError(f"{len(items)} predictions for {len(questions)} questions; a list of SQL strings "
                               f"needs one per question, in question order")
    return [Prediction(q.index, q.question_id, q.db_id, clean_sql(sql)) for q, sql in zip(questions, items)]


def _unscorable(tasks, p: Prediction) -> str | None:
    if p.question_id not in tasks:
        reason = next((pr.reason for pr in tasks.problems if str(pr.task_id) == str(p.question_id)), None)
        return reason or "the question was not loaded"
    task = tasks[p.question_id]
    if not task.playable:
        return task.problem or "its database is not available"
    return None


def _skipped(p: Prediction, reason: str, tasks) -> dict[str, Any]:
    task = tasks[p.question_id] if p.question_id in tasks else None
    return {"index": p.index, "question_id": p.question_id, "db_id": p.db_id,
            "difficulty": task.difficulty if task is not None else "", "question": task.question if task else "",
            "sql": p.sql, "gold_sql": task.gold_sql if task else None, "runs": None, "verdict": None,
            "spider_ex": None, "bird_ex": None, "category": None, "step": None, "operation": None,
            "detail": None, "skipped": reason, "pred_actions": [], "gold_actions": [], "robust": None,
            "coincidence": False, "coincidence_on": []}


# ---------------------------------------------------------------------- workers
_WORKER: dict[str, Any] = {}


def _worker_init(tasks, dialect: str | None, timeout_s: float) -> None:
    _WORKER.update(tasks=tasks, dialect=dialect, timeout_s=timeout_s, backends={}, catalog=catalog())


def _worker_close() -> None:
    for backend in _WORKER.get("backends", {}).values():
        backend.close()
    _WORKER.clear()


def _worker_analyse(chunk: list[Prediction]) -> list[dict[str, Any]]:
    out = []
    for p in chunk:
        task = _WORKER["tasks"][p.question_id]
        dialect = _WORKER["dialect"] or task.dialect
        key = (task.db, dialect)
        backends = _WORKER["backends"]
        if key not in backends:
            backends[key] = Backend(task.db, dialect, timeout_s=_WORKER["timeout_s"], db_id=task.db_id)
        record = {"index": p.index, "question_id": p.question_id, "db_id": p.db_id, "difficulty": task.difficulty,
                  "question": task.question, "sql": p.sql, "gold_sql": task.gold_sql}
        try:
            record.update(analyse_prediction(task, p.sql, backends[key], _WORKER["catalog"],
                                             timeout_s=_WORKER["timeout_s"], dialect=dialect))
        except QueryGymError as exc:  # one question's trouble must not stop the others
            record.update(runs=None, verdict=None, spider_ex=False, bird_ex=False, category="other", step=0,
                          operation=None, reason=f"analysis failed: {exc}", detail=f"analysis failed: {exc}",
                          pred_actions=[], gold_actions=[])
        record.update(_robustness(task, p.sql, record, dialect))
        out.append(record)
    return out


def _robustness(task, sql: str, record: dict[str, Any], dialect: str) -> dict[str, Any]:
    """``robust``, ``coincidence`` and ``coincidence_on`` of a record: a prediction equal to the gold
    result on the task's database is run on every neighbour database and compared there with the
    gold query's result on that neighbour, as the environment's robust reward does."""
    if not task.neighbours:
        return {"robust": None, "coincidence": False, "coincidence_on": []}
    if record.get("category") != "correct":
        return {"robust": False, "coincidence": False, "coincidence_on": []}
    backends = _WORKER["backends"]

    def backend_for(path: str) -> Backend:
        if (path, dialect) not in backends:
            backends[(path, dialect)] = Backend(path, dialect, timeout_s=_WORKER["timeout_s"], db_id=task.db_id)
        return backends[(path, dialect)]

    ordered = bool((record.get("verdict") or {}).get("ordered"))
    differs = task.neighbour_mismatches(sql, ordered=ordered, backend_for=backend_for, dialect=dialect,
                                        timeout_s=_WORKER["timeout_s"])
    return {"robust": not differs, "coincidence": bool(differs), "coincidence_on": differs}


def _run_pool(tasks, todo, dialect, timeout_s, workers, finish) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork")
    # questions of one database go to one chunk where they can, so a worker opens few connections
    ordered = sorted(todo, key=lambda p: (p.db_id, p.index))
    chunks = list(_chunks(ordered, 8))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init,
                             initargs=(tasks, dialect, timeout_s)) as pool:
        pending = {pool.submit(_worker_analyse, c) for c in chunks[: workers * 3]}
        queue = chunks[workers * 3:]
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                for record in future.result():
                    finish(record)
                if queue:
                    pending.add(pool.submit(_worker_analyse, queue.pop(0)))


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


# ---------------------------------------------------------------------- files
def _digest(preds: list[Prediction]) -> str:
    h = hashlib.sha256()
    for p in preds:
        h.update(f"{p.index}\t{p.question_id}\t{p.sql}\n".encode())
    return h.hexdigest()[:16]


def _digest_neighbours(tasks) -> str:
    h = hashlib.sha256()
    for t in tasks:
        h.update(f"{t.id}\t{'|'.join(map(str, t.neighbours))}\n".encode())
    return h.hexdigest()[:16]
