"""Intermediate results computed once per episode: plan nodes kept as temporary tables.

Without a cache, the statement of every step is the whole ``WITH`` chain of its lineage, so the
engine runs every earlier step again: a step costs more the deeper the plan and the larger the
data under it.  A :class:`ResultCache` belongs to one episode.  When it runs a new node it
decides, by cost, whether to *materialise* it: create a temporary table of the session holding
the node's rows (the dialect's ``materialise``: querygym's own ``CREATE TEMP TABLE ... AS`` around
the compiled ``SELECT``; nothing the agent writes ever becomes a statement) and read the step's
rows back from that table.  Later statements then read the table (``"T_k" AS (SELECT * FROM
qg_...)``) instead of computing ``T_k`` and everything under it again.

The choice (``policy="auto"``):

* a node whose statement would hold ``max_pending`` or more uncached nodes is kept, so no
  statement grows with the depth of the plan (the dialect's ``keep_after``: 4 where keeping
  writes a table, 2 on PostgreSQL, where it writes rows already fetched into later statements);
* a node that reads, through the nodes it would compute, at least ``source_rows`` rows of base
  tables or kept tables is kept: re-reading large inputs at every later step is what costs;
* a node whose computed inputs took ``slow_s`` seconds or more is kept;
* a node that took ``slow_s`` seconds or more when it ran, and returned at most ``source_rows``
  rows, is kept when it is read again (an exploration's question about it, or its rows:
  :meth:`ResultCache.keep_slow`); explorations read the kept tables (:meth:`ResultCache.reading`).

An engine whose sessions may not create tables (PostgreSQL: its reader role has no TEMPORARY
privilege, and every transaction is read-only) keeps a result worth keeping that has at most
``inline_rows`` rows by writing it into later statements as a typed ``VALUES`` list (the
dialect's ``inline_select``): no extra statement runs, nothing is written anywhere.

Small steps over small data are run as plain statements: writing a table costs more than
running them again (about 0.1 ms per step on SQLite).  ``policy="always"`` keeps every node (for
tests), ``"never"`` none.  A node whose column names repeat (ignoring case) is never kept, since
a table cannot hold them.  The tables vanish with the episode (:meth:`ResultCache.clear`) or with
the session; a session that was replaced (after a lost connection) leaves the cache empty.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass

from querygym.dialects.base import needed_nodes, nodes_read
from querygym.engine.backend import Backend, Result
from querygym.errors import ExecutionError, InvalidArgumentError, QueryGymError

POLICIES = ("auto", "always", "never")
_names = itertools.count()


@dataclass(frozen=True)
class Kept:
    """One node kept as a table: the node itself (ids are reused by nodes that failed), its table,
    the query that reads it as the node (the dialect's ``kept_select``), and its row count."""

    node: object
    table: str
    select: str
    rows: int


class ResultCache:
    """The nodes of one episode's plan kept as temporary tables of its backend's session."""

    def __init__(self, backend: Backend, *, policy: str = "auto", max_pending: int | None = None,
                 source_rows: int = 20_000, slow_s: float = 0.02):
        if policy not in POLICIES:
            raise InvalidArgumentError(f"unknown result cache policy {policy!r}; choose one of {', '.join(POLICIES)}")
        self.backend = backend
        dialect = backend.dialect
        self.policy = policy if (dialect.result_cache or dialect.inline_rows) else "never"
        self.max_pending = dialect.keep_after if max_pending is None else max_pending
        self.source_rows = source_rows
        self.slow_s = slow_s
        self._kept: dict[str, Kept] = {}
        #: seconds each node's statement took when it was run plainly, and the rows it returned
        self._seconds: dict[str, float] = {}
        self._rows: dict[str, int | None] = {}
        self._session = backend.session
        self._prefix = f"qg_{os.getpid()}_{next(_names)}_"

    def __len__(self) -> int:
        return len(self._valid())

    def tables(self, plan) -> dict[str, str]:
        """The kept nodes of ``plan`` that are still valid: node id -> the query that reads its table."""
        return {nid: k.select for nid, k in self._valid().items() if plan.get(nid) is k.node}

    def statement(self, plan, node) -> str:
        """The SQL that returns ``node``'s rows, reading the kept nodes' tables."""
        return self.backend.dialect.compile(plan, node, cached=self.tables(plan))

    def run(self, plan, node, *, max_rows: int | None, columnar: int | None = None, sql: str | None = None) -> Result:
        """Compute the new ``node`` (not yet in ``plan``) and return its rows (``total`` counted; fetched
        ``columnar`` when given, see :meth:`Backend.execute`), keeping it as a table when the policy
        says so.  ``sql`` is the node's own statement (``compile(plan, node, pretty=True)``) when the
        caller has it, run as it is while nothing is kept.  Errors are the backend's, and leave
        nothing behind."""
        kept = self.tables(plan)
        dialect = self.backend.dialect
        if sql is None or kept:  # pretty, as the episode shows it: the node's text is rendered once for both
            sql = dialect.compile(plan, node, pretty=True, cached=kept)
        keep = self._worth_keeping(plan, node, kept)
        if keep and dialect.result_cache:
            table = f"{self._prefix}{node.id}"
            rows = self.backend.materialise(table, sql)
            try:
                result = self._read(table, max_rows, rows, columnar)
                select = self.backend.dialect.kept_select(self.backend, table)
            except BaseException:
                self._drop(table)
                raise
            if select is None:  # the table cannot stand for the node: computed again when read
                self._drop(table)
            else:
                self._kept[node.id] = Kept(node, table, select, result.total)
            return result
        started = time.perf_counter()
        result = self.backend.execute(sql, max_rows=max_rows, count=True, columnar=columnar)
        self._seconds[node.id] = time.perf_counter() - started
        self._rows[node.id] = result.total
        if keep and not result.truncated and result.total is not None and result.total <= dialect.inline_rows:
            # an engine without temporary tables: a small result is written into later statements
            select = dialect.inline_select(result.columns, result.types, result.all_rows())
            if select is not None:
                self._kept[node.id] = Kept(node, "", select, result.total)
        return result

    def reading(self, plan, query) -> str:
        """The SQL of ``query`` (a sqlglot query that reads nodes of ``plan`` by id: an exploration's
        question about a table), reading the kept nodes' tables; a node it reads that took
        ``slow_s`` or more when it ran is kept first (see :meth:`keep_slow`)."""
        self.keep_slow(plan, nodes_read(plan, query))
        return self.backend.dialect.compile_reading(plan, query, cached=self.tables(plan))

    def keep_slow(self, plan, nodes) -> None:
        """Keep each of ``nodes`` (nodes of ``plan`` about to be read again) whose statement took
        ``slow_s`` or more when it ran and returned at most ``source_rows`` rows: reading it again
        would compute it again, and an agent that asks about a table usually goes on to use it.
        Keeping costs about one more computation, and writing the rows: a larger result is not
        written (its time went into its many rows, which a question reads only the first of).  A
        keeping that fails (the time limit, say) leaves nothing behind and the node is computed
        as before."""
        if self.policy == "never" or not self.backend.dialect.result_cache:
            return
        for node in nodes:
            rows = self._rows.get(node.id)
            if (node.id in self._valid() or self._seconds.get(node.id, 0.0) < self.slow_s or rows is None
                    or rows > self.source_rows or not _keepable(node)):
                continue
            self._seconds.pop(node.id)  # tried once, kept or not
            table = f"{self._prefix}{node.id}"
            try:
                rows = self.backend.materialise(table, self.statement(plan, node))
                select = self.backend.dialect.kept_select(self.backend, table)
                if select is None:
                    self._drop(table)
                    continue
                if rows is None:
                    rows = int(self.backend.scalar(f'SELECT COUNT(*) FROM "{table}"'))
            except QueryGymError:
                self._drop(table)
                continue
            self._kept[node.id] = Kept(node, table, select, rows)

    def read(self, plan, node, *, max_rows: int | None, count: bool = False) -> Result:
        """The rows of ``node`` (already in ``plan``), from its table when it is kept (or kept now,
        when it proved slow: :meth:`keep_slow`)."""
        self.keep_slow(plan, [node])
        kept = self._valid().get(node.id)
        if kept is not None and kept.node is node and kept.table:
            return self._read(kept.table, max_rows, kept.rows if count else None)
        return self.backend.execute(self.statement(plan, node), max_rows=max_rows, count=count)

    def clear(self) -> None:
        """Drop every kept table (the end of the episode)."""
        kept, self._kept = self._kept, {}
        self._seconds.clear()
        self._rows.clear()
        if self.backend.session == self._session:
            for k in kept.values():
                if k.table:  # rows written as VALUES leave no table behind
                    self._drop(k.table)

    # ------------------------------------------------------------------ internals
    def _valid(self) -> dict[str, Kept]:
        if self.backend.session != self._session:  # the session, and its tables, are gone
            self._kept.clear()
            self._session = self.backend.session
        return self._kept

    def _read(self, table: str, max_rows: int | None, rows: int | None, columnar: int | None = None) -> Result:
        """The rows of a kept table.  Its size is known first (from the engine, or counted in the
        engine), so a table past ``max_rows``, which no comparison reads, is not fetched: only the rows
        shown (``columnar``) come back, marked truncated."""
        quoted = '"' + table + '"'
        if rows is None:
            rows = int(self.backend.scalar(f"SELECT COUNT(*) FROM {quoted}"))
        if max_rows is not None and rows > max_rows:
            shown = max_rows if columnar is None else min(columnar, max_rows)
            head = self.backend.execute(f"SELECT * FROM {quoted}", max_rows=shown)
            return Result(head.columns, head.rows, True, rows, types=head.types)
        result = self.backend.execute(f"SELECT * FROM {quoted}", max_rows=max_rows, columnar=columnar)
        return Result(result.columns, result.rows, result.truncated, rows, result.data, result.types)

    def _drop(self, table: str) -> None:
        try:
            self.backend.drop(table)
        except QueryGymError:  # the session went away meanwhile (the table with it), or the engine did
            return

    def _worth_keeping(self, plan, node, kept: dict[str, str]) -> bool:
        if self.policy == "never" or not _keepable(node):
            return False
        if self.policy == "always":
            return True
        # with nothing kept, what a statement computes is the node's lineage (found once per node)
        needed = needed_nodes(plan, node, kept) if kept else plan.lineage(node)
        computed = [n for n in needed if n.id not in kept]
        if len(computed) + 1 >= self.max_pending:
            return True
        if any(self._seconds.get(n.id, 0.0) >= self.slow_s for n in computed):
            return True
        source = sum(self._kept[n.id].rows for n in needed if n.id in kept)
        for n in [node, *computed]:
            for name in n.inputs:
                if plan.get(name) is None:
                    try:
                        source += self.backend.table_rows(name)
                    except ExecutionError:  # not a table the engine can count: nothing to weigh
                        pass
        return source >= self.source_rows


def _keepable(node) -> bool:
    """Whether a table can hold ``node``'s rows: its column names are all there and distinct, ignoring case."""
    names = [name.casefold() for name in node.column_names]
    return len(set(names)) == len(names) and all(names)
