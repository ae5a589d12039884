"""Where a prediction goes wrong: step alignment of its plan with the gold plan, and the error taxonomy.

Method, for one question:

1. Run the prediction as written.  If it fails, the category is ``execution_error``: the
   prediction is decomposed into steps (:func:`querygym.plan.decompose.decompose`) and replayed
   in an :class:`~querygym.env.episode.Episode` until a step fails; that step and its message
   (querygym's, with the closest valid name, or the engine's) are the answer.
2. Compare its result with the gold result (:func:`~querygym.scoring.compare.compare_tables`,
   bag semantics; ordered when the gold query ends in ``ORDER BY`` and so does the prediction,
   as the environment rewards) and under Spider's and BIRD's official semantics
   (:mod:`querygym.analysis.official`).
3. When it is not equal, decompose both queries, materialise every intermediate table of both
   plans, and walk the prediction's steps in order.  A step *tracks* the gold plan when its
   table equals one of the gold plan's tables, or holds the same rows with columns to spare or
   missing (extra columns are harmless until the output).  An ordered step is held to the
   gold plan's ordered tables, compared in order.  The first step that does not track is the
   *diverging step*; the gold table it is reported against is the gold step of the same
   operation that it is closest to (equal rows, else a subset or superset, else the last).
4. The category comes from three signals, strongest first: the final tables themselves (the
   same rows in another order is ``ordering``, only duplicates differ is ``distinct``, the same
   rows with other columns is ``projection``); the diverging step's operation when the two
   queries really differ in that clause; else the one clause the two queries differ in (a
   normalised clause-by-clause comparison of the two SQL texts: tables and join keys, WHERE and
   HAVING conditions, grouping keys and aggregate functions, select list, DISTINCT, ORDER BY,
   LIMIT/OFFSET, set operations).
5. ``ORDER BY ... LIMIT k`` whose k-th and (k+1)-th rows tie on the ordering key make the gold
   answer ambiguous: such questions are flagged (``gold_ambiguous``, checked for predictions
   that are not equal).  A prediction that picks k other rows among the tied ones is analysed
   like any other (its category and step say where it departs from the gold query) but is
   flagged ``tie_at_limit`` and not counted as an error; ``correct`` stays strict equality, so
   its share is comparable with execution accuracy.  A prediction that returns all the tied
   rows (``WHERE x = (SELECT MIN(x) ...)``) is not k rows: it is an error like any other.

The taxonomy (:data:`CATEGORIES`) is fixed; each wrong prediction gets exactly one category.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from querygym.actions.catalog import Catalog
from querygym.analysis.official import bird_ex, spider_ex
from querygym.engine.backend import Backend, Result
from querygym.env.episode import Episode
from querygym.errors import ExecutionError, QueryGymError, TaskError
from querygym.plan.decompose import decompose
from querygym.scoring.compare import TableComparison, compare_tables
from querygym.util import closest, first_line

#: every category an analysed prediction can get, with its meaning (the README's table)
CATEGORIES: dict[str, str] = {
    "correct": "the result equals the gold result",
    "execution_error": "the prediction does not run: the step that fails and the engine's or querygym's message",
    "join": "the tables are combined differently: other tables, join keys or join types",
    "filter": "rows kept or dropped wrongly: a condition, literal or comparison operator (WHERE or HAVING)",
    "aggregation": "grouping keys or aggregate functions differ",
    "projection": "the right rows, but output columns missing, extra or computed differently",
    "distinct": "only duplicates differ (DISTINCT added or missing)",
    "ordering": "the right rows in the wrong order, or another row picked because the ordering differs",
    "limit": "a different LIMIT or OFFSET",
    "set_operation": "UNION / INTERSECT / EXCEPT differ",
    "other": "none of the above can be shown; the reason says why (cannot be decomposed, no gold result, ...)",
}

#: the category an operation's step stands for when it is the diverging step
OPERATION_CATEGORY = {
    "perform_join": "join",
    "perform_filter": "filter",
    "perform_aggregate": "aggregation",
    "perform_projection": "projection",
    "perform_order_by": "ordering",
    "perform_limit": "limit",
    "perform_union": "set_operation",
    "perform_intersect": "set_operation",
}

#: which clause difference wins when the queries differ in several and the step does not decide
_PRIORITY = ("set_operation", "join", "filter", "aggregation", "distinct", "ordering", "limit", "projection")

#: rows fetched per intermediate table; a bigger table is compared on this prefix and said so
MAX_STEP_ROWS = 100_000


@dataclass
class _Plan:
    """One query's decomposition and the tables its steps made."""

    actions: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    tables: list[Result] = field(default_factory=list)
    ordered: list[bool] = field(default_factory=list)
    #: the base tables the steps read (names as the schema spells them)
    base_tables: list[str] = field(default_factory=list)
    error: str | None = None
    construct: str | None = None
    failed_step: int | None = None
    #: the step that could not be built, for a decomposition that stops at a step
    failed_action: str | None = None

    @property
    def complete(self) -> bool:
        return self.error is None and bool(self.tables)


def materialise(sql: str, task, backend: Backend, catalog: Catalog, dialect: str | None = None) -> _Plan:
    """Decompose ``sql`` and build every step in a fresh episode; stops at the first step that fails."""
    plan = _Plan()
    d = _decompose(sql, backend, dialect or task.dialect)
    plan.actions = list(d.actions)
    if not d.ok:
        plan.error, plan.construct, plan.failed_action = d.error, d.construct, d.failed_action
    episode = Episode(task, backend, catalog, max_result_rows=MAX_STEP_ROWS)
    try:
        for i, text in enumerate(plan.actions):
            outcome = episode.apply(catalog.parse(text))
            if outcome.kind != "cte":
                plan.error = outcome.error["message"] if outcome.error else first_line(outcome.text)
                plan.construct, plan.failed_step = "step", i
                break
            plan.operations.append(outcome.node.operation)
            plan.tables.append(outcome.result)
            plan.base_tables += [t for t in outcome.node.inputs
                                 if not episode.plan.get(t) and t not in plan.base_tables and backend.schema().table(t)]
            plan.ordered.append(bool(outcome.node.ordered))
    finally:
        episode.close()  # the backend serves other questions: drop what this plan kept
    if plan.error is not None and plan.failed_step is None:
        plan.failed_step = len(plan.tables)
    return plan


_DECOMPOSITIONS: dict[tuple[str, str, str], Any] = {}
_DECOMPOSITIONS_KEPT = 4096


def _decompose(sql: str, backend: Backend, dialect: str):
    # Spider asks most questions twice in other words, with the same gold query and often the
    # same prediction: decomposing each text once per database halves the work
    key = (backend.target, dialect, sql)
    found = _DECOMPOSITIONS.get(key)
    if found is None:
        if len(_DECOMPOSITIONS) >= _DECOMPOSITIONS_KEPT:
            _DECOMPOSITIONS.clear()
        found = _DECOMPOSITIONS[key] = decompose(sql, backend.schema(), dialect=dialect)
    return found


def analyse_prediction(task, sql: str, backend: Backend, catalog: Catalog, *, timeout_s: float = 10.0,
                       dialect: str | None = None) -> dict[str, Any]:
    """Analyse one prediction against its task's gold query; returns the record ``analysis.jsonl`` holds.

    ``backend`` must be open on the task's database; ``dialect`` is the one the prediction is
    written in (default: the task's).  The record's keys are documented in :mod:`querygym.analysis`.
    """
    dialect = dialect or task.dialect
    started = time.perf_counter()
    record: dict[str, Any] = {
        "runs": None, "verdict": None, "spider_ex": None, "bird_ex": None, "category": None, "step": None,
        "operation": None, "detail": None, "reason": None, "gold_ambiguous": False, "tie_at_limit": False,
        "pred_actions": [], "gold_actions": [],
    }
    try:
        gold = task.target_result(backend, timeout_s=timeout_s)
    except TaskError as exc:
        record.update(category="other", step=0, reason=f"no gold result: {exc.reason}",
                      detail=f"the gold query cannot be run: {exc.reason}")
        return _done(record, started)
    try:
        pred = backend.execute(sql, max_rows=None, timeout_s=timeout_s) if sql.strip() else None
        if pred is None:
            raise ExecutionError("the prediction is empty")
    except ExecutionError as exc:
        record["runs"], record["spider_ex"], record["bird_ex"] = False, False, False
        _explain_failure(record, task, sql, str(exc), backend, catalog, dialect)
        return _done(record, started)
    record["runs"] = True
    ordered = bool(task.target_ordered and _ends_in_order(sql, dialect))
    verdict = compare_tables(pred.rows, gold.rows, ordered=ordered)
    record["verdict"] = _verdict(verdict, pred, gold)
    record["spider_ex"] = spider_ex(pred.rows, gold.rows, task.gold_sql)
    record["bird_ex"] = bird_ex(pred.rows, gold.rows)
    tie = None if verdict.equal else _tie_at_limit(task, backend, timeout_s)
    record["gold_ambiguous"] = tie is not None
    if verdict.equal:
        record["category"] = "correct"
        record["pred_actions"] = list(_decompose(sql, backend, dialect).actions)
        record["gold_actions"] = list(_decompose(task.gold_sql, backend, task.dialect).actions)
        return _done(record, started)
    gold_plan = materialise(task.gold_sql, task, backend, catalog)
    record["gold_actions"] = gold_plan.actions
    pred_plan = materialise(sql, task, backend, catalog, dialect)
    record["pred_actions"] = pred_plan.actions
    _explain_difference(record, task, sql, pred, gold, verdict, pred_plan, gold_plan, backend, dialect)
    if tie is not None and _valid_tie_pick(pred, tie, len(gold.rows)):
        record["tie_at_limit"] = True
        record["detail"] = ("not counted as an error: the gold query's LIMIT cuts through rows tied on its ORDER BY "
                            "key, and the prediction picks other rows among the tied ones; " + record["detail"])
    return _done(record, started)


def _done(record: dict[str, Any], started: float) -> dict[str, Any]:
    record["elapsed_s"] = round(time.perf_counter() - started, 4)
    return record


def _verdict(c: TableComparison, pred: Result, gold: Result) -> dict[str, Any]:
    return {"relation": c.relation, "rows": c.rows, "columns": c.columns, "ordered": c.ordered,
            "detail": c.detail, "pred_shape": [len(pred.rows), len(pred.columns)],
            "gold_shape": [len(gold.rows), len(gold.columns)]}


# ---------------------------------------------------------------------- execution errors
def _explain_failure(record, task, sql, engine_message, backend, catalog, dialect) -> None:
    record["category"] = "execution_error"
    if not sql.strip():
        record.update(step=0, detail="the prediction is empty")
        return
    plan = materialise(sql, task, backend, catalog, dialect)
    record["pred_actions"] = plan.actions
    if plan.error is not None and plan.construct == "step":
        record["step"] = plan.failed_step
        action = plan.actions[plan.failed_step] if plan.failed_step < len(plan.actions) else plan.failed_action
        record["operation"] = _operation_of(action)
        record["detail"] = f"step {plan.failed_step} fails: {_strip_prefix(plan.error)} (engine: {engine_message})"
    elif plan.error is not None:
        record["step"] = len(plan.tables)
        record["operation"] = _operation_of(plan.failed_action)
        record["detail"] = (f"the engine rejects it: {engine_message}{_column_hint(engine_message, sql, backend)}; "
                            f"it cannot be broken into steps either ({plan.error})")
    else:
        # querygym's steps are more lenient than the engine (a join's output columns need no
        # qualifier; a parenthesised set operand is accepted): the failure shows in the last step
        record["step"] = max(len(plan.tables) - 1, 0)
        record["operation"] = plan.operations[-1] if plan.operations else None
        record["detail"] = (f"the engine rejects it: {engine_message}{_column_hint(engine_message, sql, backend)} "
                            f"(querygym's steps accept the same query up to step {record['step']})")


def _column_hint(message: str, sql: str, backend: Backend) -> str:
    """For "no such column: [T.]name": which table the qualifier names, and which tables have the column."""
    found = re.search(r"no such column: (?:([\w$]+)\.)?([\w$]+)", message)
    if not found:
        return ""
    qualifier, name = found.group(1), found.group(2)
    schema = backend.schema()
    aliases: dict[str, str] = {}
    try:
        for table in sqlglot.parse_one(sql, read="sqlite").find_all(exp.Table):
            aliases[(table.alias_or_name or "").lower()] = table.name
    except SqlglotError:
        pass
    holders = [t.name for t in schema if t.column(name) is not None]
    hint = ""
    if qualifier and qualifier.lower() in aliases:
        table = schema.table(aliases[qualifier.lower()])
        if table is not None:
            hint = f"; {qualifier} is {table.name}, whose columns are {', '.join(table.column_names)}"
            near = closest(name, table.column_names)
            hint += f" (closest: {near[0]})" if near else ""
    elif not holders:
        near = closest(name, [c.name for t in schema for c in t.columns])
        hint = f"; the closest column is {near[0]}" if near else ""
    if holders:
        hint += f"; {name} is a column of {', '.join(holders)}"
    return hint


def _operation_of(action: str | None) -> str | None:
    if not action:
        return None
    try:
        head = action.split(",", 1)[0]
        return head.strip(' ["')
    except (AttributeError, IndexError):
        return None


def _strip_prefix(message: str) -> str:
    return message.removeprefix("a step does not validate: ")


# ---------------------------------------------------------------------- wrong results
def _explain_difference(record, task, sql, pred, gold, verdict, pred_plan, gold_plan, backend, dialect) -> None:
    kinds = clause_differences(sql, task.gold_sql, backend.schema(), dialect)
    record["clause_differences"] = sorted(kinds)
    final = _final_shape_category(pred, gold, verdict)
    if not pred_plan.complete or not gold_plan.complete:
        which, plan = ("prediction", pred_plan) if not pred_plan.complete else ("gold query", gold_plan)
        reason = f"the {which} cannot be decomposed into steps: {plan.error}"
        category = final or _by_priority(kinds)
        step = pred_plan.failed_step if not pred_plan.complete else max(len(pred_plan.tables) - 1, 0)
        if category is None:
            record.update(category="other", step=step, reason=reason, detail=f"{reason}; {verdict.detail}")
            return
        record.update(category=category, step=_step_for(category, pred_plan, step), reason=reason,
                      detail=f"{verdict.detail} ({reason})")
        record["operation"] = _op_at(pred_plan, record["step"])
        return
    step, reference, relation, statuses = _diverging_step(pred_plan, gold_plan, _base_rows(gold_plan, backend))
    op_category = OPERATION_CATEGORY.get(pred_plan.operations[step])
    if final is not None:
        category = final
    elif op_category in kinds:
        category = op_category
    elif kinds:
        category = _by_priority(kinds)
    else:
        category = op_category or "other"
    if category == "projection" and statuses and statuses[-1] == "columns":
        # the output's columns went wrong where the run of steps carrying the right rows under
        # other columns begins
        step = len(statuses) - 1
        while step > 0 and statuses[step - 1] == "columns":
            step -= 1
        reference, relation = None, None
    elif category != op_category:
        step = _step_for(category, pred_plan, step)
        reference, relation = None, None
    record["step"] = step
    record["operation"] = pred_plan.operations[step]
    gold_step = reference if reference is not None else len(gold_plan.tables) - 1
    comparison = relation if relation is not None else compare_tables(
        pred_plan.tables[step].rows, gold_plan.tables[gold_step].rows,
        ordered=pred_plan.ordered[step] and gold_plan.ordered[gold_step])
    record["gold_step"] = gold_step
    record["category"] = category
    if category == "other":
        record["reason"] = "the tables differ but neither the step nor the clauses say how"
    record["detail"] = (f"step {step} ({pred_plan.operations[step]}) no longer tracks the gold plan: "
                        f"compared with gold step {gold_step} ({gold_plan.operations[gold_step]}), "
                        f"{comparison.detail}; final result: {verdict.detail}")


def _final_shape_category(pred: Result, gold: Result, verdict: TableComparison) -> str | None:
    """What the two final tables alone show: only order, only duplicates, or only columns differ."""
    if verdict.ordered and verdict.rows == "different" and compare_tables(pred.rows, gold.rows).equal:
        return "ordering"
    if verdict.columns == "equal" and verdict.relation != "equal" and pred.rows and gold.rows:
        pred_set, gold_set = set(map(_key, pred.rows)), set(map(_key, gold.rows))
        # one side has no duplicates and the other is it with duplicates: DISTINCT added or missing
        one_is_a_set = len(pred_set) == len(pred.rows) or len(gold_set) == len(gold.rows)
        if one_is_a_set and compare_tables(sorted(pred_set, key=repr), sorted(gold_set, key=repr)).equal:
            return "distinct"
    if verdict.rows == "equal" and verdict.columns in ("subset", "superset"):
        return "projection"
    return None


def _key(row: tuple) -> tuple:
    # rows go through a set to drop duplicates; floats are rounded as compare_tables rounds them
    return tuple(round(v, 9) if isinstance(v, float) else v for v in row)


def _base_rows(plan: _Plan, backend: Backend) -> list[list[tuple]]:
    """The rows of the base tables a plan reads (a prediction may join a table only to carry it along)."""
    out = []
    for name in plan.base_tables:
        table = backend.schema().table(name)
        query = exp.select("*").from_(exp.to_table(table.name, quoted=True))
        try:
            out.append(backend.execute(query.sql(dialect=backend.dialect.sqlglot_dialect or "sqlite"),
                                       max_rows=MAX_STEP_ROWS).rows)
        except QueryGymError:
            continue
    return out


def _diverging_step(pred_plan: _Plan, gold_plan: _Plan, base_rows: list[list[tuple]] = ()):
    """The first prediction step that does not track the gold plan, its gold counterpart, their
    comparison, and how each step tracks the gold plan (``"equal"``, ``"columns"`` or None).

    The gold plan's base tables count as gold tables too, for a step that only carries one along
    (a join that adds columns but keeps the rows of the table the gold query reads)."""
    gold_ordered = [j for j, o in enumerate(gold_plan.ordered) if o]
    statuses: list[str | None] = []
    first = None
    for i, table in enumerate(pred_plan.tables):
        ordered = pred_plan.ordered[i] and bool(gold_ordered)
        candidates = [gold_plan.tables[j].rows for j in (gold_ordered if ordered else range(len(gold_plan.tables)))]
        if not ordered:
            candidates += list(base_rows)
        status = None
        for rows in candidates:
            # tracking needs the same rows, so the same number of rows: most pairs stop here
            if len(rows) != len(table.rows):
                continue
            c = compare_tables(table.rows, rows, ordered=ordered)
            if c.equal:
                status = "equal"
                break
            if c.rows == "equal" and c.columns in ("subset", "superset"):
                status = "columns"
        statuses.append(status)
        if status is None and first is None:
            first = (i, *_closest(pred_plan, i, gold_plan, ordered))
    if first is not None:
        return (*first, statuses)
    # every step tracks, yet the results differ: the last step (the output) is where it shows
    last = len(pred_plan.tables) - 1
    return last, len(gold_plan.tables) - 1, None, statuses


def _closest(pred_plan: _Plan, i: int, gold_plan: _Plan, ordered: bool):
    """The gold step a diverging step is reported against: of its operation, the nearest in content."""
    operation = pred_plan.operations[i]
    same = [j for j, op in enumerate(gold_plan.operations) if op == operation] or [len(gold_plan.tables) - 1]
    rank = {"subset": 0, "superset": 0, "different": 1}
    best = None
    for j in same:
        c = compare_tables(pred_plan.tables[i].rows, gold_plan.tables[j].rows,
                           ordered=ordered and gold_plan.ordered[j])
        key = (rank.get(c.relation, 1), abs(j - i))
        if best is None or key < best[0]:
            best = (key, j, c)
    return best[1], best[2]


def _by_priority(kinds: set[str]) -> str | None:
    return next((k for k in _PRIORITY if k in kinds), None)


def _step_for(category: str, plan: _Plan, default: int) -> int:
    """The step of ``plan`` that carries ``category``: its operation's first step from ``default`` on."""
    wanted = [op for op, cat in OPERATION_CATEGORY.items() if cat == category]
    if category in ("projection", "distinct"):  # a select list is folded into these steps
        wanted = ["perform_projection", "perform_filter", "perform_aggregate", "perform_order_by"]
    for i in range(default, len(plan.operations)):
        if plan.operations[i] in wanted:
            return i
    if category in ("projection", "distinct"):
        return max(len(plan.operations) - 1, 0)
    # the clause is in an earlier step whose table happens to equal a gold table (a condition
    # that keeps every row there, say); the step of that clause carries the mistake
    for i in range(min(default, len(plan.operations)) - 1, -1, -1):
        if plan.operations[i] in wanted:
            return i
    return min(default, max(len(plan.operations) - 1, 0))


def _op_at(plan: _Plan, step: int | None) -> str | None:
    if step is not None and 0 <= step < len(plan.operations):
        return plan.operations[step]
    if step is not None and step < len(plan.actions):
        return _operation_of(plan.actions[step])
    return _operation_of(plan.failed_action)


def _ends_in_order(sql: str, dialect: str) -> bool:
    try:
        tree = sqlglot.parse_one(sql, read=_read(dialect))
    except SqlglotError:
        return False
    return isinstance(tree, exp.Query) and tree.args.get("order") is not None


def _read(dialect: str) -> str:
    return "postgres" if dialect == "postgres" else dialect


# ---------------------------------------------------------------------- ties at a LIMIT
def _tie_at_limit(task, backend: Backend, timeout_s: float) -> list[tuple] | None:
    """The rows a correct answer may pick from when the gold LIMIT cuts through a tie, else None."""
    try:
        tree = sqlglot.parse_one(task.gold_sql, read=_read(task.dialect))
    except SqlglotError:
        return None
    if not isinstance(tree, exp.Select) or tree.args.get("offset") or tree.args.get("distinct"):
        return None
    order, limit = tree.args.get("order"), tree.args.get("limit")
    if order is None or limit is None or not isinstance(limit.expression, exp.Literal):
        return None
    try:
        k = int(limit.expression.this)
    except ValueError:
        return None
    width = len(tree.expressions)
    unlimited = tree.copy()
    unlimited.set("limit", None)
    for n, ordered in enumerate(order.expressions):
        unlimited.select(exp.alias_(ordered.this.copy(), f"qg_order_key_{n}"), copy=False)
    try:
        rows = backend.execute(unlimited.sql(dialect=_read(task.dialect)), max_rows=k + 10_000,
                               timeout_s=timeout_s).rows
    except QueryGymError:
        return None
    if len(rows) <= k:
        return None
    boundary = rows[k - 1][width:] if k > 0 else None
    if boundary is None or rows[k][width:] != boundary:
        return None
    return [r[:width] for n, r in enumerate(rows) if n < k or r[width:] == boundary]


def _valid_tie_pick(pred: Result, candidates: list[tuple], k: int) -> bool:
    """Whether ``pred`` is ``k`` rows among the tied candidates (as many rows as the LIMIT asks for)."""
    width = len(candidates[0]) if candidates else 0
    if len(pred.rows) != k or len(pred.columns) != width:
        return False
    c = compare_tables(pred.rows, candidates)
    return c.columns == "equal" and c.rows in ("subset", "equal")


# ---------------------------------------------------------------------- clause differences
def clause_differences(pred_sql: str, gold_sql: str, schema=None, dialect: str = "sqlite") -> set[str]:
    """The categories of the clauses in which two queries differ, after normalising names.

    Table aliases are resolved to table names, unqualified columns are qualified with their
    table (through ``schema`` when several tables are in scope), identifiers are lower-cased,
    equalities between columns of two tables count as join keys wherever they are written, and
    comparisons are oriented.  Returns an empty set when either query does not parse.

    >>> sorted(clause_differences("SELECT name FROM singer WHERE age > 20",
    ...                           "SELECT name FROM singer WHERE age < 20"))
    ['filter']
    >>> sorted(clause_differences("SELECT max(age) FROM singer", "SELECT min(age) FROM singer"))
    ['aggregation']
    """
    try:
        pred = _features(pred_sql, schema, dialect)
        gold = _features(gold_sql, schema, dialect)
    except (SqlglotError, RecursionError, AttributeError, TypeError, ValueError):
        return set()
    return {kind for kind, _ in (pred - gold) + (gold - pred)}


def _features(sql: str, schema, dialect: str) -> Counter:
    tree = sqlglot.parse_one(sql, read=_read(dialect))
    if tree is None:
        raise ValueError("empty")
    tree = tree.copy()
    columns_of = {}
    if schema is not None:
        columns_of = {t.name.lower(): {c.name.lower() for c in t.columns} for t in schema}
    features: Counter = Counter()
    for node in tree.walk():
        if isinstance(node, exp.SetOperation):
            features[("set_operation", f"{type(node).__name__}:{bool(node.args.get('distinct'))}")] += 1
    selects = sorted(tree.find_all(exp.Select), key=lambda s: -_depth(s))
    for sel in selects:
        _qualify(sel, columns_of)
    for sel in selects:
        features.update(_select_features(sel))
    return features


def _depth(node: exp.Expression) -> int:
    d = 0
    while node.parent is not None:
        node, d = node.parent, d + 1
    return d


def _own(node: exp.Expression, sel: exp.Select) -> bool:
    return node.find_ancestor(exp.Select) is sel


def _qualify(sel: exp.Select, columns_of: dict[str, set[str]]) -> None:
    tables: dict[str, str] = {}
    for table in sel.find_all(exp.Table):
        if _own(table, sel):
            tables[(table.alias_or_name or "").lower()] = table.name.lower()
    names = set(tables.values())
    known = set().union(*columns_of.values()) if columns_of else set()
    for col in list(sel.find_all(exp.Column)):
        if not _own(col, sel):
            continue
        qualifier = col.table.lower()
        name = col.name.lower()
        if not qualifier and col.this.args.get("quoted") and known and name not in known:
            # SQLite reads a double-quoted name that is no column as a string literal
            col.replace(exp.Literal.string(col.name))
            continue
        if qualifier:
            table = tables.get(qualifier, qualifier)
        elif len(names) == 1:
            table = next(iter(names))
        else:
            table = next((t for t in sorted(names) if name in columns_of.get(t, ())), "")
        col.set("table", exp.to_identifier(table) if table else None)
        col.set("this", exp.to_identifier(name))


def _text(e: exp.Expression) -> str:
    e = e.copy()
    for sub in list(e.find_all(exp.Subquery, exp.Select)):
        if sub is not e and sub.parent is not None:
            sub.replace(exp.Placeholder(this="subquery"))
    for ident in e.find_all(exp.Identifier):
        ident.set("this", ident.name.lower())
    return e.sql(dialect="sqlite")


def _conjuncts(e: exp.Expression | None) -> list[exp.Expression]:
    if e is None:
        return []
    if isinstance(e, exp.And):
        return _conjuncts(e.left) + _conjuncts(e.right)
    if isinstance(e, exp.Paren):
        return _conjuncts(e.this)
    return [e]


def _is_join_key(e: exp.Expression) -> bool:
    return (isinstance(e, exp.EQ) and isinstance(e.left, exp.Column) and isinstance(e.right, exp.Column)
            and e.left.table != e.right.table)


def _oriented(e: exp.Expression) -> str:
    flip = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.EQ: exp.EQ, exp.NEQ: exp.NEQ}
    if type(e) in flip and _text(e.left) > _text(e.right):
        e = flip[type(e)](this=e.right.copy(), expression=e.left.copy())
    return _text(e)


def _select_features(sel: exp.Select) -> Counter:
    f: Counter = Counter()
    tables = sorted(t.name.lower() for t in sel.find_all(exp.Table) if _own(t, sel))
    keys, kinds, where = [], [], []
    for join in sel.args.get("joins") or []:
        kinds.append(f"{join.side or ''} {join.kind or ''}".strip().lower() or "inner")
        for c in _conjuncts(join.args.get("on")):
            (keys if _is_join_key(c) else where).append(_oriented(c))
    for c in _conjuncts(sel.args["where"].this if sel.args.get("where") else None):
        (keys if _is_join_key(c) else where).append(_oriented(c))
    f[("join", f"{tables}|{sorted(keys)}|{sorted(kinds)}")] += 1
    for c in where:
        f[("filter", c)] += 1
    having = sel.args.get("having")
    for c in _conjuncts(having.this if having else None):
        f[("filter", "having " + _oriented(c))] += 1
    group = sel.args.get("group")
    f[("aggregation", "group " + str(sorted(_text(g) for g in (group.expressions if group else []))))] += 1
    aggregates = [a for a in sel.find_all(exp.AggFunc) if _own(a, sel)]
    f[("aggregation", "functions " + str(sorted(_text(a) for a in aggregates)))] += 1
    plain = []
    for item in sel.expressions:
        item = item.this if isinstance(item, exp.Alias) else item
        if not any(True for _ in item.find_all(exp.AggFunc)):
            plain.append(_text(item))
    f[("projection", str(sorted(plain)))] += 1
    f[("distinct", str(bool(sel.args.get("distinct"))))] += 1
    order = sel.args.get("order")
    if order is not None:
        f[("ordering", str([(_text(o.this), bool(o.args.get("desc"))) for o in order.expressions]))] += 1
    limit, offset = sel.args.get("limit"), sel.args.get("offset")
    if limit is not None or offset is not None:
        f[("limit", f"{_text(limit.expression) if limit else ''}|{_text(offset.expression) if offset else ''}")] += 1
    return f
