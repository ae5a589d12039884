"""The scorecard of a run: a table on the terminal, Markdown and a PNG chart.

The chart has three panels: success rate by difficulty, the distribution of steps to solve,
and the kinds of error observations.  It needs matplotlib (``pip install 'querygym-ra[report]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from querygym.errors import InvalidArgumentError


def markdown(summary: dict[str, Any]) -> str:
    """The scorecard as Markdown: success overall and by difficulty, steps to solve, errors, cost."""
    lines = ["# querygym scorecard", "",
             f"- episodes: {summary['episodes']}",
             f"- solved: {summary['solved']} ({summary['success_rate']:.1%})",
             f"- steps: {summary['steps']} (error observations: {summary['errors']})"]
    if summary.get("unplayable"):
        lines.append(f"- unplayable tasks (not counted above): {summary['unplayable']}")
    if summary.get("mean_steps_solved") is not None:
        lines.append(f"- mean steps to solve: {summary['mean_steps_solved']:.2f}")
    if summary.get("solved_per_100_cost") is not None:
        lines.append(f"- action cost: {summary['total_cost']:g} in all, {summary['solved_per_100_cost']:.2f} "
                     f"solved per 100 units, {summary['mean_cost_solved']} per solved episode")
    if summary.get("tokens"):
        lines.append("- tokens: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["tokens"].items())))
    reports = summary.get("reports")
    if reports:
        lines += ["", "| report metric | value |", "| --- | ---: |",
                  f"| reports submitted | {reports['submitted']} / {reports['tasks']} |",
                  f"| answer accuracy | {reports['answer_accuracy']:.1%} |",
                  f"| definition accuracy (required documents cited) | {reports['definition_accuracy']:.1%} |",
                  f"| reconciliation rate | {reports['reconciliation_rate']:.1%} |",
                  f"| evidence (claims with a cited table) | {reports['evidence']:.1%} |",
                  f"| mean report score | {reports['mean_report_score']:.3f} |",
                  f"| reports violating a policy | {reports['reports_violating_policies']} |",
                  f"| policy violations seen in plans | {reports['policy_violations_seen']} |"]
    lines += ["", "| difficulty | episodes | solved | success |", "| --- | ---: | ---: | ---: |"]
    for name, d in sorted(summary["by_difficulty"].items()):
        lines.append(f"| {name} | {d['episodes']} | {d['solved']} | {d['success_rate']:.1%} |")
    if summary.get("steps_to_solve"):
        lines += ["", "| steps to solve | episodes |", "| ---: | ---: |"]
        lines += [f"| {k} | {v} |" for k, v in summary["steps_to_solve"].items()]
    if summary.get("error_kinds"):
        lines += ["", "| error kind | observations |", "| --- | ---: |"]
        lines += [f"| {k} | {v} |" for k, v in summary["error_kinds"].items()]
    return "\n".join(lines) + "\n"


def chart(summary: dict[str, Any], path: str | Path) -> None:
    """The scorecard chart (extra ``report``: matplotlib) written to ``path``."""
    try:
        import matplotlib
    except ImportError:
        raise InvalidArgumentError("the scorecard chart needs matplotlib: pip install 'querygym-ra[report]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    names = sorted(summary["by_difficulty"])
    axes[0].bar(names, [summary["by_difficulty"][n]["success_rate"] for n in names], color="#3b7dd8")
    axes[0].set_ylim(0, 1)
    axes[0].set_title("success by difficulty")
    steps = summary.get("steps_to_solve") or {}
    axes[1].bar([str(k) for k in steps], list(steps.values()), color="#4caf50")
    axes[1].set_title("steps to solve")
    kinds = summary.get("error_kinds") or {}
    axes[2].bar(list(kinds) or ["none"], list(kinds.values()) or [0], color="#e0663d")
    axes[2].set_title("error observations by kind")
    fig.suptitle(f"{summary['solved']}/{summary['episodes']} solved ({summary['success_rate']:.1%})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_scorecard(summary: dict[str, Any], records: list[dict[str, Any]], out_dir: str | Path) -> None:
    """Write ``scorecard.md`` and ``scorecard.png`` into ``out_dir``."""
    out = Path(out_dir)
    (out / "scorecard.md").write_text(markdown(summary), encoding="utf-8")
    chart(summary, out / "scorecard.png")
