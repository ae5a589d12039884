"""querygym: answer questions over relational databases one explicit relational-algebra step at a time.

>>> import querygym
>>> [len(querygym.catalog().group(g)) for g in ("exploration", "operation", "workflow")]
[12, 8, 5]
"""

from __future__ import annotations

import gymnasium as _gym

from querygym.catalog import Action, Catalog, catalog, load_catalog
from querygym.compare import TableComparison, compare_tables
from querygym.converters import load_bird, load_tasks
from querygym.errors import (
    CatalogError,
    DatabaseNotFoundError,
    DatasetError,
    ExecutionError,
    InvalidActionError,
    InvalidArgumentError,
    PlanError,
    QueryGymError,
    QueryTimeoutError,
    ReadOnlyViolation,
    TaskError,
    UnknownDialectError,
    UnknownTaskError,
)
from querygym.reward import RewardConfig
from querygym.tasks import Task, TaskSet, builtin_database, builtin_references, builtin_tasks

__version__ = "0.1.0"


ENV_ID = "querygym/QueryGym-v0"
if ENV_ID not in _gym.registry:
    _gym.register(id=ENV_ID, entry_point="querygym.env:QueryGymEnv")

__all__ = [
    "Action", "Catalog", "CatalogError", "DatabaseNotFoundError", "DatasetError", "ENV_ID", "ExecutionError",
    "InvalidActionError", "InvalidArgumentError", "PlanError", "QueryGymError", "QueryTimeoutError",
    "ReadOnlyViolation", "RewardConfig", "TableComparison", "Task", "TaskError", "TaskSet", "UnknownDialectError", "UnknownTaskError",
    "builtin_database", "builtin_references", "builtin_tasks", "catalog", "compare_tables", "load_bird",
    "load_catalog", "load_tasks",
]
