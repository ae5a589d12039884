"""Documentation corpora: business definitions and policies as searchable documents.

A corpus is a folder of Markdown files, each starting with front matter that names its id and
title::

    ---
    id: active-customer
    title: Active customer
    ---
    A customer is active when ...

A document may declare machine-checkable policies in fenced blocks whose language is
``policy`` (YAML with ``id``, ``description``, ``when_tables``, ``when_operations``,
``require_columns``; see :class:`Policy`).  Search ranks documents with SQLite FTS5's bm25
over titles and texts (title matches weigh more), in an in-memory database built once per corpus.

>>> corpus = Corpus([Document("net-revenue", "Net revenue", "Revenue after refunds and discounts."),
...                  Document("regions", "Regions", "Region codes and names.")])
>>> [hit.document.id for hit in corpus.search("how are refunds treated in revenue")]
['net-revenue']
"""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import yaml

from querygym.errors import DatasetError

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_POLICY_BLOCK = re.compile(r"```policy\s*\n(.*?)```", re.S)
_POLICY_KEYS = {"id", "description", "when_tables", "when_operations", "require_columns"}
_WORD = re.compile(r"[A-Za-z0-9_]+")
_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from has have how in is it its many much of on or per that the "
    "their there these this to was were what when which who with give list show me our we".split())


@dataclass(frozen=True)
class Policy:
    """A rule a plan must follow.

    A plan violates it when its lineage reads one of ``when_tables``, contains one of
    ``when_operations`` (any operation when empty), and some column of ``require_columns``
    (``table.column``) is mentioned by no filter, join or HAVING condition in the lineage
    while its table is read there.
    """

    id: str
    description: str
    when_tables: tuple[str, ...]
    when_operations: tuple[str, ...] = ()
    require_columns: tuple[str, ...] = ()
    document_id: str = ""


@dataclass(frozen=True)
class Document:
    """One document of a corpus: its id, title, Markdown text, declared policies and the file it came from."""
    id: str
    title: str
    text: str
    policies: tuple[Policy, ...] = ()
    path: str | None = None


@dataclass(frozen=True)
class SearchHit:
    """A document found by :meth:`Corpus.search`, with its bm25 score (higher is better) and a snippet."""
    document: Document
    score: float
    snippet: str


class Corpus:
    """Documents by id, with bm25 search."""

    def __init__(self, documents: Iterable[Document] = ()):
        self.documents: dict[str, Document] = {}
        for doc in documents:
            if doc.id in self.documents:
                raise DatasetError(f"two documents have the id {doc.id!r}")
            self.documents[doc.id] = doc
        self._index: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.documents)

    def __iter__(self) -> Iterator[Document]:
        return iter(self.documents.values())

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.documents

    def get(self, doc_id: str) -> Document | None:
        """The document with id ``doc_id``, or None."""
        return self.documents.get(doc_id)

    def with_documents(self, extra: Iterable[Document]) -> "Corpus":
        """A new corpus with this one's documents and ``extra``; a repeated id raises."""
        return Corpus(list(self.documents.values()) + list(extra))

    @property
    def policies(self) -> tuple[Policy, ...]:
        """The policies every document declares, in document order."""
        return tuple(p for d in self.documents.values() for p in d.policies)

    def __getstate__(self):
        return {"documents": self.documents}

    def __setstate__(self, state):
        self.documents = state["documents"]
        self._index = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ search
    def _build(self) -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        conn.execute("CREATE VIRTUAL TABLE docs USING fts5(doc_id UNINDEXED, title, body, tokenize='porter')")
        conn.executemany("INSERT INTO docs VALUES (?, ?, ?)",
                         [(d.id, d.title + " " + d.id.replace("-", " "), d.text) for d in self.documents.values()])
        return conn

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """The ``k`` best documents for ``query`` (any words; no query syntax), best first."""
        terms = [w.lower() for w in _WORD.findall(query or "") if w.lower() not in _STOPWORDS]
        if not terms or not self.documents:
            return []
        match = " OR ".join(f'"{t}"' for t in dict.fromkeys(terms))
        with self._lock:
            if self._index is None:
                self._index = self._build()
            rows = self._index.execute(
                "SELECT doc_id, bm25(docs, 0.0, 3.0, 1.0) AS score, snippet(docs, 2, '', '', ' … ', 16) "
                "FROM docs WHERE docs MATCH ? ORDER BY score, doc_id LIMIT ?", (match, k)).fetchall()
        return [SearchHit(self.documents[d], -score, " ".join(snip.split())) for d, score, snip in rows]


# ---------------------------------------------------------------------- loading
def parse_document(text: str, *, source: str = "", default_id: str | None = None) -> Document:
    """A document from Markdown ``text`` with front matter; ``source`` names the file in errors and
    ``default_id`` serves when the front matter gives no id.

    >>> parse_document("---\\nid: regions\\ntitle: Regions\\n---\\nRegion codes.").title
    'Regions'
    """
    m = _FRONT_MATTER.match(text)
    meta: dict = {}
    body = text
    if m:
        try:
            meta = yaml.safe_load(m.group(1)) or {}
        except yaml.YAMLError as exc:
            raise DatasetError(f"{source}: front matter is not YAML ({exc})") from None
        body = text[m.end():]
    doc_id = str(meta.get("id") or default_id or "")
    if not doc_id:
        raise DatasetError(f"{source}: a document needs an id in its front matter (---\\nid: ...\\ntitle: ...\\n---)")
    title = str(meta.get("title") or doc_id)
    policies = []
    for block in _POLICY_BLOCK.findall(body):
        try:
            data = yaml.safe_load(block)
        except yaml.YAMLError as exc:
            raise DatasetError(f"{source}: a policy block is not YAML ({exc})") from None
        if not isinstance(data, dict) or "id" not in data or "when_tables" not in data:
            raise DatasetError(f"{source}: a policy block needs at least id and when_tables")
        unknown = set(data) - _POLICY_KEYS
        if unknown:
            raise DatasetError(f"{source}: unknown policy key(s) {sorted(unknown)}; allowed: {sorted(_POLICY_KEYS)}")
        policies.append(Policy(str(data["id"]), str(data.get("description", "")),
                               tuple(map(str, data.get("when_tables") or ())),
                               tuple(map(str, data.get("when_operations") or ())),
                               tuple(map(str, data.get("require_columns") or ())), doc_id))
    return Document(doc_id, title, body.strip(), tuple(policies), source or None)


def load_corpus(folder: str | Path) -> Corpus:
    """Every ``*.md`` file of ``folder`` as a document."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: documentation folder not found")
    docs = [parse_document(p.read_text(encoding="utf-8"), source=str(p), default_id=p.stem)
            for p in sorted(folder.glob("*.md"))]
    return Corpus(docs)


def evidence_document(task_id, evidence: str) -> Document:
    """BIRD's per-question evidence as a document of its own."""
    return Document(f"evidence-{task_id}", f"Evidence for question {task_id}", evidence)


# ---------------------------------------------------------------------- policies on plans
def _lineage_tables_and_operations(plan, node) -> tuple[frozenset[str], frozenset[str]]:
    """The base tables (lower case) and operations of ``node`` and every node it depends on."""
    tables, operations, _ = _plan_facts(plan, node)
    return tables, operations


def _plan_facts(plan, node) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(base tables, operations, columns its conditions mention) of ``node`` with its lineage: its own
    joined with its inputs' (kept in the plan's cache), so a step never walks the whole plan."""
    cache = getattr(plan, "rendered", {})
    hit = cache.get(("facts", node.id))
    if hit is not None and hit[0] is node:
        return hit[1]
    for n in [*plan.lineage(node), node]:  # oldest first: each node's inputs are done before it
        known = cache.get(("facts", n.id))
        if known is not None and known[0] is n:
            continue
        tables = {i.lower() for i in n.inputs if plan.get(i) is None}
        operations = {n.operation}
        mentioned = set(_conditioned_columns(plan, n))
        for name in n.inputs:
            dep = plan.get(name)
            if dep is not None:
                t, o, m = cache[("facts", dep.id)][1]
                tables |= t
                operations |= o
                mentioned |= m
        cache[("facts", n.id)] = (n, (frozenset(tables), frozenset(operations), frozenset(mentioned)))
    return cache[("facts", node.id)][1]


def _applies(policy: Policy, tables: set[str], operations: set[str]) -> bool:
    if not tables & {t.lower() for t in policy.when_tables}:
        return False
    return not policy.when_operations or bool(operations & set(policy.when_operations))


def policies_apply(policies: Iterable[Policy], plan, node) -> bool:
    """Whether any of ``policies`` concerns ``node``'s plan (its base tables and operations)."""
    tables, operations = _lineage_tables_and_operations(plan, node)
    return any(_applies(policy, tables, operations) for policy in policies)


def _conditioned_columns(plan, node) -> frozenset[str]:
    """The (lower-case) names of the columns ``node``'s own conditions (WHERE, HAVING, ON) mention,
    found once per node and kept in the plan's cache: nodes are immutable."""
    from sqlglot import exp

    cache = getattr(plan, "rendered", {})
    hit = cache.get(("conditioned", node.id))
    if hit is not None and hit[0] is node:
        return hit[1]
    names: set[str] = set()
    for part in node.expression.find_all(exp.Where, exp.Having, exp.Join):
        condition = part.args.get("on") if isinstance(part, exp.Join) else part.this
        if condition is not None:
            names |= {c.name.lower() for c in condition.find_all(exp.Column)}
    cache[("conditioned", node.id)] = (node, frozenset(names))
    return frozenset(names)


def check_policies(policies: Iterable[Policy], plan, node) -> list[dict]:
    """The policies ``node``'s lineage violates, each as ``{id, description, missing}``."""
    tables, operations, mentioned = _plan_facts(plan, node)
    violations = []
    for policy in policies:
        if not _applies(policy, tables, operations):
            continue
        missing = []
        for required in policy.require_columns:
            table, _, column = required.rpartition(".")
            if (not table or table.lower() in tables) and column.lower() in mentioned:
                continue
            missing.append(required)
        if missing:
            violations.append({"id": policy.id, "description": policy.description, "missing": missing,
                               "document": policy.document_id})
    return violations
