"""One episode's state and the application of one action to it.

The episode owns the plan graph of the task being played, and dispatches each parsed action
to its handler: an exploration function (``querygym.env.exploration``) or an operation class
(``querygym.plan.ops``).  Agent mistakes come back as an error :class:`Outcome`, never as an
exception; a failed operation leaves the plan exactly as it was.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sqlglot.errors import SqlglotError

from querygym.actions.catalog import Action, Catalog
from querygym.engine.backend import Backend, Result
from querygym.engine.cache import ResultCache
from querygym.env import exploration, workflow  # noqa: F401  (their handlers register on import)
from querygym.env.handlers import HANDLERS, Outcome
from querygym.env.render import format_table
from querygym.errors import (
    EngineUnavailableError,
    ExecutionError,
    InvalidActionError,
    PlanError,
    QueryTimeoutError,
)
from querygym.plan.decompose import decompose
from querygym.plan.graph import PlanGraph, PlanNode
from querygym.plan.ops import OPERATIONS, Context, nesting_error
from querygym.scoring.docs import check_policies


class Episode:
    """The plan being built for one task, and the means to extend and inspect it."""

    def __init__(self, task, backend: Backend, catalog: Catalog, *, display_rows: int = 10,
                 max_result_rows: int = 100_000, np_random: np.random.Generator | None = None,
                 result_cache: str = "auto", columnar: bool = False):
        self.task = task
        self.backend = backend
        self.dialect = backend.dialect
        self.catalog = catalog
        self.schema = backend.schema()
        self.plan = PlanGraph()
        #: the plan's nodes kept as temporary tables, so later steps do not compute them again
        self.cache = ResultCache(backend, policy=result_cache)
        #: whether a new table's rows are fetched into column arrays (``Result.data``), keeping only
        #: the rows shown as tuples: memory then grows with the values, not with Python rows
        self.columnar = columnar
        self.display_rows = display_rows
        self.max_result_rows = max_result_rows
        self.np_random = np_random if np_random is not None else np.random.default_rng()
        self.last_error: Outcome | None = None
        #: the catalog groups this task offers: workflow actions need documentation
        self.groups = {"exploration", "operation"} | ({"workflow"} if len(task.documents) else set())

    def close(self) -> None:
        """End the episode: drop the tables that kept its intermediate results."""
        self.cache.clear()

    def rows(self, node: PlanNode, max_rows: int | None, *, count: bool = False) -> Result:
        """The rows of ``node`` (a table of this episode's plan), read from its kept table when there is one."""
        return self.cache.read(self.plan, node, max_rows=max_rows, count=count)

    def context(self) -> Context:
        """The plan, schema and dialect that operations are built against."""
        return Context(self.plan, self.schema, self.dialect)

    # ------------------------------------------------------------------ applying actions
    def apply(self, action: Action) -> Outcome:
        """Carry out a parsed action and return its outcome; an agent's mistake becomes an error outcome."""
        outcome = self._dispatch(action)
        if outcome.kind == "error":
            self.last_error = outcome
        return outcome

    def _dispatch(self, action: Action) -> Outcome:
        if action.group not in self.groups:
            return self.error_outcome(InvalidActionError(
                f"{action.name} is not offered for this task: {self.catalog.groups[action.group].title.lower()} "
                f"need the task to come with documentation."), action)
        try:
            if action.name in OPERATIONS:
                return self._operate(action)
            return HANDLERS[action.name](self, action)
        except EngineUnavailableError:
            raise  # the engine is gone: the caller's failure, not the agent's mistake
        except (PlanError, InvalidActionError, ExecutionError) as exc:
            return self.error_outcome(exc, action)
        except SqlglotError as exc:
            return self.error_outcome(PlanError(str(exc).splitlines()[0]), action)
        except RecursionError:
            # Parsing enforces the nesting limits; an input nested deeply in a way they do not
            # measure is still the agent's expression, not a bug: an error observation, no warning.
            return self.error_outcome(nesting_error("action's SQL", _first_text(action), "too deep to process"),
                                      action)
        except Exception as exc:  # a bug of ours must not end the agent's episode; it is reported loudly
            warnings.warn(f"querygym internal error on {action}: {exc!r}", RuntimeWarning, stacklevel=2)
            outcome = self.error_outcome(PlanError(f"internal error: {exc}"), action)
            outcome.error["type"] = "internal"
            return outcome

    def error_outcome(self, exc: Exception, action: Action | None) -> Outcome:
        """Turn ``exc`` into an error outcome whose text says what went wrong and what was expected."""
        kind = {PlanError: "plan", InvalidActionError: "parse", QueryTimeoutError: "timeout"}.get(
            type(exc), "execution" if isinstance(exc, ExecutionError) else "plan")
        where = f" in {action.name}" if action is not None else ""
        text = f"Error{where}: {exc}"
        if action is not None and action.group == "operation":
            tables = ", ".join(self.plan.ids) or "none yet"
            text += f"\nNo table was created; intermediate tables are unchanged ({tables})."
        expected = getattr(exc, "expected", None)
        if expected:
            text += f"\nExpected: {expected}"
        outcome = Outcome("error", text, action, error={"type": kind, "message": str(exc)})
        self.last_error = outcome
        return outcome

    def _operate(self, action: Action) -> Outcome:
        ctx = self.context()
        node = OPERATIONS[action.name]().build(action, ctx)
        sql = self.dialect.compile(self.plan, node, pretty=True)  # shown: the table's meaning in one statement
        # run over the kept results of earlier steps; the rows past the cap are counted, as they
        # are read or by the engine, whichever costs less (Backend.execute)
        result = self.cache.run(self.plan, node, max_rows=self.max_result_rows,
                                columnar=self.display_rows if self.columnar else None, sql=sql)
        row_count = result.total
        self.plan.add(node)
        text = self.describe_node(node, result, row_count, sql)
        violations = self.check_policies(node)
        if violations:
            text += "\n" + "\n".join(
                f"Policy check: this table violates {v['id']} ({v['description']}) — no condition on "
                f"{', '.join(v['missing'])} in its plan." for v in violations)
        return Outcome("cte", text, action, node=node, result=result, row_count=row_count, sql=sql,
                       extra={"policy_violations": violations})

    def check_policies(self, node: PlanNode) -> list[dict]:
        """The task's documented policies that ``node``'s plan violates (none when the task has no policies)."""
        policies = self.task.documents.policies
        if not policies:
            return []

        return check_policies(policies, self.plan, node)

    # ------------------------------------------------------------------ error remediation
    def start_from_sql(self, sql: str, sql_dialect: str = "sqlite") -> tuple[str, dict[str, Any]]:
        """Break a user's SQL into steps and apply them up to the first that fails.

        Returns the report shown to the agent and its structured form for ``info``.
        """
        text, detail, _ = self.run_sql(sql, sql_dialect)
        return f"Your SQL:\n{sql.strip()}\n{text}", detail

    def run_sql(self, sql: str, sql_dialect: str = "sqlite") -> tuple[str, dict[str, Any], Outcome | None]:
        """Decompose ``sql`` and apply its steps until one fails: the text, the detail, the last table made."""

        decomposition = decompose(sql, self.schema, dialect=sql_dialect, plan=self.plan)
        steps = list(decomposition.actions)
        if decomposition.failed_action:
            steps.append(decomposition.failed_action)
        lines: list[str] = []
        detail: dict[str, Any] = {"sql": sql, "steps": steps, "applied": 0, "failed_step": None, "error": None,
                                  "cte_ids": [], "final_cte_id": None}
        if not steps and not decomposition.ok:
            detail["failed_step"] = 1
            detail["error"] = {"type": "decomposition", "message": decomposition.error}
            return f"It could not be broken into steps: {decomposition.error}.", detail, None
        lines.append(f"It was broken into {len(steps)} step(s):")
        failed, last = None, None
        for number, text in enumerate(steps, 1):
            if failed is not None:
                lines.append(f"  {number}. {text} -> not run")
                continue
            outcome = self.apply(self.catalog.parse(text))
            if outcome.kind == "cte":
                last = outcome
                detail["applied"] = number
                detail["cte_ids"].append(outcome.node.id)
                lines.append(f"  {number}. {text} -> {outcome.node.id} ({outcome.row_count} rows)")
            else:
                failed = number
                detail["failed_step"] = number
                detail["error"] = outcome.error
                lines.append(f"  {number}. {text} -> failed: {outcome.error['message']}")
        if failed is None and not decomposition.ok:
            failed = len(steps) + 1
            detail["failed_step"] = failed
            detail["error"] = {"type": "decomposition", "message": decomposition.error}
            what = "the next step cannot be built" if decomposition.construct == "step" else "not expressible as a step"
            lines.append(f"  {failed}. ({what}) -> {decomposition.error}")
        if failed is None:
            detail["final_cte_id"] = last.node.id if last else None
            lines.append(f"Every step ran; the final table is {detail['final_cte_id']}.")
            if last is not None:
                lines.append(self.describe_node(last.node, last.result, last.row_count, last.sql))
        else:
            made = ", ".join(detail["cte_ids"]) or "none"
            lines.append(f"Intermediate tables that exist: {made}. Repair from step {failed}.")
        return "\n".join(lines), detail, last

    # ------------------------------------------------------------------ text
    def describe_node(self, node: PlanNode, result: Result, row_count: int, sql: str) -> str:
        """The observation for a new table: its columns, row count, first rows and SQL."""
        cols = ", ".join(f"{c.name} ({c.type})" if c.type else c.name for c in node.schema)
        shown = result.rows[: self.display_rows]
        lines = [f"Created {node.id} with {node.operation}.", f"Columns: {cols}", f"Rows: {row_count}"]
        if node.ordered:
            lines.append("Row order: as ordered by the operation.")
        if shown:
            label = "Rows" if len(shown) == row_count else f"First {len(shown)} rows"
            lines.append(f"{label}:\n{format_table(node.column_names, shown)}")
        lines.append("SQL:\n" + sql)
        return "\n".join(lines)

    def overview(self) -> str:
        """The reset observation: the question, evidence, schema and how to answer."""
        task = self.task
        parts = [f"Question: {task.question}"]
        if task.evidence:
            parts.append(f"Evidence: {task.evidence}")
        parts.append(f"Database {self.schema.db_id}:\n{self.schema.describe()}")
        if "workflow" in self.groups:
            parts.append(f"Documentation: {len(self.task.documents)} document(s) define the business terms and "
                         f"policies; find them with search_docs. "
                         + ("End the episode with submit_report, citing the documents and tables you rely on."
                            if self.task.requires_report else ""))
        parts.append(
            "Answer by building the result table step by step. Write one action per turn as "
            'Action: ["<action>", "<parameter>", ...]. Operations create intermediate tables T_0, T_1, ... '
            "that later actions can use. The episode ends when the newest table equals the answer. "
            'Use ["get_actions"] and ["get_operations"] to list what you can do.')
        return "\n\n".join(parts)


def _first_text(action: Action) -> str:
    """The longest text parameter of ``action``, to name in an error."""
    values = [v for value in action.args.values() for v in (value if isinstance(value, list) else [value])]
    return max((v for v in values if isinstance(v, str)), key=len, default=action.name)
