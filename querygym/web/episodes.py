"""Episodes played from the browser: one environment each, kept per browser session, capped.

Nothing here knows HTTP.  A :class:`Workbench` owns the task set and the environment settings;
it opens :class:`PlayedEpisode` objects (an environment, its steps as trajectory lines in the
format ``querygym run`` writes, and a lock) inside a :class:`SessionStore` that caps how many
episodes a session keeps and how long an idle one lives.

>>> from querygym.converters.builtin import builtin_tasks
>>> bench = Workbench(builtin_tasks())
>>> store = SessionStore(max_episodes=2)
>>> episode = bench.open(store, "s1", 0)
>>> step = episode.step('Action: ["get_tables"]')
>>> step["kind"], len(episode.lines)
('exploration', 1)
>>> store.close_all()
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any, Iterable

from querygym.actions.catalog import catalog
from querygym.converters.tasks import Task, TaskSet
from querygym.dialects import available
from querygym.dialects import get as get_dialect
from querygym.env.environment import QueryGymEnv
from querygym.plan.graph import PlanGraph, PlanNode

#: rows of a node shown per page
PAGE_ROWS = 50
#: how many rows are fetched to count a node (beyond: "more than")
COUNT_CAP = 100_000
_TABLE_REF = re.compile(r"^\s*([^\s]+)")
_NODE_ID = re.compile(r"^T_\d+$", re.I)


class Workbench:
    """The tasks the app serves and the settings of every environment it opens."""

    def __init__(self, tasks: TaskSet, *, dialect: str = "sqlite", max_steps: int = 200, timeout_s: float = 5.0,
                 display_rows: int = 10):
        self.tasks = tasks
        self.env_kwargs = {"dialect": dialect, "max_steps": max_steps, "timeout_s": timeout_s,
                           "display_rows": display_rows}
        self._schemas: dict[Any, Any] = {}
        self._lock = threading.Lock()

    @property
    def dialect(self) -> str:
        """The engine every environment of the app plays on."""
        return self.env_kwargs["dialect"]

    def task(self, task_id: Any) -> Task:
        """A task by its id as written in a URL (ids are compared as text)."""
        return self.tasks[task_id]

    def search(self, q: str = "", *, difficulty: str = "", db_id: str = "") -> list[Task]:
        """Tasks whose id, database, question or difficulty contain every word of ``q``."""
        words = [w.casefold() for w in q.split()]
        found = []
        for task in self.tasks:
            if difficulty and (task.difficulty or "") != difficulty:
                continue
            if db_id and task.db_id != db_id:
                continue
            hay = f"{task.id} {task.db_id} {task.question} {task.difficulty}".casefold()
            if all(w in hay for w in words):
                found.append(task)
        return found

    def schema(self, task: Task):
        """``task``'s database schema, read once per database and kept."""
        key = task.db or task.db_id
        with self._lock:
            if key not in self._schemas:
                self._schemas[key] = task.database_schema()
            return self._schemas[key]

    def new_env(self) -> QueryGymEnv:
        """A new environment over the app's tasks, with the app's settings."""
        return QueryGymEnv(self.tasks, **self.env_kwargs)

    def open(self, store: "SessionStore", session: str, task_id: Any, *, initial_sql: str | None = None,
             replay: Iterable[Any] = ()) -> "PlayedEpisode":
        """A new episode of ``task_id`` in ``session``: reset (from ``initial_sql`` if given), then ``replay``."""
        task = self.task(task_id)
        episode = PlayedEpisode(self, task)
        episode.reset(initial_sql)
        for action in replay:
            episode.step(action)
        store.add(session, episode)
        return episode


class PlayedEpisode:
    """One environment played from the browser, with its trajectory lines."""

    def __init__(self, bench: Workbench, task: Task):
        self.id = secrets.token_urlsafe(9)
        self.bench = bench
        self.task = task
        self.env = bench.new_env()
        self.lock = threading.RLock()
        self.created = self.touched = time.monotonic()
        self.overview = ""
        self.reset_info: dict[str, Any] = {}
        self.lines: list[dict[str, Any]] = []
        #: the line of the step that built each node
        self.built_by: dict[str, int] = {}
        self.relations: dict[str, str] = {}
        self.row_counts: dict[str, int] = {}
        self.done = False

    def reset(self, initial_sql: str | None = None) -> tuple[str, dict[str, Any]]:
        """Reset the environment on this episode's task (from ``initial_sql`` if given) and forget the
        trajectory; returns the overview and the reset's ``info``.
        """
        with self.lock:
            options: dict[str, Any] = {"task_id": self.task.id}
            if initial_sql is not None:
                options["initial_sql"] = initial_sql
            obs, info = self.env.reset(options=options)
            self.overview, self.reset_info = obs, info
            self.lines, self.built_by, self.relations, self.row_counts, self.done = [], {}, {}, {}, False
            initial = info.get("initial")
            if initial:
                for cte in initial.get("cte_ids", []):
                    self.built_by[cte] = 0
                if initial.get("final_cte_id") and initial.get("relation"):
                    self.relations[initial["final_cte_id"]] = initial["relation"]
            return obs, info

    def step(self, action: Any) -> dict[str, Any]:
        """Play one action (text, or a list in the paper's form); returns the trajectory line."""
        with self.lock:
            self.touched = time.monotonic()
            text = action if isinstance(action, str) else json.dumps(action, ensure_ascii=False, default=str)
            t0 = time.perf_counter()
            obs, reward, terminated, truncated, info = self.env.step(action)
            elapsed = time.perf_counter() - t0
            line = {"task": self.task.id, "step": len(self.lines) + 1, "action": text,
                    "parsed_action": info["action"], "kind": info["kind"], "observation": obs, "reward": reward,
                    "cte_id": info["cte_id"], "relation": info.get("relation"), "error": info["error"],
                    "cost": info.get("cost", 0.0), "terminated": terminated, "truncated": truncated,
                    "agent_s": 0.0, "env_s": round(elapsed, 6), "tokens": {}}
            self.lines.append(line)
            if info["cte_id"]:
                self.built_by[info["cte_id"]] = line["step"]
                self.relations[info["cte_id"]] = info.get("relation") or "different"
                self.row_counts[info["cte_id"]] = info.get("row_count")
            self.done = self.done or terminated or truncated
            line["info"] = _jsonable(info)
            return line

    @property
    def plan(self) -> PlanGraph:
        """The episode's plan: the intermediate tables built so far."""
        return self.env.episode.plan

    def operation_steps(self, upto: str) -> list[Any]:
        """The actions that built ``upto`` and every table before it, in order (to continue from it)."""
        node = self.plan.node(upto)
        actions: list[Any] = []
        for n in self.plan:
            if n.index > node.index:
                break
            step = self.built_by.get(n.id)
            if step:
                actions.append(self.lines[step - 1]["parsed_action"])
            else:  # built by the reset's initial SQL: the step is the node's own action
                actions.append([n.operation, *n.params])
        return actions

    def trajectory_jsonl(self) -> str:
        """The trajectory lines as JSON lines, each without its ``info``."""
        return "".join(json.dumps({k: v for k, v in line.items() if k != "info"}, ensure_ascii=False,
                                  default=str) + "\n" for line in self.lines)

    def plan_json(self) -> dict[str, Any]:
        """The plan as the page draws it: nodes with their relation to the answer, row count and step."""
        return plan_json(self.plan, self.relations, self.built_by, self.env.episode.dialect, self.row_counts)

    def node_detail(self, node_id: str, page: int = 1) -> dict[str, Any]:
        """A node's rows (one page), row count, SQL for every installed engine and the step that built it."""
        with self.lock:
            self.touched = time.monotonic()
            node = self.plan.node(node_id)
            episode = self.env.episode
            sql = episode.dialect.compile(self.plan, node, pretty=True)
            page = max(1, int(page))
            result = episode.backend.execute(sql, max_rows=COUNT_CAP)
            start = (page - 1) * PAGE_ROWS
            step = self.built_by.get(node.id)
            return {
                "id": node.id, "operation": node.operation, "params": _jsonable(list(node.params)),
                "inputs": list(node.inputs), "columns": list(node.column_names),
                "types": [c.type for c in node.schema], "row_count": len(result.rows),
                "more_rows": result.truncated, "page": page, "page_rows": PAGE_ROWS,
                "pages": max(1, -(-len(result.rows) // PAGE_ROWS)),
                "rows": _jsonable(result.rows[start:start + PAGE_ROWS]), "relation": self.relations.get(node.id),
                "sql": compiled_everywhere(self.plan, node, episode.dialect.name),
                "step": step, "action": (self.lines[step - 1]["action"] if step else None),
            }

    def close(self) -> None:
        """Close the episode's environment and its database connections."""
        with self.lock:
            self.env.close()


def compiled_everywhere(plan: PlanGraph, node: PlanNode, first: str) -> dict[str, str]:
    """The node's SQL in every installed engine's dialect (the episode's own first)."""
    out: dict[str, str] = {}
    for name in [first] + [n for n in available() if n != first]:
        try:
            out[name] = get_dialect(name)().compile(plan, node, pretty=True)
        except Exception as exc:  # a dialect that cannot express the node says so; the page must not fail
            out[name] = f"-- cannot compile for {name}: {exc}"
    return out


def plan_json(plan: PlanGraph, relations: dict[str, str], built_by: dict[str, int], dialect,
              row_counts: dict[str, int] | None = None) -> dict[str, Any]:
    """The plan as ``{"nodes": [...], "edges": [[from, to], ...]}`` (base tables are nodes ``table:name``)."""
    nodes: list[dict[str, Any]] = []
    for node_id, data in plan.graph.nodes(data=True):
        if data.get("kind") == "table":
            nodes.append({"id": node_id, "kind": "table", "operation": "table", "label": data["name"],
                          "row_count": None, "relation": None, "sql": None, "step": None})
    for node in plan:
        nodes.append({"id": node.id, "kind": "cte", "operation": node.operation, "label": node.id,
                      "row_count": (row_counts or {}).get(node.id), "relation": relations.get(node.id),
                      "sql": dialect.compile(plan, node, pretty=True), "step": built_by.get(node.id),
                      "columns": list(node.column_names)})
    return {"nodes": nodes, "edges": [[a, b] for a, b in plan.graph.edges()]}


def plan_from_lines(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """A plan graph rebuilt from trajectory lines alone (no database): for recorded runs.

    Inputs are read from the table parameters of each operation that made a table; row counts
    and SQL from its observation.
    """
    spec_of = {s.name: s for s in catalog()}
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[list[str]] = []
    for line in lines:
        cte = line.get("cte_id")
        parsed = line.get("parsed_action") or []
        if not cte or not parsed or parsed[0] not in spec_of:
            continue
        obs = line.get("observation") or ""
        rows = re.search(r"^Rows: (\d+)$", obs, re.M)
        sql = obs.split("\nSQL:\n", 1)[1] if "\nSQL:\n" in obs else None
        nodes[cte] = {"id": cte, "kind": "cte", "operation": parsed[0], "label": cte,
                      "row_count": int(rows.group(1)) if rows else None, "relation": line.get("relation"),
                      "sql": sql, "step": line.get("step")}
        for source in table_inputs(parsed):
            if source not in nodes:
                nodes[source] = {"id": source, "kind": "table", "operation": "table", "label": source[6:],
                                 "row_count": None, "relation": None, "sql": None, "step": None}
            edges.append([source, cte])
    return {"nodes": list(nodes.values()), "edges": edges}


def table_inputs(parsed: list[Any]) -> list[str]:
    """The tables an action in list form reads: ``T_k`` for intermediate tables, ``table:name`` for base tables.

    >>> table_inputs(["perform_join", ["orders AS o", "T_1"], ["o.id = T_1.id"], ["INNER JOIN"]])
    ['table:orders', 'T_1']
    """
    spec_of = {s.name: s for s in catalog()}
    if not parsed or parsed[0] not in spec_of:
        return []
    found = []
    for param, value in zip(spec_of[parsed[0]].params, parsed[1:]):
        if param.type not in ("table", "table_list"):
            continue
        for ref in (value if isinstance(value, (list, tuple)) else [value]):
            m = _TABLE_REF.match(str(ref or ""))
            if m:
                name = m.group(1).strip('"`[]')
                found.append(name.upper() if _NODE_ID.match(name) else f"table:{name}")
    return found


class SessionStore:
    """Episodes per browser session: at most ``max_episodes`` each, dropped after ``max_age_s`` idle."""

    def __init__(self, *, max_episodes: int = 8, max_age_s: float = 3600.0, max_sessions: int = 200):
        self.max_episodes, self.max_age_s, self.max_sessions = max_episodes, max_age_s, max_sessions
        self._sessions: "OrderedDict[str, OrderedDict[str, PlayedEpisode]]" = OrderedDict()
        self._lock = threading.Lock()

    def add(self, session: str, episode: PlayedEpisode) -> None:
        """Keep ``episode`` in ``session``, closing the episodes that expired or exceed the limits."""
        dropped: list[PlayedEpisode] = []
        with self._lock:
            dropped += self._expire()
            episodes = self._sessions.setdefault(session, OrderedDict())
            self._sessions.move_to_end(session)
            episodes[episode.id] = episode
            while len(episodes) > self.max_episodes:
                dropped.append(episodes.popitem(last=False)[1])
            while len(self._sessions) > self.max_sessions:
                dropped += list(self._sessions.popitem(last=False)[1].values())
        for old in dropped:
            old.close()

    def get(self, session: str, episode_id: str) -> PlayedEpisode | None:
        """The episode ``episode_id`` of ``session``, or None when there is none or it has been idle too long."""
        with self._lock:
            episode = self._sessions.get(session, {}).get(episode_id)
        if episode is not None and time.monotonic() - episode.touched > self.max_age_s:
            return None
        return episode

    def episodes(self, session: str) -> list[PlayedEpisode]:
        """The episodes of ``session``, oldest first."""
        with self._lock:
            return list(self._sessions.get(session, {}).values())

    def _expire(self) -> list[PlayedEpisode]:
        now, dropped = time.monotonic(), []
        for episodes in self._sessions.values():
            for eid in [e for e, ep in episodes.items() if now - ep.touched > self.max_age_s]:
                dropped.append(episodes.pop(eid))
        return dropped

    def close_all(self) -> None:
        """Close every episode of every session and forget them."""
        with self._lock:
            episodes = [e for s in self._sessions.values() for e in s.values()]
            self._sessions.clear()
        for episode in episodes:
            episode.close()


def _jsonable(value: Any) -> Any:
    """Values as JSON can carry them (bytes and decimals as text)."""
    return json.loads(json.dumps(value, default=str))


__all__ = ["Workbench", "PlayedEpisode", "SessionStore", "plan_json", "plan_from_lines", "compiled_everywhere"]
