"""Small helpers every layer shares: closest-name suggestions, identifier quoting, the cache
folder, atomic file writes, the first line of an error, SQL text split into code and literals, and JSON-safe
data.  It imports nothing of querygym but its errors.

>>> did_you_mean("custmers", ["customers", "orders"])
" Did you mean 'customers'?"
>>> quote_identifier("order"), quote_identifier("region_code"), quote_identifier("a b")
('"order"', 'region_code', '"a b"')
>>> first_line(ValueError("no such column: x\\nLINE 1: ..."))
'no such column: x'
>>> [code for code, _ in sql_segments("SELECT 'a' -- note")]
[True, False, True, False]
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import re
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any, Iterable, Iterator

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from querygym.errors import DatasetError, InvalidArgumentError


def closest(name: str, options: Iterable[str], *, n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The options closest to ``name`` (case-insensitively), best first, at most ``n``."""
    return list(_closest(str(name), tuple(map(str, options)), n, cutoff))


@functools.lru_cache(maxsize=4096)
def _closest(name: str, options: tuple[str, ...], n: int, cutoff: float) -> tuple[str, ...]:
    """:func:`closest`, remembered: an agent repeats its mistakes, and difflib's scoring is slow."""
    by_fold: dict[str, str] = {}
    for option in options:
        by_fold.setdefault(option.casefold(), option)
    matches = difflib.get_close_matches(name.casefold(), list(by_fold), n=n, cutoff=cutoff)
    return tuple(by_fold[m] for m in matches)


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` for the closest option, or ``""`` when none is close."""
    guess = closest(name, options)
    return f" Did you mean {guess[0]!r}?" if guess else ""


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@functools.lru_cache(maxsize=None)
def sqlglot_dialect(name: str) -> Dialect:
    """sqlglot's dialect object called ``name``, made once (sqlglot makes a new one, with a new
    tokenizer and parser settings, every time it is given the name)."""
    return Dialect.get_or_raise(name)


_readers = threading.local()


def sql_reader(name: str) -> tuple[Any, Any]:
    """A tokenizer and a parser of sqlglot's dialect ``name`` for the calling thread, made once:
    sqlglot makes both anew at every parse (about 15 us of a 35 us fragment), and each starts
    afresh at every ``tokenize`` and ``parse``, whatever the last one raised."""
    readers = getattr(_readers, "by_name", None)
    if readers is None:
        readers = _readers.by_name = {}
    found = readers.get(name)
    if found is None:
        dialect = sqlglot_dialect(name)
        found = readers[name] = (dialect.tokenizer_class(dialect=dialect), dialect.parser())
    return found


@functools.lru_cache(maxsize=None)
def _keywords(dialect: str) -> frozenset[str]:
    tokenizer = sqlglot_dialect(dialect).tokenizer_class
    return frozenset(word for key in tokenizer.KEYWORDS for word in key.split()[:1] if word.isalpha())


def needs_quotes(name: str, dialect: str = "sqlite") -> bool:
    """Whether ``name`` must be quoted to read back as that one identifier in ``dialect``.

    A name that is not a plain word is quoted; so is a word that begins one of the dialect's
    keywords in sqlglot's tokenizer (``order`` of ``ORDER BY``, ``select``, ``null``), or that
    SQLite itself does not take as a bare column name (agent fragments are read as SQLite on
    every engine, so what SQLite refuses is quoted everywhere).
    """
    return not _PLAIN.fullmatch(name) or name.upper() in _keywords(dialect) or not _sqlite_takes(name)


@functools.lru_cache(maxsize=8192)
def _sqlite_takes(word: str) -> bool:
    try:
        with closing(sqlite3.connect(":memory:")) as con:
            con.execute(f'SELECT {word} FROM (SELECT 1 AS "{word}") WHERE {word} = 1')
    except sqlite3.Error:
        return False
    return True


def quote_identifier(name: str, dialect: str = "sqlite", *, always: bool = False) -> str:
    """``name`` as an identifier of ``dialect``, quoted only when it must be (or ``always``)."""
    return exp.to_identifier(name, quoted=always or needs_quotes(name, dialect)).sql(dialect)


def identifier(name: str, dialect: str = "sqlite") -> exp.Identifier:
    """``name`` as a sqlglot identifier, quoted only when it must be."""
    return exp.to_identifier(name, quoted=needs_quotes(name, dialect))


def cache_dir(*parts: str) -> Path:
    """querygym's cache folder (``$QUERYGYM_CACHE``, else ``$XDG_CACHE_HOME/querygym``, else
    ``~/.cache/querygym``), or a folder inside it; nothing is created."""
    base = os.environ.get("QUERYGYM_CACHE")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "querygym"
    return Path(base).expanduser().joinpath(*parts)


def source_digest(*sources: Path) -> str:
    """A short key for one version of some files: their absolute paths, sizes and modification times."""
    digest = hashlib.sha256()
    for source in sources:
        stat = source.stat()
        digest.update(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def atomic_write(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` all at once: readers see the old file or the new one, never a part.

    The file is created with the usual permissions (0666 less the umask, so 0644 mostly), not the
    0600 of :func:`tempfile.mkstemp`: run outputs are meant to be read by others.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def first_line(error: BaseException | str) -> str:
    """The first non-empty line of an error's message (engines add context lines), or its type."""
    text = str(error).strip()
    if text:
        return text.splitlines()[0]
    return type(error).__name__ if isinstance(error, BaseException) else ""


def json_error_place(path: str | os.PathLike, error: json.JSONDecodeError, *, line: int | None = None) -> str:
    """``path:line:column`` of a JSON syntax error (``line`` is the file's line for one JSON-lines record).

    >>> try:
    ...     json.loads('{"a": 1,\\n "b": }')
    ... except json.JSONDecodeError as exc:
    ...     json_error_place("data.json", exc)
    'data.json:2:7'
    """
    return f"{os.fspath(path)}:{line if line is not None else error.lineno}:{error.colno}"


def check_resume(path: str | Path, config: dict, *, holds: str) -> None:
    """Record ``config`` in ``path`` for a new output folder, or refuse to resume a folder whose
    recorded settings differ (``holds`` says what it holds then, for the message)."""
    path = Path(path)
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8"))
        if previous != json.loads(json.dumps(config, default=str)):
            raise InvalidArgumentError(f"{path.parent} holds {holds}; resume it with the same arguments or choose "
                                       f"another --out")
    else:
        atomic_write(path, json.dumps(config, indent=2, default=str))


def json_lines(path: str | os.PathLike, lines: Iterable[str], *, expected: str) -> Iterator[tuple[int, Any]]:
    """``(line number, record)`` for each non-blank line of a JSON-lines file; a line that is not JSON
    is a :class:`~querygym.errors.DatasetError` at ``path:line:column`` that ends with ``expected``.

    >>> list(json_lines("x.jsonl", ['{"a": 1}', "", '{"a": 2}'], expected="one object a line"))
    [(1, {'a': 1}), (3, {'a': 2})]
    """
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{json_error_place(path, exc, line=number)}: not JSON ({exc.msg}); {expected}") from None


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


def json_safe(value):
    """``value`` as plain JSON data: what JSON cannot carry (Decimal, dates, ...) becomes its text.

    >>> json_safe({"rows": (1, 2), "when": __import__("datetime").date(2024, 1, 2)})
    {'rows': [1, 2], 'when': '2024-01-02'}
    """
    return json.loads(json.dumps(value, default=str))
