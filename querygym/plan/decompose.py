"""SQL to steps: break a SELECT into the catalog's relational-algebra actions.

``decompose(sql, schema_or_task)`` returns the actions (the paper's syntax, no exploration)
whose replay in the environment produces the query's result as the newest intermediate
table.  It serves error remediation (a user's SQL becomes the first steps of an episode,
replayed up to the step that fails) and imitation learning (every gold query becomes an
expert trajectory).

How a query block becomes steps, in SQL's logical order:

1. ``FROM`` with joins: one ``perform_join`` over all its tables (``USING`` and ``NATURAL``
   become ``ON`` conditions); a single table needs no step.  When the ``FROM`` has no outer
   join, each top-level ``AND``-ed ``WHERE`` equality between columns of two different ``FROM``
   items (``FROM a, b WHERE a.x = b.y``, the comma joins of GeoQuery, ATIS and hand-written
   SQL) becomes a condition of the inner join that brings in the later of its two tables, and
   the tables are joined in an order where each links to one joined before it — the written
   order whenever it allows, keeping the written column order — so no step materialises a
   cross product the query does not ask for.  A ``CROSS JOIN`` remains only for a table that
   no equality links; ``OR``-ed conditions, equalities with constants or within one table,
   correlated conditions and every condition of a ``FROM`` with an outer join stay in the filter.
   Subqueries in ``FROM`` and ``WITH`` clauses are decomposed first and named by their alias
   (``"T_2 AS s"``), so the query's own column references keep working.
2. ``WHERE`` (what step 1 left of it): ``perform_filter``.  An uncorrelated subquery in a
   condition is decomposed into its own steps first and the condition reads its table
   (``x IN (SELECT c FROM T_1)``), so the agent sees it; a correlated one stays inside the
   condition.
3. ``GROUP BY``/aggregates/``HAVING``: one ``perform_aggregate`` with the select list (plus any
   aggregate the ordering needs, dropped again by the ordering step).
4. The select list: folded into the filter, ordering or aggregate step when there is one,
   else ``perform_projection``.
5. ``ORDER BY``: ``perform_order_by``; ``LIMIT``/``OFFSET``: ``perform_limit``.
6. ``UNION [ALL]`` and ``INTERSECT``: their operations over the decomposed sides.  ``EXCEPT``
   has no operation of its own (the catalog stays at eight): ``A EXCEPT B`` becomes
   ``perform_filter`` of A with ``NOT EXISTS`` a null-safe equal row in B, then a
   ``DISTINCT`` projection — exactly EXCEPT's set semantics.

Every step is validated by building it as the environment would, so a decomposition that
succeeds replays; what cannot be expressed (recursive CTEs, ``VALUES``, table functions,
``INTERSECT ALL``/``EXCEPT ALL``, a ``DISTINCT`` ordering by a column it drops) fails with
the construct and the reason, never a silently wrong plan.  The result is deterministic.

>>> from querygym.converters.builtin import builtin_tasks
>>> d = decompose("SELECT region_code FROM regions WHERE country = 'Spain'", builtin_tasks()[0])
>>> d.ok, d.actions
(True, ['["perform_filter", "regions", "country = \\'Spain\\'", "region_code"]'])
>>> decompose("SELECT c.name FROM customers c, regions r WHERE c.region_id = r.region_id "
...           "AND r.country = 'Spain'", builtin_tasks()[0]).actions[0]
'["perform_join", ["customers AS c", "regions AS r"], ["c.region_id = r.region_id"], ["INNER JOIN"]]'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from querygym.actions.catalog import catalog
from querygym.dialects import get as get_dialect
from querygym.errors import DecompositionError, PlanError
from querygym.plan.graph import PlanGraph, PlanNode
from querygym.plan.ops import OPERATIONS, Context, parse_guarded
from querygym.schema import DatabaseSchema
from querygym.util import did_you_mean, sqlglot_dialect
from querygym.util import identifier as _ident
from querygym.util import quote_identifier as _quote


@dataclass
class Decomposition:
    """The steps of one query, or why there are none."""

    sql: str
    actions: list[str] = field(default_factory=list)
    error: str | None = None
    construct: str | None = None
    #: the step that would have come next when a step does not validate (an agent's SQL mistake)
    failed_action: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the whole query became steps."""
        return self.error is None

    def __bool__(self) -> bool:
        return self.ok


def decompose(sql: str, schema_or_task: Any, dialect: str = "sqlite", *, plan: PlanGraph | None = None) -> Decomposition:
    """The catalog actions whose replay produces ``sql``'s result as the newest table.

    ``schema_or_task`` is a :class:`~querygym.schema.DatabaseSchema` or a task (its database's
    schema, or the schema from its tables file when the database is absent).  ``plan`` is the
    plan the steps will be replayed on, when it already has tables: the steps' ids continue
    after them, and the SQL may read them (``FROM T_2``).
    """
    schema = schema_of(schema_or_task)
    d = get_dialect(dialect)()
    try:
        statements = [s for s in parse_guarded(sql, d.sqlglot_dialect, "SQL", sql) if s is not None]
    except (ParseError, TokenError) as exc:
        return Decomposition(sql, error=f"the SQL does not parse: {str(exc).splitlines()[0]}", construct="syntax")
    except PlanError as exc:  # nested deeper than the limits
        return Decomposition(sql, error=str(exc), construct="nesting")
    if len(statements) != 1:
        return Decomposition(sql, error=f"expected one statement, got {len(statements)}", construct="statements")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        kind = tree.key.upper() if isinstance(tree, (exp.DML, exp.DDL, exp.Command)) else "not a query"
        return Decomposition(sql, error=f"only SELECT queries can be decomposed; this is {kind} "
                             f"({sql.strip()[:40]!r})", construct=kind)
    builder = _Builder(schema, d, plan)
    try:
        builder.query(tree)
    except DecompositionError as exc:
        return Decomposition(sql, builder.actions, error=str(exc), construct=exc.construct)
    except PlanError as exc:
        return Decomposition(sql, builder.actions, error=f"a step does not validate: {exc}", construct="step",
                             failed_action=builder.failed_action)
    return Decomposition(sql, builder.actions)


def schema_of(schema_or_task: Any) -> DatabaseSchema:
    """A schema as given, or a task's (:meth:`~querygym.converters.tasks.Task.database_schema`)."""
    if isinstance(schema_or_task, DatabaseSchema):
        return schema_or_task
    database_schema = getattr(schema_or_task, "database_schema", None)
    if database_schema is None:
        raise DecompositionError("schema", f"expected a DatabaseSchema or a task, got {type(schema_or_task).__name__}")
    return database_schema()


# ---------------------------------------------------------------------- scopes
@dataclass
class _Scope:
    """How the query's own names reach the table the next step reads.

    ``ref`` names that table in an action.  An identity scope reads an original source
    (``"singer AS T1"``), so expressions need no rewriting; otherwise ``cols`` maps
    ``(qualifier or None, column)`` of the original query (lower-cased) to the output
    column of the node, and ``exprs`` maps an original expression's SQL to its output column.
    """

    ref: str
    identity: bool
    qualifier: str = ""
    node: PlanNode | None = None
    cols: dict[tuple[str | None, str], str] = field(default_factory=dict)
    exprs: dict[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()  # original qualifiers (lower-case) this scope covers


_SQLITE = sqlglot_dialect("sqlite")  # sqlglot makes a new dialect object each time it is given a name


def _key(sql_expr: exp.Expression) -> str:
    return sql_expr.sql(dialect=_SQLITE, normalize=True).lower()


class _Builder:
    def __init__(self, schema: DatabaseSchema, dialect, plan: PlanGraph | None = None):
        self.schema = schema
        self.dialect = dialect
        self.plan = plan.copy() if plan is not None else PlanGraph()
        self.actions: list[str] = []
        self.ctes: dict[str, str] = {}  # WITH name (lower) -> node id
        self.catalog = catalog()
        self.failed_action: str | None = None

    # ------------------------------------------------------------------ emitting steps
    def emit(self, name: str, *args: Any) -> PlanNode:
        while args and args[-1] is None:
            args = args[:-1]
        text = json.dumps([name, *args], ensure_ascii=False)
        action = self.catalog.parse(text)
        try:
            node = OPERATIONS[name]().build(action, Context(self.plan, self.schema, self.dialect))
        except PlanError:
            self.failed_action = text
            raise
        self.plan.add(node)
        self.actions.append(text)
        return node

    def sql(self, expression: exp.Expression) -> str:
        # Steps are written the way agents write them: in the dialect's input syntax.
        read = getattr(self.dialect, "input_dialect", self.dialect.sqlglot_dialect)
        return expression.sql(dialect=sqlglot_dialect(read))

    def snapshot(self):
        return self.plan.copy(), list(self.actions), dict(self.ctes)

    def restore(self, snap) -> None:
        self.plan, self.actions, self.ctes = snap

    # ------------------------------------------------------------------ queries
    def query(self, q: exp.Expression) -> _Scope:
        if isinstance(q, exp.Subquery):
            return self.query(q.this)
        with_ = q.args.get("with_")
        if with_ is not None:
            if with_.args.get("recursive"):
                raise DecompositionError("WITH RECURSIVE", "a recursive query has no fixed number of steps; the "
                                         "plan graph is acyclic")
            for cte in with_.expressions:
                scope = self.query(cte.this)
                self.ctes[cte.alias_or_name.lower()] = scope.node.id if scope.node else self._materialise(scope).id
            q = q.copy()
            q.set("with_", None)
        if isinstance(q, exp.Union):
            return self.set_operation(q, "union")
        if isinstance(q, exp.Intersect):
            return self.set_operation(q, "intersect")
        if isinstance(q, exp.Except):
            return self.set_operation(q, "except")
        if isinstance(q, exp.Select):
            return self.select(q)
        raise DecompositionError(q.key.upper(), "only SELECT, UNION, INTERSECT and EXCEPT can be decomposed")

    def _materialise(self, scope: _Scope) -> PlanNode:
        """A node for a scope that is still an original table (a bare ``SELECT * FROM t``)."""
        return self.emit("perform_projection", scope.ref, "*")

    # ------------------------------------------------------------------ one SELECT block
    def select(self, sel: exp.Select) -> _Scope:
        for unsupported in ("into", "windows", "prewhere", "qualify", "connect", "sample", "kind"):
            if sel.args.get(unsupported):
                raise DecompositionError(unsupported.upper(), "this clause has no relational-algebra operation here")
        where = sel.args.get("where")
        scope, where = self.from_clause(sel, where.this if where is not None else None)
        group = sel.args.get("group")
        having = sel.args.get("having")
        order = sel.args.get("order")
        limit, offset = sel.args.get("limit"), sel.args.get("offset")
        distinct = sel.args.get("distinct")
        if distinct is not None and distinct.args.get("on"):
            raise DecompositionError("DISTINCT ON", "use GROUP BY; DISTINCT ON is not an operation")
        items = list(sel.expressions)
        is_star = len(items) == 1 and isinstance(items[0], exp.Star)
        aggregating = bool(group) or bool(having) or any(_has_aggregate(i) for i in items)

        if where is not None:
            condition = self.condition(where, scope)
            single_step = not aggregating and order is None and not is_star
            projection = self.select_list(items, scope, distinct) if single_step else None
            node = self.emit("perform_filter", scope.ref, condition, projection)
            scope = self.after(node, scope, items if single_step else None)
            if single_step:
                return self.limit(scope, limit, offset)

        if aggregating:
            scope = self.aggregate(sel, scope, items, distinct, group, having, order)
            return self.limit(scope, limit, offset)

        if order is not None:
            keys = self.ordering(order, scope, items)
            projection = None if is_star and distinct is None else self.select_list(items, scope, distinct)
            node = self.emit("perform_order_by", scope.ref, keys, projection)
            scope = self.after(node, scope, None if projection is None else items)
            return self.limit(scope, limit, offset)

        if not is_star or distinct is not None:
            node = self.emit("perform_projection", scope.ref, self.select_list(items, scope, distinct))
            scope = self.after(node, scope, items)
        elif scope.node is None:
            scope = self.after(self._materialise(scope), scope, None)
        return self.limit(scope, limit, offset)

    def limit(self, scope: _Scope, limit, offset) -> _Scope:
        if limit is None and offset is None:
            return scope
        count = _int_of(limit.expression if limit is not None else None, "LIMIT") if limit is not None else None
        skip = _int_of(offset.expression, "OFFSET") if offset is not None else 0
        if count is None:
            raise DecompositionError("OFFSET without LIMIT", "perform_limit needs a row count")
        text = f"{count} OFFSET {skip}" if skip else str(count)
        node = self.emit("perform_limit", scope.ref, text)
        return self.after(node, scope, None)

    def aggregate(self, sel, scope, items, distinct, group, having, order) -> _Scope:
        group_sql = ", ".join(self.sql(self.rewrite(g, scope)) for g in (group.expressions if group else []))
        select_sql = self.select_list(items, scope, distinct)
        hidden: list[str] = []
        extra_items: list[exp.Expression] = []
        keys_sql = None
        if order is not None:
            # An ordering by an aggregate that is not selected is computed by the aggregate step
            # as an extra column and dropped by the ordering step.
            visible = {_key(i.this if isinstance(i, exp.Alias) else i): i for i in items}
            aliases = {i.alias.lower() for i in items if isinstance(i, exp.Alias)}
            for n, key in enumerate(order.expressions):
                e = key.this
                if (_key(e) not in visible and not _is_position(e)
                        and not (isinstance(e, exp.Column) and not e.table and e.name.lower() in aliases)):
                    name = f"order_key_{n + 1}"
                    extra_items.append(exp.alias_(e.copy(), name))
                    hidden.append(name)
            if extra_items:
                if distinct is not None:
                    raise DecompositionError("SELECT DISTINCT ... ORDER BY an aggregate",
                                             "the ordering needs a column that DISTINCT would have to keep")
                select_sql += ", " + ", ".join(self.sql(self.rewrite(i, scope)) for i in extra_items)
        having_sql = self.condition(having.this, scope) if having is not None else None
        node = self.emit("perform_aggregate", scope.ref, group_sql, select_sql, having_sql)
        scope = self.after(node, scope, items + extra_items)
        if order is not None:
            keys_sql = self.ordering(order, scope, items)
            projection = None
            if hidden:
                projection = ", ".join(f"{node.id}.{_quote(c)}" for c in node.column_names if c not in hidden)
            node = self.emit("perform_order_by", scope.ref, keys_sql, projection)
            scope = self.after(node, scope, None)
        return scope

    # ------------------------------------------------------------------ FROM
    def from_clause(self, sel: exp.Select, where: exp.Expression | None) -> tuple[_Scope, exp.Expression | None]:
        """The scope the rest of the block reads, and what is left of ``where`` for the filter.

        Inner and comma joins: every top-level ``AND``-ed equality of ``where`` between columns
        of two different ``FROM`` items becomes a condition of the join that brings in the later
        of the two, and the tables are joined in an order where each one links to those before
        it (the written order whenever it allows), so no step materialises a cross product the
        query does not ask for.  A ``CROSS JOIN`` remains only where no equality links a table.
        """
        from_ = sel.args.get("from_")
        if from_ is None:
            return self.single_row_source(sel), where
        joins = sel.args.get("joins") or []
        first = self.source(from_.this)
        if not joins:
            return first, where
        seen = [first]
        ons: list[exp.Expression | None] = [None]
        kinds: list[str] = [""]
        for join in joins:
            src = self.source(join.this)
            kind = self.join_type(join)
            on = join.args.get("on")
            using = join.args.get("using")
            if join.args.get("method") == "NATURAL" or (join.kind or "").upper() == "NATURAL":
                using = self.natural_columns(seen, src)
                if not using:
                    raise DecompositionError("NATURAL JOIN", "the tables share no column")
                using = [exp.to_identifier(c) for c in using]
            if using:
                on = exp.and_(*[exp.EQ(this=exp.column(u.name, table=self.using_qualifier(seen, u.name)),
                                       expression=exp.column(u.name, table=src.qualifier)) for u in using])
            if on is None and kind != "CROSS JOIN":
                kind = "CROSS JOIN" if kind == "INNER JOIN" else kind
                if kind != "CROSS JOIN":
                    raise DecompositionError(f"{kind} without a condition", "an outer join needs ON")
            seen.append(src)
            ons.append(on)
            kinds.append(kind)
        order = list(range(len(seen)))
        if where is not None and all(k in ("INNER JOIN", "CROSS JOIN") for k in kinds[1:]):
            # Outer joins keep their written order and the WHERE clause: moving a condition into
            # (or across) an outer join's ON changes which rows it pads with NULLs.
            order, ons, where = self.link_joins(seen, ons, where)
        refs = [seen[i].ref for i in order]
        conditions = ["" if ons[i] is None else self.sql(self.rewrite_subqueries(ons[i])) for i in order[1:]]
        join_kinds = [("INNER JOIN" if kinds[i] == "CROSS JOIN" else kinds[i]) if ons[i] is not None
                      else "CROSS JOIN" for i in order[1:]]
        # Reordered tables keep the written column order, as ``SELECT *`` shows it.
        projection = None if order == sorted(order) else ", ".join(f"{_quote(s.qualifier)}.*" for s in seen)
        node = self.emit("perform_join", refs, conditions, join_kinds, projection)
        return self.after_join(node, [seen[i] for i in order]), where

    def link_joins(self, items: list[_Scope], ons: list[exp.Expression | None], where: exp.Expression):
        """Join order, each item's join condition and the rest of ``where`` for an inner-join ``FROM``.

        A table joins when the tables its own ``ON`` reads are all joined; among those, the first
        in written order that an equality links to a joined table goes next, else the first
        (by a ``CROSS JOIN``).  Each linking equality joins the later of its two tables.
        """
        qualifiers = [s.qualifier.lower() for s in items]
        columns = [{c.lower() for c in self.columns_of(s)} for s in items]

        def owner(column: exp.Column) -> int | None:
            if column.table:
                hits = [i for i, q in enumerate(qualifiers) if q == column.table.lower()]
                return hits[0] if len(hits) == 1 and column.name.lower() in columns[hits[0]] else None
            hits = [i for i, cols in enumerate(columns) if column.name.lower() in cols]
            return hits[0] if len(hits) == 1 else None

        links: list[tuple[int, int, exp.Expression]] = []
        rest: list[exp.Expression] = []
        for conjunct in where.flatten() if isinstance(where, exp.And) else [where]:
            inner = conjunct.unnest() if isinstance(conjunct, exp.Paren) else conjunct
            if (isinstance(inner, exp.EQ) and isinstance(inner.this, exp.Column)
                    and isinstance(inner.expression, exp.Column)
                    and not isinstance(inner.this.this, exp.Star) and not isinstance(inner.expression.this, exp.Star)):
                a, b = owner(inner.this), owner(inner.expression)
                if a is not None and b is not None and a != b:
                    links.append((a, b, inner))
                    continue
            rest.append(conjunct)
        if not links:
            return list(range(len(items))), ons, where

        needs: list[set[int]] = []
        for i, on in enumerate(ons):
            if on is None:
                needs.append(set())
                continue
            owners = {owner(c) for c in on.find_all(exp.Column) if not _inside_subquery(c, on)}
            needs.append(set(range(i)) if None in owners or on.find(exp.Query) else owners - {i})

        joined, order = {0}, [0]
        new_ons = list(ons)
        pending = list(range(1, len(items)))
        while pending:
            ready = [i for i in pending if needs[i] <= joined]
            linked = [i for i in ready if ons[i] is not None
                      or any((a == i and b in joined) or (b == i and a in joined) for a, b, _ in links)]
            chosen = (linked or ready)[0]
            eqs = [e for a, b, e in links if (a == chosen and b in joined) or (b == chosen and a in joined)]
            if eqs:
                new_ons[chosen] = exp.and_(*([ons[chosen]] if ons[chosen] is not None else []), *eqs, copy=True)
            joined.add(chosen)
            order.append(chosen)
            pending.remove(chosen)
        remaining = exp.and_(*rest, copy=True) if rest else None
        return order, new_ons, remaining

    def source(self, table: exp.Expression) -> _Scope:
        if isinstance(table, exp.Subquery):
            inner = self.query(table.this)
            node = inner.node if inner.node is not None else self._materialise(inner)
            alias = table.alias
            if not alias:  # SQLite allows an unnamed subquery; its columns are read unqualified
                return _Scope(node.id, True, node.id, None, sources=(node.id.lower(),))
            return _Scope(f"{node.id} AS {_quote(alias)}", True, alias, None, sources=(alias.lower(),))
        if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
            raise DecompositionError(f"{table.key.upper()} in FROM", "only tables, subqueries and WITH names can "
                                     "be read (no VALUES or table functions)")
        if table.args.get("db"):
            raise DecompositionError("schema-qualified table", f"{table.sql()}: tables are named without a schema")
        name = table.name
        alias = table.alias or None
        if name.lower() in self.ctes:
            node_id = self.ctes[name.lower()]
            qualifier = alias or name
            return _Scope(f"{node_id} AS {_quote(qualifier)}", True, qualifier, None, sources=(qualifier.lower(),))
        ref = _quote(name) if alias is None else f"{_quote(name)} AS {_quote(alias)}"
        qualifier = alias or name
        return _Scope(ref, True, qualifier, None, sources=(qualifier.lower(),))

    def single_row_source(self, sel: exp.Select) -> _Scope:
        """``SELECT (subquery) - (subquery)``: the subqueries become steps, and the projection reads
        one of them that is sure to hold exactly one row (an aggregate without GROUP BY)."""
        if sel.args.get("where") or sel.args.get("group") or sel.args.get("joins"):
            raise DecompositionError("SELECT without FROM", "a constant query with clauses has no plan")
        rewritten = [self.rewrite_subqueries(i) for i in sel.expressions]
        for item in rewritten:
            for table in item.find_all(exp.Table):
                node = self.plan.get(table.name)
                body = node.expression if node is not None else None
                if (node is not None and node.operation in ("perform_aggregate", "perform_projection")
                        and isinstance(body, exp.Select) and not body.args.get("group")
                        and not body.args.get("having") and not body.args.get("distinct")
                        and all(_has_aggregate(e) for e in body.expressions)):
                    sel.set("expressions", rewritten)
                    return _Scope(node.id, True, node.id, None, sources=(node.id.lower(),))
        raise DecompositionError("SELECT without FROM", "every operation reads a table, and none of its "
                                 "subqueries is sure to give exactly one row to read")

    @staticmethod
    def join_type(join: exp.Join) -> str:
        side = (join.side or "").upper()
        kind = (join.kind or "").upper()
        if kind == "CROSS":
            return "CROSS JOIN"
        if side in ("LEFT", "RIGHT", "FULL"):
            return f"{side} JOIN"
        if kind in ("", "INNER", "OUTER", "NATURAL"):
            return "INNER JOIN"
        raise DecompositionError(f"{kind} JOIN", "no such join type among the operation's join types")

    def columns_of(self, scope: _Scope) -> list[str]:
        ref_name = scope.ref.split(" AS ")[0].strip('"`')
        node = self.plan.get(ref_name)
        if node is not None:
            return list(node.column_names)
        table = self.schema.table(ref_name)
        return list(table.column_names) if table else []

    def natural_columns(self, left: list[_Scope], right: _Scope) -> list[str]:
        right_cols = {c.lower(): c for c in self.columns_of(right)}
        out = []
        for s in left:
            for c in self.columns_of(s):
                if c.lower() in right_cols and c not in out:
                    out.append(c)
        return out

    def using_qualifier(self, left: list[_Scope], column: str) -> str:
        for s in left:
            if column.lower() in {c.lower() for c in self.columns_of(s)}:
                return s.qualifier
        raise DecompositionError("JOIN USING", f"no earlier table has the column {column!r}")

    # ------------------------------------------------------------------ scope bookkeeping
    def after_join(self, node: PlanNode, sources: list[_Scope]) -> _Scope:
        cols: dict[tuple[str | None, str], str] = {}
        unqualified: dict[str, list[str]] = {}
        for item, out in zip(node.expression.expressions, node.column_names):
            column = item.this if isinstance(item, exp.Alias) else item
            q, c = column.table.lower(), column.name.lower()
            cols[(q, c)] = out
            unqualified.setdefault(c, []).append(out)
        for c, outs in unqualified.items():
            if len(outs) == 1:
                cols[(None, c)] = outs[0]
        return _Scope(node.id, False, node.id, node, cols, {}, tuple(s.qualifier.lower() for s in sources))

    def after(self, node: PlanNode, scope: _Scope, items: list | None) -> _Scope:
        """The scope after a step that read ``scope``; ``items`` are the original select items it output."""
        body = node.expression
        new_cols: dict[tuple[str | None, str], str] = {}
        exprs: dict[str, str] = {}
        if isinstance(body, exp.Select) and body.args.get("from_") is not None and not body.args.get("joins"):
            for item, out in zip(body.expressions, node.column_names):
                column = item.this if isinstance(item, exp.Alias) else item
                if isinstance(column, exp.Column) and not isinstance(column.this, exp.Star):
                    for key in self.original_keys(scope, column.name):
                        new_cols.setdefault(key, out)
        else:  # set operations and inlined limits keep their input's names
            for out in node.column_names:
                for key in self.original_keys(scope, out):
                    new_cols.setdefault(key, out)
        for out in node.column_names:
            new_cols[(None, out.lower())] = out
        if items is not None:
            for item, out in _items_to_columns(items, node.column_names):
                inner = item.this if isinstance(item, exp.Alias) else item
                exprs[_key(inner)] = out
                if isinstance(item, exp.Alias):
                    new_cols[(None, item.alias.lower())] = out
        return _Scope(node.id, False, node.id, node, new_cols, exprs, scope.sources)

    def original_keys(self, scope: _Scope, name: str) -> list[tuple[str | None, str]]:
        if scope.identity:
            return [(scope.qualifier.lower(), name.lower()), (None, name.lower())]
        return [k for k, v in scope.cols.items() if v == name]

    # ------------------------------------------------------------------ expressions
    def select_list(self, items: list[exp.Expression], scope: _Scope, distinct) -> str:
        parts = []
        for item in items:
            if isinstance(item, exp.Star):
                parts.append("*")
            elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
                parts.extend(self.star_of(item.table, scope))
            else:
                rewritten = self.rewrite(item, scope)
                if (isinstance(item, exp.Column) and isinstance(rewritten, exp.Column)
                        and rewritten.name != item.name):
                    rewritten = exp.alias_(rewritten, _ident(item.name))  # the name SQL would give it
                parts.append(self.sql(rewritten))
        text = ", ".join(parts)
        return f"DISTINCT {text}" if distinct is not None else text

    def star_of(self, qualifier: str, scope: _Scope) -> list[str]:
        if scope.identity:
            return [f"{_quote(qualifier)}.*"]
        outs = [v for (q, c), v in scope.cols.items() if q == qualifier.lower()]
        if not outs:
            raise DecompositionError(f"{qualifier}.*", f"no table {qualifier!r} in this query block")
        return [f"{scope.qualifier}.{_quote(o)}" for o in dict.fromkeys(outs)]

    def condition(self, expression: exp.Expression, scope: _Scope) -> str:
        return self.sql(self.rewrite(self.rewrite_subqueries(expression), scope))

    def ordering(self, order: exp.Order, scope: _Scope, items: list[exp.Expression]) -> str:
        keys = []
        for key in order.expressions:
            e = key.this
            if _is_position(e):
                index = int(e.name) - 1
                if not 0 <= index < len(items):
                    raise DecompositionError("ORDER BY position", f"there is no select item {index + 1}")
                target = items[index].this if isinstance(items[index], exp.Alias) else items[index]
                e = target
            new_key = key.copy()
            new_key.set("this", self.rewrite(e, scope))
            keys.append(self.sql(new_key))
        return ", ".join(keys)

    def rewrite(self, expression: exp.Expression, scope: _Scope) -> exp.Expression:
        """The expression with the query's column names replaced by the scope's table's columns."""
        expression = expression.copy()
        if scope.identity:
            return self._rename_ctes(expression)
        whole = scope.exprs.get(_key(expression.this if isinstance(expression, exp.Alias) else expression))
        if whole is not None and not isinstance(expression, exp.Column):
            replacement = exp.column(_ident(whole), table=_ident(scope.qualifier))
            if isinstance(expression, exp.Alias):
                expression.set("this", replacement)
                return expression
            return replacement

        def visit(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Column) and not isinstance(node.this, exp.Star):
                inner = node.find_ancestor(exp.Select)
                if inner is not None and not self._is_outer_reference(node, inner):
                    return node
                key = (node.table.lower() or None, node.name.lower())
                if key in scope.cols:
                    return exp.column(_ident(scope.cols[key]), table=_ident(scope.qualifier))
                if key[0] is not None and (None, key[1]) in scope.cols and key[0] in scope.sources:
                    return exp.column(_ident(scope.cols[(None, key[1])]), table=_ident(scope.qualifier))
                if key[0] is not None and any(q == key[0] for q, _ in scope.cols):
                    known = [c for q, c in scope.cols if q == key[0]]
                    raise PlanError(f"Column {node.name!r} is not in {node.table}.{did_you_mean(node.name, known)} "
                                    f"Existing columns: {', '.join(known)}.")
            elif not isinstance(node, exp.Column) and scope.exprs and not _inside_subquery(node, expression):
                hit = scope.exprs.get(_key(node))
                if hit is not None and _has_aggregate(node):
                    return exp.column(_ident(hit), table=_ident(scope.qualifier))
            return node

        return self._rename_ctes(expression.transform(visit, copy=False))

    def _is_outer_reference(self, column: exp.Column, select: exp.Select) -> bool:
        """Whether a column inside a subquery refers to the enclosing query (a correlation)."""
        inner = set()
        for t in select.find_all(exp.Table):
            if t.find_ancestor(exp.Select) is select:
                inner.add((t.alias or t.name).lower())
        if column.table:
            return column.table.lower() not in inner
        for t in select.find_all(exp.Table):
            table = self.schema.table(t.name)
            if table is not None and table.column(column.name) is not None:
                return False
            node = self.plan.get(self.ctes.get(t.name.lower(), t.name))
            if node is not None and node.column(column.name) is not None:
                return False
        return True

    def _rename_ctes(self, expression: exp.Expression) -> exp.Expression:
        if not self.ctes:
            return expression
        for table in list(expression.find_all(exp.Table)):
            node_id = self.ctes.get(table.name.lower())
            if node_id is not None and not table.args.get("db"):
                alias = table.alias or table.name
                table.replace(exp.Table(this=_ident(node_id), alias=exp.TableAlias(this=_ident(alias))))
        return expression

    def rewrite_subqueries(self, expression: exp.Expression) -> exp.Expression:
        """Materialise each uncorrelated subquery of a condition as its own steps."""
        expression = expression.copy()
        # ``x > ALL (SELECT ...)`` parses as ALL over a bare SELECT, with no Subquery around it.
        for sub in list(expression.find_all(exp.Subquery, exp.Exists, exp.All, exp.Any)):
            query = sub.this
            if (not isinstance(query, exp.Query)
                    or sub.find_ancestor(exp.Subquery, exp.Exists, exp.All, exp.Any) not in (None,)):
                continue
            snap = self.snapshot()
            try:
                scope = self.query(query)
            except (DecompositionError, PlanError):
                self.restore(snap)  # correlated (or not expressible alone): it stays inside the condition
                continue
            node = scope.node if scope.node is not None else self._materialise(scope)
            columns = [exp.column(_ident(c), table=_ident(node.id)) for c in node.column_names]
            if isinstance(sub, exp.Exists):
                columns = [exp.Literal.number(1)]
            replacement_query = exp.select(*columns).from_(exp.Table(this=_ident(node.id)))
            sub.set("this", replacement_query)
        return expression

    # ------------------------------------------------------------------ set operations
    def set_operation(self, q: exp.SetOperation, kind: str) -> _Scope:
        left = self.query(q.this)
        right = self.query(q.expression)
        left_node = left.node if left.node is not None else self._materialise(left)
        right_node = right.node if right.node is not None else self._materialise(right)
        distinct = q.args.get("distinct", True) is not False
        if kind == "union":
            node = self.emit("perform_union", "DISTINCT" if distinct else "ALL", left_node.id, right_node.id)
        elif kind == "intersect":
            if not distinct:
                raise DecompositionError("INTERSECT ALL", "perform_intersect removes duplicates, as INTERSECT does")
            node = self.emit("perform_intersect", left_node.id, right_node.id)
        else:
            if not distinct:
                raise DecompositionError("EXCEPT ALL", "duplicates cannot be subtracted with the eight operations")
            if len(left_node.schema) != len(right_node.schema):
                raise DecompositionError("EXCEPT", "both sides need the same number of columns")
            pairs = [
                f"(r.{_quote(rc)} = {left_node.id}.{_quote(lc)} OR (r.{_quote(rc)} IS NULL AND "
                f"{left_node.id}.{_quote(lc)} IS NULL))"
                for lc, rc in zip(left_node.column_names, right_node.column_names)
            ]
            condition = f"NOT EXISTS (SELECT 1 FROM {right_node.id} AS r WHERE {' AND '.join(pairs)})"
            filtered = self.emit("perform_filter", left_node.id, condition)
            node = self.emit("perform_projection", filtered.id, "DISTINCT *")
        scope = self.after(node, _Scope(left_node.id, False, left_node.id, left_node,
                                        {(None, c.lower()): c for c in left_node.column_names}), None)
        order = q.args.get("order")
        if order is not None:
            node = self.emit("perform_order_by", scope.ref, self.ordering(order, scope, []))
            scope = self.after(node, scope, None)
        return self.limit(scope, q.args.get("limit"), q.args.get("offset"))


# ---------------------------------------------------------------------- helpers
def _has_aggregate(expression: exp.Expression | None) -> bool:
    """Whether ``expression`` aggregates at its own level (not inside a window or a subquery)."""
    if expression is None:
        return False
    for agg in expression.find_all(exp.AggFunc):
        if agg is expression:
            return True
        parent = agg.parent
        while parent is not None and parent is not expression and not isinstance(parent, (exp.Window, exp.Select)):
            parent = parent.parent
        if parent is None or parent is expression:
            return True
    return False


def _is_star(item: exp.Expression | None) -> bool:
    return isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star))


def _items_to_columns(items: list, columns: tuple[str, ...] | list[str]) -> list[tuple[exp.Expression, str]]:
    """Pairs of a select item and the output column it became.  A star expands to an unknown
    number of columns, so the items before the first star pair with the first columns and those
    after the last star with the last columns (``SELECT *, COUNT(*) ... ORDER BY COUNT(*)``)."""
    stars = [n for n, i in enumerate(items) if _is_star(i)]
    if not stars:
        pairs = list(zip(items, columns))
    else:
        head, tail = items[:stars[0]], items[stars[-1] + 1:]
        pairs = list(zip(head, columns))
        if tail and len(columns) >= len(head) + len(tail):
            pairs += list(zip(tail, columns[len(columns) - len(tail):]))
    return [(item, out) for item, out in pairs if item is not None]


def _inside_subquery(node: exp.Expression, root: exp.Expression) -> bool:
    parent = node.parent
    while parent is not None and parent is not root:
        if isinstance(parent, exp.Select):
            return True
        parent = parent.parent
    return False


def _is_position(e: exp.Expression) -> bool:
    return isinstance(e, exp.Literal) and not e.is_string and e.is_int


def _int_of(e: exp.Expression | None, what: str) -> int:
    if isinstance(e, exp.Literal) and e.is_int:
        return int(e.name)
    if isinstance(e, exp.Neg):
        raise DecompositionError(what, "a negative count has no meaning here")
    raise DecompositionError(what, f"{e.sql() if e is not None else 'nothing'} is not a whole number")

