"""Writing any task set as a BIRD-format dataset: a questions JSON, a tables JSON and a database
folder with ``<db_id>/<db_id>.sqlite`` (copies, or symbolic links with ``link=True``).

Each task becomes ``{question_id, db_id, question, evidence, SQL, difficulty}`` plus, when set,
``initial_sql`` and ``dialect`` (for a database other than SQLite), plus its metadata as further
keys (a key that clashes with one of these is written as ``meta_<key>``).  :func:`load_bird`
reads all of them back, so ``load_bird`` on the output gives the same tasks and targets.
Every problem — a question that was not loaded, a task written but unplayable (a missing
database) — is listed in ``problems.json`` beside the questions, with the reason and whether the
question is in the questions file, so nothing disappears silently.  A PostgreSQL database has
no file to copy: read such tasks back with ``load_bird(questions, "<server URL>")``.

>>> import tempfile
>>> from querygym.converters.builtin import builtin_tasks
>>> with tempfile.TemporaryDirectory() as out:
...     written = write_bird(builtin_tasks(), out, link=True)
...     from querygym.converters.bird import load_bird
...     again = load_bird(written.questions, written.databases, tables=written.tables)
...     len(again) == len(builtin_tasks()), sorted(p.name for p in written.databases.iterdir())
(True, ['enterprise'])
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from querygym.converters.common import BIRD_KEYS
from querygym.converters.tasks import Task, TaskSet
from querygym.engine.backend import Backend
from querygym.errors import DatasetError
from querygym.schema import DatabaseSchema
from querygym.util import atomic_write

#: keys the writer itself sets besides BIRD's
EXTRA_KEYS = ("initial_sql", "dialect", "required_docs", "naive_SQL")
#: Spider/BIRD type names for the types :func:`~querygym.converters.bird.load_tables_json` produces
_TYPE_NAMES = {"NUMERIC": "number", "TEXT": "text", "BOOLEAN": "boolean", "": "others"}


@dataclass
class Written:
    """Where :func:`write_bird` put things, and what it did."""

    questions: Path
    tables: Path
    databases: Path
    problems: Path | None = None
    tasks: int = 0
    database_files: dict[str, str] = field(default_factory=dict)


def bird_record(task: Task) -> dict[str, Any]:
    """A task as a BIRD question record (metadata flattened into extra keys)."""
    record: dict[str, Any] = {"question_id": task.id, "db_id": task.db_id, "question": task.question,
                              "evidence": task.evidence, "SQL": task.gold_sql, "difficulty": task.difficulty}
    if task.initial_sql is not None:
        record["initial_sql"] = task.initial_sql
    if task.dialect != "sqlite":
        record["dialect"] = task.dialect
    if getattr(task, "required_docs", None):  # documentation-grounded tasks (querygym.scoring.docs)
        record["required_docs"] = list(task.required_docs)
    if getattr(task, "naive_sql", None) is not None:
        record["naive_SQL"] = task.naive_sql
    for key, value in (task.metadata or {}).items():
        name = key
        while name in record or name in BIRD_KEYS or name in EXTRA_KEYS:
            name = f"meta_{name}"
        record[name] = value
    return record


def tables_entry(schema: DatabaseSchema, db_id: str | None = None) -> dict[str, Any]:
    """A schema as one entry of a Spider/BIRD ``tables.json``."""
    tables = list(schema.tables)
    columns_original: list[list[Any]] = [[-1, "*"]]
    columns_natural: list[list[Any]] = [[-1, "*"]]
    types: list[str] = ["text"]
    index: dict[tuple[str, str], int] = {}
    for t_index, table in enumerate(tables):
        for column in table.columns:
            index[(table.name, column.name)] = len(columns_original)
            columns_original.append([t_index, column.name])
            columns_natural.append([t_index, _natural(column.name)])
            ctype = str(column.type or "")
            types.append(_TYPE_NAMES.get(ctype.upper(), ctype.lower()))
    primary_keys: list[Any] = []
    foreign_keys: list[list[int]] = []
    by_name = {t.name: t for t in tables}
    for table in tables:
        keys = [index[(table.name, c)] for c in table.primary_key if (table.name, c) in index]
        if len(keys) == 1:
            primary_keys.append(keys[0])
        elif keys:
            primary_keys.append(keys)
        for fk in table.foreign_keys:
            ref = by_name.get(fk.ref_table) or schema.table(fk.ref_table)
            for a, b in zip(fk.columns, fk.ref_columns):
                if ref is not None and (table.name, a) in index and (ref.name, b) in index:
                    foreign_keys.append([index[(table.name, a)], index[(ref.name, b)]])
    return {"db_id": db_id or schema.db_id, "table_names_original": [t.name for t in tables],
            "table_names": [_natural(t.name) for t in tables], "column_names_original": columns_original,
            "column_names": columns_natural, "column_types": types, "primary_keys": primary_keys,
            "foreign_keys": foreign_keys}


def _natural(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).lower()


def _schema(task: Task) -> DatabaseSchema | None:
    if task.schema is not None:
        return task.schema
    if task.db is None:
        return None

    with Backend(task.db, task.dialect, db_id=task.db_id) as backend:
        return backend.schema()


def write_bird(tasks: TaskSet, out: str | Path, *, link: bool = False, questions: str = "questions.json",
               tables: str = "tables.json", databases: str = "databases") -> Written:
    """Write ``tasks`` under ``out`` as a BIRD-format dataset; returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    db_dir = out / databases
    db_dir.mkdir(exist_ok=True)
    written = Written(out / questions, out / tables, db_dir)
    sources: dict[str, str] = {}
    schemas: dict[str, DatabaseSchema] = {}
    records = []
    for task in tasks:
        records.append(bird_record(task))
        if task.db is not None and task.dialect == "sqlite":
            previous = sources.setdefault(task.db_id, task.db)
            if Path(previous).resolve() != Path(task.db).resolve():
                raise DatasetError(f"db_id {task.db_id!r} names two different databases ({previous} and {task.db}); "
                                   f"BIRD format keeps one database per db_id")
        if task.db_id not in schemas:
            schema = _schema(task)
            if schema is not None:
                schemas[task.db_id] = schema
    for db_id, source in sources.items():
        target = db_dir / db_id / f"{db_id}.sqlite"
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            target.unlink()
        if link:
            os.symlink(Path(source).resolve(), target)
        else:
            # copyfile, not copy2: the copy gets the usual permissions (0644), not the source's
            # (benchmark files are often read-only); its modification time is kept.
            shutil.copyfile(source, target)
            stat = os.stat(source)
            os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        written.database_files[db_id] = str(target)
    _dump(written.questions, records)
    _dump(written.tables, [tables_entry(schema, db_id) for db_id, schema in schemas.items()])
    if tasks.problems:  # questions not loaded, and tasks written but unplayable (no database, ...)
        written.problems = out / "problems.json"
        _dump(written.problems, [{"question_id": p.task_id, "reason": p.reason, "loaded": str(p.task_id) in tasks}
                                 for p in tasks.problems])
    written.tasks = len(records)
    return written


def _dump(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n")
