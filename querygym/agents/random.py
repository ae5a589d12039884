"""The random agent: uniform over the catalog's actions, with parameters that look valid.

It is a baseline (how often does chance build the answer?) and a fuzzer (every action of the
catalog, every parameter type, and a share of malformed text reach the environment).  Each step
it draws an action name uniformly from the catalog and fills each parameter from what the
episode offers: the task's tables and columns, the intermediate tables created so far (read from
``info["cte_id"]`` and the ``Columns:`` line of their observations), and the values that earlier
observations showed (previews, unique and sample values).  Conditions are simple comparisons
(``col = 'value'``, ``col > n``, ``col IS NULL``), joins pair same-named columns or declared
foreign keys, set operations take column lists of equal width, SQL is a simple ``SELECT``, and free
text is made of words the observations used.

Deterministic given its seed: the episode's random stream is derived from the seed, the task id
and how many times this agent has played that task, so a run split over worker processes plays
the same actions as one process.

>>> from querygym.converters.builtin import builtin_tasks
>>> task = builtin_tasks()[0]
>>> def first_action(seed):
...     agent = RandomAgent(seed=seed)
...     agent.reset(task)
...     return agent.act("", {"kind": "overview"})
>>> first_action(7) == first_action(7)
True
"""

from __future__ import annotations

import json
import random
import re
import string
from dataclasses import dataclass, field
from typing import Any, Callable

from querygym.actions.catalog import PARAM_TYPES, ActionSpec, Param, catalog
from querygym.agents.base import Agent
from querygym.errors import InvalidArgumentError
from querygym.plan.decompose import schema_of
from querygym.schema import quote_name

_NUMERIC_TYPES = ("INT", "REAL", "FLOA", "DOUB", "NUM", "DEC")
# Mostly inner and left joins: outer and cross joins of unrelated tables are valid but can run
# into the query time limit, which would make the baseline mostly wait.
_JOIN_TYPES = ("INNER JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "CROSS JOIN")
_JOIN_WEIGHTS = (70, 20, 4, 4, 2)
_COLUMNS_LINE = re.compile(r"^Columns: (.*)$", re.M)
_COLUMN_ITEM = re.compile(r"(.+?) \(([^()]*)\)(?:, |$)")
_CREATED = re.compile(r"Created (T_\d+)\b[^\n]*\n(?:Columns: ([^\n]*))?")
_QUOTED = re.compile(r"'((?:[^']|'')*)'")
_SEPARATOR = re.compile(r"^-+(?:\+-+)*$")
_VALUES_PER_COLUMN = 24
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{2,}")
_MAX_WORDS = 400


@dataclass
class _Table:
    """A table the agent can name: a base table or an intermediate result, with typed columns."""

    name: str
    columns: list[tuple[str, str]]  # (name, declared type)
    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)  # (column, ref table, ref column)


@dataclass
class _Draft:
    """What the parameters filled so far in one action chose, for the parameters that follow."""

    tables: list[tuple[_Table, str]] = field(default_factory=list)  # (table, qualifier)
    group_by: list[str] | None = None
    width: int | None = None  # set operations: the first column list's width
    column_lists: int = 0
    join_types: list[str] = field(default_factory=list)  # drawn with the tables, so CROSS JOINs get ""


class RandomAgent(Agent):
    """Uniformly random valid-looking actions, with a ``malformed`` share of broken text.

    Parameters: ``seed`` (None draws one from the operating system), ``malformed`` (the share of
    steps that send broken text: truncated JSON, misspelt names, wrong arity, unknown columns,
    injections, noise), ``actions`` (restrict the draw to these catalog names).
    """

    name = "random"

    def __init__(self, seed: int | None = None, malformed: float = 0.05, actions: list[str] | None = None):
        super().__init__()
        if not 0.0 <= float(malformed) <= 1.0:
            raise InvalidArgumentError(f"malformed must be a share between 0 and 1, got {malformed!r}")
        cat = catalog()
        names = list(actions) if actions is not None else list(cat.names)
        for n in names:
            cat[n]  # unknown names fail here, with a did-you-mean
        if not names:
            raise InvalidArgumentError("RandomAgent needs at least one action to draw from; actions is empty")
        self.seed = seed if seed is not None else random.SystemRandom().getrandbits(63)
        self._seed_given = seed
        self.malformed = float(malformed)
        self.action_names = names
        self._specs = [cat[n] for n in names]
        self._schemas: dict[Any, list[_Table]] = {}
        self._plays: dict[str, int] = {}
        self.rng = random.Random(self.seed)
        self._base: list[_Table] = []
        self._ctes: dict[str, _Table] = {}
        self._values: dict[str, list[str]] = {}
        self._words: list[str] = []
        self._seen_words: set[str] = set()
        self._asked: str | None = None  # the column the previous action asked about
        self.usage = {"malformed": 0}

    def spec(self) -> dict[str, Any]:
        """How to rebuild this agent elsewhere: its name and seed."""
        spec: dict[str, Any] = {"name": self.name, "seed": self.seed, "malformed": self.malformed}
        if self.action_names != list(catalog().names):
            spec["actions"] = list(self.action_names)
        return spec

    # ------------------------------------------------------------------ episode
    def reset(self, task) -> None:
        """Learn the task's schema and start a fresh episode (the seed's stream goes on)."""
        super().reset(task)
        key = str(getattr(task, "id", ""))
        n = self._plays.get(key, 0)
        self._plays[key] = n + 1
        # A string seed goes through SHA-512 in random.seed, so it is the same in every process.
        self.rng = random.Random(f"{self.seed}:{key}:{n}")
        self._base = self._schema_tables(task)
        self._ctes = {}
        self._values = {}
        self._words: list[str] = []
        self._seen_words: set[str] = set()
        self._asked = None

    def _schema_tables(self, task) -> list[_Table]:
        key = getattr(task, "db", None) or getattr(task, "db_id", None) or id(task)
        if key not in self._schemas:
            try:
                schema = schema_of(task)
            except Exception:  # no database and no schema: the agent still fuzzes with what it sees
                schema = None
            self._schemas[key] = [] if schema is None else [
                _Table(t.name, [(c.name, c.type or "") for c in t.columns],
                       [(a, fk.ref_table, b) for fk in t.foreign_keys for a, b in zip(fk.columns, fk.ref_columns)])
                for t in schema.tables]
        return self._schemas[key]

    def act(self, observation: str, info: dict[str, Any]) -> str:
        """A uniformly drawn action, valid-looking over the tables and columns seen so far."""
        self._observe(observation or "", info or {})
        self._asked = None
        spec = self.rng.choice(self._specs)
        action = self._fill(spec)
        if self.rng.random() < self.malformed:
            self.usage["malformed"] += 1
            return self._malform(spec, action)
        return self._write(action)

    # ------------------------------------------------------------------ reading observations
    def _observe(self, text: str, info: dict[str, Any]) -> None:
        for cte_id, columns in _CREATED.findall(text):
            self._ctes[cte_id] = _Table(cte_id, _parse_columns(columns))
        cte_id = info.get("cte_id")
        if cte_id and cte_id not in self._ctes:
            match = _COLUMNS_LINE.search(text)
            self._ctes[cte_id] = _Table(cte_id, _parse_columns(match.group(1) if match else ""))
        self._harvest_rows(text)
        if len(self._words) < _MAX_WORDS:
            for word in dict.fromkeys(_WORD.findall(text[:4000])):  # each word once, in order
                if word not in self._seen_words:
                    self._seen_words.add(word)
                    self._words.append(word)
                    if len(self._words) >= _MAX_WORDS:
                        break
        if self._asked and info.get("kind") == "exploration":
            # The previous action asked for the values of this column (unique or sample values).
            for value in _QUOTED.findall(text.split(":", 1)[-1]):
                self._remember(self._asked, value.replace("''", "'"))

    def _harvest_rows(self, text: str) -> None:
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if i == 0 or not line.lstrip().startswith("-") or not _SEPARATOR.match(line.strip()):
                continue  # (the prefix test first: a separator line starts with a dash)
            header = [h.strip() for h in lines[i - 1].split("|")]
            for row in lines[i + 1:i + 1 + 10]:
                cells = [c.strip() for c in row.split("|")]
                if len(cells) != len(header):
                    break
                for name, value in zip(header, cells):
                    if value and value != "NULL":
                        self._remember(name, value)

    def _remember(self, column: str, value: str) -> None:
        pool = self._values.setdefault(column.lower(), [])
        if value not in pool and len(pool) < _VALUES_PER_COLUMN:
            pool.append(value)

    # ------------------------------------------------------------------ building an action
    def _tables(self) -> list[_Table]:
        return self._base + list(self._ctes.values())

    def _fill(self, spec: ActionSpec) -> list[Any]:
        draft = _Draft()
        required = [p for p in spec.params if p.required]
        optional = [p for p in spec.params if not p.required]
        # Optional parameters trail; most actions leave them out, as agents mostly do.  Set
        # operations give both column lists or neither, since widths must agree.
        if _pairs_column_lists(spec):
            n_optional = len(optional) if self.rng.random() < 0.85 else 0
        else:
            n_optional = 0
            while n_optional < len(optional) and self.rng.random() < 0.35:
                n_optional += 1
        args = [spec.name]
        for param in required + optional[:n_optional]:
            args.append(_FILLERS[param.type](self, spec, param, draft))
        return args

    def _write(self, action: list[Any]) -> str:
        text = json.dumps(action, ensure_ascii=False)
        form = self.rng.random()
        if form < 0.8:
            return "Action: " + text
        if form < 0.9:
            return text
        return f"Let me try {action[0]} next.\nAction: {text}"

    def _pick_table(self, draft: _Draft, *, alias_share: float = 0.2) -> str:
        tables = self._tables()
        if not tables:
            ref, table = "no_such_table", _Table("no_such_table", [])
        else:
            table = self.rng.choice(tables)
            ref = quote_name(table.name)
        qualifier = quote_name(table.name)
        if self.rng.random() < alias_share:
            qualifier = f"a{len(draft.tables)}"
            ref = f"{ref} AS {qualifier}"
        draft.tables.append((table, qualifier))
        return ref

    def _column(self, draft: _Draft, *, among: list[tuple[_Table, str]] | None = None,
                numeric: bool = False) -> tuple[str, str, str]:
        """(reference, bare column name, type) of a random column of the draft's tables."""
        pool = [(t, q, c, ty) for t, q in (among or draft.tables) for c, ty in t.columns]
        if numeric:
            pool = [p for p in pool if _is_numeric(p[3])] or pool
        if not pool:
            return "no_such_column", "no_such_column", ""
        table, qualifier, column, ctype = self.rng.choice(pool)
        qualified = len(draft.tables) > 1 or self.rng.random() < 0.7
        ref = f"{qualifier}.{quote_name(column)}" if qualified else quote_name(column)
        return ref, column, ctype

    def _literal(self, column: str, ctype: str) -> str:
        seen = self._values.get(column.lower())
        if seen and self.rng.random() < 0.8:
            value = self.rng.choice(seen)
        elif _is_numeric(ctype):
            value = str(self.rng.choice((0, 1, 2, 5, 10, 100, 1000, 2023)))
        else:
            value = self.rng.choice(("A", "x", "2023-01-01", "active", ""))
        if _is_numeric(ctype) and _looks_numeric(value):
            return value
        return "'" + value.replace("'", "''") + "'"

    def _comparison(self, draft: _Draft) -> str:
        ref, column, ctype = self._column(draft)
        kind = self.rng.random()
        if kind < 0.1:
            return f"{ref} IS {'NOT ' if self.rng.random() < 0.5 else ''}NULL"
        if _is_numeric(ctype):
            op = self.rng.choice(("=", ">", "<", ">=", "<=", "<>"))
        elif kind < 0.2:
            return f"{ref} LIKE '{self.rng.choice(string.ascii_letters)}%'"
        else:
            op = self.rng.choice(("=", "=", "=", "<>"))
        return f"{ref} {op} {self._literal(column, ctype)}"

    def _aggregate(self, draft: _Draft) -> str:
        if self.rng.random() < 0.5:
            return "COUNT(*)"
        ref, _, _ = self._column(draft, numeric=True)
        return f"{self.rng.choice(('SUM', 'AVG', 'MIN', 'MAX', 'COUNT'))}({ref})"

    # ------------------------------------------------------------------ one filler per parameter type
    def _fill_table(self, spec: ActionSpec, param: Param, draft: _Draft) -> str:
        return self._pick_table(draft)

    def _fill_column(self, spec: ActionSpec, param: Param, draft: _Draft) -> str:
        ref, column, _ = self._column(draft)
        self._asked = column
        return ref

    def _fill_columns(self, spec: ActionSpec, param: Param, draft: _Draft) -> str:
        draft.column_lists += 1
        # Set operations pair the k-th column list with the k-th table and keep the widths equal.
        paired = _pairs_column_lists(spec)
        among = [draft.tables[draft.column_lists - 1]] if paired and draft.column_lists <= len(draft.tables) else None
        if draft.group_by is not None:
            items = list(draft.group_by)
            items.append(f"{self._aggregate(draft)} AS n{len(items)}")
            return ", ".join(items)
        width = draft.width if paired and draft.width else self.rng.randint(1, 3)
        items = []
        for i in range(width):
            if not paired and i == 0 and self.rng.random() < 0.1:
                items.append(f"{self._aggregate(draft)} AS agg")
                continue
            items.append(self._column(draft, among=among)[0])
        if paired:
            draft.width = width
            return ", ".join(items)
        prefix = "DISTINCT " if self.rng.random() < 0.15 else ""
        return prefix + ", ".join(dict.fromkeys(items))

    def _fill_condition(self, spec: ActionSpec, param: Param, draft: _Draft) -> str:
        if draft.group_by is not None:  # a condition after grouping is a HAVING condition
            return f"{self._aggregate(draft)} {self.rng.choice(('>', '>=', '<'))} {self.rng.choice((1, 2, 5, 10))}"
        parts = [self._comparison(draft)]
        while len(parts) < 3 and self.rng.random() < 0.25:
            parts.append(self._comparison(draft))
        return f" {self.rng.choice(('AND', 'AND', 'OR'))} ".join(parts)

    def _fill_ordering(self, spec: ActionSpec, param: Param, draft: _Draft) -> str:
        keys = []
        for _ in range(1 if self.rng.random() < 0.7 else 2):
            direction = self.rng.choice(("", " ASC", " DESC", " DESC NULLS LAST"))
            keys.append(self._column(draft)[0] + direction)
        return ", ".join(keys)

    def _fill_limit(self, spec: ActionSpec, param: Param, draft: _Draft) -> str:
        n = str(self.rng.choice((1, 1, 3, 5, 10, 20)))
        return f"{n} OFFSET {self.rng.randint(1, 5)}" if self.rng.random() < 0.1 else n

    def _fill_group_by(self, spec: ActionSpec, param: Param, draft: _Draft) -> str:
        if self.rng.random() < 0.3:
            draft.group_by = []
            return ""
        keys = list(dict.fromkeys(self._column(draft)[0] for _ in range(1 if self.rng.random() < 0.75 else 2)))
        draft.group_by = keys
        return ", ".join(keys)

    def _fill_table_list(self, spec: ActionSpec, param: Param, draft: _Draft) -> list[str]:
        n = 2 if self.rng.random() < 0.8 else 3
        draft.join_types = self.rng.choices(_JOIN_TYPES, _JOIN_WEIGHTS, k=n - 1)
        return [self._pick_table(draft, alias_share=0.6) for _ in range(n)]

    def _fill_condition_list(self, spec: ActionSpec, param: Param, draft: _Draft) -> list[str]:
        types = draft.join_types or ["INNER JOIN"] * (len(draft.tables) - 1)
        return ["" if types[i - 1] == "CROSS JOIN" else self._join_condition(draft, i)
                for i in range(1, len(draft.tables))]

    def _join_condition(self, draft: _Draft, i: int) -> str:
        """A condition joining table ``i`` to one before it: same-named columns or a foreign key."""
        right, rq = draft.tables[i]
        keys, others = [], []  # key-like pairs first: low-cardinality pairs multiply rows and hit time limits
        for left, lq in draft.tables[:i]:
            for table, tq, other, oq in ((left, lq, right, rq), (right, rq, left, lq)):
                for col, ref_table, ref_col in table.foreign_keys:
                    if ref_table.lower() == other.name.lower():
                        keys.append((f"{tq}.{quote_name(col)}", f"{oq}.{quote_name(ref_col)}"))
            if left.name == right.name:
                continue  # a self-join on the same column only multiplies rows
            lcols = {c.lower(): c for c, _ in left.columns}
            for c, _ in right.columns:
                if c.lower() in lcols:
                    pair = (f"{lq}.{quote_name(lcols[c.lower()])}", f"{rq}.{quote_name(c)}")
                    (keys if c.lower().endswith("id") else others).append(pair)
        pairs = keys or others
        if not pairs or self.rng.random() < 0.05:
            left, lq = self.rng.choice(draft.tables[:i])
            lc = self.rng.choice(left.columns)[0] if left.columns else "no_such_column"
            rc = self.rng.choice(right.columns)[0] if right.columns else "no_such_column"
            pairs.append((f"{lq}.{quote_name(lc)}", f"{rq}.{quote_name(rc)}"))
        a, b = self.rng.choice(pairs)
        return f"{a} = {b}"

    def _fill_join_type_list(self, spec: ActionSpec, param: Param, draft: _Draft) -> list[str]:
        return list(draft.join_types) or self.rng.choices(_JOIN_TYPES, _JOIN_WEIGHTS, k=max(1, len(draft.tables) - 1))

    def _fill_set_quantifier(self, spec: ActionSpec, param: Param, draft: _Draft) -> str:
        return self.rng.choice(("ALL", "DISTINCT"))

    def _fill_text(self, spec: ActionSpec, param: Param, draft: _Draft) -> str:
        # Free text (search words, document ids, reports): words the observations used.
        words = self._words or ["data"]
        n = 1 if self.rng.random() < 0.4 else self.rng.randint(2, 6)
        return " ".join(self.rng.choice(words) for _ in range(n))

    def _fill_sql(self, spec: ActionSpec, param: Param, draft: _Draft) -> str:
        source = self._pick_table(draft)
        sql = f"SELECT {self._fill_columns(spec, param, draft)} FROM {source}"
        if self.rng.random() < 0.5:
            sql += f" WHERE {self._comparison(draft)}"
        if self.rng.random() < 0.2:
            sql += f" LIMIT {self._fill_limit(spec, param, draft)}"
        return sql

    # ------------------------------------------------------------------ fuzzing
    def _malform(self, spec: ActionSpec, action: list[Any]) -> str:
        text = json.dumps(action, ensure_ascii=False)
        mutation = self.rng.randrange(8)
        if mutation == 0:  # truncated JSON
            return "Action: " + text[: self.rng.randint(1, max(1, len(text) - 1))]
        if mutation == 1:  # a misspelt action name
            name = action[0]
            i = self.rng.randrange(len(name))
            return "Action: " + json.dumps([name[:i] + name[i + 1:]] + action[1:], ensure_ascii=False)
        if mutation == 2:  # one argument too many
            return "Action: " + json.dumps(action + ["extra"], ensure_ascii=False)
        if mutation == 3 and len(action) > 1:  # one required argument missing
            return "Action: " + json.dumps(action[:-1] if spec.min_args == len(action) - 1 else action[:1],
                                         ensure_ascii=False)
        if mutation == 4 and len(action) > 1:  # an unknown table in the first argument
            broken = list(action)
            broken[1] = ["no_such_table", *broken[1][1:]] if isinstance(broken[1], list) else "no_such_table"
            return "Action: " + json.dumps(broken, ensure_ascii=False)
        if mutation == 5:  # a second statement smuggled into an expression
            return "Action: " + json.dumps(["perform_filter", action[1] if len(action) > 1 and isinstance(
                action[1], str) else "T_0", "1 = 1; DROP TABLE customers"], ensure_ascii=False)
        if mutation == 6:  # prose with no action in it
            return "I am not sure what to do next; perhaps look at the " + self.rng.choice(("schema", "data"))
        length = self.rng.randint(0, 80)  # printable noise
        return "".join(self.rng.choice(string.printable) for _ in range(length))


#: parameter type -> filler; every type of the catalog has one (checked below, at import).
_FILLERS: dict[str, Callable[[RandomAgent, ActionSpec, Param, _Draft], Any]] = {
    "table": RandomAgent._fill_table,
    "column": RandomAgent._fill_column,
    "columns": RandomAgent._fill_columns,
    "condition": RandomAgent._fill_condition,
    "ordering": RandomAgent._fill_ordering,
    "limit": RandomAgent._fill_limit,
    "group_by": RandomAgent._fill_group_by,
    "table_list": RandomAgent._fill_table_list,
    "condition_list": RandomAgent._fill_condition_list,
    "join_type_list": RandomAgent._fill_join_type_list,
    "set_quantifier": RandomAgent._fill_set_quantifier,
    "text": RandomAgent._fill_text,
    "sql": RandomAgent._fill_sql,
}
if set(PARAM_TYPES) - set(_FILLERS):  # a new parameter type in the catalog needs a filler here
    raise ImportError(f"RandomAgent has no filler for parameter type(s) {sorted(set(PARAM_TYPES) - set(_FILLERS))}")


def _pairs_column_lists(spec: ActionSpec) -> bool:
    """Whether the action takes one column list per input table (a set operation)."""
    n_tables = sum(p.type == "table" for p in spec.params)
    return n_tables > 1 and n_tables == sum(p.type == "columns" for p in spec.params)


def _parse_columns(text: str) -> list[tuple[str, str]]:
    return [(m.group(1).strip(), m.group(2).strip()) for m in _COLUMN_ITEM.finditer(text or "")]


def _is_numeric(ctype: str) -> bool:
    upper = (ctype or "").upper()
    return any(t in upper for t in _NUMERIC_TYPES)


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
