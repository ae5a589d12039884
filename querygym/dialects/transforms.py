"""Rewrites of the sqlglot AST that keep SQLite's meaning on engines that differ.

Each function takes a statement parsed with SQLite's meaning and returns one that means the same
on an engine whose semantics differ (LIKE's case rules, truth values used as numbers, ROUND of
any number, SQLite's date modifiers, ``julianday``), or on SQLite itself in a form it runs
faster (RIGHT and FULL JOIN); a dialect lists the ones it needs in its ``transforms``.  The
helpers below them are shared with the Dialect base class's own rewrites (numeric affinity,
bare columns), which need the dialect's compiled CTEs and so stay methods.
"""

from __future__ import annotations

import re

from sqlglot import exp


def like_as_ilike(expression: exp.Expression) -> exp.Expression:
    """SQLite's LIKE ignores the case of ASCII letters (https://www.sqlite.org/lang_expr.html#like);
    PostgreSQL's and DuckDB's LIKE do not, so LIKE becomes ILIKE (which also folds non-ASCII
    letters, a documented residue)."""
    for like in list(expression.find_all(exp.Like)):
        ilike = exp.ILike(**{k: v for k, v in like.args.items()})
        if like is expression:
            return ilike
        like.replace(ilike)
    return expression


# Where a predicate is read as a truth value; anywhere else it is a value.
_TRUTH_PARENTS = (exp.Where, exp.Having, exp.Connector, exp.Not, exp.Qualify, exp.Filter)


def predicates_as_integers(expression: exp.Expression) -> exp.Expression:
    """SQLite has no boolean type: a comparison is the integer 0 or 1 wherever it stands
    (``SUM(x > 5)``, ``x > 5 AS flag``).  On an engine with booleans, a predicate used as a
    value is cast to INTEGER; predicates in WHERE, HAVING, ON, CASE WHEN and boolean
    connectives stay truth values."""
    candidates = [n for n in expression.find_all(exp.Predicate, exp.Not, exp.Connector, exp.Boolean)
                  if _used_as_value(n)]
    for node in reversed(candidates):  # innermost first: outer casts wrap already-cast children
        cast = exp.Cast(to=exp.DataType.build("INT"))
        if node is expression:
            cast.set("this", node)
            return cast
        node.replace(cast)
        cast.set("this", node)
    return expression


def _used_as_value(node: exp.Expression) -> bool:
    child, parent = node, node.parent
    while isinstance(parent, exp.Paren):
        child, parent = parent, parent.parent
    if parent is None or isinstance(parent, _TRUTH_PARENTS):
        return False
    if isinstance(parent, exp.Join):
        return child.arg_key != "on"
    if isinstance(parent, exp.If):  # CASE WHEN <truth> THEN <value>
        return child.arg_key != "this"
    if isinstance(parent, exp.Case):  # CASE <value> WHEN ...: a simple CASE compares values
        return True
    return True


def round_through_numeric(expression: exp.Expression) -> exp.Expression:
    """PostgreSQL has ``round(numeric, int)`` but no ``round(double precision, int)``: the value
    goes through NUMERIC, which rounds half away from zero as SQLite does."""
    for node in list(expression.find_all(exp.Round)):
        if node.args.get("decimals") is not None:
            node.set("this", exp.Cast(this=node.this, to=exp.DataType.build("DECIMAL")))
    return expression


# Text SQLite's numeric affinity turns into a number: an integer or real literal, spaces around.
NUMERIC_TEXT = r"^\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"


NUMERIC_PREFIX = r"^\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"


def string_literal(node: exp.Expression) -> bool:
    """Whether ``node`` is a string literal."""
    return isinstance(node, exp.Literal) and node.is_string


def select_of(body: exp.Expression) -> exp.Select | None:
    """The SELECT a body reads its columns from (the left branch of a set operation)."""
    while isinstance(body, exp.SetOperation):
        body = body.this
    return body if isinstance(body, exp.Select) else None


def type_kind(type_name: str | None) -> str | None:
    """``text``, ``number`` or None for a declared type, by SQLite's affinity rules."""
    t = (type_name or "").upper()
    if any(k in t for k in ("CHAR", "TEXT", "CLOB", "STRING")):
        return "text"
    if any(k in t for k in ("INT", "REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return "number"
    return None


def is_aggregate(node: exp.Expression) -> bool:
    # SQLite's max(a, b) and min(a, b) with two arguments are scalar functions
    """Whether ``node`` aggregates (SQLite's two-argument MAX and MIN are scalar)."""
    return not (isinstance(node, (exp.Max, exp.Min)) and node.expressions)


_SHIFT = re.compile(r"^\s*([+-]?\d+)\s+(day|month|year|hour|minute|second)s?\s*$", re.I)
_START = re.compile(r"^\s*start of (day|month|year)\s*$", re.I)
_DATE_FORMATS = {"DATE": "%Y-%m-%d", "DATETIME": "%Y-%m-%d %H:%M:%S"}


def sqlite_date_functions(expression: exp.Expression) -> exp.Expression:
    """SQLite's ``date(t, modifier, ...)`` and ``datetime(...)`` return text and take modifiers
    (``'start of month'``, ``'-1 month'``, ``'+7 days'``;
    https://www.sqlite.org/lang_datefunc.html#modifiers): here the timestamp is truncated and
    shifted by intervals, then written back as text.  Other modifiers are left to fail.
    Month arithmetic from the 29th to the 31st differs: SQLite overflows into the next month
    (Jan 31 + 1 month = Mar 3), PostgreSQL and DuckDB clamp (Feb 28)."""
    for node in list(expression.find_all(exp.Anonymous, exp.Date)):
        if isinstance(node, exp.Date):
            if node.expressions or node.args.get("zone") is not None:
                continue
            name, value, modifiers = "DATE", node.this, []
        else:
            name = node.name.upper()
            if name not in _DATE_FORMATS or not node.expressions:
                continue
            value, modifiers = node.expressions[0], node.expressions[1:]
        stamp: exp.Expression = exp.Cast(this=value.copy(), to=exp.DataType.build("TIMESTAMP"))
        for modifier in modifiers:
            text = modifier.name if isinstance(modifier, exp.Literal) and modifier.is_string else None
            start = _START.match(text or "")
            shift = _SHIFT.match(text or "")
            if start:
                stamp = exp.TimestampTrunc(this=stamp, unit=exp.var(start.group(1).upper()))
            elif shift:
                stamp = exp.Add(this=stamp, expression=exp.Interval(this=exp.Literal.string(shift.group(1)),
                                                                    unit=exp.var(shift.group(2).upper())))
            else:
                break
        else:
            replacement = exp.TimeToStr(this=stamp, format=exp.Literal.string(_DATE_FORMATS[name]))
            if node is expression:
                return replacement
            node.replace(replacement)
    return expression


def julianday_from_epoch(expression: exp.Expression) -> exp.Expression:
    """SQLite's ``julianday(t)`` (days since noon, 24 November 4714 BC) has no PostgreSQL or
    DuckDB twin: it is the Unix epoch in days plus the Julian day of 1970-01-01, 2440587.5."""
    for node in list(expression.find_all(exp.Anonymous)):
        if node.name.lower() == "julianday" and len(node.expressions) == 1:
            stamp = exp.Cast(this=node.expressions[0], to=exp.DataType.build("TIMESTAMP"))
            epoch = exp.Extract(this=exp.var("EPOCH"), expression=stamp)
            days = exp.Add(this=exp.Div(this=epoch, expression=exp.Literal.number("86400.0")),
                           expression=exp.Literal.number("2440587.5"))
            replacement = exp.Paren(this=days)
            if node is expression:
                return replacement
            node.replace(replacement)
    return expression


# ---------------------------------------------------------------------------------- SQLite itself
_OUTER_FIRST = ("FULL", "RIGHT")


def outer_joins_as_left_joins(expression: exp.Expression) -> exp.Expression:
    """SQLite gives the right-hand table of a RIGHT or FULL JOIN no automatic index
    (https://www.sqlite.org/optoverview.html#autoindex), so joining on a column no index covers
    compares every pair of rows: 3,203 rows FULL JOIN 3,203 take about 0.5 s, and a larger pair
    runs into the time limit.  A LEFT JOIN gets the index.  So a query whose first join is RIGHT
    or FULL (its joins after that INNER, LEFT or CROSS, every column named with its table, and no
    WHERE, grouping, DISTINCT, ordering or limit) becomes the same rows as two LEFT-joined parts:

    * ``A FULL JOIN B ON c ...`` is ``A LEFT JOIN B ON c ...`` (``A RIGHT JOIN B`` is ``A JOIN B``),
    * ``UNION ALL`` the rows of ``B`` that no row of ``A`` matches, with ``A``'s columns NULL:
      ``B LEFT JOIN (SELECT 1 AS m, <A's columns the query names> FROM A) AS A ON c ... WHERE A.m IS NULL``.

    The later joins act on each row alone, so they distribute over the two parts; both parts list
    the query's own columns, so the result has the FULL JOIN's columns, types and SQLite affinity.
    Any other query is left as it is.
    """
    for select in [s for s in expression.find_all(exp.Select) if first_join_is_outer(s)]:
        rewritten = _as_left_joins(select)
        if rewritten is None:
            continue
        if select is expression:
            return rewritten
        select.replace(rewritten)
    return expression


def first_join_is_outer(select: exp.Select) -> bool:
    """Whether ``select``'s first join is a RIGHT or FULL JOIN (see :func:`outer_joins_as_left_joins`)."""
    joins = select.args.get("joins") or []
    return bool(joins) and (joins[0].args.get("side") or "").upper() in _OUTER_FIRST


def _as_left_joins(select: exp.Select) -> exp.Expression | None:
    joins = select.args["joins"]
    first = joins[0]
    if (first.args.get("method") or first.args.get("using") or not first.args.get("on")
            or any(k for k, v in select.args.items() if v and k not in ("expressions", "from_", "joins"))
            or any((j.args.get("side") or "").upper() in _OUTER_FIRST or j.args.get("method") or j.args.get("using")
                   for j in joins[1:])):
        return None
    left = select.args["from_"].this
    name = left.alias_or_name
    columns = list(select.find_all(exp.Column))
    if (not name or select.find(exp.Star) is not None or any(not c.table for c in columns)
            or any(s is not select for s in select.find_all(exp.Select))):
        return None  # a star, an unqualified column or a subquery: which table a name belongs to is unclear
    if any(isinstance(f, exp.Window | exp.Anonymous) or isinstance(f, exp.AggFunc) and is_aggregate(f)
           for e in select.expressions for f in e.find_all(exp.AggFunc, exp.Window, exp.Anonymous)):
        # an aggregate over the whole join is not the union of the parts' aggregates (and a
        # function sqlglot does not know might be one)
        return None
    named = list(dict.fromkeys(c.name for c in columns if c.table.casefold() == name.casefold()))
    marker = "qg_matched"
    while marker.casefold() in {n.casefold() for n in named}:
        marker += "_"
    matched = select.copy()
    matched.args["joins"][0].set("side", "LEFT" if (first.args.get("side") or "").upper() == "FULL" else None)
    matched.args["joins"][0].set("kind", None)
    marker_side = exp.Select(expressions=[exp.alias_(exp.Literal.number(1), marker, quoted=True)]
                             + [exp.column(n, table=name, quoted=True) for n in named])
    marker_side.set("from_", exp.From(this=left.copy()))
    unmatched = select.copy()
    right = unmatched.args["joins"][0].this
    joined = exp.Join(this=marker_side.subquery(exp.to_identifier(name, quoted=True)), side="LEFT",
                      on=first.args["on"].copy())
    unmatched.set("from_", exp.From(this=right))
    unmatched.set("joins", [joined, *unmatched.args["joins"][1:]])
    unmatched.set("where", exp.Where(this=exp.Is(this=exp.column(marker, table=name, quoted=True), expression=exp.Null())))
    return exp.Union(this=matched, expression=unmatched, distinct=False)
