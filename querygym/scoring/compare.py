"""Table comparison: is the agent's result table the target table, or a part of it?

:func:`compare_tables` decides equal / subset / superset / different between a
predicted table and the target (gold) table.  The reward is computed from its
answer, so its semantics are written down here and each rule is tested in
``tests/scoring/test_compare.py``.

Semantics of the default ``mode="bag"``
---------------------------------------

* **Tables.**  A table is a pandas ``DataFrame`` or a list/tuple of rows, each
  row a tuple or list (what ``cursor.fetchall()`` returns).  Column names are
  ignored entirely.  An empty list of rows has no known width; it takes the
  width of the other table, so ``[]`` equals a 0-row table of any width.
* **Rows are a bag (multiset).**  Row order is ignored and duplicates count:
  ``[(1,), (1,)]`` is not ``[(1,)]``.
* **Column order is ignored** through a column correspondence: a bijection
  between predicted and target columns (an injection when the widths differ).
  It is found without enumerating permutations: columns are first paired only
  with columns that have a compatible multiset of values, identical columns are
  collapsed (a symmetric choice is explored once), and a backtracking search
  over the remaining ambiguity checks, after each column it assigns, that the
  bags of rows projected onto the columns assigned so far are still compatible.
  A necessary row invariant (the bag of each row's sorted values) is checked
  first, and once the assigned columns pair the rows one to one, each further
  column is checked elementwise.  The search is capped at ``_SEARCH_BUDGET``
  units of work (rows visited plus a fixed cost per step; about a second).  A
  search that hits the cap gives up and reports "different" with
  ``complete=False`` and a detail saying so: it never claims an equality it has
  not verified, but it may miss one.  Reaching the cap takes many columns that
  look alike value by value, agree on most partial projections and on the
  sorted-row invariant, and still differ as whole rows; random and
  deliberately hard 0/1 tables with 8-24 columns stay far below it (see
  ``benchmarks/bench_compare.py``).
* **Numbers** (``int``, ``float``, ``Decimal``, numpy numbers, and ``bool`` as
  the integers 0 and 1, because SQLite has no boolean type and PostgreSQL does)
  compare as numbers: two numbers are equal when they agree after rounding to
  ``sig_digits`` significant digits (default 9), half to even, except that
  rounding is never coarser than a whole number, so integers always compare
  exactly (``1234567890123 != 1234567890124``) and an integral float equals the
  integer (``3 == 3.0 == Decimal("3.00")``).  Rounding, unlike an ``abs(a-b)
  < tol`` test, is an equivalence relation, which bags need; its price is the
  boundary: two values a hair apart that straddle a rounding boundary
  (``1.0000000049999`` vs ``1.0000000050001`` at 9 digits) are unequal, and a
  float next to a boundary may round either way.  Floats from the same
  computation in another order differ in the last bit or so, which crosses a
  9-digit boundary about once in ten million values; ``sig_digits`` near 15
  approaches float64's own precision and leaves almost no tolerance.  A float beyond 2**53 is
  an integer and compares exactly, so it equals an int only if it is exactly
  that int (``1e30 != 10**30``; ``Decimal("1e30") == 10**30``).
  A ``float32`` or ``float16`` value stands for the shortest decimal that
  reads back as it (what numpy prints), so ``float32(0.1)`` equals ``0.1``.
* **Strings** compare exactly: case-sensitive, no trimming.  ``bytes`` compare
  exactly and never equal a string.  The string ``"3"`` is not the number 3.
  Other values (dates, timestamps, ...) compare by Python equality;
  unhashable ones (lists, dicts) by their type and ``repr``.
* **NULL** (``None``, ``NaN`` of any float or Decimal type, ``pd.NA``,
  ``NaT``) equals NULL and nothing else: not 0, not ``""``.
* **Empty equals empty**: 0 rows against 0 rows of the same width is equal;
  0 rows of different widths is a column subset or superset like any other
  width mismatch.
* **Subset and superset.**  ``rows`` is the relation of the row bags under the
  column correspondence: "subset" when the prediction's bag is strictly inside
  the target's, "superset" the reverse.  ``columns`` is "subset" when the
  prediction has fewer columns and each maps to a distinct target column,
  "superset" when it has more.  When the prediction has fewer columns, its rows
  are compared with the target's rows projected onto the matched columns (as
  bags), and the other way round.  ``relation`` is "equal" when both are equal,
  "subset" when the prediction is inside the target in both rows and columns
  (one of them strictly), "superset" in the mirror case, and "different"
  otherwise (including mixed directions such as extra columns *and* missing
  rows, whose ``rows``/``columns`` still say what was found).  When no column
  correspondence makes the rows comparable, ``rows`` and ``columns`` are both
  "different" and ``column_mapping`` is None.  An empty prediction is a
  strict row subset of any non-empty target of its width.
* **Order.**  With ``ordered=True`` equality requires the same sequence of rows
  (under some column correspondence).  Everything else falls back to the
  unordered relation but is never "equal": the same rows in another order give
  ``relation="different"``, ``rows="different"`` and a detail saying the order
  differs; subset and superset are checked as bags.

``mode="set"``: BIRD's official evaluation
------------------------------------------

``mode="set"`` reproduces BIRD's evaluator exactly, for comparability with
published numbers: ``set(map(tuple, pred_rows)) == set(map(tuple,
gold_rows))`` with Python equality.  Rows of a list are used as given (no
normalisation at all, so a NaN is equal only to the very same NaN object); a
DataFrame is first turned into the rows a database driver would return (NULLs
become ``None``, numpy scalars become Python scalars).  Its known flaws are kept
on purpose: column order matters, duplicates are dropped, numbers get no
tolerance (``0.1 + 0.2 != 0.3``), and there is no column matching.
``relation`` is the set relation of the two sets of row tuples, ``ordered`` is
ignored (the result says ``ordered=False``), and ``columns`` is "equal" when the
widths agree, "different" otherwise.

>>> from querygym.scoring.compare import compare_tables
>>> compare_tables([(1, "a"), (2, "b")], [("b", 2.0), ("a", 1)]).relation
'equal'
>>> compare_tables([(1, "a")], [("b", 2), ("a", 1)]).detail
'1 row of the target is missing'
>>> compare_tables([(1, "a", 0)], [("a", 1)]).detail
'the prediction has 1 extra column'
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import Literal

import numpy as np
import pandas as pd

from querygym.errors import InvalidArgumentError

__all__ = ["PreparedTarget", "TableComparison", "compare_tables", "prepare_target"]

Relation = Literal["equal", "subset", "superset", "different"]

MODES = ("bag", "set")
MAX_SIG_DIGITS = 15

# The column search gives up after this much work: each search node costs the
# rows it visits (every row of both tables) plus _NODE_COST for its fixed
# overhead (a few numpy/pandas calls).  About a second on one core.
_SEARCH_BUDGET = 20_000_000
_NODE_COST = 2_000

# Numbers are keyed by their rounded value m * 10**e, with m free of trailing
# zeros.  Keys that fit are packed into one int64 (m * 1024 + e + 512); the rest
# become _BigNumber objects.  Both paths apply the same test, so one value
# always gets one key.
_MANTISSA_LIMIT = 1 << 50
_EXP_BIAS = 512
_EXP_SLOTS = 1024
# Codes outside the packed keys' range (|key| < 2**60) for NULL and for objects.
_NULL_CODE = -(1 << 62)
_OBJECT_CODE_BASE = 1 << 61
# Floats in this magnitude range are rounded with numpy; the rest in Python.
_FAST_FLOAT_MIN = 1e-290
_FAST_FLOAT_MAX = 1e15
# 10.0**k by table lookup, for the exponents the fast float path meets.
_POW10_BIAS = 300
_POW10 = np.power(10.0, np.arange(-_POW10_BIAS, 309, dtype=np.float64))


@dataclass(frozen=True)
class TableComparison:
    """The outcome of :func:`compare_tables`; truthy exactly when the tables are equal.

    ``relation`` is the overall verdict, ``rows`` and ``columns`` its two parts
    (see the module docstring).  ``column_mapping[i]`` is the index of the
    predicted column matched to target column ``i``, or None when the
    prediction has no column for it (column subset); the whole mapping is None
    when no correspondence was found.  ``ordered`` says whether row order was
    checked, ``detail`` explains the difference in one sentence, and
    ``complete`` is False only when the column search gave up at its work cap.

    >>> result = compare_tables([(2, "x")], [("x", 2)])
    >>> bool(result), result.column_mapping
    (True, (1, 0))
    """

    equal: bool
    relation: Relation
    rows: Relation
    columns: Relation
    column_mapping: tuple[int | None, ...] | None
    ordered: bool
    detail: str
    mode: str = "bag"
    pred_shape: tuple[int, int] = (0, 0)
    gold_shape: tuple[int, int] = (0, 0)
    complete: bool = True

    def __bool__(self) -> bool:
        return self.equal


def compare_tables(
    pred: object,
    gold: object,
    *,
    ordered: bool = False,
    mode: str = "bag",
    sig_digits: int = 9,
) -> TableComparison:
    """Compare a predicted table with the target table under the module's semantics.

    ``pred`` and ``gold`` are DataFrames or lists/tuples of rows; column names are
    ignored.  ``ordered=True`` also requires the same row order for equality.
    ``mode`` is ``"bag"`` (default: multiset of rows, column order ignored,
    numeric tolerance) or ``"set"`` (BIRD's official set comparison).
    ``sig_digits`` (1 to 15) is the numeric tolerance in significant digits.
    Anything else, or an argument that is not a table, raises
    :class:`~querygym.errors.InvalidArgumentError`.

    >>> import pandas as pd
    >>> gold = pd.DataFrame({"name": ["ann", "bob"], "total": [0.3, 2.0]})
    >>> result = compare_tables([(2, "bob"), (0.1 + 0.2, "ann")], gold)
    >>> result.equal, result.column_mapping
    (True, (1, 0))
    >>> compare_tables([(2, "bob")], gold).relation
    'subset'
    >>> compare_tables([(1,), (1,)], [(1,)], mode="set").equal
    True
    """
    if mode not in MODES:
        raise InvalidArgumentError(
            f"mode must be one of {', '.join(map(repr, MODES))}; got {mode!r}"
        )
    if not isinstance(ordered, (bool, np.bool_)):
        raise InvalidArgumentError(f"ordered must be True or False; got {ordered!r}")
    _check_sig_digits(sig_digits)
    prepared = None
    if isinstance(gold, PreparedTarget):
        if mode == "bag" and gold.sig_digits == sig_digits and gold.encoded is not None:
            prepared = gold
        gold = gold.source
    pred_table = _Table.of(pred, "pred")
    gold_table = prepared.table if prepared is not None else _Table.of(gold, "gold")
    width = pred_table.width if pred_table.width is not None else gold_table.width
    pred_table.adopt_width(width)
    gold_table.adopt_width(gold_table.width if gold_table.width is not None else width)
    if mode == "set":
        return _compare_as_sets(pred_table, gold_table)
    return _compare_as_bags(pred_table, gold_table, bool(ordered), int(sig_digits), prepared)


def _check_sig_digits(sig_digits: object) -> None:
    if (
        isinstance(sig_digits, (bool, np.bool_))
        or not isinstance(sig_digits, (int, np.integer))
        or not 1 <= sig_digits <= MAX_SIG_DIGITS
    ):
        raise InvalidArgumentError(
            f"sig_digits must be an integer from 1 to {MAX_SIG_DIGITS}; got {sig_digits!r}"
        )


class PreparedTarget:
    """A target table encoded once, to be compared with many predictions.

    :func:`compare_tables` accepts it in place of the gold table and gives exactly the answer
    it gives for the table itself (in ``mode="bag"`` at the same ``sig_digits``; anything else
    falls back to the table).  The target's codes, column profiles and, when first needed,
    a sorted index of each column are kept, so comparing a small table with a huge target
    reads only the target's rows that can match (use :func:`prepare_target`).
    """

    def __init__(self, gold: object, sig_digits: int = 9):
        _check_sig_digits(sig_digits)
        self.source = gold
        self.sig_digits = int(sig_digits)
        self.table = _Table.of(gold, "gold")
        self.encoded: _Encoded | None = None
        self.object_codes: dict[object, int] = {}
        if self.table.width is not None:  # an empty list of rows takes the prediction's width
            (self.encoded,), self.object_codes = _encode_tables([self.table], self.sig_digits)
        self._indexes: dict[object, _ColumnIndex] = {}
        self._sorted: list[np.ndarray] | None = None
        self._classes: list[int] | None = None

    def index(self, key: object, column: np.ndarray) -> "_ColumnIndex":
        """A sorted index of one of the target's code columns (built once)."""
        found = self._indexes.get(key)
        if found is None:
            found = self._indexes[key] = _ColumnIndex(column)
        return found

    def identity_classes(self) -> list[int]:
        """:func:`_identity_classes` of the target's columns (computed once)."""
        if self._classes is None:
            self._classes = _identity_classes(self.encoded.columns)
        return self._classes

    def sorted_rows(self) -> list[np.ndarray]:
        """:func:`_sorted_rows` of the target (computed once)."""
        if self._sorted is None:
            self._sorted = _sorted_rows(self.encoded.columns)
        return self._sorted

    def small_keys(self) -> "_SmallKeys | None":
        """:func:`_small_keys` of the target, with its bags (made once)."""
        if not hasattr(self, "_small"):
            keys = _small_keys(self.table, self.sig_digits) if self.table.rows is not None else None
            self._small = _SmallKeys(keys) if keys is not None else None
        return self._small

    def probes(self) -> tuple[frozenset, tuple]:
        """:func:`_target_probes` of the target (found once)."""
        if not hasattr(self, "_probes"):
            self._probes = _target_probes(self.table)
        return self._probes

    def encode(self, pred: _Table) -> _Encoded:
        """``pred``'s codes in the target's code space."""
        (encoded,), _ = _encode_tables([pred], self.sig_digits, self.object_codes)
        return encoded


def prepare_target(gold: object, *, sig_digits: int = 9) -> PreparedTarget:
    """The target table encoded once, for many :func:`compare_tables` calls.

    >>> target = prepare_target([(1, "a"), (2, "b")])
    >>> compare_tables([("b", 2.0)], target).relation
    'subset'
    >>> compare_tables([(2, "b"), (1, "a")], target).equal
    True
    """
    return PreparedTarget(gold, sig_digits)


class _ColumnIndex:
    """The rows of an int64 column holding given values, found by binary search."""

    def __init__(self, column: np.ndarray):
        self.order = np.argsort(column, kind="stable")
        self.values = column[self.order]

    def _ranges(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        wanted = np.unique(values)
        low = np.searchsorted(self.values, wanted, side="left")
        return low, np.searchsorted(self.values, wanted, side="right")

    def count_with(self, values: np.ndarray) -> int:
        low, high = self._ranges(values)
        return int((high - low).sum())

    def groups_with(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows holding one of ``values``, and for each the index of its value among
        ``wanted`` (the sorted distinct values), and ``wanted``."""
        wanted = np.unique(values)
        low = np.searchsorted(self.values, wanted, side="left")
        lengths = np.searchsorted(self.values, wanted, side="right") - low
        total = int(lengths.sum())
        starts = np.repeat(low - (np.cumsum(lengths) - lengths), lengths)
        rows = self.order[np.arange(total) + starts]
        return rows, np.repeat(np.arange(len(wanted)), lengths), wanted

    def rows_with(self, values: np.ndarray) -> np.ndarray:
        low, high = self._ranges(values)
        lengths = high - low
        total = int(lengths.sum())
        if total == 0:
            return np.empty(0, dtype=np.int64)
        starts = np.repeat(low - (np.cumsum(lengths) - lengths), lengths)
        return self.order[np.arange(total) + starts]


# ---------------------------------------------------------------------------
# Input tables


class _Table:
    """A validated input table: row count, width, and its columns."""

    def __init__(self, role: str, n_rows: int, width: int | None, frame=None, rows=None):
        self.role = role
        self.n_rows = n_rows
        self.width = width
        self.frame = frame
        self.rows = rows
        self._values: list | None = None
        self._frame_columns: list | None = None

    @classmethod
    def of(cls, table: object, role: str) -> _Table:
        if isinstance(table, pd.DataFrame):
            return cls(role, table.shape[0], table.shape[1], frame=table)
        if not isinstance(table, (list, tuple)):
            raise InvalidArgumentError(
                f"{role} must be a table: a pandas DataFrame or a list/tuple of rows "
                f"(each row a tuple or list); got {type(table).__name__}"
            )
        for row_type in set(map(type, table)):
            if not issubclass(row_type, (tuple, list)) and (
                not issubclass(row_type, Sequence) or issubclass(row_type, (str, bytes, bytearray))
            ):
                index = next(i for i, row in enumerate(table) if type(row) is row_type)
                raise InvalidArgumentError(
                    f"{role} row {index} is of type {row_type.__name__}; each row must be a "
                    f"tuple or list of cell values (for one column, write [(1,), (2,)] not [1, 2])"
                )
        lengths = set(map(len, table))
        if len(lengths) > 1:
            first = len(table[0])
            index = next(i for i, row in enumerate(table) if len(row) != first)
            raise InvalidArgumentError(
                f"{role} rows have different lengths: row 0 has {first} values, "
                f"row {index} has {len(table[index])}; every row must have one value per column"
            )
        width = lengths.pop() if lengths else None
        return cls(role, len(table), width, rows=table)

    def adopt_width(self, width: int | None) -> None:
        """An empty list of rows has no width of its own: it takes the other table's."""
        if self.width is None:
            self.width = width or 0

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, self.width or 0)

    def columns(self) -> list:
        """Each column's cells: a Series of the frame, or a list of the rows' values."""
        if self.frame is not None:
            if self._frame_columns is None:  # made once: pandas' column access costs ~25 us a column
                self._frame_columns = [self.frame.iloc[:, j] for j in range(self.width)]
            return self._frame_columns
        # itemgetter per column is about three times faster than zip(*rows).
        return [list(map(itemgetter(j), self.rows)) for j in range(self.width)]

    def column_values(self) -> list:
        """:func:`_column_values` of each column, made once (a search for the target's numbers
        and the encoding both read them)."""
        if self._values is None:
            self._values = [_column_values(column) for column in self.columns()]
        return self._values

    def driver_rows(self) -> list:
        """The rows as a database driver returns them: Python scalars, NULL as None."""
        if self.frame is None:
            return list(self.rows)
        frame = self.frame.astype(object)
        frame = frame.where(frame.notna(), None)
        return list(frame.itertuples(index=False, name=None))


# ---------------------------------------------------------------------------
# Normalisation: every cell becomes an int64 code; equal codes <=> equal values


@dataclass(frozen=True)
class _BigNumber:
    """The key of a number whose rounded form does not fit the packed int64 key."""

    mantissa: int
    exponent: int


@dataclass(frozen=True)
class _Unhashable:
    """The key of a cell value that cannot be hashed (a list, a dict): its repr."""

    type_name: str
    text: str


class _Keys:
    """Normalised keys of one column's distinct values, by position among them."""

    def __init__(self) -> None:
        self.num_pos: list[np.ndarray] = []
        self.num_keys: list[np.ndarray] = []
        self.obj_pos: list[int] = []
        self.obj_keys: list[object] = []
        self._py_num_pos: list[int] = []
        self._py_num_keys: list[int] = []

    def add_numbers(self, pos: np.ndarray, keys: np.ndarray) -> None:
        self.num_pos.append(np.asarray(pos, dtype=np.int64))
        self.num_keys.append(np.asarray(keys, dtype=np.int64))

    def add_key(self, pos: int, key: object) -> None:
        if key is None:  # NULL: positions without a key stay NULL
            return
        if type(key) is int:
            self._py_num_pos.append(pos)
            self._py_num_keys.append(key)
        else:
            self.obj_pos.append(pos)
            self.obj_keys.append(key)

    def finish(self) -> None:
        if self._py_num_pos:
            self.add_numbers(np.array(self._py_num_pos), np.array(self._py_num_keys))
            self._py_num_pos, self._py_num_keys = [], []


def _pack(mantissa: int, exponent: int) -> int | _BigNumber:
    if -_MANTISSA_LIMIT < mantissa < _MANTISSA_LIMIT and -_EXP_BIAS <= exponent < _EXP_BIAS:
        return mantissa * _EXP_SLOTS + exponent + _EXP_BIAS
    return _BigNumber(mantissa, exponent)


def _int_key(value: int) -> int | _BigNumber:
    if value == 0:
        return _pack(0, 0)
    exponent = 0
    while value % 10 == 0:
        value //= 10
        exponent += 1
    return _pack(value, exponent)


def _decimal_key(value: Decimal, sig: int) -> object:
    """Round a Decimal exactly (half to even) to ``sig`` digits, never coarser than 1."""
    if value.is_nan():
        return None
    if value.is_infinite():
        return float(value)
    sign, digit_tuple, exponent = value.as_tuple()
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    if not digits:
        return _pack(0, 0)
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    decimals = max(sig - 1 - (len(digits) - 1 + exponent), 0)
    drop = -(exponent + decimals)  # trailing digits that rounding removes
    if drop <= 0:
        mantissa = int(digits)
    else:
        kept = digits[:-drop] if drop < len(digits) else ""
        rest = digits[-drop:] if drop <= len(digits) else digits.zfill(drop)
        mantissa = int(kept or "0")
        if rest[0] > "5" or (rest[0] == "5" and (rest[1:].strip("0") or mantissa % 2 == 1)):
            mantissa += 1
        exponent = -decimals
        if mantissa == 0:
            return _pack(0, 0)
        while mantissa % 10 == 0:
            mantissa //= 10
            exponent += 1
    return _pack(-mantissa if sign else mantissa, exponent)


def _strip_zeros(mantissa: np.ndarray, exponent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mantissa, exponent = mantissa.copy(), exponent.copy()
    # Each pass only looks at the values that still end in a zero.
    todo = np.flatnonzero((mantissa % 10 == 0) & (mantissa != 0))
    while len(todo):
        mantissa[todo] //= 10
        exponent[todo] += 1
        todo = todo[mantissa[todo] % 10 == 0]
    exponent[mantissa == 0] = 0
    return mantissa, exponent


def _add_packed(keys: _Keys, pos: np.ndarray, mantissa: np.ndarray, exponent: np.ndarray) -> None:
    fits = (
        (mantissa < _MANTISSA_LIMIT)
        & (mantissa > -_MANTISSA_LIMIT)
        & (exponent >= -_EXP_BIAS)
        & (exponent < _EXP_BIAS)
    )
    keys.add_numbers(pos[fits], mantissa[fits] * _EXP_SLOTS + exponent[fits] + _EXP_BIAS)
    for p, m, e in zip(pos[~fits], mantissa[~fits], exponent[~fits]):
        keys.add_key(int(p), _pack(int(m), int(e)))


def _add_ints(keys: _Keys, pos: np.ndarray, values: np.ndarray) -> None:
    values = np.asarray(values, dtype=np.int64)
    mantissa, exponent = _strip_zeros(values, np.zeros(len(values), dtype=np.int64))
    _add_packed(keys, pos, mantissa, exponent)


def _add_floats(keys: _Keys, pos: np.ndarray, values: np.ndarray, sig: int) -> None:
    x = np.asarray(values, dtype=np.float64)
    magnitude = np.abs(x)
    fast = (magnitude == 0) | ((magnitude > _FAST_FLOAT_MIN) & (magnitude < _FAST_FLOAT_MAX))
    for p, v in zip(pos[~fast], x[~fast]):  # NaN, infinities, extreme magnitudes
        if math.isinf(v):
            keys.add_key(int(p), float(v))
        elif not math.isnan(v):
            keys.add_key(int(p), _decimal_key(Decimal(float(v)), sig))
    x, magnitude, pos = x[fast], magnitude[fast], pos[fast]
    nonzero = magnitude != 0
    with np.errstate(divide="ignore"):
        exponent = np.where(nonzero, np.floor(np.log10(np.where(nonzero, magnitude, 1.0))), 0)
    exponent = exponent.astype(np.int64)
    # log10 can be off by one next to a power of ten; correct it against the power.
    exponent -= (magnitude < _POW10[exponent + _POW10_BIAS]) & nonzero
    exponent += (magnitude >= _POW10[exponent + 1 + _POW10_BIAS]) & nonzero
    decimals = np.maximum(sig - 1 - exponent, 0)
    mantissa = np.rint(x * _POW10[decimals + _POW10_BIAS]).astype(np.int64)
    mantissa, exponent = _strip_zeros(mantissa, -decimals)
    _add_packed(keys, pos, mantissa, exponent)


def _widen_narrow_floats(values: np.ndarray) -> np.ndarray:
    """float32/float16 values as the shortest decimals that read back as them.

    numpy prints float32(0.1) as "0.1"; its exact value, 0.100000001490116..., would
    not equal the float64 0.1 at 9 significant digits.
    """
    return values.astype(str).astype(np.float64)


def _add_objects(keys: _Keys, values: np.ndarray, sig: int) -> None:
    if set(map(type, values)) <= {str}:
        keys.obj_pos.extend(range(len(values)))
        keys.obj_keys.extend(values)
        return
    floats_pos: list[int] = []
    floats: list[float] = []
    int_pos: list[int] = []
    int_values: list[int] = []
    for p, v in enumerate(values):
        t = type(v)
        if t is str or t is bytes:
            keys.add_key(p, v)
        elif t is float:
            floats_pos.append(p)
            floats.append(v)
        elif t is int or t is bool or isinstance(v, (int, np.integer, np.bool_)):
            int_pos.append(p)
            int_values.append(int(v))
        elif isinstance(v, float):
            floats_pos.append(p)
            floats.append(v)
        elif isinstance(v, np.floating):
            floats_pos.append(p)
            narrow = np.asarray(v)
            floats.append(float(_widen_narrow_floats(narrow) if narrow.itemsize < 8 else v))
        elif isinstance(v, Decimal):
            keys.add_key(p, _decimal_key(v, sig))
        elif isinstance(v, (np.datetime64, np.timedelta64)) and np.isnat(v):
            continue
        elif v is None or v is pd.NA or v is pd.NaT:
            continue
        elif isinstance(v, numbers.Integral):
            int_pos.append(p)
            int_values.append(int(v))
        elif isinstance(v, numbers.Real):
            floats_pos.append(p)
            floats.append(float(v))
        else:
            keys.add_key(p, v)
    if floats_pos:
        _add_floats(keys, np.array(floats_pos, dtype=np.int64), np.array(floats), sig)
    if int_pos:
        try:
            as_int64 = np.array(int_values, dtype=np.int64)
        except OverflowError:
            for p, v in zip(int_pos, int_values):
                keys.add_key(p, _int_key(v))
        else:
            _add_ints(keys, np.array(int_pos, dtype=np.int64), as_int64)


def _hashable(value: object) -> object:
    try:
        hash(value)
    except TypeError:
        return _Unhashable(type(value).__name__, repr(value))
    return value


def _column_values(column) -> object:
    """A column as something pd.factorize takes, with a numeric dtype when possible."""
    if isinstance(column, pd.Series):
        return column
    types = set(map(type, column))
    if types and types <= {float, type(None)} and float in types:
        return np.array(column, dtype=np.float64)
    if types and types <= {int, bool}:
        try:
            return np.array(column, dtype=np.int64)
        except OverflowError:
            pass
    return np.fromiter(column, dtype=object, count=len(column))


def _distinct_values(values) -> tuple[np.ndarray | None, object]:
    """A column's values (:func:`_column_values`) as (codes, distinct values): ``codes[r]`` indexes the distinct value of
    row r, -1 for NULL.  Columns of a numpy numeric dtype are normalised value by
    value (vectorised) instead: codes is None and every row is its own entry."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf":
        return None, np.asarray(values)
    try:
        return pd.factorize(values)
    except TypeError:  # an unhashable cell value
        cells = values.tolist() if isinstance(values, pd.Series) else list(values)
        return pd.factorize(np.fromiter(map(_hashable, cells), dtype=object, count=len(cells)))


def _normalise_uniques(uniques, sig: int) -> _Keys:
    keys = _Keys()
    dtype = uniques.dtype
    numpy_dtype = getattr(dtype, "numpy_dtype", dtype)
    positions = np.arange(len(uniques), dtype=np.int64)
    if pd.api.types.is_bool_dtype(dtype):
        _add_ints(keys, positions, np.asarray(uniques, dtype=np.int64))
    elif pd.api.types.is_integer_dtype(dtype) and not (
        isinstance(numpy_dtype, np.dtype)
        and numpy_dtype.kind == "u"
        and len(uniques)
        and np.asarray(uniques).max() > np.iinfo(np.int64).max
    ):
        _add_ints(keys, positions, np.asarray(uniques, dtype=np.int64))
    elif pd.api.types.is_float_dtype(dtype):
        values = np.asarray(uniques, dtype=numpy_dtype)
        if values.dtype.itemsize < 8:
            values = _widen_narrow_floats(values)
        _add_floats(keys, positions, values.astype(np.float64), sig)
    else:
        _add_objects(keys, np.asarray(uniques, dtype=object), sig)
    keys.finish()
    return keys


class _Encoded:
    """One table's columns as int64 codes, with each column's multiset of codes.

    A profile is (sorted distinct codes, their counts).
    """

    def __init__(self, columns: list[np.ndarray], profiles: list[tuple[np.ndarray, np.ndarray]]):
        self.columns = columns
        self.profiles = profiles


@dataclass(frozen=True)
class _Coded:
    """One column's final codes and profile."""

    codes: np.ndarray
    profile: tuple[np.ndarray, np.ndarray]


def _column_codes(codes: np.ndarray | None, n_distinct: int, keys: _Keys, obj_codes: np.ndarray | None) -> _Coded:
    """A column's int64 codes and profile from its distinct values' keys (``obj_codes``: the codes of
    its object keys, in order)."""
    # One slot per distinct value plus a last slot, NULL, that code -1 indexes.
    distinct_codes = np.full(n_distinct + 1, _NULL_CODE, dtype=np.int64)
    for pos, packed in zip(keys.num_pos, keys.num_keys):
        distinct_codes[pos] = packed
    if obj_codes is not None and len(obj_codes):
        distinct_codes[keys.obj_pos] = obj_codes
    if codes is None:
        column_codes = distinct_codes[:-1]
        return _Coded(column_codes, np.unique(column_codes, return_counts=True))
    column_codes = distinct_codes[codes]
    # The profile from per-distinct-value counts: cheaper than sorting the column.
    counts = np.bincount(codes + 1, minlength=n_distinct + 1)
    values, inverse = np.unique(np.roll(distinct_codes, 1), return_inverse=True)
    summed = np.bincount(inverse, weights=counts, minlength=len(values)).astype(np.int64)
    present = summed > 0
    return _Coded(column_codes, (values[present], summed[present]))


#: a long column of numbers is keyed this many values at a time (see :func:`_numeric_coded`)
_NUMBERS_AT_A_TIME = 1 << 16


def _numeric_coded(values: np.ndarray, sig: int) -> _Coded | None:
    """:func:`_column_codes` of a long numpy column of numbers, keyed a slice at a time: the
    intermediate arrays of the arithmetic then take the size of a slice, not of the column (a
    million rows would otherwise need about 60 MB more per column).  None when a number must be
    keyed as an object (an infinity, a number too large to pack): the caller takes the general path."""
    codes = np.empty(len(values), dtype=np.int64)
    for start in range(0, len(values), _NUMBERS_AT_A_TIME):
        part = values[start:start + _NUMBERS_AT_A_TIME]
        keys = _normalise_uniques(part, sig)
        if keys.obj_pos:
            return None
        codes[start:start + len(part)] = _NULL_CODE  # NaN has no key: NULL
        for pos, packed in zip(keys.num_pos, keys.num_keys):
            codes[start + pos] = packed
    return _Coded(codes, np.unique(codes, return_counts=True))


def _encode(tables: list[_Table], sig: int) -> list[_Encoded]:
    """Give every cell of every table an int64 code; equal values share a code.

    A number's code is its packed key, an object's is ``_OBJECT_CODE_BASE`` plus
    its index among all distinct object keys, NULL's is ``_NULL_CODE``.
    """
    return _encode_tables(tables, sig)[0]


def _encode_tables(tables: list[_Table], sig: int,
                   known: dict[object, int] | None = None) -> tuple[list[_Encoded], dict[object, int]]:
    """:func:`_encode`, continuing the object codes of ``known`` (key -> code) when given;
    also returns the key -> code map of the objects met (``known`` excluded)."""
    if all(t.rows is not None and t.width and t.n_rows * t.width <= _KEYED_CELLS for t in tables):
        keyed = [_small_keys(t, sig) for t in tables]
        if all(k is not None for k in keyed):
            encoded = _encode_keyed(tables, keyed, known)
            if encoded is not None:
                return encoded
    prepared: list = []
    for table in tables:
        for values in table.column_values():
            codes, distinct = _distinct_values(values)
            if codes is None and len(distinct) > _NUMBERS_AT_A_TIME:
                coded = _numeric_coded(distinct, sig)
                if coded is not None:
                    prepared.append(coded)
                    del codes, distinct, coded
                    continue
            keys = _normalise_uniques(distinct, sig)
            if not keys.obj_pos:
                # numbers and NULLs only: the codes are final now, and the column's intermediate
                # arrays are freed before the next is read (a large table's memory stays bounded)
                prepared.append(_column_codes(codes, len(distinct), keys, None))
            else:
                prepared.append((codes, len(distinct), keys))
            del codes, distinct, keys
    obj_keys = [k for item in prepared if isinstance(item, tuple) and len(item) == 3 for k in item[2].obj_keys]
    if known is None:
        factorized, uniques = pd.factorize(np.fromiter(obj_keys, dtype=object, count=len(obj_keys)))
        obj_codes = factorized.astype(np.int64) + _OBJECT_CODE_BASE
        met = {key: _OBJECT_CODE_BASE + i for i, key in enumerate(uniques.tolist())}
    else:
        numbering = _ObjectCodes(known)
        obj_codes = np.array([numbering.code(key) for key in obj_keys], dtype=np.int64)
        met = numbering.met
    obj_offset = 0
    columns: list[np.ndarray] = []
    profiles: list[tuple[np.ndarray, np.ndarray]] = []
    for i, item in enumerate(prepared):
        if isinstance(item, _Coded):
            column_codes, profile = item.codes, item.profile
        else:
            codes, n_distinct, keys = item
            n_obj = len(keys.obj_pos)
            coded = _column_codes(codes, n_distinct, keys, obj_codes[obj_offset : obj_offset + n_obj])
            obj_offset += n_obj
            column_codes, profile = coded.codes, coded.profile
        prepared[i] = None
        columns.append(column_codes)
        profiles.append(profile)
    result, start = [], 0
    for table in tables:
        end = start + table.width
        result.append(_Encoded(columns[start:end], profiles[start:end]))
        start = end
    return result, met


#: tables of at most this many cells are encoded from their cell keys (:func:`_encode_keyed`)
_KEYED_CELLS = 1000  # past about this many, the vectorised path is the faster (benchmarked)


def _encode_keyed(tables: list[_Table], keyed: list[list[tuple]],
                  known: dict[object, int] | None) -> tuple[list[_Encoded], dict[object, int]] | None:
    """:func:`_encode_tables` for small tables of plain values, from their rows of cell keys
    (:func:`_small_keys`): a number's code is its key, and texts get codes in the order the
    vectorised path gives them (column by column, in order of first appearance), so both paths
    encode a table identically.  None when a number is keyed as an object (an infinity, a number
    too large to pack): the vectorised path orders those after the texts of their column."""
    numbering = _ObjectCodes(known)
    result = []
    for table, rows in zip(tables, keyed):
        columns, profiles = [], []
        for j in range(table.width):
            codes = []
            for row in rows:
                key = row[j]
                if type(key) is int:
                    codes.append(key)
                elif key is _NULL_KEY:
                    codes.append(_NULL_CODE)
                else:
                    obj = key[1]
                    if type(obj) is not str and type(obj) is not bytes:
                        return None
                    codes.append(numbering.code(obj))
            column = np.array(codes, dtype=np.int64)
            columns.append(column)
            profiles.append(np.unique(column, return_counts=True))
        result.append(_Encoded(columns, profiles))
    return result, numbering.met


class _ObjectCodes:
    """The codes of object keys: those of ``known`` as given, the others (``met``) numbered on
    from them in the order they are first seen."""

    def __init__(self, known: dict[object, int] | None):
        self.known = known or {}
        self.met: dict[object, int] = {}
        self._fresh = _OBJECT_CODE_BASE + len(self.known)

    def code(self, key: object) -> int:
        code = self.known.get(key)
        if code is None:
            code = self.met.get(key)
            if code is None:
                code = self.met[key] = self._fresh + len(self.met)
        return code


# ---------------------------------------------------------------------------
# Column correspondence search


def _counts_fit(a_counts: np.ndarray, b_counts: np.ndarray, rel: str) -> bool:
    if rel == "eq":
        return np.array_equal(a_counts, b_counts)
    if rel == "le":
        return bool((a_counts <= b_counts).all())
    return bool((a_counts >= b_counts).all())


def _compact(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense ids 0..k-1 for the distinct values, and k."""
    ids, uniques = pd.factorize(values)
    return ids, len(uniques)


def _refine(groups: tuple[np.ndarray, int] | None, column: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense row ids after adding ``column`` to the rows that ``groups`` = (ids, k) groups."""
    if groups is None:
        return _compact(column)
    ids, distinct = groups
    if not len(column):
        return ids, distinct
    low = int(column.min())
    span = int(column.max()) - low + 1
    if span * distinct < 1 << 62:  # small code range: combine directly
        return _compact(ids * span + (column - low))
    column_ids, column_distinct = _compact(column)
    return _compact(ids * column_distinct + column_ids)


def _row_ids(columns: list[np.ndarray], n: int) -> tuple[np.ndarray, int]:
    """Dense ids of the rows of the given (stacked) columns: equal rows, equal ids."""
    groups = (np.zeros(n, dtype=np.int64), 1)
    for column in columns:
        groups = _refine(groups, column)
    return groups


def _bags_fit(a_columns, b_columns, n_a: int, n_b: int, rel: str, index=None) -> bool:
    if rel != "eq" and a_columns and index is not None:
        # Only the larger bag's rows whose k-th value occurs in the smaller bag's k-th can
        # matter; the prepared target's indexes tell which k keeps fewest rows.
        k = _most_selective(a_columns, b_columns, rel, index)
        a_rows, b_rows = _superset_rows(a_columns[k], b_columns[k], rel, index, ("sorted", k), ("sorted", k))
        if a_rows is not None:
            a_columns = [c[a_rows] for c in a_columns]
            n_a = len(a_rows)
        if b_rows is not None:
            b_columns = [c[b_rows] for c in b_columns]
            n_b = len(b_rows)
    stacked = [np.concatenate([a, b]) for a, b in zip(a_columns, b_columns)]
    ids, distinct = _row_ids(stacked, n_a + n_b)
    return _counts_fit(
        np.bincount(ids[:n_a], minlength=distinct), np.bincount(ids[n_a:], minlength=distinct), rel
    )


def _most_selective(a_columns, b_columns, rel: str, index) -> int:
    side, target = index
    if (rel, side) not in (("le", "b"), ("ge", "a")):
        return 0
    big, small = (b_columns, a_columns) if side == "b" else (a_columns, b_columns)
    counts = [target.index(("sorted", k), big[k]).count_with(small[k]) for k in range(len(big))]
    return int(np.argmin(counts))


def _sorted_rows(columns: list[np.ndarray], index=None, side: str = "") -> list[np.ndarray]:
    """The columns of the table whose rows are each row's values in sorted order
    (kept by the prepared target when ``index`` says this side is it)."""
    if index is not None and index[0] == side:
        return index[1].sorted_rows()
    rows = np.sort(np.column_stack(columns), axis=1)
    return [np.ascontiguousarray(rows[:, k]) for k in range(rows.shape[1])]


def _profile_fits(a_profile, b_profile, rel: str) -> bool:
    """Does one column's value multiset stand in relation ``rel`` to another's?"""
    if rel == "ge":
        return _profile_fits(b_profile, a_profile, "le")
    (a_values, a_counts), (b_values, b_counts) = a_profile, b_profile
    if rel == "eq":
        return np.array_equal(a_values, b_values) and np.array_equal(a_counts, b_counts)
    if len(a_values) > len(b_values):
        return False
    if len(a_values) == 0:
        return True
    where = np.minimum(np.searchsorted(b_values, a_values), len(b_values) - 1)
    return bool(np.array_equal(b_values[where], a_values) and (a_counts <= b_counts[where]).all())


def _identity_classes(columns: list[np.ndarray]) -> list[int]:
    """For each column, the index of the first column with exactly the same values."""
    first: dict[bytes, int] = {}
    return [first.setdefault(column.tobytes(), j) for j, column in enumerate(columns)]


def _has_matching(candidates: list[list[int]], n_b: int) -> bool:
    owner = [-1] * n_b

    def augment(j: int, seen: list[bool]) -> bool:
        for i in candidates[j]:
            if not seen[i]:
                seen[i] = True
                if owner[i] < 0 or augment(owner[i], seen):
                    owner[i] = j
                    return True
        return False

    return all(augment(j, [False] * n_b) for j in range(len(candidates)))


def _sequence_mapping(a_sequences, b_sequences) -> tuple[int, ...] | None:
    """Map each A column to a distinct B column with exactly the same value sequence (each column
    given as one hashable value: its codes' bytes, or its tuple of cell keys), the first free one."""
    free: dict[object, list[int]] = {}
    for i, sequence in enumerate(b_sequences):
        free.setdefault(sequence, []).append(i)
    mapping = []
    for sequence in a_sequences:
        same = free.get(sequence)
        if not same:
            return None
        mapping.append(same.pop(0))
    return tuple(mapping)


class _Pairing:
    """Rows keyed one to one: A row ``a_rows[k]`` pairs with B row ``b_rows[k]``."""

    def __init__(self, a_rows: np.ndarray, b_rows: np.ndarray):
        self.a_rows = a_rows
        self.b_rows = b_rows


class _Subset:
    """Row groups over some of the rows only: A's rows ``a_rows`` and B's ``b_rows`` (None: all).

    When one bag need only fit inside the other ("le", "ge"), the larger side's rows whose
    projection the smaller side lacks can never matter (their groups keep a count of 0 on the
    smaller side however they are refined), so they are dropped as soon as they are known.
    """

    def __init__(self, a_rows: np.ndarray | None, b_rows: np.ndarray | None, groups: tuple[np.ndarray, int]):
        self.a_rows = a_rows
        self.b_rows = b_rows
        self.groups = groups


class _RowGroups:
    """Incremental check that A's and B's rows, projected on the columns paired so
    far, stand in relation ``rel`` as bags.

    A state is an array of dense row ids over A's rows then B's rows (equal
    projected rows share an id), a _Subset of them, or, once no id occurs twice on
    either side, a _Pairing: then each further column pair only needs an elementwise
    comparison of paired rows, which is much cheaper than regrouping the rows.
    """

    def __init__(self, n_a: int, n_b: int, rel: str, index=None):
        self.n_a, self.n_b, self.rel = n_a, n_b, rel
        self.index = index
        self.buffer = np.empty(n_a + n_b, dtype=np.int64)

    def start(self) -> None:
        return None  # no column yet: every row in one group

    def cost(self, state: object) -> int:
        if isinstance(state, _Pairing):
            return _NODE_COST + 2 * len(state.a_rows)
        return _NODE_COST + self.n_a + self.n_b

    def extend(self, state: object, a_column: np.ndarray, b_column: np.ndarray,
               a_key: int = -1, b_key: int = -1) -> object | None:
        if isinstance(state, _Pairing):
            same = np.array_equal(a_column[state.a_rows], b_column[state.b_rows])
            return state if same else None
        a_rows = b_rows = None
        groups = state
        if isinstance(state, _Subset):
            a_rows, b_rows, groups = state.a_rows, state.b_rows, state.groups
            # Rows of the larger side whose value here the other side lacks cannot matter.
            if self.rel == "le" and b_rows is not None and len(b_rows) > 4 * len(a_column if a_rows is None else a_rows):
                keep = _among(b_column[b_rows], a_column if a_rows is None else a_column[a_rows])
                b_rows, groups = b_rows[keep], (np.concatenate([groups[0][: len(groups[0]) - len(keep)],
                                                                groups[0][len(groups[0]) - len(keep):][keep]]), groups[1])
            elif self.rel == "ge" and a_rows is not None and len(a_rows) > 4 * len(b_column if b_rows is None else b_rows):
                keep = _among(a_column[a_rows], b_column if b_rows is None else b_column[b_rows])
                a_rows, groups = a_rows[keep], (np.concatenate([groups[0][: len(keep)][keep],
                                                                groups[0][len(keep):]]), groups[1])
        elif state is None and self.index is not None:
            side, target = self.index
            if self.rel == "le" and side == "b":  # group straight from the target's index
                b_rows, b_ids, wanted = target.index(b_key, b_column).groups_with(a_column)
                groups = (np.concatenate([np.searchsorted(wanted, a_column), b_ids]), len(wanted))
                return self._settle(groups, self.n_a, None, b_rows)
            if self.rel == "ge" and side == "a":
                a_rows, a_ids, wanted = target.index(a_key, a_column).groups_with(b_column)
                groups = (np.concatenate([a_ids, np.searchsorted(wanted, b_column)]), len(wanted))
                return self._settle(groups, len(a_rows), a_rows, None)
        if a_rows is None and b_rows is None:
            n_a = self.n_a
            buffer = self.buffer
            buffer[:n_a] = a_column
            buffer[n_a:] = b_column
        else:
            a_part = a_column if a_rows is None else a_column[a_rows]
            b_part = b_column if b_rows is None else b_column[b_rows]
            n_a = len(a_part)
            buffer = np.concatenate([a_part, b_part])
        return self._settle(_refine(groups, buffer), n_a, a_rows, b_rows)

    def _settle(self, groups: tuple[np.ndarray, int], n_a: int, a_rows, b_rows) -> object | None:
        """The state after a column: None if the bags no longer fit, else groups, a subset or a pairing."""
        ids, distinct = groups
        a_counts = np.bincount(ids[:n_a], minlength=distinct)
        b_counts = np.bincount(ids[n_a:], minlength=distinct)
        if not _counts_fit(a_counts, b_counts, self.rel):
            return None
        if a_counts.max(initial=0) <= 1 and b_counts.max(initial=0) <= 1:
            b_row_of_id = np.full(distinct, -1, dtype=np.int64)
            b_row_of_id[ids[n_a:]] = np.arange(self.n_b) if b_rows is None else b_rows
            partner = b_row_of_id[ids[:n_a]]
            matched = np.flatnonzero(partner >= 0)
            return _Pairing(matched if a_rows is None else a_rows[matched], partner[matched])
        if self.rel == "le":  # B's rows in groups that A lacks can never matter
            keep = a_counts[ids[n_a:]] > 0
            if not keep.all():
                b_all = np.arange(self.n_b) if b_rows is None else b_rows
                return _Subset(a_rows, b_all[keep], (np.concatenate([ids[:n_a], ids[n_a:][keep]]), distinct))
        elif self.rel == "ge":  # and A's rows in groups that B lacks
            keep = b_counts[ids[:n_a]] > 0
            if not keep.all():
                a_all = np.arange(self.n_a) if a_rows is None else a_rows
                return _Subset(a_all[keep], b_rows, (np.concatenate([ids[:n_a][keep], ids[n_a:]]), distinct))
        if a_rows is None and b_rows is None:
            return groups
        return _Subset(a_rows, b_rows, groups)


def _among(values: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Which of ``values`` occur in ``allowed`` (pandas' hash table: linear, unlike np.isin's sort)."""
    return pd.core.algorithms.isin(values, allowed)


def _superset_rows(a_column: np.ndarray, b_column: np.ndarray, rel: str, index, a_key: object, b_key: object
                   ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The rows of the side that must hold the other's bag ("le": B, "ge": A) whose value in
    this column occurs on the other side, found through the prepared target's index when that
    side is the target; (None, None) when there is nothing to look up."""
    if index is None or rel == "eq":
        return None, None
    side, target = index
    if rel == "le" and side == "b":
        return None, target.index(b_key, b_column).rows_with(a_column)
    if rel == "ge" and side == "a":
        return target.index(a_key, a_column).rows_with(b_column), None
    return None, None


class _SearchResult:
    def __init__(self, mapping: tuple[int, ...] | None, complete: bool = True, visits: int = 0):
        self.mapping = mapping
        self.complete = complete
        self.visits = visits


def _find_mapping(a: _Encoded, b: _Encoded, n_a: int, n_b: int, rel: str, index=None) -> _SearchResult:
    """Find an injection of A's columns into B's with bag(A) rel bag(B projected).

    ``rel`` is "eq", "le" (A's bag inside B's) or "ge".  A has at most as many
    columns as B.  ``index`` is ("a" or "b", lookup) when one side is a prepared target:
    the :class:`PreparedTarget`, whose cached indexes and sorted rows are used.
    """
    a_columns, b_columns = a.columns, b.columns
    a_profiles, b_profiles = a.profiles, b.profiles
    width_a, width_b = len(a_columns), len(b_columns)
    if width_a == 0:
        return _SearchResult(() if _counts_fit(np.array([n_a]), np.array([n_b]), rel) else None)
    if rel == "eq":
        by_signature: dict[tuple[bytes, bytes], list[int]] = {}
        for i, (values, counts) in enumerate(b_profiles):
            by_signature.setdefault((values.tobytes(), counts.tobytes()), []).append(i)
        candidates = [by_signature.get((v.tobytes(), c.tobytes()), []) for v, c in a_profiles]
    else:
        candidates = [
            [i for i in range(width_b) if _profile_fits(a_profiles[j], b_profiles[i], rel)]
            for j in range(width_a)
        ]
    if not _has_matching(candidates, width_b):
        return _SearchResult(None)
    branching = any(len(c) > 1 for c in candidates)
    if branching and width_a == width_b and not _bags_fit(
        _sorted_rows(a_columns, index, "a"), _sorted_rows(b_columns, index, "b"), n_a, n_b, rel, index
    ):
        # The bag of each row's sorted values does not depend on column order.
        return _SearchResult(None)

    # Most constrained columns first; among equals, the most distinct values first
    # because they split the rows finest and prune earliest.
    order = sorted(range(width_a), key=lambda j: (len(candidates[j]), -len(a_profiles[j][0])))
    a_class = index[1].identity_classes() if index is not None and index[0] == "a" else _identity_classes(a_columns)
    b_class = index[1].identity_classes() if index is not None and index[0] == "b" else _identity_classes(b_columns)
    # Identical A columns are interchangeable: their B images must increase in
    # processing order.  Identical B columns are interchangeable: use the lowest
    # unused one of a class.  The lexicographically least solution obeys both.
    previous_twin = []
    for depth, j in enumerate(order):
        twins = [d for d in range(depth) if a_class[order[d]] == a_class[j]]
        previous_twin.append(twins[-1] if twins else -1)
    lower_twins = [[k for k in range(i) if b_class[k] == b_class[i]] for i in range(width_b)]

    grouping = _RowGroups(n_a, n_b, rel, index)
    state_stack: list[object] = [grouping.start()]
    chosen = [-1] * width_a
    used = [False] * width_b
    next_candidate = [0] * width_a
    visits = 0
    depth = 0
    while 0 <= depth < width_a:
        if chosen[depth] >= 0:  # coming back: release this depth's previous choice
            used[chosen[depth]] = False
            chosen[depth] = -1
            state_stack.pop()
        j = order[depth]
        twin_floor = chosen[previous_twin[depth]] if previous_twin[depth] >= 0 else -1
        extended = False
        while next_candidate[depth] < len(candidates[j]):
            i = candidates[j][next_candidate[depth]]
            next_candidate[depth] += 1
            if used[i] or i <= twin_floor or not all(used[k] for k in lower_twins[i]):
                continue
            cost = grouping.cost(state_stack[-1])
            if visits + cost > _SEARCH_BUDGET:
                return _SearchResult(None, complete=False, visits=visits)
            visits += cost
            state = grouping.extend(state_stack[-1], a_columns[j], b_columns[i], j, i)
            if state is not None:
                chosen[depth] = i
                used[i] = True
                state_stack.append(state)
                extended = True
                break
        if extended:
            depth += 1
            if depth < width_a:
                next_candidate[depth] = 0
        else:
            next_candidate[depth] = 0
            depth -= 1
    if depth < 0:
        return _SearchResult(None, visits=visits)
    mapping = [0] * width_a
    for d, j in enumerate(order):
        mapping[j] = chosen[d]
    return _SearchResult(tuple(mapping), visits=visits)


# ---------------------------------------------------------------------------
# Bag comparison


# ---------------------------------------------------------------------------
# Small tables: the same answer without the vectorised machinery

#: tables at most this large (rows, columns) may take the small-table path
_SMALL_ROWS, _SMALL_WIDTH = 200, 12
_SMALL_PAIRINGS = 500  # column pairings tried at most (each a count of the rows)
_NULL_KEY = object()  # NULL's key: equal only to itself, as _NULL_CODE
_SMALL_TYPES = frozenset({int, float, str, bytes, type(None)})


def _small_keys(table: _Table, sig: int) -> list[tuple] | None:
    """Each row of a small table as a tuple of cell keys, made by the same normalisation as the
    codes (:func:`_add_floats`, :func:`_add_ints`): two cells have equal keys exactly when they
    have equal codes.  None when a cell is of a type this path leaves to the full one."""
    rows, width = table.rows, table.width
    cells = [v for row in rows for v in row]
    if not set(map(type, cells)) <= _SMALL_TYPES:
        return None
    if sum(1 for v in cells if type(v) is int or type(v) is float) < _KEYS_ONE_BY_ONE:
        flat = []
        for v in cells:
            if v is None:
                flat.append(_NULL_KEY)
            elif type(v) is str or type(v) is bytes:
                flat.append(("object", v))
            else:
                k = _number_key(v, sig)
                flat.append(_NULL_KEY if k is None else k if type(k) is int else ("object", k))
        return [tuple(flat[i:i + width]) for i in range(0, len(flat), width)]
    keys = _Keys()
    float_pos = [p for p, v in enumerate(cells) if type(v) is float]
    int_pos = [p for p, v in enumerate(cells) if type(v) is int]
    if float_pos:
        _add_floats(keys, np.array(float_pos, dtype=np.int64), np.array([cells[p] for p in float_pos]), sig)
    if int_pos:
        try:
            values = np.array([cells[p] for p in int_pos], dtype=np.int64)
        except OverflowError:
            for p in int_pos:
                keys.add_key(p, _int_key(cells[p]))
        else:
            _add_ints(keys, np.array(int_pos, dtype=np.int64), values)
    for p, v in enumerate(cells):
        if type(v) is str or type(v) is bytes:
            keys.add_key(p, v)
    keys.finish()
    flat: list[object] = [_NULL_KEY] * len(cells)  # None, and NaN (given no key), stay NULL
    for pos, packed in zip(keys.num_pos, keys.num_keys):
        for p, k in zip(pos.tolist(), packed.tolist()):
            flat[p] = k
    for p, k in zip(keys.obj_pos, keys.obj_keys):
        flat[p] = ("object", k)  # never equal to a packed number, as object codes are apart
    return [tuple(flat[i:i + width]) for i in range(0, len(flat), width)]


#: fewer numbers than this get their keys one at a time (numpy's calls cost more on a few values)
_KEYS_ONE_BY_ONE = 64
_POW10_LIST = _POW10.tolist()


def _number_key(value: int | float, sig: int) -> object:
    """The key :func:`_add_ints` or :func:`_add_floats` gives one int or float, by the same
    arithmetic on one value (None for NaN, which stays NULL)."""
    if type(value) is int:
        return _int_key(value)
    magnitude = abs(value)
    if magnitude == 0:
        return _pack(0, 0)
    if not _FAST_FLOAT_MIN < magnitude < _FAST_FLOAT_MAX:
        if math.isinf(value):
            return float(value)
        if math.isnan(value):
            return None
        return _decimal_key(Decimal(value), sig)
    exponent = math.floor(math.log10(magnitude))
    # as in _add_floats: log10 can be off by one next to a power of ten
    if magnitude < _POW10_LIST[exponent + _POW10_BIAS]:
        exponent -= 1
    if magnitude >= _POW10_LIST[exponent + 1 + _POW10_BIAS]:
        exponent += 1
    decimals = max(sig - 1 - exponent, 0)
    mantissa = round(value * _POW10_LIST[decimals + _POW10_BIAS])  # half to even, as np.rint
    if mantissa == 0:
        return _pack(0, 0)
    exponent = -decimals
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    return _pack(mantissa, exponent)


class _SmallKeys:
    """A small table's rows of cell keys (:func:`_small_keys`), with the bag of each column and of
    the rows, counted when first needed."""

    def __init__(self, rows: list[tuple]):
        self.rows = rows
        self._columns: list[Counter] | None = None
        self._bag: Counter | None = None

    def columns(self) -> list[Counter]:
        if self._columns is None:
            self._columns = [Counter(column) for column in zip(*self.rows)]
        return self._columns

    def sequences(self) -> list[tuple]:
        """Each column's keys in row order."""
        return list(zip(*self.rows))

    def bag(self) -> Counter:
        if self._bag is None:
            self._bag = Counter(self.rows)
        return self._bag


def _bags_relate(a: Counter, b: Counter, rel: str) -> bool:
    if rel == "eq":
        return dict.__eq__(a, b)  # counted from rows: no zero counts, so equal dicts are equal bags
    if rel == "ge":
        a, b = b, a
    get = b.get
    return all(get(k, 0) >= n for k, n in a.items())


def _compare_small(pred: _Table, gold: _Table, sig: int, prepared: PreparedTarget | None,
                   ordered: bool = False) -> TableComparison | None:
    """:func:`_compare_as_bags`'s answer for small tables of plain values, found by trying every
    pairing of columns (after, when ``ordered``, the pairing of columns with the same values in
    the same order, as :func:`_sequence_mapping`); None (take the full path) for other tables,
    and whenever more than one pairing fits, since the full search then picks which one is reported."""
    if pred.rows is None or gold.rows is None:
        return None
    n_pred, n_gold, width_pred, width_gold = pred.n_rows, gold.n_rows, pred.width, gold.width
    if n_pred == 0 and 0 < n_gold and width_pred == width_gold and _SMALL_ROWS:
        # no rows: every column's (empty) bag fits every target column's, and the search takes
        # the first pairing it tries, each column with the target's column of the same place
        return _bag_comparison(pred, gold, tuple(range(width_gold)), ordered=ordered)
    if not (0 < n_pred <= _SMALL_ROWS and 0 < n_gold <= _SMALL_ROWS
            and 0 < width_pred <= _SMALL_WIDTH and 0 < width_gold <= _SMALL_WIDTH):
        return None
    pred_keys = _small_keys(pred, sig)
    if pred_keys is None:
        return None
    if prepared is not None:
        gold_keys = prepared.small_keys()
    else:
        keys = _small_keys(gold, sig)
        gold_keys = _SmallKeys(keys) if keys is not None else None
    if gold_keys is None:
        return None
    pred_is_narrow, rel = _orientation(pred, gold)
    a, b = (_SmallKeys(pred_keys), gold_keys) if pred_is_narrow else (gold_keys, _SmallKeys(pred_keys))
    same_length = ordered and n_pred == n_gold
    if same_length:
        in_order = _sequence_mapping(a.sequences(), b.sequences())
        if in_order is not None:
            return _bag_comparison(pred, gold, in_order, ordered=True)
    width_a, width_b = len(a.rows[0]), len(b.rows[0])
    a_columns, b_columns = a.columns(), b.columns()
    fits = [[k for k in range(width_b) if _bags_relate(a_columns[j], b_columns[k], rel)] for j in range(width_a)]
    if math.prod(map(len, fits)) > _SMALL_PAIRINGS:
        return None  # many columns alike: the full search prunes better
    if not all(fits):
        return _bag_comparison(pred, gold, None, ordered=ordered)  # a column fits nowhere: no pairing
    found: list[tuple[int, ...]] = []
    for injection in itertools.product(*fits):
        if len(set(injection)) < width_a:
            continue
        b_bag = b.bag() if injection == tuple(range(width_b)) else Counter(
            tuple(row[k] for k in injection) for row in b.rows)
        if _bags_relate(a.bag(), b_bag, rel):
            found.append(injection)
            if len(found) > 1:
                return None
    injection = found[0] if found else None
    return _bag_comparison(pred, gold, injection, ordered=ordered,
                           order_differs=same_length and injection is not None)


#: whether a prediction that must hold every value of the target is first checked for the
#: target's texts and numbers (see :func:`_value_missing`)
_PRUNE_BY_VALUES = True
_TEXTS_CHECKED = 64  # distinct texts of the target looked for, at most


def _target_texts(gold: _Table) -> frozenset:
    """Up to :data:`_TEXTS_CHECKED` distinct texts (str or bytes cells) of the target."""
    found: set = set()
    # columns of numbers and times hold no text; each other column's distinct values, found at C speed
    try:
        cells = itertools.chain.from_iterable(
            pd.unique(values) for values in gold.column_values() if not _textless(values))
        cells = list(cells)
    except TypeError:  # an unhashable cell: its column's values one by one
        cells = itertools.chain.from_iterable(
            values.tolist() if isinstance(values, pd.Series) else values
            for values in gold.column_values() if not _textless(values))
    for value in cells:
        if isinstance(value, (str, bytes)):
            found.add(value)
            if len(found) >= _TEXTS_CHECKED:
                break
    return frozenset(found)


def _textless(column) -> bool:
    """Whether a column cannot hold a text (a numpy array or Series of a number or time dtype)."""
    dtype = getattr(column, "dtype", None)
    return isinstance(dtype, np.dtype) and dtype.kind in "biufcmM"


def _value_missing(pred: _Table, gold: _Table, prepared: "PreparedTarget | None", sig: int) -> bool:
    """Whether no pairing of columns can relate ``pred`` to ``gold`` because a value of the target
    appears nowhere in the prediction, when the relation would need every target value in it.

    That is the case when the prediction has at least the target's columns and rows: whichever
    way the row bags must stand (equal, or the target's inside the prediction's), every target
    column is paired with one of the prediction's and every target row found there.  A few of
    the target's texts and numbers are looked for (:func:`_texts_missing`, :func:`_numbers_missing`);
    one that is absent is a proof, found without encoding the prediction (a large table of
    numbers next to a target holding a name takes no time at all)."""
    # Searched only where the prediction is much the larger table (an intermediate step next to a
    # small answer): there the search saves most, while for a table of the target's size (a right
    # answer, often) a search that finds every value would only add to the encoding it precedes.
    if not (gold.n_rows and pred.width and pred.width >= gold.width and pred.n_rows >= 2 * gold.n_rows):
        return False
    texts = prepared.probes()[0] if prepared is not None else _target_texts(gold)
    if texts and _texts_missing(pred, texts):
        return True
    numbers = prepared.probes()[1] if prepared is not None else _target_numbers(gold)
    return bool(numbers) and _numbers_missing(pred, numbers, sig)


def _texts_missing(pred: _Table, texts: frozenset) -> bool:
    """Whether one of ``texts`` is in no cell of ``pred``: a text's key equals only the same text.
    Columns of numbers and times are skipped; a column of a pandas extension dtype (pandas'
    own strings) makes the search give up, since converting it costs more than it saves."""
    remaining = set(texts)
    if pred.rows is not None and pred._values is None:
        # rows not yet split into typed columns: their cells are looked up as they are (a number
        # equals no text), and the columns are split only if the full comparison needs them
        try:
            for j in range(pred.width):
                remaining.difference_update(map(itemgetter(j), pred.rows))
                if not remaining:
                    return False
        except TypeError:  # an unhashable cell (a list, a dict): left to the full comparison
            return False
        return True
    try:
        for values in pred.column_values():
            if _textless(values):
                continue
            if not (isinstance(values.dtype, np.dtype) and values.dtype.kind == "O"):
                return False
            # the cells as Python values, read at C speed (a Series iterates one boxed value at a time)
            remaining.difference_update(values.to_numpy() if isinstance(values, pd.Series) else values)
            if not remaining:
                return False
    except TypeError:  # an unhashable cell (a list, a dict): left to the full comparison
        return False
    return True


def _numbers_missing(pred: _Table, numbers: tuple, sig: int) -> bool:
    """Whether one of ``numbers`` (ints and finite floats of the target) has its key in no cell of
    ``pred``.  Two numbers with equal keys round to the same ``sig`` significant digits, so they
    differ by less than ``10**(3 - sig)`` times their size: the cells within that window of a
    wanted number are found with array comparisons, and only their keys are computed, by
    :func:`_number_key` itself (a number with more than :data:`_NEAR_CHECKED` such cells counts as
    found).  A column holding anything but ints, floats, bools, texts and NULLs (a Decimal, a time,
    an unhashable cell), or a long column of Python numbers, makes the search give up: the full
    comparison decides."""
    wanted = {v: _number_key(v, sig) for v in numbers}
    slack = 10.0 ** (3 - sig)
    for values in pred.column_values():
        parts = _number_parts(values)
        if parts is None:
            return False
        for part in parts:
            if not len(part):
                continue
            for number in [v for v, key in wanted.items() if key is not None]:
                near = _near(part, number, slack)
                if near is None:
                    wanted[number] = None  # too far out to search: counted as found
                    continue
                if len(near) > _NEAR_CHECKED or any(
                        _number_key(x, sig) == wanted[number] for x in near.tolist()):
                    wanted[number] = None  # found
        if all(key is None for key in wanted.values()):
            return False
    return True


#: whether a target of one cell is looked for column by column (see :func:`_compare_one_cell`)
_ONE_CELL = True


def _compare_one_cell(pred: _Table, gold: _Table, sig: int, ordered: bool) -> TableComparison | None:
    """:func:`_compare_as_bags`'s answer for a target of one cell (a count, a name) and a
    prediction of two rows or more: the pairing the full search reports, the first column of the
    prediction that holds the cell's key, found column by column without encoding the prediction.
    None (take the full path) for a cell other than an int, a finite float or a text, and when a
    column holds values whose keys this cannot tell apart (:func:`_column_holds`)."""
    if not (_ONE_CELL and gold.n_rows == 1 and gold.width == 1 and gold.rows is not None
            and pred.n_rows >= 2 and pred.width):
        return None
    (value,) = gold.rows[0]
    for j, values in enumerate(pred.column_values()):
        held = _column_holds(values, value, sig)
        if held is None:
            return None
        if held:
            return _bag_comparison(pred, gold, (j,), ordered=ordered)
    return _bag_comparison(pred, gold, None, ordered=ordered)


def _column_holds(values, value: object, sig: int) -> bool | None:
    """Whether a column (:func:`_column_values`) holds a cell whose key is ``value``'s, for an int of
    at most 62 bits, a finite float, a str or bytes; None when that cannot be told here: another
    kind of value, or a column holding anything but ints, floats, bools, texts and NULLs."""
    kind = type(value)
    if kind is str or kind is bytes:  # a text's key equals only the same text
        if _textless(values):
            return False
        cells = values.to_numpy() if isinstance(values, pd.Series) else values
        if not (isinstance(cells.dtype, np.dtype) and cells.dtype.kind == "O"):
            return None
        cells = cells.tolist()
        if not set(map(type, cells)) <= {str, bytes, int, float, bool, type(None)}:
            return None
        return value in cells  # none of these kinds equals a text but the same text
    if not ((kind is int and abs(value) < (1 << 62)) or (kind is float and math.isfinite(value))):
        return None
    parts = _number_parts(values)
    if parts is None:
        return None
    key = _number_key(value, sig)
    for part in parts:
        if not len(part):
            continue
        near = _near(part, value, 10.0 ** (3 - sig))
        if near is None:
            return None
        if any(_number_key(x, sig) == key for x in near.tolist()):
            return True
    return False


def _near(part: np.ndarray, number: int | float, slack: float) -> np.ndarray | None:
    """The cells of ``part`` (int64 or float64) within ``slack`` times ``number``'s size of it, where
    every cell whose key can equal the number's lies (see :func:`_numbers_missing`); None when the
    window passes the range of int64."""
    window = abs(number) * slack
    if part.dtype.kind == "f":
        low, high = float(number) - window, float(number) + window
    else:  # whole bounds, so integers are compared with integers
        low, high = math.floor(number - window), math.ceil(number + window)
        if low < _INT64_MIN or high > _INT64_MAX:
            return None
    return part[(part >= low) & (part <= high)]


def _number_parts(values) -> list[np.ndarray] | None:
    """The numbers of a column (:func:`_column_values`) as int64 and float64 arrays (ints and floats
    apart, since they are keyed apart); None when it holds something else than numbers, texts and
    NULLs, an int past 64 bits, or more than :data:`_OBJECTS_SPLIT` Python values among which are numbers."""
    if isinstance(values, pd.Series):
        values = values.to_numpy()
    kind = values.dtype.kind if isinstance(values.dtype, np.dtype) else "?"
    if kind == "i":
        return [values]
    if kind == "f":  # narrow floats as the shortest decimals that read back as them, as keyed
        return [_widen_narrow_floats(values) if values.dtype.itemsize < 8 else values]
    if kind == "b":
        return [values.astype(np.int64)]
    if kind != "O":
        return None
    try:
        kinds = set(map(type, values))
    except TypeError:
        return None
    if kinds <= {str, bytes, type(None)}:
        return []  # no number here
    if not kinds <= {int, float, bool, str, bytes, type(None)} or len(values) > _OBJECTS_SPLIT:
        return None
    ints = [int(x) for x in values if type(x) is int or type(x) is bool]
    floats = [x for x in values if type(x) is float]
    try:
        return [np.array(ints, dtype=np.int64), np.array(floats, dtype=np.float64)]
    except OverflowError:
        return None


_NEAR_CHECKED = 64  # cells near a wanted number keyed at most
_OBJECTS_SPLIT = 20_000  # Python values of a column split into ints and floats at most


_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_NUMBERS_CHECKED = 8  # distinct numbers of the target looked for, at most


def _target_probes(gold: _Table) -> tuple[frozenset, tuple]:
    """:func:`_target_texts` and :func:`_target_numbers` of the target."""
    return _target_texts(gold), _target_numbers(gold)


def _target_numbers(gold: _Table) -> tuple:
    """Up to :data:`_NUMBERS_CHECKED` distinct numbers of the target (ints of at most 62 bits and
    finite floats; no bools)."""
    numbers: dict = {}
    cells = (itertools.chain.from_iterable(gold.rows) if gold.rows is not None
             else itertools.chain.from_iterable(c.tolist() for c in gold.columns()))
    for value in cells:
        kind = type(value)
        if (kind is int and abs(value) < (1 << 62)) or (kind is float and math.isfinite(value)):
            numbers.setdefault(value, None)  # 1 and 1.0 are one entry: equal values, equal keys
            if len(numbers) >= _NUMBERS_CHECKED:
                break
    return tuple(numbers)


def _orientation(pred: _Table, gold: _Table) -> tuple[bool, str]:
    """Whether the prediction is the narrower side (``a``, the one whose columns are paired into
    the other's), and the relation the row bags must stand in, ``a`` against ``b``."""
    row_rel = _size_relation(pred.n_rows, gold.n_rows)
    if pred.width <= gold.width:
        return True, {"equal": "eq", "subset": "le", "superset": "ge"}[row_rel]
    return False, {"equal": "eq", "subset": "ge", "superset": "le"}[row_rel]


def _bag_comparison(pred: _Table, gold: _Table, injection: tuple[int, ...] | None, *, ordered: bool,
                    order_differs: bool = False, complete: bool = True, visits: int = 0) -> TableComparison:
    """The comparison that a column pairing found (``injection``: the narrower side's columns into
    the other's; None: no pairing) makes of ``pred`` and ``gold``."""
    if injection is None:
        rows = columns = "different"
        mapping = None
    else:
        rows = "different" if order_differs else _size_relation(pred.n_rows, gold.n_rows)
        columns = _size_relation(pred.width, gold.width)
        if pred.width <= gold.width:
            slots: list[int | None] = [None] * gold.width
            for j, i in enumerate(injection):
                slots[i] = j
            mapping = tuple(slots)
        else:
            mapping = tuple(injection)
    relation = _overall_relation(rows, columns)
    detail = _describe(relation, rows, columns, order_differs, complete, mapping, pred.shape, gold.shape, visits)
    return TableComparison(equal=relation == "equal", relation=relation, rows=rows, columns=columns,
                           column_mapping=mapping, ordered=ordered, detail=detail, mode="bag",
                           pred_shape=pred.shape, gold_shape=gold.shape, complete=complete)


def _compare_as_bags(pred: _Table, gold: _Table, ordered: bool, sig: int,
                     prepared: PreparedTarget | None = None) -> TableComparison:
    small = _compare_small(pred, gold, sig, prepared, ordered)
    if small is not None:
        return small
    one_cell = _compare_one_cell(pred, gold, sig, ordered)  # presence and absence in one scan
    if one_cell is not None:
        return one_cell
    if _PRUNE_BY_VALUES and _value_missing(pred, gold, prepared, sig):
        return _bag_comparison(pred, gold, None, ordered=ordered)
    if prepared is not None:
        pred_encoded, gold_encoded = prepared.encode(pred), prepared.encoded
    else:
        pred_encoded, gold_encoded = _encode([pred, gold], sig)
    row_rel = _size_relation(pred.n_rows, gold.n_rows)
    pred_is_narrow, rel = _orientation(pred, gold)
    if pred_is_narrow:
        a, b, n_a, n_b = pred_encoded, gold_encoded, pred.n_rows, gold.n_rows
    else:
        a, b, n_a, n_b = gold_encoded, pred_encoded, gold.n_rows, pred.n_rows
    # The target's sorted column indexes, on whichever side it stands.
    index = None
    if prepared is not None:
        gold_side = "b" if pred_is_narrow else "a"
        index = (gold_side, prepared)

    search = None
    order_differs = False
    injection = None
    if ordered and row_rel == "equal":
        injection = _sequence_mapping([c.tobytes() for c in a.columns], [c.tobytes() for c in b.columns])
    if injection is None:
        search = _find_mapping(a, b, n_a, n_b, rel, index)
        injection = search.mapping
        order_differs = ordered and row_rel == "equal" and injection is not None

    return _bag_comparison(pred, gold, injection, ordered=ordered, order_differs=order_differs,
                           complete=search is None or search.complete, visits=search.visits if search else 0)


def _size_relation(pred_size: int, gold_size: int) -> Relation:
    if pred_size == gold_size:
        return "equal"
    return "subset" if pred_size < gold_size else "superset"


def _overall_relation(rows: str, columns: str) -> Relation:
    if rows == columns == "equal":
        return "equal"
    if rows in ("equal", "subset") and columns in ("equal", "subset"):
        return "subset"
    if rows in ("equal", "superset") and columns in ("equal", "superset"):
        return "superset"
    return "different"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _describe(
    relation, rows, columns, order_differs, complete, mapping, pred_shape, gold_shape, visits
) -> str:
    (n_pred, w_pred), (n_gold, w_gold) = pred_shape, gold_shape
    if relation == "equal":
        shape = f"{_count(n_gold, 'row')} × {_count(w_gold, 'column')}"
        if mapping != tuple(range(w_gold)):
            return f"the prediction matches the target ({shape}) once its columns are reordered"
        return f"the prediction matches the target ({shape})"
    if rows == "different" and columns == "different":
        if pred_shape == gold_shape:
            text = (
                f"the prediction has the target's shape ({_count(n_gold, 'row')} × "
                f"{_count(w_gold, 'column')}) but not its rows"
            )
        else:
            text = (
                f"the prediction ({_count(n_pred, 'row')} × {_count(w_pred, 'column')}) is "
                f"neither inside nor around the target ({_count(n_gold, 'row')} × "
                f"{_count(w_gold, 'column')}) under any pairing of their columns"
            )
        if not complete:
            text += (
                f"; the column matching gave up after {visits:,} units of work, so an "
                "exotic match may have been missed"
            )
        return text
    missing = []
    extra = []
    if columns == "subset":
        missing.append(_count(w_gold - w_pred, "column"))
    if columns == "superset":
        extra.append(_count(w_pred - w_gold, "extra column"))
    if rows == "subset":
        missing.append(_count(n_gold - n_pred, "row"))
    if rows == "superset":
        extra.append(_count(n_pred - n_gold, "extra row"))
    parts = []
    if order_differs:
        parts.append("the prediction has the target's rows in a different order")
    if extra:
        parts.append("the prediction has " + " and ".join(extra))
    if missing:
        total = (w_gold - w_pred if columns == "subset" else 0) + (
            n_gold - n_pred if rows == "subset" else 0
        )
        verb = "is" if total == 1 else "are"
        parts.append(" and ".join(missing) + f" of the target {verb} missing")
    return ", and ".join(parts)


# ---------------------------------------------------------------------------
# Set comparison (BIRD)


def _compare_as_sets(pred: _Table, gold: _Table) -> TableComparison:
    try:
        pred_set = set(map(tuple, pred.driver_rows()))
        gold_set = set(map(tuple, gold.driver_rows()))
    except TypeError as exc:
        raise InvalidArgumentError(
            f"mode='set' needs hashable cell values, as BIRD's evaluator does ({exc}); "
            "use mode='bag' for tables holding lists or dicts"
        ) from exc
    if pred_set == gold_set:
        rows: Relation = "equal"
        distinct = _count(len(gold_set), "distinct row")
        detail = f"as sets, the prediction matches the target ({distinct})"
    elif pred_set < gold_set:
        rows = "subset"
        missing = len(gold_set - pred_set)
        verb = "is" if missing == 1 else "are"
        detail = f"as sets, {_count(missing, 'distinct row')} of the target {verb} missing"
    elif pred_set > gold_set:
        rows = "superset"
        extra = _count(len(pred_set - gold_set), "extra distinct row")
        detail = f"as sets, the prediction has {extra}"
    else:
        rows = "different"
        n_extra, n_missing = len(pred_set - gold_set), len(gold_set - pred_set)
        detail = (
            f"as sets, {_count(n_extra, 'distinct row')} of the prediction "
            f"{'is' if n_extra == 1 else 'are'} not in the target and "
            f"{_count(n_missing, 'distinct row')} of the target "
            f"{'is' if n_missing == 1 else 'are'} missing"
        )
    same_width = pred.width == gold.width
    return TableComparison(
        equal=rows == "equal",
        relation=rows,
        rows=rows,
        columns="equal" if same_width else "different",
        column_mapping=tuple(range(gold.width)) if same_width else None,
        ordered=False,
        detail=detail,
        mode="set",
        pred_shape=pred.shape,
        gold_shape=gold.shape,
    )
