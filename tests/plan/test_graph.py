"""The plan graph on its own: ids, immutability, lineage, and what a failed add leaves behind."""

from __future__ import annotations

import dataclasses

import pytest
import sqlglot

from querygym.errors import PlanError
from querygym.plan.graph import PlanGraph
from querygym.schema import Column


def _add(g: PlanGraph, *inputs: str):
    body = sqlglot.parse_one(f"SELECT a FROM {inputs[0]}")
    return g.add(g.new_node("perform_projection", (inputs[0], "a"), inputs, body, (Column("a", "INTEGER"),)))


def test_ids_are_contiguous_and_the_newest_is_the_last():
    g = PlanGraph()
    assert g.newest is None and g.next_id == "T_0" and len(g) == 0
    nodes = [_add(g, "orders"), _add(g, "T_0"), _add(g, "customers")]
    assert [n.id for n in nodes] == ["T_0", "T_1", "T_2"] == list(g.ids)
    assert g.newest is nodes[-1] and "T_1" in g and "T_3" not in g and "orders" not in g


def test_a_node_with_a_stale_id_is_refused_and_changes_nothing():
    g = PlanGraph()
    stale = g.new_node("perform_limit", ("orders", "1"), ("orders",), sqlglot.parse_one("SELECT 1"), ())
    _add(g, "orders")
    with pytest.raises(PlanError, match="next id is T_1"):
        g.add(stale)
    assert g.ids == ("T_0",) and g.graph.number_of_nodes() == 2  # T_0 and its base table


def test_nodes_are_immutable():
    node = _add(PlanGraph(), "orders")
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.operation = "perform_filter"


def test_edges_come_from_base_tables_and_earlier_nodes():
    g = PlanGraph()
    _add(g, "orders")
    _add(g, "T_0", "customers")
    assert set(g.graph.predecessors("T_1")) == {"T_0", "table:customers"}
    assert g.graph.nodes["table:customers"]["kind"] == "table" and g.graph.nodes["T_1"]["kind"] == "cte"


def test_lineage_is_oldest_first_and_leaves_out_what_the_node_does_not_read():
    g = PlanGraph()
    _add(g, "orders")        # T_0
    _add(g, "customers")     # T_1, unrelated to T_3
    _add(g, "T_0")           # T_2
    t3 = _add(g, "T_2")      # T_3
    assert [n.id for n in g.lineage(t3)] == ["T_0", "T_2"]


def test_unknown_ids_name_what_exists():
    g = PlanGraph()
    with pytest.raises(PlanError, match="Existing: none yet"):
        g.node("T_0")
    _add(g, "orders")
    with pytest.raises(PlanError, match=r"'T_7'. Existing: T_0"):
        g.node("T_7")
    assert g.get("not an id") is None
