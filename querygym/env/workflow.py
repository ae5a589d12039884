"""The workflow actions: documentation search, SQL with step feedback, error diagnosis, reports.

They are offered only when the task comes with documentation (a corpus, or BIRD evidence).
Each handler receives the episode and the parsed action and returns an
:class:`~querygym.env.handlers.Outcome`; agent mistakes raise
:class:`~querygym.errors.PlanError`, which the episode turns into an error observation.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from querygym.actions.catalog import Action
from querygym.env.handlers import Outcome, handler
from querygym.errors import PlanError
from querygym.plan.graph import NODE_ID
from querygym.scoring.compare import compare_tables
from querygym.scoring.docs import check_policies, policies_apply
from querygym.scoring.report import citations, grade
from querygym.util import closest, did_you_mean

if TYPE_CHECKING:
    from querygym.env.episode import Episode

SEARCH_RESULTS = 5
CITED_ROWS = 1_000


def _outcome(kind: str, text: str, action: Action, **extra):
    return Outcome(kind, text, action, **extra)


@handler("search_docs")
def search_docs(ep: "Episode", action: Action):
    """The documents that best match a query (bm25), each with its id and a snippet."""
    hits = ep.task.documents.search(action["query"], k=SEARCH_RESULTS)
    if not hits:
        return _outcome("exploration", f"No document matches {action['query']!r}.", action,
                        extra={"results": []})
    lines = [f"{n}. [{h.document.id}] {h.document.title}: {h.snippet}" for n, h in enumerate(hits, 1)]
    return _outcome("exploration", "Documents, best match first:\n" + "\n".join(lines), action,
                    extra={"results": [h.document.id for h in hits]})


@handler("read_doc")
def read_doc(ep: "Episode", action: Action):
    """One document in full."""
    doc_id = action["doc_id"].strip().strip("[]")
    doc = ep.task.documents.get(doc_id)
    if doc is None:
        ids = [d.id for d in ep.task.documents]
        raise PlanError(f"No document {doc_id!r}.{did_you_mean(doc_id, ids)} Use search_docs to find documents.")
    return _outcome("exploration", f"[{doc.id}] {doc.title}\n\n{doc.text}", action)


@handler("execute_sql")
def execute_sql(ep: "Episode", action: Action):
    """The SQL decomposed into steps, each materialised, up to the first that fails."""
    text, detail, last = ep.run_sql(action["sql"], ep.task.dialect)
    if detail["failed_step"] is None and last is not None:
        return _outcome("cte", text, action, node=last.node, result=last.result, row_count=last.row_count,
                        sql=last.sql, extra={"execute_sql": detail, **last.extra})
    error = detail["error"] or {"type": "plan", "message": "the SQL produced no step"}
    return _outcome("error", text, action, error=error, node=last.node if last else None,
                    extra={"execute_sql": detail})


_QUOTED = re.compile(r"'([^']+)'")


@handler("reflect_on_error")
def reflect_on_error(ep: "Episode", action: Action):
    """The last error, the valid names close to those that failed, and the documents naming them."""
    last = ep.last_error
    if last is None:
        return _outcome("exploration", "There is no error to reflect on: the last actions succeeded.", action,
                        extra={"diagnosis": None})
    message = last.error["message"] if last.error else last.text
    names = [n for n in dict.fromkeys(_QUOTED.findall(message)) if len(n) <= 64]
    known = _known_names(ep)
    candidates = {n: closest(n, known, n=3, cutoff=0.5) for n in names}
    mentions: dict[str, list[str]] = {}
    documents = [(d, (d.title + "\n" + d.text).lower()) for d in ep.task.documents]
    for name in names + [c for cs in candidates.values() for c in cs]:
        pattern = re.compile(rf"\b{re.escape(name)}\b", re.I)
        low = name.lower() if name.isascii() else ""  # a plain-ASCII name must occur as a substring first
        docs = [d.id for d, text in documents
                if low in text and (pattern.search(d.text) or pattern.search(d.title))]
        if docs:
            mentions[name] = docs[:5]
    lines = [f"The last error came from {last.action if last.action else 'unparseable text'}:",
             f"  {message}"]
    for name, options in candidates.items():
        if options:
            lines.append(f"Valid names close to {name!r}: {', '.join(options)}")
    if mentions:
        lines.append("Documents mentioning the names involved: " +
                     "; ".join(f"{n}: {', '.join(d)}" for n, d in mentions.items()))
    lines.append(f"Tables: {', '.join(ep.schema.table_names)}" +
                 (f"; intermediate tables: {', '.join(ep.plan.ids)}" if len(ep.plan) else ""))
    diagnosis = {"action": last.action.to_list() if last.action else None, "error": last.error,
                 "candidates": candidates, "documents": mentions}
    return _outcome("exploration", "\n".join(lines), action, extra={"diagnosis": diagnosis})


def _known_names(ep: "Episode") -> list[str]:
    names = list(ep.schema.table_names) + list(ep.plan.ids)
    for table in ep.schema:
        names += [c.name for c in table.columns]
    for node in ep.plan:
        names += list(node.column_names)
    return list(dict.fromkeys(names))


@handler("submit_report")
def submit_report(ep: "Episode", action: Action):
    """End the episode with a report on a table: the answer is judged, the report graded."""
    table_id = action["table_id"].strip()
    if not NODE_ID.match(table_id):
        raise PlanError(f"submit_report takes the id of an intermediate table (T_0, T_1, ...), got {table_id!r}.")
    node = ep.plan.node(table_id)
    result = ep.rows(node, ep.max_result_rows)
    answer = (not result.truncated) and compare_tables(
        result.rows, ep.task.prepared_target(), ordered=ep.task.target_ordered and node.ordered).equal
    _, tables = citations(action["report"])
    cited_rows = {}
    for tid in tables:
        cited = ep.plan.get(tid)
        if cited is not None:
            cited_rows[tid] = ep.rows(cited, CITED_ROWS).rows
    violations = check_policies(ep.task.documents.policies, ep.plan, node)
    graded = grade(action["report"], answer_equal=answer, required_docs=ep.task.required_docs,
                   known_docs=[d.id for d in ep.task.documents], cited_rows=cited_rows, violations=violations,
                   question=ep.task.question,
                   policies_apply=policies_apply(ep.task.documents.policies, ep.plan, node))
    c = graded["components"]

    def shown(value):
        return "n/a" if value is None else f"{value:.2f}"

    verdict = "right" if answer else "wrong: the table does not equal the answer"
    lines = [f"Report submitted with {table_id}. Answer {verdict}. Report quality {graded['quality']:.2f} of 1.00.",
             f"definitions {shown(c['definitions'])}, reconciliation {shown(c['reconciliation'])}, "
             f"evidence {shown(c['evidence'])}, policy {shown(c['policy'])}."]
    if graded["unreconciled"]:
        lines.append(f"Numbers found in no cited table: {', '.join(graded['unreconciled'])}.")
    if graded["unsupported_claims"]:
        lines.append(f"Sentences stating numbers without citing a table: {graded['unsupported_claims']}.")
    if graded["unknown_docs"]:
        lines.append(f"Cited documents that do not exist: {', '.join(graded['unknown_docs'])}.")
    if violations:
        lines.append("Policies violated: " + ", ".join(v["id"] for v in violations) + ".")
    return _outcome("report", "\n".join(lines), action, node=node, result=result, row_count=len(result.rows),
                    extra={"report": graded})
