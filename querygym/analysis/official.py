"""The official execution-accuracy semantics of Spider and BIRD, for comparability with published numbers.

* :func:`spider_ex` follows the test-suite version of Spider's evaluator (Zhong et al. 2020,
  ``exec_eval.result_eq``): both results empty is a match; otherwise the row counts and the
  column counts must agree, and some permutation of the prediction's columns must make the rows
  equal — as sequences when the gold query text contains ``ORDER BY`` anywhere (the evaluator's
  own test), else as multisets.  Values compare with Python equality (no float tolerance).
  Permutations are only tried among columns whose value sets agree (the evaluator's own
  constraint), so the search stays small.
* :func:`bird_ex` is BIRD's evaluator: ``set(pred_rows) == set(gold_rows)``, column order and
  duplicates as they fall (:func:`querygym.scoring.compare.compare_tables` with ``mode="set"``).

>>> spider_ex([(1, "a")], [("a", 1)], "SELECT x, y FROM t")
True
>>> spider_ex([(1,), (2,)], [(2,), (1,)], "SELECT x FROM t ORDER BY x")
False
>>> bird_ex([(1,), (1,)], [(1,)])
True
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any

from querygym.scoring.compare import compare_tables

#: column permutations tried at most before giving up (the evaluator's search is unbounded)
MAX_PERMUTATIONS = 40_320


def spider_ex(pred: Sequence[tuple[Any, ...]], gold: Sequence[tuple[Any, ...]], gold_sql: str) -> bool:
    """Whether ``pred`` matches ``gold`` under the Spider test-suite evaluator's ``result_eq``."""
    pred, gold = [tuple(r) for r in pred], [tuple(r) for r in gold]
    if not pred and not gold:
        return True
    if len(pred) != len(gold):
        return False
    width = len(gold[0])
    if len(pred[0]) != width:
        return False
    ordered = "order by" in gold_sql.lower()
    if Counter(tuple(sorted(map(repr, r))) for r in pred) != Counter(tuple(sorted(map(repr, r))) for r in gold):
        return False  # no permutation of columns can help (the evaluator's quick rejection)
    gold_sets = [{r[i] for r in gold} for i in range(width)]
    pred_sets = [{r[i] for r in pred} for i in range(width)]
    candidates = [[j for j in range(width) if pred_sets[j] == gold_sets[i]] for i in range(width)]
    gold_bag = Counter(gold)
    tried = 0
    for perm in itertools.product(*candidates):
        tried += 1
        if tried > MAX_PERMUTATIONS:
            return False
        if len(set(perm)) != width:
            continue
        permuted = [tuple(r[j] for j in perm) for r in pred]
        if (permuted == gold) if ordered else (Counter(permuted) == gold_bag):
            return True
    return False


def bird_ex(pred: Sequence[tuple[Any, ...]], gold: Sequence[tuple[Any, ...]]) -> bool:
    """Whether ``pred`` matches ``gold`` under BIRD's evaluator (equal sets of row tuples)."""
    return compare_tables(list(pred), list(gold), mode="set").equal
