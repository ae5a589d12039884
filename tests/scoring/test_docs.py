"""The document corpus on its own: parsing, search, policies."""

from __future__ import annotations

import pytest
import sqlglot

from querygym.errors import DatasetError
from querygym.plan.graph import PlanGraph
from querygym.schema import Column
from querygym.scoring.docs import Corpus, check_policies, evidence_document, parse_document, policies_apply

INTERNAL = """---
id: internal-accounts
title: Internal accounts
---
Customers flagged is_internal are staff test accounts and never count as revenue.

```policy
id: exclude-internal
description: revenue excludes internal accounts
when_tables: [customers]
require_columns: [customers.is_internal]
```
"""
CHURN = """---
id: churn
title: Churn
---
Churn is the share of subscriptions cancelled in a month."""


@pytest.fixture
def corpus():
    return Corpus([parse_document(INTERNAL), parse_document(CHURN)])


def test_documents_parse_with_their_policies(corpus):
    doc = corpus.get("internal-accounts")
    assert doc.title == "Internal accounts" and "staff test accounts" in doc.text
    assert [p.id for p in corpus.policies] == ["exclude-internal"]
    assert corpus.policies[0].require_columns == ("customers.is_internal",)


def test_search_ranks_the_document_that_defines_the_term_first(corpus):
    hits = corpus.search("how is churn defined", k=5)
    assert hits and hits[0].document.id == "churn"
    assert corpus.search("zzzz-not-a-word") == []


def test_duplicate_ids_are_refused(corpus):
    with pytest.raises(DatasetError, match="two documents have the id 'churn'"):
        corpus.with_documents([parse_document(CHURN)])


def test_evidence_becomes_a_document_of_its_own():
    doc = evidence_document(7, "active means status = 'active'")
    assert doc.id.startswith("evidence") and "status = 'active'" in doc.text


def _node(g, sql, *inputs):
    return g.add(g.new_node("perform_filter", (inputs[0], sql), inputs, sqlglot.parse_one(sql),
                            (Column("n", "INTEGER"),)))


def test_a_policy_applies_to_plans_that_read_its_tables_and_is_met_by_a_condition(corpus):
    g = PlanGraph()
    regions = _node(g, "SELECT * FROM regions", "regions")
    assert not policies_apply(corpus.policies, g, regions) and check_policies(corpus.policies, g, regions) == []
    blind = _node(g, "SELECT COUNT(*) AS n FROM customers", "customers")
    assert policies_apply(corpus.policies, g, blind)
    assert [v["id"] for v in check_policies(corpus.policies, g, blind)] == ["exclude-internal"]
    aware = _node(g, "SELECT COUNT(*) AS n FROM customers WHERE is_internal = 0", "customers")
    assert check_policies(corpus.policies, g, aware) == []
