"""querygym as a verifiers (v1) environment: a taskset of querygym tasks, played with querygym's actions as tools.

verifiers 0.4 composes an environment from a *taskset* (the tasks) and an *env* (how one task
becomes one episode).  Here:

- :class:`QueryGymTaskset` turns any querygym task set (the built-in tasks, or a dataset named
  like on the command line: ``data``/``format``/``db_root``/``tables`` or ``bird``) into
  verifiers tasks, one per playable task (``task_ids`` picks some);
- :class:`QueryGymVerifiersEnv` plays one task as a multi-turn episode with its ``player``
  agent on a :class:`~querygym.env.environment.QueryGymEnv` of its own.  The overview is the
  first user turn.  With ``action_format="tools"`` (the default) the tools are querygym's
  actions: :class:`ActionTools` offers one tool per action of the catalog (its name, its
  description, a JSON schema of its parameters), and a call applies the action to the episode
  and returns the observation — an error observation, which costs a step like any mistake, when
  the arguments do not fit.  A reply without a tool call is stepped as action text.  With
  ``action_format="text"`` each reply is one ``Action: [...]`` (the catalog is in the system
  prompt) and the observation is the next user turn.  The episode ends when querygym's
  environment terminates or truncates (``max_steps``);
- the rubric is querygym's reward: the episode's summed step reward is recorded as the trace's
  ``querygym_reward`` (1.0 for the right table, 0.1 once for a subset or superset), with the
  metrics ``solved`` and ``steps`` and querygym's last info in ``trace.info["querygym"]``.

verifiers' tools are MCP servers that the harness (``null``, the plain chat loop, among others)
lists, offers to the model and calls.  A ``vf.Toolset`` runs in a process of its own, but a
querygym episode (its database connections, its plan) lives in this environment, so the env
serves the tools itself: :class:`ActionTools` is one MCP server in the env's process (started
by ``Env.start`` inside ``env.serving()``), each episode registered under a token of its own,
and each rollout is handed its episode's URL as a live tool server it borrows
(``interaction(task, tools=...)``), advertised bare so that each tool is named as its action.

verifiers loads environments by taskset id, from an installed top-level module that exports
its classes in ``__all__``; ``querygym-ra`` ships one, ``querygym_verifiers``::

    import verifiers.v1 as vf
    from querygym_verifiers import QueryGymEnvConfig
    env = vf.load_environment(QueryGymEnvConfig(taskset={"id": "querygym_verifiers"}))

or ``querygym_verifiers.load_environment(task_ids=[3], max_steps=10, action_format="tools")``, and on the
command line
``vf-eval querygym_verifiers --model ... --client.base-url ...``.  The player runs verifiers'
plain chat harness (``null``) as a local subprocess by default; change ``player`` to use
another harness or runtime (the tools need a harness that supports MCP, and are served on the
env's host at 127.0.0.1; play in text otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import secrets
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import parse_qs

from querygym.actions.catalog import Catalog, catalog
from querygym.agents.langchain import tool_prompt
from querygym.converters import load_tasks
from querygym.converters.builtin import builtin_tasks
from querygym.converters.tasks import TaskSet
from querygym.env.environment import QueryGymEnv
from querygym.errors import QueryGymError
from querygym.util import json_safe

try:
    import mcp_types
    import uvicorn
    import verifiers.v1 as vf
    from mcp.server.lowlevel import Server as MCPServer
    from mcp.server.transport_security import TransportSecuritySettings
    from verifiers.v1.mcp import SharedToolServer
except ImportError as exc:  # the module is only imported by those who want verifiers
    raise QueryGymError(f"the verifiers integration needs verifiers: pip install 'querygym-ra[verifiers]' ({exc})") from None

TASKSET_ID = "querygym_verifiers"


@functools.cache
def _load(bird: str | None, data: str | None, format: str | None, db_root: str | None,
          tables: str | None) -> TaskSet:
    if bird:
        return load_tasks(bird, db_root=db_root, tables=tables, format="bird")
    if data:
        return load_tasks(data, db_root=db_root, tables=tables, format=format)
    return builtin_tasks()


class QueryGymTasksetConfig(vf.TasksetConfig):
    """Which querygym tasks to play, and how (``--env.taskset.*`` on verifiers' command line)."""

    bird: str | None = None
    """A BIRD-format question file (default: the built-in tasks)."""
    data: str | None = None
    """A dataset file or folder in any format querygym reads."""
    format: str | None = None
    """The format of ``data`` (detected by default)."""
    db_root: str | None = None
    """Folder of the databases (or a PostgreSQL server URL)."""
    tables: str | None = None
    """A tables.json giving schemas."""
    task_ids: list[int | str] | None = None
    """Only these tasks (default: every playable task)."""
    dialect: str = "sqlite"
    """The engine the agent plays on."""
    max_steps: int = 30
    """Actions per episode before truncation."""
    timeout_s: float = 5.0
    """Time limit per query, in seconds."""
    action_format: Literal["tools", "text"] = "tools"
    """How the model acts: ``tools`` (each action a tool it calls) or ``text`` (``Action: [...]`` replies)."""


class QueryGymData(vf.TaskData):
    """What verifiers keeps of one querygym task: its id, database and question."""
    task_id: int | str
    """The querygym task's id in its task set."""
    db_id: str
    question: str


class QueryGymTask(vf.Task[QueryGymData, vf.State, vf.TaskConfig]):
    """One querygym task as a verifiers task."""
    @property
    def key(self) -> str:
        """The task's key in verifiers' results: ``querygym/<task id>``."""
        return f"querygym/{self.data.task_id}"


class QueryGymTaskset(vf.Taskset[QueryGymTask, QueryGymTasksetConfig]):
    """Every playable task of the configured querygym task set, as a verifiers task."""

    @property
    def querygym_tasks(self) -> TaskSet:
        """The querygym task set the configuration names (the built-in tasks by default)."""
        c = self.config
        return _load(c.bird, c.data, c.format, c.db_root, c.tables)

    def load(self) -> Iterator[QueryGymTask]:
        """Every chosen task (the playable ones by default) as a verifiers task with the catalog's prompt."""
        tasks = self.querygym_tasks
        chosen = [tasks[i] for i in self.config.task_ids] if self.config.task_ids is not None else tasks.playable()
        system = tool_prompt(catalog()) if self.config.action_format == "tools" else catalog().render_prompt()
        for task in chosen:
            # The prompt is left unset: the overview (question and schema) needs the database,
            # so the env computes it at the start of the episode and opens the exchange with it.
            yield QueryGymTask(QueryGymData(id=str(task.id), name=f"querygym/{task.id}", description=task.question,
                                            system_prompt=system, task_id=task.id, db_id=task.db_id,
                                            question=task.question), self.config.task)

    def environment(self) -> QueryGymEnv:
        """A fresh querygym environment over this taskset's tasks (one per episode)."""
        c = self.config
        return QueryGymEnv(self.querygym_tasks, dialect=c.dialect, max_steps=c.max_steps, timeout_s=c.timeout_s)


class QueryGymEnvConfig(vf.EnvConfig):
    """The verifiers environment's configuration: the player and the taskset."""
    player: vf.AgentConfig = vf.AgentConfig(harness={"id": "null"}, runtime={"type": "subprocess"})
    """The agent that plays: verifiers' plain chat harness, run as a local subprocess."""


class _Episode:
    """One rollout's querygym episode: a :class:`QueryGymEnv` of its own, stepped on a thread of its own (its
    SQLite connections stay in the thread that opened them, and the event loop never waits on a query)."""

    def __init__(self, taskset: QueryGymTaskset):
        self.taskset = taskset
        self.env: QueryGymEnv | None = None
        self.trace: vf.Trace | None = None
        self.total, self.steps = 0.0, 0
        self.info: dict[str, Any] = {}
        self.terminated = self.truncated = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="querygym-episode")
        self._lock = asyncio.Lock()  # one action at a time, in the order the model made them

    def _call(self, fn, *args, **kwargs):
        return asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated

    async def reset(self, task_id: int | str) -> str:
        self.env = await self._call(self.taskset.environment)
        overview, self.info = await self._call(self.env.reset, options={"task_id": task_id})
        return overview

    async def step(self, action: Any) -> str:
        """Apply ``action`` (text, or a tool call as ``{"action": name, "args": {...}}``); its observation.

        Once the episode is over, nothing more is applied; when this step ends it, the trace stops."""
        async with self._lock:
            if self.done:
                return "The episode is over; no further action is taken."
            text, reward, self.terminated, self.truncated, self.info = await self._call(self.env.step, action)
            self.total += float(reward)
            self.steps += 1
            if self.done and self.trace is not None:
                self.trace.stop("solved" if self.info.get("solved") else
                                "terminated" if self.terminated else "truncated")
            return text

    async def close(self) -> None:
        try:
            if self.env is not None:
                await self._call(self.env.close)
        finally:
            self._executor.shutdown(wait=False)

    def record(self, trace: vf.Trace, task_id: int | str) -> None:
        """querygym's reward, ``solved``, ``steps`` and last ``info`` on the trace."""
        trace.record_reward("querygym_reward", self.total)
        trace.record_metric("solved", float(bool(self.info.get("solved"))))
        trace.record_metric("steps", float(self.steps))
        trace.info["querygym"] = json_safe({"task_id": task_id, **self.info})


_EPISODE = contextvars.ContextVar("querygym_episode_token", default=None)


class _QuietServer(uvicorn.Server):
    """uvicorn inside another program's event loop: the program keeps its own signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class ActionTools:
    """The catalog's actions as MCP tools, served over HTTP from the environment's own process.

    Each tool is one action: its name, the catalog's description and its parameters' JSON schema
    (:meth:`~querygym.actions.catalog.ActionSpec.json_schema`).  Each episode registers under a
    token of its own (:meth:`episode`), and a call through its URL applies the action to that
    episode's :class:`QueryGymEnv`; the tool result is the observation, an error observation
    (``isError``) when the action failed or its arguments did not fit.  ``async with`` runs the
    server (on a free port of ``host``).
    """

    def __init__(self, cat: Catalog | None = None, *, host: str = "127.0.0.1"):
        self.catalog = cat or catalog()
        self.host = host
        self.tools = [mcp_types.Tool(name=spec.name, description=self.catalog.describe(spec),
                                     input_schema=spec.json_schema()) for spec in self.catalog]
        self.url: str | None = None
        self._episodes: dict[str, _Episode] = {}
        server = MCPServer("querygym", on_list_tools=self._list_tools, on_call_tool=self._call_tool)
        # Harnesses in containers reach the host under another name than 127.0.0.1.
        self._app = server.streamable_http_app(
            json_response=True, stateless_http=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        self._server: _QuietServer | None = None
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> ActionTools:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self.host, 0))
        port = sock.getsockname()[1]
        self._server = _QuietServer(uvicorn.Config(self._asgi, log_level="critical", lifespan="on", interface="asgi3"))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():  # it failed to start: raise its error
                sock.close()
                await self._task
                raise QueryGymError("the querygym tool server stopped while starting")
            await asyncio.sleep(0.01)
        self.url = f"http://{self.host}:{port}/mcp"
        return self

    async def __aexit__(self, *exc) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = self._task = None
        self.url = None

    @contextlib.contextmanager
    def episode(self, episode: _Episode) -> Iterator[str]:
        """Register ``episode`` while the context lasts; yields the URL whose tool calls step it."""
        if self.url is None:
            raise QueryGymError("the querygym tool server is not running: use it as `async with ActionTools()`")
        token = secrets.token_urlsafe(16)
        self._episodes[token] = episode
        try:
            yield f"{self.url}?episode={token}"
        finally:
            del self._episodes[token]

    async def _asgi(self, scope, receive, send) -> None:
        token = None
        if scope["type"] == "http":
            token = (parse_qs(scope.get("query_string", b"").decode()).get("episode") or [None])[0]
        reset = _EPISODE.set(token)
        try:
            await self._app(scope, receive, send)
        finally:
            _EPISODE.reset(reset)

    async def _list_tools(self, ctx, params) -> mcp_types.ListToolsResult:
        return mcp_types.ListToolsResult(tools=self.tools)

    async def _call_tool(self, ctx, params) -> mcp_types.CallToolResult:
        episode = self._episodes.get(_EPISODE.get())
        if episode is None:
            return _result("No querygym episode is served at this address (it ended, or the URL is wrong).",
                           error=True)
        # Every call is an action of the episode: a wrong name or argument becomes querygym's error
        # observation (and costs a step), as the same mistake written in text would.
        text = await episode.step({"action": params.name, "args": dict(params.arguments or {})})
        return _result(text, error=episode.info.get("kind") == "error")


def _result(text: str, *, error: bool) -> mcp_types.CallToolResult:
    return mcp_types.CallToolResult(content=[mcp_types.TextContent(type="text", text=text)], is_error=error)


class QueryGymVerifiersEnv(vf.Env[QueryGymEnvConfig]):
    """One querygym episode per verifiers episode; the environment plays the user's side and serves the tools."""

    _tools: ActionTools | None = None

    async def start(self) -> None:
        """With ``action_format: tools``, start serving the catalog's actions as tools (:class:`ActionTools`)."""
        if self.taskset.config.action_format == "tools":
            self._tools = await ActionTools().__aenter__()

    async def stop(self) -> None:
        """Stop the tool server :meth:`start` started, if any."""
        tools, self._tools = self._tools, None
        if tools is not None:
            await tools.__aexit__(None, None, None)

    async def run(self, task: QueryGymTask, agents) -> None:
        """Play ``task`` with the player agent on a fresh :class:`QueryGymEnv` until the episode ends, then
        record the total reward, ``solved``, ``steps`` and the last ``info`` on the trace.

        With tools (the default), the player's tool calls step the episode through :class:`ActionTools`,
        and a reply without a tool call is stepped as action text; with ``action_format: text``, each
        reply is stepped as text and its observation is the next user turn.
        """
        tools_mode = self.taskset.config.action_format == "tools"
        if tools_mode and self._tools is None:
            raise QueryGymError("the querygym tools are served while the environment serves: run episodes "
                                "inside `async with env.serving():` (or set action_format='text')")
        episode = _Episode(self.taskset)
        try:
            overview = await episode.reset(task.data.task_id)
            with self._tools.episode(episode) if tools_mode else contextlib.nullcontext() as url:
                # The tools are advertised bare (the empty server name): each tool is named as its action.
                served = {"": SharedToolServer(url=url, local=True, external=True)} if tools_mode else None
                async with agents.player.interaction(task, tools=served) as interaction:
                    episode.trace = interaction.trace
                    segment = await interaction.turn(overview)
                    while not segment.terminated and not episode.done:
                        text = await episode.step(segment.last_reply)
                        if episode.done:
                            break
                        segment = await interaction.turn(text)
        finally:
            await episode.close()
        episode.record(interaction.trace, task.data.task_id)


def load_environment(*, player: dict[str, Any] | None = None, **taskset: Any) -> vf.Env:
    """The verifiers environment over querygym tasks; ``taskset`` takes :class:`QueryGymTasksetConfig`'s fields.

    ``player`` overrides the agent's config (``model``, ``client``, ``harness``, ``max_turns``, ...).
    """
    config: dict[str, Any] = {"taskset": {"id": TASKSET_ID, **taskset}}
    if player:
        config["player"] = player
    return vf.load_environment(QueryGymEnvConfig.model_validate(config))
