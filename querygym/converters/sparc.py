"""SParC and CoSQL interaction format: ``[{database_id, interaction: [{utterance, query, ...}, ...],
final: {utterance, query}}, ...]`` with Spider's database layout.

Every turn becomes a task whose question shows the conversation so far — the earlier utterances,
numbered, then the current one — and keeps them in ``metadata["history"]``; the interaction's
final question becomes a task of its own.  Task ids are ``<interaction>_<turn>`` (turns count from
1) and ``<interaction>_final``.  CoSQL joins several user messages of one turn with `` | ``; they
are shown as one utterance.  Turns whose database is missing are kept as unplayable tasks with
the reason in ``Task.problem`` (``keep_missing=False`` leaves them out and only reports them).

The raw gold queries contain operators split by a space (``! =``, ``> =``, ``< =``, ``< >``);
:func:`normalise_operators` joins them, outside string literals, quoted identifiers and comments
only, and the raw query is kept in ``metadata["raw_query"]`` when it changed.

>>> normalise_operators('SELECT a FROM t WHERE b ! =  "x ! = y" AND c > = 2')
'SELECT a FROM t WHERE b !=  "x ! = y" AND c >= 2'
>>> print(conversation_question(["Show all airlines.", "Which are in the USA?"], "How many are there?"))
Conversation so far:
  1. Show all airlines.
  2. Which are in the USA?
Current question: How many are there?
"""

from __future__ import annotations

import re
from pathlib import Path

from querygym.converters.common import find_sqlite, read_json, spider_layout
from querygym.converters.spider import missing_database
from querygym.converters.tasks import Problem, Task, TaskSet
from querygym.errors import DatasetError
from querygym.util import sql_segments

_SPACED_OPERATOR = re.compile(r"([!<>])[ \t\r\n]+(=)|(<)[ \t\r\n]+(>)")


def normalise_operators(sql: str) -> str:
    """Join the comparison operators that the raw SParC/CoSQL files split with spaces."""
    return "".join(_SPACED_OPERATOR.sub(lambda m: "".join(g for g in m.groups() if g), text) if code else text
                   for code, text in sql_segments(sql))


def conversation_question(history: list[str], utterance: str) -> str:
    """The question text of a turn: the earlier utterances, numbered, then the current one."""
    if not history:
        return utterance
    lines = ["Conversation so far:"] + [f"  {k}. {u}" for k, u in enumerate(history, 1)]
    return "\n".join(lines + [f"Current question: {utterance}"])


def _utterance(turn: dict) -> str:
    text = turn.get("utterance")
    if isinstance(text, list):  # some releases keep a turn's messages as a list
        text = " | ".join(map(str, text))
    # CoSQL joins a turn's user messages with " | "; the agent reads them as one utterance
    return " ".join(part.strip() for part in str(text or "").split(" | ") if part.strip())


def load_sparc(path: str | Path, db_root: str | Path | None = None, tables: str | Path | None = None, *,
               name: str | None = None, keep_missing: bool = True, source_format: str = "sparc") -> TaskSet:
    """Read a SParC or CoSQL interaction file into a :class:`~querygym.converters.tasks.TaskSet`.

    ``db_root`` defaults to a ``database`` folder next to the file and ``tables`` to a
    ``tables.json`` beside it, when they exist.
    """
    path = Path(path)
    data = read_json(path, f"{source_format} interactions")
    if not isinstance(data, list):
        raise DatasetError(f"{path}: {source_format} interactions are a JSON list of objects with database_id, "
                           f"interaction and final; got {type(data).__name__}")
    root, schemas = spider_layout(path, db_root, tables)
    tasks, problems = [], []
    found: dict[str, str | None] = {}
    for i, item in enumerate(data):
        db_id = item.get("database_id", item.get("db_id")) if isinstance(item, dict) else None
        turns = item.get("interaction") if isinstance(item, dict) else None
        if db_id is None or not isinstance(turns, list):
            raise DatasetError(f"{path}: interaction #{i} lacks database_id or an interaction list; expected "
                               f"{{database_id, interaction: [{{utterance, query}}, ...], final: {{utterance, query}}}}")
        db_id = str(db_id)
        if db_id not in found:
            found[db_id] = find_sqlite(root, db_id)
        db = found[db_id]
        missing = missing_database(root, db_id, db_id in schemas) if db is None else None
        history: list[str] = []
        entries = [(f"{i}_{t}", turn, False) for t, turn in enumerate(turns, 1)]
        if isinstance(item.get("final"), dict) and item["final"].get("query") is not None:
            entries.append((f"{i}_final", item["final"], True))
        for task_id, turn, final in entries:
            if not isinstance(turn, dict) or "query" not in turn or "utterance" not in turn:
                raise DatasetError(f"{path}: interaction #{i}, turn {task_id}: a turn has utterance and query")
            utterance = _utterance(turn)
            raw = str(turn["query"])
            gold = normalise_operators(raw)
            metadata = {"source_format": source_format, "interaction": i,
                        "turn": "final" if final else len(history) + 1,
                        "history": [] if final else list(history), "utterance": utterance}
            if "interaction_id" in item:
                metadata["interaction_id"] = item["interaction_id"]
            if gold != raw:
                metadata["raw_query"] = raw
            if not final:
                history.append(utterance)
            if missing is not None and not keep_missing:
                problems.append(Problem(task_id, missing))
                continue
            question = utterance if final else conversation_question(metadata["history"], utterance)
            tasks.append(Task(id=task_id, db_id=db_id, question=question, gold_sql=gold, db=db,
                              schema=schemas.get(db_id), problem=missing, metadata=metadata))
    return TaskSet(tasks, problems, name=name or path.name)


def load_cosql(path: str | Path, db_root: str | Path | None = None, tables: str | Path | None = None, *,
               name: str | None = None, keep_missing: bool = True) -> TaskSet:
    """Read a CoSQL state-tracking file (SParC's layout) into a :class:`~querygym.converters.tasks.TaskSet`."""
    return load_sparc(path, db_root, tables, name=name, keep_missing=keep_missing, source_format="cosql")
