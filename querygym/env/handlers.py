"""One registry for what the environment does with each action of the catalog.

Exploration and workflow actions register a handler function here by name; the eight
operations are the classes of :data:`querygym.plan.ops.OPERATIONS`.  Every handler receives the
episode and the parsed action and returns an :class:`Outcome`; an agent's mistake raises
:class:`~querygym.errors.PlanError`, which the episode turns into an error observation.
:func:`check_catalog` holds ``actions.yaml`` and the code to each other: an action without a
handler, or a handler without an action, is a :class:`~querygym.errors.CatalogError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from querygym.actions.catalog import Action, Catalog
from querygym.engine.backend import Result
from querygym.errors import CatalogError
from querygym.plan.graph import PlanNode
from querygym.plan.ops import OPERATIONS

if TYPE_CHECKING:
    from querygym.env.episode import Episode


@dataclass
class Outcome:
    """What one action did: the observation's kind and text, plus structured detail for ``info``."""

    kind: str  # "exploration" | "cte" | "error" | "report"
    text: str
    action: Action | None = None
    node: PlanNode | None = None
    result: Result | None = None
    row_count: int | None = None
    sql: str | None = None
    error: dict[str, Any] | None = None
    elapsed_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


Handler = Callable[["Episode", Action], Outcome]

#: handler functions of the exploration and workflow actions, by action name
HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of action ``name``."""
    def register(fn: Handler) -> Handler:
        if name in HANDLERS:
            raise CatalogError(f"two handlers for action {name!r}")
        HANDLERS[name] = fn
        return fn
    return register


def exploration(name: str) -> Callable[[Callable[["Episode", Action], str]], Callable[["Episode", Action], str]]:
    """Register a function that answers with text alone as the handler of exploration action ``name``."""
    def register(fn: Callable[["Episode", Action], str]) -> Callable[["Episode", Action], str]:
        handler(name)(lambda ep, action: Outcome("exploration", fn(ep, action), action))
        return fn
    return register


def handled_names() -> set[str]:
    """Every action name some handler or operation serves."""
    return set(HANDLERS) | set(OPERATIONS)


def check_catalog(cat: Catalog) -> None:
    """Fail unless every action of ``cat`` has a handler and every handler an action.

    The handlers register when :mod:`querygym.env.episode` is imported (it imports them all).
    """
    handled = handled_names()
    missing = [a.name for a in cat if a.name not in handled]
    if missing:
        raise CatalogError(f"no handler for action(s) {', '.join(missing)} in actions.yaml")
    orphans = sorted(handled - set(cat.names))
    if orphans:
        raise CatalogError(f"handler(s) for {', '.join(orphans)} have no entry in actions.yaml")
