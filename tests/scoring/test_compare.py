"""Tests of querygym.scoring.compare: every semantic rule in its module docstring."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import querygym.scoring.compare as compare_module
from querygym.scoring.compare import TableComparison, compare_tables
from querygym.errors import InvalidArgumentError, QueryGymError

# Cell values on which Python equality is exactly the module's equality, so a
# plain Counter of tuples is a correct oracle.
SIMPLE_CELLS = st.sampled_from([0, 1, 2, "a", "b", None])


@st.composite
def tables(draw, cells=SIMPLE_CELLS, min_width=1, max_width=4, min_rows=0, max_rows=10):
    width = draw(st.integers(min_width, max_width))
    return draw(st.lists(st.tuples(*[cells] * width), min_size=min_rows, max_size=max_rows))


def bag_relation(pred: Counter, gold: Counter) -> str:
    if pred == gold:
        return "equal"
    if all(pred[row] <= gold[row] for row in pred):
        return "subset"
    if all(gold[row] <= pred[row] for row in gold):
        return "superset"
    return "different"


def brute_force(pred: list[tuple], gold: list[tuple]) -> tuple[str, str]:
    """(rows, columns) by trying every injection of the narrower table's columns."""
    width_pred, width_gold = len(pred[0]), len(gold[0])
    size_rows = _size_relation(len(pred), len(gold))
    size_columns = _size_relation(width_pred, width_gold)
    if width_pred <= width_gold:
        pred_bag = Counter(pred)
        injections = itertools.permutations(range(width_gold), width_pred)
        found = any(
            bag_relation(pred_bag, Counter(tuple(row[i] for i in injection) for row in gold))
            == size_rows
            for injection in injections
        )
    else:
        gold_bag = Counter(gold)
        injections = itertools.permutations(range(width_pred), width_gold)
        found = any(
            bag_relation(Counter(tuple(row[i] for i in injection) for row in pred), gold_bag)
            == size_rows
            for injection in injections
        )
    return (size_rows, size_columns) if found else ("different", "different")


def _size_relation(pred_size: int, gold_size: int) -> str:
    if pred_size == gold_size:
        return "equal"
    return "subset" if pred_size < gold_size else "superset"


def rows_under_mapping(pred: list[tuple], mapping: tuple) -> Counter:
    """The prediction's rows with its columns put in the target's order."""
    return Counter(tuple(row[j] for j in mapping if j is not None) for row in pred)


# --- invariances and the four relations ------------------------------------------------


@given(tables(), st.data())
def test_permuting_rows_keeps_equal(table, data):
    shuffled = data.draw(st.permutations(table))
    result = compare_tables(shuffled, table)
    assert result.equal and bool(result)
    assert (result.relation, result.rows, result.columns) == ("equal", "equal", "equal")


@given(tables(min_rows=1), st.data())
def test_permuting_and_renaming_columns_keeps_equal(table, data):
    width = len(table[0])
    order = data.draw(st.permutations(range(width)))
    names = data.draw(st.lists(st.text(max_size=4), min_size=width, max_size=width))
    gold = pd.DataFrame(table, columns=[f"g{k}" for k in range(width)], dtype=object)
    pred = pd.DataFrame([tuple(row[k] for k in order) for row in table], dtype=object)
    pred.columns = names
    result = compare_tables(pred.sample(frac=1.0, random_state=0), gold)
    assert result.equal
    assert sorted(result.column_mapping) == list(range(width))
    # The mapping it reports really lines the prediction up with the target.
    pred_rows = list(pred.itertuples(index=False, name=None))
    assert rows_under_mapping(pred_rows, result.column_mapping) == Counter(table)


@given(tables(min_rows=1), st.data())
def test_dropping_a_row_gives_subset(table, data):
    k = data.draw(st.integers(0, len(table) - 1))
    result = compare_tables(table[:k] + table[k + 1 :], table)
    assert (result.relation, result.rows, result.columns) == ("subset", "subset", "equal")
    assert not result
    assert result.detail == "1 row of the target is missing"


@given(tables(min_rows=1), st.data())
def test_adding_a_row_gives_superset(table, data):
    extra = data.draw(st.tuples(*[SIMPLE_CELLS] * len(table[0])))
    result = compare_tables([*table, extra], table)
    assert (result.relation, result.rows, result.columns) == ("superset", "superset", "equal")
    assert result.detail == "the prediction has 1 extra row"


@given(tables(min_width=2, min_rows=1), st.data())
def test_dropping_a_column_gives_column_subset(table, data):
    k = data.draw(st.integers(0, len(table[0]) - 1))
    pred = [row[:k] + row[k + 1 :] for row in table]
    result = compare_tables(pred, table)
    assert (result.relation, result.rows, result.columns) == ("subset", "equal", "subset")
    assert result.column_mapping.count(None) == 1
    assert rows_under_mapping(pred, _inverse(result.column_mapping)) == Counter(
        tuple(v for i, v in enumerate(row) if result.column_mapping[i] is not None)
        for row in table
    )
    assert result.detail == "1 column of the target is missing"


def _inverse(mapping: tuple) -> tuple:
    """Pred column indices in target order, skipping target columns without one."""
    return tuple(j for j in mapping if j is not None)


@given(tables(min_rows=1), st.data())
def test_adding_a_column_gives_column_superset(table, data):
    k = data.draw(st.integers(0, len(table[0])))
    values = data.draw(st.lists(SIMPLE_CELLS, min_size=len(table), max_size=len(table)))
    pred = [row[:k] + (v,) + row[k:] for row, v in zip(table, values)]
    result = compare_tables(pred, table)
    assert (result.relation, result.rows, result.columns) == ("superset", "equal", "superset")
    assert None not in result.column_mapping
    assert result.detail == "the prediction has 1 extra column"


@settings(max_examples=300)
@given(tables(min_rows=1, max_rows=8), tables(min_rows=1, max_rows=8))
def test_agrees_with_brute_force_over_all_column_injections(pred, gold):
    result = compare_tables(pred, gold)
    assert (result.rows, result.columns) == brute_force(pred, gold)
    if result.column_mapping is not None:
        # The reported mapping reproduces the reported row relation.
        if len(pred[0]) <= len(gold[0]):
            used = [i for i, j in enumerate(result.column_mapping) if j is not None]
            pred_bag = Counter(tuple(row[result.column_mapping[i]] for i in used) for row in pred)
            gold_bag = Counter(tuple(row[i] for i in used) for row in gold)
        else:
            pred_bag = rows_under_mapping(pred, result.column_mapping)
            gold_bag = Counter(gold)
        assert bag_relation(pred_bag, gold_bag) == result.rows


def test_extra_column_and_missing_row_is_mixed():
    gold = [(1, "a"), (2, "b"), (3, "c")]
    pred = [("a", 1, True), ("b", 2, False)]
    result = compare_tables(pred, gold)
    assert (result.relation, result.rows, result.columns) == ("different", "subset", "superset")
    assert result.column_mapping == (1, 0)
    assert result.detail == "the prediction has 1 extra column, and 1 row of the target is missing"


def test_missing_column_and_missing_row_is_subset():
    result = compare_tables([(1,)], [(1, "a"), (2, "b")])
    assert (result.relation, result.rows, result.columns) == ("subset", "subset", "subset")
    assert result.column_mapping == (0, None)
    assert result.detail == "1 column and 1 row of the target are missing"


def test_extra_column_and_extra_row_is_superset():
    result = compare_tables([(1, "a", 0), (2, "b", 0), (3, "c", 0)], [("a", 1), ("b", 2)])
    assert (result.relation, result.rows, result.columns) == ("superset", "superset", "superset")
    assert result.detail == "the prediction has 1 extra column and 1 extra row"


# --- bags, sets and duplicates -----------------------------------------------------------


def test_duplicates_count_in_bag_mode_but_not_in_set_mode():
    bag = compare_tables([(1,), (1,), (2,)], [(1,), (2,)])
    assert (bag.relation, bag.detail) == ("superset", "the prediction has 1 extra row")
    assert compare_tables([(1,), (1,), (2,)], [(1,), (2,)], mode="set").equal
    assert not compare_tables([(1,), (2,), (2,)], [(1,), (1,), (2,)])


@settings(max_examples=300)
@given(
    tables(cells=st.one_of(SIMPLE_CELLS, st.floats(), st.integers(), st.text(max_size=2))),
    tables(cells=st.one_of(SIMPLE_CELLS, st.floats(), st.integers(), st.text(max_size=2))),
)
def test_set_mode_is_a_plain_python_set_comparison(pred, gold):
    pred_set, gold_set = set(map(tuple, pred)), set(map(tuple, gold))
    result = compare_tables(pred, gold, mode="set")
    assert result.equal == (pred_set == gold_set)
    expected = (
        "equal" if pred_set == gold_set
        else "subset" if pred_set < gold_set
        else "superset" if pred_set > gold_set
        else "different"
    )
    assert result.relation == result.rows == expected
    assert result.mode == "set" and result.ordered is False


def test_set_mode_keeps_birds_flaws():
    # Column order matters, no numeric tolerance; bag mode fixes both.
    assert not compare_tables([(1, "a")], [("a", 1)], mode="set")
    assert compare_tables([(1, "a")], [("a", 1)])
    assert not compare_tables([(0.1 + 0.2,)], [(0.3,)], mode="set")
    assert compare_tables([(0.1 + 0.2,)], [(0.3,)])
    # Python equality: 1 == 1.0 == True.
    assert compare_tables([(1,)], [(1.0,)], mode="set")


def test_set_mode_turns_dataframes_into_driver_rows():
    frame = pd.DataFrame({"x": [1, 2], "y": [None, 2.5]})
    result = compare_tables(frame, [(1, None), (2, 2.5)], mode="set", ordered=True)
    assert result.equal and result.ordered is False
    assert result.column_mapping == (0, 1)


# --- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "left, right",
    [
        (3, 3.0),
        (3, Decimal("3.000")),
        (Decimal("0.1"), 0.1),
        (0.1 + 0.2, 0.3),
        (0.1 + 0.2, Decimal("0.3")),
        (True, 1),
        (False, 0),
        (np.int64(7), 7),
        (np.float64(2.5), Decimal("2.5")),
        (np.float32(0.1), 0.1),
        (np.bool_(True), 1),
        (np.uint64(2**64 - 1), 2**64 - 1),
        (0.0, -0.0),
        (10**30, Decimal("1E+30")),
        (1e-20, 1.0000000001e-20),
        (12345678901.4, 12345678901),
        (float("inf"), Decimal("Infinity")),
    ],
)
def test_numbers_compare_as_numbers(left, right):
    assert compare_tables([(left,)], [(right,)]).equal


@pytest.mark.parametrize(
    "left, right",
    [
        ("3", 3),
        ("a", "A"),
        ("a ", "a"),
        (b"a", "a"),
        (1234567890123, 1234567890124),  # integers are exact, past sig_digits too
        (12345678901.6, 12345678901),
        (float("inf"), float("-inf")),
        (1.5, 2),
    ],
)
def test_values_that_differ(left, right):
    assert not compare_tables([(left,)], [(right,)]).equal


def test_tolerance_is_sig_digits_significant_digits():
    assert compare_tables([(1.000000001,)], [(1,)]).equal  # differs in the 10th digit
    assert not compare_tables([(1.00000001,)], [(1,)]).equal  # differs in the 9th
    assert compare_tables([(123456.7891,)], [(123456.789,)]).equal
    assert not compare_tables([(1.000000001,)], [(1,)], sig_digits=12).equal
    assert compare_tables([(1.04,)], [(1,)], sig_digits=2).equal
    assert not compare_tables([(1.06,)], [(1,)], sig_digits=2).equal


def test_values_straddling_a_rounding_boundary_differ():
    # The documented price of an equivalence relation: 1e-13 apart, yet unequal.
    assert not compare_tables([(1.0000000049999,)], [(1.0000000050001,)]).equal
    assert compare_tables([(1.0000000050001,)], [(1.0000000149999,)]).equal


def test_big_floats_are_whole_numbers_and_compare_exactly():
    assert not compare_tables([(1e30,)], [(10**30,)]).equal
    assert compare_tables([(1e30,)], [(int(1e30),)]).equal
    assert compare_tables([(2.0**60,)], [(2**60,)]).equal


def test_rounding_is_half_to_even_for_exact_decimals():
    # The documented boundary: values on either side of a rounding boundary differ.
    assert compare_tables([(Decimal("1.25"),)], [(Decimal("1.2"),)], sig_digits=2).equal
    assert compare_tables([(Decimal("1.35"),)], [(Decimal("1.4"),)], sig_digits=2).equal
    assert not compare_tables([(Decimal("1.2499"),)], [(Decimal("1.2501"),)], sig_digits=2).equal


def test_null_equals_null_and_nothing_else():
    assert compare_tables([(None,)], [(None,)]).equal
    assert compare_tables([(float("nan"),)], [(None,)]).equal
    assert compare_tables([(Decimal("NaN"),)], [(None,)]).equal
    for other in (0, "", 0.0, False, "None", "NULL"):
        assert not compare_tables([(None,)], [(other,)]).equal, other


def test_every_dataframe_missing_value_is_null():
    frame = pd.DataFrame(
        {
            "floats": [np.nan, 1.5, np.nan, np.nan],
            "objects": [None, np.nan, pd.NA, "x"],
            "ints": pd.array([pd.NA, 1, 2, 3], dtype="Int64"),
            "times": pd.to_datetime([None, "2024-01-02", "2024-01-03", "2024-01-04"]),
        }
    )
    rows = [
        (None, None, None, None),
        (1.5, None, 1, pd.Timestamp("2024-01-02")),
        (None, None, 2, pd.Timestamp("2024-01-03")),
        (None, "x", 3, pd.Timestamp("2024-01-04")),
    ]
    assert compare_tables(frame, rows).equal
    assert compare_tables(frame, rows, ordered=True).equal


def test_dataframe_dtypes_agree_with_python_values():
    rng = np.random.default_rng(7)
    n = 2_000
    float64_source = np.round(rng.normal(size=n), 3)
    frame = pd.DataFrame(
        {
            "i": rng.integers(-1000, 1000, n),
            "f": rng.normal(size=n),
            "s": [f"s{k % 37}" for k in range(n)],
            "b": rng.random(n) < 0.5,
            "f32": float64_source.astype(np.float32),  # reads back as the short decimals
            "cat": pd.Categorical([["x", "y", "z"][k % 3] for k in range(n)]),
        }
    )
    rows = [
        (int(i), float(f), s, bool(b), float(source), c)
        for (i, f, s, b, _, c), source in zip(
            frame.itertuples(index=False, name=None), float64_source
        )
    ]
    reversed_columns = [row[::-1] for row in reversed(rows)]
    assert compare_tables(frame, reversed_columns).equal
    assert compare_tables(reversed_columns, frame).equal


def test_unhashable_cells_compare_by_repr():
    assert compare_tables([([1, 2],)], [([1, 2],)]).equal
    assert not compare_tables([([1, 2],)], [([2, 1],)]).equal


# --- empty tables ---------------------------------------------------------------------------


def test_empty_equals_empty():
    assert compare_tables([], []).equal
    empty = pd.DataFrame({"a": [], "b": []})
    assert compare_tables(empty, pd.DataFrame({"x": [], "y": []})).equal
    assert compare_tables([], empty).equal  # an empty list takes the other's width
    assert compare_tables([], [], ordered=True).equal


def test_empty_tables_of_different_widths_are_column_subsets():
    result = compare_tables(pd.DataFrame({"a": []}), pd.DataFrame({"x": [], "y": []}))
    assert (result.relation, result.rows, result.columns) == ("subset", "equal", "subset")
    result = compare_tables(pd.DataFrame({"a": [], "b": []}), pd.DataFrame({"x": []}))
    assert (result.relation, result.rows, result.columns) == ("superset", "equal", "superset")


def test_empty_prediction_is_a_row_subset():
    result = compare_tables([], [(1, 2)])
    assert (result.relation, result.rows, result.columns) == ("subset", "subset", "equal")


# --- order ----------------------------------------------------------------------------------


def test_ordered_requires_the_same_sequence():
    gold = [(1, "a"), (2, "b"), (3, "c")]
    assert compare_tables(gold, gold, ordered=True).equal
    assert compare_tables([(r[1], r[0]) for r in gold], gold, ordered=True).equal
    reordered = compare_tables(gold[::-1], gold, ordered=True)
    assert (reordered.relation, reordered.rows, reordered.columns) == (
        "different", "different", "equal"
    )
    assert reordered.detail == "the prediction has the target's rows in a different order"
    assert reordered.ordered
    assert compare_tables(gold[::-1], gold).equal  # unordered ignores it


def test_ordered_falls_back_to_bag_relations_for_subsets():
    gold = [(1,), (2,), (3,)]
    assert compare_tables([(3,), (1,)], gold, ordered=True).relation == "subset"
    assert compare_tables([(3,), (1,), (2,), (2,)], gold, ordered=True).relation == "superset"


def test_ordered_finds_the_column_mapping_that_keeps_the_order():
    # Both column mappings give the same bag; only the swap keeps the sequence.
    gold = [(1, 2), (2, 1), (3, 3)]
    pred = [(2, 1), (1, 2), (3, 3)]
    result = compare_tables(pred, gold, ordered=True)
    assert result.equal and result.column_mapping == (1, 0)


def test_ordered_with_a_missing_column():
    result = compare_tables([(1,), (2,)], [(1, "a"), (2, "b")], ordered=True)
    assert (result.relation, result.rows, result.columns) == ("subset", "equal", "subset")
    result = compare_tables([(2,), (1,)], [(1, "a"), (2, "b")], ordered=True)
    assert (result.relation, result.rows, result.columns) == ("different", "different", "subset")


# --- the column search ----------------------------------------------------------------------


def test_same_column_multisets_without_a_bijection_are_different():
    result = compare_tables([(1, 1), (2, 2)], [(1, 2), (2, 1)])
    assert (result.equal, result.relation, result.rows, result.columns) == (
        False, "different", "different", "different"
    )
    assert result.column_mapping is None
    assert result.complete


def test_same_sorted_rows_without_a_bijection_are_different():
    # Column by column the value multisets pair up, and row by row the sorted
    # values agree, yet no column permutation turns one table into the other.
    pred = [(1, 0, 2), (0, 2, 1), (0, 1, 0), (2, 1, 1)]
    gold = [(1, 1, 2), (0, 0, 1), (2, 1, 0), (0, 2, 1)]
    assert brute_force(pred, gold) == ("different", "different")
    assert not compare_tables(pred, gold)


def _balanced_bits(rng, n_rows: int, n_columns: int) -> np.ndarray:
    columns = []
    for _ in range(n_columns):
        column = np.zeros(n_rows, dtype=np.int64)
        column[: n_rows // 2] = 1
        columns.append(rng.permutation(column))
    return np.column_stack(columns)


def _swap_keeping_marginals(rng, table: np.ndarray) -> np.ndarray:
    """Move a 1 between two rows whose weights differ by one, inside one column."""
    table = table.copy()
    weights = table.sum(axis=1)
    while True:
        r1, r2 = rng.choice(len(table), size=2, replace=False)
        if weights[r2] != weights[r1] + 1:
            continue
        for column in range(table.shape[1]):
            if table[r1, column] == 0 and table[r2, column] == 1:
                table[r1, column], table[r2, column] = 1, 0
                return table


def _some_column_permutation_matches(pred: np.ndarray, gold: np.ndarray) -> bool:
    """Exhaustive over all 8! permutations, via histograms of rows read as bytes."""
    width = pred.shape[1]
    powers = 1 << np.arange(width)
    pred_hist = np.bincount(pred @ powers, minlength=1 << width)
    gold_hist = np.bincount(gold @ powers, minlength=1 << width)
    bits = (np.arange(1 << width)[:, None] >> np.arange(width)) & 1
    permutations = np.array(list(itertools.permutations(range(width))))
    for chunk in np.array_split(permutations, 10):
        lookup = np.zeros((len(chunk), 1 << width), dtype=np.int64)
        for k in range(width):
            lookup |= bits[:, k][None, :] << chunk[:, k][:, None]
        if (gold_hist[lookup] == pred_hist[None, :]).all(axis=1).any():
            return True
    return False


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eight_low_cardinality_columns(seed):
    rng = np.random.default_rng(seed)
    gold = _balanced_bits(rng, 500, 8)
    shuffled = gold[rng.permutation(500)][:, rng.permutation(8)]
    hard = _swap_keeping_marginals(rng, gold)[:, rng.permutation(8)]
    assert _some_column_permutation_matches(shuffled, gold)
    assert not _some_column_permutation_matches(hard, gold)

    gold_frame = pd.DataFrame(gold)
    result = compare_tables(pd.DataFrame(shuffled), gold_frame)
    assert result.equal and result.complete
    assert Counter(map(tuple, shuffled[:, list(result.column_mapping)].tolist())) == Counter(
        map(tuple, gold.tolist())
    )
    result = compare_tables(pd.DataFrame(hard), gold_frame)
    assert not result.equal and result.complete
    assert result.relation == "different"


def test_identical_columns_are_interchangeable():
    gold = [(1, 1, 1, 2)] * 3 + [(0, 0, 0, 5)]
    pred = [(2, 1, 1, 1)] * 3 + [(5, 0, 0, 0)]
    result = compare_tables(pred, gold)
    assert result.equal and sorted(result.column_mapping) == [0, 1, 2, 3]


def test_a_search_that_runs_out_of_budget_gives_up_without_claiming_equality(monkeypatch):
    rng = np.random.default_rng(3)
    gold = _balanced_bits(rng, 200, 8)
    pred = gold[:, rng.permutation(8)]
    monkeypatch.setattr(compare_module, "_SEARCH_BUDGET", 1)
    result = compare_tables(pd.DataFrame(pred), pd.DataFrame(gold))
    assert not result.equal
    assert not result.complete
    assert result.relation == "different"
    assert "gave up" in result.detail


# --- the result object and errors -----------------------------------------------------------


def test_result_is_a_frozen_dataclass_that_is_truthy_when_equal():
    result = compare_tables([(1,)], [(1,)])
    assert isinstance(result, TableComparison)
    assert bool(result) is True and bool(compare_tables([(1,)], [(2,)])) is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.equal = False
    assert (result.pred_shape, result.gold_shape, result.mode) == ((1, 1), (1, 1), "bag")


def test_equal_detail_mentions_reordered_columns():
    assert compare_tables([(1, "a")], [(1, "a")]).detail == (
        "the prediction matches the target (1 row × 2 columns)"
    )
    assert compare_tables([("a", 1)], [(1, "a")]).detail == (
        "the prediction matches the target (1 row × 2 columns) once its columns are reordered"
    )


@pytest.mark.parametrize(
    "kwargs, received, accepted",
    [
        ({"mode": "exact"}, "'exact'", "'bag', 'set'"),
        ({"ordered": "yes"}, "'yes'", "True or False"),
        ({"sig_digits": 0}, "0", "from 1 to 15"),
        ({"sig_digits": 16}, "16", "from 1 to 15"),
        ({"sig_digits": True}, "True", "from 1 to 15"),
        ({"sig_digits": 2.5}, "2.5", "from 1 to 15"),
    ],
)
def test_bad_arguments_raise_invalid_argument_error(kwargs, received, accepted):
    with pytest.raises(InvalidArgumentError) as info:
        compare_tables([(1,)], [(1,)], **kwargs)
    assert received in str(info.value) and accepted in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, QueryGymError)


@pytest.mark.parametrize(
    "table, received",
    [
        ("select 1", "got str"),
        ({"a": [1]}, "got dict"),
        (pd.Series([1, 2]), "got Series"),
        (np.array([[1, 2]]), "got ndarray"),
        (None, "got NoneType"),
        (42, "got int"),
    ],
)
def test_non_tables_are_rejected(table, received):
    with pytest.raises(InvalidArgumentError, match="DataFrame or a list/tuple of rows") as info:
        compare_tables(table, [(1,)])
    assert received in str(info.value)
    with pytest.raises(InvalidArgumentError, match="gold must be a table"):
        compare_tables([(1,)], table)


def test_bad_rows_are_rejected():
    with pytest.raises(InvalidArgumentError, match=r"row 0 is of type int.*\[\(1,\), \(2,\)\]"):
        compare_tables([1, 2], [(1,)])
    with pytest.raises(InvalidArgumentError, match="pred row 1 is of type str"):
        compare_tables([(1,), "ab"], [(1,)])
    with pytest.raises(InvalidArgumentError, match="row 0 has 2 values, row 2 has 1"):
        compare_tables([(1,)], [(1, 2), (3, 4), (5,)])


def test_set_mode_rejects_unhashable_cells():
    with pytest.raises(InvalidArgumentError, match="hashable"):
        compare_tables([([1],)], [([1],)], mode="set")


# ---------------------------------------------------------------------------
# A target encoded once (prepare_target) answers exactly as the table itself

_CELLS = [1, 2, 2.0, "a", "b", None, Decimal("1.00"), 3, "c", 0.1 + 0.2, 0.3, b"x", float("inf"), 10**30, True]


def _random_table(rng, n_rows, width):
    pool = _CELLS[: rng.integers(2, len(_CELLS) + 1)]
    return [tuple(pool[i] for i in rng.integers(0, len(pool), width)) for _ in range(n_rows)]


@pytest.mark.parametrize("seed", range(2))
def test_a_prepared_target_gives_the_same_comparison_as_its_rows(seed):
    from querygym.scoring.compare import prepare_target

    rng = np.random.default_rng(seed)
    for _ in range(100):
        width = int(rng.integers(1, 5))
        gold = _random_table(rng, int(rng.integers(0, 120)), width)
        kind = rng.random()
        if kind < 0.45 and gold:  # rows of the target (a few, as a step's small table), columns permuted or dropped
            rows = [gold[i] for i in rng.choice(len(gold), int(rng.integers(0, min(len(gold), 12) + 1)), replace=False)]
            keep = list(rng.permutation(width)[: int(rng.integers(1, width + 1))])
            pred = [tuple(r[k] for k in keep) for r in rows]
        elif kind < 0.65 and gold:  # the target and more
            pred = gold + _random_table(rng, int(rng.integers(0, 4)), width)
            if rng.random() < 0.5:
                pred = [r + (_CELLS[int(rng.integers(len(_CELLS)))],) for r in pred]
        else:
            pred = _random_table(rng, int(rng.integers(0, 20)), int(rng.integers(1, 5)))
        ordered = bool(rng.random() < 0.2)
        target = prepare_target(gold)
        for _ in range(2):  # the second time from the target's cached indexes
            assert compare_tables(pred, target, ordered=ordered) == compare_tables(pred, gold, ordered=ordered)
        assert compare_tables(pred, target, mode="set") == compare_tables(pred, gold, mode="set")
        assert compare_tables(pred, target, sig_digits=3) == compare_tables(pred, gold, sig_digits=3)


def test_a_small_table_against_a_large_prepared_target():
    from querygym.scoring.compare import prepare_target

    n = 200_000
    gold = pd.DataFrame({"id": np.arange(n), "name": [f"n{i % 977}" for i in range(n)],
                         "amount": np.round(np.arange(n) * 0.37 % 1000, 2)})
    target = prepare_target(gold)
    rows = list(gold.iloc[5000:6000].itertuples(index=False, name=None))
    assert compare_tables([(r[2], r[1]) for r in rows], target).relation == "subset"
    assert compare_tables([(r[1], r[0], r[2]) for r in rows], target).column_mapping == (1, 0, 2)
    assert compare_tables([(r[1], -r[0], r[2]) for r in rows], target).relation == "different"
    assert compare_tables([r + (1,) for r in rows], target).relation == "different"
    assert compare_tables(rows + rows[:1], target).relation == "different"  # a duplicate the target lacks


# --- the small-table path gives the full path's answer, field for field -------------------

TRICKY_CELLS = st.sampled_from([
    0, 1, 2, -1, 10, 100, 2**53 + 1, 2**63 + 5, 1.0, 2.0, 0.1 + 0.2, 0.3, 1.0000000049999, 1.0000000050001,
    1e15, 1e16, 1e-300, float("inf"), float("-inf"), float("nan"), -0.0, "a", "b", "", "1", b"a", None,
])


def full_path(pred, gold, *, prune=False, **kwargs):
    """compare_tables with the small-table path, the encoding of small tables from cell keys, the
    search for a one-cell target column by column and (unless ``prune``) the search for missing
    texts switched off."""
    saved = (compare_module._SMALL_ROWS, compare_module._KEYED_CELLS, compare_module._PRUNE_BY_VALUES,
             compare_module._ONE_CELL)
    compare_module._SMALL_ROWS = compare_module._KEYED_CELLS = 0
    compare_module._PRUNE_BY_VALUES = prune
    compare_module._ONE_CELL = False
    try:
        return compare_tables(pred, gold, **kwargs)
    finally:
        (compare_module._SMALL_ROWS, compare_module._KEYED_CELLS, compare_module._PRUNE_BY_VALUES,
         compare_module._ONE_CELL) = saved


def _encoded(tables, known, keyed):
    saved = compare_module._KEYED_CELLS
    compare_module._KEYED_CELLS = saved if keyed else 0
    try:
        encoded, met = compare_module._encode_tables(tables, 9, known)
    finally:
        compare_module._KEYED_CELLS = saved
    return [([c.tolist() for c in e.columns], [(v.tolist(), n.tolist()) for v, n in e.profiles]) for e in encoded], met


@settings(max_examples=500)
@given(tables(cells=TRICKY_CELLS, min_rows=0, max_rows=8, max_width=5), st.data())
def test_small_tables_encode_from_cell_keys_as_the_vectorised_path_does(rows, data):
    width = len(rows[0]) if rows else data.draw(st.integers(1, 5))
    other = data.draw(st.lists(st.tuples(*[TRICKY_CELLS] * width), min_size=1, max_size=6))
    tables = [compare_module._Table.of(rows, "a"), compare_module._Table.of(other, "b")]
    for table in tables:
        table.adopt_width(width)
    known = compare_module._encode_tables([compare_module._Table.of(other, "g")], 9)[1] if data.draw(
        st.booleans()) else None
    assert _encoded(tables, known, keyed=True) == _encoded(tables, known, keyed=False)


@settings(max_examples=600)
@given(tables(cells=TRICKY_CELLS, min_rows=0, max_rows=8, max_width=7),
       tables(cells=TRICKY_CELLS, min_rows=1, max_rows=8, max_width=7),
       st.booleans(), st.data())
def test_the_small_table_path_answers_as_the_full_path(pred, gold, prepared, data):
    ordered = data.draw(st.booleans())
    if data.draw(st.booleans()):  # often the same rows, in some columns: pairings must be found
        width = len(gold[0])
        order = data.draw(st.permutations(range(width)))[:data.draw(st.integers(1, width))]
        pred = [tuple(row[j] for j in order) for row in gold]
        if data.draw(st.booleans()):  # shuffled, or left in the target's order
            pred = data.draw(st.permutations(pred))
    target = compare_module.prepare_target(gold) if prepared else gold
    saved = compare_module._KEYS_ONE_BY_ONE
    if data.draw(st.booleans()):  # the small path's vectorised keys, as for more numbers
        compare_module._KEYS_ONE_BY_ONE = 0
    try:
        assert compare_tables(pred, target, ordered=ordered) == full_path(pred, gold, ordered=ordered)
    finally:
        compare_module._KEYS_ONE_BY_ONE = saved


def _vectorised_key(value, sig):
    keys = compare_module._Keys()
    if type(value) is int:
        compare_module._add_ints(keys, np.array([0]), np.array([value], dtype=np.int64))
    else:
        compare_module._add_floats(keys, np.array([0]), np.array([value]), sig)
    keys.finish()
    found = [int(k[0]) for k in keys.num_keys if len(k)] + keys.obj_keys
    return found[0] if found else None


@settings(max_examples=3000)
@given(st.one_of(st.floats(), st.integers(-(2**63), 2**63 - 1),
                 st.sampled_from([0.1 + 0.2, 0.3, 2.5, 0.5, -1.5, 1e15, 1e-290, 12345678950.0, 5e-324])),
       st.integers(1, compare_module.MAX_SIG_DIGITS))
def test_a_number_keyed_alone_gets_the_vectorised_key(value, sig):
    assert compare_module._number_key(value, sig) == _vectorised_key(value, sig)


def test_the_small_table_path_is_taken_for_small_plain_tables():
    pred, gold = [(1, "a"), (2, "b")], [("b", 2.0), ("a", 1)]
    pred_table, gold_table = (compare_module._Table.of(t, "t") for t in (pred, gold))
    small = compare_module._compare_small(pred_table, gold_table, 9, None)
    assert small is not None and small.equal and small.column_mapping == (1, 0)
    # two pairings fit (identical columns): the full search decides which one is reported
    twin = compare_module._Table.of([(1, 1)], "t")
    assert compare_module._compare_small(twin, twin, 9, None) is None
    assert compare_tables([(1, 1)], [(1, 1)]).equal


def test_the_keyed_encoding_is_used_for_plain_small_tables_and_not_for_numbers_keyed_as_objects():
    plain = compare_module._Table.of([(1, "a"), (2.5, "b"), (None, "a")], "t")
    assert compare_module._encode_keyed([plain], [compare_module._small_keys(plain, 9)], None) is not None
    assert _encoded([plain], None, keyed=True) == _encoded([plain], None, keyed=False)
    infinite = compare_module._Table.of([(float("inf"), "a")], "t")
    assert compare_module._encode_keyed([infinite], [compare_module._small_keys(infinite, 9)], None) is None


TEXTY_CELLS = st.sampled_from([0, 1, 2, 2.0, 0.1 + 0.2, 0.3, float("nan"), None, "a", "b", "", "1", b"a", "A"])


@settings(max_examples=600)
@given(tables(cells=TEXTY_CELLS, min_rows=1, max_rows=7, max_width=3),
       tables(cells=TEXTY_CELLS, min_rows=0, max_rows=9, max_width=4),
       st.booleans(), st.booleans(), st.booleans(), st.data())
def test_looking_for_the_targets_values_first_answers_as_the_full_path(gold, pred, prepared, ordered, frame, data):
    if data.draw(st.booleans()):  # often the target's rows, and more, in more columns
        extra = data.draw(st.integers(0, 2))
        width = len(gold[0]) + extra
        more = data.draw(st.lists(st.tuples(*[TEXTY_CELLS] * width), max_size=12))
        pred = data.draw(st.permutations([row + tuple(data.draw(TEXTY_CELLS) for _ in range(extra))
                                          for row in gold] + more))
    if frame and pred:
        pred = pd.DataFrame(pred)
    target = compare_module.prepare_target(gold) if prepared else gold
    assert full_path(pred, target, prune=True, ordered=ordered) == full_path(pred, gold, ordered=ordered)


def test_a_large_table_of_numbers_is_told_apart_from_a_target_holding_a_name_without_encoding_it():
    target = compare_module.prepare_target([("north", 10.5), ("south", 3.0)])
    numbers = pd.DataFrame({0: np.arange(200_000), 1: np.arange(200_000) * 1.5})
    encoded = []
    original = compare_module.PreparedTarget.encode
    compare_module.PreparedTarget.encode = lambda self, pred: encoded.append(pred) or original(self, pred)
    try:
        assert compare_tables(numbers, target).relation == "different"
    finally:
        compare_module.PreparedTarget.encode = original
    assert encoded == []
    assert compare_tables(numbers, target) == full_path(numbers, target.source)
    # with the name in it, the prediction is compared in full
    named = pd.DataFrame({0: ["north"] * 3 + ["south"], 1: [10.5, 1.0, 2.0, 3.0]})
    assert compare_tables(named, target).relation == "superset"


@settings(max_examples=300)
@given(st.one_of(
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=40).map(lambda v: np.array(v, dtype=np.int64)),
    st.lists(st.floats(), min_size=1, max_size=40).map(lambda v: np.array(v, dtype=np.float64))),
    st.integers(1, 7))
def test_long_columns_of_numbers_keyed_a_slice_at_a_time_get_the_same_codes(values, slice_length):
    table = compare_module._Table.of(pd.DataFrame({0: values}), "t")
    saved = compare_module._NUMBERS_AT_A_TIME
    try:
        compare_module._NUMBERS_AT_A_TIME = slice_length
        sliced = _encoded_frame(table)
        compare_module._NUMBERS_AT_A_TIME = 1 << 40
        whole = _encoded_frame(table)
    finally:
        compare_module._NUMBERS_AT_A_TIME = saved
    assert sliced == whole


def _encoded_frame(table):
    (encoded,), met = compare_module._encode_tables([table], 9)
    return [c.tolist() for c in encoded.columns], [(v.tolist(), n.tolist()) for v, n in encoded.profiles], met


NEAR_NUMBERS = st.sampled_from([
    0, -0.0, 0.0, 1, 1.0, True, False, 1.0000000049999, 1.0000000050001, 0.99999999951, 2, 2.5, -2.5, 10, 10.4,
    0.1 + 0.2, 0.3, 123456789012, 123456789012.0, 1234567891, 1234567890.4, 2**53 + 1, float(2**53), 1e15, 1e16,
    1e-300, float("inf"), float("nan"), None, "1", "a",
])


NEAR_VARIANTS = {
    1: [1.0, 1.0000000049999, 0.99999999951, True], 1.0: [1, 1.0000000049999, 0.99999999951],
    0.3: [0.1 + 0.2], 0.1 + 0.2: [0.3], 10: [10.4, 10.0], 2: [2.0, 2.5], 2.5: [2, -2.5], 0: [-0.0, 0.0, False],
    1234567891: [1234567890.4], 2**53 + 1: [float(2**53)], 123456789012: [123456789012.0],
}


@settings(max_examples=800)
@given(tables(cells=NEAR_NUMBERS, min_rows=1, max_rows=4, max_width=3), st.integers(0, 2), st.integers(0, 10),
       st.sampled_from([None, "float32", "int8", "uint64", "Int64", "object"]),
       st.sampled_from([9, 9, 9, 1, 2, 8, 10, 15]), st.data())
def test_looking_for_the_targets_numbers_first_answers_as_the_full_path(gold, extra, more, dtype, sig, data):
    width = len(gold[0]) + extra
    pred = [row + tuple(data.draw(NEAR_NUMBERS) for _ in range(extra)) for row in gold]
    # a value often changed for another of the same key at some precisions, or for any other
    pred = [tuple(data.draw(st.sampled_from(NEAR_VARIANTS.get(v, [v]))) if data.draw(st.booleans())
                  else data.draw(NEAR_NUMBERS) if data.draw(st.integers(0, 3)) == 0 else v for v in row)
            for row in pred]
    pred += data.draw(st.lists(st.tuples(*[NEAR_NUMBERS] * width), max_size=more))
    if dtype is not None:  # a frame whose first column has this dtype, where its values allow it
        frame = pd.DataFrame(pred)
        try:
            frame[0] = frame[0].astype(dtype)
        except (TypeError, ValueError, OverflowError):
            pass
        pred = frame
    target = compare_module.prepare_target(gold, sig_digits=sig)
    assert full_path(pred, target, prune=True, sig_digits=sig) == full_path(pred, gold, sig_digits=sig)


@pytest.mark.parametrize("near", [1.0000000049999, 0.99999999951, True])
def test_a_target_number_present_only_as_an_equal_key_is_found(near):
    gold, pred = [(1,)], [(near,), (5,), (6,)]
    tables = compare_module._Table.of(pred, "p"), compare_module._Table.of(gold, "g")
    assert not compare_module._value_missing(*tables, None, 9)  # 1 is there, keyed alike
    assert full_path(pred, gold, prune=True) == full_path(pred, gold) and full_path(pred, gold).relation == "superset"
    assert compare_module._value_missing(compare_module._Table.of([(1.00000002,), (5,), (6,)], "p"), tables[1], None, 9)


ONE_CELL_CELLS = st.sampled_from([
    0, 1, 2, -1, 5, 2**53 + 1, 2**62 - 1, 2**63 + 5, 1.0, 2.0, 5.0, 0.1 + 0.2, 0.3, 1.0000000049999,
    1.0000000050001, 1e15, 1e16, 1e-300, float("inf"), float("nan"), -0.0, True, False, "a", "b", "",
    "1", "5", b"a", None, Decimal("5"),
])


@settings(max_examples=800)
@given(tables(cells=ONE_CELL_CELLS, min_rows=2, max_rows=12, max_width=6), ONE_CELL_CELLS, st.data())
def test_a_one_cell_target_is_found_column_by_column_as_the_full_search_finds_it(pred, cell, data):
    # a count or a name as the answer, next to a larger table: the first column holding its key
    if data.draw(st.booleans()):  # often a cell of the prediction itself
        row = data.draw(st.sampled_from(pred))
        cell = row[data.draw(st.integers(0, len(row) - 1))]
    gold = [(cell,)]
    target = compare_module.prepare_target(gold) if data.draw(st.booleans()) else gold
    ordered = data.draw(st.booleans())
    sig = data.draw(st.sampled_from([9, 3]))
    saved = compare_module._SMALL_ROWS
    compare_module._SMALL_ROWS = 0  # as for a table of more than a few hundred rows
    try:
        found = compare_tables(pred, target, ordered=ordered, sig_digits=sig)
    finally:
        compare_module._SMALL_ROWS = saved
    assert found == full_path(pred, gold, ordered=ordered, sig_digits=sig)


def test_a_one_cell_target_in_a_wide_table_is_not_encoded():
    # a 5,000-row, 12-column table holding the count in its last column: found without encoding
    rows = [tuple(range(i * 12, i * 12 + 11)) + (-7,) for i in range(5_000)]
    calls = []
    original = compare_module._encode_tables
    compare_module._encode_tables = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        found = compare_tables(rows, [(-7,)])
    finally:
        compare_module._encode_tables = original
    assert (found.relation, found.column_mapping) == ("superset", (11,)) and calls == []
    assert full_path(rows, [(-7,)]) == found


@pytest.mark.parametrize("pred, cell, column", [
    ([(5, "5"), (1, "a")], "5", 1),  # the text "5" is not the number 5
    ([(5, "5"), ("x", "a")], "5", 1),  # nor in a column of numbers and texts
    ([("5", 5), ("a", 1)], 5, 1),
    ([(True, 1.0), (False, 2.0)], 1, 0),  # a bool is keyed as its int
    ([(b"a", "a"), (b"b", "b")], "a", 1),  # text and bytes apart
    ([(1.0000000049999, 7), (2.0, 8)], 1, 0),  # equal to nine significant digits
    ([(1.0000000050001, 7), (2.0, 8)], 1, None),
    ([(float("nan"), None), (None, 3)], 3, 1),
])
def test_a_one_cell_target_among_keys_alike(pred, cell, column):
    saved = compare_module._SMALL_ROWS
    compare_module._SMALL_ROWS = 0
    try:
        found = compare_tables(pred, [(cell,)])
    finally:
        compare_module._SMALL_ROWS = saved
    assert found == full_path(pred, [(cell,)])
    assert found.column_mapping == (None if column is None else (column,))
