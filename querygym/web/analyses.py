"""Folders written by ``querygym analyze``, read for the app: summaries, question lists, one question.

An analysis is named by its folder's name; the app only opens folders given on its command line
(``--analyses DIR``), and a question is found by its ``index`` among the records the folder
holds (never by a path from a URL).  Records are read once and kept in memory (re-read when
``analysis.jsonl`` changes), each with its search text folded in advance, so filtering and
paging an analysis of a whole dataset is one list comprehension.

>>> AnalysisLibrary([]).names()
[]
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from querygym.analysis.align import CATEGORIES
from querygym.analysis.report import compare_analyses, load_analysis
from querygym.errors import InvalidArgumentError
from querygym.web.folders import OutputFolder

PAGE_SIZE = 50
#: filters the question list understands
FILTERS = ("category", "difficulty", "db", "runs", "q")
#: ``category`` values that are not one category: every wrong prediction, and the unscored questions
CATEGORY_GROUPS = ("wrong", "skipped")
#: URL words under /analyses that are pages, not analyses
RESERVED = ("compare",)


class AnalysisFolder(OutputFolder):
    """One analysis directory: its summary, chart and per-question records."""

    CONFIG = "analysis.json"
    CHART = "report.png"

    def __init__(self, path: Path):
        super().__init__(path)
        self._by_index: dict[int, int] = {}
        self._search: list[str] = []

    def records(self) -> list[dict[str, Any]]:
        """Every question's record, in question order."""
        stamp = (self.path / "analysis.jsonl").stat().st_mtime
        with self._lock:
            if self._records is None or stamp != self._stamp:
                records = load_analysis(self.path)
                self._by_index = {r["index"]: i for i, r in enumerate(records)}
                self._search = [" ".join(str(r.get(k) or "") for k in ("question_id", "db_id", "question", "sql",
                                                                        "gold_sql", "detail")).casefold()
                                for r in records]
                self._records, self._stamp = records, stamp
            return self._records

    def question(self, index: int) -> tuple[dict[str, Any] | None, int | None, int | None]:
        """The record of question ``index`` and the indexes of the questions before and after it."""
        records = self.records()
        at = self._by_index.get(index)
        if at is None:
            return None, None, None
        before = records[at - 1]["index"] if at > 0 else None
        after = records[at + 1]["index"] if at + 1 < len(records) else None
        return records[at], before, after

    def listing(self, filters: dict[str, str] | None = None, page: int = 1,
                page_size: int = PAGE_SIZE) -> dict[str, Any]:
        """One page of the questions that pass ``filters``, with the facets to filter by."""
        records = self.records()
        test = _test(filters or {})
        chosen = [r for r, text in zip(records, self._search) if test(r, text)]
        page = max(1, int(page))
        start = (page - 1) * page_size
        return {"analysis": self.name, "total": len(records), "matching": len(chosen), "page": page,
                "page_size": page_size, "pages": max(1, -(-len(chosen) // page_size)),
                "questions": [row(r) for r in chosen[start:start + page_size]], "facets": facets(records)}


def category_of(record: dict[str, Any]) -> str:
    """The category a record is listed under: its own, or ``skipped`` when it was not scored."""
    return record.get("category") or "skipped"


def row(record: dict[str, Any]) -> dict[str, Any]:
    """A record as one line of the question list."""
    return {"index": record["index"], "question_id": record.get("question_id"), "db_id": record.get("db_id") or "",
            "difficulty": record.get("difficulty") or "", "question": record.get("question") or "",
            "runs": record.get("runs"), "category": category_of(record), "step": record.get("step"),
            "operation": record.get("operation"), "spider_ex": record.get("spider_ex"),
            "bird_ex": record.get("bird_ex"), "tie_at_limit": bool(record.get("tie_at_limit"))}


def _test(filters: dict[str, str]):
    category, difficulty = filters.get("category"), filters.get("difficulty")
    db, runs, q = filters.get("db"), filters.get("runs"), (filters.get("q") or "").casefold()
    if category and category not in CATEGORIES and category not in CATEGORY_GROUPS:
        raise InvalidArgumentError(f"category must be one of {', '.join((*CATEGORIES, *CATEGORY_GROUPS))}; "
                                   f"got {category!r}")
    if runs and runs not in ("yes", "no"):
        raise InvalidArgumentError(f"runs must be yes or no, got {runs!r}")

    def test(record: dict[str, Any], text: str) -> bool:
        if category == "wrong":
            if record.get("category") in (None, "correct"):
                return False
        elif category and category_of(record) != category:
            return False
        if difficulty and (record.get("difficulty") or "") != difficulty:
            return False
        if db and (record.get("db_id") or "") != db:
            return False
        if runs == "yes" and record.get("runs") is not True:
            return False
        if runs == "no" and record.get("runs") is not False:
            return False
        return not q or q in text

    return test


def facets(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the question list can be filtered by: categories with their counts, difficulties, databases."""
    counts: dict[str, int] = {}
    for r in records:
        counts[category_of(r)] = counts.get(category_of(r), 0) + 1
    return {"category": {c: counts[c] for c in (*CATEGORIES, "skipped") if counts.get(c)},
            "difficulty": sorted({r.get("difficulty") for r in records if r.get("difficulty")}),
            "db": sorted({r.get("db_id") for r in records if r.get("db_id")})}


def plan_steps(actions: list[str], marked: int | None) -> list[dict[str, Any]]:
    """A plan's actions as numbered steps (step *i* makes ``T_i``), with ``marked`` flagged.

    >>> [(s["step"], s["table"], s["marked"]) for s in plan_steps(['["get_tables"]', '["x"]'], 1)]
    [(0, 'T_0', False), (1, 'T_1', True)]
    """
    return [{"step": i, "table": f"T_{i}", "action": action, "operation": _operation(action), "marked": i == marked}
            for i, action in enumerate(actions or [])]


def _operation(action: str) -> str:
    try:
        parsed = json.loads(action)
    except (TypeError, ValueError):
        return ""
    return str(parsed[0]) if isinstance(parsed, list) and parsed else ""


class AnalysisLibrary:
    """The analyses named on the command line, by folder name (a folder holding analyses lists each of them)."""

    def __init__(self, dirs: Iterable[str | Path]):
        self._analyses: dict[str, AnalysisFolder] = {}
        for d in dirs:
            path = Path(d).expanduser().resolve()
            if not path.is_dir():
                raise InvalidArgumentError(f"--analyses {d}: not a directory")
            candidates = [path] if (path / "analysis.jsonl").is_file() else sorted(
                p for p in path.iterdir() if (p / "analysis.jsonl").is_file())
            if not candidates:
                raise InvalidArgumentError(f"--analyses {d}: neither an analysis of querygym analyze (no "
                                           f"analysis.jsonl) nor a folder of them")
            for folder in candidates:
                if folder.name in RESERVED:
                    raise InvalidArgumentError(f"--analyses {folder}: the app cannot name an analysis "
                                               f"{folder.name!r} (its page is /analyses/{folder.name}); "
                                               f"rename the folder")
                other = self._analyses.get(folder.name)
                if other is not None and other.path != folder:
                    raise InvalidArgumentError(f"--analyses: two analyses are named {folder.name!r} ({other.path} "
                                               f"and {folder}); the app names them by folder, so rename one")
                self._analyses[folder.name] = AnalysisFolder(folder)

    def names(self) -> list[str]:
        """The analyses' names (their folder names), in the order they were found."""
        return list(self._analyses)

    def get(self, name: str) -> AnalysisFolder | None:
        """The analysis called ``name``, or None."""
        return self._analyses.get(name)

    def __iter__(self):
        return iter(self._analyses.values())

    def preload(self) -> None:
        """Read every analysis' records (the app does it in a background thread at start)."""
        for analysis in self:
            analysis.records()

    def compare(self, a: str, b: str) -> dict[str, Any]:
        """:func:`querygym.analysis.report.compare_analyses` of two analyses given by name, with their
        questions attached and the folders named as the app names them (no server paths)."""
        left, right = self._analyses[a], self._analyses[b]
        result = compare_analyses(left.path, right.path)
        result.update(a=a, b=b)
        for key in ("only_a_right", "only_b_right"):
            rows = []
            for index in result[key]:
                ra, rb = left.question(index)[0], right.question(index)[0]
                rows.append({"index": index, "question_id": ra.get("question_id"), "db_id": ra.get("db_id"),
                             "question": ra.get("question") or "", "a": category_of(ra), "b": category_of(rb)})
            result[f"{key}_questions"] = rows
        return result
