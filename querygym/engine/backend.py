"""Guarded access to one database: read-only, time-limited, row-capped.

>>> from querygym.converters.builtin import builtin_database
>>> with Backend(builtin_database()) as db:
...     result = db.execute("SELECT 1 AS one")
>>> result.columns, result.rows
(('one',), [(1,)])
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

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
    (``count=True``): the rows past ``max_rows`` are counted, not kept (see
    :meth:`Backend.execute`).
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
        # each column as fetched: pandas would otherwise turn a column of texts into its own string
        # dtype, checking every value, and the comparison reads texts as Python objects
        return pd.DataFrame({j: pd.Series(column, dtype=column.dtype, copy=False) for j, column in enumerate(self.data)},
                            copy=False)


#: rows read at a time past the cap when counting them, so memory stays bounded
_COUNT_CHUNK = 10_000
#: how long the rows past the cap are counted by reading them, as a share of the time the first
#: ``max_rows`` took, before the engine is asked to count them instead (see :meth:`Backend._count_rest`)
_READ_SHARE = 0.25


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
        with ``count``, also count every row it returns (``Result.total``): the rows past the cap
        are counted as they are read, or by the engine when reading them costs more (see
        :meth:`_count_rest`).

        With ``columnar`` (a number of rows), a result larger than one batch (10,000 rows) is read in
        batches into one numpy array per column (``Result.data``) and only its first ``columnar`` rows
        are kept as tuples (``Result.rows``): a million rows then take the size of their values, not
        of a million Python tuples.  A smaller result comes as rows, as without ``columnar``.
        """
        limit = self.timeout_s if timeout_s is ... else timeout_s
        with self._running(limit) as conn:
            started = time.perf_counter()
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
                    if count:
                        def count_rest(counted: int) -> int:
                            return self._count_rest(conn, result, source, sql, counted, started, limit)
                    else:
                        count_rest = None
                    return self._fetch_columnar(source, columns, types, max_rows, columnar, count_rest)
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
                        if count:
                            total = self._count_rest(conn, result, source, sql, total, started, limit)
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
                        keep: int, count_rest: Callable[[int], int] | None) -> Result:
        """Rows read in batches into column arrays; the first ``keep`` kept as tuples (see :meth:`execute`).
        ``count_rest`` (when counting) counts the rows past the cap, given how many were read."""
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
        if truncated and count_rest is not None:  # the rows past the cap are counted, not kept
            total = count_rest(total)
        data = tuple(_concatenate(p) for p in parts)
        return Result(columns, head, truncated, total if (count_rest is not None or not truncated) else None,
                      data, types)

    def _count_rest(self, conn: sa.Connection, result, source, sql: str, counted: int, started: float,
                    limit: float | None) -> int:
        """How many rows the running statement ``sql`` returns in all, ``counted`` of them read so far
        (the cap and one more).

        Reading a row past the cap costs the driver a Python row, which on a wide join costs many
        times what the engine spends making it; the engine counts rows without making them.  But
        counting in the engine runs the statement again, which costs as much as the first pass
        where the engine's work dominates (a sort, an aggregate, a nested loop).  So the rows are
        read on, in the same pass, for a quarter of the time the first ``max_rows`` took: a result
        just past the cap is counted there.  What is left is counted by the engine
        (``SELECT COUNT(*)`` over the statement, under the same deadline): at worst that doubles
        the statement's cost, and on a wide join of a million rows it is many times cheaper than
        reading on.  A statement that is not a query is read on to
        the end.  A count that comes out below the rows already read (a statement whose rows are
        random) is not believed: the rows read are the count then.
        """
        give_up = time.perf_counter() + (time.perf_counter() - started) * _READ_SHARE
        recount = _is_query(sql)
        while True:
            # a server-side cursor's FETCHes are statements of their own, each under the
            # engine's limit: the query's deadline is checked here too
            if self._guard.expired():
                raise QueryTimeoutError(f"the query ran longer than its {limit:g} s limit and was stopped")
            chunk = source.fetchmany(_COUNT_CHUNK)
            counted += len(chunk)
            if len(chunk) < _COUNT_CHUNK:  # a short batch is the last
                return counted
            if recount and time.perf_counter() > give_up:
                break
        result.close()  # its rows are no longer read; the engine counts them
        # on lines of their own, so a comment closing the statement cannot swallow the parenthesis
        statement = f"SELECT COUNT(*) FROM (\n{sql.rstrip().rstrip(';')}\n) AS qg_counted"
        if self.dialect.direct_cursor:
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                cursor.execute(statement)
                (engine_count,) = cursor.fetchone()
            finally:
                cursor.close()
        else:
            engine_count = conn.exec_driver_sql(statement).scalar()
        return max(int(engine_count), counted)

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




def _is_query(sql: str) -> bool:
    """Whether ``sql`` is a query that can stand as a subquery (it starts with SELECT or WITH)."""
    head = sql.lstrip()[:6].upper()
    return head.startswith("SELECT") or head.startswith("WITH")


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
