"""Helpers shared by the format readers: reading JSON and JSONL files with one clear error per bad
file, finding databases, the cache folder for databases built from data files, telling read-only
queries from statements that change a database.

>>> statement_kind("WITH t AS (SELECT 1) SELECT * FROM t"), statement_kind("UPDATE t SET a = 1; SELECT 1")
('SELECT', 'UPDATE;SELECT')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from querygym import util
from querygym.errors import DatasetError
from querygym.schema import Column, DatabaseSchema, ForeignKey, TableSchema
from querygym.util import json_error_place, json_lines

#: the keys a task's metadata never overrides when a task is written as BIRD format
BIRD_KEYS = ("question_id", "db_id", "question", "evidence", "SQL", "difficulty")

_TYPE_NAMES = {"number": "NUMERIC", "text": "TEXT", "time": "TEXT", "boolean": "BOOLEAN", "others": ""}


def read_json(path: Path, what: str) -> Any:
    """The parsed contents of a JSON file, or a :class:`DatasetError` naming the file."""
    if not path.is_file():
        raise DatasetError(f"{path}: {what} file not found")
    try:
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{json_error_place(path, exc)}: not a JSON {what} file: {exc.msg}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a JSON {what} file ({exc})") from None


def read_jsonl(path: Path, what: str) -> list[Any]:
    """The records of a JSON-lines file; blank lines (WikiSQL's dev file ends with one) are skipped."""
    if not path.is_file():
        raise DatasetError(f"{path}: {what} file not found")
    try:
        with path.open(encoding="utf-8") as fh:
            records = [rec for _, rec in json_lines(path, fh, expected=f"a {what} file has one JSON object per line")]
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not a UTF-8 text file ({exc})") from None
    return records


def first_record(path: Path) -> Any:
    """The first record of a JSON list file or a JSON-lines file (for format detection), or None."""
    try:
        with path.open(encoding="utf-8") as fh:
            head = fh.read(1 << 16)
    except (OSError, UnicodeDecodeError):
        return None
    text = head.lstrip()
    if text.startswith("{"):
        line = text.split("\n", 1)[0]
        try:
            return json.loads(line)
        except ValueError:
            pass
    try:
        data = read_json(path, "dataset")
    except DatasetError:
        return None
    if isinstance(data, list):
        return data[0] if data else None
    return data


def find_sqlite(root: Path | None, db_id: str) -> str | None:
    """``<root>/<db_id>/<db_id>.sqlite`` (or ``.db``, ``.sqlite3``) when it exists."""
    if root is None:
        return None
    for suffix in (".sqlite", ".db", ".sqlite3"):
        candidate = root / db_id / f"{db_id}{suffix}"
        if candidate.is_file():
            return str(candidate)
    return None


def sibling(path: Path, *names: str) -> Path | None:
    """The first of ``names`` that exists next to ``path``."""
    for name in names:
        candidate = path.parent / name
        if candidate.exists():
            return candidate
    return None


def check_dir(root: str | Path | None, what: str = "database root") -> Path | None:
    """``root`` as a folder that exists, or a :class:`~querygym.errors.DatasetError` naming it."""
    if root is None:
        return None
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: {what} is not a directory")
    return root


def cache_dir(kind: str, *sources: Path, base: str | Path | None = None) -> Path:
    """A folder for files built from ``sources`` (never next to them; source data may be read-only).

    It lives under ``base``, else ``$QUERYGYM_CACHE``, else ``$XDG_CACHE_HOME/querygym`` (default
    ``~/.cache/querygym``), and is keyed by the sources' absolute paths, sizes and modification
    times, so an edited source gets a fresh build.
    """
    folder = (Path(base) if base is not None else util.cache_dir()) / kind / util.source_digest(*sources)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def statement_kind(sql: str, dialect: str | None = None) -> str:
    """The kind of each statement in ``sql``: ``SELECT`` for a read-only query, else its command
    keyword (``UPDATE``, ``CREATE``, …); several statements give their kinds joined by ``;``."""
    import logging

    import sqlglot
    from sqlglot import exp

    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)  # statements sqlglot only knows as commands (DO, EXPLAIN) are fine here
    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    except Exception:  # sqlglot cannot parse it: fall back to the first keyword
        trees = None
    finally:
        logger.setLevel(level)
    if trees is None:  # a rough split is enough to name what the statements are
        words = [part.strip().split(None, 1)[0].upper() for part in sql.split(";") if part.strip()]
        return ";".join(words) or "EMPTY"
    kinds = []
    for tree in trees:
        writer = _modifies(tree)
        if isinstance(tree, exp.Query) and writer is None:
            kinds.append("SELECT")
        elif writer is not None and not isinstance(tree, (exp.Insert, exp.Update, exp.Delete, exp.Merge,
                                                          exp.Create, exp.Drop)):
            kinds.append(writer)  # a query with a writing part (WITH x AS (INSERT …) SELECT …)
        else:
            kinds.append(tree.key.upper() if not isinstance(tree, exp.Command) else str(tree.this).upper())
    return ";".join(kinds) or "EMPTY"


def _modifies(tree) -> str | None:
    """The kind of the first part of ``tree`` that writes (INSERT, UPDATE, …), or None."""
    from sqlglot import exp

    for node in tree.walk():
        if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop)):
            return node.key.upper()
    return None


def group_reasons(items: Iterable[tuple[Any, str]], *, examples: int = 3) -> list[tuple[str, int, list[Any]]]:
    """``(reason, count, example ids)`` for each distinct reason, most frequent first."""
    groups: dict[str, list[Any]] = {}
    for task_id, reason in items:
        groups.setdefault(reason, []).append(task_id)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [(reason, len(ids), ids[:examples]) for reason, ids in ordered]


def load_tables_json(path: str | Path) -> dict[str, DatabaseSchema]:
    """Schemas from a Spider/BIRD ``tables.json``, by db_id."""
    path = Path(path)
    data = read_json(path, "tables")
    if not isinstance(data, list):
        raise DatasetError(f"{path}: a tables file is a JSON list of schemas, got {type(data).__name__}")
    out: dict[str, DatabaseSchema] = {}
    for i, entry in enumerate(data):
        try:
            db_id = entry["db_id"]
            tables = entry.get("table_names_original") or entry["table_names"]
            columns = entry.get("column_names_original") or entry["column_names"]
            types = entry.get("column_types") or [""] * len(columns)
        except (KeyError, TypeError) as exc:
            raise DatasetError(f"{path}: schema #{i} lacks {exc}; expected db_id, table_names_original, "
                               f"column_names_original, column_types") from None
        per_table: list[list[Column]] = [[] for _ in tables]
        for (t_index, name), ctype in zip(columns, types):
            if t_index >= 0:
                per_table[t_index].append(Column(name, _TYPE_NAMES.get(str(ctype).lower(), str(ctype).upper())))
        col_ref = [(t, n) for t, n in columns]
        pks: list[list[str]] = [[] for _ in tables]
        for pk in entry.get("primary_keys", []):
            for c in pk if isinstance(pk, list) else [pk]:
                t, n = col_ref[c]
                pks[t].append(n)
        fks: list[list[ForeignKey]] = [[] for _ in tables]
        for a, b in entry.get("foreign_keys", []):
            (ta, na), (tb, nb) = col_ref[a], col_ref[b]
            fks[ta].append(ForeignKey((na,), tables[tb], (nb,)))
        out[db_id] = DatabaseSchema(db_id, tuple(
            TableSchema(t, tuple(per_table[i]), tuple(pks[i]), tuple(dict.fromkeys(fks[i])))
            for i, t in enumerate(tables)))
    return out


def spider_layout(path: Path, db_root: str | Path | None, tables: str | Path | None):
    """The database folder and schemas of a Spider-style dataset: given, or ``database/`` and
    ``tables.json`` beside ``path`` when they exist (Spider's own layout)."""
    root = check_dir(db_root) if db_root is not None else sibling(path, "database")
    tables_path = Path(tables) if tables is not None else sibling(path, "tables.json")
    return root, (load_tables_json(tables_path) if tables_path is not None else {})
