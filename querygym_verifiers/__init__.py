"""The verifiers plugin module of querygym: verifiers finds tasksets by an installed top-level
module's name, so ``vf-eval querygym_verifiers`` and ``taskset={"id": "querygym_verifiers"}``
load :mod:`querygym.integrations.verifiers` through this module."""

from querygym.integrations.verifiers import (
    QueryGymData,
    QueryGymEnvConfig,
    QueryGymTask,
    QueryGymTaskset,
    QueryGymTasksetConfig,
    QueryGymVerifiersEnv,
    load_environment,
)

__all__ = ["QueryGymData", "QueryGymEnvConfig", "QueryGymTask", "QueryGymTaskset", "QueryGymTasksetConfig",
           "QueryGymVerifiersEnv", "load_environment"]
