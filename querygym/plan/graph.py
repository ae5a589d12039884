"""The plan graph: base tables and intermediate tables (CTEs) linked by the operations that made them.

Nodes ``T_0, T_1, …`` are immutable :class:`PlanNode` objects kept in a networkx ``DiGraph``
with an edge from every input (a base table or an earlier node) to the node built from it.
The graph knows nothing of SQL dialects: each node holds the operation's sqlglot AST, which
refers to its inputs by name, and the dialect compiles a node and its ancestors into one
``WITH`` statement.

>>> import sqlglot
>>> g = PlanGraph()
>>> body = sqlglot.parse_one("SELECT name FROM singer")
>>> node = g.add(g.new_node("perform_projection", ("singer", "name"), ("singer",), body,
...                          (Column("name", "TEXT"),)))
>>> node.id, g.newest.id, sorted(g.graph.predecessors("T_0"))
('T_0', 'T_0', ['table:singer'])
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

import networkx as nx
from sqlglot import exp

from querygym.errors import PlanError
from querygym.schema import Column, find_named

NODE_ID = re.compile(r"^T_(\d+)$", re.I)


@dataclass(frozen=True)
class PlanNode:
    """One intermediate table.

    ``expression`` is the body of the CTE; ``schema`` its output columns.  ``ordering`` is the
    row order the node guarantees, written over its own output columns, when it can be;
    ``ordered`` is true when the body itself ends in an ORDER BY (the compiled statement then
    uses the body as its main query so the order reaches the caller).
    """

    id: str
    operation: str
    params: tuple[Any, ...]
    inputs: tuple[str, ...]
    expression: exp.Query = field(compare=False, repr=False)
    schema: tuple[Column, ...]
    ordered: bool = False
    ordering: tuple[exp.Ordered, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def index(self) -> int:
        """The number in the node's id (3 for ``T_3``)."""
        return int(self.id[2:])

    @property
    def column_names(self) -> tuple[str, ...]:
        """The names of the node's columns, in order."""
        return tuple(c.name for c in self.schema)

    def column(self, name: str) -> Column | None:
        """The node's column called ``name``, or None."""
        return find_named(self.schema, name)


class PlanGraph:
    """The growing plan of one episode."""

    def __init__(self) -> None:
        self.graph = nx.DiGraph()
        self._nodes: list[PlanNode] = []
        #: each added node's lineage (ids of the nodes it depends on), so a step never walks the plan
        self._lineage: dict[str, frozenset[str]] = {}
        #: each added node's lineage as node numbers in order, made when first asked for
        self._order: dict[str, tuple[int, ...]] = {}
        self._by_id: dict[str, PlanNode] = {}  # exact ids: most lookups, without the pattern
        #: the lineage order of the last node asked about that is not (yet) in the plan: a step
        #: asks about its new node several times before adding it
        self._pending: tuple[PlanNode, tuple[int, ...]] | None = None
        #: what dialects rendered of this plan's nodes, by (dialect, node id, ...): (node, text).
        #: It lives and dies with the plan, so a new episode starts with an empty cache.
        self.rendered: dict[tuple, tuple[PlanNode, str]] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self):
        return iter(self._nodes)

    def __contains__(self, node_id: object) -> bool:
        return isinstance(node_id, str) and self.get(node_id) is not None

    @property
    def next_id(self) -> str:
        """The id the next added node gets (``T_<n>``)."""
        return f"T_{len(self._nodes)}"

    @property
    def newest(self) -> PlanNode | None:
        """The node added last, or None when the plan is empty."""
        return self._nodes[-1] if self._nodes else None

    @property
    def ids(self) -> tuple[str, ...]:
        """The ids of the nodes, oldest first."""
        return tuple(n.id for n in self._nodes)

    def get(self, node_id: str) -> PlanNode | None:
        """The node with id ``node_id`` (like ``T_2``), or None when there is none."""
        found = self._by_id.get(node_id)
        if found is not None:
            return found
        m = NODE_ID.match(node_id.strip())
        if not m:
            return None
        i = int(m.group(1))
        return self._nodes[i] if i < len(self._nodes) else None

    def node(self, node_id: str) -> PlanNode:
        """The node with id ``node_id``; an unknown id raises :class:`~querygym.errors.PlanError` naming
        the existing ones.
        """
        found = self.get(node_id)
        if found is None:
            existing = ", ".join(self.ids) or "none yet"
            raise PlanError(f"Unknown intermediate table {node_id!r}. Existing: {existing}.")
        return found

    def new_node(self, operation: str, params: tuple[Any, ...], inputs: Iterable[str],
                 expression: exp.Query, schema: tuple[Column, ...], *, ordered: bool = False,
                 ordering: tuple[exp.Ordered, ...] | None = None) -> PlanNode:
        """A node with the next free id, not yet added (so a failing operation changes nothing)."""
        return PlanNode(self.next_id, operation, tuple(params), tuple(inputs), expression, schema,
                        ordered, ordering)

    def add(self, node: PlanNode) -> PlanNode:
        """Append ``node`` (which must carry :attr:`next_id`) and link it to its inputs; returns it."""
        if node.id != self.next_id:
            raise PlanError(f"node {node.id} cannot be added: the next id is {self.next_id}")
        self._nodes.append(node)
        self._by_id[node.id] = node
        self._lineage[node.id] = self._lineage_ids(node)
        if self._pending is not None and self._pending[0] is node:
            self._order[node.id] = self._pending[1]
        self._pending = None
        self.graph.add_node(node.id, kind="cte", node=node)
        for source in node.inputs:
            if self.get(source) is None:
                self.graph.add_node(f"table:{source}", kind="table", name=source)
                self.graph.add_edge(f"table:{source}", node.id)
            else:
                self.graph.add_edge(source, node.id)
        return node

    def lineage(self, node: PlanNode) -> list[PlanNode]:
        """The intermediate tables ``node`` depends on, oldest first (``node`` excluded)."""
        if self.get(node.id) is node:
            order = self._order.get(node.id)
            if order is None:
                order = self._order[node.id] = tuple(sorted(int(n[2:]) for n in self._lineage[node.id]))
        elif self._pending is not None and self._pending[0] is node:
            order = self._pending[1]
        else:
            order = tuple(sorted(int(n[2:]) for n in self._lineage_ids(node)))
            self._pending = (node, order)
        return [self._nodes[i] for i in order]

    def _lineage_ids(self, node: PlanNode) -> frozenset[str]:
        needed: set[str] = set()
        for source in node.inputs:
            dep = self.get(source)
            if dep is not None and dep.id not in needed:
                needed.add(dep.id)
                needed |= self._lineage[dep.id]
        return frozenset(needed)

    def copy(self) -> "PlanGraph":
        """A new plan with the same nodes, sharing them (nodes are immutable) but not the render cache."""
        other = PlanGraph()
        for n in self._nodes:
            other.add(n)
        return other
