"""Sandbox copies of PostgreSQL databases, so an episode's setup SQL never changes a shared database.

BIRD-Critic instances come with ``preprocess_sql`` (run before the solution or the agent's SQL:
creating helper tables, adding columns, inserting rows) and ``clean_up_sql`` (run afterwards to undo
it).  Running them on the shared database would let one episode see another's changes, so every
episode of such a task gets a database of its own:

1. once per database, a template ``qg_tpl_<db_id>`` is made from ``<db_id>`` (``CREATE DATABASE …
   TEMPLATE``); nothing else ever connects to it, so copies can be taken at any time;
2. :func:`open_sandbox` creates ``qg_sb_<random>_<db_id>`` from the template, runs
   ``preprocess_sql`` in it and returns a :class:`Sandbox` whose ``task`` is a copy of the task
   pointing at the copy (its target is computed there, after the setup);
3. :meth:`Sandbox.close` runs ``clean_up_sql`` there (errors are kept in ``cleanup_error``, not
   raised: the copy is thrown away anyway) and drops the copy.

A task without setup SQL (every SQLite task, most BIRD-Critic ones) gets a no-op sandbox whose
``task`` is the task itself, so the environment can call the hook unconditionally::

    sandbox = open_sandbox(task)          # env.reset, before opening the backend on task.db
    task = sandbox.task                   # play this one: its db is the copy
    ...
    sandbox.close()                       # next env.reset and env.close, after closing that backend

This module also creates the BIRD-Critic databases from ``dev_schema.json`` (tables and sample rows)
on a server that lacks them.  It needs ``psycopg`` (``pip install 'querygym-ra[postgres]'``).

>>> from querygym.converters.builtin import builtin_tasks
>>> task = builtin_tasks().tasks[0]
>>> with open_sandbox(task) as sandbox:
...     sandbox.task is task
True
"""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Iterable

from querygym.engine.samples import NEXTVAL, create_statements, sample_value
from querygym.errors import DatasetError, QueryGymError, SandboxError, TaskError
from querygym.util import first_line, quote_identifier, sql_segments

if TYPE_CHECKING:
    from querygym.converters.tasks import Task


def _ident(name: str) -> str:
    return quote_identifier(name, "postgres", always=True)


TEMPLATE_PREFIX = "qg_tpl_"
SANDBOX_PREFIX = "qg_sb_"
_lock = threading.Lock()


_TEMP_TABLE = re.compile(r"\bCREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?TEMP(?:ORARY)?\s+(TABLE|VIEW|SEQUENCE)\b", re.IGNORECASE)


def persistent(statement: str) -> str:
    """``statement`` with ``CREATE TEMP TABLE`` (or VIEW, SEQUENCE) made a plain ``CREATE TABLE``.

    BIRD-Critic's harness runs the setup and the SQL under test on one connection, so temporary
    objects made by the setup are still there; an episode uses several connections, so in the
    sandbox (a private copy) they are made ordinary objects instead.  String literals, quoted
    names and comments are left alone.

    >>> persistent("create temp table t (x text default 'create temp table');")
    "CREATE TABLE t (x text default 'create temp table');"
    """

    return "".join(_TEMP_TABLE.sub(lambda m: "CREATE " + m.group(1).upper(), text) if code else text
                   for code, text in sql_segments(statement))


def setup_sql(task: Task) -> tuple[list[str], list[str]]:
    """A task's ``preprocess_sql`` and ``clean_up_sql`` statements (empty lists when it has none)."""
    meta = task.metadata or {}
    return list(meta.get("preprocess_sql") or []), list(meta.get("clean_up_sql") or [])


def needs_sandbox(task: Task) -> bool:
    """Whether an episode of ``task`` must run in a copy of its database."""
    pre, post = setup_sql(task)
    if not (pre or post) or task.db is None or task.dialect != "postgres":
        return False
    return not str(_url(task.db).database or "").startswith(SANDBOX_PREFIX)  # a copy is not copied again


# ---------------------------------------------------------------------- URLs and connections
def _url(url: str):
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        raise DatasetError(f"{url}: not a PostgreSQL URL (expected postgresql+psycopg://user@host:port/database)")
    return parsed.set(drivername="postgresql+psycopg")


def database_url(server_url: str, db_id: str) -> str:
    """The SQLAlchemy URL of database ``db_id`` on the server of ``server_url``.

    >>> database_url("postgresql://me@localhost:5432/postgres", "financial")
    'postgresql+psycopg://me@localhost:5432/financial'
    """
    return _url(server_url).set(database=db_id).render_as_string(hide_password=False)


def _connect(url: str, database: str | None = None, *, autocommit: bool = True):
    try:
        import psycopg
    except ImportError:
        raise QueryGymError("PostgreSQL databases need psycopg: pip install 'querygym-ra[postgres]'") from None
    parsed = _url(url)
    kwargs: dict[str, Any] = {k: v for k, v in parsed.query.items() if isinstance(v, str)}
    for key, value in (("host", parsed.host), ("port", parsed.port), ("user", parsed.username),
                       ("password", parsed.password)):
        if value is not None:
            kwargs[key] = value
    kwargs["dbname"] = database or parsed.database or "postgres"
    try:
        return psycopg.connect(autocommit=autocommit, **kwargs)
    except psycopg.Error as exc:
        raise SandboxError(f"cannot connect to PostgreSQL database {kwargs['dbname']!r} at "
                           f"{parsed.host or 'localhost'}:{parsed.port or 5432}: {first_line(exc)}") from None






def _exists(admin, database: str) -> bool:
    return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is not None


def _maintenance(url: str):
    """A connection to the server's ``postgres`` database (falling back to the URL's own)."""
    try:
        return _connect(url, "postgres")
    except SandboxError:
        return _connect(url)


# ---------------------------------------------------------------------- sample databases
def install_sample_databases(samples: dict[str, list], server_url: str, db_ids: Iterable[str] | None = None) -> list[str]:
    """Create each database of ``samples`` (parsed ``dev_schema.json``) that the server lacks,
    with its tables and sample rows, and its sandbox template; returns the db_ids created.

    Databases that exist are left untouched (they may be the full BIRD-Critic databases).
    """

    created = []
    with _lock, _maintenance(server_url) as admin:
        for db_id in (db_ids if db_ids is not None else samples):
            if _exists(admin, db_id):
                continue
            tables = samples[db_id]
            building = f"{db_id}__building_{uuid.uuid4().hex[:8]}"[:63]
            admin.execute(f"CREATE DATABASE {_ident(building)}")
            try:
                with _connect(server_url, building, autocommit=False) as con:
                    for statement in create_statements(tables):
                        con.execute(statement)
                    for table in tables:
                        columns = [c for c in table.columns if any(c.name in row for row in table.rows)]
                        if not table.rows or not columns:
                            continue
                        marks = ", ".join(["%s"] * len(columns))
                        con.cursor().executemany(
                            f"INSERT INTO {_ident(table.name)} ({', '.join(_ident(c.name) for c in columns)}) "
                            f"VALUES ({marks})",
                            [[sample_value(row.get(c.name, ""), c) for c in columns] for row in table.rows])
                        _advance_sequences(con, table)
                    con.commit()
                # renamed into place only when complete, so a half-built database is never used
                admin.execute(f"ALTER DATABASE {_ident(building)} RENAME TO {_ident(db_id)}")
            except Exception as exc:
                admin.execute(f"DROP DATABASE IF EXISTS {_ident(building)}")
                raise SandboxError(f"cannot create the sample database {db_id!r}: {first_line(exc)}") from None
            created.append(db_id)
            _ensure_template(admin, db_id)
    return created


def _advance_sequences(con, table) -> None:

    for column in table.columns:
        if column.default and (m := NEXTVAL.search(column.default)):
            con.execute(f"SELECT setval(%s, COALESCE((SELECT MAX({_ident(column.name)}) FROM {_ident(table.name)}), 0) + 1, false)",
                        (_ident(m.group("seq")),))


def _ensure_template(admin, db_id: str, *, attempts: int = 20) -> str:
    template = f"{TEMPLATE_PREFIX}{db_id}"[:63]
    if _exists(admin, template):
        return template
    import psycopg

    for attempt in range(attempts):
        try:
            admin.execute(f"CREATE DATABASE {_ident(template)} TEMPLATE {_ident(db_id)}")
            return template
        except psycopg.errors.ObjectInUse:  # someone is connected to db_id: wait for them to leave
            time.sleep(0.1 * (attempt + 1))
        except psycopg.errors.DuplicateDatabase:
            return template
    raise SandboxError(f"cannot make the sandbox template of {db_id!r}: other sessions stay connected to it; "
                       f"close them or create {template} yourself (CREATE DATABASE {template} TEMPLATE {db_id})")


def drop_sandboxes(server_url: str, *, templates: bool = False) -> list[str]:
    """Drop sandbox databases left by crashed processes (and the templates, with ``templates``)."""
    prefixes = (SANDBOX_PREFIX, TEMPLATE_PREFIX) if templates else (SANDBOX_PREFIX,)
    dropped = []
    with _maintenance(server_url) as admin:
        for (name,) in admin.execute("SELECT datname FROM pg_database").fetchall():
            if name.startswith(prefixes):
                admin.execute(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")
                dropped.append(name)
    return dropped


# ---------------------------------------------------------------------- the episode hook
class Sandbox:
    """A task's database for one episode: a fresh copy with the setup SQL applied, or the task's
    own database when it has no setup SQL.  Use :func:`open_sandbox`."""

    def __init__(self, task: Task, episode_task: Task, database: str | None = None):
        self.original = task
        self.task = episode_task
        self.database = database
        self.cleanup_error: str | None = None
        self.closed = False

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Run the task's clean-up SQL in the copy and drop it (idempotent; a no-op without a copy)."""
        if self.closed:
            return
        self.closed = True
        if self.database is None:
            return
        _, clean_up = setup_sql(self.original)
        if clean_up:
            try:
                with _connect(self.task.db) as con:
                    con.execute("SET statement_timeout = 60000")
                    for statement in clean_up:
                        con.execute(statement)
            except Exception as exc:  # the copy is dropped anyway; keep the reason for the curious
                self.cleanup_error = first_line(exc)
        with _maintenance(self.original.db) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {_ident(self.database)} WITH (FORCE)")


def open_sandbox(task: Task, *, timeout_s: float = 60.0) -> Sandbox:
    """The hook the environment calls when an episode of ``task`` starts (see the module docs).

    Raises :class:`~querygym.errors.TaskError` naming the task when its setup SQL fails (the
    reason is also recorded in ``task.problem``) and :class:`SandboxError` when the server
    cannot make the copy.
    """
    if not needs_sandbox(task):
        return Sandbox(task, task)
    preprocess, _ = setup_sql(task)
    with _maintenance(task.db) as admin:
        with _lock:
            template = _ensure_template(admin, _url(task.db).database)
        name = f"{SANDBOX_PREFIX}{uuid.uuid4().hex[:10]}_{task.db_id}"[:63]  # unique even when cut at 63 bytes
        admin.execute(f"CREATE DATABASE {_ident(name)} TEMPLATE {_ident(template)}")
    url = database_url(task.db, name)
    try:
        with _connect(url) as con:
            con.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
            for statement in preprocess:
                con.execute(persistent(statement))
    except SandboxError:
        _drop(task.db, name)
        raise
    except Exception as exc:
        _drop(task.db, name)
        task.problem = f"preprocess_sql fails: {first_line(exc)}"
        raise TaskError(task.id, task.problem) from None
    episode = copy.copy(task)
    episode.db = url
    episode._target = None
    return Sandbox(task, episode, name)


def _drop(server_url: str, name: str) -> None:
    with _maintenance(server_url) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")
