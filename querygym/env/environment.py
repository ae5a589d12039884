"""The Gymnasium environment ``querygym/QueryGym-v0``.

Observations and actions are text.  ``reset`` shows the overview (question and schema);
``step`` takes the agent's text, parses it with the catalog, applies it, and returns the
observation of one of the paper's four kinds, named in ``info["kind"]``: ``"overview"``,
``"exploration"``, ``"cte"`` (a new intermediate table) or ``"error"`` — plus ``"report"`` when
an agent submits its report on a task with documentation (:mod:`querygym.env.workflow`).

``info`` always carries ``kind``, ``task_id``, ``step``, ``action`` (the parsed action as a
list, or None), ``cte_id`` (the new table's id, or None), ``error`` (``{"type", "message"}``,
or ``{}`` when the step succeeded), ``reward`` (the breakdown of the step's reward; ``{}`` at
reset) and, after an operation, ``relation`` (``"equal"``, ``"subset"``, ``"superset"`` or
``"different"``), ``row_count``, ``sql`` and ``comparison`` (``{}`` when the table is too large
to compare).  A value that is a dict is a dict at every step, never None: Gymnasium's vector
environments batch each key by the type of its first value and fail when one slot returns a dict
where another returned None.

>>> import gymnasium, querygym
>>> env = gymnasium.make("querygym/QueryGym-v0")
>>> obs, info = env.reset(seed=0)
>>> info["kind"]
'overview'
>>> obs, reward, terminated, truncated, info = env.step('Action: ["get_tables"]')
>>> info["kind"], reward
('exploration', 0.0)
>>> env.close()
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from querygym.actions.catalog import catalog as load_default_catalog
from querygym.converters.builtin import builtin_tasks
from querygym.converters.tasks import Task, TaskSet
from querygym.engine.backend import Backend
from querygym.engine.sandbox import open_sandbox
from querygym.env.episode import Episode
from querygym.env.handlers import Outcome, check_catalog
from querygym.env.reward import RewardConfig, RewardTracker
from querygym.env.spaces import TextSpace
from querygym.engine.cache import POLICIES as CACHE_POLICIES
from querygym.errors import (
    EngineUnavailableError,
    InvalidActionError,
    InvalidArgumentError,
    TaskError,
)
from querygym.scoring.compare import compare_tables


class QueryGymEnv(gym.Env):
    """Answer a question over a database by exploring it and building the answer with relational algebra.

    Parameters: ``tasks`` (a :class:`~querygym.converters.tasks.TaskSet` or list of tasks; the built-in
    enterprise tasks by default), ``dialect`` (engine name), ``max_steps`` (truncation),
    ``timeout_s`` (per query), ``reward`` (:class:`~querygym.env.reward.RewardConfig`),
    ``display_rows`` (rows shown per new table), ``max_result_rows`` (rows fetched to compare
    a table with the target; larger tables count as different), ``max_observation_chars``, and
    ``relation_feedback`` (append to each new table's observation whether it is a subset or
    superset of the answer; off by default, as in the paper, where only the reward says so), and
    ``budget`` (truncate the episode once the actions' costs from ``actions.yaml`` reach it), and
    ``result_cache`` (``"auto"``: keep intermediate results that later steps would otherwise compute
    again as temporary tables of the episode's session, chosen by cost; ``"always"``; ``"never"``;
    see :mod:`querygym.engine.cache`).
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(self, tasks: TaskSet | list[Task] | None = None, *, dialect: str = "sqlite", max_steps: int = 30,
                 timeout_s: float = 5.0, reward: RewardConfig | None = None, display_rows: int = 10,
                 max_result_rows: int = 100_000, max_observation_chars: int = 20_000,
                 relation_feedback: bool = False, budget: float | None = None, render_mode: str | None = None,
                 result_cache: str = "auto"):
        if tasks is None:
            tasks = builtin_tasks()
        elif not isinstance(tasks, TaskSet):
            tasks = TaskSet(tasks)
        if len(tasks) == 0:
            raise InvalidArgumentError("QueryGymEnv needs at least one task; the task set is empty.")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise InvalidArgumentError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        if max_steps < 1:
            raise InvalidArgumentError(f"max_steps must be at least 1, got {max_steps}")
        if budget is not None and budget <= 0:
            raise InvalidArgumentError(f"budget must be positive, got {budget}")
        self.tasks = tasks
        self.dialect = dialect
        self.max_steps = max_steps
        self.timeout_s = timeout_s
        self.reward_config = reward or RewardConfig()
        self.display_rows = display_rows
        self.max_result_rows = max_result_rows
        self.max_observation_chars = max_observation_chars
        self.relation_feedback = relation_feedback
        self.budget = budget
        self.render_mode = render_mode
        if result_cache not in CACHE_POLICIES:
            raise InvalidArgumentError(f"result_cache must be one of {', '.join(CACHE_POLICIES)}, got {result_cache!r}")
        self.result_cache = result_cache
        self.catalog = load_default_catalog()
        check_catalog(self.catalog)
        self.action_space = TextSpace(4_096)
        self.observation_space = TextSpace(max_observation_chars)
        self._backends: dict[str, Backend] = {}
        self._sandbox = None
        self.episode: Episode | None = None
        self.task: Task | None = None
        self._tracker: RewardTracker | None = None
        self._steps = 0
        self._solved_plain = False
        self._last_obs = ""
        self._done = False

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode on a task and return the overview: the question, evidence and schema.

        Args:
            seed (optional int): seeds the environment's PRNG (``np_random``), which picks the task when
                ``options`` names none; as in Gymnasium, ``seed=None`` keeps the current PRNG.
            options (optional dict): ``task_id`` (play this task of the set instead of a random playable
                one) and ``initial_sql`` (SQL, in the task's dialect, broken into steps and applied before
                the agent's first action; the task's own ``initial_sql`` by default).  Any other key raises
                :class:`~querygym.errors.InvalidArgumentError`.

        Returns:
            observation (str): the overview, followed by the report on ``initial_sql`` when one was applied.
            info (dict): ``kind`` (``"overview"``), ``task_id``, ``db_id``, ``step`` (0), ``action`` (None),
                ``cte_id`` (None), ``error`` (``{}``), ``reward`` (``{}``) and, after ``initial_sql``,
                ``initial`` (``sql``, ``steps``, ``applied``, ``failed_step``, ``error``, ``cte_ids``,
                ``final_cte_id`` and, when every step ran, the final table's ``relation`` to the target).
        """
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"task_id", "initial_sql"}
        if unknown:
            raise InvalidArgumentError(f"unknown reset option(s) {sorted(unknown)}; supported: task_id, initial_sql")
        if options.get("task_id") is not None:
            task = self.tasks[options["task_id"]]
            if not task.playable:
                raise TaskError(task.id, task.problem or "its database is not available")
        else:
            playable = self.tasks.playable()
            if not playable:
                raise TaskError("(any)", "no task in the set has a database; nothing can be played")
            task = playable[int(self.np_random.integers(len(playable)))]
        if task.neighbours and self.dialect != "sqlite":
            raise InvalidArgumentError(f"task {task.id} has neighbour databases (SQLite files), which the "
                                       f"{self.dialect!r} engine cannot open; play it with dialect='sqlite'")
        self._end_episode()
        # A task with setup SQL (BIRD-Critic's preprocess_sql) is played in a sandbox copy of its
        # database, thrown away at the next reset or close; other tasks get a no-op sandbox.
        self._close_sandbox()

        self._sandbox = open_sandbox(task)
        task = self._sandbox.task
        backend = self._backend(task)
        # The target comes from the task's own engine, where its gold SQL was written; the agent
        # may play on another engine (the plan compiles anywhere, the gold SQL need not).
        task.target_result(backend if backend.dialect.name == task.dialect else None)
        # What every comparison needs, made here once rather than in the episode's first step.
        task.prepared_target()
        task.target_ordered  # noqa: B018  (a cached property: the gold SQL is parsed once)
        self.task = task
        self.episode = Episode(task, backend, self.catalog, display_rows=self.display_rows,
                               max_result_rows=self.max_result_rows, np_random=self.np_random,
                               result_cache=self.result_cache, columnar=True)
        self._tracker = RewardTracker(self.reward_config)
        self._steps = 0
        self._solved_plain = False
        self._cost = 0.0
        self._done = False
        text = self.episode.overview()
        info = {"kind": "overview", "task_id": task.id, "db_id": task.db_id, "step": 0, "action": None,
                "cte_id": None, "error": {}, "reward": {}}
        initial_sql = options.get("initial_sql", task.initial_sql)
        if initial_sql is not None:
            if not isinstance(initial_sql, str):
                raise InvalidArgumentError(f"initial_sql must be a string, got {type(initial_sql).__name__}")
            report, detail = self.episode.start_from_sql(initial_sql, task.dialect)
            if detail["final_cte_id"] is not None:
                node = self.episode.plan.node(detail["final_cte_id"])
                rows = self.episode.rows(node, self.max_result_rows)
                comparison = None if rows.truncated else compare_tables(
                    rows.rows, task.prepared_target(), ordered=task.target_ordered and node.ordered)
                detail["relation"] = comparison.relation if comparison is not None else "different"
            text += "\n\n" + report
            info["initial"] = detail
        obs = self._clip(text)
        self._last_obs = obs
        return obs, info

    def step(self, action: Any):
        """Parse the agent's action, apply it to the episode and score the result.

        Args:
            action (str | list | dict): the agent's text, e.g. ``'Action: ["get_tables"]'``, or a parsed
                form the catalog accepts (``["name", arg, ...]``, ``{"action": name, "args": [...]}``, or a tool
                call's keyword arguments: ``{"action": name, "args": {"table_id": "T_0", ...}}``).
                An action that does not parse becomes an error observation, not an exception.

        Returns:
            observation (str): the step's text: exploration output, the new intermediate table, the
                submitted report, or the error with what would be valid (clipped to ``max_observation_chars``).
            reward (float): the total of :mod:`querygym.env.reward`: ``success`` when the table equals the
                target (scaled by the report's quality on a report task), ``partial`` once per episode for a
                subset or superset, plus the ``error`` and ``step`` terms.
            terminated (bool): the newest table equals the target (right on every neighbour database, if
                any), or a report was submitted on a task that asks for one.
            truncated (bool): not terminated, and ``max_steps`` steps were taken or the actions' costs
                reached ``budget``.
            info (dict): ``kind``, ``task_id``, ``db_id``, ``step``, ``action`` (the parsed action as a
                list, or None), ``cte_id``, ``error`` (``{"type", "message"}`` or ``{}``), ``reward`` (the
                breakdown), ``cost``, ``total_cost``, ``out_of_budget``, ``solved`` (the answer table equals
                the target), ``solved_plain`` (right on the task's own database at some step), ``robust``
                (with neighbours: whether this table is right on all of them, else None) and
                ``neighbour_mismatches``; after an operation also ``relation``, ``row_count``, ``sql`` and
                ``comparison``; and, when the step produced them, ``policy_violations``, ``report``,
                ``results``, ``diagnosis`` and ``execute_sql``.
        """
        if self.episode is None:
            raise InvalidArgumentError("call reset() before step()")
        self._steps += 1
        try:
            parsed = self.catalog.parse(action)
        except InvalidActionError as exc:
            outcome = self.episode.error_outcome(exc, None)
        else:
            outcome = self.episode.apply(parsed)
        relation, comparison, report = None, None, None
        if outcome.kind == "cte":
            comparison = self._compare(outcome)
            relation = comparison.relation if comparison is not None else "different"
            if relation == "subset" and outcome.row_count == 0:
                relation = "different"  # an empty table is a subset of every answer and says nothing
        elif outcome.kind == "report":
            report = outcome.extra["report"]
        plain_equal = relation == "equal"
        robust, coincidences = None, []
        if plain_equal and self.task.neighbours:
            coincidences = self._neighbour_mismatches(outcome)
            robust = not coincidences
            if not robust:
                relation = "coincidence"  # right on this database only: no reward, the episode goes on
        self._solved_plain = self._solved_plain or plain_equal
        breakdown = self._tracker.score(outcome.kind, relation, report)
        cost = (outcome.action.spec.cost if outcome.action is not None
                else float(self.catalog.settings.get("invalid_action_cost", 1.0)))
        self._cost += cost
        # A task that asks for a report ends when the report is submitted, not when the table is right.
        terminated = outcome.kind == "report" or (relation == "equal" and not self.task.requires_report)
        # Solved means right: the answer table equals the target, whatever else ended the episode.
        solved = bool(report["answer"]) if report is not None else (terminated and relation == "equal")
        out_of_budget = self.budget is not None and self._cost >= self.budget
        truncated = not terminated and (self._steps >= self.max_steps or out_of_budget)
        text = outcome.text
        if self.relation_feedback and outcome.kind == "cte":
            text += "\n" + comparison_note(comparison)
        if coincidences:
            text += (f"\nBut on {len(coincidences)} of {len(self.task.neighbours)} neighbour database(s) of the same "
                     f"schema the same plan does not give the right answer: it is right here by coincidence.")
        obs = self._clip(text)
        self._last_obs = obs
        info = {
            "kind": outcome.kind, "task_id": self.task.id, "db_id": self.task.db_id, "step": self._steps,
            "action": outcome.action.to_list() if outcome.action else None,
            "cte_id": outcome.node.id if outcome.node is not None and outcome.kind == "cte" else None,
            "error": outcome.error or {}, "reward": breakdown,
            "cost": cost, "total_cost": self._cost, "out_of_budget": out_of_budget, "solved": solved,
            # right on the task's own database at some step (without neighbours: the same as solved)
            "solved_plain": self._solved_plain or solved,
            # with neighbour databases: whether this step's table is right on every one of them
            "robust": robust, "neighbour_mismatches": coincidences,
        }
        if outcome.kind == "cte":
            info.update(relation=relation, row_count=outcome.row_count, sql=outcome.sql,
                        comparison=_comparison_info(comparison))
        if outcome.extra.get("policy_violations"):
            info["policy_violations"] = outcome.extra["policy_violations"]
        for key in ("report", "results", "diagnosis", "execute_sql"):
            if key in outcome.extra:
                info[key] = outcome.extra[key]
        if self.render_mode == "human":
            self.render()
        return obs, float(breakdown["total"]), terminated, truncated, info

    def render(self):
        """Return the last observation in ``"ansi"`` mode, print it in ``"human"`` mode; None otherwise."""
        if self.render_mode == "ansi":
            return self._last_obs
        if self.render_mode == "human":
            print(self._last_obs)
        return None

    def close(self):
        """Close the episode's sandbox and every database connection the environment opened."""
        self._end_episode()
        self._close_sandbox()
        for backend in self._backends.values():
            backend.close()
        self._backends.clear()
        self.episode = None
        super().close()

    # ------------------------------------------------------------------ internals
    def _end_episode(self) -> None:
        """Drop what the episode kept in its session (its cached intermediate results)."""
        episode = getattr(self, "episode", None)
        if episode is not None:
            self.episode = None
            try:
                episode.close()
            except EngineUnavailableError:  # the engine is gone, and the tables with it
                pass

    def _close_sandbox(self) -> None:
        sandbox = getattr(self, "_sandbox", None)
        if sandbox is None:
            return
        self._sandbox = None
        if sandbox.task is not getattr(sandbox, "original", None):
            backend = self._backends.pop(sandbox.task.db, None)
            if backend is not None:
                backend.close()
        sandbox.close()

    def _backend(self, task: Task) -> Backend:
        if task.db not in self._backends:
            self._backends[task.db] = Backend(task.db, self.dialect, timeout_s=self.timeout_s, db_id=task.db_id)
        return self._backends[task.db]

    def _neighbour_mismatches(self, outcome: Outcome) -> list[int]:
        """The neighbour databases (by index) on which the step's SQL does not give the gold query's
        result there.  A plan that fails to run on a neighbour counts as a mismatch."""

        def backend_for(path: str) -> Backend:
            if path not in self._backends:
                self._backends[path] = Backend(path, self.dialect, timeout_s=self.timeout_s, db_id=self.task.db_id)
            return self._backends[path]

        return self.task.neighbour_mismatches(outcome.sql, ordered=self.task.target_ordered and outcome.node.ordered,
                                              backend_for=backend_for, dialect=self.dialect, timeout_s=self.timeout_s)

    def _compare(self, outcome: Outcome):
        result = outcome.result
        if result.truncated:
            return None
        ordered = self.task.target_ordered and outcome.node.ordered
        return compare_tables(result.table(), self.task.prepared_target(), ordered=ordered)

    def _clip(self, text: str) -> str:
        limit = self.max_observation_chars
        if len(text) <= limit:
            return text
        note = "\n[observation truncated]"
        return text[: limit - len(note)] + note


def comparison_note(comparison) -> str:
    """A one-line hint on how the new table relates to the answer, without revealing it."""
    if comparison is None:
        return "The table is too large to compare with the answer."
    if comparison.equal:
        return "This table answers the question."
    return {
        "subset": "This table is part of the answer: some rows or columns are missing.",
        "superset": "This table contains the answer and more: some rows or columns are extra.",
    }.get(comparison.relation, "This table does not answer the question yet.")


def _comparison_info(comparison) -> dict:
    if comparison is None:
        return {}
    return {"relation": comparison.relation, "rows": comparison.rows, "columns": comparison.columns,
            "ordered": comparison.ordered, "detail": comparison.detail}
