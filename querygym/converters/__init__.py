"""Readers that turn benchmark datasets into querygym task sets, and a writer for BIRD format.

:func:`load_tasks` reads any supported format, detected from the file's contents or named
with ``format``; each format family has its own module:

========================  ==========================================================  ===============
format                    files                                                       module
========================  ==========================================================  ===============
``bird``                  questions JSON ``{question_id, db_id, question, SQL, …}``   ``bird``
``spider``                ``[{db_id, question, query}]`` (Spider, Spider-Syn, -DK, …)  ``spider``
``sparc`` / ``cosql``     ``[{database_id, interaction: [{utterance, query}], final}]`` ``sparc``
``wikisql``               ``*.jsonl`` ``{table_id, question, sql: {sel, agg, conds}}``  ``wikisql``
``criteria2sql``          WikiSQL layout plus an executable ``query``                 ``wikisql``
``bird_critic``           JSONL ``{instance_id, issue_sql|error_sql, sol_sql, …}``    ``bird_critic``
``fiben``                 ``FIBEN_Queries.json`` ``{uniqueQueryID, question, SQL}``     ``fiben``
========================  ==========================================================  ===============

A folder is read through the one question file in it (``dev.json``, ``dev.jsonl``, …).

>>> from querygym.converters.builtin import _builtin_dir
>>> detect_format(_builtin_dir() / "questions.json")
'bird'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from querygym.converters.bird import load_bird
from querygym.converters.bird_critic import load_bird_critic
from querygym.converters.common import first_record, load_tables_json
from querygym.converters.fiben import load_fiben
from querygym.converters.sparc import load_cosql, load_sparc
from querygym.converters.spider import load_spider
from querygym.converters.tasks import TaskSet
from querygym.converters.wikisql import load_criteria2sql, load_wikisql
from querygym.errors import DatasetError
from querygym.util import did_you_mean

__all__ = ["FORMATS", "detect_format", "load_bird", "load_bird_critic", "load_cosql", "load_criteria2sql", "load_fiben",
           "load_sparc", "load_spider", "load_tables_json", "load_tasks", "load_wikisql", "question_file"]

#: format name -> loader(path, *, db_root, tables) -> TaskSet
FORMATS: dict[str, Callable[..., TaskSet]] = {
    "bird": lambda path, *, db_root=None, tables=None: load_bird(path, db_root, tables=tables),
    "spider": lambda path, *, db_root=None, tables=None: load_spider(path, db_root, tables),
    "sparc": lambda path, *, db_root=None, tables=None: load_sparc(path, db_root, tables),
    "cosql": lambda path, *, db_root=None, tables=None: load_cosql(path, db_root, tables),
    "wikisql": lambda path, *, db_root=None, tables=None: load_wikisql(path, db_root, tables),
    "criteria2sql": lambda path, *, db_root=None, tables=None: load_criteria2sql(path, db_root, tables),
    "bird_critic": lambda path, *, db_root=None, tables=None: load_bird_critic(path, db_root, tables),
    "fiben": lambda path, *, db_root=None, tables=None: load_fiben(path, db_root, tables),
}

#: files in a dataset folder that hold schemas or databases, never questions
_NOT_QUESTIONS = ("tables", "schema", "gold", "db_ids", "sha256")  # FIBEN's folder holds one JSON file


def _format_of_record(record: Any) -> str | None:
    """The format a dataset's first record belongs to, or None."""
    if not isinstance(record, dict):
        return None
    keys = set(record)
    if {"uniqueQueryID", "question", "SQL"} <= keys:
        return "fiben"
    if {"db_id", "question", "SQL"} <= keys:
        return "bird"
    if "sol_sql" in keys or ({"instance_id"} <= keys and keys & {"issue_sql", "error_sql"}):
        return "bird_critic"
    if {"database_id", "interaction"} <= keys or ({"interaction", "final"} <= keys):
        turns = record.get("interaction") or []
        joined = any(" | " in str(t.get("utterance", "")) for t in turns if isinstance(t, dict))
        return "cosql" if joined else "sparc"
    if {"table_id", "question", "sql"} <= keys or {"table_id", "question", "query"} <= keys:
        return "criteria2sql" if "query" in keys else "wikisql"
    if {"db_id", "question", "query"} <= keys:
        return "spider"
    return None


def question_file(folder: Path) -> Path:
    """The question file of a dataset folder: the only JSON/JSONL file in it that is not a tables,
    schema or gold file (``dev.json``/``dev.jsonl``, else the one ``dev*`` file, when there are several)."""
    candidates = sorted(p for p in folder.iterdir()
                        if p.is_file() and p.suffix in (".json", ".jsonl")
                        and not any(word in p.name.lower() for word in _NOT_QUESTIONS))
    if len(candidates) > 1:
        exact = [p for p in candidates if p.stem.lower() == "dev"]
        dev = exact or [p for p in candidates if p.name.lower().startswith("dev")]
        if len(dev) == 1:
            candidates = dev
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "no JSON or JSONL question file"
        raise DatasetError(f"{folder}: cannot tell which file holds the questions (found {found}); "
                           f"name the file instead of the folder")
    return candidates[0]


def detect_format(path: str | Path) -> str:
    """The format of a dataset file or folder, judged by its contents."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_dir():
        path = question_file(path)
    record = first_record(path)
    name = _format_of_record(record)
    if name is not None:
        return name
    if record is None:
        found = "no records (an empty list, or neither a JSON list nor JSON lines)"
    elif isinstance(record, dict):
        found = f"a first record with keys {sorted(record)[:8]}"
    else:
        found = f"a first record that is a {type(record).__name__}"
    raise DatasetError(f"{path}: cannot tell the dataset format; found {found}. "
                       f"Supported: {', '.join(sorted(FORMATS))} (name one with format=...)")


def load_tasks(path: str | Path, *, db_root: str | Path | None = None, tables: str | Path | None = None,
               format: str | None = None) -> TaskSet:
    """Read a dataset in any supported format into a :class:`~querygym.converters.tasks.TaskSet`.

    ``path`` is the question file or its folder; ``format`` one of :data:`FORMATS` (detected
    from the contents when omitted).

    >>> from querygym.converters.builtin import _builtin_dir
    >>> len(load_tasks(_builtin_dir() / "questions.json", db_root=_builtin_dir().parent)) >= 30
    True
    """
    path = Path(path)
    if path.is_dir():
        path = question_file(path)
    name = format or detect_format(path)
    if name not in FORMATS:
        raise DatasetError(f"unknown dataset format {name!r}.{did_you_mean(name, FORMATS)} Supported: {', '.join(sorted(FORMATS))}")
    tasks = FORMATS[name](path, db_root=db_root, tables=tables)
    tasks.format = name
    return tasks
