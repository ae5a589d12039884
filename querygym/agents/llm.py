"""A language-model agent over any OpenAI-compatible chat-completions endpoint (vLLM, Ollama, hosted APIs).

The system prompt is rendered from the action catalog (``catalog().render_prompt()``); the first
user message is the episode's overview (question and schema); then each turn is the model's reply
and the observation it produced.  The conversation is kept within a context budget: the system
prompt and the overview are always sent, the newest observation in full, and older turns are
summarised (the action and the first lines of its observation) and then dropped, oldest first,
with a note naming the steps left out and the tables they created.

The action is read out of the free-form reply (thinking blocks removed, prose and code fences
allowed; :meth:`querygym.actions.catalog.Catalog.parse` finds it) and passed on as one ``Action: [...]``
line; a reply with no readable action is passed through unchanged, so the environment answers
with an error observation the model can learn from.

Transport errors (connection errors, timeouts, HTTP 408, 409, 429 and 5xx) are retried with
exponential backoff and jitter, at most ``max_retries`` times, honouring ``Retry-After``; other
refusals and persistent failures raise :class:`ModelEndpointError`.  ``usage`` counts requests,
retries and the tokens the server reports, cumulatively; ``step_usage`` holds the last step's.

Install with ``pip install 'querygym-ra[llm]'``.  The API key is read from the environment
variable named by ``api_key_env`` (never stored in :meth:`spec`); the base URL comes from the
argument or ``OPENAI_BASE_URL``.  Local servers need no key: when the variable is unset and a
base URL is given, the placeholder ``EMPTY`` is sent, as vLLM's documentation does.

A vLLM server started with ``vllm serve Qwen/Qwen2.5-7B-Instruct`` is played with::

    agent = LLMAgent("Qwen/Qwen2.5-7B-Instruct", base_url="http://127.0.0.1:8000/v1")
    # or: querygym run --agent llm --model Qwen/Qwen2.5-7B-Instruct --base-url http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import email.utils
import importlib.util
import json
import os
import random
import re
import time
from dataclasses import dataclass
from typing import Any

from querygym.actions.catalog import catalog
from querygym.agents.base import Agent
from querygym.errors import (
    InvalidActionError,
    InvalidArgumentError,
    ModelEndpointError,
    QueryGymError,
)

#: HTTP statuses worth retrying: request timeout, conflict (lock contention), rate limit, server errors.
RETRYABLE_STATUSES = frozenset({408, 409, 429})
_MAX_RETRY_AFTER_S = 120.0
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_USAGE_KEYS = ("requests", "retries", "prompt_tokens", "completion_tokens", "total_tokens")
_SUMMARY_CHARS = 300
_MIN_CLIP = 500  # the newest observation keeps this much even when the fixed part fills the budget


@dataclass
class _Turn:
    """One step of the conversation: the model's reply and the observation it produced."""

    reply: str
    action: str
    observation: str | None = None
    cte_id: str | None = None


class LLMAgent(Agent):
    """Plays with a chat model behind an OpenAI-compatible endpoint.

    Parameters: ``model`` (the served model's name), ``base_url`` (``http://host:8000/v1``; default
    ``$OPENAI_BASE_URL``, else OpenAI's), ``api_key_env`` (the variable holding the key),
    ``temperature``, ``max_tokens`` (per reply), ``context_budget_chars`` (characters of message
    content per request) or ``context_budget_tokens`` (the model's context window; converted with
    the characters-per-token ratio the server's usage reports show, and leaving ``max_tokens`` for
    the reply), ``max_retries`` (retries of transport errors per request), ``timeout`` (seconds
    per request), ``backoff_s`` and ``max_backoff_s`` (the first retry's delay and the cap;
    doubled each retry, with jitter), ``system_prompt`` (replaces the catalog prompt), ``seed``
    and ``extra_body`` (passed to the server, e.g. vLLM's ``chat_template_kwargs``).
    """

    name = "llm"

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY", *,
                 temperature: float = 0.0, max_tokens: int = 512, context_budget_chars: int | None = 48_000,
                 context_budget_tokens: int | None = None, max_retries: int = 5, timeout: float = 60.0,
                 backoff_s: float = 1.0, max_backoff_s: float = 30.0, system_prompt: str | None = None,
                 seed: int | None = None, extra_body: dict[str, Any] | None = None):
        super().__init__()
        if not model or not isinstance(model, str):
            raise InvalidArgumentError(f"LLMAgent needs the served model's name, got {model!r}")
        if max_retries < 0:
            raise InvalidArgumentError(f"max_retries must be 0 or more, got {max_retries}")
        if context_budget_tokens is not None and context_budget_tokens <= max_tokens:
            raise InvalidArgumentError(
                f"context_budget_tokens ({context_budget_tokens}) must exceed max_tokens ({max_tokens}), "
                "which is kept free for the reply")
        if importlib.util.find_spec("openai") is None:
            raise QueryGymError("the llm agent needs the openai client: pip install 'querygym-ra[llm]'")
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.api_key_env = api_key_env
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.context_budget_chars = context_budget_chars
        self.context_budget_tokens = context_budget_tokens
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.system_prompt = system_prompt
        self.seed = seed
        self.extra_body = dict(extra_body) if extra_body else None
        self.usage = dict.fromkeys(_USAGE_KEYS, 0)
        self.step_usage = dict.fromkeys(_USAGE_KEYS, 0)
        self.retry_delays: list[float] = []  # the waits of the last step, in seconds
        self.last_messages: list[dict[str, str]] = []  # the last request's messages
        self.chars_per_token = 3.0  # refined from the server's usage reports
        self._client = None
        self._jitter = random.Random()
        self._overview: str | None = None
        self._turns: list[_Turn] = []

    def spec(self) -> dict[str, Any]:
        """How to rebuild this agent in another process (the API key is read from the environment there)."""
        return {"name": self.name, "model": self.model, "base_url": self.base_url, "api_key_env": self.api_key_env,
                "temperature": self.temperature, "max_tokens": self.max_tokens,
                "context_budget_chars": self.context_budget_chars, "context_budget_tokens": self.context_budget_tokens,
                "max_retries": self.max_retries, "timeout": self.timeout, "backoff_s": self.backoff_s,
                "max_backoff_s": self.max_backoff_s, "system_prompt": self.system_prompt, "seed": self.seed,
                "extra_body": self.extra_body}

    # ------------------------------------------------------------------ episode
    def reset(self, task) -> None:
        """Begin a new conversation for ``task``; usage counters start again."""
        super().reset(task)
        self._overview = None
        self._turns = []
        # The workflow actions exist only for tasks with documentation; do not offer them otherwise.
        documents = getattr(task, "documents", None)
        self._groups = ("exploration", "operation") + (("workflow",) if documents is not None and len(documents)
                                                        else ())

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """Ask the model for its next reply within the context budget and read the action out of it."""
        info = info or {}
        if self._overview is None:
            self._overview = observation or ""
        elif self._turns and self._turns[-1].observation is None:
            self._turns[-1].observation = observation or ""
            self._turns[-1].cte_id = info.get("cte_id")
        messages = self._window()
        self.last_messages = messages
        reply = self._complete(messages)
        action = extract_action(reply)
        self._turns.append(_Turn(reply=_strip_thinking(reply), action=action))
        return action

    # ------------------------------------------------------------------ the context window
    def budget_chars(self) -> int | None:
        """Characters of message content one request may carry."""
        budgets = []
        if self.context_budget_chars is not None:
            budgets.append(int(self.context_budget_chars))
        if self.context_budget_tokens is not None:
            budgets.append(int((self.context_budget_tokens - self.max_tokens) * self.chars_per_token))
        return min(budgets) if budgets else None

    def _window(self) -> list[dict[str, str]]:
        system = (self.system_prompt if self.system_prompt is not None
                  else catalog().render_prompt(getattr(self, "_groups", None)))
        fixed = [{"role": "system", "content": system}, {"role": "user", "content": self._overview or ""}]
        done = [t for t in self._turns if t.observation is not None]
        budget = self.budget_chars()
        if budget is None:
            return fixed + [m for t in done for m in _full(t)]
        # Keep room for the note on dropped steps at its longest (all but the newest dropped).
        room = budget - _size(fixed) - (len(_drop_note(done[:-1])) + 2 if len(done) > 1 else 0)
        kept: list[list[dict[str, str]]] = []
        summarising = False  # once one turn is summarised, every older one is too
        for i, turn in enumerate(reversed(done)):
            if i == 0:  # the newest observation is always sent, clipped if it alone overflows
                messages = _full(turn, clip=max(room - len(turn.reply) - len("Observation:\n"), _MIN_CLIP))
            else:
                messages = _full(turn)
                if summarising or _size(messages) > room:
                    summarising = True
                    messages = _summary(turn)
                if _size(messages) > room:
                    break
            kept.append(messages)
            room -= _size(messages)
        note = _drop_note(done[:len(done) - len(kept)])
        if note:
            fixed[1] = {"role": "user", "content": fixed[1]["content"] + "\n\n" + note}
        return fixed + [m for messages in reversed(kept) for m in messages]

    # ------------------------------------------------------------------ the endpoint
    def client(self):
        """The OpenAI client, built on first use (worker processes build their own)."""
        if self._client is None:
            try:
                import openai
            except ImportError:
                raise QueryGymError("the llm agent needs the openai client: pip install 'querygym-ra[llm]'") from None
            key = os.environ.get(self.api_key_env)
            if not key:
                if self.base_url is None:
                    raise InvalidArgumentError(
                        f"the llm agent reads its API key from ${self.api_key_env}, which is not set; set it, "
                        "or give base_url (or $OPENAI_BASE_URL) for a local server that needs no key")
                key = "EMPTY"  # vLLM and Ollama accept any key
            # Retries are ours (max_retries=0 here), so they are counted and bounded in one place.
            self._client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout, max_retries=0)
        return self._client

    def _complete(self, messages: list[dict[str, str]]) -> str:
        import openai

        client = self.client()
        self.step_usage = dict.fromkeys(_USAGE_KEYS, 0)
        self.retry_delays = []
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": self.temperature,
                                  "max_tokens": self.max_tokens}
        if self.seed is not None:
            kwargs["seed"] = self.seed
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body
        attempt = 0
        while True:
            self._count("requests", 1)
            try:
                response = client.chat.completions.create(**kwargs)
                break
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status not in RETRYABLE_STATUSES and status < 500:
                    raise ModelEndpointError(
                        f"{self._where()} refused the request with HTTP {status}: {_message(exc)}",
                        status=status, attempts=attempt + 1) from exc
                delay = _retry_after(exc.response.headers)
                last = f"HTTP {status}: {_message(exc)}"
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                status, delay = None, None
                last = f"{type(exc).__name__}: {exc}"
            if attempt >= self.max_retries:
                raise ModelEndpointError(
                    f"{self._where()} failed {attempt + 1} time(s) in a row (max_retries={self.max_retries}); "
                    f"last error: {last}", status=status, attempts=attempt + 1)
            if delay is None:  # exponential backoff with jitter, so parallel workers spread out
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** attempt) * self._jitter.uniform(0.5, 1.0)
            attempt += 1
            self._count("retries", 1)
            self.retry_delays.append(delay)
            time.sleep(delay)
        usage = getattr(response, "usage", None)
        if usage is not None:
            for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
                self._count(key, getattr(usage, key, 0) or 0)
            if usage.prompt_tokens:
                sent = sum(len(m["content"]) for m in messages)
                self.chars_per_token = min(6.0, max(1.5, sent / usage.prompt_tokens))
        choices = response.choices or []
        return (choices[0].message.content or "") if choices else ""

    def _count(self, key: str, n: int) -> None:
        self.usage[key] += n
        self.step_usage[key] += n

    def _where(self) -> str:
        return f"the chat endpoint {self.base_url or 'of OpenAI'} (model {self.model!r})"


# ---------------------------------------------------------------------- replies
def extract_action(reply: str) -> str:
    """The action line of a free-form reply, or the reply itself when it holds no readable action.

    >>> extract_action('<think>maybe ["get_tables"]</think>I will look. Action: ["get_columns", "orders"]')
    'Action: ["get_columns", "orders"]'
    >>> extract_action("I do not know.")
    'I do not know.'
    >>> extract_action('<think>Perhaps Action: ["get_tables"], or')
    ''
    """
    text = _strip_thinking(reply or "")
    try:
        action = catalog().parse(text)
    except InvalidActionError:
        return text
    return "Action: " + json.dumps(action.to_list(), ensure_ascii=False)


def _strip_thinking(reply: str) -> str:
    # Reasoning models served without a reasoning parser send their thinking inline; an action
    # mentioned while thinking is not the one they chose.  A lone closing tag means the server
    # removed the opening one (some chat templates open the block in the prompt).
    # A block still open at the end was cut off by max_tokens: nothing in it was chosen either.
    text = _THINK.sub("", reply)
    lower = text.lower()
    if "</think>" in lower:
        text = text[lower.rindex("</think>") + len("</think>"):]
    elif "<think>" in lower:
        text = text[:lower.index("<think>")]
    return text.strip()


def _drop_note(dropped: list[_Turn]) -> str:
    if not dropped:
        return ""
    tables = [t.cte_id for t in dropped if t.cte_id]
    created = f"; the tables they created still exist: {', '.join(tables)}" if tables else ""
    steps = "Step 1 is" if len(dropped) == 1 else f"Steps 1-{len(dropped)} are"
    return f"[{steps} omitted to fit the context budget{created}.]"


def _full(turn: _Turn, clip: int | None = None) -> list[dict[str, str]]:
    observation = turn.observation or ""
    if clip is not None and len(observation) > clip:
        note = "\n[observation clipped to fit the context budget]"
        observation = observation[: max(0, clip - len(note))] + note
    return [{"role": "assistant", "content": turn.reply or turn.action},
            {"role": "user", "content": "Observation:\n" + observation}]


def _summary(turn: _Turn) -> list[dict[str, str]]:
    lines = (turn.observation or "").splitlines()
    head = lines[:1] + [ln for ln in lines[1:3] if ln.startswith("Columns:")]
    text = "\n".join(head)
    if len(text) > _SUMMARY_CHARS:
        text = text[:_SUMMARY_CHARS] + "…"
    if len(lines) > len(head):
        text += "\n[rest of this observation omitted to fit the context budget]"
    return [{"role": "assistant", "content": turn.action}, {"role": "user", "content": "Observation:\n" + text}]


def _size(messages: list[dict[str, str]]) -> int:
    return sum(len(m["content"]) for m in messages)


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return getattr(exc, "message", None) or str(exc)


def _retry_after(headers) -> float | None:
    """The wait a ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms`` header asks for."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return min(_MAX_RETRY_AFTER_S, max(0.0, float(value) / 1000))
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(_MAX_RETRY_AFTER_S, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(_MAX_RETRY_AFTER_S, max(0.0, when.timestamp() - time.time()))
