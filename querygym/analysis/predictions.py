"""Reading a text-to-SQL system's predictions and lining them up with the questions.

Three file forms are read, told apart by their contents:

* **lines** (Spider's ``predict.txt``): one SQL a line, in the order of the questions file; a
  trailing ``<TAB>db_id`` is allowed and checked against the question's database.
* **BIRD JSON**: an object ``{"0": "SQL\\t----- bird -----\\tdb_id", ...}`` keyed by position in
  the questions file or by ``question_id``.
* **JSONL**: one object a line with ``"sql"`` and ``"question_id"`` or ``"index"`` (position).

A prediction may be wrapped in a markdown code fence, end in a semicolon or span several lines;
:func:`clean_sql` removes what is not SQL.  A file that does not line up with the questions (wrong
count, unknown key, a db_id that disagrees with the question's) raises
:class:`~querygym.errors.PredictionsError` with the reason.

>>> clean_sql("```sql\\nSELECT name\\nFROM singer;\\n```")
'SELECT name\\nFROM singer'
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from querygym.errors import PredictionsError

BIRD_SEPARATOR = "\t----- bird -----\t"
_FENCE = re.compile(r"```[A-Za-z]*\s*\n?(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Question:
    """One question of the questions file, in file order: its position, id and database."""

    index: int
    question_id: Any
    db_id: str


@dataclass(frozen=True)
class Prediction:
    """The SQL a system predicted for the question at ``index``."""

    index: int
    question_id: Any
    db_id: str
    sql: str


def clean_sql(text: str) -> str:
    """The SQL in a model's answer: without code fences, trailing semicolons and surrounding blanks.

    >>> clean_sql("SELECT 1;  ")
    'SELECT 1'
    """
    text = str(text)
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    text = text.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def questions_of(tasks) -> list[Question]:
    """The questions of a task set in file order, including those loaded without a task.

    Spider's reader drops questions whose database is missing (they stay in ``tasks.problems``
    with their position as id); they are put back here so that positions line up with the
    questions file.
    """
    known = {str(t.id) for t in tasks}
    questions = [Question(0, t.id, t.db_id) for t in tasks]
    dropped = [p.task_id for p in tasks.problems if str(p.task_id) not in known]
    ids = [q.question_id for q in questions] + dropped
    if dropped and all(isinstance(i, int) for i in ids) and sorted(ids) == list(range(len(ids))):
        db_of = {str(t.id): t.db_id for t in tasks}
        for p in tasks.problems:
            db_of.setdefault(str(p.task_id), _db_in(p.reason))
        return [Question(i, i, db_of[str(i)]) for i in range(len(ids))]
    return [Question(i, q.question_id, q.db_id) for i, q in enumerate(questions)]


def _db_in(reason: str) -> str:
    found = re.search(r"database '([^']+)'", reason)
    return found.group(1) if found else ""


def read_predictions(path: str | Path, questions: Sequence[Question]) -> list[Prediction]:
    """Read a prediction file in any of the module's forms and align it with ``questions``.

    Returns one :class:`Prediction` per question, in question order.
    """
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"{path}: no such predictions file")
    text = path.read_text(encoding="utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return _from_jsonl(path, text, questions)
        if isinstance(data, dict) and not ({"sql", "question_id", "index"} & set(data)):
            return _from_bird(path, data, questions)
        return _from_jsonl(path, text, questions)
    return _from_lines(path, text, questions)


def _from_lines(path: Path, text: str, questions: Sequence[Question]) -> list[Prediction]:
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) != len(questions):
        raise PredictionsError(f"{path}: {len(lines)} predictions (one SQL a line) for {len(questions)} questions; "
                               f"a Spider-style file needs exactly one line per question, in question order")
    out = []
    for q, line in zip(questions, lines):
        sql, db_id = line, None
        if "\t" in line:
            sql, _, db_id = line.rpartition("\t")
        out.append(_checked(path, q, sql, db_id, f"line {q.index + 1}"))
    return out


def _from_bird(path: Path, data: dict, questions: Sequence[Question]) -> list[Prediction]:
    by_id = {str(q.question_id): q for q in questions}
    positional = all(k.isdigit() and int(k) < len(questions) for k in data) and len(data) == len(questions)
    found: dict[int, Prediction] = {}
    for key, value in data.items():
        q = questions[int(key)] if positional else by_id.get(str(key))
        if q is None:
            raise PredictionsError(f"{path}: key {key!r} is neither a position (0-{len(questions) - 1}) nor a "
                                   f"question_id of the questions file")
        if not isinstance(value, str):
            raise PredictionsError(f"{path}: the prediction under {key!r} is a {type(value).__name__}; BIRD's form "
                                   f"is a string 'SQL{BIRD_SEPARATOR.strip()}db_id'")
        sql, sep, db_id = value.partition(BIRD_SEPARATOR)
        found[q.index] = _checked(path, q, sql, db_id.strip() if sep else None, f"key {key!r}")
    return _complete(path, found, questions)


def _from_jsonl(path: Path, text: str, questions: Sequence[Question]) -> list[Prediction]:
    by_id = {str(q.question_id): q for q in questions}
    found: dict[int, Prediction] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PredictionsError(f"{path}: line {number} is not JSON ({exc.msg}); expected one object a line "
                                   f"with 'sql' and 'question_id' or 'index'") from None
        if not isinstance(rec, dict) or "sql" not in rec or not ({"question_id", "index"} & set(rec)):
            raise PredictionsError(f"{path}: line {number} needs 'sql' and 'question_id' or 'index'")
        if "question_id" in rec:
            q = by_id.get(str(rec["question_id"]))
            what = f"question_id {rec['question_id']!r}"
        else:
            i = rec["index"]
            q = questions[i] if isinstance(i, int) and 0 <= i < len(questions) else None
            what = f"index {i!r}"
        if q is None:
            raise PredictionsError(f"{path}: line {number}: {what} is not in the questions file "
                                   f"({len(questions)} questions)")
        if q.index in found:
            raise PredictionsError(f"{path}: line {number}: a second prediction for {what}")
        found[q.index] = _checked(path, q, str(rec["sql"]), rec.get("db_id"), f"line {number}")
    return _complete(path, found, questions)


def _complete(path: Path, found: dict[int, Prediction], questions: Sequence[Question]) -> list[Prediction]:
    missing = [q for q in questions if q.index not in found]
    if missing:
        sample = ", ".join(str(q.question_id) for q in missing[:5])
        raise PredictionsError(f"{path}: {len(found)} predictions for {len(questions)} questions; none for "
                               f"{len(missing)} of them (question ids {sample}{', ...' if len(missing) > 5 else ''})")
    return [found[q.index] for q in questions]


def _checked(path: Path, q: Question, sql: str, db_id: str | None, where: str) -> Prediction:
    if db_id and q.db_id and db_id.strip() != q.db_id:
        raise PredictionsError(f"{path}: {where} names database {db_id.strip()!r} but question {q.question_id} is "
                               f"on {q.db_id!r}; the predictions do not line up with the questions file")
    return Prediction(q.index, q.question_id, q.db_id, clean_sql(sql))
