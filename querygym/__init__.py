"""querygym: answer questions over relational databases one explicit relational-algebra step at a time.

``import querygym`` registers the Gymnasium environment ``querygym/QueryGym-v0`` and nothing
else; every other name below loads its module on first use (a module ``__getattr__``), so
importing is cheap.

>>> import querygym
>>> [len(querygym.catalog().group(g)) for g in ("exploration", "operation", "workflow")]
[12, 8, 5]
>>> querygym.decompose("SELECT COUNT(*) FROM regions", querygym.builtin_tasks()[0]).actions
['["perform_aggregate", "regions", "", "COUNT(*)"]']
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import gymnasium as _gym

from querygym.errors import (  # noqa: F401  (public names)
    CatalogError,
    DatabaseNotFoundError,
    DatasetError,
    DecompositionError,
    EngineUnavailableError,
    EpisodeTimeoutError,
    ExecutionError,
    InvalidActionError,
    InvalidArgumentError,
    ModelEndpointError,
    PlanError,
    PredictionsError,
    QueryGymError,
    QueryTimeoutError,
    ReadOnlyViolation,
    RunAbortedError,
    SandboxError,
    StructuredQueryError,
    TaskError,
    UnknownDialectError,
    UnknownTaskError,
)

try:
    __version__ = version("querygym-ra")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

ENV_ID = "querygym/QueryGym-v0"
if ENV_ID not in _gym.registry:
    _gym.register(id=ENV_ID, entry_point="querygym.env.environment:QueryGymEnv")

#: public name -> the module that defines it
_LAZY = {
    "Action": "querygym.actions.catalog",
    "Catalog": "querygym.actions.catalog",
    "catalog": "querygym.actions.catalog",
    "load_catalog": "querygym.actions.catalog",
    "DatabaseSchema": "querygym.schema",
    "PlanGraph": "querygym.plan.graph",
    "Decomposition": "querygym.plan.decompose",
    "decompose": "querygym.plan.decompose",
    "load_database": "querygym.dialects",
    "Backend": "querygym.engine.backend",
    "TableComparison": "querygym.scoring.compare",
    "compare_tables": "querygym.scoring.compare",
    "Task": "querygym.converters.tasks",
    "TaskSet": "querygym.converters.tasks",
    "load_bird": "querygym.converters",
    "load_tasks": "querygym.converters",
    "write_bird": "querygym.converters.writer",
    "builtin_database": "querygym.converters.builtin",
    "builtin_references": "querygym.converters.builtin",
    "builtin_tasks": "querygym.converters.builtin",
    "QueryGymEnv": "querygym.env.environment",
    "RewardConfig": "querygym.env.reward",
    "run_agent": "querygym.runs.runner",
    "analyze": "querygym.analysis",
    "synthesise_dataset": "querygym.synth",
    "load_fiben": "querygym.converters.fiben",
}
#: subpackages and modules reachable as attributes without importing them first
_SUBMODULES = {"actions", "agents", "analysis", "bench", "cli", "converters", "dialects", "engine", "env", "integrations",
               "plan", "runs", "schema", "scoring", "synth", "util"}

__all__ = sorted([
    "CatalogError", "DatabaseNotFoundError", "DatasetError", "DecompositionError", "EngineUnavailableError", "EpisodeTimeoutError", "ENV_ID", "ExecutionError",
    "InvalidActionError", "InvalidArgumentError", "ModelEndpointError", "PlanError", "PredictionsError",
    "QueryGymError",
    "QueryTimeoutError", "ReadOnlyViolation", "RunAbortedError", "SandboxError", "StructuredQueryError", "TaskError",
    "UnknownDialectError", "UnknownTaskError", "__version__", *_LAZY, *_SUBMODULES,
])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'querygym' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs: the names __getattr__ serves
    from querygym import (  # noqa: F401
        actions,
        agents,
        analysis,
        bench,
        cli,
        converters,
        dialects,
        engine,
        env,
        integrations,
        plan,
        runs,
        schema,
        scoring,
        synth,
        util,
    )
    from querygym.actions.catalog import Action, Catalog, catalog, load_catalog  # noqa: F401
    from querygym.analysis import analyze  # noqa: F401
    from querygym.converters import load_bird, load_tasks  # noqa: F401
    from querygym.converters.builtin import (  # noqa: F401
        builtin_database,
        builtin_references,
        builtin_tasks,
    )
    from querygym.converters.fiben import load_fiben  # noqa: F401
    from querygym.converters.tasks import Task, TaskSet  # noqa: F401
    from querygym.converters.writer import write_bird  # noqa: F401
    from querygym.dialects import load_database  # noqa: F401
    from querygym.engine.backend import Backend  # noqa: F401
    from querygym.env.environment import QueryGymEnv  # noqa: F401
    from querygym.env.reward import RewardConfig  # noqa: F401
    from querygym.plan.decompose import Decomposition, decompose  # noqa: F401
    from querygym.plan.graph import PlanGraph  # noqa: F401
    from querygym.runs.runner import run_agent  # noqa: F401
    from querygym.schema import DatabaseSchema  # noqa: F401
    from querygym.scoring.compare import TableComparison, compare_tables  # noqa: F401
    from querygym.synth import synthesise_dataset  # noqa: F401
