"""PostgreSQL: sqlglot's ``postgres`` target, SQLAlchemy with psycopg 3, read-only sessions
with a ``statement_timeout`` for every query.  Install with ``pip install 'querygym-ra[postgres]'``.

Targets
-------
* a PostgreSQL URL (``postgresql://user@host/db``; add
  ``?options=-csearch_path%3Dmyschema`` to read one schema): opened as it is;
* a SQLite file (every benchmark's databases): copied once into a schema named after the file
  (:func:`querygym.dialects.source.load_database`), then opened on that schema.  The server that
  receives it is ``PostgresDialect.server_url`` if set, else the ``QUERYGYM_POSTGRES_URL``
  environment variable, else a private server querygym starts itself with ``pgserver`` (the
  server binaries ship in its wheel): in ``QUERYGYM_POSTGRES_DATA`` when that names a folder
  (kept, so later processes find the copies), else in a temporary folder deleted at exit.
  The private server listens on a Unix socket only; as root, pgserver runs it as a system user
  ``pgserver`` it creates, and opens read/execute permission on the folders leading to its
  data and binaries.

Read-only and time limits
-------------------------
Every session starts with ``default_transaction_read_only=on``, so every transaction is
read-only.  Statements go through the extended query protocol (a server-side cursor, or binary
results), which accepts one statement per call: ``SELECT 1; DROP ...`` is refused before
anything runs.  Rows are fetched from a server-side cursor as the backend asks for them, so a
row cap also caps the memory a huge result takes.  Databases copied into the private server are read as the role
``querygym_reader``, which may only SELECT the copied schemas (no temporary tables, no
functions that need privileges: ``pg_read_file``, ``lo_import``, ...); on a server of your own,
give a URL of a role that can only read.  Functions that change settings or reach outside the
query (``set_config``, ``pg_sleep``, ``dblink``, ``query_to_xml``, ...) are refused when the agent
writes them.  Before each query, ``statement_timeout`` is set to the backend's limit
(https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT):
the server cancels the query there, and the connection stays usable.

Semantics (agent fragments keep SQLite's meaning; what the dialect does about each difference)
------------------------------------------------------------------------------------------------
* integer division: ``7 / 2`` is 3 on both; division by zero is NULL in SQLite, an error in
  PostgreSQL: sqlglot renders ``a / NULLIF(b, 0)``.
* LIKE ignores ASCII case in SQLite, not in PostgreSQL: rendered as ILIKE.  On the copied
  ``COLLATE "C"`` columns ILIKE folds ASCII letters only, exactly as SQLite's LIKE; on a column
  of another collation it may fold more (``'É' ILIKE 'é'``).
* comparison and ordering of text: copied text columns use ``COLLATE "C"`` (byte order, case
  sensitive), which is SQLite's BINARY collation; ``=`` is case-sensitive on both.
* NULL ordering: NULLs sort first ascending in SQLite, last in PostgreSQL: sqlglot writes
  ``NULLS FIRST``/``NULLS LAST`` explicitly.
* booleans: a comparison used as a value (``SUM(x > 5)``, ``x > 5 AS flag``) is 0/1 in SQLite,
  boolean here: cast to INTEGER (``predicates_as_integers``).
* ``ROUND(x, n)`` exists for NUMERIC only: the value goes through NUMERIC.
* ``GROUP_CONCAT`` becomes ``STRING_AGG``, whose argument must be text: cast to TEXT.
* date functions: ``strftime('%Y', d)`` becomes ``TO_CHAR(CAST(d AS TIMESTAMP), 'YYYY')``; text
  that is not a timestamp fails here where SQLite returns NULL; ``julianday(t)`` becomes the
  epoch in days plus 2440587.5 (``julianday_from_epoch``).
* identifier case: names are always quoted with the database's own spelling, so Spider's
  mixed-case names resolve exactly; names longer than 63 bytes are truncated by PostgreSQL.
* GROUP BY is strict here: a column neither grouped nor aggregated is an error, where SQLite
  takes it from the row of the query's single min()/max(), else from some row of the group.
  ``bare_columns`` rewrites such a column as ``(ARRAY_AGG(col ORDER BY key ..., <input
  columns>))[1]`` or ``ANY_VALUE(col)`` (see ``Dialect.apply_bare_columns``).
* types are strict here: text is not compared with numbers.  ``numeric_affinity`` applies
  SQLite's affinity rules instead (``Dialect.apply_numeric_affinity``): a text column against
  a numeric column reads as a number (text that is no number as +Infinity, since SQLite sorts
  text after numbers); against a literal number it compares as text; SUM/AVG of text read its
  leading number.
* ties: the sort is not stable, so ``break_ties`` completes every ORDER BY with the input's
  columns; ties (and a LIMIT through them) then come out as SQLite's stable sort over its scan
  order usually leaves them.  Where SQLite's order came from a group key that the plan no
  longer carries, a LIMIT through a tie may still keep another row (the one documented
  residue on Spider dev: 4 of 972 questions).
* date modifiers: ``date(d, 'start of month', '-1 month')`` becomes truncation and intervals
  (``sqlite_date_functions``); month arithmetic from the 29th on clamps here, overflows there.
* results of AVG/SUM of integers are NUMERIC (compared as numbers).
* ``LIMIT`` inside one branch of a set operation needs parentheses, which SQLite's grammar does
  not have: plans never put it there (a limited table is its own CTE).
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import shutil
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from sqlglot import exp

from querygym.dialects.base import Dialect
from querygym.dialects.guard import QueryGuard
from querygym.dialects.source import (
    LOADER_VERSION,
    LoadedDatabase,
    fingerprint,
    read_sqlite,
    sqlite_path,
)
from querygym.dialects.source import quote_identifier as q
from querygym.dialects.transforms import (
    julianday_from_epoch,
    like_as_ilike,
    predicates_as_integers,
    round_through_numeric,
    sqlite_date_functions,
)
from querygym.errors import (
    EngineUnavailableError,
    InvalidArgumentError,
    QueryGymError,
    UndecodableText,
)
from querygym.schema import Column, DatabaseSchema, ForeignKey, TableSchema
from querygym.util import first_line

READER_ROLE = "querygym_reader"
META_SCHEMA = "querygym_meta"
_TIMEOUT_KEY = "querygym_statement_timeout_ms"
_LOAD_LOCK_KEY = 0x51_47_4C_44  # pg_advisory_xact_lock key serialising loads on one server
# (keys is json, not jsonb: jsonb would reorder the tables)

# Functions that change the session, sleep, reach other databases or files, or run SQL text.
_FORBIDDEN_FUNCTIONS = frozenset({
    "set_config", "pg_sleep", "pg_sleep_for", "pg_sleep_until", "pg_read_file", "pg_read_binary_file",
    "pg_ls_dir", "pg_stat_file", "pg_ls_logdir", "pg_ls_waldir", "pg_ls_tmpdir", "pg_ls_archive_statusdir",
    "lo_import", "lo_export", "lo_get", "lo_put", "lo_from_bytea", "lo_create", "lo_unlink", "lo_open",
    "dblink", "dblink_exec", "dblink_connect", "query_to_xml", "query_to_xml_and_xmlschema",
    "query_to_xmlschema", "cursor_to_xml", "cursor_to_xmlschema", "table_to_xml", "schema_to_xml",
    "database_to_xml", "table_to_xml_and_xmlschema", "schema_to_xml_and_xmlschema",
    "database_to_xml_and_xmlschema", "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf",
    "pg_rotate_logfile", "pg_advisory_lock", "pg_advisory_xact_lock", "pg_advisory_lock_shared",
    "pg_try_advisory_lock", "pg_notify", "pg_logical_emit_message", "nextval", "setval",
    "txid_current", "pg_current_xact_id",
})


def group_concat_as_text(expression: exp.Expression) -> exp.Expression:
    """PostgreSQL's STRING_AGG (sqlglot's rendering of GROUP_CONCAT) takes text only; SQLite's
    GROUP_CONCAT turns numbers into their text."""
    for node in list(expression.find_all(exp.GroupConcat)):
        arg = node.this
        target = arg.this if isinstance(arg, (exp.Distinct, exp.Order)) and not isinstance(arg, exp.Distinct) else arg
        if isinstance(arg, exp.Distinct):
            arg.set("expressions", [exp.Cast(this=e, to=exp.DataType.build("TEXT")) for e in arg.expressions])
        elif isinstance(target, exp.Expression):
            cast = exp.Cast(this=target.copy(), to=exp.DataType.build("TEXT"))
            if target is arg:
                node.set("this", cast)
            else:
                target.replace(cast)
    return expression


class PostgresDialect(Dialect):
    """PostgreSQL: a server URL is queried as it is; a SQLite file is copied into the server first."""
    name = "postgres"
    sqlglot_dialect = "postgres"
    forbidden_functions = _FORBIDDEN_FUNCTIONS
    transforms = (like_as_ilike, predicates_as_integers, round_through_numeric, group_concat_as_text,
                  julianday_from_epoch, sqlite_date_functions)
    numeric_affinity = True
    # stream_results: SQLAlchemy reads ahead from the server-side cursor, so rows come through it
    fetch_from_driver = False
    bare_columns = True
    affinity_type = "DOUBLE PRECISION"
    break_ties = True
    # no temporary tables (the reader role may not create them): small results worth keeping are
    # written into later statements as typed VALUES instead (see inline_select)
    inline_rows = 2_000
    # writing a small result into later statements costs no statement of its own (its rows are
    # already fetched), so results are kept sooner than a temporary table would pay for itself
    keep_after = 2
    #: the server SQLite databases are copied into (a PostgreSQL URL); None: the environment
    #: variable QUERYGYM_POSTGRES_URL, else the private server.
    server_url: str | None = None
    #: column types of copied tables, by kind (see querygym.dialects.source)
    load_types = {"integer": "BIGINT", "real": "DOUBLE PRECISION", "text": 'TEXT COLLATE "C"', "blob": "BYTEA"}

    _loaded: dict[tuple[str, str, str], Any] = {}
    _loaded_lock = threading.Lock()

    def inline_select(self, columns: tuple[str, ...], types: tuple | None, rows: list[tuple]) -> str | None:
        """``rows`` as ``SELECT CAST(column1 AS type) AS "name", ... FROM (VALUES ...)``, every value a
        quoted literal cast to the column's own type (exact: integers and numerics as written,
        floats by their shortest round-trip text, times with their offset); text columns are
        ``COLLATE "C"``, as the copied tables' text is.  None for a type not written exactly here
        (arrays, JSON, bytea, ...) or a result longer than a million characters."""
        import psycopg

        if types is None or len(types) != len(columns):
            return None
        names = []
        for oid in types:
            info = psycopg.postgres.types.get(oid) if isinstance(oid, int) else None
            if info is None or info.oid != oid or info.name not in _INLINE_TYPES:  # (get() also finds arrays)
                return None
            names.append(info.name)
        items = []
        for j, (column, name) in enumerate(zip(columns, names)):
            value = f"CAST(column{j + 1} AS {name})" if rows else f"CAST(NULL AS {name})"
            if name in ("text", "varchar"):
                value += ' COLLATE "C"'
            items.append(f"{value} AS {q(column)}")
        if not rows:
            return f"SELECT {', '.join(items)} WHERE FALSE"
        values, size = [], 0
        for row in rows:
            text = "(" + ", ".join(_inline_literal(v) for v in row) + ")"
            size += len(text)
            if size > 1_000_000:
                return None
            values.append(text)
        return f"SELECT {', '.join(items)} FROM (VALUES {', '.join(values)}) AS kept"

    def regexp_match(self, value: exp.Expression, pattern: str) -> exp.Expression:
        """The part of ``value`` matching ``pattern``, as ``SUBSTRING(value FROM pattern)``, or NULL."""
        # SUBSTRING(text FROM pattern): the match, or NULL (PostgreSQL has no REGEXP_EXTRACT)
        return exp.Substring(this=value, start=exp.Literal.string(pattern))

    # ------------------------------------------------------------------ connections
    def create_engine(self, target: str, guard: QueryGuard) -> sa.Engine:
        """An engine on ``target`` (a PostgreSQL URL, or a SQLite file loaded into the server) that streams
        rows from a server-side cursor and sets ``statement_timeout`` from ``guard``.
        """
        _require_driver()
        if _is_postgres_url(target):
            url = target
        else:
            url = self.load_database(target).target
        # no_parameters: a statement without parameters reaches psycopg as it is, so '%' in
        # LIKE patterns is not read as a placeholder.  stream_results: rows come through a
        # server-side cursor, FETCHed as the backend asks for them, so a row cap bounds the
        # memory a huge result takes (a client-side cursor would receive every row).
        engine = sa.create_engine(_sqlalchemy_url(url), **_session_options(url),
                                  execution_options={"no_parameters": True, "stream_results": True,
                                                     "max_row_buffer": 10_000})

        @sa.event.listens_for(engine, "before_cursor_execute")
        def _time_limit(conn, cursor, statement, parameters, context, executemany):
            # statement_timeout in ms (0: none), sent when it differs from the session's.
            ms = 0 if guard.timeout_s is None else max(1, int(guard.timeout_s * 1000))
            if conn.info.get(_TIMEOUT_KEY) != ms:
                conn.connection.dbapi_connection.execute(f"SET statement_timeout = {ms}")
                conn.info[_TIMEOUT_KEY] = ms

        @sa.event.listens_for(engine, "rollback")
        def _forget_time_limit(conn):
            conn.info.pop(_TIMEOUT_KEY, None)  # a SET inside a rolled-back transaction is undone

        return engine

    def interrupt(self, connection: sa.Connection) -> None:
        """Ask the server to cancel the query running on ``connection``."""
        connection.connection.dbapi_connection.cancel_safe()

    def is_timeout(self, error: BaseException) -> bool:
        """Whether ``error`` is a query cancelled by ``statement_timeout`` (SQLSTATE 57014)."""
        return getattr(error, "sqlstate", None) == "57014" or "statement timeout" in str(error)

    def introspect(self, engine: sa.Engine, db_id: str) -> DatabaseSchema:
        """Tables and column types from the server; for a copied SQLite database, the keys its
        SQLite schema declared (recorded by the loader), in the same table order."""
        with engine.connect() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
            recorded = None
            if conn.exec_driver_sql(
                    f"SELECT to_regclass('{META_SCHEMA}.databases') IS NOT NULL").scalar():
                recorded = conn.exec_driver_sql(
                    f"SELECT keys::text FROM {META_SCHEMA}.databases WHERE schema_name = "
                    f"{_literal(schema)}").scalar()
            if recorded is None:
                return super().introspect(engine, db_id)
            rows = conn.exec_driver_sql(
                "SELECT table_name, column_name, upper(data_type) FROM information_schema.columns "
                f"WHERE table_schema = {_literal(schema)} ORDER BY table_name, ordinal_position").fetchall()
        keys = json.loads(recorded)
        columns: dict[str, list[Column]] = {}
        for table, column, type_ in rows:
            columns.setdefault(table, []).append(Column(column, type_))
        tables = []
        for name, info in keys.items():
            if name not in columns:
                continue
            fks = tuple(ForeignKey(tuple(c), t, tuple(r)) for c, t, r in info["foreign_keys"])
            tables.append(TableSchema(name, tuple(columns[name]), tuple(info["primary_key"]), fks))
        return self.remember(DatabaseSchema(db_id, tuple(tables)))

    # ------------------------------------------------------------------ loading
    def load_database(self, source: str, *, url: str | None = None, schema: str | None = None,
                      replace: bool = False) -> Any:
        """Copy a SQLite file into a schema of a PostgreSQL server, once (see :mod:`querygym.dialects.source`).

        Returns a :class:`~querygym.dialects.source.LoadedDatabase` whose ``target`` opens the copy
        read-only (as ``querygym_reader`` on the private server).
        """

        _require_driver()
        path = sqlite_path(source)
        server = url or self.server_url or os.environ.get("QUERYGYM_POSTGRES_URL") or embedded_server().url
        schema = schema or path.stem
        if len(schema.encode()) > 63:
            raise InvalidArgumentError(f"PostgreSQL names hold at most 63 bytes; {schema!r} is longer: give a "
                                       f"shorter schema name")
        key = (server, str(path), schema)
        stamp = fingerprint(path)
        with self._loaded_lock:
            done = self._loaded.get(key)
            if done is not None and done[0] == stamp and not replace:
                return dataclasses.replace(done[1], loaded=False, seconds=0.0)
            import psycopg

            try:
                result = _load(path, server, schema, replace=replace)
            except psycopg.OperationalError as exc:  # refused, lost, shutting down
                raise EngineUnavailableError(f"the PostgreSQL server receiving {path.name} cannot be reached: "
                                             f"{first_line(exc)}") from None
            self._loaded[key] = (stamp, result)
            return result


# ---------------------------------------------------------------------- loading
def _load(path: Path, server: str, schema: str, *, replace: bool):
    import psycopg


    started = time.perf_counter()
    source = read_sqlite(path)
    with psycopg.connect(_libpq_url(server), autocommit=False) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOAD_LOCK_KEY])
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
        conn.execute(f"""CREATE TABLE IF NOT EXISTS {META_SCHEMA}.databases (
            schema_name text PRIMARY KEY, source text NOT NULL, fingerprint text NOT NULL,
            loader_version int NOT NULL, keys json NOT NULL, kinds json NOT NULL,
            tables int NOT NULL, rows bigint NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now())""")
        reader = _reader_exists(conn)
        row = conn.execute(f"SELECT fingerprint, tables, rows FROM {META_SCHEMA}.databases WHERE schema_name = %s",
                           [schema]).fetchone()
        target = _reader_url(server, schema, reader)
        columns = {t.name: {c.name: c.kind for c in t.columns} for t in source.tables}
        if row is not None and row[0] == source.fingerprint and not replace:
            conn.commit()
            return LoadedDatabase(str(path), "postgres", target, schema, False, row[1], row[2],
                                  time.perf_counter() - started, columns)
        conn.execute(f"DROP SCHEMA IF EXISTS {q(schema)} CASCADE")
        conn.execute(f"CREATE SCHEMA {q(schema)}")
        total = 0
        tables = []
        for table in source.tables:
            while True:
                try:
                    with conn.transaction():  # a savepoint: a failed table is redone, not the load
                        total += _copy_table(conn, source, schema, table)
                    break
                except UndecodableText as exc:
                    table = table.with_kind(exc.column, "blob", "text that is not UTF-8, kept as bytes")
            tables.append(table)
        kinds = json.dumps({t.name: {c.name: c.kind for c in t.columns} for t in tables})
        if reader:
            conn.execute(f"GRANT USAGE ON SCHEMA {q(schema)} TO {READER_ROLE}")
            conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {q(schema)} TO {READER_ROLE}")
            conn.execute(f"GRANT USAGE ON SCHEMA {META_SCHEMA} TO {READER_ROLE}")
            conn.execute(f"GRANT SELECT ON {META_SCHEMA}.databases TO {READER_ROLE}")
        conn.execute(
            f"INSERT INTO {META_SCHEMA}.databases (schema_name, source, fingerprint, loader_version, keys, kinds, "
            "tables, rows) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (schema_name) DO UPDATE SET "
            "source = EXCLUDED.source, fingerprint = EXCLUDED.fingerprint, loader_version = EXCLUDED.loader_version, "
            "keys = EXCLUDED.keys, kinds = EXCLUDED.kinds, tables = EXCLUDED.tables, rows = EXCLUDED.rows, "
            "loaded_at = now()",
            [schema, str(path), source.fingerprint, LOADER_VERSION, source.keys_json(), kinds, len(tables), total])
        conn.commit()
    columns = {t.name: {c.name: c.kind for c in t.columns} for t in tables}
    return LoadedDatabase(str(path), "postgres", target, schema, True, len(tables), total,
                          time.perf_counter() - started, columns)


def _copy_table(conn, source, schema: str, table) -> int:
    types = PostgresDialect.load_types
    columns = ", ".join(f"{q(c.name)} {types[c.kind]}" for c in table.columns)
    conn.execute(f"CREATE TABLE {q(schema)}.{q(table.name)} ({columns})")
    names = ", ".join(q(c.name) for c in table.columns)
    count = 0
    with conn.cursor() as cur:
        with cur.copy(f"COPY {q(schema)}.{q(table.name)} ({names}) FROM STDIN") as copy:
            for batch in source.batches(table):
                for row in batch:
                    copy.write_row(row)
                count += len(batch)
    return count


def _reader_exists(conn) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [READER_ROLE]).fetchone() is not None


# ---------------------------------------------------------------------- the private server
class EmbeddedServer:
    """A PostgreSQL server of querygym's own, started with pgserver, stopped at exit."""

    def __init__(self, data_dir: str | os.PathLike | None = None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            try:
                import pgserver
            except ImportError:
                raise QueryGymError("the private PostgreSQL server needs pgserver: pip install "
                                    "'querygym-ra[postgres]' (or give a server with QUERYGYM_POSTGRES_URL)") from None
        self.temporary = data_dir is None
        self.data_dir = Path(tempfile.mkdtemp(prefix="querygym-pg-")) if data_dir is None else Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            self._server = pgserver.get_server(self.data_dir, cleanup_mode="delete" if self.temporary else "stop")
        self.url = self._server.get_uri()
        self._prepare()

    def _prepare(self) -> None:
        import psycopg

        with psycopg.connect(_libpq_url(self.url), autocommit=True) as conn:
            conn.execute(f"DO $$ BEGIN CREATE ROLE {READER_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; "
                         "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
            conn.execute(f"ALTER ROLE {READER_ROLE} SET default_transaction_read_only = on")
            dbname = conn.execute("SELECT current_database()").fetchone()[0]
            conn.execute(f'REVOKE TEMPORARY ON DATABASE "{dbname}" FROM PUBLIC')
            conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")

    def stop(self) -> None:
        """Stop the server, and delete its data folder when it was a temporary one."""
        self._server.cleanup()
        if self.temporary:
            shutil.rmtree(self.data_dir, ignore_errors=True)


_embedded: EmbeddedServer | None = None
_embedded_lock = threading.Lock()


def embedded_server() -> EmbeddedServer:
    """The process's private PostgreSQL server, started on first use (in ``QUERYGYM_POSTGRES_DATA``
    when set, else in a temporary folder)."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            _embedded = EmbeddedServer(os.environ.get("QUERYGYM_POSTGRES_DATA") or None)
            atexit.register(stop_embedded_server)
        return _embedded


def stop_embedded_server() -> None:
    """Stop the private server if this process started one (it starts again on next use)."""
    global _embedded
    with _embedded_lock:
        if _embedded is not None:
            server, _embedded = _embedded, None
            PostgresDialect._loaded.clear()
            server.stop()


# ---------------------------------------------------------------------- URLs and sessions
def _is_postgres_url(target: str) -> bool:
    return str(target).split("://", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def _libpq_url(url: str) -> str:
    """The URL as libpq reads it (no SQLAlchemy driver suffix)."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest


def _sqlalchemy_url(url: str) -> str:
    """SQLAlchemy's spelling, always with psycopg 3; libpq's ``options`` is passed separately."""
    parts = urlsplit(_libpq_url(url))
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, urlencode(query), ""))


def _session_options(url: str) -> dict[str, Any]:
    # libpq's options (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-OPTIONS):
    # the URL's own, then ours, so read-only cannot be turned off from the URL.
    given = dict(parse_qsl(urlsplit(_libpq_url(url)).query)).get("options", "")
    ours = "-c default_transaction_read_only=on -c statement_timeout=0"
    return {"connect_args": {"options": f"{given} {ours}".strip(), "cursor_factory": _single_statement_cursor()}}


def _reader_url(server: str, schema: str, reader: bool) -> str:
    """The URL that opens ``schema`` of ``server``: as the reader role when it exists there."""
    parts = urlsplit(_libpq_url(server))
    netloc = parts.netloc
    if reader:
        host = netloc.rsplit("@", 1)[-1]
        netloc = f"{READER_ROLE}@{host}"
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-c search_path={_options_value(q(schema))}"))
    return urlunsplit(("postgresql", netloc, parts.path, urlencode(query, quote_via=quote), ""))




def _options_value(value: str) -> str:
    # libpq splits options on spaces; a backslash escapes the next character.
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


# Types whose values psycopg returns as Python values that read back exactly from their text.
_INLINE_TYPES = frozenset({"int2", "int4", "int8", "float4", "float8", "numeric", "text", "varchar", "bool",
                           "date", "timestamp", "timestamptz", "time"})


def _inline_literal(value: Any) -> str:
    """A value as a quoted literal (NULL for None) that its column's CAST reads back exactly."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = "NaN" if value != value else "Infinity" if value == float("inf") else (
            "-Infinity" if value == float("-inf") else repr(value))
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text.replace("'", "''") + "'"


def _require_driver() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise QueryGymError("the postgres dialect needs psycopg 3: pip install 'querygym-ra[postgres]'") from None


_CURSOR_CLASS = None


def _single_statement_cursor():
    """A psycopg cursor that asks for binary results, which makes psycopg use the extended
    query protocol: one statement per call, as in SQLite."""
    global _CURSOR_CLASS
    if _CURSOR_CLASS is None:
        import psycopg
        from psycopg.pq import Format

        class SingleStatementCursor(psycopg.Cursor):
            def __init__(self, *args: Any, **kwargs: Any):
                super().__init__(*args, **kwargs)
                self.format = Format.BINARY

        _CURSOR_CLASS = SingleStatementCursor
    return _CURSOR_CLASS
