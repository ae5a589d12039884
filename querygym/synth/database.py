"""Synthesise a SQLite database for a schema, shaped by what its gold queries ask.

The rows come in two kinds:

* **witness rows**: for each gold query, one row per table reference holding the values its
  filters and joins need (:mod:`querygym.synth.hints`), so the query has a non-empty answer;
* **bulk rows**: ``rows`` per table, each column drawn from its pool — the literals the gold
  queries compare it with, mixed with values generated from its type and name (names, cities,
  dates, amounts, codes), over ranges that span those literals.

Constraints hold on every database written: declared types (values are of the column's type),
primary keys (unique, never NULL), NOT NULL, and foreign keys — declared, or inferred from the
join predicates of the gold queries when the schema declares none (a child value always exists
in its parent).  Generation is deterministic: one seed gives the same rows in the same order,
and the file is written by the same statements, so the same bytes.

A *variant* (a neighbour database) reuses the pools and the witnesses' constrained values but
draws everything else afresh and varies the number of rows, so a query that is right only by
coincidence on one database is caught on another.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from querygym.errors import InvalidArgumentError
from querygym.schema import DatabaseSchema, ForeignKey, TableSchema
from querygym.synth.hints import DatabaseHints, Slot, like_example, time_example
from querygym.util import quote_identifier

#: the default number of bulk rows per table: small enough to play fast
DEFAULT_ROWS = 30

_FIRST = ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
          "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Aiko",
          "Wei", "Fatima", "Olga", "Ravi", "Lucia", "Kwame", "Ingrid", "Mateo", "Yuki", "Amara")
_LAST = ("Smith", "Johnson", "Garcia", "Brown", "Miller", "Davis", "Martinez", "Lopez", "Wilson", "Anderson",
         "Taylor", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Nakamura",
         "Chen", "Okafor", "Ivanova", "Patel", "Rossi", "Mensah", "Larsen", "Silva", "Kim", "Dubois")
_CITIES = ("Springfield", "Riverside", "Franklin", "Greenville", "Bristol", "Madison", "Georgetown", "Salem",
           "Fairview", "Clinton", "Oslo", "Lyon", "Kyoto", "Porto", "Austin", "Denver", "Leeds", "Perth")
_COUNTRIES = ("USA", "France", "Germany", "Japan", "Brazil", "Canada", "Italy", "Spain", "India", "Kenya",
              "Norway", "Mexico", "China", "Australia", "Egypt")
_WORDS = ("alpha", "delta", "orbit", "harbor", "maple", "summit", "cedar", "falcon", "prism", "quartz",
          "ember", "willow", "atlas", "nova", "lumen", "vertex", "coral", "tundra", "zephyr", "onyx")
_COMPANY = ("Inc.", "Corp.", "Ltd.", "Group", "Holdings", "Partners")


@dataclass
class ColumnSpec:
    """How to generate one column's values: its declared type, kind of value, and whether it is NOT NULL
    or part of the primary key.
    """
    table: str
    name: str
    type: str
    kind: str  # "int", "real", "text", "date", "datetime", "bool"
    not_null: bool = False
    primary: bool = False


@dataclass
class TablePlan:
    """One table being synthesised: its column specs, the rows made so far, and the keys and values used."""
    schema: TableSchema
    columns: dict[str, ColumnSpec]
    rows: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    used: dict[str, set] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def primary_key(self) -> tuple[str, ...]:
        """The table's primary-key columns (empty when it declares none)."""
        return tuple(self.schema.primary_key)


def column_kind(type_name: str, name: str = "") -> str:
    """The kind of values a declared type holds (SQLite's affinity rules, plus dates).

    >>> column_kind("VARCHAR(20)"), column_kind("DOUBLE PRECISION"), column_kind("DATE"), column_kind("BIGINT")
    ('text', 'real', 'date', 'int')
    """
    t = (type_name or "").upper()
    if "DATETIME" in t or "TIMESTAMP" in t:
        return "datetime"
    if t.startswith("DATE"):
        return "date"
    if t.startswith("TIME"):
        return "text"
    if "INT" in t:
        return "int"
    if "CHAR" in t or "CLOB" in t or "TEXT" in t:
        return "text"
    if "REAL" in t or "FLOA" in t or "DOUB" in t or "DECIMAL" in t:
        return "real"
    if "BOOL" in t:
        return "bool"
    if "NUM" in t:
        lower = name.lower()
        if any(w in lower for w in ("price", "rate", "amount", "ratio", "percent", "score", "avg", "average",
                                    "height", "weight", "salary", "cost", "value", "budget", "share", "gpa")):
            return "real"
        return "int"
    return "text"


def derive_seed(*parts: Any) -> int:
    """A 64-bit seed from any parts, the same in every process (unlike ``hash`` of a string)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big")


class Synthesiser:
    """Builds the rows of one database from its schema and hints.

    ``foreign_keys`` are the relations to keep consistent (declared plus inferred);
    ``not_null`` names the columns declared NOT NULL beyond the primary key columns;
    ``pools`` may give extra values per column (e.g. a real database's distinct values).
    """

    def __init__(self, schema: DatabaseSchema, hints: DatabaseHints, *, rows: int = DEFAULT_ROWS, seed: int = 0,
                 variant: int = 0, foreign_keys: dict[str, list[ForeignKey]] | None = None,
                 not_null: Iterable[tuple[str, str]] = (), pools: dict[tuple[str, str], list] | None = None):
        if rows < 0:
            raise InvalidArgumentError(f"rows must be >= 0, got {rows}")
        self.schema, self.hints = schema, hints
        self.rows, self.seed, self.variant = rows, seed, variant
        self.rng = random.Random(derive_seed("synth", schema.db_id, seed, variant))
        self.foreign_keys = foreign_keys if foreign_keys is not None else {t.name: list(t.foreign_keys) for t in schema}
        not_null = set(not_null)
        self._fk_columns = {(table, c) for table, fks in self.foreign_keys.items() for fk in fks for c in fk.columns}
        self._makers: dict[tuple[str, str], Any] = {}
        self.tables: dict[str, TablePlan] = {}
        for t in schema.tables:
            specs = {}
            for c in t.columns:
                specs[c.name] = ColumnSpec(t.name, c.name, c.type, column_kind(c.type, c.name),
                                           not_null=c.not_null or (t.name, c.name) in not_null
                                           or c.name in t.primary_key,
                                           primary=c.name in t.primary_key)
            self.tables[t.name] = TablePlan(t, specs)
        self.pools: dict[tuple[str, str], list] = {}
        for ref, values in hints.literals.items():
            spec = self._spec(ref)
            if spec is not None:
                coerced = [self._coerce(spec, v) for v in values]
                self.pools[ref] = [v for v in coerced if v is not None]
        for ref, values in (pools or {}).items():
            spec = self._spec(ref)
            if spec is not None:
                extra = [self._coerce(spec, v) for v in values]
                self.pools.setdefault(ref, []).extend(v for v in extra if v is not None and v not in self.pools[ref])
        self._ranges = {ref: _numeric_range(values) for ref, values in self.pools.items()}
        # columns joined by gold queries share one pool, so bulk rows join too
        for a, b in hints.joins:
            if self._spec(a) is None or self._spec(b) is None or self._is_fk(a) or self._is_fk(b):
                continue
            merged = list(dict.fromkeys(self.pools.get(a, []) + self.pools.get(b, [])))
            self.pools[a], self.pools[b] = merged, merged

    # -- helpers ----------------------------------------------------------------------------------
    def _spec(self, ref) -> ColumnSpec | None:
        plan = self.tables.get(ref[0])
        return plan.columns.get(ref[1]) if plan is not None else None

    def _is_fk(self, ref) -> bool:
        return ref in self._fk_columns

    def _coerce(self, spec: ColumnSpec, value: Any) -> Any:
        """``value`` as the column's kind stores it, or None when it cannot be."""
        if value is None:
            return None
        if spec.kind in ("int", "bool"):
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, int):
                return value
            if isinstance(value, float):
                return int(value) if value.is_integer() else (value if not spec.primary else None)
            try:
                return int(str(value).strip())
            except ValueError:
                try:
                    number = float(str(value).strip())
                    return int(number) if number.is_integer() else number
                except ValueError:
                    return None if spec.primary else str(value)
        if spec.kind == "real":
            if isinstance(value, (int, float)):
                return float(value)
            try:
                return float(str(value).strip())
            except ValueError:
                return str(value)
        if isinstance(value, float) and value.is_integer() and spec.kind == "text":
            return str(value)
        return str(value) if not isinstance(value, str) else value

    def _fresh(self, plan: TablePlan, column: str) -> Any:
        """A value the column does not hold yet (for keys)."""
        spec = plan.columns[column]
        used = plan.used.setdefault(column, set())
        n = plan.counters.get(column, 0)
        while True:
            n += 1
            if spec.kind in ("int", "bool"):
                value = n
            elif spec.kind == "real":
                value = float(n)
            elif spec.kind == "date":
                value = (dt.date(2000, 1, 1) + dt.timedelta(days=n)).isoformat()
            elif spec.kind == "datetime":
                value = (dt.datetime(2000, 1, 1) + dt.timedelta(hours=n)).strftime("%Y-%m-%d %H:%M:%S")
            else:
                value = _code(column, n)
            if value not in used:
                plan.counters[column] = n
                return value

    def generate(self, spec: ColumnSpec, *, pool_share: float = 0.35) -> Any:
        """A value for a column: from its pool (the gold queries' literals) or made up."""
        ref = (spec.table, spec.name)
        pool = self.pools.get(ref)
        rng = self.rng
        if pool and rng.random() < pool_share:
            return pool[rng.randrange(len(pool))]
        return self._made_up(spec)

    def _made_up(self, spec: ColumnSpec) -> Any:
        maker = self._makers.get((spec.table, spec.name))
        if maker is None:
            maker = self._makers[(spec.table, spec.name)] = self._maker(spec)
        return maker(self.rng)

    def _maker(self, spec: ColumnSpec):
        """A function of the random generator making one value for the column (decided once per
        column, so 10^6 rows cost one call each)."""
        name = spec.name.lower()
        span = self._ranges.get((spec.table, spec.name))
        if spec.kind == "bool" or (spec.kind == "int" and name.startswith(("is", "has_"))
                                   and span is None):
            return lambda rng: rng.randint(0, 1)
        if spec.kind in ("int", "real"):
            if span is not None:
                low, high = span
            elif "year" in name:
                low, high = 1980, 2023
            elif "age" in name.split("_") or name == "age":
                low, high = 18, 80
            elif spec.kind == "real":
                low, high = 0.0, 1000.0
            else:
                low, high = 1, 1000
            if spec.kind == "int":
                low, high = int(low), int(max(high, low))
                return lambda rng: rng.randint(low, high)
            low, high = float(low), float(high)
            return lambda rng: round(rng.uniform(low, high), 2)
        if spec.kind in ("date", "datetime") or _looks_temporal(name):
            start, days = dt.datetime(1990, 1, 1), 365 * 35
            span_dates = self._date_range(spec)
            if span_dates is not None:
                start, days = span_dates
            days = max(days, 1)
            if spec.kind == "date" or (spec.kind != "datetime" and "time" not in name):
                return lambda rng: (start + dt.timedelta(days=rng.randrange(days))).date().isoformat()
            return lambda rng: (start + dt.timedelta(days=rng.randrange(days), seconds=rng.randrange(86400))
                                ).strftime("%Y-%m-%d %H:%M:%S")
        return _text_maker(spec.name)

    def _date_range(self, spec: ColumnSpec):
        values = [v for v in self.pools.get((spec.table, spec.name), []) if isinstance(v, str)]
        dates = []
        for v in values:
            try:
                dates.append(dt.datetime.fromisoformat(v[:10]))
            except ValueError:
                continue
        if not dates:
            return None
        low, high = min(dates) - dt.timedelta(days=400), max(dates) + dt.timedelta(days=400)
        return low, (high - low).days

    # -- witness rows ------------------------------------------------------------------------------
    def _slot_value(self, slot: Slot):
        """(value, decided): the value a slot's predicates call for, or decided=False."""
        spec = self._spec(slot.members[0][1])
        if slot.has_eq:
            return slot.eq, True
        if slot.options:
            return slot.options[self.rng.randrange(len(slot.options))] if self.variant else slot.options[0], True
        if slot.like is not None:
            return like_example(slot.like), True
        if slot.prefix is not None:
            start, text = slot.prefix
            filler = self.generate(spec, pool_share=0.0) if spec is not None else ""
            filler = str(filler)
            head = (filler + "x" * start)[: start - 1]
            return head + text + filler[start - 1 + len(text):], True
        if slot.time_value is not None:
            value = time_example(slot.time_format, slot.time_value, slot.time_op)
            if value is not None:
                if spec is not None and spec.kind == "date" and not any(c in slot.time_format for c in "HMS"):
                    value = value[:10]
                return value, True
        if slot.is_null:
            return None, True
        if slot.extreme is not None and spec is not None and spec.kind in ("int", "real"):
            span = self._ranges.get(slot.members[0][1]) or (1, 1000)
            value = span[0] - 1 if slot.extreme == "min" else span[1] * 10 + 1000
            return (int(value) if spec.kind == "int" else float(value)), True
        if slot.low is not None or slot.high is not None:
            low, high = slot.low, slot.high
            if spec is not None and spec.kind in ("int", "real", "bool"):
                low, high = (_number(v) for v in (low, high))
            if low is not None and low == high:
                return low, True
            return self._between(low, high, spec), True
        return None, False

    def _between(self, low, high, spec):
        rng = self.rng
        numbers = all(isinstance(v, (int, float)) for v in (low, high) if v is not None)
        integer = spec is not None and spec.kind == "int"
        if numbers:
            if low is not None and high is not None:
                value = low + (high - low) * rng.uniform(0.25, 0.75)
            elif low is not None:
                value = low + max(abs(low) * rng.uniform(0.05, 0.5), 1)
            else:
                value = high - max(abs(high) * rng.uniform(0.05, 0.5), 1)
            return round(value) if integer and (low is None or high is None or int(high) - int(low) >= 1 or
                                                round(value) >= low) else round(value, 2)
        bound = str(low if low is not None else high)
        try:
            moment = dt.datetime.fromisoformat(bound[:19] if len(bound) > 10 else bound[:10])
        except ValueError:
            return bound + "z" if low is not None else bound[:-1] or bound
        if low is not None and high is not None:
            try:
                end = str(high)
                end = dt.datetime.fromisoformat(end[:19] if len(end) > 10 else end[:10])
                moment += (end - moment) / 2
                moment = moment.replace(microsecond=0)
            except ValueError:
                pass
        else:
            moment += dt.timedelta(days=rng.randint(1, 200) * (1 if low is not None else -1))
        return moment.date().isoformat() if len(bound) <= 10 else moment.strftime("%Y-%m-%d %H:%M:%S")

    def plant_witnesses(self) -> None:
        """Add the rows each gold query's witness needs, so that the queries return something."""
        for witness in self.hints.witnesses:
            first: dict[int, Any] = {}
            for copy in range(witness.copies):
                rows: dict[Any, dict[str, Any]] = {var: {} for var in witness.rows}
                for number, slot in enumerate(witness.slots):
                    members = [(var, ref) for var, ref in slot.members if var in rows and self._spec(ref) is not None]
                    if not members:
                        continue
                    if copy and slot.shared and number in first:
                        value, decided = first[number], True
                    else:
                        value, decided = self._slot_value(slot)
                    if not decided:
                        primary = [(v, r) for v, r in members if self._spec(r).primary]
                        if len(members) == 1 and not primary and not (slot.shared and witness.copies > 1):
                            continue
                        if primary:
                            var, ref = primary[0]
                            value = self._fresh(self.tables[ref[0]], ref[1])
                        else:
                            value = self.generate(self._spec(members[0][1]), pool_share=0.5)
                    first.setdefault(number, value)
                    for var, ref in members:
                        spec = self._spec(ref)
                        coerced = self._coerce(spec, value)
                        if coerced is None and spec.not_null:
                            continue
                        if coerced is None and value is not None:
                            continue
                        rows[var][ref[1]] = coerced
                for var, table in witness.rows.items():
                    self.add_row(table, rows[var])

    def add_row(self, table: str, values: dict[str, Any]) -> dict[str, Any] | None:
        """Add a (partial) row; a row whose key exists already is merged into that row."""
        plan = self.tables[table]
        pk = plan.primary_key
        if pk and all(values.get(c) is not None for c in pk):
            key = tuple(values[c] for c in pk)
            existing = plan.keys.get(key)
            if existing is not None:
                for column, value in values.items():
                    if existing.get(column) is None:
                        existing[column] = value
                return existing
            plan.keys[key] = values
            for c in pk:
                plan.used.setdefault(c, set()).add(values[c])
        plan.rows.append(values)
        return values

    # -- consistency -------------------------------------------------------------------------------
    def _fk_list(self):
        for table in self.tables:
            for fk in self.foreign_keys.get(table, ()):
                if fk.ref_table in self.tables and all(c in self.tables[table].columns for c in fk.columns) and \
                        all(c in self.tables[fk.ref_table].columns for c in fk.ref_columns):
                    yield table, fk

    def add_missing_parents(self) -> None:
        """Every foreign-key value a planted row holds exists in its parent table."""
        for _ in range(10):
            changed = False
            for table, fk in list(self._fk_list()):
                parent = self.tables[fk.ref_table]
                present = {tuple(r.get(c) for c in fk.ref_columns) for r in parent.rows}
                for row in list(self.tables[table].rows):
                    value = tuple(row.get(c) for c in fk.columns)
                    if any(v is None for v in value) or value in present:
                        continue
                    values = {c: self._coerce(parent.columns[c], v) for c, v in zip(fk.ref_columns, value)}
                    if any(v is None for v in values.values()):
                        for c in fk.columns:
                            row[c] = None
                        continue
                    self.add_row(fk.ref_table, values)
                    present.add(value)
                    changed = True
            if not changed:
                return

    def _order(self) -> list[str]:
        """Tables, parents before children (cycles broken in schema order)."""
        done: list[str] = []
        visiting: set[str] = set()

        def visit(name):
            if name in done or name in visiting:
                return
            visiting.add(name)
            for fk in self.foreign_keys.get(name, ()):
                if fk.ref_table in self.tables and fk.ref_table != name:
                    visit(fk.ref_table)
            visiting.discard(name)
            done.append(name)

        for name in self.tables:
            visit(name)
        return done

    def fill(self) -> None:
        """Complete the planted rows and add the bulk rows, table by table, parents first."""
        extra = 0
        if self.variant:
            extra = self.rng.randint(-max(1, self.rows // 4), max(1, self.rows // 4))
        for table in self._order():
            plan = self.tables[table]
            fks = [fk for t, fk in self._fk_list() if t == table]
            kept = []
            for row in plan.rows:
                self._complete(plan, row, fks)
                key = tuple(row[c] for c in plan.primary_key)
                owner = plan.keys.setdefault(key, row) if plan.primary_key else row
                if owner is not row:  # its key (taken from a parent) is another row's: one row holds both
                    for column, value in row.items():
                        if owner.get(column) is None:
                            owner[column] = value
                    continue
                kept.append(row)
            plan.rows = kept
            choices = {}
            for i, fk in enumerate(fks):
                # parents in a random order of popularity (see _pick): some get many children, some none
                keys = self._parent_keys(fk)
                self.rng.shuffle(keys)
                choices[i] = keys
            count = max(0, self.rows + extra) if self.rows else 0
            before = len(plan.rows)
            attempts = 0
            while count > 0 and attempts < count * 3 + 10:
                attempts += 1
                row: dict[str, Any] = {}
                if not self._complete(plan, row, fks, bulk=True, choices=choices):
                    continue
                key = tuple(row[c] for c in plan.primary_key)
                if plan.primary_key and key in plan.keys:
                    continue
                self.add_row(table, row)
                for i, fk in enumerate(fks):  # a self-reference may point at the rows added so far
                    if fk.ref_table == table:
                        key = tuple(row.get(c) for c in fk.ref_columns)
                        if all(v is not None for v in key):
                            choices[i].append(key)
                count -= 1
            if self.variant and len(plan.rows) - before > 2:
                self._remove_some(table, len(plan.rows) - before)

    def _remove_some(self, table: str, bulk: int) -> None:
        """Drop a few of the last ``bulk`` rows (a neighbour has rows removed, not only added); no
        child refers to them yet, since children are filled after their parents."""
        plan = self.tables[table]
        if any(fk.ref_table == table for fk in self.foreign_keys.get(table, ())):
            return
        drop = self.rng.randint(0, max(1, bulk // 10))
        candidates = list(range(len(plan.rows) - bulk, len(plan.rows)))
        for i in sorted(self.rng.sample(candidates, min(drop, len(candidates))), reverse=True):
            row = plan.rows.pop(i)
            if plan.primary_key:
                plan.keys.pop(tuple(row[c] for c in plan.primary_key), None)

    def _parent_keys(self, fk: ForeignKey) -> list[tuple]:
        parent = self.tables[fk.ref_table]
        return [key for key in (tuple(r.get(c) for c in fk.ref_columns) for r in parent.rows)
                if all(v is not None for v in key)]

    def _complete(self, plan: TablePlan, row: dict[str, Any], fks: list[ForeignKey], *, bulk: bool = False,
                  choices: dict[int, list[tuple]] | None = None) -> bool:
        for i, fk in enumerate(fks):
            if all(row.get(c) is not None for c in fk.columns):
                continue
            if not bulk and any(c in row and row[c] is None for c in fk.columns):
                continue  # a witness that needs this reference to be NULL
            keys = choices[i] if choices is not None else self._parent_keys(fk)
            if not keys:
                continue
            chosen = dict(zip(fk.ref_columns, keys[_pick(self.rng, len(keys))]))
            for c, pc in zip(fk.columns, fk.ref_columns):
                if row.get(c) is None:
                    row[c] = self._coerce(plan.columns[c], chosen[pc])
        for c in plan.primary_key:
            if row.get(c) is None:
                if bulk and not self._is_fk((plan.schema.name, c)) or not bulk:
                    row[c] = self._fresh(plan, c)
                else:
                    return False
        if not bulk and plan.primary_key:
            for c in plan.primary_key:
                plan.used.setdefault(c, set()).add(row[c])
        for name, spec in plan.columns.items():
            if name in row:
                if row[name] is None and spec.not_null:
                    row[name] = self.generate(spec)
                continue
            if self._is_fk((plan.schema.name, name)):
                # a self-reference or a parent with no rows: the row refers to itself or to nothing
                own = [fk for fk in fks if name in fk.columns and fk.ref_table == plan.schema.name]
                if own and row.get(own[0].ref_columns[own[0].columns.index(name)]) is not None:
                    row[name] = row[own[0].ref_columns[own[0].columns.index(name)]]
                    continue
                if not spec.not_null:
                    row[name] = None
                    continue
            if bulk and not spec.not_null and not spec.primary and self.rng.random() < 0.03:
                row[name] = None
                continue
            row[name] = self.generate(spec)
        return True

    def build(self) -> dict[str, list[dict[str, Any]]]:
        """Plant the witnesses, add the parent rows their foreign keys need, fill the tables; the rows by table."""
        self.plant_witnesses()
        self.add_missing_parents()
        self.fill()
        return {name: plan.rows for name, plan in self.tables.items()}

    # -- writing -------------------------------------------------------------------------------------
    def ddl(self) -> list[str]:
        """One ``CREATE TABLE`` statement per table, with its primary and foreign keys."""
        statements = []
        for name, plan in self.tables.items():
            parts = []
            for spec in plan.columns.values():
                part = f"{quote_identifier(spec.name, always=True)} {spec.type or ''}".rstrip()
                if spec.not_null:
                    part += " NOT NULL"
                parts.append(part)
            if plan.primary_key:
                parts.append("PRIMARY KEY (" + ", ".join(quote_identifier(c, always=True) for c in plan.primary_key) + ")")
            for fk in self.foreign_keys.get(name, ()):
                if fk.ref_table in self.tables:
                    parts.append(f"FOREIGN KEY ({', '.join(quote_identifier(c, always=True) for c in fk.columns)}) "
                                 f"REFERENCES {quote_identifier(fk.ref_table, always=True)} "
                                 f"({', '.join(quote_identifier(c, always=True) for c in fk.ref_columns)})")
            statements.append(f"CREATE TABLE {quote_identifier(name, always=True)} (\n  " + ",\n  ".join(parts) + "\n)")
        return statements

    def write(self, path: str | Path) -> Path:
        """Build the rows and write them to a new SQLite file at ``path`` (replacing one there)."""
        tables = self.build()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        if tmp.exists():
            tmp.unlink()
        with closing(sqlite3.connect(tmp)) as conn:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            for statement in self.ddl():
                conn.execute(statement)
            for name, rows in tables.items():
                columns = list(self.tables[name].columns)
                sql = (f"INSERT INTO {quote_identifier(name, always=True)} "
                       f"({', '.join(quote_identifier(c, always=True) for c in columns)}) "
                       f"VALUES ({', '.join('?' for _ in columns)})")
                conn.executemany(sql, ([row.get(c) for c in columns] for row in rows))
            conn.commit()
        os.replace(tmp, path)
        return path


def _pick(rng: random.Random, n: int) -> int:
    """A skewed index below ``n``: the first parents are popular, the last often childless, as in
    real data (and so ``NOT IN``, ``EXCEPT`` and outer-join questions have answers)."""
    return min(int(n * rng.random() ** 2), n - 1)


def _text_maker(column: str):
    """A function of the random generator making text that looks like the column's name says."""
    name = column.lower()
    if "email" in name:
        return lambda rng: f"{rng.choice(_FIRST).lower()}.{rng.choice(_LAST).lower()}{rng.randint(1, 99)}@example.com"
    if "phone" in name or "fax" in name:
        return lambda rng: f"+1-{rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
    if "url" in name or "website" in name or "link" in name:
        return lambda rng: f"https://www.{rng.choice(_WORDS)}{rng.randint(1, 999)}.com"
    if "country" in name or "nation" in name:
        return lambda rng: rng.choice(_COUNTRIES)
    if "city" in name or "town" in name or "location" in name or "hometown" in name:
        return lambda rng: rng.choice(_CITIES)
    if "address" in name or "street" in name:
        return lambda rng: f"{rng.randint(1, 999)} {rng.choice(_WORDS).title()} Street"
    if any(w in name for w in ("first", "fname", "given")):
        return lambda rng: rng.choice(_FIRST)
    if any(w in name for w in ("last", "lname", "surname", "family")):
        return lambda rng: rng.choice(_LAST)
    if any(w in name for w in ("legalname", "company", "corporation", "organization", "organisation")):
        return lambda rng: f"{rng.choice(_WORDS).title()} {rng.choice(_COMPANY)}"
    if "name" in name:
        if any(w in name for w in ("person", "people", "player", "driver", "author", "student", "employee",
                                   "customer", "singer", "artist", "member", "actor", "director", "user",
                                   "teacher", "owner", "manager")) or name in ("name", "full_name", "fullname"):
            return lambda rng: f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        return lambda rng: f"{rng.choice(_WORDS).title()} {rng.choice(_WORDS).title()}"
    if "gender" in name or name == "sex":
        return lambda rng: rng.choice(("M", "F"))
    if "code" in name or "symbol" in name or name.endswith("id") or "number" in name:
        return lambda rng: "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3)) + str(rng.randint(10, 9999))
    if "status" in name or "type" in name or "category" in name or "level" in name:
        return lambda rng: rng.choice(("active", "inactive", "pending", "closed", "open", "standard", "premium"))
    if "description" in name or "comment" in name or "text" in name or "note" in name:
        return lambda rng: " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 7))).capitalize() + "."
    words = [w for w in re.split(r"[^A-Za-z]+", column) if w]
    stem = (words[-1] if words else "value").lower()
    return lambda rng: f"{stem} {rng.choice(_WORDS)} {rng.randint(1, 99)}"


def _number(value):
    """A numeric literal written as a string (``'2016'``) as a number; anything else unchanged."""
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return value
    return value


def _numeric_range(values: list) -> tuple[float, float] | None:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers:
        return None
    low, high = min(numbers), max(numbers)
    span = max(high - low, abs(high) * 0.5, 10)
    low = low - span if low < 0 or low - span >= 0 else 0
    return low, high + span


def _looks_temporal(name: str) -> bool:
    return any(w in name for w in ("date", "birthday", "dob", "timestamp")) or name.endswith("_time")


def _code(column: str, n: int) -> str:
    letters = "".join(ch for ch in column.upper() if ch.isalpha())[:3] or "K"
    return f"{letters}{n:04d}"
