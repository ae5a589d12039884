"""Spider format: ``[{db_id, question, query, ...}, ...]`` with databases at
``<db_root>/<db_id>/<db_id>.sqlite`` and a ``tables.json`` of schemas.

Spider, Spider-Syn, Spider-DK, Spider-Realistic and the translated variants all use it; extra
keys (Spider-Syn's ``original_question``, a translation's source text) are kept in
``Task.metadata``.  Task ids are the question's index in the file, as in Spider's own tooling.

A question whose database is missing is kept as a task marked unplayable, with the reason in
``Task.problem`` (and so in ``TaskSet.problems``), as every format's reader does;
``keep_missing=False`` leaves it out and only reports it.
When the record carries Spider's parsed ``sql``, the task's difficulty is Spider's hardness label
(easy, medium, hard, extra), computed the way Spider's ``evaluation.py`` does.

>>> spider_hardness({"select": [False, [[0, [0, [0, 1, False], None]]]], "from": {"table_units": [["table_unit", 0]],
...     "conds": []}, "where": [], "groupBy": [], "having": [], "orderBy": [], "limit": None,
...     "intersect": None, "union": None, "except": None})
'easy'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from querygym.converters.common import find_sqlite, read_json, spider_layout
from querygym.converters.tasks import Problem, Task, TaskSet
from querygym.errors import DatasetError

_REQUIRED = ("db_id", "question", "query")
#: keys that are derived from the others (tokenisations, the parsed query) and not kept in metadata
_DERIVED = {"question_toks", "query_toks", "query_toks_no_value", "sql"}


def load_spider(questions: str | Path, db_root: str | Path | None = None, tables: str | Path | None = None, *,
                name: str | None = None, keep_missing: bool = True) -> TaskSet:
    """Read a Spider-format question file into a :class:`~querygym.converters.tasks.TaskSet`.

    ``db_root`` defaults to a ``database`` folder next to the file and ``tables`` to a
    ``tables.json`` beside it, when they exist (Spider's own layout).
    """
    questions = Path(questions)
    data = read_json(questions, "Spider questions")
    if not isinstance(data, list):
        raise DatasetError(f"{questions}: Spider questions are a JSON list of objects with "
                           f"{', '.join(_REQUIRED)}; got {type(data).__name__}")
    root, schemas = spider_layout(questions, db_root, tables)
    tasks, problems = [], []
    found: dict[str, str | None] = {}
    for i, rec in enumerate(data):
        if not isinstance(rec, dict) or any(k not in rec for k in _REQUIRED):
            missing = [k for k in _REQUIRED if not isinstance(rec, dict) or k not in rec]
            raise DatasetError(f"{questions}: record #{i} is not a Spider question (missing {', '.join(missing)}); "
                               f"expected keys {', '.join(_REQUIRED)}")
        db_id = str(rec["db_id"])
        if db_id not in found:
            found[db_id] = find_sqlite(root, db_id)
        db = found[db_id]
        problem = None
        if db is None:
            problem = missing_database(root, db_id, db_id in schemas)
            if not keep_missing:
                problems.append(Problem(i, problem))
                continue
        sql = rec.get("sql")
        difficulty = str(rec.get("difficulty") or rec.get("hardness") or "")
        if not difficulty and isinstance(sql, dict):
            try:
                difficulty = spider_hardness(sql)
            except (KeyError, IndexError, TypeError):  # a malformed parse: leave the label out
                difficulty = ""
        metadata = {k: v for k, v in rec.items()
                    if k not in _DERIVED and k not in {"db_id", "question", "query", "difficulty", "hardness"}}
        metadata["source_format"] = "spider"
        tasks.append(Task(id=i, db_id=db_id, question=str(rec["question"]), gold_sql=str(rec["query"]),
                          difficulty=difficulty, db=db, schema=schemas.get(db_id), problem=problem,
                          metadata=metadata))
    return TaskSet(tasks, problems, name=name or questions.name)


def missing_database(root: Path | None, db_id: str, has_schema: bool) -> str:
    """The reason a question's database is not playable: where it was looked for."""
    where = f"{root}/{db_id}/{db_id}.sqlite" if root is not None else "no database folder given (db_root)"
    text = f"database {db_id!r} not found ({where})"
    return text + ("" if has_schema else "; no schema for it in a tables file either")


# ---------------------------------------------------------------------- Spider's hardness label
# The rules of Spider's evaluation.py (Evaluator.eval_hardness and its helpers), on Spider's
# parsed ``sql`` structure; quirks kept so the labels match the published ones.
_LIKE = 9  # WHERE_OPS.index("like")


def _has_agg(unit: Any) -> bool:
    return unit[0] != 0


def _count_agg(units: list) -> int:
    return len([u for u in units if _has_agg(u)])


def _nested(sql: dict) -> list:
    nested = []
    for cond in sql["from"]["conds"][::2] + sql["where"][::2] + sql["having"][::2]:
        if isinstance(cond[3], dict):
            nested.append(cond[3])
        if isinstance(cond[4], dict):
            nested.append(cond[4])
    nested.extend(sql[k] for k in ("intersect", "except", "union") if sql[k] is not None)
    return nested


def _component1(sql: dict) -> int:
    count = sum(1 for part in (sql["where"], sql["groupBy"], sql["orderBy"]) if len(part) > 0)
    count += sql["limit"] is not None
    if len(sql["from"]["table_units"]) > 0:
        count += len(sql["from"]["table_units"]) - 1
    connectors = sql["from"]["conds"][1::2] + sql["where"][1::2] + sql["having"][1::2]
    count += len([c for c in connectors if c == "or"])
    conds = sql["from"]["conds"][::2] + sql["where"][::2] + sql["having"][::2]
    count += len([c for c in conds if c[1] == _LIKE])
    return count


def _others(sql: dict) -> int:
    aggs = _count_agg(sql["select"][1]) + _count_agg(sql["where"][::2]) + _count_agg(sql["groupBy"])
    if len(sql["orderBy"]) > 0:
        aggs += _count_agg([u[1] for u in sql["orderBy"][1] if u[1]] + [u[2] for u in sql["orderBy"][1] if u[2]])
    aggs += _count_agg(sql["having"])
    return sum((aggs > 1, len(sql["select"][1]) > 1, len(sql["where"]) > 1, len(sql["groupBy"]) > 1))


def spider_hardness(sql: dict) -> str:
    """Spider's hardness label of a parsed query (``easy``, ``medium``, ``hard`` or ``extra``)."""
    c1, c2, others = _component1(sql), len(_nested(sql)), _others(sql)
    if c1 <= 1 and others == 0 and c2 == 0:
        return "easy"
    if (others <= 2 and c1 <= 1 and c2 == 0) or (c1 <= 2 and others < 2 and c2 == 0):
        return "medium"
    if (others > 2 and c1 <= 2 and c2 == 0) or (2 < c1 <= 3 and others <= 2 and c2 == 0) or \
            (c1 <= 1 and others == 0 and c2 <= 1):
        return "hard"
    return "extra"
