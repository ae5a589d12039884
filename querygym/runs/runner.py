"""Running agents over task sets: one process, a process pool, or Ray; resumable; scorecards.

Layout of an output directory::

    run.json                 what was run (agent spec, env settings, task ids); a resumed run must match
    episodes/<task>.jsonl    the steps of one finished episode, written atomically
    episodes/<task>.json     its record (solved, steps, errors, reward, cost, tokens, the failed step
                             that stopped an agent which stops at one, ...)
    errors/<task>.json       an episode that an infrastructure failure stopped (not a played episode)
    trajectories.jsonl       every step of every episode, in task order (rebuilt at the end)
    summary.json             counts and rates, by difficulty
    scorecard.md / .png      the scorecard as Markdown and as a chart

An episode's files appear only once it has finished, by rename, so an interrupted run loses at
most the episodes in flight and a rerun with the same ``--out`` plays exactly the missing ones.

What counts: a task that cannot be played (no database, gold SQL that fails) is listed in the
summary as ``unplayable`` with its reason and is not in any success denominator.  An episode
stopped by the infrastructure — the model endpoint unreachable after its retries
(:class:`~querygym.errors.ModelEndpointError`), the database engine refused or lost
(:class:`~querygym.errors.EngineUnavailableError`), the time limit of the whole episode
(``episode_timeout_s``) — is no played episode: it goes to ``errors/<task>.json`` and the summary
counts it as an ``infrastructure_error``.  After an endpoint or engine failure the run stops
starting episodes and :func:`run_agent` raises :class:`~querygym.errors.RunAbortedError` after
writing the summary; after an episode time limit it goes on.  Rerunning the same command plays those tasks again.  A run whose
configuration cannot work (no task, nothing playable, an unknown dialect or agent) fails before
anything is played.

A step line holds: task, step, action text, parsed action, observation kind and text, reward,
CTE id, relation, error, cost, timing and the agent's token counts for that step.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO

from querygym.agents import get
from querygym.agents.scripts import trajectory_line
from querygym.converters.tasks import TaskSet
from querygym.dialects import get as get_dialect
from querygym.env.environment import QueryGymEnv
from querygym.errors import (
    DatasetError,
    EngineUnavailableError,
    EpisodeTimeoutError,
    InvalidArgumentError,
    ModelEndpointError,
    QueryGymError,
    RunAbortedError,
    TaskError,
)
from querygym.runs.progress import Progress
from querygym.runs.scorecard import write_scorecard
from querygym.util import atomic_write, check_resume

#: failures of the infrastructure, not of the agent or the task: the episode is recorded as an
#: error to play again, not as played
INFRASTRUCTURE_ERRORS = (ModelEndpointError, EngineUnavailableError, EpisodeTimeoutError)
#: those after which the run stops starting episodes (every further one would fail the same way)
STOPS_THE_RUN = (ModelEndpointError, EngineUnavailableError)


# ---------------------------------------------------------------------- one episode
def play_episode(env, agent, task, *, time_limit_s: float | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Play one task with one agent; returns the step lines and the episode record.

    ``time_limit_s`` bounds the whole episode (checked after each step): past it, the episode is an
    infrastructure error (``record["infrastructure_error"]``), as is an endpoint or engine failure.
    """
    started = time.perf_counter()
    record: dict[str, Any] = {"task": task.id, "difficulty": task.difficulty or "", "solved": False,
                              "solved_plain": False, "neighbours": len(getattr(task, "neighbours", ()) or ()),
                              "steps": 0,
                              "errors": 0, "error_kinds": {}, "reward": 0.0, "cost": 0.0, "truncated": False,
                              "tokens": {}, "error": None, "requires_report": bool(getattr(task, "requires_report",
                                                                                           False)),
                              "report": None, "policy_violations": 0, "failed_step": None}
    lines: list[dict[str, Any]] = []
    try:
        agent.reset(task)
        obs, info = env.reset(options={"task_id": task.id})
    except INFRASTRUCTURE_ERRORS as exc:
        return lines, _infrastructure_error(record, exc, started)
    except TaskError as exc:  # the task cannot be played (its gold SQL fails): not in any denominator
        record["error"] = record["unplayable"] = exc.reason
        record["elapsed_s"] = round(time.perf_counter() - started, 6)
        return lines, record
    except (QueryGymError, InvalidArgumentError) as exc:
        record["error"] = getattr(exc, "reason", None) or str(exc)
        record["elapsed_s"] = round(time.perf_counter() - started, 6)
        return lines, record
    error_kinds: Counter = Counter()
    tokens: Counter = Counter()
    step = 0
    while not agent.done:
        step += 1
        before = dict(agent.usage)
        t0 = time.perf_counter()
        try:
            action = agent.act(obs, info)
        except INFRASTRUCTURE_ERRORS as exc:
            return lines, _infrastructure_error(record, exc, started)
        except QueryGymError as exc:
            record["error"] = f"the agent failed: {exc}"
            break
        t1 = time.perf_counter()
        try:
            obs, reward, terminated, truncated, info = env.step(action)
        except INFRASTRUCTURE_ERRORS as exc:
            return lines, _infrastructure_error(record, exc, started)
        t2 = time.perf_counter()
        if time_limit_s is not None and t2 - started > time_limit_s and not (terminated or truncated):
            return lines, _infrastructure_error(record, EpisodeTimeoutError(
                f"the episode ran past its {time_limit_s:g} s time limit after {step} step(s)"), started)
        used = {k: v - before.get(k, 0) for k, v in agent.usage.items() if v != before.get(k, 0)}
        tokens.update(used)
        lines.append(trajectory_line(task.id, step, action, obs, reward, terminated, truncated, info,
                                     agent_s=t1 - t0, env_s=t2 - t1, tokens=used))
        record["reward"] += reward
        record["cost"] = info.get("total_cost", record["cost"])
        if info["kind"] == "error":
            error_kinds[info["error"]["type"]] += 1
        if info.get("policy_violations"):
            record["policy_violations"] += len(info["policy_violations"])
        if info["kind"] == "report":
            record["report"] = {"score": info["report"]["score"], "quality": info["report"]["quality"],
                                "answer": info["report"]["answer"], **info["report"]["components"],
                                "policy_violations": info["report"]["policy_violations"]}
        record["solved_plain"] = bool(record.get("solved_plain") or info.get("solved_plain") or info.get("solved"))
        if terminated or truncated:
            record["solved"] = bool(info.get("solved"))
            record["terminated"] = bool(terminated)
            record["truncated"] = bool(truncated)
            break
        if info["kind"] == "error" and getattr(agent, "STOPS_AT_FAILED_STEP", False):
            # Its later steps read the table this one did not build: replaying them only fails again.
            record["failed_step"] = {"step": step, "action": action, "error": info["error"]}
            break
    record.update(steps=len(lines), errors=sum(error_kinds.values()), error_kinds=dict(error_kinds),
                  tokens=dict(tokens), elapsed_s=round(time.perf_counter() - started, 6))
    return lines, record


def _infrastructure_error(record: dict[str, Any], exc: BaseException, started: float) -> dict[str, Any]:
    record["infrastructure_error"] = {"type": type(exc).__name__, "message": str(exc),
                                      "stops_run": isinstance(exc, STOPS_THE_RUN)}
    record["elapsed_s"] = round(time.perf_counter() - started, 6)
    return record


# ---------------------------------------------------------------------- workers
_WORKER: dict[str, Any] = {}


def _worker_init(tasks: TaskSet, env_kwargs: dict[str, Any], agent_spec: dict[str, Any],
                 episode_timeout_s: float | None = None) -> None:
    _WORKER["episode_timeout_s"] = episode_timeout_s
    _WORKER["tasks"] = tasks
    _WORKER["env"] = QueryGymEnv(tasks, **env_kwargs)
    _WORKER["agent"] = get(**agent_spec)


def _worker_play(task_id: Any):
    return play_episode(_WORKER["env"], _WORKER["agent"], _WORKER["tasks"][task_id],
                        time_limit_s=_WORKER.get("episode_timeout_s"))


class _RayActor:  # made a Ray actor class in _run_ray; kept importable for pickling by reference
    def __init__(self, tasks, env_kwargs, agent_spec, episode_timeout_s=None):
        _worker_init(tasks, env_kwargs, agent_spec, episode_timeout_s)

    def play(self, task_id):
        return _worker_play(task_id)


# ---------------------------------------------------------------------- a whole run
def run_agent(tasks: TaskSet, agent_spec: dict[str, Any], out_dir: str | Path, *,
              env_kwargs: dict[str, Any] | None = None, workers: int = 1, executor: str = "process",
              ray_address: str | None = None, progress: TextIO | None = sys.stderr,
              on_episode: Callable[[dict], None] | None = None,
              episode_timeout_s: float | None = None) -> dict[str, Any]:
    """Play every task of ``tasks`` with the agent ``agent_spec`` describes; resumable in ``out_dir``.

    ``executor`` is ``"process"`` (a process pool of ``workers``; one process plays in-line when
    ``workers`` is 1) or ``"ray"`` (``workers`` Ray actors on a local or given cluster).
    ``episode_timeout_s`` bounds each whole episode; an episode past it is recorded as an
    infrastructure error (played again by a rerun), and the run goes on.
    """
    if workers < 1:
        raise InvalidArgumentError(f"workers must be at least 1, got {workers}")
    if executor not in ("process", "ray"):
        raise InvalidArgumentError(f"executor must be 'process' or 'ray', got {executor!r}")
    env_kwargs = dict(env_kwargs or {})
    # A configuration that cannot work fails here, before any episode: not as one failed episode per task.
    if not len(tasks):
        raise InvalidArgumentError("no task selected: the task selection (--task, --limit) is empty")
    get_dialect(env_kwargs.get("dialect", "sqlite"))
    get(**agent_spec)
    unplayable = {str(t.id): t.problem or "its database is not available" for t in tasks if not t.playable}
    if len(unplayable) == len(tasks):
        raise DatasetError(f"none of the {len(tasks)} selected task(s) can be played: "
                           f"{Counter(unplayable.values()).most_common(1)[0][0]}")
    out = Path(out_dir)
    episodes_dir = out / "episodes"
    errors_dir = out / "errors"
    episodes_dir.mkdir(parents=True, exist_ok=True)
    errors_dir.mkdir(exist_ok=True)
    for partial in [*episodes_dir.glob(".*.tmp"), *errors_dir.glob(".*.tmp"), *out.glob(".*.tmp")]:
        partial.unlink(missing_ok=True)  # left by a process killed mid-write; never a finished episode
    config = {"agent": agent_spec, "env": env_kwargs, "tasks": [str(t.id) for t in tasks]}
    check_resume(out / "run.json", config, holds="a run of another agent, settings or task selection")
    playable = [t for t in tasks if t.playable]
    done = {p.stem for p in episodes_dir.glob("*.json")}
    todo = [t for t in playable if safe_name(t.id) not in done]
    bar = Progress(progress, len(playable), already=len(playable) - len(todo),
                    solved=sum(_read_record(episodes_dir / f"{safe_name(t.id)}.json")["solved"]
                               for t in playable if safe_name(t.id) in done))
    started = time.perf_counter()
    stop: list[str] = []  # why the run stopped playing, once an infrastructure error was met

    def finish(lines: list[dict], record: dict) -> None:
        name = safe_name(record["task"])
        if record.get("infrastructure_error"):
            atomic_write(errors_dir / f"{name}.json", json.dumps(record, default=str))
            error = record["infrastructure_error"]
            if error.get("stops_run", True) and not stop:
                stop.append(f"{error['type']}: {error['message']}")
            return
        atomic_write(episodes_dir / f"{name}.jsonl",
                     "".join(json.dumps(line, ensure_ascii=False, default=str) + "\n" for line in lines))
        atomic_write(episodes_dir / f"{name}.json", json.dumps(record, default=str))
        (errors_dir / f"{name}.json").unlink(missing_ok=True)  # an earlier attempt's error is history now
        bar.update(record["solved"])
        if on_episode is not None:
            on_episode(record)

    if todo:
        if executor == "ray":
            _run_ray(tasks, todo, env_kwargs, agent_spec, workers, ray_address, finish, stop, episode_timeout_s)
        elif workers == 1:
            _worker_init(tasks, env_kwargs, agent_spec, episode_timeout_s)
            try:
                for task in todo:
                    if stop:
                        break
                    finish(*_worker_play(task.id))
            finally:
                _WORKER["env"].close()
                _WORKER.clear()
        else:
            _run_pool(tasks, todo, env_kwargs, agent_spec, workers, finish, stop, episode_timeout_s)
    bar.close()
    played = [t for t in playable if (episodes_dir / f"{safe_name(t.id)}.json").is_file()]
    played_ids = {str(t.id) for t in played}
    records = [_read_record(episodes_dir / f"{safe_name(t.id)}.json") for t in played]
    errors = {str(t.id): _read_record(errors_dir / f"{safe_name(t.id)}.json")["infrastructure_error"]
              for t in playable if str(t.id) not in played_ids and (errors_dir / f"{safe_name(t.id)}.json").is_file()}
    atomic_write(out / "trajectories.jsonl", "".join(
        (episodes_dir / f"{safe_name(t.id)}.jsonl").read_text(encoding="utf-8") for t in played))
    summary = summarise(records, unplayable=unplayable, infrastructure_errors=errors)
    summary["tasks"] = len(tasks)
    summary["not_played"] = len(playable) - len(played) - len(errors)
    summary["elapsed_s"] = round(time.perf_counter() - started, 3)
    summary["played_now"] = sum(1 for t in todo if str(t.id) in played_ids)
    if stop:
        summary["stopped"] = stop[0]
    atomic_write(out / "summary.json", json.dumps(summary, indent=2, default=str))
    if stop:
        raise RunAbortedError(f"the run stopped: {stop[0]} — {len(records)} episode(s) played, "
                              f"{len(errors)} stopped by the error (in {errors_dir}), {summary['not_played']} "
                              f"not started; run the same command again to play them")
    write_scorecard(summary, records, out)
    return summary


def _run_pool(tasks, todo, env_kwargs, agent_spec, workers, finish, stop, episode_timeout_s=None) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init,
                             initargs=(tasks, env_kwargs, agent_spec, episode_timeout_s)) as pool:
        pending = {pool.submit(_worker_play, t.id) for t in todo[: workers * 2]}
        queue = list(todo[workers * 2:])
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                finish(*future.result())
                if queue and not stop:  # after an infrastructure error, the episodes in flight end the run
                    pending.add(pool.submit(_worker_play, queue.pop(0).id))


def _run_ray(tasks, todo, env_kwargs, agent_spec, workers, address, finish, stop, episode_timeout_s=None) -> None:
    try:
        import ray
    except ImportError:
        raise InvalidArgumentError("the Ray executor needs Ray: pip install 'querygym-ra[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False, ignore_reinit_error=True)
    try:
        actor_cls = ray.remote(num_cpus=1)(_RayActor)
        tasks_ref = ray.put(tasks)
        actors = [actor_cls.remote(tasks_ref, env_kwargs, agent_spec, episode_timeout_s) for _ in range(workers)]
        queue = list(todo)
        running = {}
        for actor in actors:
            if queue:
                running[actor.play.remote(queue.pop(0).id)] = actor
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            actor = running.pop(ready[0])
            finish(*ray.get(ready[0]))
            if queue and not stop:
                running[actor.play.remote(queue.pop(0).id)] = actor
    finally:
        if started_here:
            ray.shutdown()


# ---------------------------------------------------------------------- summaries
def summarise(records: list[dict[str, Any]], *, unplayable: dict[str, str] | None = None,
              infrastructure_errors: dict[str, Any] | None = None) -> dict[str, Any]:
    """Counts and rates over played episodes.

    ``unplayable`` (task id -> reason) and records that could not start because their task cannot
    be played are counted apart, as are ``infrastructure_errors`` (task id -> error): neither is
    in any success denominator.
    """
    unplayable = dict(unplayable or {})
    unplayable.update({str(r["task"]): r["unplayable"] for r in records if r.get("unplayable")})
    errors = dict(infrastructure_errors or {})
    records = [r for r in records if not r.get("unplayable") and not r.get("infrastructure_error")]
    n = len(records)
    solved = [r for r in records if r["solved"]]
    total_cost = sum(r.get("cost", 0.0) for r in records)
    by_difficulty: dict[str, dict[str, Any]] = {}
    for r in records:
        d = by_difficulty.setdefault(r.get("difficulty") or "unknown", {"episodes": 0, "solved": 0})
        d["episodes"] += 1
        d["solved"] += bool(r["solved"])
    for d in by_difficulty.values():
        d["success_rate"] = d["solved"] / d["episodes"]
    tokens: Counter = Counter()
    error_kinds: Counter = Counter()
    for r in records:
        tokens.update(r.get("tokens") or {})
        error_kinds.update(r.get("error_kinds") or {})
    reporting = [r for r in records if r.get("requires_report")]
    report_metrics = None
    if reporting:
        def mean(key):
            # over the reporting tasks; a missing report counts 0, a component with nothing to judge is left out
            values = [(r["report"] or {}).get(key, 0.0) for r in reporting]
            values = [float(v) for v in values if v is not None]
            return round(sum(values) / len(values), 4) if values else None

        report_metrics = {
            "tasks": len(reporting), "submitted": sum(r["report"] is not None for r in reporting),
            "answer_accuracy": mean("answer"), "definition_accuracy": mean("definitions"),
            "reconciliation_rate": mean("reconciliation"), "evidence": mean("evidence"),
            "mean_report_score": mean("score"), "mean_report_quality": mean("quality"),
            "reports_violating_policies": sum(bool((r["report"] or {}).get("policy_violations")) for r in reporting),
            "policy_violations_seen": sum(r.get("policy_violations", 0) for r in reporting),
        }
    return {
        "episodes": n, "solved": len(solved), "success_rate": len(solved) / n if n else 0.0,
        # with neighbour databases, solved is the robust verdict; plain counts answers right on the
        # task's own database.  Without neighbours there is no robust verdict to report (None).
        "with_neighbours": sum(bool(r.get("neighbours")) for r in records),
        "robust_success_rate": (len(solved) / n if n else 0.0)
        if any(r.get("neighbours") for r in records) else None,
        "solved_plain": sum(bool(r.get("solved_plain", r["solved"])) for r in records),
        "plain_success_rate": (sum(bool(r.get("solved_plain", r["solved"])) for r in records) / n) if n else 0.0,
        # solved (the answer equals the target), ended on a wrong answer, or cut off: always apart
        "terminated_wrong": sum(bool(r.get("terminated")) and not r["solved"] for r in records),
        "truncated": sum(bool(r.get("truncated")) for r in records),
        "reports": report_metrics,
        "steps": sum(r["steps"] for r in records), "errors": sum(r["errors"] for r in records),
        "mean_steps_solved": (sum(r["steps"] for r in solved) / len(solved)) if solved else None,
        "steps_to_solve": dict(sorted(Counter(r["steps"] for r in solved).items())),
        "error_kinds": dict(error_kinds.most_common()),
        "total_cost": round(total_cost, 6),
        # cost-normalised success: answers per 100 units of action cost spent over the whole run
        "solved_per_100_cost": round(100 * len(solved) / total_cost, 4) if total_cost else None,
        "mean_cost_solved": round(sum(r.get("cost", 0.0) for r in solved) / len(solved), 4) if solved else None,
        "by_difficulty": by_difficulty, "tokens": dict(tokens),
        "unsolved": [r["task"] for r in records if not r["solved"]],
        "failed_to_start": {str(r["task"]): r["error"] for r in records if r.get("error")},
        "failed_steps": {str(r["task"]): _failed_step_text(r["failed_step"]) for r in records
                         if r.get("failed_step")},
        "unplayable": len(unplayable), "unplayable_tasks": unplayable,
        "infrastructure_errors": len(errors), "infrastructure_error_tasks": errors,
    }


def _failed_step_text(failed: dict[str, Any]) -> str:
    error = failed.get("error") or {}
    return f"step {failed['step']} failed ({error.get('type', 'error')}): {error.get('message', '')}"


def format_summary(summary: dict[str, Any]) -> str:
    """The run summary as the lines ``querygym run`` prints."""
    lines = [f"episodes: {summary['episodes']}",
             f"solved:   {summary['solved']} ({summary['success_rate']:.1%}; the answer equals the target)",
             f"ended on a wrong answer: {summary['terminated_wrong']}; truncated: {summary['truncated']}"]
    if summary.get("robust_success_rate") is not None:
        lines.append(f"plain success (right on the task's database): {summary['solved_plain']} "
                     f"({summary['plain_success_rate']:.1%}); robust (right on every neighbour database too, "
                     f"{summary['with_neighbours']} task(s) with neighbours): {summary['robust_success_rate']:.1%}")
    lines.append(f"steps:    {summary['steps']} (errors: {summary['errors']})")
    if summary["mean_steps_solved"] is not None:
        lines.append(f"mean steps to solve: {summary['mean_steps_solved']:.1f}")
    if summary.get("solved_per_100_cost") is not None:
        lines.append(f"cost: {summary['total_cost']:g} in all; {summary['solved_per_100_cost']:.2f} solved per "
                     f"100 cost")
    for diff, d in sorted(summary["by_difficulty"].items()):
        lines.append(f"  {diff:<12} {d['solved']}/{d['episodes']}")
    reports = summary.get("reports")
    if reports:
        def pct(v):
            return "n/a" if v is None else f"{v:.1%}"

        lines.append(f"reports: {reports['submitted']}/{reports['tasks']} submitted; answer accuracy "
                     f"{pct(reports['answer_accuracy'])}, definition accuracy {pct(reports['definition_accuracy'])}, "
                     f"reconciliation {pct(reports['reconciliation_rate'])}, mean quality "
                     f"{reports['mean_report_quality'] or 0:.3f}; {reports['reports_violating_policies']} violating a policy")
    if summary.get("failed_steps"):
        lines.append(f"stopped at a failed step: {len(summary['failed_steps'])} episode(s)")
    if summary.get("unplayable"):
        reasons = Counter(summary["unplayable_tasks"].values()).most_common(1)[0]
        lines.append(f"unplayable: {summary['unplayable']} task(s), not counted (e.g. {reasons[1]} × {reasons[0]})")
    if summary.get("infrastructure_errors"):
        lines.append(f"infrastructure errors: {summary['infrastructure_errors']} episode(s), not counted; "
                     f"rerun the same command to play them")
    if summary["unsolved"]:
        more = ", …" if len(summary["unsolved"]) > 20 else ""
        lines.append("unsolved: " + ", ".join(map(str, summary["unsolved"][:20])) + more)
    return "\n".join(lines)


# ---------------------------------------------------------------------- files and progress
def safe_name(task_id: Any) -> str:
    """A task id as a file name: anything but letters, digits, ``_ . -`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(task_id))


def _read_record(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def tasks_with(tasks: TaskSet, ids: Iterable[str]) -> TaskSet:
    """The tasks of ``tasks`` whose ids (as text) are in ``ids``, in their order."""
    wanted = set(ids)
    return TaskSet([t for t in tasks if str(t.id) in wanted], name=tasks.name)
