"""The dialect base class and its registry.

A dialect reads the agent's SQL fragments in ``input_dialect`` (SQLite's syntax and meaning
for every built-in engine, since the benchmarks' gold SQL and most agents write SQLite) and
renders the compiled plan in ``sqlglot_dialect``.  sqlglot transpiles the syntax (``strftime``,
``GROUP_CONCAT``, ``IIF``, NULL ordering, safe division); where the engine's *meaning* still
differs, the dialect lists rewrites in ``transforms`` (functions on the sqlglot AST, applied
just before rendering; they live in :mod:`querygym.dialects.transforms`), and what no rewrite can
fix is documented in the dialect's module.  Time limits are :mod:`querygym.dialects.guard`'s.
"""

from __future__ import annotations

import functools
import warnings
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Callable, ClassVar

import sqlalchemy as sa
from sqlglot import exp

from querygym.dialects.guard import QueryGuard
from querygym.dialects.transforms import (
    NUMERIC_PREFIX,
    NUMERIC_TEXT,
    is_aggregate,
    select_of,
    string_literal,
    type_kind,
)
from querygym.errors import InvalidArgumentError, UnknownDialectError
from querygym.schema import Column, DatabaseSchema, ForeignKey, TableSchema
from querygym.util import did_you_mean, sqlglot_dialect

ENTRY_POINT_GROUP = "querygym.dialects"
_REGISTRY: dict[str, type["Dialect"]] = {}


class Dialect:
    """Compiles plan nodes to one engine's SQL and opens guarded connections to it.

    A subclass sets ``name`` and ``sqlglot_dialect`` and overrides the connection hooks;
    setting ``name`` registers it.  Engine quirks are class attributes, never ``if`` tests on
    the dialect's name elsewhere.
    """

    name: ClassVar[str] = ""
    #: sqlglot's name for the engine: compiled SQL is written in it.
    sqlglot_dialect: ClassVar[str] = ""
    #: sqlglot's name for the language of the agent's fragments (conditions, column lists, ...).
    #: SQLite for every built-in engine, so one action script plays on all of them.
    input_dialect: ClassVar[str] = "sqlite"
    #: functions the agent may never call on this engine (lower-case names).
    forbidden_functions: ClassVar[frozenset[str]] = frozenset()
    #: rewrites of the compiled AST that keep ``input_dialect``'s meaning on this engine,
    #: applied in order to a copy just before rendering (see the functions below the class).
    transforms: ClassVar[tuple[Callable[[exp.Expression], exp.Expression], ...]] = ()
    #: whether to complete every ORDER BY with tie-breakers (see :meth:`break_ties`): for an
    #: engine whose sort is not stable, so that ties, and a LIMIT cutting through them, come out
    #: as SQLite's stable sort over its scan order usually leaves them.
    break_ties: ClassVar[bool] = False
    #: whether a text operand compared with a number is converted to a number first, as SQLite's
    #: numeric affinity does (https://www.sqlite.org/datatype3.html#type_conversions_prior_to_comparison),
    #: for an engine that refuses to compare text with numbers (see :meth:`apply_numeric_affinity`).
    numeric_affinity: ClassVar[bool] = False
    #: the numeric type text is converted to by ``numeric_affinity``
    affinity_type: ClassVar[str] = "DOUBLE"
    #: whether columns that an aggregate query neither groups nor aggregates are given SQLite's
    #: meaning, for an engine with a strict GROUP BY (see :meth:`apply_bare_columns`)
    bare_columns: ClassVar[bool] = False
    #: whether the backend reads rows straight from the driver's cursor (tuples), skipping
    #: SQLAlchemy's Row layer; false for an engine whose results SQLAlchemy buffers itself
    #: (a server-side cursor under ``stream_results``: rows would be skipped)
    fetch_from_driver: ClassVar[bool] = True
    #: whether the backend runs statements on a cursor of the driver's connection itself, past
    #: SQLAlchemy's execution layer (an engine whose guards live on the connection and that
    #: needs no SQLAlchemy event per statement)
    direct_cursor: ClassVar[bool] = False
    #: whether an episode may keep intermediate results as temporary tables of its session
    #: (:meth:`materialise`), so later steps read them instead of computing them again
    result_cache: ClassVar[bool] = False
    #: for an engine without ``result_cache``: at most this many rows of a result worth keeping are
    #: written into later statements as a typed ``VALUES`` list (:meth:`inline_select`); 0: never
    inline_rows: ClassVar[int] = 0
    #: a result is kept once the statement returning it would compute this many intermediate
    #: tables that are not kept (so statements stay this short however deep the plan); see
    #: :class:`~querygym.engine.cache.ResultCache`
    keep_after: ClassVar[int] = 4
    #: whether :meth:`prepare` returns a tree that sqlglot's generator for this engine leaves as
    #: it is (it changes some constructs in place while writing them), so a plan node's tree is
    #: written without a copy; otherwise each node is copied before it is written
    generates_in_place: ClassVar[bool] = False

    def __init__(self) -> None:
        self._base_columns: dict[str, tuple[str, ...]] = {}
        #: bodies of the intermediate tables an expression compiled alone may read (see :meth:`compile`)
        self._context_ctes: dict[str, exp.Expression] = {}
        #: (CTE, column, values) -> (its body, kind, depth found at, levels used below): see :meth:`_typed`
        self._type_memo: dict[tuple[str, str, bool], tuple[exp.Expression, str | None, int, int]] = {}

    def _ctes(self, expression: exp.Expression) -> dict[str, exp.Expression]:
        """The CTE bodies the transforms may follow a column into: the expression's own, and
        those of the plan nodes it reads when it is compiled apart from them."""
        ctes = dict(getattr(self, "_context_ctes", {}))
        ctes.update((cte.alias, cte.this) for cte in expression.find_all(exp.CTE))
        return ctes

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            _REGISTRY[cls.name] = cls

    # ------------------------------------------------------------------ SQL
    def render(self, expression: exp.Expression, *, pretty: bool = False) -> str:
        """``expression`` as this engine's SQL text (identifiers quoted)."""
        prepared = self.prepare(expression)
        # written without a copy where nothing in it changes, or where it is prepare's own copy
        in_place = self.generates_in_place or prepared is not expression
        return prepared.sql(dialect=sqlglot_dialect(self.sqlglot_dialect), identify=True, pretty=pretty,
                            copy=not in_place)

    def prepare(self, expression: exp.Expression) -> exp.Expression:
        """``expression`` with this engine's ``transforms`` applied (a copy when there are any)."""
        if not (self.transforms or self.break_ties or self.numeric_affinity or self.bare_columns):
            return expression
        expression = expression.copy()
        if self.numeric_affinity:  # before the transforms, which may hide plain columns in casts
            expression = self.apply_numeric_affinity(expression)
        if self.bare_columns:
            expression = self.apply_bare_columns(expression)
        for transform in self.transforms:
            expression = transform(expression)
        if self.break_ties:
            expression = self.complete_orderings(expression)
        return expression

    def apply_bare_columns(self, expression: exp.Expression) -> exp.Expression:
        """Columns that an aggregate query neither groups nor aggregates, as SQLite reads them.

        SQLite takes such a *bare* column from the row holding the value of the query's min()
        or max() when there is one such aggregate, else from some row of the group
        (https://www.sqlite.org/lang_select.html#bare_columns_in_an_aggregate_query); engines
        with a strict GROUP BY refuse the query.  Here the column becomes
        ``(ARRAY_AGG(column ORDER BY key DESC NULLS LAST, <input columns>))[1]``, the value on
        the row with the largest key (smallest for min()), ties going to the first row in the
        input's column order as SQLite's scan usually meets them; without min()/max(),
        ``ANY_VALUE(column)``, which for a column that depends on the group (a name beside its
        id) is that one value.
        """
        ctes = self._ctes(expression)
        for select in list(expression.find_all(exp.Select)):
            aggregates = [a for item in select.expressions for a in item.find_all(exp.AggFunc)
                          if a.find_ancestor(exp.Select) is select and is_aggregate(a)]
            group = select.args.get("group")
            if group is None and not aggregates:
                continue
            grouped = {g.sql(dialect=_GENERIC) for g in group.expressions} if group is not None else set()
            grouped_names = {g.name for g in group.expressions if isinstance(g, exp.Column) and not g.table} \
                if group is not None else set()
            aliases = {item.alias for item in select.expressions if isinstance(item, exp.Alias)}
            extremes = [a for a in aggregates if isinstance(a, (exp.Max, exp.Min))]
            for item in select.expressions:
                value = item.this if isinstance(item, exp.Alias) else item
                if (value.sql(dialect=_GENERIC) in grouped
                        or (isinstance(item, exp.Alias) and item.alias in grouped_names)):
                    continue  # grouped itself, or by its output name
                for column in list(value.find_all(exp.Column)):
                    if isinstance(column.this, exp.Star) or column.find_ancestor(exp.Select) is not select:
                        continue
                    inside = column.find_ancestor(exp.AggFunc)
                    if inside is not None and inside.find_ancestor(exp.Select) is select and is_aggregate(inside):
                        continue
                    if column.sql(dialect=_GENERIC) in grouped or (not column.table and column.name in aliases):
                        continue
                    if len(extremes) == 1:
                        largest = isinstance(extremes[0], exp.Max)
                        keys = [exp.Ordered(this=extremes[0].this.copy(), desc=largest, nulls_first=False)]
                        keys += [exp.Ordered(this=c, desc=False, nulls_first=True)
                                 for c in self._input_columns(select, ctes) or []]
                        aggregate = exp.ArrayAgg(this=exp.Order(this=column.copy(), expressions=keys))
                        replacement = exp.Bracket(this=exp.Paren(this=aggregate), expressions=[exp.Literal.number(0)])
                    else:
                        replacement = exp.AnyValue(this=column.copy())
                    if column is value:
                        if isinstance(item, exp.Alias):
                            item.set("this", replacement)
                        else:
                            item.replace(exp.alias_(replacement, exp.to_identifier(column.name, quoted=True)))
                        break
                    column.replace(replacement)
        return expression

    def apply_numeric_affinity(self, expression: exp.Expression) -> exp.Expression:
        """SQLite's type affinity in comparisons, for an engine that refuses to compare text
        with numbers (https://www.sqlite.org/datatype3.html#type_conversions_prior_to_comparison).

        A column has the affinity of its declared type (through any number of intermediate
        tables), so does ``CAST(x AS type)`` and a scalar subquery of such a column; other
        expressions and literals have none.  For ``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=`` and
        ``IN``: when one side has numeric affinity and the other is text, the text becomes a
        number if it reads as one, else +Infinity (SQLite keeps it text, which sorts after every
        number); when one side is a text column and the other a number without affinity (a
        literal, a count), the number becomes text and the two compare as text, as in SQLite
        (``'98' > 150`` is true there).  ``SUM``/``AVG`` of text read its leading number, 0 if none.
        """
        ctes = self._ctes(expression)
        for node in list(expression.find_all(exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
            left, right = self._affine_pair(node.this, node.expression, ctes)
            node.set("this", left)
            node.set("expression", right)
        for node in list(expression.find_all(exp.In)):
            query = node.args.get("query")
            inner = query.this if isinstance(query, exp.Subquery) else query
            if isinstance(inner, exp.Select) and len(inner.expressions) == 1:
                item = inner.expressions[0]
                value = item.this if isinstance(item, exp.Alias) else item
                left, right = self._affine_pair(node.this, value.copy(), ctes, right_context=inner)
                node.set("this", left)
                value.replace(right)
            elif node.expressions:
                left = node.this
                converted = [self._affine_pair(left, e, ctes) for e in node.expressions]
                if any(l is not left for l, _ in converted):
                    node.set("this", converted[0][0])
                node.set("expressions", [r for _, r in converted])
        for node in list(expression.find_all(exp.Sum, exp.Avg)):
            if self._kind(node.this, ctes) == "text":
                node.set("this", self._numeric_prefix(node.this))
        return expression

    def _affine_pair(self, left: exp.Expression, right: exp.Expression, ctes: dict[str, exp.Expression],
                     right_context: exp.Expression | None = None) -> tuple[exp.Expression, exp.Expression]:
        a_left, a_right = self._affinity(left, ctes), self._affinity(right, ctes, context=right_context)
        k_left, k_right = self._kind(left, ctes), self._kind(right, ctes, context=right_context)
        if a_left == "number" and a_right != "number" and k_right == "text" and not string_literal(right):
            return left, self._as_number(right)
        if a_right == "number" and a_left != "number" and k_left == "text" and not string_literal(left):
            return self._as_number(left), right
        if a_left == "text" and a_right is None and k_right == "number":
            return left, exp.Cast(this=right, to=exp.DataType.build("TEXT"))
        if a_right == "text" and a_left is None and k_left == "number":
            return exp.Cast(this=left, to=exp.DataType.build("TEXT")), right
        return left, right

    def _affinity(self, node: exp.Expression, ctes: dict[str, exp.Expression], depth: int = 0,
                  context: exp.Expression | None = None) -> str | None:
        """SQLite's affinity of an expression: "number", "text" or None (none)."""
        return self._type_of(node, ctes, depth, context, values=False)

    def _numeric_prefix(self, value: exp.Expression) -> exp.Expression:
        """SQLite's reading of text as a number in arithmetic: its leading number, else 0."""
        to = exp.DataType.build(self.affinity_type)
        prefix = self.regexp_match(value.copy(), NUMERIC_PREFIX)
        number = exp.Cast(this=exp.Nullif(this=prefix, expression=exp.Literal.string("")), to=to)
        return exp.Case(ifs=[exp.If(this=exp.Is(this=value, expression=exp.Null()), true=exp.Null())],
                        default=exp.Coalesce(this=number, expressions=[exp.Literal.number(0)]))

    def regexp_match(self, value: exp.Expression, pattern: str) -> exp.Expression:
        """The part of ``value`` matching ``pattern`` (no capturing groups), '' or NULL if none."""
        return exp.RegexpExtract(this=value, expression=exp.Literal.string(pattern))

    def _as_number(self, value: exp.Expression, otherwise: exp.Expression | None = None) -> exp.Expression:
        """``value`` (text) as SQLite's numeric affinity reads it: text that is a number becomes
        that number; other text stays text in SQLite, which sorts after every number, so it
        becomes +Infinity here (``otherwise``: what SUM and AVG count it as, 0 in SQLite)."""
        to = exp.DataType.build(self.affinity_type)
        if otherwise is None:
            otherwise = exp.Cast(this=exp.Literal.string("Infinity"), to=to.copy())
        return exp.Case(ifs=[
            exp.If(this=exp.Is(this=value.copy(), expression=exp.Null()), true=exp.Null()),
            exp.If(this=exp.RegexpLike(this=value.copy(), expression=exp.Literal.string(NUMERIC_TEXT)),
                   true=exp.Cast(this=value, to=to)),
        ], default=otherwise)

    def _kind(self, node: exp.Expression, ctes: dict[str, exp.Expression], depth: int = 0,
              context: exp.Expression | None = None) -> str | None:
        """The type of a value: "number", "text" or None (unknown)."""
        return self._type_of(node, ctes, depth, context, values=True)

    def _type_of(self, node: exp.Expression, ctes: dict[str, exp.Expression], depth: int,
                 context: exp.Expression | None, *, values: bool) -> str | None:
        """What ``_affinity`` (``values=False``: only columns and casts carry one) and ``_kind``
        (``values=True``: literals, arithmetic and aggregates have a type too) share: following
        parentheses, casts, scalar subqueries and columns through CTEs to declared types."""
        return self._typed(node, ctes, depth, context, values)[0]

    def _typed(self, node: exp.Expression, ctes: dict[str, exp.Expression], depth: int,
               context: exp.Expression | None, values: bool) -> tuple[str | None, int]:
        """:meth:`_type_of`'s answer, with the deepest depth its search reached (past 50: stopped there)."""
        if depth > 50:
            return None, depth
        if values:
            if isinstance(node, exp.Literal):
                return ("text" if node.is_string else "number"), depth
            if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Count, exp.Sum, exp.Avg)):
                return "number", depth
            if isinstance(node, (exp.Max, exp.Min)) and not node.expressions:
                return self._typed(node.this, ctes, depth + 1, context, values)
        if isinstance(node, (exp.Paren, exp.Alias)) or (values and isinstance(node, exp.Neg)):
            return self._typed(node.this, ctes, depth + 1, context, values)
        if isinstance(node, exp.Cast):
            return type_kind(node.to.sql(dialect=_GENERIC)), depth
        if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select) and len(node.this.expressions) == 1:
            return self._typed(node.this.expressions[0], ctes, depth + 1, node.this, values)
        if isinstance(node, exp.Column) and node.table and not isinstance(node.this, exp.Star):
            found = self._source_of(node, context)
            if found is None:
                return None, depth
            table, name = found
            if table in ctes:
                body = ctes[table]
                # A plan node's body never changes, so what one of its columns is (through every
                # CTE before it) is worked out once: without this each comparison walks the whole
                # chain again.  Bodies being transformed (the whole-statement path) are not memoised.
                # The search is one path that stops at depth 50: an answer found using `used`
                # levels below its start is the answer from any start that leaves room for them,
                # and one the stop cut short is cut short from any deeper start.
                in_plan = body is getattr(self, "_context_ctes", {}).get(table)
                memo = self.__dict__.setdefault("_type_memo", {}) if in_plan else None
                key = (table, name, values)
                if memo is not None and key in memo:
                    known, kind, at, used = memo[key]
                    if known is body:
                        if at + used <= 50 and depth + used <= 50:
                            return kind, depth + used
                        if at + used > 50 and depth >= at:
                            return None, depth + used
                item = self._cte_output(body, name)
                if item is None:
                    kind, reach = None, depth
                else:
                    kind, reach = self._typed(item, ctes, depth + 1, select_of(body), values)
                if memo is not None:
                    if len(memo) > 100_000:
                        memo.clear()
                    memo[key] = (body, kind, depth, reach - depth)
                return kind, reach
            declared = getattr(self, "_base_types", {}).get(table, {}).get(name)
            return (type_kind(declared) if declared is not None else None), depth
        return None, depth

    @staticmethod
    def _source_of(column: exp.Column, context: exp.Expression | None) -> tuple[str, str] | None:
        """The table (base table or CTE name) and column a qualified column reads."""
        select = column.find_ancestor(exp.Select) or context
        while select is not None:
            if isinstance(select, exp.Select):
                sources = [select.args["from_"].this] if select.args.get("from_") else []
                sources += [j.this for j in select.args.get("joins") or []]
                for source in sources:
                    if isinstance(source, exp.Table) and source.alias_or_name == column.table:
                        return source.name, column.name
            select = select.find_ancestor(exp.Select)
        return None

    @staticmethod
    def _cte_output(body: exp.Expression, name: str) -> exp.Expression | None:
        select = select_of(body)
        if select is None:
            return None
        for item in select.expressions:
            if item.alias_or_name == name:
                return item
        return None

    def complete_orderings(self, expression: exp.Expression) -> exp.Expression:
        """Every ORDER BY followed by the columns of what it sorts, ascending with NULLs first.

        SQLite sorts stably over its scan order: rows with equal keys keep the order of its
        input, which is a base table's rowid order (in practice its first column, the key) or
        a GROUP BY's group-key order.  PostgreSQL's and DuckDB's sorts are not stable, so the
        same plan would order ties, and choose the rows a LIMIT keeps among them, arbitrarily.
        Appending the input's columns (a base table's, or an intermediate table's, in their
        order) as tie-breakers makes the result deterministic and, in those usual cases,
        SQLite's.  A DISTINCT or grouped query can only sort by its own outputs, which it then
        uses instead.
        """
        ctes = self._ctes(expression)
        for select in list(expression.find_all(exp.Select)):
            order = select.args.get("order")
            if order is None:
                continue
            present = {o.this.sql(dialect=_GENERIC) for o in order.expressions}
            present |= {o.this.name for o in order.expressions if isinstance(o.this, exp.Column)}
            for column in self._tie_breakers(select, ctes):
                if column.sql(dialect=_GENERIC) not in present and column.name not in present:
                    order.append("expressions", exp.Ordered(this=column, desc=False, nulls_first=True))
                    present.add(column.sql(dialect=_GENERIC))
        return expression

    def _tie_breakers(self, select: exp.Select, ctes: dict[str, exp.Expression]) -> list[exp.Column]:
        outputs = [exp.column(exp.to_identifier(n, quoted=True)) for n in select.named_selects if n]
        grouped = select.args.get("group") is not None or select.args.get("distinct") is not None or any(
            e.find(exp.AggFunc) for e in select.expressions)
        if grouped or len(outputs) != len(select.expressions):
            return outputs
        columns = self._input_columns(select, ctes)
        return outputs if columns is None else columns

    def _input_columns(self, select: exp.Select, ctes: dict[str, exp.Expression]) -> list[exp.Column] | None:
        """Every column of the tables ``select`` reads, qualified, in order (None if unknown)."""
        sources = []
        from_ = select.args.get("from_")
        if from_ is not None:
            sources.append(from_.this)
        sources += [j.this for j in select.args.get("joins") or []]
        columns: list[exp.Column] = []
        for source in sources:
            if not isinstance(source, exp.Table):
                return None
            names = self._columns_of(source.name, ctes)
            if names is None:
                return None
            qualifier = exp.to_identifier(source.alias_or_name, quoted=True)
            columns += [exp.column(exp.to_identifier(n, quoted=True), table=qualifier) for n in names]
        return columns

    def _columns_of(self, name: str, ctes: dict[str, exp.Expression]) -> tuple[str, ...] | None:
        if name in ctes:
            body = ctes[name]
            names = tuple(body.named_selects)
            return names if all(names) and "*" not in names else None
        return getattr(self, "_base_columns", {}).get(name)

    def compile_query(self, plan, query: exp.Query, through: tuple = ()) -> exp.Query:
        """``query`` with a WITH clause for every plan node it depends on.

        ``through`` lists nodes (possibly not yet in the plan) whose lineage must be included.
        """
        needed: dict[str, Any] = {}
        for node in through:
            for dep in plan.lineage(node):
                needed[dep.id] = dep
        for dep in nodes_read(plan, query):
            if dep.id not in needed:
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

    def compile(self, plan, node, *, pretty: bool = False, cached: dict[str, str] | None = None) -> str:
        """The SQL of :meth:`compile_node`, assembled from each node's CTE rendered once.

        A plan only grows and its nodes are immutable, so a node's ``"T_k" AS (...)`` (after
        this engine's transforms, which read the earlier nodes' bodies it depends on) is
        rendered the first time it is compiled and kept in the plan's cache; a step then
        renders only its new node, however deep the plan.  The text is exactly what rendering
        the whole ``WITH`` statement gives.

        ``cached`` maps ids of nodes whose rows are kept in tables of the session (see
        :mod:`querygym.engine.cache`) to the query that reads them (:meth:`kept_select`): such a
        node becomes ``"T_k" AS (SELECT ... FROM <table>)`` and the nodes only it needed are left out.
        """
        if type(self).render is not Dialect.render:
            # a dialect that renders statements its own way (a plugin's tag, say) gets them whole
            return self.render(self.compile_node(plan, node), pretty=pretty)
        if cached:
            parts = [self._stub(n.id, cached[n.id], pretty) if n.id in cached
                     else self._rendered(plan, n, pretty, main=False) for n in needed_nodes(plan, node, cached)]
        else:
            lineage = plan.lineage(node)
            parts = [self._lineage_text(plan, lineage, pretty)] if lineage else []
        if node.ordered:
            main = self._rendered(plan, node, pretty, main=True)
        else:
            parts.append(self._rendered(plan, node, pretty, main=False))
            main = _select_all(node.id, self.sqlglot_dialect, pretty)
            if not cached:  # the CTEs of this node's statement, for a next node that reads this one
                self._remember_chain(plan, node, ", ".join(parts), len(lineage) + 1, pretty)
        if not parts:
            return main
        return "WITH " + ", ".join(parts) + ("\n" if pretty else " ") + main

    def compile_reading(self, plan, query: exp.Query, *, cached: dict[str, str] | None = None) -> str:
        """``query``, which reads nodes of ``plan`` by id (an exploration's question about a table),
        as one statement with the ``WITH`` clause it needs: the text :meth:`render` gives for
        :meth:`compile_query`, assembled as :meth:`compile` assembles a step's, from each node's CTE
        rendered once.  The nodes in ``cached`` (see :meth:`compile`) are read from the tables that
        keep their rows, so a question about a table does not compute it and its lineage again."""
        if type(self).render is not Dialect.render:
            return self.render(self.compile_query(plan, query))
        cached = cached or {}
        read = nodes_read(plan, query)
        if not read:
            return self.render(query)
        needed: dict[str, Any] = {}
        for node in read:
            if node.id not in cached:
                needed.update((dep.id, dep) for dep in needed_nodes(plan, node, cached))
            needed[node.id] = node
        parts = [self._stub(n.id, cached[n.id], False) if n.id in cached else self._rendered(plan, n, False, main=False)
                 for n in sorted(needed.values(), key=lambda n: n.index)]
        # the transforms follow the query's columns into the bodies of the nodes it reads
        self._context_ctes = {d.id: d.expression for node in read for d in (*plan.lineage(node), node)}
        try:
            main = self.render(query)
        finally:
            self._context_ctes = {}
        return "WITH " + ", ".join(parts) + " " + main

    def _lineage_text(self, plan, lineage: list, pretty: bool) -> str:
        """The CTEs of ``lineage`` joined by commas.  A step that reads the table the last step
        made extends that step's statement by one CTE: its text is taken as it was, so the
        cost of a step does not grow with the length of a chain."""
        cache = getattr(plan, "rendered", None)
        if cache is not None:
            hit = cache.get((self, "chain", pretty))
            if hit is not None and hit[0] is lineage[-1] and hit[2] == len(lineage):
                return hit[1]  # lineage is the last node's lineage and the node: what it was compiled with
        return ", ".join(self._rendered(plan, n, pretty, main=False) for n in lineage)

    def _remember_chain(self, plan, node, text: str, count: int, pretty: bool) -> None:
        """Keep ``text``, the CTEs of ``node``'s lineage and of ``node`` (``count`` of them), for
        :meth:`_lineage_text`; only the newest such text is kept, so memory does not grow with depth."""
        cache = getattr(plan, "rendered", None)
        if cache is not None:
            cache[(self, "chain", pretty)] = (node, text, count)

    def _stub(self, node_id: str, select: str, pretty: bool) -> str:
        """``"T_k" AS (<select>)``: a node read from the table that keeps its rows."""
        return f"{_quoted(node_id, self.sqlglot_dialect)} AS ({select})"

    def _rendered(self, plan, node, pretty: bool, *, main: bool) -> str:
        """``node`` as a CTE (``main=False``) or as the main query, from the plan's cache."""
        cache = getattr(plan, "rendered", None)
        key = (self, node.id, pretty, main)
        if cache is not None:
            hit = cache.get(key)
            if hit is not None and hit[0] is node:  # ids are reused by a node that failed to be added
                return hit[1]
        body = node.expression
        place = body.parent, body.arg_key, body.index
        # the node's own tree, wrapped for the time of writing it and given back as it was
        item: exp.Expression = body if main else exp.CTE(
            this=body, alias=exp.TableAlias(this=exp.to_identifier(node.id, quoted=True)))
        self._context_ctes = {n.id: n.expression for n in plan.lineage(node)}
        try:
            text = self.render(item, pretty=pretty)
        finally:
            self._context_ctes = {}
            body.parent, body.arg_key, body.index = place
        if cache is not None:
            cache[key] = (node, text)
        return text

    # ------------------------------------------------------------------ connections
    def materialise(self, connection: sa.Connection, guard: QueryGuard, name: str, sql: str) -> int | None:
        """Create the temporary table ``name`` (querygym's own, never the agent's) holding the rows
        of the read-only query ``sql``, on ``connection`` under ``guard``; returns its row count when
        the engine reports it.  Only for a dialect with ``result_cache``."""
        raise NotImplementedError(f"dialect {self.name!r} keeps no results in temporary tables")

    def drop_materialised(self, connection: sa.Connection, guard: QueryGuard, name: str) -> None:
        """Drop the temporary table ``name`` made by :meth:`materialise`."""
        raise NotImplementedError(f"dialect {self.name!r} keeps no results in temporary tables")

    def inline_select(self, columns: tuple[str, ...], types: tuple | None, rows: list[tuple]) -> str | None:
        """A query returning ``rows`` (a result with these column names and driver type codes) with
        the same values, types and comparison semantics, written as literals; None when this
        engine cannot write one of them exactly.  Only for a dialect with ``inline_rows``."""
        return None

    def kept_select(self, backend, name: str) -> str | None:
        """The query that reads the table ``name`` made by :meth:`materialise` exactly as the node it
        keeps (its values, types and comparison semantics), or None when no query can, and the node
        must be computed again instead.  ``SELECT * FROM name`` for an engine whose tables keep the
        query's column types."""
        table = exp.to_identifier(name, quoted=True).sql(dialect=sqlglot_dialect(self.sqlglot_dialect))
        return f"SELECT * FROM {table}"

    def create_engine(self, target: str, guard: QueryGuard) -> sa.Engine:
        """A SQLAlchemy engine whose connections are read-only and honour ``guard``'s deadline."""
        raise NotImplementedError(f"dialect {self.name!r} does not define create_engine")

    def interrupt(self, connection: sa.Connection) -> None:
        """Stop the query running on ``connection`` (called from another thread); optional."""

    def is_timeout(self, error: BaseException) -> bool:
        """Whether a driver error means the query was stopped at its time limit."""
        return False

    @property
    def driver_errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exception classes, raised when rows are read from its cursor directly
        (read only when an exception is being handled, so the driver is imported by then)."""
        return ()

    def load_database(self, source: str, **options: Any):
        """Copy the SQLite database ``source`` into this engine; see :mod:`querygym.dialects.source`."""
        raise InvalidArgumentError(
            f"the {self.name!r} dialect cannot load SQLite databases; engines that can: "
            f"{', '.join(n for n in available() if _can_load(n)) or 'none'}")

    def remember(self, schema: DatabaseSchema) -> DatabaseSchema:
        """Keep the base tables' columns (tie-breakers name them); every ``introspect`` returns through it."""
        self._base_columns = {t.name: t.column_names for t in schema.tables}
        self._base_types = {t.name: {c.name: c.type for c in t.columns} for t in schema.tables}
        self._type_memo = {}  # kinds read from the previous database's declared types
        return schema

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
        return self.remember(DatabaseSchema(db_id, tuple(tables)))


#: sqlglot's dialect-neutral SQL, for texts compared with each other (made once)
_GENERIC = sqlglot_dialect("")


@functools.lru_cache(maxsize=4096)
def _quoted(name: str, dialect: str) -> str:
    """``name`` as a quoted identifier of ``dialect`` (node ids recur at every step)."""
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


@functools.lru_cache(maxsize=4096)
def _select_all(name: str, dialect: str, pretty: bool) -> str:
    """``SELECT * FROM "name"`` as ``dialect`` writes it (the main query of most steps)."""
    star = exp.select(exp.Star()).from_(exp.to_identifier(name, quoted=True))
    return star.sql(dialect=dialect, identify=True, pretty=pretty, copy=False)


def nodes_read(plan, query: exp.Expression) -> list:
    """The nodes of ``plan`` that ``query`` names as tables (each once, in the order named)."""
    found = (plan.get(t.name) for t in query.find_all(exp.Table) if not t.args.get("db"))
    return list({n.id: n for n in found if n is not None}.values())


def needed_nodes(plan, node, cached: dict[str, str]) -> list:
    """The nodes a statement returning ``node``'s rows needs, oldest first (``node`` excluded):
    its inputs and theirs, except behind a node in ``cached``, whose rows are read as they are."""
    found: dict[str, Any] = {}
    stack = list(_reads(plan, node))
    while stack:
        dep = plan.get(stack.pop())
        if dep is None or dep.id in found:
            continue
        found[dep.id] = dep
        if dep.id not in cached:
            stack.extend(_reads(plan, dep))
    return sorted(found.values(), key=lambda n: n.index)


def _reads(plan, node) -> tuple[str, ...]:
    """The tables ``node``'s body reads: its inputs, and those only a subquery names (kept in the plan's cache)."""
    cache = getattr(plan, "rendered", {})
    hit = cache.get(("reads", node.id))
    if hit is not None and hit[0] is node:
        return hit[1]
    names = tuple(dict.fromkeys([*node.inputs, *(t.name for t in node.expression.find_all(exp.Table)
                                                 if not t.args.get("db"))]))
    cache[("reads", node.id)] = (node, names)
    return names


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
    raise UnknownDialectError(f"Unknown dialect {name!r}.{did_you_mean(name, names)} Available: {', '.join(names)}.")


def available() -> list[str]:
    """Names of every dialect that can be loaded."""
    names = set(_REGISTRY) | set(_BUILTIN_MODULES)
    names |= {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names)


def _can_load(name: str) -> bool:
    try:
        return get(name).load_database is not Dialect.load_database
    except Exception:  # a plugin that fails to import cannot load anything
        return False


_BUILTIN_MODULES = {
    "sqlite": "querygym.dialects.sqlite",
    "postgres": "querygym.dialects.postgres",
    "duckdb": "querygym.dialects.duckdb",
}
