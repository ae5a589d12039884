"""The twelve exploration actions: each reads data or metadata and returns text; none changes state.

A handler receives the episode and the parsed action; an agent mistake (unknown table or
column) raises :class:`~querygym.errors.PlanError`, which the episode turns into an error
observation.  Queries are built as sqlglot ASTs over the named table (a base table or an
intermediate one, compiled with its lineage) and run through the episode's guarded backend.
"""

from __future__ import annotations

import math
import statistics
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlglot import exp

from querygym.actions.catalog import Action
from querygym.env.handlers import exploration
from querygym.env.render import format_table, format_value
from querygym.errors import PlanError
from querygym.plan.ops import Resolver, Source, parse_select_list, source, with_limit

if TYPE_CHECKING:
    from querygym.env.episode import Episode

STATS_ROW_LIMIT = 100_000


# ---------------------------------------------------------------------- helpers
def _column(ep: "Episode", src: Source, text: str) -> exp.Expression:
    """The column (or scalar expression) the agent named, resolved against ``src``."""
    distinct, items = parse_select_list(text, ep.dialect)
    if distinct or len(items) != 1:
        raise PlanError(f"Name exactly one column, like {src.qualifier}.{src.columns[0].name if src.columns else 'x'}; "
                        f"got {text!r}.")
    resolved = Resolver([src], ep.context(), raw_text=text).resolve(items[0])
    if isinstance(resolved, exp.Alias):
        resolved = resolved.this
    if resolved.find(exp.AggFunc):
        raise PlanError("Name a column, not an aggregate; use perform_aggregate to aggregate.")
    return resolved


def _query(ep: "Episode", src: Source, *expressions: exp.Expression) -> exp.Select:
    return exp.Select(expressions=list(expressions)).from_(src.table_expression(), copy=False)


def _run(ep: "Episode", query: exp.Query, max_rows: int | None = None):
    # intermediate tables whose rows the episode keeps are read from their tables, not computed again
    sql = ep.cache.reading(ep.plan, query)
    return ep.backend.execute(sql, max_rows=max_rows)


def _describe_source(src: Source) -> str:
    if src.node is not None:
        return f"{src.qualifier} (intermediate table made by {src.node.operation})"
    return src.qualifier if src.alias is None else f"{src.qualifier} (table {src.name})"


def _type_of(values: list[Any]) -> str:
    kinds = {type(v).__name__ for v in values if v is not None}
    names = {"int": "INTEGER", "float": "REAL", "str": "TEXT", "bytes": "BLOB", "Decimal": "NUMERIC",
             "bool": "BOOLEAN", "date": "DATE", "datetime": "TIMESTAMP"}
    if not kinds:
        return "NULL"
    return " / ".join(sorted(names.get(k, k.upper()) for k in kinds))


# ---------------------------------------------------------------------- the actions
@exploration("get_overview")
def get_overview(ep: "Episode", action: Action) -> str:
    """The question, the evidence and the schema, as at reset."""
    return ep.overview()


@exploration("get_query")
def get_query(ep: "Episode", action: Action) -> str:
    """The question again (and the evidence when there is some)."""
    text = f"Question: {ep.task.question}"
    if ep.task.evidence:
        text += f"\nEvidence: {ep.task.evidence}"
    return text


@exploration("get_schema")
def get_schema(ep: "Episode", action: Action) -> str:
    """Every table of the database with its columns, types and keys."""
    text = f"Database {ep.schema.db_id}:\n{ep.schema.describe()}"
    if len(ep.plan):
        text += "\n\nIntermediate tables:\n" + "\n".join(
            f"{n.id} ({', '.join(f'{c.name} {c.type}'.rstrip() for c in n.schema)}) made by {n.operation}"
            for n in ep.plan)
    return text


@exploration("get_tables")
def get_tables(ep: "Episode", action: Action) -> str:
    """The base tables and the intermediate tables built so far."""
    text = "Tables: " + ", ".join(ep.schema.table_names)
    if len(ep.plan):
        text += "\nIntermediate tables: " + ", ".join(ep.plan.ids)
    return text


@exploration("get_columns")
def get_columns(ep: "Episode", action: Action) -> str:
    """The columns of one table with their types."""
    src = source(action["table_id"], ep.context())
    cols = ", ".join(f"{src.qualifier}.{c.name}" for c in src.columns)
    return f"Columns of {_describe_source(src)}: {cols}"


@exploration("get_actions")
def get_actions(ep: "Episode", action: Action) -> str:
    """Help for every action offered on this task."""
    return "\n\n".join(ep.catalog.render_group(g) for g in ("exploration", "workflow") if g in ep.groups)


@exploration("get_operations")
def get_operations(ep: "Episode", action: Action) -> str:
    """Help for the eight relational-algebra operations."""
    return ep.catalog.render_group("operation")


@exploration("preview_table")
def preview_table(ep: "Episode", action: Action) -> str:
    """The first rows of a table."""
    src = source(action["table_id"], ep.context())
    n = int(ep.catalog.settings.get("preview_rows", 5))
    query = with_limit(_query(ep, src, exp.Star()), n)
    result = _run(ep, query, max_rows=n)
    return f"First {len(result.rows)} row(s) of {_describe_source(src)}:\n" + format_table(result.columns, result.rows)


@exploration("get_column_types")
def get_column_types(ep: "Episode", action: Action) -> str:
    """The declared type of a column and the types its values have."""
    src = source(action["table_id"], ep.context())
    sample = _run(ep, with_limit(_query(ep, src, exp.Star()), 100), max_rows=100)
    lines = []
    for i, col in enumerate(src.columns):
        seen = _type_of([row[i] for row in sample.rows]) if i < len(sample.columns) else "NULL"
        declared = col.type or "(none declared)"
        lines.append(f"{src.qualifier}.{col.name}: declared {declared}; values seen: {seen}")
    return f"Column types of {_describe_source(src)}:\n" + "\n".join(lines)


@exploration("get_unique_values")
def get_unique_values(ep: "Episode", action: Action) -> str:
    """The distinct values of a column with their counts, most frequent first."""
    src = source(action["table_id"], ep.context())
    column = _column(ep, src, action["column_id"])
    limit = int(ep.catalog.settings.get("unique_values_limit", 50))
    count_query = _query(ep, src, exp.Count(this=exp.Distinct(expressions=[column.copy()])),
                         exp.func("SUM", exp.Case().when(exp.Is(this=column.copy(), expression=exp.Null()),
                                                         exp.Literal.number(1)).else_(exp.Literal.number(0))))
    distinct, nulls = _run(ep, count_query, max_rows=1).rows[0]
    values_query = with_limit(exp.Select(expressions=[column.copy()], distinct=exp.Distinct()).from_(
        src.table_expression(), copy=False).where(exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())),
                                                  copy=False).order_by(column.copy(), copy=False), limit)
    values = [row[0] for row in _run(ep, values_query, max_rows=limit).rows]
    shown = ", ".join(repr(v) if isinstance(v, str) else format_value(v) for v in values)
    more = f" (first {len(values)} in sorted order)" if distinct > len(values) else ""
    null_note = f"; plus NULL in {nulls} row(s)" if nulls else ""
    return f"{action['column_id']} has {distinct} distinct non-NULL value(s){more}{null_note}: {shown}"


@exploration("get_sample_values")
def get_sample_values(ep: "Episode", action: Action) -> str:
    """A few values of a column drawn with the episode's random generator."""
    src = source(action["table_id"], ep.context())
    column = _column(ep, src, action["column_id"])
    k = int(ep.catalog.settings.get("sample_values_count", 5))
    pool_query = with_limit(exp.Select(expressions=[column.copy()], distinct=exp.Distinct()).from_(
        src.table_expression(), copy=False).where(exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())),
                                                  copy=False), 1000)
    pool = [row[0] for row in _run(ep, pool_query, max_rows=1000).rows]
    if len(pool) > k:
        picks = sorted(ep.np_random.choice(len(pool), size=k, replace=False).tolist())
        pool = [pool[i] for i in picks]
    shown = ", ".join(repr(v) if isinstance(v, str) else format_value(v) for v in pool)
    return f"Sample values of {action['column_id']}: {shown or '(only NULLs)'}"


@exploration("get_column_stats")
def get_column_stats(ep: "Episode", action: Action) -> str:
    """Count, nulls, distinct values and, for numbers, range, mean and quartiles."""
    src = source(action["table_id"], ep.context())
    column = _column(ep, src, action["column_id"])
    counts = _query(ep, src, exp.Count(this=exp.Star()), exp.Count(this=column.copy()),
                    exp.Count(this=exp.Distinct(expressions=[column.copy()])))
    total, non_null, distinct = _run(ep, counts, max_rows=1).rows[0]
    values_query = with_limit(_query(ep, src, column.copy()).where(
        exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())), copy=False), STATS_ROW_LIMIT)
    values = [row[0] for row in _run(ep, values_query, max_rows=STATS_ROW_LIMIT).rows]
    lines = [f"Statistics of {action['column_id']} in {_describe_source(src)}:",
             f"rows: {total}", f"non-NULL: {non_null}", f"NULL: {total - non_null}", f"distinct: {distinct}"]
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if values and len(numbers) == len(values):
        finite = [v for v in numbers if math.isfinite(v)]
        lines += _numeric_stats(finite)
    elif values:
        texts = [str(v) for v in values]
        lengths = [len(t) for t in texts]
        top = _top_values(values, 5)
        lines += [f"type: text ({len(values) - len(numbers)} non-numeric value(s))",
                  f"length min/mean/max: {min(lengths)} / {statistics.fmean(lengths):.1f} / {max(lengths)}",
                  "most frequent: " + ", ".join(f"{format_value(v)!s} ({c})" for v, c in top)]
    if non_null > len(values):
        lines.append(f"(distribution computed over the first {len(values)} non-NULL values)")
    return "\n".join(lines)


def _numeric_stats(values: list[float]) -> list[str]:
    if not values:
        return []
    array = np.sort(np.asarray(values, dtype=np.float64))
    ordered = array.tolist()
    n = len(ordered)

    def quantile(q: float) -> float:
        pos = (n - 1) * q
        lo, hi = math.floor(pos), math.ceil(pos)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    mean, std, skew = _moments(ordered, array)
    fmt = lambda v: format_value(round(v, 6))  # noqa: E731
    return [f"mean: {fmt(mean)}", f"std: {fmt(std)}", f"min: {fmt(ordered[0])}", f"25%: {fmt(quantile(0.25))}",
            f"50%: {fmt(quantile(0.5))}", f"75%: {fmt(quantile(0.75))}", f"max: {fmt(ordered[-1])}",
            f"skewness: {fmt(skew)}"]


def _moments(ordered: list[float], array: np.ndarray) -> tuple[float, float, float]:
    """The mean, sample standard deviation and skewness of the sorted finite ``ordered`` (also
    given as the numpy ``array``), as exact arithmetic gives them rounded to floats, to about
    1e-9 of the deviation.

    Sums are correctly rounded (math.fsum), not exact fractions as in the statistics module,
    which take milliseconds on a few thousand values.  The deviations from the mean are divided
    by the largest, so their squares and cubes neither overflow nor underflow.  Where they are
    within about 1e-6 of the mean's size, the mean's rounding would weigh on them, and exact
    fractions are used after all (rare in a column: equal values are handled apart)."""
    n = len(ordered)
    try:
        mean = math.fsum(ordered) / n
    except OverflowError:  # a sum past the largest float: scaled down by a power of two, exactly
        shift = n.bit_length()
        mean = math.ldexp(math.fsum((array * 2.0 ** -shift).tolist()) / n, shift)
    if n == 1 or ordered[0] == ordered[-1]:
        return mean, 0.0, 0.0
    with np.errstate(over="ignore"):
        deviations, factor = array - mean, 1.0
        if not np.isfinite(deviations).all():  # values so far apart that they differ by more than a float holds
            deviations, factor = array * 0.5 - mean * 0.5, 2.0
    scale = float(np.max(np.abs(deviations)))
    if scale * factor < abs(mean) * 2.0 ** -20:
        exact = [Fraction(v) for v in ordered]
        centre = sum(exact) / n
        std = statistics.stdev(ordered)
        return float(centre), std, float(sum((v - centre) ** 3 for v in exact) / n / Fraction(std) ** 3)
    unit = deviations / scale
    spread = math.sqrt(math.fsum((unit * unit).tolist()) / (n - 1))
    return mean, scale * spread * factor, (math.fsum((unit ** 3).tolist()) / n) / spread ** 3


def _top_values(values: list[Any], k: int) -> list[tuple[Any, int]]:
    counts: dict[Any, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:k]
