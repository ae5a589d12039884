"""Guarded access to one database: read-only, time-limited, row-capped.

>>> from querygym.converters.builtin import builtin_database
>>> with Backend(builtin_database()) as db:
...     result = db.execute("SELECT 1 AS one")
>>> result.columns, result.rows
(('one',), [(1,)])
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from querygym.dialects import Dialect, QueryGuard, get
from querygym.errors import EngineUnavailableError, ExecutionError, QueryTimeoutError
from querygym.schema import DatabaseSchema
from querygym.util import first_line, quote_identifier


@dataclass(frozen=True)
class Result:
    """Rows of one query: at most ``max_rows`` of them, and whether more existed.

    ``total`` is how many rows the query returned in all when the caller asked them counted
    (``count=True``): the rows past ``max_rows`` are counted as they are read, in the same
    pass, and not kept.
    """

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    truncated: bool = False
    total: int | None = None
    #: with ``columnar``: every row fetched, as one numpy array per column (int64 or float64 where
    #: a column holds only such values, else Python objects); ``rows`` then holds the first rows only
    data: tuple[np.ndarray, ...] | None = None
    #: the driver's type code of each column (``cursor.description``), when it gives one
    types: tuple[Any, ...] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def all_rows(self) -> list[tuple[Any, ...]]:
        """Every row fetched, as tuples of Python values (from :attr:`data` when it was fetched columnar)."""
        if self.data is None:
            return self.rows
        return list(zip(*(column.tolist() for column in self.data)))

    def table(self) -> "pd.DataFrame | list[tuple[Any, ...]]":
        """Every row fetched, for comparing: a DataFrame of :attr:`data` when it was fetched
        columnar (and has rows; an empty list of rows keeps having no width), else the rows."""
        if self.data is None or not len(self.data[0]):
            return self.rows
        return pd.DataFrame(dict(enumerate(self.data)), copy=False)


#: rows read at a time past the cap when counting them, so memory stays bounded
_COUNT_CHUNK = 10_000


class Backend:
    """One read-only connection to one database, through SQLAlchemy.

    ``target`` is a SQLAlchemy URL or, for SQLite, a plain file path.  Every query runs under
    a time limit that stops it in the engine (the dialect's guard), after which the
    connection is still usable.
    """

    def __init__(self, target: str, dialect: str | Dialect = "sqlite", *, timeout_s: float | None = 5.0,
                 db_id: str | None = None):
        self.dialect = get(dialect)() if isinstance(dialect, str) else dialect
        self.target = str(target)
        self.timeout_s = timeout_s
        self.db_id = db_id or _db_id_from_target(self.target)
        self._guard = QueryGuard()
        self._engine = self.dialect.create_engine(self.target, self._guard)
        self._conn: sa.Connection | None = None
        self._schema: DatabaseSchema | None = None
        self._lock = threading.Lock()
        self._session = 0
        self._table_rows: dict[str, int] = {}

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connection(self) -> sa.Connection:
        """The backend's one open connection, made on first use; an unreachable engine raises
        :class:`~querygym.errors.EngineUnavailableError`.
        """
        if self._conn is None:
            try:
                self._conn = self._engine.connect()
            except sa.exc.DBAPIError as exc:  # refused, unknown host, server shutting down
                raise self._unavailable(exc) from None
        return self._conn

    def close(self) -> None:
        """Close the connection and dispose of the engine."""
        if self._conn is not None:
            self._conn.close()
            self._lost()
        self._engine.dispose()

    def schema(self) -> DatabaseSchema:
        """The database's tables, columns and keys, read from the engine once and kept."""
        if self._schema is None:
            try:
                self._schema = self.dialect.introspect(self._engine, self.db_id)
            except sa.exc.OperationalError as exc:
                raise self._unavailable(exc) from None
        return self._schema

    def execute(self, sql: str, *, max_rows: int | None = None, timeout_s: float | None = ...,
                count: bool = False, columnar: int | None = None) -> Result:
        """Run one read-only statement and fetch at most ``max_rows`` rows (all when None);
        with ``count``, also count every row it returns (``Result.total``) in the same pass.

        With ``columnar`` (a number of rows), a result larger than one batch (10,000 rows) is read in
        batches into one numpy array per column (``Result.data``) and only its first ``columnar`` rows
        are kept as tuples (``Result.rows``): a million rows then take the size of their values, not
        of a million Python tuples.  A smaller result comes as rows, as without ``columnar``.
        """
        limit = self.timeout_s if timeout_s is ... else timeout_s
        with self._running(limit) as conn:
            if self.dialect.direct_cursor:
                # the driver's own cursor: SQLAlchemy's execution layer costs as much as the
                # engine on small queries, and adds nothing the connection's guards do not do
                result = conn.connection.dbapi_connection.cursor()
                result.execute(sql)
            else:
                result = conn.exec_driver_sql(sql)
            try:
                cursor = result if self.dialect.direct_cursor else result.cursor
                description = getattr(cursor, "description", None) or ()
                columns = tuple(d[0] for d in description) if self.dialect.direct_cursor else tuple(result.keys())
                # The driver's own rows (tuples) when SQLAlchemy holds none back: its Row layer
                # costs as much as the engine on small results.
                source = cursor if self.dialect.fetch_from_driver else result
                types = tuple(d[1] for d in description) or None
                if columnar is not None:
                    return self._fetch_columnar(source, columns, types, max_rows, columnar, count, limit)
                if max_rows is None:
                    rows = source.fetchall()
                    truncated = False
                    total = len(rows)
                else:
                    rows = source.fetchmany(max_rows + 1)
                    truncated = len(rows) > max_rows
                    total = len(rows)
                    if truncated:
                        del rows[max_rows:]
                        while count:
                            # a server-side cursor's FETCHes are statements of their own, each
                            # under the engine's limit: the query's deadline is checked here too
                            if self._guard.expired():
                                raise QueryTimeoutError(
                                    f"the query ran longer than its {limit:g} s limit and was stopped")
                            chunk = source.fetchmany(_COUNT_CHUNK)
                            if not chunk:
                                break
                            total += len(chunk)
                if source is result:
                    rows = [tuple(r) for r in rows]
                elif rows and type(rows[0]) is not tuple:
                    rows = [tuple(r) for r in rows]
            finally:
                try:
                    result.close()
                except Exception:  # stopped while reading and the connection reset under it: nothing left to free
                    pass
        return Result(columns, rows, truncated, total if (count or not truncated) else None, types=types)

    def _fetch_columnar(self, source, columns: tuple[str, ...], types: tuple | None, max_rows: int | None,
                        keep: int, count: bool, limit: float | None) -> Result:
        """Rows read in batches into column arrays; the first ``keep`` kept as tuples (see :meth:`execute`)."""
        width = len(columns)
        first = source.fetchmany(_COUNT_CHUNK if max_rows is None else min(_COUNT_CHUNK, max_rows + 1))
        if len(first) < _COUNT_CHUNK and (max_rows is None or len(first) <= max_rows):
            # the whole result in one batch: rows, as without columnar (small tables compare fastest so)
            rows = first if not first or type(first[0]) is tuple else [tuple(r) for r in first]
            return Result(columns, rows, False, len(rows), types=types)
        head: list[tuple] = []
        parts: list[list[np.ndarray]] = [[] for _ in range(width)]
        fetched, truncated = 0, False
        pending = [first]
        while True:  # as without columnar, the deadline is the engine's until the cap; past it, ours too
            want = _COUNT_CHUNK if max_rows is None else min(_COUNT_CHUNK, max_rows + 1 - fetched)
            chunk = pending.pop() if pending else source.fetchmany(want) if want > 0 else []
            if not chunk:
                break
            if max_rows is not None and fetched + len(chunk) > max_rows:
                truncated = True
                chunk = chunk[: max_rows - fetched]
            if len(head) < keep:
                head.extend(tuple(r) for r in chunk[: keep - len(head)])
            for j in range(width):
                parts[j].append(_column_array([row[j] for row in chunk]))
            fetched += len(chunk)
            if truncated:
                break
        total = fetched + (1 if truncated else 0)
        while truncated and count:  # the rows past the cap are counted, not kept
            if self._guard.expired():
                raise QueryTimeoutError(f"the query ran longer than its {limit:g} s limit and was stopped")
            chunk = source.fetchmany(_COUNT_CHUNK)
            if not chunk:
                break
            total += len(chunk)
        data = tuple(_concatenate(p) for p in parts)
        return Result(columns, head, truncated, total if (count or not truncated) else None, data, types)

    def materialise(self, name: str, sql: str, *, timeout_s: float | None = ...) -> int | None:
        """Keep the rows of the read-only query ``sql`` as the temporary table ``name`` of this
        backend's session (the dialect's :meth:`~querygym.dialects.Dialect.materialise`), under the
        same time limit as a query; returns the row count when the engine reports it.  The table
        lives as long as the session: :attr:`session` changes when the connection is replaced."""
        limit = self.timeout_s if timeout_s is ... else timeout_s
        with self._running(limit) as conn:
            return self.dialect.materialise(conn, self._guard, name, sql)

    def drop(self, name: str) -> None:
        """Drop the temporary table ``name`` made by :meth:`materialise` (nothing when the session that
        made it is gone)."""
        if self._conn is None:
            return
        with self._running(self.timeout_s) as conn:
            self.dialect.drop_materialised(conn, self._guard, name)

    @property
    def session(self) -> int:
        """A number that changes whenever the connection is replaced (its temporary tables are then gone)."""
        return self._session

    def table_rows(self, table: str) -> int:
        """How many rows the base table ``table`` holds, counted once and kept (within the time limit;
        a count that does not finish in time reads as very large)."""
        rows = self._table_rows.get(table)
        if rows is None:
            try:
                rows = int(self.scalar(f"SELECT COUNT(*) FROM {quote_identifier(table, always=True)}") or 0)
            except QueryTimeoutError:
                rows = 1 << 62
            self._table_rows[table] = rows
        return rows

    @contextmanager
    def _running(self, limit: float | None) -> Iterator[sa.Connection]:
        """The connection, with the guard armed for ``limit`` seconds; the engine's errors become
        querygym's (an unreachable engine, a timeout, or the query's own error)."""
        with self._lock:
            conn = self.connection
            self._guard.start(limit)
            try:
                yield conn
            except QueryTimeoutError:
                self._recover(conn)
                raise
            except sa.exc.DBAPIError as exc:
                if exc.connection_invalidated:
                    # SQLAlchemy's dialect recognised a lost connection (server stopped or restarted):
                    # an infrastructure failure, not the query's; the next query reconnects.
                    self._lost()
                    raise self._unavailable(exc) from None
                self._recover(conn)
                original = exc.orig if exc.orig is not None else exc
                if self.dialect.is_timeout(original):
                    raise QueryTimeoutError(
                        f"the query ran longer than its {limit:g} s limit and was stopped") from None
                raise ExecutionError(first_line(original)) from None
            except sa.exc.StatementError as exc:
                self._recover(conn)
                raise ExecutionError(first_line(exc.orig or exc)) from None
            except self.dialect.driver_errors as exc:  # raised by the driver's own cursor
                self._recover(conn)
                if self.dialect.is_timeout(exc):
                    raise QueryTimeoutError(
                        f"the query ran longer than its {limit:g} s limit and was stopped") from None
                raise ExecutionError(first_line(exc)) from None
            finally:
                self._guard.stop()

    def scalar(self, sql: str) -> Any:
        """The first value of the first row ``sql`` returns, or None when it returns no rows."""
        result = self.execute(sql, max_rows=1)
        return result.rows[0][0] if result.rows else None

    def _unavailable(self, exc: BaseException) -> EngineUnavailableError:
        original = getattr(exc, "orig", None) or exc
        return EngineUnavailableError(f"the {self.dialect.name} engine behind {self.db_id!r} cannot be reached: "
                                      f"{first_line(original)}")

    def _recover(self, conn: sa.Connection) -> None:
        try:
            conn.rollback()
        except sa.exc.SQLAlchemyError:
            self._lost()
            conn.invalidate()

    def _lost(self) -> None:
        """Forget the connection (the next query opens another): its temporary tables are gone."""
        self._conn = None
        self._session += 1




def _column_array(values: list) -> np.ndarray:
    """One batch of a column: int64 or float64 when every value is an int (that fits) or a float,
    else the Python values themselves (NULLs, text, mixed types)."""
    kinds = set(map(type, values))
    if kinds == {int}:
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:
            pass
    elif kinds == {float}:
        return np.array(values, dtype=np.float64)
    return np.fromiter(values, dtype=object, count=len(values))


def _concatenate(parts: list[np.ndarray]) -> np.ndarray:
    """A column's batches as one array; batches of different kinds meet as Python values, exactly."""
    if not parts:
        return np.empty(0, dtype=object)
    if len({p.dtype for p in parts}) > 1:
        parts = [p.astype(object) for p in parts]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _db_id_from_target(target: str) -> str:
    name = target.rstrip("/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name
