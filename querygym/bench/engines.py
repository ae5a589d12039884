"""One plan, several engines: replay action scripts on every engine and compare the final tables.

:func:`bench_engines` plays each task's script (the oracle's decomposition of its gold SQL, or
given scripts) through the environment's own machinery (catalog, operations, dialect,
guarded backend) once per engine, then compares, for every pair of engines, the final table
(the newest intermediate table after the last action) with :func:`querygym.compare_tables`
under the environment's rules (a bag of rows; row order counts when the task's answer is
ordered and the plan ends in an ordering).

A task *compiles* on an engine when every operation of its script succeeds there.  For each
pair, ``agree``/``total`` counts the tasks that compile on both; ``all`` counts the tasks that
compile on every engine and agree on all of them.  Each disagreement gets a cause:

* ``limit over ties``: a LIMIT cuts through rows whose ordering keys are equal (or through an
  unordered table), so which rows survive is each engine's arbitrary choice;
* ``order of tied rows``: the same rows, ordered by keys that tie, in another order;
* ``group_concat order``: the same values concatenated in another order;
* ``bare column in an aggregate``: SQLite picks an arbitrary row for a column that is neither
  grouped nor aggregated (the other engines refuse such plans, so this shows only between
  engines that both accept them);
* ``float rounding``: numbers equal to 6 but not 9 significant digits;
* ``text vs number``: the same values, one engine returning text where the other has numbers;
* ``other``: none of the above (shown with the SQL and the first differing rows).

Compile failures are grouped by engine and error kind.  Per-step time is the wall time of
applying one operation (compile, execute, fetch), per engine, with its ratio to SQLite's on
the steps that ran on both; loading the databases into each engine is timed separately.
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable

from sqlglot import exp

from querygym.actions.catalog import catalog as load_catalog
from querygym.dialects import Dialect, get
from querygym.engine.backend import Backend
from querygym.env.episode import Episode
from querygym.errors import InvalidActionError, QueryGymError
from querygym.scoring.compare import compare_tables

DEFAULT_ENGINES = ("sqlite", "postgres", "duckdb")


def available_engines(candidates: Iterable[str] = DEFAULT_ENGINES) -> list[str]:
    """The engines among ``candidates`` whose drivers are installed."""
    import importlib.util

    needs = {"postgres": ("psycopg",), "duckdb": ("duckdb", "duckdb_engine")}
    return [e for e in candidates if all(importlib.util.find_spec(m) for m in needs.get(e, ()))]


class _Replay:
    """One task's script played on one engine."""

    def __init__(self, engine: str):
        self.engine = engine
        self.compiled = False
        self.error: str | None = None
        self.failed_action: str | None = None
        self.rows: list[tuple] | None = None
        self.truncated = False
        self.ordered = False
        self.sql: str | None = None
        self.step_times: list[float] = []  # per operation step, in order
        self.plan = None
        self.dialect = None


def bench_engines(tasks, scripts: dict[str, list[str]], out_dir: str | Path | None = None, *,
                  engines: Iterable[str] | None = None, timeout_s: float = 10.0, max_rows: int = 100_000,
                  progress=None) -> dict[str, Any]:
    """Replay ``scripts`` (by task id) on every engine; agreement per engine pair, causes, step times."""

    started = time.perf_counter()
    engines = list(engines) if engines is not None else available_engines()
    tasks = [t for t in tasks if str(t.id) in scripts and t.playable]
    cat = load_catalog()

    # Copy every database into every engine first, so step times measure queries only.
    load_seconds: dict[str, float] = {}
    for engine in engines:
        dialect = get(engine)()
        t0 = time.perf_counter()
        if type(dialect).load_database is not Dialect.load_database:  # SQLite plays the files themselves
            for db in sorted({t.db for t in tasks}):
                dialect.load_database(db)
        load_seconds[engine] = round(time.perf_counter() - t0, 3)

    replays: dict[str, dict[str, _Replay]] = defaultdict(dict)
    backends: dict[tuple[str, str], Backend] = {}
    try:
        for i, task in enumerate(tasks):
            for engine in engines:
                key = (engine, task.db)
                if key not in backends:
                    backends[key] = Backend(task.db, engine, timeout_s=timeout_s, db_id=task.db_id)
                replays[str(task.id)][engine] = _replay(task, scripts[str(task.id)], backends[key], cat, max_rows)
            if progress is not None and (i + 1) % 50 == 0:
                print(f"  {i + 1}/{len(tasks)} tasks", file=progress, flush=True)
    finally:
        for backend in backends.values():
            backend.close()

    pairs = {f"{a}-{b}": {"agree": 0, "total": 0, "disagreements": Counter(), "examples": []}
             for a, b in itertools.combinations(engines, 2)}
    every = {"agree": 0, "total": 0}
    failures: dict[str, Counter] = {e: Counter() for e in engines}
    failure_examples: dict[str, list] = {e: [] for e in engines}
    details = []
    for task in tasks:
        by_engine = replays[str(task.id)]
        for engine, r in by_engine.items():
            if not r.compiled:
                kind = error_kind(r.error or "")
                failures[engine][kind] += 1
                if len(failure_examples[engine]) < 200:
                    failure_examples[engine].append({"task": task.id, "kind": kind, "error": r.error,
                                                     "action": r.failed_action})
        all_agree = all(r.compiled for r in by_engine.values())
        for a, b in itertools.combinations(engines, 2):
            ra, rb = by_engine[a], by_engine[b]
            if not (ra.compiled and rb.compiled):
                continue
            pair = pairs[f"{a}-{b}"]
            pair["total"] += 1
            same, cause = _agree(task, ra, rb)
            if same:
                pair["agree"] += 1
                continue
            all_agree = False
            pair["disagreements"][cause] += 1
            record = {"task": task.id, "db_id": task.db_id, "pair": f"{a}-{b}", "cause": cause,
                      "question": task.question, "gold_sql": task.gold_sql, "sql": {a: ra.sql, b: rb.sql},
                      "rows": {a: _sample(ra.rows), b: _sample(rb.rows)}}
            details.append(record)
            if len(pair["examples"]) < 20:
                pair["examples"].append({k: record[k] for k in ("task", "cause", "question")})
        if all(r.compiled for r in by_engine.values()):
            every["total"] += 1
            every["agree"] += int(all_agree)

    step_time = _step_times(tasks, replays, engines)
    report = {
        "engines": engines,
        "tasks": len(tasks),
        "compiled": {e: sum(replays[str(t.id)][e].compiled for t in tasks) for e in engines},
        "pairs": {k: {"agree": v["agree"], "total": v["total"],
                      "share": round(v["agree"] / v["total"], 4) if v["total"] else None,
                      "disagreements": dict(v["disagreements"].most_common()), "examples": v["examples"]}
                  for k, v in pairs.items()},
        "all": {**every, "share": round(every["agree"] / every["total"], 4) if every["total"] else None},
        "failures": {e: dict(c.most_common()) for e, c in failures.items()},
        "step_time": step_time,
        "load_seconds": load_seconds,
        "elapsed_s": round(time.perf_counter() - started, 2),
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "engines.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        with (out / "disagreements.jsonl").open("w", encoding="utf-8") as fh:
            for record in details:
                fh.write(json.dumps(record, default=str) + "\n")
        (out / "failures.json").write_text(json.dumps(failure_examples, indent=2, default=str), encoding="utf-8")
    return report


def _replay(task, actions: list[str], backend: Backend, cat, max_rows: int) -> _Replay:
    result = _Replay(backend.dialect.name)
    try:
        episode = Episode(task, backend, cat, max_result_rows=max_rows)
    except QueryGymError as exc:
        result.error = f"schema: {exc}"
        return result
    try:
        return _play(result, task, actions, episode, backend, cat)
    finally:
        episode.close()  # the backend replays other tasks: drop what this episode kept


def _play(result: _Replay, task, actions: list[str], episode: Episode, backend: Backend, cat) -> _Replay:
    result.plan, result.dialect = episode.plan, episode.dialect
    last = None
    for action in actions:
        try:
            parsed = cat.parse(action)
        except InvalidActionError as exc:
            result.error, result.failed_action = f"parse: {exc}", action
            return result
        t0 = time.perf_counter()
        outcome = episode.apply(parsed)
        elapsed = time.perf_counter() - t0
        if outcome.kind == "error":
            result.error, result.failed_action = outcome.error["message"], action
            return result
        if outcome.kind == "cte":
            result.step_times.append(elapsed)
            last = outcome
    if last is None:
        result.error = "the script creates no table"
        return result
    result.compiled = True
    result.rows = last.result.rows
    result.truncated = last.result.truncated
    result.ordered = last.node.ordered and task.target_ordered
    result.sql = last.sql
    result.node = last.node
    result.backend = backend
    return result


def _agree(task, a: _Replay, b: _Replay) -> tuple[bool, str]:
    if a.truncated or b.truncated:
        same = a.truncated == b.truncated and len(a.rows) == len(b.rows)
        return same, "more rows than the cap"
    ordered = a.ordered and b.ordered
    if compare_tables(a.rows, b.rows, ordered=ordered).equal:
        return True, ""
    return False, explain(task, a, b, ordered)


def explain(task, a: _Replay, b: _Replay, ordered: bool) -> str:
    """The cause of a disagreement between two engines' final tables (see the module docstring)."""
    if ordered and compare_tables(a.rows, b.rows).equal:
        return "order of tied rows"
    if _limit_over_ties(a):
        return "limit over ties"
    if _same_after(a.rows, b.rows, _sorted_concatenations):
        return "group_concat order"
    if _bare_column(a):
        return "bare column in an aggregate"
    if _same_after(a.rows, b.rows, _round6):
        return "float rounding"
    if _same_after(a.rows, b.rows, _as_text):
        return "text vs number"
    return "other"


def _same_after(x: list[tuple], y: list[tuple], f) -> bool:
    return compare_tables([tuple(f(v) for v in r) for r in x], [tuple(f(v) for v in r) for r in y]).equal


def _sorted_concatenations(v):
    return ",".join(sorted(v.split(","))) if isinstance(v, str) and "," in v else v


def _round6(v):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(f"{float(v):.6g}")
    if type(v).__name__ == "Decimal":
        return float(f"{float(v):.6g}")
    return v


def _as_text(v):
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if type(v).__name__ == "Decimal":
        v = float(v)
        v = int(v) if v.is_integer() else v
    return str(v)


def _limit_over_ties(r: _Replay) -> bool:
    """Whether a LIMIT of the plan keeps an arbitrary choice of rows: its input is unordered, or
    the row after the cut ties with the last row kept on the ordering keys (checked on the
    engine itself)."""
    plan, dialect, backend = r.plan, r.dialect, getattr(r, "backend", None)
    for node in plan:
        body = node.expression
        limit = body.args.get("limit") if isinstance(body, exp.Select) else None
        if limit is None:
            continue
        order = body.args.get("order")
        if order is None:
            source = plan.get(body.args["from_"].this.name) if body.args.get("from_") else None
            if source is None or not source.ordered:
                return True
            continue
        try:
            count = int(limit.expression.name)
            offset = body.args.get("offset")
            cut = count + (int(offset.expression.name) if offset is not None else 0)
        except (ValueError, AttributeError):
            continue
        keys = body.copy()
        keys.set("expressions", [exp.alias_(o.this.copy(), f"k{i}") for i, o in enumerate(order.expressions)])
        keys.set("limit", exp.Limit(expression=exp.Literal.number(cut + 1)))
        keys.set("offset", None)
        keys.set("distinct", None)
        if body.args.get("distinct") or body.args.get("group"):
            return True  # keys of a grouped or distinct body are not plain rows; assume the worst
        try:
            sql = dialect.render(dialect.compile_query(plan, keys))
            with Backend(backend.target, type(dialect)(), timeout_s=30.0, db_id=backend.db_id) as db:
                db.schema()
                rows = db.execute(sql, max_rows=cut + 1).rows
        except QueryGymError:
            continue
        if len(rows) > cut and cut > 0 and rows[cut - 1] == rows[cut]:
            return True
    return False


def _bare_column(r: _Replay) -> bool:
    for node in r.plan:
        body = node.expression
        if not isinstance(body, exp.Select):
            continue
        has_agg = any(e.find(exp.AggFunc) for e in body.expressions)
        if not has_agg:
            continue
        grouped = {g.sql() for g in (body.args["group"].expressions if body.args.get("group") else [])}
        for e in body.expressions:
            inner = e.this if isinstance(e, exp.Alias) else e
            if isinstance(inner, exp.Column) and inner.sql() not in grouped:
                return True
    return False


_ERROR_NORMALISE = [
    (re.compile(r"'[^']*'"), "'…'"), (re.compile(r'"[^"]*"'), '"…"'), (re.compile(r"\b\d+\b"), "N"),
]


def error_kind(message: str) -> str:
    """An error message with names and numbers blanked out, for grouping."""
    text = message.splitlines()[0] if message else ""
    text = re.sub(r"^\([^)]*\)\s*", "", text)
    for pattern, repl in _ERROR_NORMALISE:
        text = pattern.sub(repl, text)
    return text[:120]


def _sample(rows, n: int = 5):
    return None if rows is None else [list(r) for r in rows[:n]]


def _step_times(tasks, replays, engines) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for engine in engines:
        times = [s for t in tasks for s in replays[str(t.id)][engine].step_times]
        out[engine] = {"steps": len(times),
                       "median_ms": round(statistics.median(times) * 1000, 3) if times else None,
                       "mean_ms": round(statistics.fmean(times) * 1000, 3) if times else None}
    if "sqlite" in engines:
        for engine in engines:
            base = other = 0.0
            steps = 0
            for t in tasks:
                rs, ro = replays[str(t.id)]["sqlite"], replays[str(t.id)][engine]
                if rs.compiled and ro.compiled and len(rs.step_times) == len(ro.step_times):
                    base += sum(rs.step_times)
                    other += sum(ro.step_times)
                    steps += len(rs.step_times)
            out[engine]["ratio_to_sqlite"] = round(other / base, 3) if base else None
            out[engine]["compared_steps"] = steps
    return out


def format_engines_report(report: dict[str, Any], *, examples: int = 3) -> str:
    """The cross-engine report as text: agreement per engine pair, causes, compile failures, step times."""
    lines = [f"engines: {', '.join(report['engines'])}; tasks with a script: {report['tasks']}",
             "compiled: " + ", ".join(f"{e} {n}" for e, n in report["compiled"].items())]
    for key, pair in report["pairs"].items():
        share = f"{pair['share']:.2%}" if pair["share"] is not None else "-"
        causes = ", ".join(f"{c} {n}" for c, n in pair["disagreements"].items()) or "none"
        lines.append(f"{key}: {pair['agree']}/{pair['total']} agree ({share}); disagreements: {causes}")
    every = report["all"]
    share = f"{every['share']:.2%}" if every["share"] is not None else "-"
    lines.append(f"all engines: {every['agree']}/{every['total']} agree ({share})")
    for engine, kinds in report["failures"].items():
        if kinds:
            top = "; ".join(f"{k} ({n})" for k, n in list(kinds.items())[:examples])
            lines.append(f"{engine} fails on {sum(kinds.values())}: {top}")
    for engine, t in report["step_time"].items():
        ratio = t.get("ratio_to_sqlite")
        lines.append(f"{engine}: {t['steps']} steps, median {t['median_ms']} ms, mean {t['mean_ms']} ms"
                     + (f", {ratio}x SQLite's time on {t['compared_steps']} common steps" if ratio else ""))
    lines.append("loading: " + ", ".join(f"{e} {s:.2f} s" for e, s in report["load_seconds"].items()))
    return "\n".join(lines)
