"""Definition-aware tasks: reference trajectories against a definition-blind analyst, and search recall.

    python benchmarks/bench_analytics.py

Prints, over the built-in tasks that require a report: the mean report score and the answer
accuracy of the reference trajectories and of the definition-blind scripts (naive SQL through
execute_sql, then a report citing only its table), and how often search_docs puts a required
document in its top 3 when queried with the task's question.
"""

from __future__ import annotations

import tempfile

import querygym
from querygym.bench.analytics import blind_scripts, search_recall
from querygym.runs.runner import run_agent


def main() -> None:
    tasks = querygym.builtin_tasks()
    analytics = tasks.select([t.id for t in tasks if t.requires_report])
    references = {k: v for k, v in querygym.builtin_references().items() if k in {str(t.id) for t in analytics}}
    blind = blind_scripts(analytics)
    for name, scripts in (("reference", references), ("definition-blind", blind)):
        with tempfile.TemporaryDirectory() as out:
            played = analytics.select([t.id for t in analytics if str(t.id) in scripts])
            summary = run_agent(played, {"name": "script", "scripts": scripts}, out, progress=None)
        r = summary["reports"]
        print(f"{name:18} tasks {r['tasks']:3d}  mean report score {r['mean_report_score']:.3f}  answer accuracy "
              f"{r['answer_accuracy']:.1%}  definition accuracy {r['definition_accuracy']:.1%}  "
              f"reconciliation {r['reconciliation_rate']:.1%}  reports violating a policy "
              f"{r['reports_violating_policies']}")
    hits, total, misses = search_recall(analytics, k=3)
    print(f"search_docs with the question: a required document in the top 3 for {hits}/{total} tasks "
          f"({hits / total:.1%})")
    for task_id, required, found in misses:
        print(f"  missed {task_id}: required {list(required)}, top 3 {found}")


if __name__ == "__main__":
    main()
