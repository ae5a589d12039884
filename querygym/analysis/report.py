"""Summaries, reports and comparisons of prediction analyses.

:func:`summarise` turns the records of :func:`querygym.analysis.analyze` into counts and shares
per category and accuracies under querygym's, Spider's and BIRD's semantics, overall, per
difficulty and per database; :func:`write_report` writes ``summary.json``, ``report.md`` and the
chart ``report.png``; :func:`compare_analyses` sets two analyses of the same questions side by side.

Shares and accuracies are over the *scored* questions: those with a database whose gold query
runs.  Skipped questions are counted apart, with their reasons.  A prediction flagged
``tie_at_limit`` (other rows among those tied at the gold LIMIT) keeps its category in its
record but is counted under ``tie_at_limit``, not under its category: it is no error, and not
``correct`` either, which stays strict equality.

With neighbour databases (records carrying ``robust``), every block also gives
``accuracy["querygym_robust"]`` — right on the database and on every neighbour; a question whose
database has no neighbours counts as it does plainly, as in the environment — and ``coincidence``,
the predictions ``correct`` on the database but not on some neighbour (they stay ``correct`` in
the categories).

>>> records = [{"index": 0, "db_id": "a", "difficulty": "easy", "category": "correct", "runs": True,
...             "spider_ex": True, "bird_ex": True},
...            {"index": 1, "db_id": "a", "difficulty": "hard", "category": "filter", "runs": True,
...             "spider_ex": False, "bird_ex": False}]
>>> s = summarise(records)
>>> s["accuracy"]["querygym"], s["categories"]["filter"]["count"]
(0.5, 1)
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from querygym.analysis.align import CATEGORIES
from querygym.errors import InvalidArgumentError
from querygym.util import atomic_write

_SEMANTICS = {
    "querygym": "bag of rows, column order ignored through a column matching, numbers to 9 significant digits, "
                "row order checked when both the gold query and the prediction end in ORDER BY",
    "querygym_with_ties": "querygym's, counting as right a prediction that picks other rows among those tied at "
                          "the gold query's LIMIT",
    "spider_ex": "Spider test-suite evaluator (result_eq): same row and column counts, some column permutation "
                 "makes the rows equal, as sequences if the gold SQL contains ORDER BY, else as multisets; "
                 "exact values",
    "bird_ex": "BIRD evaluator: set(prediction rows) == set(gold rows), column order kept, exact values",
    "querygym_robust": "querygym's, on the question's database and on every neighbour database of the same schema "
                       "(the gold query's result computed on each)",
}


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts, shares and accuracies of analysed records (see the module docstring)."""
    scored = [r for r in records if r.get("category") is not None]
    skipped = [r for r in records if r.get("category") is None]
    robust = any(r.get("robust") is not None for r in scored)
    summary: dict[str, Any] = {
        "format": "querygym-analysis-summary/1",
        "questions": len(records),
        "scored": len(scored),
        "skipped": len(skipped),
        "skipped_reasons": dict(Counter(_short(r.get("skipped") or "") for r in skipped).most_common()),
        **_block(scored, robust),
        "gold_ambiguous": sum(bool(r.get("gold_ambiguous")) for r in scored),
        "by_difficulty": {k: _block(v, robust)
                          for k, v in sorted(_group(scored, "difficulty").items(), key=_difficulty_order)},
        "by_database": {k: _block(v, robust) for k, v in sorted(_group(scored, "db_id").items())},
        "semantics": {k: v for k, v in _SEMANTICS.items() if robust or k != "querygym_robust"},
        "taxonomy": CATEGORIES,
    }
    return summary


def _block(records: list[dict[str, Any]], robust: bool = False) -> dict[str, Any]:
    n = len(records)
    # a pick among rows tied at the gold LIMIT keeps its category for the reader but is no error
    counts = Counter(r["category"] for r in records if not r.get("tie_at_limit"))
    ties = sum(bool(r.get("tie_at_limit")) for r in records)

    def share(k: int) -> float:
        return round(k / n, 4) if n else 0.0

    block = {
        "n": n,
        "accuracy": {"querygym": share(counts["correct"]),
                     "querygym_with_ties": share(counts["correct"] + ties),
                     "spider_ex": share(sum(bool(r.get("spider_ex")) for r in records)),
                     "bird_ex": share(sum(bool(r.get("bird_ex")) for r in records))},
        "runs": share(sum(bool(r.get("runs")) for r in records)),
        "categories": {c: {"count": counts[c], "share": share(counts[c])} for c in CATEGORIES},
        "tie_at_limit": {"count": ties, "share": share(ties)},
    }
    if robust:
        # right by coincidence: ``correct`` on the database, not on some neighbour
        coincidences = sum(r.get("category") == "correct" and bool(r.get("coincidence")) for r in records)
        block["accuracy"]["querygym_robust"] = share(counts["correct"] - coincidences)
        block["coincidence"] = {"count": coincidences, "share": share(coincidences)}
        block["neighbour_checked"] = sum(r.get("robust") is not None for r in records)
    return block


def _group(records: list[dict[str, Any]], key: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in records:
        out.setdefault(str(r.get(key) or "unknown"), []).append(r)
    return out


#: Spider's and BIRD's difficulty labels, easiest first; other labels follow in alphabetical order
_DIFFICULTIES = ("easy", "simple", "medium", "moderate", "hard", "challenging", "extra")


def _difficulty_order(item: tuple[str, list]) -> tuple[int, str]:
    name = item[0]
    return (_DIFFICULTIES.index(name) if name in _DIFFICULTIES else len(_DIFFICULTIES), name)


def _short(reason: str) -> str:
    return reason.split(" (", 1)[0]


def markdown(summary: dict[str, Any], records: list[dict[str, Any]]) -> str:
    """The report: accuracies, categories, per difficulty and database, then every wrong prediction."""
    acc = summary["accuracy"]
    robust = "querygym_robust" in acc
    lines = ["# Where did the model go wrong? (querygym analyze)", "",
             f"- questions: {summary['questions']}; scored: {summary['scored']}; skipped: {summary['skipped']}"
             + (f" ({'; '.join(f'{k}: {v}' for k, v in summary['skipped_reasons'].items())})"
                if summary["skipped"] else ""),
             f"- the prediction runs: {summary['runs']:.1%}",
             (f"- gold answers ambiguous (a LIMIT cuts through tied rows) among the predictions that are not "
              f"equal: {summary['gold_ambiguous']}, of which {summary['tie_at_limit']['count']} pick other tied "
              f"rows (listed apart, not counted as errors)")]
    if robust:
        lines.append(f"- right only by coincidence (`correct` on the database, not on some neighbour database): "
                     f"{summary['coincidence']['count']} of the {summary['neighbour_checked']} questions with "
                     f"neighbours; they keep category `correct` and are listed below")
    lines += ["", "| semantics | accuracy | what it compares |", "| --- | ---: | --- |"]
    for key, label in (("querygym", "querygym (`correct`)"),
                       ("querygym_robust", "querygym, robust (every neighbour too)"),
                       ("querygym_with_ties", "querygym, tied picks too"), ("spider_ex", "Spider EX"),
                       ("bird_ex", "BIRD EX")):
        if key in acc:
            lines.append(f"| {label} | {acc[key]:.1%} | {summary['semantics'][key]} |")
    lines += ["", "| category | count | share | meaning |", "| --- | ---: | ---: | --- |"]
    for name, c in summary["categories"].items():
        lines.append(f"| {name} | {c['count']} | {c['share']:.1%} | {summary['taxonomy'][name]} |")
    t = summary["tie_at_limit"]
    lines.append(f"| (tied pick) | {t['count']} | {t['share']:.1%} | other rows among those tied at the gold LIMIT; "
                 f"not an error |")
    for title, key in (("difficulty", "by_difficulty"), ("database", "by_database")):
        wrong = [c for c in CATEGORIES if c != "correct"
                 and any(b["categories"][c]["count"] for b in summary[key].values())]
        extra = " robust | coincidence |" if robust else ""
        lines += ["", f"| {title} | n | querygym |{extra} Spider EX | BIRD EX | " + " | ".join(wrong) + " |",
                  "| --- | ---: | ---: |" + " ---: | ---: |" * robust + " ---: | ---: |" + " ---: |" * len(wrong)]
        for name, b in summary[key].items():
            cells = " | ".join(str(b["categories"][c]["count"]) for c in wrong)
            robust_cells = (f" {b['accuracy']['querygym_robust']:.1%} | {b['coincidence']['count']} |"
                            if robust else "")
            lines.append(f"| {name} | {b['n']} | {b['accuracy']['querygym']:.1%} |{robust_cells} "
                         f"{b['accuracy']['spider_ex']:.1%} | {b['accuracy']['bird_ex']:.1%} | {cells} |")
    if robust:
        coincidences = [r for r in records if r.get("category") == "correct" and r.get("coincidence")]
        lines += ["", "## Right by coincidence", "",
                  ("Equal to the gold result on the question's database, but not on the neighbour databases "
                   "listed (0-based), where the gold query is run too; category `correct` is kept."), ""]
        for r in coincidences:
            lines += [f"### #{r['index']} `{r['db_id']}` — differs on neighbour(s) "
                      f"{', '.join(map(str, r['coincidence_on']))}", "", f"- question: {r.get('question', '')}", "",
                      "```sql", f"-- predicted\n{r.get('sql', '')}", f"-- gold\n{(r.get('gold_sql') or '').strip()}",
                      "```", ""]
        if not coincidences:
            lines += ["None.", ""]
    lines += ["", "## Wrong predictions", "",
              ("Steps are numbered from 0 (step *i* makes the intermediate table `T_i`); the plans are the "
               "catalog actions of the prediction and of the gold query."), ""]
    for r in sorted(records, key=lambda r: (bool(r.get("tie_at_limit")), r["index"])):
        if r.get("category") in (None, "correct"):
            continue
        where = f"step {r['step']}" + (f" ({r['operation']})" if r.get("operation") else "")
        tied = " — tied pick, not an error" if r.get("tie_at_limit") else ""
        lines += [f"### #{r['index']} `{r['db_id']}` — {r['category']} at {where}{tied}", "",
                  f"- question: {r.get('question', '')}",
                  f"- why: {r.get('detail') or ''}"]
        if r.get("reason"):
            lines.append(f"- reason: {r['reason']}")
        if r.get("clause_differences"):
            lines.append(f"- clauses that differ: {', '.join(r['clause_differences'])}")
        lines += ["", "```sql", f"-- predicted\n{r.get('sql', '')}", f"-- gold\n{(r.get('gold_sql') or '').strip()}",
                  "```", ""]
        if r.get("pred_actions"):
            lines += ["Predicted plan:", ""] + [f"{i}. `{a}`" for i, a in enumerate(r["pred_actions"])] + [""]
        if r.get("gold_actions"):
            lines += ["Gold plan:", ""] + [f"{i}. `{a}`" for i, a in enumerate(r["gold_actions"])] + [""]
    return "\n".join(lines).rstrip() + "\n"


def chart(summary: dict[str, Any], path: str | Path) -> None:
    """Draw the categories of the wrong predictions per difficulty as stacked bars (needs matplotlib)."""
    try:
        import matplotlib
    except ImportError:
        raise InvalidArgumentError("the analysis chart needs matplotlib: pip install 'querygym-ra[report]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = summary["by_difficulty"]
    names = list(groups)
    categories = [c for c in CATEGORIES if c != "correct"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(names) + 3), 4.2))
    bottom = [0.0] * len(names)
    colours = plt.get_cmap("tab10")
    for k, category in enumerate(categories):
        values = [groups[n]["categories"][category]["share"] for n in names]
        if not any(values):
            continue
        ax.bar(names, values, bottom=bottom, label=category, color=colours(k % 10))
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylim(0, max([*bottom, 0.01]) * 1.1)
    ax.set_ylabel("share of questions")
    ax.set_title(f"Wrong predictions by category and difficulty "
                 f"(querygym accuracy {summary['accuracy']['querygym']:.1%})")
    if any(bottom):  # with no wrong prediction there is nothing to label (matplotlib warns on an empty legend)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(summary: dict[str, Any], records: list[dict[str, Any]], out_dir: str | Path) -> None:
    """Write ``summary.json``, ``report.md`` and ``report.png`` (when matplotlib is installed) into ``out_dir``."""
    out = Path(out_dir)
    atomic_write(out / "summary.json", json.dumps(summary, indent=2, default=str))
    atomic_write(out / "report.md", markdown(summary, records))
    try:
        chart(summary, out / "report.png")
    except InvalidArgumentError:
        pass  # the report extra is not installed; the Markdown report says everything the chart does


def load_analysis(path: str | Path) -> list[dict[str, Any]]:
    """The records of an analysis: its directory or its ``analysis.jsonl``."""
    path = Path(path)
    file = path / "analysis.jsonl" if path.is_dir() else path
    if not file.is_file():
        raise InvalidArgumentError(f"{path}: not an analysis (no analysis.jsonl); run querygym analyze --out DIR first")
    records = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise InvalidArgumentError(f"{file}: line {number} is not JSON") from None
    return records


def compare_analyses(a: str | Path, b: str | Path) -> dict[str, Any]:
    """Which questions one analysis gets right and the other wrong, and how the categories shift.

    ``a`` and ``b`` are analysis directories (or their ``analysis.jsonl``) over the same questions.
    """
    ra = {r["index"]: r for r in load_analysis(a) if r.get("category") is not None}
    rb = {r["index"]: r for r in load_analysis(b) if r.get("category") is not None}
    common = sorted(set(ra) & set(rb))
    if not common:
        raise InvalidArgumentError(f"{a} and {b} share no scored question")
    mismatched = [i for i in common if ra[i].get("db_id") != rb[i].get("db_id")]
    if mismatched:
        raise InvalidArgumentError(f"{a} and {b} are not over the same questions (question {mismatched[0]} is on "
                                   f"{ra[mismatched[0]].get('db_id')!r} in one and {rb[mismatched[0]].get('db_id')!r} "
                                   f"in the other)")

    def right(r):
        return r["category"] == "correct"

    def kind(r):  # a tied pick is no error: it is counted apart, as in the summary
        return "tie_at_limit" if r.get("tie_at_limit") else r["category"]

    def by_coincidence(r):
        return right(r) and bool(r.get("coincidence"))

    def share(side, test):
        return round(sum(test(side[i]) for i in common) / len(common), 4)

    shifts = Counter((kind(ra[i]), kind(rb[i])) for i in common if kind(ra[i]) != kind(rb[i]))
    # the robust figures need both analyses run with neighbours
    robust = all(any(r.get("robust") is not None for r in side.values()) for side in (ra, rb))
    return {
        "a": str(a), "b": str(b), "questions": len(common),
        "accuracy": {"a": share(ra, right), "b": share(rb, right)},
        "robust_accuracy": {"a": share(ra, lambda r: right(r) and not by_coincidence(r)),
                            "b": share(rb, lambda r: right(r) and not by_coincidence(r))} if robust else None,
        "coincidence": {"a": [i for i in common if by_coincidence(ra[i])],
                        "b": [i for i in common if by_coincidence(rb[i])]} if robust else None,
        "both_right": sum(right(ra[i]) and right(rb[i]) for i in common),
        "both_wrong": sum(not right(ra[i]) and not right(rb[i]) for i in common),
        "only_a_right": [i for i in common if right(ra[i]) and not right(rb[i])],
        "only_b_right": [i for i in common if right(rb[i]) and not right(ra[i])],
        "categories": {c: {"a": sum(kind(ra[i]) == c for i in common),
                           "b": sum(kind(rb[i]) == c for i in common)} for c in [*CATEGORIES, "tie_at_limit"]},
        "shifts": [{"from": x, "to": y, "count": n} for (x, y), n in shifts.most_common()],
    }


def compare_markdown(comparison: dict[str, Any]) -> str:
    """A comparison of two analyses as Markdown."""
    c = comparison
    lines = [f"# {c['a']} (A) vs {c['b']} (B)", "",
             f"- questions scored in both: {c['questions']}",
             f"- accuracy: A {c['accuracy']['a']:.1%}, B {c['accuracy']['b']:.1%}"
             + (f"; robust (every neighbour too): A {c['robust_accuracy']['a']:.1%}, "
                f"B {c['robust_accuracy']['b']:.1%}" if c.get("robust_accuracy") else ""),
             f"- both right: {c['both_right']}; both wrong: {c['both_wrong']}",
             f"- only A right: {len(c['only_a_right'])} (questions {_ids(c['only_a_right'])})",
             f"- only B right: {len(c['only_b_right'])} (questions {_ids(c['only_b_right'])})",
             *([f"- right only by coincidence: A {len(c['coincidence']['a'])} (questions "
                f"{_ids(c['coincidence']['a'])}), B {len(c['coincidence']['b'])} (questions "
                f"{_ids(c['coincidence']['b'])})"] if c.get("coincidence") else []),
             "", "| category | A | B | B − A |", "| --- | ---: | ---: | ---: |"]
    for name, v in c["categories"].items():
        lines.append(f"| {name} | {v['a']} | {v['b']} | {v['b'] - v['a']:+d} |")
    lines += ["", "| A's category | B's category | questions |", "| --- | --- | ---: |"]
    lines += [f"| {s['from']} | {s['to']} | {s['count']} |" for s in c["shifts"]]
    return "\n".join(lines) + "\n"


def _ids(ids: list) -> str:
    return ", ".join(map(str, ids[:20])) + (", ..." if len(ids) > 20 else "") if ids else "none"
