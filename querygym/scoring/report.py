"""Grading a submitted report: the answer, its definitions, its numbers and its evidence.

A report is short text submitted with the id of the table that answers the question.  It cites
documents as ``[doc-id]`` (or ``[doc:doc-id]``) and intermediate tables as ``[T_n]``.

The answer and the report's quality are judged apart.  ``answer`` is whether the submitted
table equals the target table (``compare_tables``); only a right answer is a solved task.  The
report's ``quality`` is the weighted mean of four components, each between 0 and 1:

=================  ======  ==============================================================
component          weight  meaning
=================  ======  ==============================================================
``definitions``    0.40    share of the task's required documents the report cites
``reconciliation`` 0.30    share of the report's numbers found in a cited table
``evidence``       0.20    1 minus 0.25 per sentence that states a number but cites no table
``policy``         0.10    the submitted table's plan violates no declared policy that applies
=================  ======  ==============================================================

No component is earned vacuously: a report that states no figure earns no reconciliation
credit, one that cites no table earns no evidence credit, and one that cites no document earns
no definitions credit.  A component with nothing to judge (no required documents, no policy
that applies) is left out of the mean (``None``) rather than counted as full.  The environment
pays ``success`` times the quality for a right answer, and nothing for a wrong one.

Numbers: a figure such as ``1,234.5``, ``-3`` or ``12.5%``.  Figures glued to letters
(``FY2024``, ``Q2``), inside brackets (citations) or present in the question text are not
claims.  A figure reconciles when some numeric cell of a cited table rounds to it at the
precision written (``1,234,567.89`` matches ``1234567.8912``); a percentage also matches the
fraction (``12.5%`` matches ``0.125``).

>>> grade_numbers("Revenue was 1,234.57 [T_2].", {"T_2": [(1234.5678,)]}, question="")
(1.0, 0, [])
>>> graded = grade("hello", answer_equal=False, required_docs=["net-revenue"], known_docs=["net-revenue"],
...                cited_rows={}, violations=[], policies_apply=True)
>>> graded["answer"], graded["quality"], graded["components"]["reconciliation"], graded["components"]["evidence"]
(False, 0.0, 0.0, 0.0)
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

WEIGHTS = {"definitions": 0.40, "reconciliation": 0.30, "evidence": 0.20, "policy": 0.10}

_NUMBER = re.compile(r"(?<![\w.\[])(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)(%?)(?![\w\]])")
_CITATION = re.compile(r"\[([^\[\]]+)\]")
_TABLE_ID = re.compile(r"^T_\d+$", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[])")


def citations(report: str) -> tuple[list[str], list[str]]:
    """Document ids and table ids cited in ``report``, in order, without repeats."""
    docs, tables = [], []
    for raw in _CITATION.findall(report):
        for part in (p.strip() for p in raw.split(",")):
            if _TABLE_ID.match(part):
                tables.append(part.upper())
            elif part:
                docs.append(part[4:] if part.lower().startswith("doc:") else part)
    return list(dict.fromkeys(docs)), list(dict.fromkeys(tables))


def _figures(text: str, question: str) -> list[tuple[str, Decimal, bool]]:
    stripped = _CITATION.sub(" ", text)
    asked = {m.group(1).replace(",", "") for m in _NUMBER.finditer(question or "")}
    out = []
    for m in _NUMBER.finditer(stripped):
        literal = m.group(1).replace(",", "")
        if literal in asked:
            continue
        try:
            out.append((m.group(0), Decimal(literal), bool(m.group(2))))
        except InvalidOperation:
            continue
    return out


def _matches(figure: Decimal, percent: bool, values: Iterable[float]) -> bool:
    exponent = figure.as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    targets = [figure] + ([figure / 100] if percent else [])
    for value in values:
        for target, places in zip(targets, [decimals, decimals + 2]):
            if abs(Decimal(repr(value)) - target) <= Decimal(5) * Decimal(10) ** (-(places + 1)) + Decimal("1e-9"):
                return True
    return False


def _numeric_cells(rows: Iterable[tuple]) -> list[float]:
    out = []
    for row in rows:
        for v in row:
            if isinstance(v, bool) or v is None:
                continue
            if isinstance(v, (int, float, Decimal)) and math.isfinite(float(v)):
                out.append(float(v))
            elif isinstance(v, str):
                try:
                    out.append(float(v))
                except ValueError:
                    pass
    return out


def grade_numbers(report: str, cited_rows: dict[str, list[tuple]], *, question: str = "") -> tuple[float, int, list[str]]:
    """(reconciliation share, unsupported sentences, figures that reconcile with no cited table).

    The share is 0 when the report states no figure: there is nothing it reconciled."""
    values = _numeric_cells(r for rows in cited_rows.values() for r in rows)
    figures = _figures(report, question)
    unmatched = [text for text, figure, percent in figures if not _matches(figure, percent, values)]
    share = 0.0 if not figures else (len(figures) - len(unmatched)) / len(figures)
    unsupported = 0
    for sentence in _SENTENCE.split(report.strip()):
        if _figures(sentence, question) and not citations(sentence)[1]:
            unsupported += 1
    return share, unsupported, unmatched


def grade(report: str, *, answer_equal: bool, required_docs: Iterable[str], known_docs: Iterable[str],
          cited_rows: dict[str, list[tuple]], violations: list[dict], question: str = "",
          policies_apply: bool = False) -> dict[str, Any]:
    """The answer's verdict, every quality component, the weighted quality, and the detail behind each.

    ``policies_apply`` says whether any declared policy concerns the submitted table's plan; when
    none does, the policy component is left out rather than earned.
    """
    docs, tables = citations(report)
    required = list(required_docs)
    known = set(known_docs)
    share, unsupported, unmatched = grade_numbers(report, cited_rows, question=question)
    cited_known = [d for d in docs if d in known]
    components: dict[str, float | None] = {
        "definitions": (sum(d in docs for d in required) / len(required)) if required else None,
        "reconciliation": share,
        "evidence": max(0.0, 1.0 - 0.25 * unsupported) if tables else 0.0,
        # the plan's compliance counts for the report only when the report stands on that table
        "policy": (0.0 if violations or not tables else 1.0) if (policies_apply or violations) else None,
    }
    if required and not cited_known:
        components["definitions"] = 0.0
    judged = {k: v for k, v in components.items() if v is not None}
    weight = sum(WEIGHTS[k] for k in judged)
    quality = round(sum(WEIGHTS[k] * v for k, v in judged.items()) / weight, 6) if weight else 0.0
    return {
        "answer": bool(answer_equal), "quality": quality, "score": quality if answer_equal else 0.0,
        "components": components, "weights": dict(WEIGHTS),
        "cited_docs": docs, "cited_tables": tables, "unknown_docs": [d for d in docs if d not in known],
        "missing_docs": [d for d in required if d not in docs], "unreconciled": unmatched,
        "unsupported_claims": unsupported, "policy_violations": [v["id"] for v in violations],
    }
