"""The dialect base class and its registry."""

from __future__ import annotations

import difflib
import time
import warnings
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlglot import exp

from querygym.errors import UnknownDialectError
from querygym.schema import Column, DatabaseSchema, ForeignKey, TableSchema

ENTRY_POINT_GROUP = "querygym.dialects"
_REGISTRY: dict[str, type["Dialect"]] = {}


class QueryGuard:
    """Per-connection state the engine hooks read: the deadline of the running query."""

    def __init__(self) -> None:
        self.deadline: float | None = None

    def start(self, timeout_s: float | None) -> None:
        self.deadline = None if timeout_s is None else time.monotonic() + timeout_s

    def stop(self) -> None:
        self.deadline = None

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline


class Dialect:
    """Compiles plan nodes to one engine's SQL and opens guarded connections to it.

    A subclass sets ``name`` and ``sqlglot_dialect`` and overrides the connection hooks;
    setting ``name`` registers it.  Engine quirks are class attributes, never ``if`` tests on
    the dialect's name elsewhere.
    """

    name: ClassVar[str] = ""
    #: sqlglot's name for the engine: agent expressions are read and SQL is written in it.
    sqlglot_dialect: ClassVar[str] = ""
    #: functions the agent may never call on this engine (lower-case names).
    forbidden_functions: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            _REGISTRY[cls.name] = cls

    # ------------------------------------------------------------------ SQL
    def render(self, expression: exp.Expression, *, pretty: bool = False) -> str:
        return expression.sql(dialect=self.sqlglot_dialect, identify=True, pretty=pretty)

    def compile_query(self, plan, query: exp.Query, through: tuple = ()) -> exp.Query:
        """``query`` with a WITH clause for every plan node it depends on.

        ``through`` lists nodes (possibly not yet in the plan) whose lineage must be included.
        """
        needed: dict[str, Any] = {}
        for node in through:
            for dep in plan.lineage(node):
                needed[dep.id] = dep
        for table in query.find_all(exp.Table):
            dep = plan.get(table.name) if not table.args.get("db") else None
            if dep is not None and dep.id not in needed:
                for d in plan.lineage(dep):
                    needed[d.id] = d
                needed[dep.id] = dep
        if not needed:
            return query
        ctes = [
            exp.CTE(this=n.expression.copy(), alias=exp.TableAlias(this=exp.to_identifier(n.id, quoted=True)))
            for n in sorted(needed.values(), key=lambda n: n.index)
        ]
        query = query.copy()
        query.set("with_", exp.With(expressions=ctes))
        return query

    def compile_node(self, plan, node) -> exp.Query:
        """The statement that returns ``node``'s rows: ``WITH T_0 AS (...), ... SELECT ... FROM T_n``.

        A node whose body ends in an ORDER BY becomes the main query itself, so its order is
        guaranteed by the statement rather than left to how the engine scans a CTE.
        """
        if node.ordered:
            return self.compile_query(plan, node.expression, through=(node,))
        lineage = plan.lineage(node) + [node]
        ctes = [
            exp.CTE(this=n.expression.copy(), alias=exp.TableAlias(this=exp.to_identifier(n.id, quoted=True)))
            for n in lineage
        ]
        main = exp.select(exp.Star()).from_(exp.to_identifier(node.id, quoted=True))
        main.set("with_", exp.With(expressions=ctes))
        return main

    def compile(self, plan, node, *, pretty: bool = False) -> str:
        return self.render(self.compile_node(plan, node), pretty=pretty)

    # ------------------------------------------------------------------ connections
    def create_engine(self, target: str, guard: QueryGuard) -> sa.Engine:
        """A SQLAlchemy engine whose connections are read-only and honour ``guard``'s deadline."""
        raise NotImplementedError(f"dialect {self.name!r} does not define create_engine")

    def interrupt(self, connection: sa.Connection) -> None:
        """Stop the query running on ``connection`` (called from another thread); optional."""

    def is_timeout(self, error: BaseException) -> bool:
        """Whether a driver error means the query was stopped at its time limit."""
        return False

    def introspect(self, engine: sa.Engine, db_id: str) -> DatabaseSchema:
        """The database's tables, columns, keys, read through SQLAlchemy's inspector."""
        insp = sa.inspect(engine)
        tables = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown column types are reported as text below
            for tname in insp.get_table_names():
                cols = tuple(Column(c["name"], _type_name(c["type"])) for c in insp.get_columns(tname))
                pk = tuple(insp.get_pk_constraint(tname).get("constrained_columns") or ())
                fks = tuple(
                    ForeignKey(tuple(fk["constrained_columns"]), fk["referred_table"],
                               tuple(fk["referred_columns"]))
                    for fk in insp.get_foreign_keys(tname)
                )
                tables.append(TableSchema(tname, cols, pk, fks))
        return DatabaseSchema(db_id, tuple(tables))


def _type_name(sa_type: Any) -> str:
    try:
        text = str(sa_type)
    except Exception:  # NullType and unknown declared types cannot always be printed
        return ""
    return "" if text == "NULL" else text


def get(name: str) -> type[Dialect]:
    """The dialect class registered under ``name``."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            cls = ep.load()
            _REGISTRY.setdefault(name, cls)
            return _REGISTRY[name]
    # Running from a source tree that was never installed: the built-ins still work.
    if name in _BUILTIN_MODULES:
        import_module(_BUILTIN_MODULES[name])
        return _REGISTRY[name]
    names = available()
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownDialectError(f"Unknown dialect {name!r}.{hint} Available: {', '.join(names)}.")


def available() -> list[str]:
    """Names of every dialect that can be loaded."""
    names = set(_REGISTRY) | set(_BUILTIN_MODULES)
    names |= {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names)


_BUILTIN_MODULES = {"sqlite": "querygym.dialects.sqlite"}
