"""Tasks and task sets: a question, its database, its gold SQL and the target table.

The target table is computed from the gold SQL on first use, through the same read-only,
time-limited backend the agent uses, and cached on the task.

>>> from querygym.converters.builtin import builtin_tasks
>>> tasks = builtin_tasks()
>>> task = tasks[tasks.ids[0]]
>>> task.db_id, task.playable
('enterprise', True)
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from querygym.dialects import get as get_dialect
from querygym.engine.backend import Backend
from querygym.errors import (
    DatasetError,
    EngineUnavailableError,
    ExecutionError,
    QueryGymError,
    TaskError,
    UnknownDialectError,
    UnknownTaskError,
)
from querygym.schema import DatabaseSchema
from querygym.scoring.compare import PreparedTarget, compare_tables, prepare_target
from querygym.scoring.docs import Corpus, evidence_document
from querygym.synth import neighbour_paths
from querygym.util import sql_reader


@dataclass(frozen=True)
class Problem:
    """Why a task cannot be played (or has not been checked)."""

    task_id: Any
    reason: str

    def __str__(self) -> str:
        return f"task {self.task_id}: {self.reason}"


@dataclass(eq=False)
class Task:
    """One question over one database.

    ``db`` is a file path or SQLAlchemy URL (None when the database is not available);
    ``schema`` is the schema from a tables file, used when there is no database.
    """

    id: Any
    db_id: str
    question: str
    gold_sql: str
    evidence: str = ""
    difficulty: str = ""
    db: str | None = None
    schema: DatabaseSchema | None = None
    initial_sql: str | None = None
    #: the dialect of the task's database and gold SQL; targets are always computed there
    dialect: str = "sqlite"
    problem: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: the dataset's documentation corpus (business definitions, policies), shared by its tasks
    corpus: Any = None
    #: ids of the documents a correct report must cite; a task with any requires a submitted report
    required_docs: tuple[str, ...] = ()
    #: the SQL a definition-blind analyst would write (for definition-aware tasks)
    naive_sql: str | None = None
    #: neighbour databases (SQLite files of the same schema, :mod:`querygym.synth`): a robust answer
    #: equals the gold query's result on each of them too
    neighbours: tuple[str, ...] = ()
    _target: Any = field(default=None, init=False, repr=False)
    _neighbour_targets: dict = field(default_factory=dict, init=False, repr=False)
    _prepared: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        # A database path is made absolute once, so changing directory after loading breaks nothing.
        if self.db and "://" not in self.db:
            self.db = os.path.abspath(self.db)

    def __getstate__(self) -> dict[str, Any]:
        # Copies and pickles (gymnasium.make deep-copies its keyword arguments) get a lock of their own.
        state = dict(self.__dict__)
        state.pop("_lock", None)
        state.pop("documents", None)  # a cached search index; rebuilt on use
        state.pop("_prepared", None)  # the encoded target; rebuilt on use
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @functools.cached_property
    def documents(self):
        """The task's corpus: the dataset's documents plus its evidence as a document of its own."""
        base = self.corpus if self.corpus is not None else Corpus()
        return base.with_documents([evidence_document(self.id, self.evidence)]) if self.evidence else base

    @property
    def docs(self) -> list:
        """The task's documents (each with ``.id``, ``.title``, ``.text``)."""
        return list(self.documents)

    @property
    def requires_report(self) -> bool:
        """Whether the episode ends with a report citing the required documents."""
        return bool(self.required_docs)

    @property
    def playable(self) -> bool:
        """Whether the task has a database and no problem was found with it."""
        return self.db is not None and self.problem is None

    @functools.cached_property
    def target_ordered(self) -> bool:
        """Whether the gold query's result order is part of the answer (a top-level ORDER BY)."""
        if "order" not in self.gold_sql.lower():  # no ORDER BY anywhere: not parsed (most gold queries)
            return False
        tokenizer, parser = sql_reader(_sqlglot_dialect(self.dialect))
        try:
            tokens = tokenizer.tokenize(self.gold_sql)
            if not any(t.token_type == TokenType.ORDER_BY for t in tokens):  # "order" in a name only
                return False
            trees = parser.parse(tokens, self.gold_sql)
        except Exception:  # an unparseable gold query is reported when the target is computed
            return False
        tree = trees[0] if trees else None  # the first statement, as sqlglot.parse_one reads it
        return isinstance(tree, exp.Query) and tree.args.get("order") is not None

    def target_result(self, backend=None, *, timeout_s: float | None = 30.0):
        """The gold query's result (columns and rows), computed once and cached.

        ``backend`` may be given to reuse an open connection; it must be on the task's own
        database and dialect, where the gold SQL was written.
        """
        if self._target is not None:
            return self._target
        with self._lock:
            if self._target is not None:
                return self._target
            if self.db is None:
                raise TaskError(self.id, self.problem or "its database is not available")
            own = backend is None
            try:
                if own:
                    backend = Backend(self.db, self.dialect, timeout_s=timeout_s, db_id=self.db_id)
                self._target = backend.execute(self.gold_sql, max_rows=None, timeout_s=timeout_s)
            except EngineUnavailableError:
                raise  # the engine is down, not the task broken: nothing is recorded on the task
            except ExecutionError as exc:
                self.problem = f"gold SQL fails: {exc}"
                raise TaskError(self.id, self.problem) from None
            except QueryGymError as exc:
                self.problem = str(exc)
                raise TaskError(self.id, self.problem) from None
            finally:
                if own and backend is not None:
                    backend.close()
            return self._target

    def neighbour_target(self, index: int, backend=None, *, timeout_s: float | None = 30.0):
        """The gold query's result on neighbour database ``index`` (computed once and cached)."""
        if index in self._neighbour_targets:
            return self._neighbour_targets[index]
        path = self.neighbours[index]
        own = backend is None
        try:
            if own:
                backend = Backend(path, self.dialect, timeout_s=timeout_s, db_id=self.db_id)
            result = backend.execute(self.gold_sql, max_rows=None, timeout_s=timeout_s)
        except QueryGymError as exc:
            raise TaskError(self.id, f"gold SQL fails on neighbour database {path}: {exc}") from None
        finally:
            if own and backend is not None:
                backend.close()
        self._neighbour_targets[index] = result
        return result

    def neighbour_mismatches(self, sql: str, *, ordered: bool, backend_for=None, dialect: str | None = None,
                             timeout_s: float | None = 30.0) -> list[int]:
        """The neighbour databases (by index) on which ``sql`` does not give the gold query's result
        there, compared as querygym compares tables (row order too when ``ordered``); ``timeout_s``
        limits ``sql`` on each neighbour (the gold query gets :meth:`neighbour_target`'s limit).

        A query that fails on a neighbour counts as a mismatch, and so does a neighbour on which the
        gold query fails.  ``backend_for(path)`` gives an open backend on a neighbour (the caller
        keeps and closes it); without it one is opened and closed here.  ``dialect`` is the engine
        ``sql`` is run on (default: the task's).  The environment's robust reward and
        ``querygym analyze`` both judge through this method.
        """
        dialect = dialect or self.dialect
        mismatches = []
        for index, path in enumerate(self.neighbours):
            backend = (backend_for(path) if backend_for is not None
                       else Backend(path, dialect, timeout_s=timeout_s, db_id=self.db_id))
            try:
                # the gold query is written for the task's engine: it reuses the backend only on that one
                target = self.neighbour_target(index, backend if dialect == self.dialect else None)
                result = backend.execute(sql, max_rows=None, timeout_s=timeout_s)
            except QueryGymError:
                mismatches.append(index)
                continue
            finally:
                if backend_for is None:
                    backend.close()
            if compare_tables(result.rows, target.rows, ordered=ordered).relation != "equal":
                mismatches.append(index)
        return mismatches

    def prepared_target(self, backend=None) -> PreparedTarget:
        """The target's rows encoded once for :func:`~querygym.scoring.compare.compare_tables`
        (rebuilt only when the target itself is computed again, as in a sandbox copy)."""
        target = self.target_result(backend)
        prepared = self._prepared
        if prepared is None or prepared.source is not target.rows:
            prepared = self._prepared = prepare_target(target.rows)
        return prepared

    def database_schema(self) -> DatabaseSchema:
        """The schema of the task's database (read from it), else the one its tables file gave."""
        if self.db:
            with Backend(self.db, self.dialect, db_id=self.db_id) as backend:
                return backend.schema()
        if self.schema is not None:
            return self.schema
        raise TaskError(self.id, "it has neither a database nor a schema")

    def target(self):
        """The target table as a pandas DataFrame; raises :class:`TaskError` naming the task if the gold SQL fails."""
        import pandas as pd

        result = self.target_result()
        return pd.DataFrame.from_records(result.rows, columns=_unique(result.columns))


def _sqlglot_dialect(name: str) -> str:
    """sqlglot's name for the engine a gold query is written for (BIRD-Critic's is PostgreSQL)."""
    try:
        return get_dialect(name).sqlglot_dialect or name
    except UnknownDialectError:
        return name


def _unique(names: Iterable[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}_{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


class TaskSet:
    """An ordered collection of tasks addressed by id, with the problems found while loading."""

    def __init__(self, tasks: Iterable[Task], problems: Iterable[Problem] = (), *, name: str = ""):
        self.tasks = list(tasks)
        self.name = name
        self._by_id = {str(t.id): t for t in self.tasks}
        if len(self._by_id) != len(self.tasks):
            raise DatasetError(f"{name or 'task set'}: task ids are not unique")
        self._problems = list(problems)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def __contains__(self, task_id: object) -> bool:
        return str(task_id) in self._by_id

    def __getitem__(self, task_id: Any) -> Task:
        try:
            return self._by_id[str(task_id)]
        except KeyError:
            sample = ", ".join(list(self._by_id)[:5])
            raise UnknownTaskError(f"No task with id {task_id!r} in {self.name or 'this task set'} "
                                   f"({len(self)} tasks; ids like {sample}).") from None

    @property
    def ids(self) -> list[Any]:
        """The ids of the tasks, in order."""
        return [t.id for t in self.tasks]

    @property
    def problems(self) -> list[Problem]:
        """Problems found at load time and by :meth:`check`, one per task."""
        seen = set(self._problems)
        found = [Problem(t.id, t.problem) for t in self.tasks if t.problem and Problem(t.id, t.problem) not in seen]
        return self._problems + found

    def playable(self) -> list[Task]:
        """The tasks that can be played: those with a database and no problem."""
        return [t for t in self.tasks if t.playable]

    def select(self, ids: Iterable[Any]) -> "TaskSet":
        """A task set of the tasks with the given ``ids``, in that order; an unknown id raises."""
        return TaskSet([self[i] for i in ids], name=self.name)

    def with_neighbours(self, root: str | Path) -> "TaskSet":
        """Attach the neighbour databases under ``root`` (``root/<db_id>/neighbours/<k>.sqlite``, as
        ``querygym synth-db --neighbours K`` writes them) to every task whose database has some;
        returns this task set.  A task with neighbours is solved only when its answer is right on
        its database and on every neighbour."""
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{root}: neighbours folder is not a directory")
        found = 0
        for task in self.tasks:
            task.neighbours = tuple(neighbour_paths(root, task.db_id))
            task._neighbour_targets = {}
            found += bool(task.neighbours)
        if not found and self.tasks:
            raise DatasetError(f"{root}: no neighbour databases for any task (expected "
                               f"{root}/<db_id>/neighbours/1.sqlite, written by `querygym synth-db --neighbours K`)")
        return self

    def check(self, *, timeout_s: float | None = 30.0) -> list[Problem]:
        """Compute every playable task's target; returns the problems (also kept on the tasks)."""
        backends: dict[str, Backend] = {}
        try:
            for task in self.playable():
                if task.db not in backends:
                    backends[task.db] = Backend(task.db, task.dialect, timeout_s=timeout_s, db_id=task.db_id)
                try:
                    task.target_result(backends[task.db], timeout_s=timeout_s)
                except TaskError:
                    pass
        finally:
            for b in backends.values():
                b.close()
        return self.problems
