"""One hierarchy for the programmer's mistakes.

The agent's mistakes never raise: they become error observations.  Everything
a caller of the library can get wrong raises a subclass of :class:`QueryGymError`
that also subclasses the matching builtin, so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class QueryGymError(Exception):
    """Base class of every exception querygym raises on purpose."""


class CatalogError(ValueError, QueryGymError):
    """The action catalog (``actions.yaml``) is malformed or inconsistent with the code."""


class InvalidActionError(ValueError, QueryGymError):
    """An action could not be parsed or validated.

    Inside the environment this never escapes: it becomes an error observation.
    It is raised only by library functions called directly with a bad action.
    """

    def __init__(self, message: str, *, expected: str | None = None):
        super().__init__(message)
        self.expected = expected


class PlanError(ValueError, QueryGymError):
    """An operation's parameters do not fit its input tables (missing column, unknown table, ...)."""


class ExecutionError(RuntimeError, QueryGymError):
    """The database engine rejected or failed a query."""


class QueryTimeoutError(TimeoutError, ExecutionError):
    """A query ran past its time limit and was stopped."""


class ReadOnlyViolation(PermissionError, QueryGymError):
    """Something tried to write to a database, attach a file or load an extension."""


class UnknownDialectError(LookupError, QueryGymError):
    """No dialect is registered under the requested name."""


class DatasetError(ValueError, QueryGymError):
    """A dataset file is not in the format it claims, or refers to something missing."""


class TaskError(RuntimeError, QueryGymError):
    """A task cannot be played: its gold SQL fails or its database is missing."""

    def __init__(self, task_id: object, reason: str):
        super().__init__(f"task {task_id!r}: {reason}")
        self.task_id = task_id
        self.reason = reason


class UnknownTaskError(KeyError, QueryGymError):
    """No task with the requested id exists in the task set."""

    def __str__(self) -> str:  # KeyError would print the repr of the whole message
        return str(self.args[0]) if self.args else ""


class InvalidArgumentError(ValueError, QueryGymError):
    """A library function was called with an argument it cannot accept."""


class DatabaseNotFoundError(FileNotFoundError, QueryGymError):
    """A database file or URL points at nothing."""


class ModelEndpointError(ConnectionError, QueryGymError):
    """A language model's chat-completions endpoint refused a request, or kept failing past its retries."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 0):
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class EngineUnavailableError(ConnectionError, QueryGymError):
    """The database engine cannot be reached, or the connection to it was lost.

    An infrastructure failure, not the agent's mistake: it is never turned into an observation,
    and a run records the episode as an error to play again rather than as played.
    """


class EpisodeTimeoutError(TimeoutError, QueryGymError):
    """An episode ran past the time limit of the whole episode (a run's ``episode_timeout_s``)."""


class RunAbortedError(RuntimeError, QueryGymError):
    """A run stopped because its configuration or infrastructure cannot work (an endpoint down,
    an engine lost); the episodes it finished are kept and rerunning plays the rest."""


class DecompositionError(ValueError, QueryGymError):
    """A construct of a query has no expression in the catalog's operations."""

    def __init__(self, construct: str, reason: str):
        super().__init__(f"{construct}: {reason}")
        self.construct = construct
        self.reason = reason


class StructuredQueryError(ValueError, QueryGymError):
    """A structured query (WikiSQL's ``sel``/``agg``/``conds``) that cannot be rendered."""


class SandboxError(RuntimeError, QueryGymError):
    """A sandbox could not be made: the server refused, or the task's setup SQL failed."""


class PredictionsError(ValueError, QueryGymError):
    """A predictions file cannot be read, or does not line up with the questions it is scored against."""


class UndecodableText(ValueError, QueryGymError):
    """A text value of ``column`` is not valid UTF-8 (internal to loading a SQLite file into another
    engine: the loader catches it and copies the column as bytes instead)."""

    def __init__(self, table: str, column: str):
        super().__init__(f"{table}.{column}: text that is not UTF-8")
        self.table = table
        self.column = column
