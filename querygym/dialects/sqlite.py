"""SQLite: files opened read-only, every statement checked by an authorizer, time limits by
progress handler.

Read-only takes three locks, any one of which suffices: the file is opened with
``mode=ro`` (https://www.sqlite.org/uri.html), ``PRAGMA query_only`` is on, and an
authorizer (https://www.sqlite.org/c3ref/set_authorizer.html) denies every action that is
not a read: writes, ATTACH, PRAGMAs outside a read-only list, and functions that touch files
or load extensions.  Python's ``sqlite3`` runs one statement per ``execute`` call, so a
second statement smuggled after a ``;`` is refused by the driver as well.

Intermediate results an episode reads again may be kept as temporary tables of its connection
(``querygym.engine.cache``).  Only querygym's own ``CREATE TEMP TABLE "qg_..." AS SELECT ...``
and ``DROP TABLE`` write them: for that one statement the guard names the table, ``query_only``
is lifted and the authorizer allows creating, filling and dropping that table in the ``temp``
database and nothing else; the file stays opened read-only, so the database itself cannot
change.  The agent's fragments only ever appear inside the ``SELECT``.  A table created this way
keeps SQLite's affinity: each column is declared with the affinity of its expression
(https://www.sqlite.org/lang_createtable.html#create_table_as_select_statements), so values and
comparisons read back from it behave as they did in the query.

Time limits use the progress handler (https://www.sqlite.org/c3ref/progress_handler.html):
it runs every few thousand virtual-machine instructions and stops the statement once the
guard's deadline has passed; the connection stays usable.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite as SQLiteGenerator

from querygym.dialects.base import Dialect
from querygym.dialects.guard import QueryGuard
from querygym.dialects.transforms import first_join_is_outer, outer_joins_as_left_joins
from querygym.errors import DatabaseNotFoundError, ReadOnlyViolation
from querygym.util import quote_identifier

# Authorizer action codes (sqlite3.h); not every Python exposes all of them as constants.
_SQLITE_PRAGMA = 19
_SQLITE_READ = 20
_SQLITE_SELECT = 21
_SQLITE_TRANSACTION = 22
_SQLITE_FUNCTION = 31
_SQLITE_SAVEPOINT = 32
_SQLITE_RECURSIVE = 33
# What creating and dropping one temporary table takes: CREATE_TEMP_TABLE, DROP_TEMP_TABLE,
# and the INSERT, UPDATE and DELETE on the temporary catalog (and the table) that go with them.
_CACHE_ACTIONS = {4, 13, 18, 23, 9}
_ALLOWED_ACTIONS = {_SQLITE_READ, _SQLITE_SELECT, _SQLITE_TRANSACTION, _SQLITE_SAVEPOINT, _SQLITE_RECURSIVE}

# PRAGMAs that only read the schema (SQLAlchemy's inspector uses these); their argument is a name.
_READ_ONLY_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "foreign_key_list", "index_list", "index_info",
    "index_xinfo", "database_list", "collation_list",
})
# Settings that may be read but never set (SQLAlchemy reads read_uncommitted when it connects).
_READABLE_SETTINGS = frozenset({"read_uncommitted", "query_only", "encoding", "user_version", "schema_version"})
# Functions that read or write files, or load code.
_FORBIDDEN_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})

_PROGRESS_EVERY = 4000  # VM instructions between deadline checks
# The progress handler runs between VM instructions, never inside one function call, so one
# huge value (randomblob(1e9), replace() blow-ups) could outlive the deadline and the memory:
# cap the size of any string or blob (https://www.sqlite.org/limits.html#max_length).
MAX_VALUE_BYTES = 10_000_000


class SQLiteDialect(Dialect):
    """SQLite: the database file opened read-only, with an authorizer and a progress-handler deadline."""
    name = "sqlite"
    sqlglot_dialect = "sqlite"
    forbidden_functions = _FORBIDDEN_FUNCTIONS
    result_cache = True
    direct_cursor = True  # the authorizer, query_only and the progress handler are the connection's
    transforms = (outer_joins_as_left_joins,)

    generates_in_place = True  # see prepare

    def prepare(self, expression: exp.Expression) -> exp.Expression:
        """``expression`` itself unless a query in it starts with a RIGHT or FULL JOIN, which
        :func:`~querygym.dialects.transforms.outer_joins_as_left_joins` rewrites (on a copy), or
        holds a construct that sqlglot's SQLite generator rewrites in place as it writes it (a
        copy then, so what is returned can always be written without one)."""
        changed_in_writing = not _GENERATOR_KNOWN
        for part in expression.find_all(exp.Select, exp.With):
            if isinstance(part, exp.With):
                changed_in_writing = True  # a WITH inside a statement is moved to its top
            elif first_join_is_outer(part):
                return super().prepare(expression)
            elif _rewritten_by_generator(part):
                changed_in_writing = True
        return expression.copy() if changed_in_writing else expression

    def create_engine(self, target: str, guard: QueryGuard) -> sa.Engine:
        """An engine on the SQLite file ``target``, opened read-only, whose queries stop once ``guard`` expires."""
        path = _database_path(target)

        def connect() -> sqlite3.Connection:
            uri = f"file:{quote(str(path))}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            if hasattr(conn, "setlimit"):  # Python 3.11+
                conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
            conn.set_authorizer(lambda *args: _authorizer(guard.writable, *args))
            conn.set_progress_handler(lambda: 1 if guard.expired() else 0, _PROGRESS_EVERY)
            return conn

        return sa.create_engine("sqlite://", creator=connect, poolclass=StaticPool)

    def materialise(self, connection: sa.Connection, guard: QueryGuard, name: str, sql: str) -> int | None:
        """Create the temporary table ``name`` holding the rows of ``sql`` (see the module's notes)."""
        with _writing(connection, guard, name) as dbapi:
            dbapi.execute(f"CREATE TEMP TABLE {quote_identifier(name, always=True)} AS {sql}")
        return None  # SQLite does not count the rows of CREATE TABLE ... AS

    def drop_materialised(self, connection: sa.Connection, guard: QueryGuard, name: str) -> None:
        """Drop the temporary table ``name`` made by :meth:`materialise`."""
        with _writing(connection, guard, name) as dbapi:
            dbapi.execute(f"DROP TABLE IF EXISTS temp.{quote_identifier(name, always=True)}")

    def kept_select(self, backend, name: str) -> str | None:
        """The kept table read with the affinity each column had in the query.

        ``CREATE TABLE ... AS`` declares a column of no affinity (an expression: ``AVG(x)``,
        ``COUNT(*)``, ``a + 1``) and one of BLOB affinity (a column declared BLOB or untyped) alike,
        with no type; the two differ against a TEXT operand, which converts a value of no affinity to
        text (https://www.sqlite.org/datatype3.html#type_conversions_prior_to_comparison).  Such a
        column is read as ``+column``, SQLite's no-op operator, which has no affinity; when the
        database has BLOB-affinity columns the two cannot be told apart, and the node is computed
        again instead (None).
        """
        quoted = quote_identifier(name, always=True)
        columns = backend.execute(f"PRAGMA table_info({quoted})").rows
        untyped = [c[1] for c in columns if not (c[2] or "").strip()]
        if not untyped:
            return f"SELECT * FROM {quoted}"
        if any(_blob_affinity(c.type) for t in backend.schema().tables for c in t.columns):
            return None
        items = ", ".join(f"+{quote_identifier(c[1], always=True)} AS {quote_identifier(c[1], always=True)}"
                          if c[1] in untyped else quote_identifier(c[1], always=True) for c in columns)
        return f"SELECT {items} FROM {quoted}"

    def interrupt(self, connection: sa.Connection) -> None:
        """Interrupt the query running on ``connection``."""
        connection.connection.dbapi_connection.interrupt()

    def is_timeout(self, error: BaseException) -> bool:
        """Whether ``error`` is SQLite's report of a query interrupted by the deadline."""
        return "interrupted" in str(error).lower()

    @property
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        """The ``sqlite3`` module's base exception class."""
        return (sqlite3.Error,)


@contextmanager
def _writing(connection: sa.Connection, guard: QueryGuard, name: str) -> Iterator[sqlite3.Connection]:
    """The driver's connection, open for one statement of querygym's own on the temporary table
    ``name``: the guard names it (the authorizer allows it alone) and ``query_only`` is lifted."""
    dbapi = connection.connection.dbapi_connection
    guard.writable = name
    try:
        dbapi.execute("PRAGMA query_only = OFF")
        try:
            yield dbapi
        finally:
            dbapi.execute("PRAGMA query_only = ON")
    finally:
        guard.writable = None


def _select_rewrites() -> frozenset[str] | None:
    """The names of the rewrites sqlglot's SQLite generator applies to a SELECT as it writes it,
    read from its table of transforms; None when they cannot be read."""
    try:
        closure = SQLiteGenerator.Generator.TRANSFORMS[exp.Select].__closure__ or ()
        rewrites = next(c.cell_contents for c in closure if isinstance(c.cell_contents, (list, tuple)))
        return frozenset(f.__name__ for f in rewrites)
    except (KeyError, AttributeError, StopIteration, ValueError):
        return None


# The rewrites whose triggers _rewritten_by_generator knows; with any other (a newer sqlglot),
# every tree is copied before it is written, as before this was known.
_KNOWN_REWRITES = frozenset({"eliminate_distinct_on", "eliminate_qualify", "eliminate_semi_and_anti_joins"})
_found_rewrites = _select_rewrites()
_GENERATOR_KNOWN = _found_rewrites is not None and _found_rewrites <= _KNOWN_REWRITES


def _rewritten_by_generator(select: exp.Select) -> bool:
    """Whether sqlglot's SQLite generator rewrites ``select`` in place as it writes it: a QUALIFY,
    a DISTINCT ON or a SEMI or ANTI join (the triggers of the rewrites in :data:`_KNOWN_REWRITES`)."""
    if select.args.get("qualify") is not None:
        return True
    distinct = select.args.get("distinct")
    if distinct is not None and distinct.args.get("on") is not None:
        return True
    return any(join.kind in ("SEMI", "ANTI") for join in select.args.get("joins") or ())


def _authorizer(writable: str | None, action: int, arg1, arg2, db_name, trigger) -> int:
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if writable is not None:
        # querygym's own CREATE TEMP TABLE ... AS / DROP TABLE of one cached result: only that
        # table, and the temporary schema's catalog, in the temporary database, may change
        if action == _SQLITE_PRAGMA and (arg1 or "").lower() == "query_only":
            return sqlite3.SQLITE_OK
        if (action in _CACHE_ACTIONS and db_name == "temp"
                and (arg1 == writable or (arg1 or "").lower() == "sqlite_temp_master")):
            return sqlite3.SQLITE_OK
    if action == _SQLITE_PRAGMA:
        pragma = (arg1 or "").lower()
        if pragma in _READ_ONLY_PRAGMAS or (pragma in _READABLE_SETTINGS and arg2 is None):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY
    if action == _SQLITE_FUNCTION and (arg2 or "").lower() not in _FORBIDDEN_FUNCTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _blob_affinity(declared: str | None) -> bool:
    """Whether a column declared ``declared`` has BLOB affinity (https://www.sqlite.org/datatype3.html#determination_of_column_affinity)."""
    t = (declared or "").upper()
    if "INT" in t or any(k in t for k in ("CHAR", "CLOB", "TEXT")):
        return False
    return "BLOB" in t or not t.strip()


def _database_path(target: str) -> Path:
    if "://" in str(target):
        url = sa.engine.make_url(str(target))
        if url.get_backend_name() != "sqlite":
            raise ReadOnlyViolation(f"the sqlite dialect cannot open {url.get_backend_name()!r} URLs: {target}")
        if not url.database or url.database == ":memory:":
            raise DatabaseNotFoundError(f"{target}: an in-memory SQLite database holds no data to query")
        target = url.database
    path = Path(os.fspath(target)).expanduser().resolve()
    if not path.is_file():
        raise DatabaseNotFoundError(f"SQLite database not found: {path}")
    return path
