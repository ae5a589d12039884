"""Loading SQLite databases into other engines, so every benchmark plays on every engine.

``load_database(source, to="postgres" | "duckdb", ...)`` copies the schema and rows of the
SQLite file ``source`` into the engine; the command ``querygym load-db`` does the same.  The
engine-neutral part lives here (reading SQLite and deciding each column's type); writing is
each dialect's ``load_database`` (:mod:`querygym.dialects.postgres`,
:mod:`querygym.dialects.duckdb`).  Loading is idempotent: a database already loaded from the
same file (same path, size and modification time, same loader version) is not copied again.

Type mapping
------------
SQLite types values, not columns: any column may hold integers, reals, text and blobs side by
side (https://www.sqlite.org/datatype3.html).  A column's type in the target engine is decided
by the storage classes its values actually have, read with ``typeof()`` in one scan of each
table; the declared type decides only for a column that holds nothing but NULLs.

=====================================  ===========  ==============================================
values in the SQLite column            kind         what reaches the engine
=====================================  ===========  ==============================================
integers only                          integer      the same integers (64-bit)
reals only                             real         the same doubles, bit for bit
integers and reals                     real         each integer as the double of the same value
                                                    (exact: only when every integer is at most
                                                    2**53 in magnitude; otherwise ``text``)
text only                              text         the same strings
blobs only                             blob         the same bytes
text and numbers (no blobs)            text         numbers as SQLite writes them as text
                                                    (``CAST(x AS TEXT)``: ``12``, ``2.5``)
blobs and anything else                blob         text as its UTF-8 bytes, numbers as the bytes
                                                    of their SQLite text
text holding NUL or invalid UTF-8      blob         the raw bytes (no engine text type can hold
                                                    them)
NULLs only                             by declared  INT... -> integer; REAL/FLOA/DOUB or other
                                       affinity     numeric -> real; anything else -> text
=====================================  ===========  ==============================================

NULL stays NULL everywhere.  Nothing is rounded, truncated or dropped: a value changes only
its type, in the mixed cases above, and keeps its information.  What changes is how the
engine compares such a column (a text column compared with a number is an error on
PostgreSQL, where SQLite would apply affinity); see the dialect modules.

Tables keep their names and column order; primary and foreign keys are not created as
constraints (SQLite does not enforce what its schema declares, and PostgreSQL would refuse
such data) but are recorded beside the data, so the schema the agent sees lists the same keys
on every engine.  Views are not copied (the SQLite dialect does not show them either).

>>> from querygym.converters.builtin import builtin_database
>>> source = read_sqlite(builtin_database())
>>> [c.kind for c in source.table("regions").columns]
['integer', 'text', 'text', 'text']
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from querygym import util
from querygym.dialects.guard import QueryGuard
from querygym.dialects.sqlite import SQLiteDialect
from querygym.errors import DatabaseNotFoundError, DatasetError, UndecodableText
from querygym.schema import DatabaseSchema

#: bumped whenever what a load writes changes, so older copies are replaced
LOADER_VERSION = 1

KINDS = ("integer", "real", "text", "blob")
_EXACT_INTEGER = 2**53
_SQLITE_MAGIC = b"SQLite format 3\x00"


# ---------------------------------------------------------------------- reading SQLite
@dataclass(frozen=True)
class ColumnPlan:
    """One column: its SQLite name and declared type, the kind it becomes, and why."""

    name: str
    declared: str
    kind: str
    reason: str
    #: storage classes seen, with counts
    classes: tuple[tuple[str, int], ...] = ()

    def select_sql(self) -> str:
        """The SQLite expression that reads this column's values already converted to its kind."""
        col = quote_identifier(self.name)
        seen = {c for c, n in self.classes if n}
        if self.kind == "real" and "integer" in seen:
            return f"CAST({col} AS REAL)"
        if self.kind == "text" and seen - {"text"}:
            return f"CAST({col} AS TEXT)"
        if self.kind == "blob" and seen - {"blob"}:
            return f"CAST({col} AS BLOB)"
        return col


@dataclass(frozen=True)
class TablePlan:
    """How one SQLite table is copied: its columns with the kind each becomes."""
    name: str
    columns: tuple[ColumnPlan, ...]
    rows: int

    def column(self, name: str) -> ColumnPlan:
        """The plan of column ``name``."""
        return next(c for c in self.columns if c.name == name)

    def with_kind(self, column: str, kind: str, reason: str) -> "TablePlan":
        """The plan with column ``name`` copied as ``kind`` instead."""
        columns = tuple(replace(c, kind=kind, reason=reason) if c.name == column else c for c in self.columns)
        return replace(self, columns=columns)


@dataclass(frozen=True)
class SourceDatabase:
    """A SQLite file, its fingerprint, and the plan of every table to copy."""

    path: Path
    db_id: str
    fingerprint: str
    tables: tuple[TablePlan, ...]
    schema: DatabaseSchema

    def table(self, name: str) -> TablePlan:
        """The plan of table ``name``."""
        return next(t for t in self.tables if t.name == name)

    def batches(self, table: TablePlan, size: int = 20_000) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of ``table``, converted to each column's kind, ``size`` at a time.

        Raises :class:`UndecodableText` naming the first text column holding bytes that are not
        UTF-8; the caller copies that column as a blob instead.
        """
        select = ", ".join(c.select_sql() for c in table.columns)
        with closing(_connect_ro(self.path)) as con:
            try:
                cursor = con.execute(f"SELECT {select} FROM {quote_identifier(table.name)}")
                while True:
                    rows = cursor.fetchmany(size)
                    if not rows:
                        return
                    yield rows
            except sqlite3.OperationalError as exc:
                column = _undecodable_column(exc, table)
                if column is None:
                    raise
                raise UndecodableText(table.name, column) from None

    def keys_json(self) -> str:
        """Primary and foreign keys and declared types, as recorded beside the loaded data."""
        return json.dumps({
            t.name: {"primary_key": list(t.primary_key),
                     "foreign_keys": [[list(fk.columns), fk.ref_table, list(fk.ref_columns)]
                                      for fk in t.foreign_keys],
                     "declared": {c.name: c.type for c in t.columns}}
            for t in self.schema.tables
        })

    def types_json(self) -> str:
        """Every column's kind as JSON, recorded with a copy so the loader can tell what it made."""
        return json.dumps({t.name: {c.name: c.kind for c in t.columns} for t in self.tables})


def read_sqlite(path: str | os.PathLike) -> SourceDatabase:
    """Analyse a SQLite file: every table's columns, their kinds (see the module's table), keys."""
    path = sqlite_path(path)
    with closing(_connect_ro(path)) as con:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY name")]
        tables = tuple(_plan_table(con, name) for name in names)
    return SourceDatabase(path, path.stem, fingerprint(path), tables, _keys(path, names))


def _plan_table(con: sqlite3.Connection, name: str) -> TablePlan:
    info = con.execute(f"PRAGMA table_info({quote_identifier(name)})").fetchall()
    columns = [(row[1], row[2] or "") for row in info]
    parts = ["COUNT(*)"]
    for cname, _ in columns:
        c = quote_identifier(cname)
        parts += [f"SUM(typeof({c}) = 'integer')", f"SUM(typeof({c}) = 'real')", f"SUM(typeof({c}) = 'text')",
                  f"SUM(typeof({c}) = 'blob')",
                  f"MAX(typeof({c}) = 'integer' AND ({c} > {_EXACT_INTEGER} OR {c} < -{_EXACT_INTEGER}))",
                  f"MAX(typeof({c}) = 'text' AND instr(CAST({c} AS BLOB), x'00') > 0)"]
    row = con.execute(f"SELECT {', '.join(parts)} FROM {quote_identifier(name)}").fetchone()
    rows = row[0]
    plans = []
    for i, (cname, declared) in enumerate(columns):
        n_int, n_real, n_text, n_blob, big, nul = (v or 0 for v in row[1 + 6 * i: 7 + 6 * i])
        kind, reason = decide_kind(declared, n_int, n_real, n_text, n_blob, bool(big), bool(nul))
        classes = (("integer", n_int), ("real", n_real), ("text", n_text), ("blob", n_blob))
        plans.append(ColumnPlan(cname, declared, kind, reason, classes))
    return TablePlan(name, tuple(plans), rows)


def decide_kind(declared: str, n_int: int, n_real: int, n_text: int, n_blob: int,
                big_integers: bool = False, text_with_nul: bool = False) -> tuple[str, str]:
    """The kind of a column from the counts of its values' storage classes (the module's table).

    >>> decide_kind("INTEGER", 10, 0, 0, 0)
    ('integer', 'integers only')
    >>> decide_kind("int", 10, 0, 2, 0)[0]
    'text'
    >>> decide_kind("REAL", 0, 0, 0, 0)
    ('real', 'NULLs only; declared REAL has REAL affinity')
    """
    present = [k for k, n in zip(KINDS, (n_int, n_real, n_text, n_blob)) if n]
    if not present:
        affinity = sqlite_affinity(declared)
        kind = {"INTEGER": "integer", "REAL": "real", "NUMERIC": "real"}.get(affinity, "text")
        return kind, f"NULLs only; declared {declared or '(nothing)'} has {affinity} affinity"
    if text_with_nul:
        return "blob", "text holding NUL characters, kept as bytes"
    if present == ["integer"]:
        return "integer", "integers only"
    if present == ["real"]:
        return "real", "reals only"
    if present == ["integer", "real"]:
        if big_integers:
            return "text", "integers beyond 2**53 beside reals: no common exact numeric type, kept as SQLite's text"
        return "real", "integers and reals: integers as doubles of the same value"
    if present == ["text"]:
        return "text", "text only"
    if present == ["blob"]:
        return "blob", "blobs only"
    if "blob" in present:
        return "blob", f"{' and '.join(present)} values: all as bytes"
    return "text", f"{' and '.join(present)} values: numbers as SQLite's text"


def sqlite_affinity(declared: str) -> str:
    """SQLite's column affinity of a declared type (https://www.sqlite.org/datatype3.html#affname)."""
    t = declared.upper()
    if "INT" in t:
        return "INTEGER"
    if any(s in t for s in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if not t or "BLOB" in t:
        return "BLOB"
    if any(s in t for s in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def _keys(path: Path, tables: list[str]) -> DatabaseSchema:
    engine = SQLiteDialect().create_engine(str(path), QueryGuard())
    try:
        schema = SQLiteDialect().introspect(engine, path.stem)
    finally:
        engine.dispose()
    order = {name: i for i, name in enumerate(tables)}
    return DatabaseSchema(schema.db_id, tuple(sorted((t for t in schema.tables if t.name in order),
                                                     key=lambda t: order[t.name])))


def _undecodable_column(exc: sqlite3.OperationalError, table: TablePlan) -> str | None:
    # Python's sqlite3: "Could not decode to UTF-8 column 'name' with text '...'"
    text = str(exc)
    if "decode" not in text.lower():
        return None
    for c in table.columns:
        if f"column '{c.name}'" in text:
            return c.name
    return None


def _connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)


# ---------------------------------------------------------------------- helpers for writers
def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (the same rule in SQLite, PostgreSQL and DuckDB)."""
    return util.quote_identifier(name, always=True)


def fingerprint(path: Path) -> str:
    """What identifies one version of a SQLite file: its path, size and modification time."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|loader {LOADER_VERSION}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def is_sqlite_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file that starts with SQLite's header."""
    try:
        with open(path, "rb") as f:
            return f.read(16) == _SQLITE_MAGIC
    except OSError:
        return False


def sqlite_path(target: str | os.PathLike) -> Path:
    """The SQLite file a path or ``sqlite:///`` URL names; a clear error if it is none."""
    text = os.fspath(target)
    if isinstance(text, str) and text.startswith("sqlite:"):
        import sqlalchemy as sa

        text = sa.engine.make_url(text).database or ""
    path = Path(text).expanduser().resolve()
    if not path.is_file():
        raise DatabaseNotFoundError(f"SQLite database not found: {path}")
    if not is_sqlite_file(path):
        raise DatasetError(f"{path}: not a SQLite database (its header is not 'SQLite format 3')")
    return path




# ---------------------------------------------------------------------- the entry point
@dataclass
class LoadedDatabase:
    """What a load did: where the copy is, how to open it, what was copied."""

    source: str
    engine: str
    #: a target the engine's dialect opens (a URL, or a file path)
    target: str
    #: the PostgreSQL schema or DuckDB file holding the tables
    location: str
    loaded: bool  # False when an up-to-date copy was already there
    tables: int = 0
    rows: int = 0
    seconds: float = 0.0
    columns: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> column -> kind

    def to_dict(self) -> dict[str, Any]:
        """The load as plain values (what ``querygym load-db --json`` prints)."""
        return {k: getattr(self, k) for k in ("source", "engine", "target", "location", "loaded", "tables", "rows",
                                                "seconds", "columns")}
