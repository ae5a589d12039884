"""SQLite: files opened read-only, every statement checked by an authorizer, time limits by
progress handler.

Read-only takes three locks, any one of which suffices: the file is opened with
``mode=ro`` (https://www.sqlite.org/uri.html), ``PRAGMA query_only`` is on, and an
authorizer (https://www.sqlite.org/c3ref/set_authorizer.html) denies every action that is
not a read: writes, ATTACH, PRAGMAs outside a read-only list, and functions that touch files
or load extensions.  Python's ``sqlite3`` runs one statement per ``execute`` call, so a
second statement smuggled after a ``;`` is refused by the driver as well.

Time limits use the progress handler (https://www.sqlite.org/c3ref/progress_handler.html):
it runs every few thousand virtual-machine instructions and stops the statement once the
guard's deadline has passed; the connection stays usable.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from querygym.dialects.base import Dialect
from querygym.dialects.guard import QueryGuard
from querygym.errors import DatabaseNotFoundError, ReadOnlyViolation

# Authorizer action codes (sqlite3.h); not every Python exposes all of them as constants.
_SQLITE_PRAGMA = 19
_SQLITE_READ = 20
_SQLITE_SELECT = 21
_SQLITE_TRANSACTION = 22
_SQLITE_FUNCTION = 31
_SQLITE_SAVEPOINT = 32
_SQLITE_RECURSIVE = 33
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

    def create_engine(self, target: str, guard: QueryGuard) -> sa.Engine:
        """An engine on the SQLite file ``target``, opened read-only, whose queries stop once ``guard`` expires."""
        path = _database_path(target)

        def connect() -> sqlite3.Connection:
            uri = f"file:{quote(str(path))}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
            if hasattr(conn, "setlimit"):  # Python 3.11+
                conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
            conn.set_authorizer(_authorizer)
            conn.set_progress_handler(lambda: 1 if guard.expired() else 0, _PROGRESS_EVERY)
            return conn

        return sa.create_engine("sqlite://", creator=connect, poolclass=StaticPool)

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


def _authorizer(action: int, arg1, arg2, db_name, trigger) -> int:
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == _SQLITE_PRAGMA:
        pragma = (arg1 or "").lower()
        if pragma in _READ_ONLY_PRAGMAS or (pragma in _READABLE_SETTINGS and arg2 is None):
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY
    if action == _SQLITE_FUNCTION and (arg2 or "").lower() not in _FORBIDDEN_FUNCTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


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
