"""Helpers shared by the format readers: reading JSON and JSONL files with one clear error per bad
file, finding databases, the cache folder for databases built from data files, telling read-only
queries from statements that change a database, and splitting SQL into code and literals.

>>> statement_kind("WITH t AS (SELECT 1) SELECT * FROM t"), statement_kind("UPDATE t SET a = 1; SELECT 1")
('SELECT', 'UPDATE;SELECT')
>>> [code for code, _ in sql_segments("SELECT 'a' -- note")]
[True, False, True, False]
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from querygym.errors import DatasetError

#: the keys a task's metadata never overrides when a task is written as BIRD format
BIRD_KEYS = ("question_id", "db_id", "question", "evidence", "SQL", "difficulty")


def read_json(path: Path, what: str) -> Any:
    """The parsed contents of a JSON file, or a :class:`DatasetError` naming the file."""
    if not path.is_file():
        raise DatasetError(f"{path}: {what} file not found")
    try:
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a JSON {what} file ({exc})") from None


def read_jsonl(path: Path, what: str) -> list[Any]:
    """The records of a JSON-lines file; blank lines (WikiSQL's dev file ends with one) are skipped."""
    if not path.is_file():
        raise DatasetError(f"{path}: {what} file not found")
    records = []
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except ValueError as exc:
                    raise DatasetError(f"{path}: line {number} is not JSON ({exc}); a {what} file has one "
                                       f"JSON object per line") from None
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


def spider_layout(path: Path, db_root: str | Path | None, tables: str | Path | None):
    """The database folder and schemas of a Spider-style dataset: given, or ``database/`` and
    ``tables.json`` beside ``path`` when they exist (Spider's own layout)."""
    from querygym.converters.bird import load_tables_json

    root = check_dir(db_root) if db_root is not None else sibling(path, "database")
    tables_path = Path(tables) if tables is not None else sibling(path, "tables.json")
    return root, (load_tables_json(tables_path) if tables_path is not None else {})


def check_dir(root: str | Path | None, what: str = "database root") -> Path | None:
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
    if base is None:
        base = os.environ.get("QUERYGYM_CACHE") or (
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "querygym")
    digest = hashlib.sha256()
    for source in sources:
        stat = source.stat()
        digest.update(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    folder = Path(base) / kind / digest.hexdigest()[:16]
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


def sql_segments(sql: str) -> Iterator[tuple[bool, str]]:
    """Split ``sql`` into ``(is_code, text)`` pieces; string literals (``'…'``, ``"…"``), quoted
    identifiers (`` `…` ``, ``[…]``) and comments are the non-code pieces, kept verbatim."""
    i, n, start = 0, len(sql), 0
    while i < n:
        ch = sql[i]
        end = None
        if ch in "'\"`":
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # a doubled quote escapes itself
                        j += 2
                        continue
                    break
                j += 1
            end = min(j + 1, n)
        elif ch == "[":
            j = sql.find("]", i + 1)
            end = n if j < 0 else j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            end = n if j < 0 else j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            end = n if j < 0 else j + 2
        if end is None:
            i += 1
            continue
        if start < i:
            yield True, sql[start:i]
        yield False, sql[i:end]
        i = start = end
    if start < n:
        yield True, sql[start:]
