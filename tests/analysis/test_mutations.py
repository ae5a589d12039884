"""Mutation test of the analysis: inject one known mistake into gold queries and check that
``querygym analyze`` names its kind and the step that carries it.

Each mutator edits the sqlglot AST of a Spider dev gold query (real databases from
``../shared/data``).  A mutant is kept only when it runs and its result differs from the gold
result (otherwise there is nothing to find).  The expected step is the first step at which the
mutant's decomposition differs from the gold query's.  Run with ``-s`` to see the accuracy per
kind; the test holds each kind's accuracy to a floor.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
import sqlglot
from sqlglot import exp

import querygym
from querygym.actions.catalog import catalog
from querygym.analysis.align import analyse_prediction
from querygym.engine.backend import Backend
from querygym.errors import QueryGymError
from querygym.plan.decompose import decompose
from querygym.scoring.compare import compare_tables
from tests.support import SPIDER

pytestmark = pytest.mark.skipif(not (SPIDER / "dev.json").is_file(), reason="../shared/data/spider_dev is absent")

PER_KIND = 10  # mutants per kind at most
#: the lowest accuracy accepted per kind (category and step both right)
FLOOR = 0.75


def _own(node, sel):
    return node.find_ancestor(exp.Select) is sel


def _tables(sel, schema):
    out = {}
    for t in sel.find_all(exp.Table):
        if _own(t, sel) and schema.table(t.name) is not None:
            out[(t.alias_or_name or t.name).lower()] = schema.table(t.name)
    return out


def _other_column(col, sel, schema, avoid=()):
    tables = _tables(sel, schema)
    table = tables.get(col.table.lower()) if col.table else (next(iter(tables.values())) if len(tables) == 1 else None)
    if table is None:
        return None
    taken = {col.name.lower(), *(a.lower() for a in avoid)}
    for name in table.column_names:
        if name.lower() not in taken:
            return exp.column(name, table=col.table or None)
    return None


def _top_select(tree):
    return tree if isinstance(tree, exp.Select) else None


def change_literal(tree, schema):
    for lit in tree.find_all(exp.Literal):
        if lit.find_ancestor(exp.Where, exp.Having) is None:
            continue
        if lit.is_string:
            lit.replace(exp.Literal.string(lit.this + "zz"))
        else:
            try:
                lit.replace(exp.Literal.number(float(lit.this) + 1 if "." in lit.this else int(lit.this) + 1))
            except ValueError:
                continue
        return tree
    return None


def drop_condition(tree, schema):
    for where in tree.find_all(exp.Where):
        if isinstance(where.this, exp.And):
            where.set("this", where.this.left)
            return tree
    return None


_FLIP = {exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LTE, exp.LTE: exp.GTE, exp.EQ: exp.NEQ, exp.NEQ: exp.EQ}


def flip_comparison(tree, schema):
    for where in tree.find_all(exp.Where):
        for node in where.find_all(*_FLIP):
            if isinstance(node, exp.EQ) and isinstance(node.right, exp.Column) and isinstance(node.left, exp.Column):
                continue  # a join key written in WHERE
            node.replace(_FLIP[type(node)](this=node.left.copy(), expression=node.right.copy()))
            return tree
    return None


def swap_max_min(tree, schema):
    for node in tree.find_all(exp.Max, exp.Min):
        node.replace((exp.Min if isinstance(node, exp.Max) else exp.Max)(this=node.this.copy()))
        return tree
    return None


def group_by_other(tree, schema):
    sel = _top_select(tree)
    group = sel.args.get("group") if sel else None
    if not group or not isinstance(group.expressions[0], exp.Column):
        return None
    other = _other_column(group.expressions[0], sel, schema, [c.name for c in group.find_all(exp.Column)])
    if other is None:
        return None
    group.expressions[0].replace(other)
    return tree


def reverse_order_before_limit(tree, schema):
    sel = _top_select(tree)
    if not sel or not sel.args.get("order") or not sel.args.get("limit"):
        return None
    first = sel.args["order"].expressions[0]
    first.set("desc", not first.args.get("desc"))
    return tree


def change_limit(tree, schema):
    sel = _top_select(tree)
    limit = sel.args.get("limit") if sel else None
    if limit is None or not isinstance(limit.expression, exp.Literal):
        return None
    limit.set("expression", exp.Literal.number(int(limit.expression.this) + 2))
    return tree


def project_other_column(tree, schema):
    sel = _top_select(tree)
    if not sel:
        return None
    for item in sel.expressions:
        if isinstance(item, exp.Column):
            other = _other_column(item, sel, schema, [c.name for c in sel.expressions if isinstance(c, exp.Column)])
            if other is not None:
                item.replace(other)
                return tree
    return None


def toggle_distinct(tree, schema):
    sel = _top_select(tree)
    if not sel or sel.args.get("group") or any(True for _ in sel.find_all(exp.AggFunc)):
        return None
    sel.set("distinct", None if sel.args.get("distinct") else exp.Distinct())
    return tree


def swap_union_intersect(tree, schema):
    if isinstance(tree, exp.Union):
        return exp.Intersect(this=tree.this, expression=tree.expression, distinct=True)
    if isinstance(tree, exp.Intersect):
        return exp.Union(this=tree.this, expression=tree.expression, distinct=True)
    return None


def join_other_key(tree, schema):
    sel = _top_select(tree)
    if not sel:
        return None
    for join in sel.args.get("joins") or []:
        on = join.args.get("on")
        if isinstance(on, exp.EQ) and isinstance(on.right, exp.Column):
            other = _other_column(on.right, sel, schema)
            if other is not None:
                on.right.replace(other)
                return tree
    return None


MUTATORS = {
    "change_literal": ("filter", change_literal),
    "drop_condition": ("filter", drop_condition),
    "flip_comparison": ("filter", flip_comparison),
    "swap_max_min": ("aggregation", swap_max_min),
    "group_by_other_column": ("aggregation", group_by_other),
    "reverse_order_before_limit": ("ordering", reverse_order_before_limit),
    "change_limit": ("limit", change_limit),
    "project_other_column": ("projection", project_other_column),
    "toggle_distinct": ("distinct", toggle_distinct),
    "swap_union_intersect": ("set_operation", swap_union_intersect),
    "join_on_other_key": ("join", join_other_key),
}


def _first_difference(a: list[str], b: list[str]) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b)) if len(a) != len(b) else len(a) - 1


def mutants():
    """(kind, expected category, task, mutant SQL, expected step) for every usable mutant."""
    tasks = querygym.load_tasks(SPIDER / "dev.json", db_root=SPIDER / "database", tables=SPIDER / "tables.json")
    backends: dict[str, Backend] = {}
    found = defaultdict(list)
    try:
        for task in tasks.playable():
            backend = backends.setdefault(task.db, Backend(task.db, db_id=task.db_id, timeout_s=10))
            schema = backend.schema()
            gold = task.target_result(backend)
            gold_actions = decompose(task.gold_sql, schema).actions
            for kind, (category, mutate) in MUTATORS.items():
                if len(found[kind]) >= PER_KIND:
                    continue
                mutant = mutate(sqlglot.parse_one(task.gold_sql, read="sqlite"), schema)
                if mutant is None:
                    continue
                sql = mutant.sql(dialect="sqlite")
                try:
                    result = backend.execute(sql)
                except QueryGymError:
                    continue
                if compare_tables(result.rows, gold.rows, ordered=task.target_ordered).equal:
                    continue
                d = decompose(sql, schema)
                if not d.ok or not gold_actions or any(m[3] == sql for m in found[kind]):
                    continue  # Spider repeats gold queries for paraphrased questions: one mutant each
                found[kind].append((kind, category, task, sql, _first_difference(d.actions, gold_actions)))
            if all(len(found[k]) >= PER_KIND for k in MUTATORS):
                break
    finally:
        for b in backends.values():
            b.close()
    return [m for kind in MUTATORS for m in found[kind]]


def test_analyze_names_the_injected_mistake_and_its_step():
    cat = catalog()
    hits, steps, totals = defaultdict(int), defaultdict(int), defaultdict(int)
    misses = []
    backends: dict[str, Backend] = {}
    try:
        for kind, category, task, sql, step in mutants():
            backend = backends.setdefault(task.db, Backend(task.db, db_id=task.db_id, timeout_s=10))
            record = analyse_prediction(task, sql, backend, cat)
            totals[kind] += 1
            if record["tie_at_limit"]:
                totals[kind] -= 1  # the mutant picks other tied rows: gold itself is ambiguous
                continue
            named = record["category"] == category
            at = record["step"] == step
            hits[kind] += named and at
            steps[kind] += at
            if not (named and at):
                misses.append(f"{kind}: got {record['category']} at step {record['step']}, expected {category} at "
                              f"step {step}\n    {sql}\n    {task.gold_sql}")
    finally:
        for b in backends.values():
            b.close()
    print("\nmutation accuracy per kind (category and step right / mutants):")
    for kind in MUTATORS:
        n = totals[kind]
        print(f"  {kind:28} {hits[kind]:3d}/{n:<3d} {hits[kind] / n if n else 0:6.1%}   step right {steps[kind]}/{n}")
    print(f"  {'all':28} {sum(hits.values()):3d}/{sum(totals.values()):<3d} "
          f"{sum(hits.values()) / sum(totals.values()):6.1%}")
    for m in misses:
        print("  miss", m)
    assert all(totals[k] > 0 for k in MUTATORS if k != "swap_union_intersect"), dict(totals)
    low = {k: round(hits[k] / totals[k], 2) for k in MUTATORS if totals[k] and hits[k] / totals[k] < FLOOR}
    assert not low, f"kinds below {FLOOR:.0%}: {low}"
