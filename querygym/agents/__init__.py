"""Agents that drive the environment.

An agent has ``reset(task)`` (a new episode begins) and ``act(observation, info) -> str`` (the
next action text).  Agents are found by name: :func:`get` builds one from its name and
options, which is also how worker processes rebuild the agent they were given.

Built-in agents: ``script`` (given action scripts, or the built-in references), ``oracle``
(each task's gold SQL decomposed), ``replay`` (a trajectory file), ``random`` (uniform over
valid-looking actions: a baseline and a fuzzer), ``llm`` (any OpenAI-compatible chat endpoint).

>>> agent = get("oracle")
>>> agent.name
'oracle'
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from querygym.agents.base import Agent, ScriptedAgent
from querygym.errors import InvalidArgumentError
from querygym.util import did_you_mean

__all__ = ["AGENTS", "Agent", "ScriptedAgent", "get"]

#: agent name -> "module:Class"
AGENTS = {
    "script": "querygym.agents.base:ScriptAgent",
    "oracle": "querygym.agents.base:OracleAgent",
    "replay": "querygym.agents.base:ReplayAgent",
    "random": "querygym.agents.random:RandomAgent",
    "llm": "querygym.agents.llm:LLMAgent",
}


def get(name: str, **options: Any) -> Agent:
    """An agent built from its name and options."""
    if name not in AGENTS:
        raise InvalidArgumentError(f"Unknown agent {name!r}.{did_you_mean(name, AGENTS)} Available: {', '.join(AGENTS)}.")
    module, cls = AGENTS[name].split(":")
    return getattr(import_module(module), cls)(**options)
