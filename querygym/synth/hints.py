"""What a database's gold queries tell a data generator: the literals each column is compared
with, the ranges comparisons give, the join predicates between columns, and one *witness* per
query — a set of rows (one per table reference) with the values that make its filters and joins
hold, so the synthesised database gives the query a non-empty answer.

Columns are resolved against the schema scope by scope (sqlglot's :mod:`~sqlglot.optimizer.scope`):
a qualified column through its table alias, an unqualified one through the one table of the
scope (or an enclosing scope, for correlated subqueries) that has it; a column of a derived
table or CTE through the projection that defines it.

>>> from querygym.schema import Column, DatabaseSchema, TableSchema
>>> schema = DatabaseSchema("shop", (TableSchema("item", (Column("id", "INTEGER"), Column("name", "TEXT")), ("id",)),))
>>> h = DatabaseHints(schema)
>>> h.add_query("SELECT id FROM item WHERE name LIKE 'Blue%'")
True
>>> h.literals[("item", "name")]
['Blue']
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from querygym.schema import DatabaseSchema, TableSchema

#: a column of the schema: (table name, column name), spelled as the schema spells them
ColumnRef = tuple[str, str]
#: one table reference of one query scope: (query number, scope number, alias)
RowVar = tuple[int, int, str]


@dataclass
class Slot:
    """What the predicates of one query say about a set of columns that must hold one value."""

    members: list[tuple[RowVar, ColumnRef]] = field(default_factory=list)
    eq: Any = None
    has_eq: bool = False
    options: list[Any] = field(default_factory=list)
    like: str | None = None
    low: Any = None
    high: Any = None
    is_null: bool = False
    time_format: str | None = None
    time_value: str | None = None
    time_op: str = "eq"
    prefix: tuple[int, str] | None = None
    #: "min" / "max": below / above everything else (compared with a scalar subquery)
    extreme: str | None = None
    #: the same value in every copy of the witness (a GROUP BY column under HAVING COUNT)
    shared: bool = False

    @property
    def constrained(self) -> bool:
        """Whether some gold query restricts the slot's value (an equality, range, pattern, NULL, ...)."""
        return (self.has_eq or bool(self.options) or self.like is not None or self.low is not None
                or self.extreme is not None
                or self.high is not None or self.is_null or self.time_value is not None or self.prefix is not None)


@dataclass
class Witness:
    """The rows one query needs: a slot per group of joined columns, and the table of each row."""

    query: int
    rows: dict[RowVar, str] = field(default_factory=dict)
    slots: list[Slot] = field(default_factory=list)
    copies: int = 1


class _UnionFind:
    def __init__(self):
        self.parent: dict = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def literal_value(node: exp.Expression) -> Any:
    """The Python value of a literal (a number, a string, a negated number), else ``None``."""
    if isinstance(node, exp.Paren):
        return literal_value(node.this)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        value = literal_value(node.this)
        return -value if value is not None else None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        text = node.this
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return text
    if isinstance(node, exp.Boolean):
        return int(bool(node.this))
    return None


def _is_literal(node: exp.Expression) -> bool:
    return literal_value(node) is not None


_FLIP = {exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LTE, exp.LTE: exp.GTE, exp.EQ: exp.EQ, exp.NEQ: exp.NEQ}


class DatabaseHints:
    """Everything the gold queries of one database say about its data."""

    def __init__(self, schema: DatabaseSchema, dialect: str = "sqlite"):
        self.schema = schema
        self.dialect = dialect
        self._tables = {t.name.casefold(): t for t in schema.tables}
        #: literals each column meets (in order of first appearance, no duplicates)
        self.literals: dict[ColumnRef, list[Any]] = {}
        #: column pairs that some gold query equates (join predicates), in order of appearance
        self.joins: list[tuple[ColumnRef, ColumnRef]] = []
        self.witnesses: list[Witness] = []
        self.failed: list[tuple[int, str]] = []
        self._count = 0

    # -- resolution ----------------------------------------------------------------------------
    def table(self, name: str) -> TableSchema | None:
        """The schema's table called ``name`` (case-insensitively), or None."""
        return self._tables.get(str(name).casefold())

    def _column_name(self, table: TableSchema, name: str) -> str | None:
        col = table.column(name)
        return col.name if col is not None else None

    def _resolve(self, column: exp.Column, scope: Scope, depth: int = 0):
        """(row variable, column ref) of a column expression, or None when it is not a base column."""
        if depth > 8 or not isinstance(column, exp.Column) or isinstance(column.this, exp.Star):
            return None
        qualifier, name = column.table, column.name
        current = scope
        while current is not None:
            found = self._resolve_in(current, qualifier, name, depth)
            if found is not None:
                return found
            if qualifier and _source(current, qualifier) is not None:
                return None
            current = current.parent
        return None

    def _resolve_in(self, scope: Scope, qualifier: str, name: str, depth: int):
        items = [(qualifier, _source(scope, qualifier))] if qualifier else list(scope.sources.items())
        for alias, source in items:
            if source is None:
                continue
            if isinstance(source, exp.Table):
                table = self.table(source.name)
                col = self._column_name(table, name) if table is not None else None
                if col is not None:
                    return (self._scope_ids[id(scope)], alias), (table.name, col)
            elif isinstance(source, Scope):
                select = source.expression
                while isinstance(select, exp.SetOperation):
                    select = select.this
                if not isinstance(select, exp.Select):
                    continue
                for projection in select.expressions:
                    if projection.alias_or_name.casefold() == name.casefold():
                        inner = projection.this if isinstance(projection, exp.Alias) else projection
                        if isinstance(inner, exp.Column):
                            return self._resolve(inner, source, depth + 1)
                        return None
        return None

    # -- analysis ------------------------------------------------------------------------------
    def add_query(self, sql: str) -> bool:
        """Read one gold query; False (and the reason in :attr:`failed`) when it cannot be read."""
        number = self._count
        self._count += 1
        logger = logging.getLogger("sqlglot")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            tree = sqlglot.parse_one(sql, read=self.dialect)
            scopes = traverse_scope(tree)
        except Exception as exc:  # sqlglot cannot read it: the query gets no witness
            self.failed.append((number, f"{type(exc).__name__}: {exc}"))
            return False
        finally:
            logger.setLevel(level)
        self._scope_ids = {id(s): i for i, s in enumerate(scopes)}
        by_expression = {id(s.expression): s for s in scopes}
        witness = Witness(number)
        links = _UnionFind()
        constraints: list[tuple[tuple, str, Any]] = []
        shared: list = []
        # the rows of both sides of an INTERSECT must project the same values
        for node in tree.find_all(exp.Intersect):
            left, right = _first_select(node.this), _first_select(node.expression)
            left_scope = by_expression.get(id(left)) if left is not None else None
            right_scope = by_expression.get(id(right)) if right is not None else None
            if left_scope is None or right_scope is None:
                continue
            for a, b in zip(left.expressions, right.expressions):
                a, b = (x.this if isinstance(x, exp.Alias) else x for x in (a, b))
                ra = self._resolve(a, left_scope) if isinstance(a, exp.Column) else None
                rb = self._resolve(b, right_scope) if isinstance(b, exp.Column) else None
                if ra is not None and rb is not None:
                    links.union(ra, rb)
        for scope in scopes:
            for alias, source in scope.sources.items():
                if isinstance(source, exp.Table) and self.table(source.name) is not None:
                    witness.rows[(self._scope_ids[id(scope)], alias)] = self.table(source.name).name
            select = scope.expression
            if not isinstance(select, exp.Select):
                continue
            conditions = []
            if select.args.get("where") is not None:
                conditions.append(select.args["where"].this)
            for join in select.args.get("joins") or []:
                if join.args.get("on") is not None:
                    conditions.append(join.args["on"])
            if select.args.get("having") is not None:
                copies = _having_copies(select.args["having"].this)
                if copies > witness.copies:
                    witness.copies = copies
                    for key in select.args.get("group").expressions if select.args.get("group") else []:
                        found = self._resolve(key, scope) if isinstance(key, exp.Column) else None
                        if found is not None:
                            links.find(found)
                            shared.append(found)
            for condition in conditions:
                self._as_literals(condition, scope)
                condition = _strip(condition)
                for predicate in _conjuncts(condition):
                    self._predicate(predicate, scope, by_expression, links, constraints)
        # group the linked columns of this query into slots
        slots: dict[Any, Slot] = {}
        keys = list(links.parent)
        for key in keys:
            root = links.find(key)
            slots.setdefault(root, Slot()).members.append(key)
        for key, kind, value in constraints:
            root = links.find(key)
            if root not in slots:
                slots[root] = Slot(members=[key])
            _constrain(slots[root], kind, value)
        shared_roots = {links.find(k) for k in shared}
        for root, slot in slots.items():
            slot.shared = root in shared_roots
        witness.slots = list(slots.values())
        if witness.rows:
            self.witnesses.append(witness)
        return True

    def _note_literal(self, ref: ColumnRef, value: Any) -> None:
        if value is None:
            return
        pool = self.literals.setdefault(ref, [])
        if value not in pool:
            pool.append(value)

    def _as_literals(self, node, scope) -> None:
        """Double-quoted strings that name no column are string literals (SQLite reads them so, and
        Spider's gold SQL is full of them): turn them into literals in place."""
        for column in list(node.find_all(exp.Column)):
            ident = column.this
            if column.table or not isinstance(ident, exp.Identifier) or not ident.quoted:
                continue
            if self._resolve(column, scope) is None and not _names_projection(scope, column.name):
                column.replace(exp.Literal.string(column.name))

    def _predicate(self, node, scope, by_expression, links, constraints) -> None:
        if isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Or):  # a disjunction holds when its first branch does
            for branch in _disjuncts(node):
                for part in _conjuncts(branch):
                    self._literals_only(part, scope)
            first = _disjuncts(node)[0]
            for part in _conjuncts(first):
                self._predicate(part, scope, by_expression, links, constraints)
            return
        if isinstance(node, exp.Not):
            inner = node.this.this if isinstance(node.this, exp.Paren) else node.this
            if isinstance(inner, exp.Is):
                return  # IS NOT NULL: generated values are not null
            self._literals_only(inner, scope)
            return
        if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
            target = self._target(node.this, scope)
            if target is not None:
                constraints.append((target[0], "null", None))
            return
        if isinstance(node, (exp.Like, exp.ILike)):
            target = self._target(node.this, scope)
            pattern = literal_value(node.expression)
            if target is not None and isinstance(pattern, str):
                value = like_example(pattern)
                self._note_literal(target[0][1], value)
                constraints.append((target[0], "like", pattern))
            return
        if isinstance(node, exp.Between):
            target = self._target(node.this, scope)
            low, high = literal_value(node.args["low"]), literal_value(node.args["high"])
            if target is not None and low is not None and high is not None:
                key, wrapper = target
                self._note_literal(key[1], low)
                self._note_literal(key[1], high)
                if wrapper is None:
                    constraints.append((key, "low", low))
                    constraints.append((key, "high", high))
                elif isinstance(wrapper, exp.TimeToStr):
                    constraints.append((key, "time", (wrapper, "eq", low)))
            return
        if isinstance(node, exp.In):
            target = self._target(node.this, scope)
            query = node.args.get("query")
            if target is None:
                return
            key, wrapper = target
            if query is not None:
                sub = query.this if isinstance(query, exp.Subquery) else query
                sub_scope = by_expression.get(id(sub))
                if sub_scope is not None and isinstance(sub, exp.Select) and sub.expressions:
                    projection = sub.expressions[0]
                    projection = projection.this if isinstance(projection, exp.Alias) else projection
                    other = self._resolve(projection, sub_scope) if isinstance(projection, exp.Column) else None
                    if other is not None and wrapper is None:
                        links.union(key, other)
                        self._note_join(key[1], other[1])
                return
            values = [literal_value(v) for v in node.expressions]
            values = [v for v in values if v is not None]
            for v in values:
                self._note_literal(key[1], v)
            if values and wrapper is None:
                constraints.append((key, "options", values))
            return
        if type(node) in _FLIP:
            left, right = node.this, node.expression
            kind = type(node)
            if _is_literal(left) and not _is_literal(right):
                left, right, kind = right, left, _FLIP[kind]
            left_target = self._target(left, scope)
            if left_target is None:
                return
            key, wrapper = left_target
            if _is_literal(right):
                value = literal_value(right)
                if wrapper is None or not isinstance(wrapper, (exp.TimeToStr, exp.Substring)):
                    self._note_literal(key[1], value)
                if kind is exp.NEQ:
                    return
                if isinstance(wrapper, exp.TimeToStr):
                    op = {exp.EQ: "eq", exp.GT: "gt", exp.GTE: "eq", exp.LT: "lt", exp.LTE: "eq"}[kind]
                    constraints.append((key, "time", (wrapper, op, value)))
                elif isinstance(wrapper, exp.Substring):
                    start = literal_value(wrapper.args.get("start")) if wrapper.args.get("start") else 1
                    if kind is exp.EQ and isinstance(start, int) and start >= 1:
                        constraints.append((key, "prefix", (start, str(value))))
                elif kind is exp.EQ:
                    constraints.append((key, "eq", value))
                elif kind in (exp.GT, exp.GTE):
                    constraints.append((key, "low", value))
                else:
                    constraints.append((key, "high", value))
                return
            if isinstance(right, exp.Subquery) and kind in (exp.LT, exp.LTE, exp.GT, exp.GTE) and wrapper is None:
                constraints.append((key, "extreme", "min" if kind in (exp.LT, exp.LTE) else "max"))
                return
            right_target = self._target(right, scope)
            if kind is exp.EQ and right_target is not None and wrapper is None and right_target[1] is None:
                links.union(key, right_target[0])
                self._note_join(key[1], right_target[0][1])

    def _literals_only(self, node, scope) -> None:
        """Note the literals a predicate compares columns with, without constraining a witness."""
        for cmp in node.find_all(exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In, exp.Like):
            column = cmp.this
            target = self._target(column, scope)
            if target is None or target[1] is not None:
                continue
            if isinstance(cmp, exp.In):
                for v in cmp.expressions:
                    self._note_literal(target[0][1], literal_value(v))
            elif isinstance(cmp, exp.Like):
                value = literal_value(cmp.expression)
                if isinstance(value, str):
                    self._note_literal(target[0][1], like_example(value))
            else:
                self._note_literal(target[0][1], literal_value(cmp.expression))

    def _note_join(self, a: ColumnRef, b: ColumnRef) -> None:
        if a != b and (a, b) not in self.joins and (b, a) not in self.joins:
            self.joins.append((a, b))

    def _target(self, node, scope):
        """((row variable, column), wrapper) for a column, possibly under a function the generator
        understands (a cast, a case change, a trim, strftime, substr); wrapper is None for a bare column."""
        wrapper = None
        while True:
            if isinstance(node, exp.Paren) or isinstance(node, (exp.Cast, exp.TryCast, exp.Lower, exp.Upper, exp.Trim)):
                node = node.this
            elif isinstance(node, (exp.TimeToStr, exp.Substring)) and wrapper is None:
                wrapper = node
                node = node.this
            elif isinstance(node, (exp.TsOrDsToTimestamp, exp.TsOrDsToDate, exp.TimeStrToTime, exp.StrToTime,
                                   exp.Date)) and node.this is not None:
                node = node.this
            else:
                break
        if not isinstance(node, exp.Column):
            return None
        found = self._resolve(node, scope)
        return (found, wrapper) if found is not None else None


def _first_select(node):
    while isinstance(node, (exp.SetOperation, exp.Subquery, exp.Paren)):
        node = node.this
    return node if isinstance(node, exp.Select) else None


def _names_projection(scope: Scope, name: str) -> bool:
    select = scope.expression
    return isinstance(select, exp.Select) and any(
        isinstance(p, exp.Alias) and p.alias.casefold() == name.casefold() for p in select.expressions)


def _strip(node):
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _source(scope: Scope, alias: str):
    if alias in scope.sources:
        return scope.sources[alias]
    folded = [v for k, v in scope.sources.items() if k.casefold() == alias.casefold()]
    return folded[0] if len(folded) == 1 else None


def _conjuncts(node) -> list:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


def _disjuncts(node) -> list:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Or):
        return _disjuncts(node.this) + _disjuncts(node.expression)
    return [node]


def _having_copies(node) -> int:
    """How many rows per group a HAVING COUNT(...) > n needs (at most 6)."""
    best = 1
    for cmp in node.find_all(exp.GT, exp.GTE, exp.EQ):
        if isinstance(cmp.this, exp.Count) and _is_literal(cmp.expression):
            value = literal_value(cmp.expression)
            if isinstance(value, (int, float)):
                best = max(best, int(value) + (1 if isinstance(cmp, exp.GT) else 0))
    return max(1, min(best, 6))


def _constrain(slot: Slot, kind: str, value: Any) -> None:
    if kind == "eq":
        if not slot.has_eq:
            slot.eq, slot.has_eq = value, True
    elif kind == "options":
        if not slot.options:
            slot.options = list(value)
    elif kind == "like":
        slot.like = slot.like or value
    elif kind == "low":
        slot.low = value if slot.low is None else _max(slot.low, value)
    elif kind == "high":
        slot.high = value if slot.high is None else _min(slot.high, value)
    elif kind == "extreme":
        slot.extreme = slot.extreme or value
    elif kind == "null":
        slot.is_null = True
    elif kind == "time":
        wrapper, op, literal = value
        fmt = literal_value(wrapper.args.get("format")) if wrapper.args.get("format") is not None else None
        if isinstance(fmt, str) and slot.time_value is None:
            slot.time_format, slot.time_op, slot.time_value = fmt, op, str(literal)
    elif kind == "prefix":
        slot.prefix = slot.prefix or value


def _max(a, b):
    try:
        return max(a, b)
    except TypeError:
        return a


def _min(a, b):
    try:
        return min(a, b)
    except TypeError:
        return a


def like_example(pattern: str) -> str:
    """A string that matches a LIKE pattern: ``%`` matches nothing, ``_`` one letter.

    >>> like_example("%Blue_ Ridge%")
    'Bluex Ridge'
    """
    return pattern.replace("%", "").replace("_", "x")


def time_example(fmt: str, value: str, op: str = "eq") -> str | None:
    """An ISO date-time whose ``strftime(fmt)`` is ``value`` (or just above / below it for
    ``op`` ``gt`` / ``lt``), or None when ``value`` does not read with ``fmt``.

    >>> time_example("%Y", "2012"), time_example("%Y-%m", "2013-07", "gt")
    ('2012-06-15 12:00:00', '2013-08-15 12:00:00')
    """
    fields = {"%Y": "year", "%m": "month", "%d": "day", "%H": "hour", "%M": "minute"}
    try:
        parsed = dt.datetime.strptime(value.strip(), fmt)
    except (ValueError, TypeError):
        return None
    present = {name for code, name in fields.items() if code in fmt}
    moment = dt.datetime(parsed.year if "year" in present else 2015, parsed.month if "month" in present else 6,
                         parsed.day if "day" in present else 15, parsed.hour if "hour" in present else 12,
                         parsed.minute if "minute" in present else 0)
    if op in ("gt", "lt"):
        step = 1 if op == "gt" else -1
        if "day" in present:
            moment += dt.timedelta(days=step)
        elif "month" in present:
            month = moment.month + step
            year = moment.year + (month - 1) // 12
            moment = moment.replace(year=year, month=(month - 1) % 12 + 1)
        elif "year" in present:
            moment = moment.replace(year=moment.year + step)
        else:
            moment += dt.timedelta(hours=step)
    return moment.strftime("%Y-%m-%d %H:%M:%S")
