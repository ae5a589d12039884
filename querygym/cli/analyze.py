"""``querygym analyze``: where a text-to-SQL system's predictions go wrong, step by step.

``querygym analyze --predictions FILE --data QUESTIONS --out DIR`` writes ``analysis.jsonl``,
``summary.json``, ``report.md`` and ``report.png``; ``querygym analyze --compare A B`` compares
two such analyses.  With ``--neighbours DIR`` (``querygym synth-db --neighbours K``) the predictions
right on the database are also judged on every neighbour: robust accuracy and coincidences.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from querygym.analysis import analyze
from querygym.analysis.report import (
    compare_analyses,
    compare_markdown,
)
from querygym.cli.common import dataset_args, load_tasks
from querygym.errors import QueryGymError
from querygym.util import atomic_write


def register(subparsers) -> None:
    """Add the ``analyze`` sub-command to ``subparsers``."""
    p = subparsers.add_parser("analyze", help="step-level analysis of text-to-SQL predictions")
    p.add_argument("--predictions", metavar="FILE", help="predictions: one SQL a line (Spider), BIRD's JSON, or "
                   "JSONL with question_id or index and sql")
    dataset_args(p)
    p.add_argument("--dialect", help="the engine the predictions run on (default: each task's own)")
    p.add_argument("--timeout", type=float, default=10.0, help="time limit per query in seconds (default: 10)")
    p.add_argument("--workers", type=int, default=1, help="questions analysed at once (default: 1)")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two analysis directories instead")
    p.add_argument("--out", metavar="DIR", help="output directory (required unless --compare)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_analyze)


def cmd_analyze(args: argparse.Namespace) -> int:
    """Analyse predictions (or compare two analyses) as the parsed ``args`` say; returns the exit status."""
    if args.compare:
        if args.predictions:
            raise QueryGymError("give --predictions FILE or --compare A B, not both")
        comparison = compare_analyses(*args.compare)
        text = compare_markdown(comparison)
        print(text, end="")
        if args.out:
            import json

            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            atomic_write(out / "compare.json", json.dumps(comparison, indent=2))
            atomic_write(out / "compare.md", text)
        return 0
    if not args.predictions:
        raise QueryGymError("querygym analyze needs --predictions FILE (or --compare A B)")
    if not args.out:
        raise QueryGymError("querygym analyze needs --out DIR for its analysis.jsonl, summary.json and report")
    # predictions line up with the whole questions file, so the selection is applied afterwards
    whole = copy.copy(args)
    whole.task, whole.limit = None, None
    tasks = load_tasks(whole)
    only = None
    if args.task or args.limit is not None:
        only = [t.id for t in load_tasks(args)]
    result = analyze(args.predictions, tasks, args.out, dialect=args.dialect, workers=args.workers,
                     timeout_s=args.timeout, only=only, progress=None if args.quiet else sys.stderr)
    s = result.summary
    acc = s["accuracy"]
    print(f"{s['scored']} of {s['questions']} questions scored ({s['skipped']} skipped): "
          f"querygym {acc['querygym']:.1%}, Spider EX {acc['spider_ex']:.1%}, BIRD EX {acc['bird_ex']:.1%}")
    if "querygym_robust" in acc:
        print(f"with neighbours: querygym robust {acc['querygym_robust']:.1%}; right only by coincidence "
              f"{s['coincidence']['count']} (category correct, flagged coincidence)")
    wrong = {k: v["count"] for k, v in s["categories"].items() if k != "correct" and v["count"]}
    print("wrong: " + (", ".join(f"{k} {v}" for k, v in sorted(wrong.items(), key=lambda kv: -kv[1])) or "none"))
    out = Path(args.out)
    print(f"wrote {out / 'analysis.jsonl'}, {out / 'summary.json'}, {out / 'report.md'} and {out / 'report.png'}")
    return 0
