"""Rewards.

* ``success`` (default 1.0) when the newest intermediate table equals the target; the episode
  terminates.
* ``partial`` (default 0.1) the first time in an episode that the newest table is a row- or
  column-subset or superset of the target.  It is paid at most once per episode, so repeating
  an operation, or producing many different supersets, earns nothing more: the most an
  episode can collect is ``partial + success``.  An empty table is a subset of every answer
  and earns nothing.
* on a task that asks for a report, the episode ends when the report is submitted; a report
  whose table equals the target earns ``success`` times the report's quality
  (:mod:`querygym.scoring.report`), a report on a wrong table earns nothing.  Its intermediate
  tables still earn the partial reward, and an equal table alone does not end the episode.

An episode is *solved* only when its answer table equals the target (the newest table, or the
table a report is submitted with); ``info["solved"]`` says so at every step.
* **robust success**: a task carrying neighbour databases (:mod:`querygym.synth`) is solved only
  when the table's plan also gives the gold query's result on every neighbour (each target
  computed there); a table right on the task's database alone has relation ``coincidence``,
  earns nothing and does not end the episode.  ``info["solved_plain"]`` keeps the plain verdict.
* ``error`` (default 0.0) for every step whose observation is an error (set it negative to
  penalise invalid actions), and ``step`` (default 0.0) for every step.

>>> tracker = RewardTracker(RewardConfig())
>>> tracker.score("cte", "superset")["total"], tracker.score("cte", "superset")["total"]
(0.1, 0.0)
>>> tracker.score("cte", "equal")["total"]
1.0
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class RewardConfig:
    """The reward terms: ``success``, ``partial``, ``error`` and ``step`` (see the module docstring)."""
    success: float = 1.0
    partial: float = 0.1
    error: float = 0.0
    step: float = 0.0


class RewardTracker:
    """Scores the steps of one episode under a :class:`RewardConfig`."""

    def __init__(self, config: RewardConfig):
        self.config = config
        self.partial_paid = False
        self._terms = asdict(config)  # the config as a dict, read once (it is frozen)

    def score(self, kind: str, relation: str | None = None, report: dict | None = None) -> dict:
        """Score one step from its observation kind, its table's relation to the target and the submitted
        report, if any: the terms, the ``relation``, their ``total`` and the ``config`` used.
        """
        c = self.config
        parts = {"success": 0.0, "partial": 0.0, "error": 0.0, "step": c.step}
        if kind == "error":
            parts["error"] = c.error
        elif kind == "report" and report is not None:
            parts["success"] = c.success * report["quality"] if report["answer"] else 0.0
        elif relation == "equal":
            parts["success"] = c.success
        elif relation in ("subset", "superset") and not self.partial_paid:
            self.partial_paid = True
            parts["partial"] = c.partial
        total = round(sum(parts.values()), 12)
        return {**parts, "relation": relation, "total": total, "config": dict(self._terms)}
