"""The ASGI app behind ``querygym serve``: Explore, SQL analysis, Agents and Predictions pages, and their JSON API.

Every page answers as JSON too (the same URL with ``Accept: application/json``, or its
``/api/...`` twin). Starlette and Jinja2 come with the ``ui`` extra and are imported when the
app is built. Safety: templates escape everything (autoescape), paths never come from a
request (runs and analyses are looked up by folder name among those given at start), episodes live per
browser session (cookie ``querygym_session``) and are capped in number and age, and every
agent or SQL mistake is shown as an error on the page, not as a server error.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from querygym import __version__
from querygym.actions.catalog import LIST_PARAM_TYPES, catalog
from querygym.converters.tasks import TaskSet
from querygym.errors import InvalidArgumentError, QueryGymError, UnknownTaskError
from querygym.runs.runner import safe_name
from querygym.web.analyses import FILTERS as ANALYSIS_FILTERS
from querygym.web.analyses import AnalysisLibrary, plan_steps
from querygym.web.episodes import SessionStore, Workbench, plan_from_lines
from querygym.web.live import AGENT_OPTIONS, LiveEpisode
from querygym.web.runs import FILTERS, RunLibrary, compare_runs
from querygym.web.sqlsteps import analyze_sql

HERE = Path(__file__).parent
SESSION_COOKIE = "querygym_session"
#: vendored assets, named with their versions
ASSETS = {"htmx": "htmx-2.0.11.min.js", "dagre": "dagre-3.1.3.min.js", "js": "querygym-web-0.1.0.js",
          "css": "querygym-web-0.1.0.css"}
#: tasks listed per page
TASKS_PER_PAGE = 200
#: live episodes kept at once (older finished ones are dropped)
MAX_LIVE = 20
_SUGGESTION = re.compile(r"(Did you mean '[^']*'\?|Existing(?: columns)?: .*?(?=\.(?:\s|$)|$))", re.M)
_SEPARATOR = re.compile(r"^-+(\+-+)*$")
#: a line that starts the next part of an observation ("SQL:"), not a row of a one-column table
_LABEL = re.compile(r"^[A-Z][A-Za-z ]*:( |$)")

API_DOC = [
    ("GET", "/api/tasks?q=", "tasks whose id, database, question or difficulty match q: id, db_id, question, difficulty"),
    ("GET", "/api/tasks/{task_id}", "one task: question, evidence, schema, gold SQL"),
    ("POST", "/api/episodes", '{"task_id", "initial_sql"?} -> {"episode_id", "observation", "info"}'),
    ("POST", "/api/episodes/{episode_id}/step",
     '{"action"} -> {"observation", "reward", "terminated", "truncated", "info"}'),
    ("GET", "/api/episodes/{episode_id}/plan", '{"nodes": [{"id", "operation", "row_count", "relation", "sql"}], '
                                              '"edges": [[from, to], ...]}'),
    ("GET", "/api/episodes/{episode_id}/nodes/{node_id}?page=", "a table's rows, row count, SQL per engine, step"),
    ("GET", "/api/episodes/{episode_id}/trajectory", "the episode as trajectory JSONL (the format of querygym run)"),
    ("POST", "/api/analyze", '{"task_id", "sql"} -> black_box verdict, steps, failing_step, diverging_step'),
    ("GET", "/api/runs", "the runs given with --runs, with their summaries"),
    ("GET", "/api/runs/{run}/episodes?status=&difficulty=&db=&error_kind=&min_steps=&max_steps=&max_cost=&q=&page=",
     "one page of a run's episodes"),
    ("GET", "/api/runs/{run}/episodes/{task_id}", "one recorded episode: its record, steps and plan"),
    ("GET", "/api/compare?a=RUN&b=RUN", "two runs of the same tasks, episode by episode"),
    ("GET", "/api/analyses", "the analyses given with --analyses (folders of querygym analyze), with their summaries"),
    ("GET", "/api/analyses/{name}?category=&difficulty=&db=&runs=&q=&page=&page_size=",
     "one page of an analysis' questions (category: one of the taxonomy, wrong or skipped; runs: yes or no)"),
    ("GET", "/api/analyses/{name}/{index}", "one question's record: SQL, verdict, category, step, both plans"),
    ("GET", "/api/analyses/compare?a=NAME&b=NAME", "two analyses of the same questions: right/wrong, category shifts"),
    ("POST", "/api/live", '{"task_id", "agent", "base_url"?, "model"?} -> {"live_id"}; then GET '
                          '/api/live/{live_id}/events (server-sent events), POST /api/live/{live_id}/stop'),
]


def create_app(tasks: TaskSet, *, runs: list[str] | tuple[str, ...] = (), analyses: list[str] | tuple[str, ...] = (),
               dialect: str = "sqlite", timeout_s: float = 5.0, max_steps: int = 200, max_episodes: int = 8,
               max_age_s: float = 3600.0):
    """The Starlette app serving ``tasks`` (and the run folders ``runs``, the analysis folders ``analyses``)."""
    try:
        import jinja2
        from starlette.applications import Starlette
        from starlette.exceptions import HTTPException
        from starlette.middleware import Middleware
        from starlette.responses import (
            FileResponse,
            HTMLResponse,
            JSONResponse,
            PlainTextResponse,
            RedirectResponse,
            Response,
            StreamingResponse,
        )
        from starlette.routing import Mount, Route
        from starlette.staticfiles import StaticFiles
        from starlette.templating import Jinja2Templates
    except ImportError:
        raise InvalidArgumentError("the web app needs its extra: pip install 'querygym-ra[ui]'") from None

    bench = Workbench(tasks, dialect=dialect, timeout_s=timeout_s, max_steps=max_steps)
    store = SessionStore(max_episodes=max_episodes, max_age_s=max_age_s)
    library = RunLibrary(runs)
    # read the runs' records in the background now, so the first listing of a large run is already warm
    threading.Thread(target=library.preload, name="querygym-runs-preload", daemon=True).start()
    predictions = AnalysisLibrary(analyses)
    threading.Thread(target=predictions.preload, name="querygym-analyses-preload", daemon=True).start()
    lives: dict[str, LiveEpisode] = {}
    cat = catalog()
    env = jinja2.Environment(loader=jinja2.PackageLoader("querygym.web", "templates"),
                             autoescape=True)
    env.filters["observation"] = observation_blocks
    env.filters["compact_json"] = lambda value: json.dumps(value, ensure_ascii=False)
    env.filters["suggestions"] = lambda text: _highlight(jinja2, text)
    env.globals.update(assets=ASSETS, version=__version__, urlencode=urlencode, runs_enabled=bool(library.names()))
    templates = Jinja2Templates(env=env)

    # ------------------------------------------------------------------ helpers
    def wants_json(request) -> bool:
        return (request.url.path == "/api" or request.url.path.startswith("/api/")
                or "application/json" in request.headers.get("accept", ""))

    def session(request) -> str:
        return request.scope["querygym.session"]

    def page(request, name: str, context: dict[str, Any], data: Any = None, status: int = 200):
        if wants_json(request):
            return JSONResponse(_plain(data if data is not None else context), status_code=status)
        return templates.TemplateResponse(request, name, {"nav": name.split(".")[0], **context}, status_code=status)

    async def body(request) -> dict[str, Any]:
        if "application/json" in request.headers.get("content-type", ""):
            try:
                data = await request.json()
            except ValueError:
                raise InvalidArgumentError("the request body is not JSON") from None
            if not isinstance(data, dict):
                raise InvalidArgumentError("the request body must be a JSON object")
            return data
        form = await request.form()
        return {k: form.getlist(k) if len(form.getlist(k)) > 1 else form[k] for k in form}

    def episode_of(request, episode_id: str):
        found = store.get(session(request), episode_id)
        if found is None:
            raise HTTPException(404, f"No episode {episode_id!r} in this browser session (episodes are kept per "
                                     f"session, at most {store.max_episodes}, for {int(store.max_age_s)} s idle).")
        return found

    def run_of(name: str):
        run = library.get(name)
        if run is None:
            raise HTTPException(404, f"No run named {name!r}; runs: {', '.join(library.names()) or 'none given'}")
        return run

    def analysis_of(name: str):
        analysis = predictions.get(name)
        if analysis is None:
            raise HTTPException(404, f"No analysis named {name!r}; analyses: "
                                     f"{', '.join(predictions.names()) or 'none given (serve --analyses DIR)'}")
        return analysis

    async def threaded(fn, *args, **kwargs):
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(fn, *args, **kwargs)

    def explore_url(task_id, **params) -> str:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return f"/tasks/{task_id}" + (f"?{query}" if query else "")

    def task_summary(task) -> dict[str, Any]:
        return {"id": task.id, "db_id": task.db_id, "question": task.question, "difficulty": task.difficulty or "",
                "playable": task.playable}

    def schema_json(task) -> dict[str, Any]:
        schema = bench.schema(task)
        return {"db_id": schema.db_id, "tables": [
            {"name": t.name, "columns": [{"name": c.name, "type": c.type, "primary_key": c.name in t.primary_key}
                                         for c in t.columns],
             "primary_key": list(t.primary_key),
             "foreign_keys": [{"columns": list(fk.columns), "ref_table": fk.ref_table,
                               "ref_columns": list(fk.ref_columns)} for fk in t.foreign_keys]} for t in schema]}

    # ------------------------------------------------------------------ tasks and Explore
    async def home(request):
        return RedirectResponse("/tasks", status_code=303)

    async def task_list(request):
        q = request.query_params.get("q", "")
        difficulty = request.query_params.get("difficulty", "")
        db = request.query_params.get("db", "")
        found = bench.search(q, difficulty=difficulty, db_id=db)
        page_no = max(1, _int(request.query_params.get("page", "1"), "page"))
        pages = max(1, -(-len(found) // TASKS_PER_PAGE))
        rows = [task_summary(t) for t in found[(page_no - 1) * TASKS_PER_PAGE: page_no * TASKS_PER_PAGE]]
        filters = {k: v for k, v in (("q", q), ("difficulty", difficulty), ("db", db)) if v}
        return page(request, "tasks.html", {"tasks": rows, "q": q, "difficulty": difficulty, "db": db,
                                            "difficulties": sorted({t.difficulty for t in tasks if t.difficulty}),
                                            "dbs": sorted({t.db_id for t in tasks}), "total": len(tasks),
                                            "matching": len(found), "page": page_no, "pages": pages,
                                            "filters": filters},
                    data={"tasks": rows, "total": len(tasks), "matching": len(found), "page": page_no,
                          "pages": pages})

    async def task_json(request):
        task = bench.task(request.path_params["task_id"])
        return JSONResponse(_plain({**task_summary(task), "evidence": task.evidence, "gold_sql": task.gold_sql,
                                    "initial_sql": task.initial_sql, "schema": await threaded(schema_json, task)}))

    async def task_page(request):
        task = bench.task(request.path_params["task_id"])
        params = request.query_params
        sid = session(request)
        episode = store.get(sid, params["episode"]) if params.get("episode") else None
        if episode is None or str(episode.task.id) != str(task.id):
            replay = _json_list(params.get("replay"))
            episode = await threaded(bench.open, store, sid, task.id, initial_sql=params.get("initial_sql"),
                                     replay=replay)
            return RedirectResponse(explore_url(task.id, episode=episode.id, action=params.get("action")),
                                    status_code=303)
        context = await threaded(explore_context, task, episode, params.get("action", ""))
        return page(request, "task.html", context, data={
            "task": context["task"], "schema": context["schema"], "episode_id": episode.id,
            "overview": episode.overview, "steps": _lines(episode), "plan": context["plan"]})

    def explore_context(task, episode, prefill: str = "") -> dict[str, Any]:
        schema = schema_json(task)
        with episode.lock:
            plan = episode.plan_json()
            tables = [t["name"] for t in schema["tables"]]
            made = [{"id": n.id, "columns": list(n.column_names)} for n in episode.plan]
        columns = sorted({f"{t['name']}.{c['name']}" for t in schema["tables"] for c in t["columns"]}
                         | {f"{m['id']}.{c}" for m in made for c in m["columns"]})
        share = explore_url(task.id, replay=json.dumps([line["parsed_action"] or line["action"]
                                                        for line in episode.lines], ensure_ascii=False))
        return {"task": {**task_summary(task), "evidence": task.evidence, "gold_sql": task.gold_sql,
                         "initial_sql": task.initial_sql},
                "schema": schema, "episode": episode, "episode_id": episode.id, "steps": _lines(episode),
                "plan": plan, "made": made, "tables": tables, "columns": columns, "catalog": _catalog_json(cat),
                "prefill": prefill, "share_url": share, "done": episode.done}

    async def episode_step(request):
        task = bench.task(request.path_params["task_id"])
        episode = episode_of(request, request.path_params["episode_id"])
        data = await body(request)
        action = _action_from_form(cat, data)
        await threaded(episode.step, action)
        if request.headers.get("hx-request"):
            context = await threaded(explore_context, task, episode)
            return templates.TemplateResponse(request, "_episode.html", context)
        return RedirectResponse(explore_url(task.id, episode=episode.id), status_code=303)

    async def episode_reset(request):
        task = bench.task(request.path_params["task_id"])
        data = await body(request)
        start = data.get("from") or None
        actions = []
        if start:
            old = episode_of(request, request.path_params["episode_id"])
            actions = await threaded(old.operation_steps, str(start))
        episode = await threaded(bench.open, store, session(request), task.id, replay=actions)
        url = explore_url(task.id, episode=episode.id)
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    async def node_view(request):
        episode = episode_of(request, request.path_params["episode_id"])
        page_no = _int(request.query_params.get("page", "1"), "page")
        detail = await threaded(episode.node_detail, request.path_params["node_id"], page_no)
        if wants_json(request):
            return JSONResponse(_plain(detail))
        return templates.TemplateResponse(request, "_node.html", {"node": detail, "episode_id": episode.id,
                                                                  "task_id": episode.task.id})

    async def trajectory(request):
        episode = episode_of(request, request.path_params["episode_id"])
        return PlainTextResponse(episode.trajectory_jsonl(), media_type="application/x-ndjson", headers={
            "Content-Disposition": f'attachment; filename="querygym-{safe_name(episode.task.id)}.jsonl"'})

    # ------------------------------------------------------------------ the episode API
    async def api_new_episode(request):
        data = await body(request)
        if "task_id" not in data:
            raise InvalidArgumentError('POST /api/episodes needs {"task_id": ..., "initial_sql": (optional)}')
        initial_sql = data.get("initial_sql")
        if initial_sql is not None and not isinstance(initial_sql, str):
            raise InvalidArgumentError("initial_sql must be a string")
        episode = await threaded(bench.open, store, session(request), data["task_id"], initial_sql=initial_sql)
        return JSONResponse(_plain({"episode_id": episode.id, "observation": episode.overview,
                                    "info": episode.reset_info}))

    async def api_step(request):
        episode = episode_of(request, request.path_params["episode_id"])
        data = await body(request)
        if "action" not in data:
            raise InvalidArgumentError('POST /api/episodes/{id}/step needs {"action": "Action: [...]"}')
        line = await threaded(episode.step, data["action"])
        return JSONResponse(_plain({"observation": line["observation"], "reward": line["reward"],
                                    "terminated": line["terminated"], "truncated": line["truncated"],
                                    "info": line["info"]}))

    async def api_plan(request):
        episode = episode_of(request, request.path_params["episode_id"])
        plan = await threaded(episode.plan_json)
        return JSONResponse(_plain(plan))

    # ------------------------------------------------------------------ SQL analysis
    async def analyze_page(request):
        params = request.query_params
        data = await body(request) if request.method == "POST" else {}
        task_id = next((v for v in (data.get("task_id"), data.get("task"), params.get("task")) if v not in (None, "")),
                       None)
        sql = data.get("sql") if "sql" in data else params.get("sql")
        source = data.get("source") or params.get("source")
        task = bench.task(task_id) if task_id is not None else None
        report = None
        if task is not None and not sql:
            if source == "gold":
                sql = task.gold_sql
            elif source == "initial" and task.initial_sql:
                sql = task.initial_sql
        run_sqls = _run_sqls(library, task) if task is not None else []
        if task is not None and source and source.startswith("run:"):
            sql = dict(run_sqls).get(source[4:], sql)
        if task is not None and sql:
            report = await threaded(analyze_sql, bench, task.id, sql)
        if request.url.path.startswith("/api/"):
            if task is None or not sql:
                raise InvalidArgumentError('POST /api/analyze needs {"task_id": ..., "sql": "SELECT ..."}')
            return JSONResponse(_plain(report))
        context = {"task": task_summary(task) if task else None, "sql": sql or "", "report": report,
                   "tasks": [task_summary(t) for t in tasks], "run_sqls": run_sqls,
                   "has_initial": bool(task is not None and task.initial_sql)}
        return page(request, "analyze.html", context, data={"task": context["task"], "report": report})

    async def analyze_to_explore(request):
        data = await body(request)
        task = bench.task(data.get("task_id"))
        sql = data.get("sql") or ""
        report = await threaded(analyze_sql, bench, task.id, sql)
        failing = report["failing_step"]
        prefill = ""
        if failing is not None and failing < len(report["steps"]):
            prefill = report["steps"][failing]["action"] or ""
        episode = await threaded(bench.open, store, session(request), task.id, initial_sql=sql)
        return RedirectResponse(explore_url(task.id, episode=episode.id, action=prefill or None), status_code=303)

    # ------------------------------------------------------------------ runs
    async def runs_page(request):
        rows = [{"name": r.name, "summary": r.summary, "config": r.config,
                 "has_scorecard": r.chart() is not None} for r in library]
        return page(request, "runs.html", {"runs": rows}, data={"runs": rows})

    async def run_page(request):
        run = run_of(request.path_params["run"])
        params = request.query_params
        filters = {k: params[k] for k in FILTERS if params.get(k)}
        listing = await threaded(run.episodes, filters, *_paging(params), tasks=tasks)
        if request.url.path.startswith("/api/"):
            return JSONResponse(_plain(listing))
        context = {"run": run.name, "summary": run.summary, "config": run.config, "listing": listing,
                   "filters": filters, "has_scorecard": run.chart() is not None,
                   "others": [n for n in library.names() if n != run.name]}
        return page(request, "run.html", context, data={"run": run.name, "summary": run.summary, **listing})

    async def scorecard(request):
        png = run_of(request.path_params["run"]).chart()
        if png is None:
            raise HTTPException(404, "this run has no scorecard.png")
        return FileResponse(png, media_type="image/png")

    async def run_episode(request):
        run = run_of(request.path_params["run"])
        task_id = request.path_params["task_id"]
        record = run.record(task_id)
        if record is None:
            raise HTTPException(404, f"run {run.name} has no episode of task {task_id!r}")
        lines = await threaded(run.lines, task_id)
        plan = plan_from_lines(lines)
        task = tasks[task_id] if task_id in tasks else None
        step = _int(request.query_params.get("step", "1"), "step") if lines else 0
        context = {"run": run.name, "record": record, "lines": lines, "plan": plan, "step": step,
                   "task": task_summary(task) if task else {"id": task_id, "question": "", "db_id": "",
                                                           "difficulty": "", "playable": False}}
        return page(request, "episode.html", context, data={"run": run.name, "record": record, "steps": lines,
                                                            "plan": plan})

    async def compare_page(request):
        a, b = request.query_params.get("a"), request.query_params.get("b")
        result = None
        if a and b:
            result = await threaded(compare_runs, run_of(a), run_of(b), tasks)
        elif request.url.path.startswith("/api/"):
            raise InvalidArgumentError("GET /api/compare needs ?a=RUN&b=RUN")
        return page(request, "compare.html", {"names": library.names(), "a": a or "", "b": b or "",
                                              "result": result}, data=result)

    # ------------------------------------------------------------------ live mode
    async def live_page(request):
        return page(request, "live.html", {"tasks": [task_summary(t) for t in tasks.playable()],
                                           "agents": list(AGENT_OPTIONS),
                                           "task_id": request.query_params.get("task", "")},
                    data={"agents": list(AGENT_OPTIONS), "live": [
                        {"live_id": k, "task": v.task.id, "finished": v.finished.is_set()} for k, v in lives.items()]})

    async def live_start(request):
        data = await body(request)
        spec = {"name": data.get("agent", "oracle"), "base_url": data.get("base_url"), "model": data.get("model"),
                "seed": _int(data["seed"], "seed") if data.get("seed") not in (None, "") else None}
        if spec["name"] == "llm" and not spec["model"]:
            raise InvalidArgumentError("the llm agent needs a model name (and a base URL for a local server)")
        live = LiveEpisode(bench, data.get("task_id"), spec)
        for old in [k for k, v in lives.items() if v.finished.is_set()][: max(0, len(lives) - MAX_LIVE + 1)]:
            lives.pop(old)
        if len(lives) >= MAX_LIVE:
            raise InvalidArgumentError(f"{MAX_LIVE} live episodes are running; stop one first")
        lives[live.id] = live.start()
        return JSONResponse({"live_id": live.id, "events": f"/api/live/{live.id}/events",
                             "stop": f"/api/live/{live.id}/stop"})

    def live_of(live_id: str) -> LiveEpisode:
        if live_id not in lives:
            raise HTTPException(404, f"no live episode {live_id!r}")
        return lives[live_id]

    async def live_events(request):
        live = live_of(request.path_params["live_id"])

        async def stream():
            sent = 0
            while True:
                while sent < len(live.events):
                    event = live.events[sent]
                    sent += 1
                    if event["type"] == "step":  # the step as the page shows it, rendered (and escaped) here
                        event = {**event, "html": env.get_template("_live_step.html").render(s=event["line"])}
                    yield f"event: {event['type']}\ndata: {json.dumps(_plain(event), ensure_ascii=False)}\n\n"
                    if event["type"] == "end":
                        return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def live_stop(request):
        live = live_of(request.path_params["live_id"])
        live.stop()
        return JSONResponse({"live_id": live.id, "stopping": True})

    # ------------------------------------------------------------------ the rest
    # ------------------------------------------------------------------ predictions (querygym analyze)
    async def predictions_page(request):
        return RedirectResponse("/analyses", status_code=301)

    def analysis_card(analysis) -> dict[str, Any]:
        summary = analysis.summary
        return {"name": analysis.name, "questions": summary.get("questions"), "scored": summary.get("scored"),
                "skipped": summary.get("skipped"), "accuracy": summary.get("accuracy") or {},
                "runs": summary.get("runs"),
                "categories": {k: v["count"] for k, v in (summary.get("categories") or {}).items()},
                "tie_at_limit": (summary.get("tie_at_limit") or {}).get("count", 0),
                "dataset": analysis.config.get("dataset") or "", "has_chart": analysis.chart() is not None}

    async def analyses_page(request):
        cards = [analysis_card(a) for a in predictions]
        return page(request, "analyses.html", {"analyses": cards}, data={"analyses": cards})

    async def analysis_page(request):
        analysis = analysis_of(request.path_params["name"])
        params = request.query_params
        filters = {k: params[k] for k in ANALYSIS_FILTERS if params.get(k)}
        listing = await threaded(analysis.listing, filters, *_paging(params))
        if wants_json(request):
            return JSONResponse(_plain(listing))
        context = {"card": analysis_card(analysis), "listing": listing, "filters": filters,
                   "others": [n for n in predictions.names() if n != analysis.name]}
        return page(request, "analysis.html", context)

    async def analysis_chart(request):
        png = analysis_of(request.path_params["name"]).chart()
        if png is None:
            raise HTTPException(404, "this analysis has no report.png (querygym analyze draws it with the report "
                                     "extra: pip install 'querygym-ra[report]')")
        return FileResponse(png, media_type="image/png")

    def repair_task(record: dict[str, Any]) -> tuple[Any, str]:
        """The served task a question is about, or why there is none (another dataset is served)."""
        question_id = record.get("question_id")
        if question_id is None or question_id not in tasks:
            return None, (f"question {question_id} is not among the served tasks; start querygym serve with the "
                          f"dataset this analysis was made on to repair it")
        task = tasks[question_id]
        if task.db_id != record.get("db_id") or (record.get("question") and task.question != record["question"]):
            return None, (f"task {question_id} of the served dataset is another question (on {task.db_id}); start "
                          f"querygym serve with the dataset this analysis was made on to repair it")
        if not task.playable:
            return None, f"task {question_id} cannot be played here: {task.problem or 'no database'}"
        return task, ""

    async def analysis_question(request):
        analysis = analysis_of(request.path_params["name"])
        index = request.path_params["index"]
        record, before, after = await threaded(analysis.question, index)
        if record is None:
            raise HTTPException(404, f"analysis {analysis.name} has no question with index {index}")
        task, why_not = repair_task(record)
        failing = record.get("category") == "execution_error"
        marked = record.get("step") if record.get("category") not in (None, "correct") else None
        gold_marked = record.get("gold_step") if marked is not None and not failing else None
        repair = (f"/analyze?{urlencode({'task': task.id, 'sql': record.get('sql') or ''})}"
                  if task is not None else None)
        context = {"analysis": analysis.name, "r": record, "before": before, "after": after,
                   "pred_steps": plan_steps(record.get("pred_actions") or [], marked),
                   "gold_steps": plan_steps(record.get("gold_actions") or [], gold_marked),
                   "mark": "failing" if failing else "diverging", "repair_url": repair, "why_not": why_not}
        return page(request, "analysis_question.html", context,
                    data={"analysis": analysis.name, "record": record, "previous": before, "next": after,
                          "repair_url": repair})

    async def analyses_compare(request):
        a, b = request.query_params.get("a"), request.query_params.get("b")
        result = None
        if a and b:
            for name in (a, b):
                analysis_of(name)  # an unknown name is a 404 that lists the analyses
            result = await threaded(predictions.compare, a, b)
        elif request.url.path.startswith("/api/"):
            raise InvalidArgumentError("GET /api/analyses/compare needs ?a=NAME&b=NAME")
        return page(request, "analyses_compare.html", {"names": predictions.names(), "a": a or "", "b": b or "",
                                                       "result": result}, data=result)

    async def api_index(request):
        rows = [{"method": m, "path": p, "returns": r} for m, p, r in API_DOC]
        return page(request, "api.html", {"routes": rows}, data={"routes": rows})

    async def on_error(request, exc):
        status = getattr(exc, "status_code", None) or (404 if isinstance(exc, UnknownTaskError) else 400)
        message = getattr(exc, "detail", None) or str(exc)
        if wants_json(request):
            return JSONResponse({"error": {"type": type(exc).__name__, "message": message}}, status_code=status)
        if request.headers.get("hx-request"):
            return HTMLResponse(templates.get_template("_error.html").render(message=message), status_code=200)
        return templates.TemplateResponse(request, "error.html", {"nav": "", "message": message, "status": status},
                                          status_code=status)

    routes = [
        Route("/", home),
        Route("/tasks", task_list),
        Route("/tasks/{task_id}", task_page),
        Route("/tasks/{task_id}/episodes/{episode_id}/step", episode_step, methods=["POST"]),
        Route("/tasks/{task_id}/episodes/{episode_id}/reset", episode_reset, methods=["POST"]),
        Route("/tasks/{task_id}/episodes/{episode_id}/nodes/{node_id}", node_view),
        Route("/tasks/{task_id}/episodes/{episode_id}/trajectory.jsonl", trajectory),
        Route("/analyze", analyze_page, methods=["GET", "POST"]),
        Route("/analyze/explore", analyze_to_explore, methods=["POST"]),
        Route("/runs", runs_page),
        Route("/compare", compare_page),
        Route("/live", live_page),
        Route("/predictions", predictions_page),
        Route("/analyses", analyses_page),
        Route("/analyses/compare", analyses_compare),
        Route("/analyses/{name}", analysis_page),
        Route("/analyses/{name}/report.png", analysis_chart),
        Route("/analyses/{name}/{index:int}", analysis_question),
        Route("/runs/{run}/scorecard.png", scorecard),
        Route("/runs/{run}", run_page),
        Route("/runs/{run}/{task_id}", run_episode),
        Route("/api", api_index),
        Route("/api/tasks", task_list),
        Route("/api/tasks/{task_id}", task_json),
        Route("/api/episodes", api_new_episode, methods=["POST"]),
        Route("/api/episodes/{episode_id}/step", api_step, methods=["POST"]),
        Route("/api/episodes/{episode_id}/plan", api_plan),
        Route("/api/episodes/{episode_id}/nodes/{node_id}", node_view),
        Route("/api/episodes/{episode_id}/trajectory", trajectory),
        Route("/api/analyze", analyze_page, methods=["POST"]),
        Route("/api/runs", runs_page),
        Route("/api/runs/{run}/episodes", run_page),
        Route("/api/runs/{run}/episodes/{task_id}", run_episode),
        Route("/api/compare", compare_page),
        Route("/api/analyses", analyses_page),
        Route("/api/analyses/compare", analyses_compare),
        Route("/api/analyses/{name}", analysis_page),
        Route("/api/analyses/{name}/{index:int}", analysis_question),
        Route("/api/live", live_start, methods=["POST"]),
        Route("/api/live/{live_id}/events", live_events),
        Route("/api/live/{live_id}/stop", live_stop, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("querygym.web", "static")]), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SessionMiddleware)],
                    exception_handlers={QueryGymError: on_error, HTTPException: on_error, ValueError: on_error})
    app.state.store, app.state.bench, app.state.lives, app.state.analyses = store, bench, lives, predictions
    return app


class SessionMiddleware:
    """Gives each browser a random session id in a cookie (HttpOnly, SameSite=Strict); no other state."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        cookies = {}
        for key, value in scope.get("headers", []):
            if key == b"cookie":
                for part in value.decode("latin-1").split(";"):
                    name, _, val = part.strip().partition("=")
                    cookies[name] = val
        sid = cookies.get(SESSION_COOKIE, "")
        fresh = not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", sid)
        if fresh:
            sid = secrets.token_urlsafe(18)
        scope["querygym.session"] = sid

        async def send_with_cookie(message):
            if fresh and message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", f"{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Strict".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


# ---------------------------------------------------------------------- helpers (no HTTP)
def _catalog_json(cat) -> list[dict[str, Any]]:
    return [{"name": s.name, "group": s.group, "description": cat.describe(s), "usage": s.usage,
             "examples": list(s.examples),
             "params": [{"name": p.name, "type": p.type, "description": p.description, "required": p.required,
                         "list": p.type in LIST_PARAM_TYPES} for p in s.params]} for s in cat]


def _action_from_form(cat, data: dict[str, Any]) -> Any:
    """The action a form describes: the free-text box, or one action's parameter fields.

    >>> from querygym.actions.catalog import catalog
    >>> _action_from_form(catalog(), {"name": "perform_join", "arg0": "a\\nb", "arg1": "a.x = b.x", "arg2": "INNER JOIN",
    ...                               "arg3": ""})
    ['perform_join', ['a', 'b'], ['a.x = b.x'], ['INNER JOIN']]
    """
    text = data.get("action")
    if isinstance(text, str) and text.strip():
        return text
    name = data.get("name")
    if not isinstance(name, str) or name not in cat:
        raise InvalidArgumentError("write an action in the Action box, or choose one and fill its parameters")
    spec = cat[name]
    values: list[Any] = []
    for i, param in enumerate(spec.params):
        raw = data.get(f"arg{i}", "")
        raw = raw if isinstance(raw, str) else "\n".join(raw)
        if param.type in LIST_PARAM_TYPES:
            values.append([v.strip() for v in raw.splitlines() if v.strip()])
        else:
            values.append(raw.strip())
    while values and values[-1] in ("", []) and not spec.params[len(values) - 1].required:
        values.pop()
    return [name, *values]


def _lines(episode) -> list[dict[str, Any]]:
    return [{k: v for k, v in line.items() if k != "info"} | {"solved": line["info"].get("solved")}
            for line in episode.lines]


def observation_blocks(text: str) -> list[dict[str, Any]]:
    """An observation cut into text and the tables it shows (``a | b`` over a ``--+--`` line).

    >>> [b["kind"] for b in observation_blocks("Rows:\\nid | name\\n---+-----\\n1  | Ann\\nSQL:")]
    ['text', 'table', 'text']
    """
    lines = (text or "").split("\n")
    blocks: list[dict[str, Any]] = []
    buffer: list[str] = []
    i = 0
    while i < len(lines):
        if i + 1 < len(lines) and _SEPARATOR.match(lines[i + 1].strip()) and "-" in lines[i + 1]:
            width = lines[i + 1].count("+") + 1
            header = [c.strip() for c in lines[i].split(" | ")]
            if len(header) == width:
                if buffer:
                    blocks.append({"kind": "text", "text": "\n".join(buffer)})
                    buffer = []
                rows = []
                j = i + 2
                while (j < len(lines) and lines[j].strip() and len(lines[j].split(" | ")) == width
                       and len(lines[j]) <= len(lines[i + 1]) and not (width == 1 and _LABEL.match(lines[j]))):
                    rows.append([c.strip() for c in lines[j].split(" | ")])
                    j += 1
                blocks.append({"kind": "table", "header": header, "rows": rows})
                i = j
                continue
        buffer.append(lines[i])
        i += 1
    if buffer:
        blocks.append({"kind": "text", "text": "\n".join(buffer)})
    return blocks


def _highlight(jinja2, text: str):
    """Error text, escaped, with the closest valid names marked."""
    out = []
    for part in _SUGGESTION.split(text or ""):
        if _SUGGESTION.fullmatch(part):
            out.append(jinja2.utils.markupsafe.Markup('<mark class="suggestion">%s</mark>') % part)
        else:
            out.append(jinja2.utils.markupsafe.escape(part))
    return jinja2.utils.markupsafe.Markup("").join(out)


def _run_sqls(library: RunLibrary, task) -> list[tuple[str, str]]:
    """SQL that runs wrote for ``task``, as (label, sql): SQL the agent executed, and its last table's SQL."""
    found = []
    for run in library:
        if run.record(str(task.id)) is None:
            continue
        last = None
        for line in run.lines(str(task.id)):
            parsed = line.get("parsed_action") or []
            if parsed and parsed[0] == "execute_sql" and len(parsed) > 1:
                found.append((f"{run.name} step {line['step']}", str(parsed[1])))
            if line.get("cte_id") and "\nSQL:\n" in (line.get("observation") or ""):
                last = line
        if last is not None:
            sql = last["observation"].split("\nSQL:\n", 1)[1].split("\nPolicy check:", 1)[0].strip()
            found.append((f"{run.name} {last['cte_id']}", sql))
    return found


def _json_list(text: str | None) -> list[Any]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidArgumentError("replay must be a JSON list of actions") from None
    if not isinstance(value, list):
        raise InvalidArgumentError("replay must be a JSON list of actions")
    return value[:500]


def _int(text: Any, name: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name} must be a whole number, got {text!r}") from None


def _paging(params) -> tuple[int, int]:
    """The page asked for and its size (50 rows by default, at most 500)."""
    return _int(params.get("page", "1"), "page"), min(500, max(1, _int(params.get("page_size", "50"), "page_size")))


def _plain(value: Any) -> Any:
    """Anything JSON can carry (objects as their text)."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))
