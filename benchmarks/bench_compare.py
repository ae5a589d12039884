"""Timings of querygym.scoring.compare.compare_tables, against a permutation-enumerating baseline.

Run: ``python benchmarks/bench_compare.py``.  Prints the median of a few repeats
(time.perf_counter) for

* wide tables: 8 and 16 columns of 0/1, 500 rows, every column holding exactly
  250 ones (so every column looks like every other and only rows tell them
  apart), columns and rows shuffled; an equal variant, and a not-equal variant
  that swaps one cell pair between two rows so that every column still has
  250 ones and the bag of row weights is unchanged (the hardest kind of
  difference for the search);
* long tables: 200,000 rows x 5 columns (int, float off by one ulp in half
  the rows, string, low-cardinality int, float with NULLs), rows and columns
  shuffled, as DataFrames and as lists of tuples, and with one row extra;
* the naive baseline on the 8-column not-equal case: try every column
  permutation and compare row multisets, stopped after a time limit, which
  gives a lower bound on its cost.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from querygym.scoring.compare import compare_tables  # noqa: E402

REPEATS = 5
BASELINE_LIMIT_SECONDS = 5.0


def median_time(function, repeats: int = REPEATS) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def balanced_bits(rng: np.random.Generator, n_rows: int, n_columns: int) -> np.ndarray:
    """0/1 columns with exactly n_rows // 2 ones each."""
    columns = []
    for _ in range(n_columns):
        column = np.zeros(n_rows, dtype=np.int64)
        column[: n_rows // 2] = 1
        columns.append(rng.permutation(column))
    return np.column_stack(columns)


def hard_difference(rng: np.random.Generator, table: np.ndarray) -> np.ndarray:
    """Swap one 0/1 pair inside a column between two rows whose weights differ by one.

    Every column keeps its count of ones and the multiset of row weights stays
    the same, so only the joint distribution of columns changes.
    """
    table = table.copy()
    weights = table.sum(axis=1)
    for _ in range(100_000):
        r1, r2 = rng.choice(len(table), size=2, replace=False)
        if weights[r2] != weights[r1] + 1:
            continue
        for column in rng.permutation(table.shape[1]):
            if table[r1, column] == 0 and table[r2, column] == 1:
                table[r1, column], table[r2, column] = 1, 0
                return table
    raise RuntimeError("no suitable pair of rows found")


def shuffled_frame(rng: np.random.Generator, table: np.ndarray) -> pd.DataFrame:
    rows = rng.permutation(len(table))
    columns = rng.permutation(table.shape[1])
    return pd.DataFrame(table[rows][:, columns], columns=[f"c{j}" for j in range(table.shape[1])])


def naive_equal(pred: np.ndarray, gold: np.ndarray, limit: float) -> tuple[bool | None, int, float]:
    """Try every column permutation; returns (answer or None if stopped, tried, seconds)."""
    gold_rows = Counter(map(tuple, gold.tolist()))
    start = time.perf_counter()
    tried = 0
    for permutation in itertools.permutations(range(pred.shape[1])):
        tried += 1
        if Counter(map(tuple, pred[:, permutation].tolist())) == gold_rows:
            return True, tried, time.perf_counter() - start
        if time.perf_counter() - start > limit:
            return None, tried, time.perf_counter() - start
    return False, tried, time.perf_counter() - start


def long_tables(rng: np.random.Generator, n_rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    floats = rng.normal(1000, 300, n_rows)
    with_nulls = rng.normal(0, 1, n_rows)
    with_nulls[rng.random(n_rows) < 0.1] = np.nan
    gold = pd.DataFrame(
        {
            "id": np.arange(n_rows),
            "amount": floats,
            "name": [f"name-{i % 5000}" for i in range(n_rows)],
            "bucket": rng.integers(0, 10, n_rows),
            "score": with_nulls,
        }
    )
    # One ulp up or down on every other value: the size of the differences that
    # another summation order or engine produces.
    direction = np.where(rng.random(n_rows) < 0.5, np.inf, -np.inf)
    perturbed = np.where(rng.random(n_rows) < 0.5, np.nextafter(floats, direction), floats)
    pred = gold.assign(amount=perturbed)
    pred = pred.sample(frac=1.0, random_state=1).reset_index(drop=True)
    pred = pred[["score", "name", "id", "bucket", "amount"]]
    pred.columns = list("abcde")
    return pred, gold


def main() -> None:
    rng = np.random.default_rng(20240601)
    rows: list[tuple[str, float, str]] = []

    wide = {}
    for n_columns in (8, 16):
        gold = balanced_bits(rng, 500, n_columns)
        pred_equal = shuffled_frame(rng, gold)
        pred_different = shuffled_frame(rng, hard_difference(rng, gold))
        gold_frame = pd.DataFrame(gold)
        wide[n_columns] = (gold, pred_different.to_numpy())
        for label, pred in (("equal", pred_equal), ("not equal", pred_different)):
            seconds, result = median_time(lambda: compare_tables(pred, gold_frame))
            rows.append((f"wide {n_columns} cols x 500 rows, {label}", seconds, result.relation))

    pred, gold = long_tables(rng, 200_000)
    seconds, result = median_time(lambda: compare_tables(pred, gold), repeats=3)
    rows.append(("long 200k rows x 5 cols, DataFrames, equal", seconds, result.relation))
    pred_rows = list(pred.itertuples(index=False, name=None))
    gold_rows = list(gold.itertuples(index=False, name=None))
    seconds, result = median_time(lambda: compare_tables(pred_rows, gold_rows), repeats=3)
    rows.append(("long 200k rows x 5 cols, lists of tuples, equal", seconds, result.relation))
    missing_one = gold.iloc[1:]
    seconds, result = median_time(lambda: compare_tables(pred, missing_one), repeats=3)
    rows.append(("long 200k rows x 5 cols, one row extra", seconds, result.relation))

    gold8, pred8 = wide[8]
    ours8 = next(s for name, s, _ in rows if name == "wide 8 cols x 500 rows, not equal")
    answer, tried, baseline_seconds = naive_equal(pred8, gold8, BASELINE_LIMIT_SECONDS)
    total = 40_320
    if answer is None:
        estimate = baseline_seconds * total / tried
        baseline_text = (
            f"> {baseline_seconds:.1f} s (stopped after {tried:,} of {total:,} permutations; "
            f"extrapolated ~{estimate:.0f} s)"
        )
    else:
        baseline_text = f"{baseline_seconds:.2f} s ({tried:,} permutations, answer {answer})"

    width = max(len(name) for name, _, _ in rows) + 2
    print(f"{'case':<{width}}{'median':>10}  result")
    for name, seconds, relation in rows:
        print(f"{name:<{width}}{seconds * 1000:>8.1f}ms  {relation}")
    print()
    print(f"naive permutation baseline, wide 8 cols not equal: {baseline_text}")
    print(
        f"speed ratio (baseline lower bound / compare_tables): "
        f"{'>' if answer is None else ''}{baseline_seconds / ours8:,.0f}x"
    )


if __name__ == "__main__":
    main()
