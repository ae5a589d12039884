"""LangChain adapter: the catalog's actions as LangChain tools bound to an environment, and a driver.

:class:`EnvTools` makes one ``StructuredTool`` per action of ``actions.yaml``: the tool's name is
the action's, its description the catalog's, its arguments schema the action's parameters (lists
for table, condition and join-type lists; optional parameters optional).  Calling a tool steps the
environment and returns the observation; the step's reward, flags and ``info`` travel as the
``ToolMessage``'s artifact, so a LangGraph ``ToolNode`` or any other tool-calling loop can play.

:func:`play_with_tools` is a small driver: it binds the tools to a chat model (models without tool
binding get the catalog in the prompt instead), feeds every tool call to its tool and the result
back as a ``ToolMessage``, steps a reply without tool calls as text (``Action: [...]``), and stops
when the episode ends or after ``max_turns`` model calls.

Arguments that do not fit a tool's schema are answered with the error and the action's usage,
like LangChain tools do; they never reach the environment, so they take no environment step.

Install with ``pip install 'querygym-ra[langchain]'``; LangChain is imported only when tools are made.

    import gymnasium, querygym
    from querygym.agents.langchain import play_with_tools
    env = gymnasium.make("querygym/QueryGym-v0")
    result = play_with_tools(chat_model, env, task_id=9)   # any LangChain chat model with tool calling
    result.terminated, result.reward, result.steps
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from querygym.actions.catalog import LIST_PARAM_TYPES, ActionSpec, Catalog, catalog
from querygym.agents.scripts import trajectory_line
from querygym.errors import InvalidArgumentError, QueryGymError

_MISSING_EXTRA = "the LangChain adapter needs langchain-core: pip install 'querygym-ra[langchain]'"


def _require_langchain() -> None:
    try:
        import langchain_core  # noqa: F401
    except ImportError:
        raise QueryGymError(_MISSING_EXTRA) from None


def tool_prompt(cat: Catalog | None = None) -> str:
    """The system prompt for a model that plays through tool calls, rendered from the catalog.

    >>> tool_prompt().startswith("You answer a question over a relational database")
    True
    """
    cat = cat or catalog()
    groups = "\n".join(f"- {g.title}: {' '.join(g.description.split())}" for g in cat.groups.values())
    return (
        "You answer a question over a relational database one step at a time by calling the tools, "
        "one tool call per turn. Each tool is an action:\n" + groups + "\n"
        "Conditions, column lists and orderings are SQL expressions; tables may be given an alias "
        '("employee AS e"). The episode ends when the newest intermediate table is exactly the answer.'
    )


class EnvTools:
    """The catalog's actions as LangChain tools that step ``env``.

    ``reset(**options)`` starts an episode (the options go to ``env.reset``: ``task_id``, ...) and
    returns the overview; each tool call then steps the environment.  ``last`` holds the newest
    ``(observation, reward, terminated, truncated, info)`` and ``trajectory`` every step.
    """

    def __init__(self, env, *, cat: Catalog | None = None):
        _require_langchain()
        self.env = env
        self.catalog = cat or catalog()
        self.tools = [self._tool(spec) for spec in self.catalog]
        self.by_name = {t.name: t for t in self.tools}
        self.observation = ""
        self.info: dict[str, Any] = {}
        self.last: tuple[str, float, bool, bool, dict[str, Any]] | None = None
        self.trajectory: list[dict[str, Any]] = []
        self.total_reward = 0.0

    @property
    def terminated(self) -> bool:
        """Whether the newest step ended the episode."""
        return bool(self.last and self.last[2])

    @property
    def truncated(self) -> bool:
        """Whether the newest step cut the episode off (steps or budget used up)."""
        return bool(self.last and self.last[3])

    @property
    def done(self) -> bool:
        """Whether the episode is over, either way."""
        return self.terminated or self.truncated

    def reset(self, **options: Any) -> str:
        """Start an episode (``options`` go to ``env.reset``) and return its first observation."""
        obs, info = self.env.reset(options=options or None)
        self.observation, self.info, self.last = obs, info, None
        self.trajectory, self.total_reward = [], 0.0
        return obs

    def step(self, action_text: str) -> tuple[str, dict[str, Any]]:
        """Step the environment with action text; the observation and the step's artifact."""
        if self.done:
            return ("The episode is over; no further action is taken.",
                    {"reward": 0.0, "terminated": self.terminated, "truncated": self.truncated, "info": self.info})
        started = time.perf_counter()
        obs, reward, terminated, truncated, info = self.env.step(action_text)
        self.observation, self.info = obs, info
        self.last = (obs, reward, terminated, truncated, info)
        self.total_reward += float(reward)
        self.trajectory.append(trajectory_line(info.get("task_id"), len(self.trajectory) + 1, action_text, obs, reward,
                                               terminated, truncated, info, env_s=time.perf_counter() - started))
        return obs, {"reward": reward, "terminated": terminated, "truncated": truncated, "info": info}

    def _tool(self, spec: ActionSpec):
        from langchain_core.tools import StructuredTool

        def run(**kwargs: Any) -> tuple[str, dict[str, Any]]:
            return self.step("Action: " + json.dumps(_as_list(spec, kwargs), ensure_ascii=False))

        def invalid(exc: Exception) -> str:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            return f"Invalid arguments for {spec.name} ({problems}). Usage: {spec.usage}"

        return StructuredTool.from_function(
            func=run, name=spec.name, description=self.catalog.describe(spec), args_schema=args_schema(spec),
            infer_schema=False, response_format="content_and_artifact", handle_validation_error=invalid)


def args_schema(spec: ActionSpec):
    """A pydantic model of an action's parameters: strings, or lists of strings for list types."""
    from pydantic import ConfigDict, Field, create_model

    fields: dict[str, Any] = {}
    for p in spec.params:
        kind: Any = list[str] if p.type in LIST_PARAM_TYPES else str
        if p.required:
            fields[p.name] = (kind, Field(..., description=p.description))
        else:
            fields[p.name] = (kind | None, Field(None, description=p.description))
    model_name = "".join(part.title() for part in spec.name.split("_")) + "Args"
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)


def _as_list(spec: ActionSpec, kwargs: dict[str, Any]) -> list[Any]:
    """Tool arguments in the catalog's parameter order; trailing omitted parameters are left out."""
    values = [kwargs.get(p.name) for p in spec.params]
    while values and values[-1] is None and not spec.params[len(values) - 1].required:
        values.pop()
    # An omitted optional parameter before a given one is "" (the catalog reads it as omitted).
    return [spec.name] + ["" if v is None else v for v in values]


@dataclass
class EpisodeResult:
    """What :func:`play_with_tools` did: the outcome, the environment steps and the whole conversation."""

    terminated: bool
    truncated: bool
    reward: float
    steps: int
    turns: int
    messages: list[Any] = field(repr=False)
    trajectory: list[dict[str, Any]] = field(repr=False)


def play_with_tools(model, env, *, task_id: Any = None, max_turns: int = 30, system_prompt: str | None = None,
                 reset_options: dict[str, Any] | None = None) -> EpisodeResult:
    """Let a LangChain chat model play one episode of ``env`` through the catalog's tools.

    ``model`` is any LangChain chat model; its ``bind_tools`` is used when it has one.  Each turn the
    model is called with the conversation; each of its tool calls runs its tool (stepping the
    environment) and answers with a ``ToolMessage``; a reply without tool calls is stepped as action
    text and answered with the observation.  Ends when the episode terminates or is truncated, or
    after ``max_turns`` model calls.
    """
    _require_langchain()
    from langchain_core.messages import (
        AIMessage,
        HumanMessage,
        SystemMessage,
        ToolMessage,
    )

    if max_turns < 1:
        raise InvalidArgumentError(f"max_turns must be at least 1, got {max_turns}")
    tools = EnvTools(env)
    options = dict(reset_options or {})
    if task_id is not None:
        options["task_id"] = task_id
    overview = tools.reset(**options)
    try:
        runnable = model.bind_tools(tools.tools)
        prompt = system_prompt or tool_prompt(tools.catalog)
    except NotImplementedError:
        # A model without tool binding plays in text, so it gets the whole catalog with usage lines.
        runnable = model
        prompt = system_prompt or tools.catalog.render_prompt()
    messages: list[Any] = [SystemMessage(content=prompt), HumanMessage(content=overview)]
    turns = 0
    while turns < max_turns and not tools.done:
        turns += 1
        reply = runnable.invoke(messages)
        if not isinstance(reply, AIMessage):
            reply = AIMessage(content=getattr(reply, "content", str(reply)))
        messages.append(reply)
        if reply.tool_calls:
            for call in reply.tool_calls:
                tool = tools.by_name.get(call["name"])
                if tools.done:
                    messages.append(ToolMessage(content="The episode is over; this call was not run.",
                                                tool_call_id=call["id"], name=call["name"], status="error"))
                elif tool is None:
                    messages.append(ToolMessage(
                        content=f"Unknown tool {call['name']!r}. Tools: {', '.join(tools.by_name)}.",
                        tool_call_id=call["id"], name=call["name"], status="error"))
                else:
                    messages.append(tool.invoke({**call, "type": "tool_call"}))
        else:
            observation, _ = tools.step(_text(reply.content))
            messages.append(HumanMessage(content=observation))
    return EpisodeResult(terminated=tools.terminated, truncated=tools.truncated, reward=tools.total_reward,
                         steps=len(tools.trajectory), turns=turns, messages=messages, trajectory=tools.trajectory)


def _text(content: Any) -> str:
    """The text of a message's content (a string, or a list of content blocks)."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "\n".join(parts)
