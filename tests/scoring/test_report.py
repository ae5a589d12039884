"""Report grading on its own: citations, numbers, and no credit for saying nothing."""

from __future__ import annotations

import pytest

from querygym.scoring.report import WEIGHTS, citations, grade, grade_numbers


def test_citations_tell_documents_from_tables():
    docs, tables = citations("Net revenue [net-revenue, T_3] per [doc:fiscal-calendar] and [t_1].")
    assert docs == ["net-revenue", "fiscal-calendar"] and tables == ["T_3", "T_1"]


@pytest.mark.parametrize("report, share", [
    ("Revenue was 1,234.57 [T_2].", 1.0),
    ("Revenue was 1,234.6 [T_2] and 99 [T_2].", 0.5),   # 99 is in no cited table
    ("Churn is 12.5% [T_2].", 1.0),                     # a percentage matches its fraction
    ("No figure at all [T_2].", 0.0),                   # nothing stated, nothing reconciled
])
def test_numbers_reconcile_at_the_precision_written(report, share):
    rows = {"T_2": [(1234.5678, 0.125)]}
    assert grade_numbers(report, rows)[0] == share


def test_figures_from_the_question_and_glued_to_words_are_not_claims():
    share, unsupported, unmatched = grade_numbers("In FY2024 the top 5 regions grew.", {}, question="top 5 regions")
    assert (share, unsupported, unmatched) == (0.0, 0, [])


def _grade(report, **kwargs):
    base = dict(answer_equal=True, required_docs=["net-revenue"], known_docs=["net-revenue", "arr"],
                cited_rows={"T_1": [(42,)]}, violations=[], question="How much?")
    base.update(kwargs)
    return grade(report, **base)


def test_a_full_report_earns_every_component():
    graded = _grade("Net revenue was 42 [T_1] [net-revenue].", policies_apply=True)
    assert graded["quality"] == 1.0 and graded["score"] == 1.0
    assert set(graded["components"]) == set(WEIGHTS)


def test_no_component_is_earned_vacuously():
    graded = _grade("hello", policies_apply=True)
    assert graded["components"] == {"definitions": 0.0, "reconciliation": 0.0, "evidence": 0.0, "policy": 0.0}
    assert graded["quality"] == 0.0


def test_a_component_with_nothing_to_judge_is_left_out_not_counted_full():
    graded = _grade("Net revenue was 42 [T_1] [net-revenue].", required_docs=[], policies_apply=False)
    assert graded["components"]["definitions"] is None and graded["components"]["policy"] is None
    assert graded["quality"] == 1.0  # the mean of what was judged


def test_a_wrong_answer_scores_nothing_whatever_the_report():
    graded = _grade("Net revenue was 42 [T_1] [net-revenue].", answer_equal=False, policies_apply=True)
    assert graded["quality"] == 1.0 and graded["score"] == 0.0 and graded["answer"] is False


def test_unknown_and_missing_documents_are_listed():
    graded = _grade("Net revenue was 42 [T_1] [gross-revenue].")
    assert graded["unknown_docs"] == ["gross-revenue"] and graded["missing_docs"] == ["net-revenue"]
    assert graded["components"]["definitions"] == 0.0
