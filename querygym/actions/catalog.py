"""The action catalog: loading ``actions.yaml``, parsing agent text into actions, rendering help.

``actions.yaml`` is the only place where an action's name, group, parameters, description
and examples are written.  This module turns it into typed, immutable objects, checks it
strictly (unknown keys, unknown parameter types and actions without a handler fail at
load time) and renders every piece of help text from it.

>>> cat = catalog()
>>> len(cat.group("exploration")), len(cat.group("operation"))
(12, 8)
>>> action = cat.parse('I will filter. Action: ["perform_filter", "T_1", "T_1.year = 2021"]')
>>> action.name, action["conditions"]
('perform_filter', 'T_1.year = 2021')
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Iterator, Mapping

import yaml

from querygym.actions.parse import extract_candidates, object_to_list
from querygym.errors import CatalogError, InvalidActionError
from querygym.util import did_you_mean

PARAM_TYPES = frozenset(
    {
        "table",
        "column",
        "columns",
        "condition",
        "ordering",
        "limit",
        "group_by",
        "table_list",
        "condition_list",
        "join_type_list",
        "set_quantifier",
        "text",
        "sql",
    }
)
LIST_PARAM_TYPES = frozenset({"table_list", "condition_list", "join_type_list"})

_TOP_KEYS = {"version", "settings", "groups", "actions"}
_GROUP_KEYS = {"title", "description"}
_ACTION_KEYS = {"group", "description", "params", "examples", "cost"}
_PARAM_KEYS = {"name", "type", "description", "required"}


@dataclass(frozen=True)
class Param:
    """One parameter of an action: its name, type (one of ``PARAM_TYPES``), help and whether it is required."""
    name: str
    type: str
    description: str
    required: bool = True

    @property
    def placeholder(self) -> str:
        """The parameter as usage lines show it: ``<name>``, or ``[name]`` when optional."""
        return f"<{self.name}>" if self.required else f"[{self.name}]"


@dataclass(frozen=True)
class ActionSpec:
    """One entry of the catalog."""

    name: str
    group: str
    description: str
    params: tuple[Param, ...]
    examples: tuple[str, ...] = ()
    cost: float = 0.0

    @property
    def min_args(self) -> int:
        """How many parameters an agent must give (the required ones)."""
        return sum(p.required for p in self.params)

    @property
    def usage(self) -> str:
        """The action in the paper's syntax, e.g. ``Action: ["perform_limit", "<table_id>", "<limit>"]``."""
        return "Action: " + json.dumps([self.name] + [p.placeholder for p in self.params])

    def signature(self) -> str:
        """The action with its parameter names, for error messages."""
        return json.dumps([self.name] + [p.placeholder for p in self.params])

    def json_schema(self) -> dict[str, Any]:
        """The action's parameters as a JSON schema of keyword arguments, for tool-calling models.

        Every parameter is a string, or a list of strings for the list types; the required ones are
        required and no other key is allowed.

        >>> catalog()["perform_limit"].json_schema()["required"]
        ['table_id', 'limit']
        """
        properties: dict[str, Any] = {}
        for p in self.params:
            kind: dict[str, Any] = ({"type": "array", "items": {"type": "string"}} if p.type in LIST_PARAM_TYPES
                                    else {"type": "string"})
            properties[p.name] = {**kind, "description": p.description}
        return {"type": "object", "properties": properties, "required": [p.name for p in self.params if p.required],
                "additionalProperties": False}


@dataclass(frozen=True)
class Action:
    """A parsed action: its spec and its arguments by parameter name (only those given)."""

    spec: ActionSpec
    args: Mapping[str, Any]
    text: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        """The action's name, as in ``actions.yaml``."""
        return self.spec.name

    @property
    def group(self) -> str:
        """The action's group: ``exploration``, ``operation`` or ``workflow``."""
        return self.spec.group

    def __getitem__(self, param: str) -> Any:
        return self.args[param]

    def get(self, param: str, default: Any = None) -> Any:
        """The value of parameter ``name``, or ``default`` when the agent left it out."""
        return self.args.get(param, default)

    def to_list(self) -> list[Any]:
        """The action in the paper's list form, ``[name, arg, ...]``."""
        return [self.name] + [self.args[p.name] for p in self.spec.params if p.name in self.args]

    def __str__(self) -> str:
        return json.dumps(self.to_list(), ensure_ascii=False)


@dataclass(frozen=True)
class Group:
    """A group of actions with the title and description help text shows for it."""
    name: str
    title: str
    description: str


class Catalog:
    """The validated action catalog. Obtain it with :func:`catalog`."""

    def __init__(self, version: int, settings: Mapping[str, Any], groups: tuple[Group, ...],
                 actions: tuple[ActionSpec, ...]):
        self.version = version
        self.settings = dict(settings)
        self.groups = {g.name: g for g in groups}
        self._actions = {a.name: a for a in actions}

    def __iter__(self) -> Iterator[ActionSpec]:
        return iter(self._actions.values())

    def __len__(self) -> int:
        return len(self._actions)

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def __getitem__(self, name: str) -> ActionSpec:
        try:
            return self._actions[name]
        except KeyError:
            raise InvalidActionError(_unknown_action_message(name, self._actions)) from None

    @property
    def names(self) -> tuple[str, ...]:
        """Every action name, in catalog order."""
        return tuple(self._actions)

    def group(self, name: str) -> tuple[ActionSpec, ...]:
        """The actions of one group, in catalog order."""
        return tuple(a for a in self._actions.values() if a.group == name)

    # ------------------------------------------------------------------ rendering
    def describe(self, spec: ActionSpec) -> str:
        """An action's description with the catalog's settings filled in."""
        return spec.description.format(**self.settings).strip()

    def render_action(self, spec: ActionSpec) -> str:
        """One action as help text: usage line, description, parameters and examples."""
        lines = [f"{spec.name}: {self.describe(spec)}", f"  usage: {spec.usage}"]
        for p in spec.params:
            opt = "" if p.required else " (optional)"
            lines.append(f"    {p.name}{opt}: {p.description}")
        for i, ex in enumerate(spec.examples, 1):
            lines.append(f"  example {i}: {ex}")
        return "\n".join(lines)

    def render_group(self, group: str) -> str:
        """Every action of a group as help text, under the group's title."""
        g = self.groups[group]
        body = "\n".join(self.render_action(a) for a in self.group(group))
        return f"{g.title}: {g.description.strip()}\n\n{body}"

    def render_help(self, groups=None) -> str:
        """The catalog as text (every group, or those named): the prompt's action section and ``querygym actions``."""
        return "\n\n".join(self.render_group(g) for g in self.groups if groups is None or g in groups)

    def render_prompt(self, groups=None) -> str:
        """The instructions an agent (a person or a language model) needs to play, with every action.

        >>> prompt = catalog().render_prompt()
        >>> 'Action: ["perform_join", "<tables>"' in prompt
        True
        """
        return (
            "You answer a question over a relational database by acting on it one step at a time.\n"
            "Reply with exactly one action per turn, written as\n"
            '  Action: ["<action name>", "<parameter>", ...]\n'
            "Exploration actions show you the schema and the data. Relational-algebra operations each "
            "create a new intermediate table named T_0, T_1, ... that later actions can use like any "
            "table; a failed operation creates nothing and tells you why. Tables can be given an alias "
            '("employee AS e"); conditions, column lists and orderings are SQL expressions. The episode '
            "ends when the newest intermediate table is exactly the answer (or, on tasks with "
            "documentation, when you submit a report).\n\n" + self.render_help(groups)
        )

    # ------------------------------------------------------------------ parsing
    def parse(self, text: Any) -> Action:
        """Parse agent text into an :class:`Action`.

        Accepted forms: ``Action: ["name", arg, ...]`` (the paper's), a bare JSON list, a JSON
        object ``{"action": name, "args": [...]}``, and any of these embedded in prose or a
        code fence; and, not as text, a list or a mapping, whose ``args`` may also map parameter
        names to values (a tool call's keyword arguments: ``{"action": "get_columns", "args":
        {"table_id": "T_0"}}``).  When a reply holds several, the one after the last ``Action:`` wins, else
        the last one found.  Single-quoted (Python-style) lists are accepted too.

        Raises :class:`InvalidActionError` saying what was expected; the environment turns it
        into an error observation.
        """
        if isinstance(text, (list, tuple)):
            return self._from_list(list(text), json.dumps(list(text), ensure_ascii=False))
        if isinstance(text, Mapping):
            if isinstance(text.get("args"), Mapping):
                return self._from_keywords(text.get("action"), text["args"], _dump(text))
            return self._from_list(object_to_list(dict(text)), _dump(text))
        if not isinstance(text, str):
            raise InvalidActionError(
                f"An action must be text, got {type(text).__name__}.", expected=self._expected())
        candidates = extract_candidates(text)
        if not candidates:
            raise InvalidActionError(
                "No action found in the text. Write the action as a JSON list whose first "
                "element is the action name.", expected=self._expected())
        # Prefer candidates naming a known action; report the best error otherwise.
        known = [c for c in candidates if c and isinstance(c[0], str) and c[0].strip() in self._actions]
        chosen = known[-1] if known else candidates[-1]
        return self._from_list(chosen, text)

    def _from_keywords(self, name: Any, arguments: Mapping[str, Any], text: str) -> Action:
        """An action from keyword arguments: every key a parameter of the action, every required one given."""
        if not isinstance(name, str) or name.strip() not in self._actions:
            return self._from_list([name], text)  # the list form's errors for a missing or unknown name
        spec = self._actions[name.strip()]
        known = {p.name for p in spec.params}
        unknown = [str(k) for k in arguments if k not in known]
        if unknown:
            accepted = ", ".join(p.name for p in spec.params) or "none"
            raise InvalidActionError(
                f"{spec.name} has no parameter(s) {', '.join(map(repr, unknown))}; its parameters: {accepted}. "
                f"Usage: {spec.usage}", expected=spec.usage)
        missing = [p.name for p in spec.params if p.required and arguments.get(p.name) is None]
        if missing:
            raise InvalidActionError(f"{spec.name} needs the parameter(s) {', '.join(missing)}. Usage: {spec.usage}",
                                     expected=spec.usage)
        args = {p.name: _coerce(spec, p, arguments[p.name]) for p in spec.params if p.name in arguments}
        # Optional parameters given as "" or null mean "omitted", as in the list form.
        for p in spec.params:
            if not p.required and args.get(p.name, 0) in ("", None):
                del args[p.name]
        return Action(spec, args, text)

    def _expected(self) -> str:
        return 'Action: ["<action name>", "<parameter>", ...], for example Action: ["get_tables"]'

    def _from_list(self, items: list[Any], text: str) -> Action:
        if not items:
            raise InvalidActionError("The action list is empty.", expected=self._expected())
        name = items[0]
        if not isinstance(name, str):
            raise InvalidActionError(
                f"The first element must be the action name as a string, got {name!r}.",
                expected=self._expected())
        name = name.strip()
        if name not in self._actions:
            raise InvalidActionError(_unknown_action_message(name, self._actions),
                                     expected=self._expected())
        spec = self._actions[name]
        values = items[1:]
        if len(values) < spec.min_args or len(values) > len(spec.params):
            want = (f"{spec.min_args}" if spec.min_args == len(spec.params)
                    else f"{spec.min_args} to {len(spec.params)}")
            raise InvalidActionError(
                f"{name} takes {want} parameter(s), got {len(values)}. Usage: {spec.usage}",
                expected=spec.usage)
        args: dict[str, Any] = {}
        for param, value in zip(spec.params, values):
            args[param.name] = _coerce(spec, param, value)
        # Trailing optional parameters given as "" or null mean "omitted".
        for param in spec.params:
            if not param.required and param.name in args and args[param.name] in ("", None):
                del args[param.name]
        return Action(spec, args, text)


def _coerce(spec: ActionSpec, param: Param, value: Any) -> Any:
    if param.type in LIST_PARAM_TYPES:
        if isinstance(value, str):
            # A lone string where a list is expected: a two-table join written without brackets.
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, int, float)) or v is None
                                                          for v in value):
            raise InvalidActionError(
                f"Parameter {param.name} of {spec.name} must be a list of strings, got {value!r}. "
                f"Usage: {spec.usage}", expected=spec.usage)
        return tuple("" if v is None else str(v) for v in value)
    if value is None:
        if param.required:
            raise InvalidActionError(f"Parameter {param.name} of {spec.name} is required. "
                                     f"Usage: {spec.usage}", expected=spec.usage)
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidActionError(
            f"Parameter {param.name} of {spec.name} must be a string, got {value!r}. Usage: {spec.usage}",
            expected=spec.usage)
    return str(value)


def _dump(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), ensure_ascii=False, default=str)


def _unknown_action_message(name: Any, actions: Mapping[str, ActionSpec]) -> str:
    return f"Unknown action {name!r}.{did_you_mean(str(name), actions)} Available actions: {', '.join(actions)}."


# ---------------------------------------------------------------------- loading
def load_catalog(source: str | None = None) -> Catalog:
    """Load and validate a catalog from YAML text (the packaged ``actions.yaml`` by default).

    >>> load_catalog("version: 1\\nactions: {x: {group: nope}}")
    Traceback (most recent call last):
    ...
    querygym.errors.CatalogError: action 'x': unknown group 'nope'; groups: (none)
    """
    if source is None:
        source = resources.files("querygym.actions").joinpath("actions.yaml").read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        raise CatalogError(f"actions.yaml is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CatalogError("actions.yaml must be a mapping with 'version', 'groups' and 'actions'")
    _no_unknown(data, _TOP_KEYS, "the catalog")
    settings = data.get("settings") or {}
    groups = []
    for gname, g in (data.get("groups") or {}).items():
        if not isinstance(g, dict):
            raise CatalogError(f"group {gname!r} must be a mapping")
        _no_unknown(g, _GROUP_KEYS, f"group {gname!r}")
        groups.append(Group(gname, str(g.get("title", gname)), str(g.get("description", ""))))
    group_names = {g.name for g in groups}
    actions = []
    for aname, a in (data.get("actions") or {}).items():
        where = f"action {aname!r}"
        if not isinstance(a, dict):
            raise CatalogError(f"{where} must be a mapping")
        _no_unknown(a, _ACTION_KEYS, where)
        if a.get("group") not in group_names:
            raise CatalogError(f"{where}: unknown group {a.get('group')!r}; groups: "
                               f"{', '.join(sorted(group_names)) or '(none)'}")
        if not a.get("description"):
            raise CatalogError(f"{where}: missing description")
        params = []
        seen_optional = False
        for p in a.get("params") or []:
            if not isinstance(p, dict):
                raise CatalogError(f"{where}: each parameter must be a mapping")
            _no_unknown(p, _PARAM_KEYS, f"{where} parameter")
            if p.get("type") not in PARAM_TYPES:
                raise CatalogError(f"{where}: parameter {p.get('name')!r} has unknown type "
                                   f"{p.get('type')!r}; known: {', '.join(sorted(PARAM_TYPES))}")
            required = bool(p.get("required", True))
            if required and seen_optional:
                raise CatalogError(f"{where}: required parameter {p['name']!r} follows an optional one")
            seen_optional |= not required
            params.append(Param(str(p["name"]), p["type"], str(p.get("description", "")), required))
        examples = tuple(str(e).strip() for e in a.get("examples") or [])
        for ex in examples:
            try:
                json.loads(ex)
            except ValueError as exc:
                raise CatalogError(f"{where}: example is not a JSON list: {ex!r} ({exc})") from None
        actions.append(ActionSpec(aname, a["group"], str(a["description"]).strip(), tuple(params),
                                  examples, float(a.get("cost", 0.0))))
    cat = Catalog(int(data.get("version", 1)), settings, tuple(groups), tuple(actions))
    for spec in cat:
        try:
            cat.describe(spec)
        except (KeyError, IndexError) as exc:
            raise CatalogError(f"action {spec.name!r}: description uses unknown setting {exc}") from None
    return cat


def _no_unknown(mapping: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(mapping) - allowed
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                           f"allowed: {', '.join(sorted(allowed))}")



@functools.lru_cache(maxsize=None)
def catalog() -> Catalog:
    """The packaged action catalog, loaded and validated once.

    >>> catalog()["perform_join"].min_args
    3
    """
    return load_catalog()
