"""Rewrites of the sqlglot AST that keep SQLite's meaning on engines that differ.

Each function takes a statement parsed with SQLite's meaning and returns one that means the same
on an engine whose semantics differ (LIKE's case rules, truth values used as numbers, ROUND of
any number, SQLite's date modifiers, ``julianday``); a dialect lists the ones it needs in its
``transforms``.  The helpers below them are shared with the Dialect base class's own rewrites
(numeric affinity, bare columns), which need the dialect's compiled CTEs and so stay methods.
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
