"""BIRD format: ``[{question_id, db_id, question, evidence, SQL, difficulty}, ...]`` with databases
at ``<db_root>/<db_id>/<db_id>.sqlite`` and, optionally, a Spider/BIRD ``tables.json``.

Nothing here modifies the files it reads.  A question whose database is missing still loads,
with its schema from the tables file when one is given, and is marked unplayable with the
reason; a question whose gold SQL fails is reported when its target is first computed (or by
``TaskSet.check()``).

>>> from querygym.converters.builtin import builtin_tasks
>>> tasks = builtin_tasks()
>>> len(tasks) >= 30, tasks.problems
(True, [])
"""

from __future__ import annotations

from pathlib import Path

from querygym.converters.common import find_sqlite, load_tables_json, read_json
from querygym.converters.tasks import Problem, Task, TaskSet
from querygym.engine.sandbox import database_url
from querygym.errors import DatasetError
from querygym.scoring.docs import load_corpus

_REQUIRED = ("db_id", "question", "SQL")


def load_bird(questions: str | Path, db_root: str | Path | None = None, tables: str | Path | None = None,
              *, docs: str | Path | None = None, name: str | None = None) -> TaskSet:
    """Read a BIRD-format question file into a :class:`~querygym.converters.tasks.TaskSet`.

    ``docs`` is an optional folder of Markdown documents (see :mod:`querygym.scoring.docs`) shared by
    the dataset's tasks; records may name ``required_docs`` and a ``naive_SQL``.
    ``db_root`` holds ``<db_id>/<db_id>.sqlite`` (``.db`` is accepted too), or is the URL of a
    PostgreSQL server holding a database per db_id; ``tables`` is an optional ``tables.json``
    giving schemas for databases that are not present.  Beyond BIRD's keys, a record may carry
    ``initial_sql`` (the user's SQL an error-remediation episode starts from), ``dialect`` (the
    engine of its database and gold SQL, default ``sqlite``) and ``unsupported`` (why it cannot
    be played; it becomes the task's problem), as :func:`querygym.converters.writer.write_bird`
    writes them.
    """
    questions = Path(questions)
    data = read_json(questions, "BIRD questions")
    if not isinstance(data, list):
        raise DatasetError(f"{questions}: BIRD questions are a JSON list of objects with "
                           f"{', '.join(_REQUIRED)}; got {type(data).__name__}")
    schemas = load_tables_json(tables) if tables is not None else {}
    server = str(db_root) if db_root is not None and "://" in str(db_root) else None
    root = Path(db_root) if db_root is not None and server is None else None
    if root is not None and not root.is_dir():
        raise DatasetError(f"{root}: database root is not a directory")

    corpus = load_corpus(docs) if docs is not None else None
    tasks, problems = [], []
    db_cache: dict[str, str | None] = {}
    seen: dict[str, dict] = {}
    for i, rec in enumerate(data):
        if not isinstance(rec, dict) or any(k not in rec for k in _REQUIRED):
            missing = [k for k in _REQUIRED if not isinstance(rec, dict) or k not in rec]
            raise DatasetError(f"{questions}: record #{i} is not a BIRD question (missing "
                               f"{', '.join(missing)}); expected keys question_id, db_id, question, "
                               f"evidence, SQL, difficulty")
        db_id = str(rec["db_id"])
        task_id = rec.get("question_id", i)
        if str(task_id) in seen:
            if seen[str(task_id)] != rec:
                raise DatasetError(f"{questions}: question_id {task_id} is used by two different records "
                                   f"(#{list(seen).index(str(task_id))} and #{i})")
            # BIRD's mini-dev file repeats some records verbatim; one copy is enough.
            problems.append(Problem(task_id, f"record #{i} repeats an earlier record with the same id verbatim; "
                                             f"loaded once"))
            continue
        seen[str(task_id)] = rec
        if db_id not in db_cache:
            if server is not None:
                db_cache[db_id] = database_url(server, db_id)
            else:
                db_cache[db_id] = find_sqlite(root, db_id)
        db = db_cache[db_id]
        problem = None
        if db is None:
            where = f"{root}/{db_id}/{db_id}.sqlite" if root else "no db_root given"
            problem = f"database {db_id!r} not found ({where})"
            if db_id not in schemas:
                problem += "; no schema for it in a tables file either"
        if rec.get("unsupported"):
            problem = str(rec["unsupported"])
        task = Task(id=task_id, db_id=db_id, question=str(rec["question"]), gold_sql=str(rec["SQL"]),
                    evidence=str(rec.get("evidence") or ""), difficulty=str(rec.get("difficulty") or ""),
                    db=db, schema=schemas.get(db_id), problem=problem,
                    initial_sql=rec.get("initial_sql"), dialect=str(rec.get("dialect") or "sqlite"),
                    corpus=corpus, required_docs=tuple(rec.get("required_docs") or ()),
                    naive_sql=rec.get("naive_SQL"),
                    metadata={k: v for k, v in rec.items()
                              if k not in {"question_id", "db_id", "question", "SQL", "evidence", "difficulty",
                                           "initial_sql", "dialect", "required_docs", "naive_SQL"}})
        if corpus is not None:
            unknown = [d for d in task.required_docs if d not in corpus]
            if unknown:
                raise DatasetError(f"{questions}: task {task_id} requires document(s) {unknown} that {docs} lacks")
        tasks.append(task)
    return TaskSet(tasks, problems, name=name or questions.name)
