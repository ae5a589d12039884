"""Shared fixtures: a real PostgreSQL server for the session, the engines, and gap markers.

``postgres_url`` starts querygym's private PostgreSQL server (pgserver) once per session and
stops it at the end; set ``QUERYGYM_TEST_POSTGRES_URL`` to test against a server of your own
instead.  Without the ``postgres`` extra the PostgreSQL tests are skipped with the reason,
except under CI (``CI`` set), where a missing server is a failure.

``engine`` is parametrised over every engine (``ENGINES``); a test marks what one engine
cannot do with ``@pytest.mark.notimpl([...], reason=...)`` (querygym could but does not yet),
``notyet`` (the engine may some day) or ``never`` (a semantic difference the engine keeps),
which become strict xfails for those engines only.

DuckDB copies of SQLite databases go to a temporary cache for the session
(``QUERYGYM_CACHE``), so tests never depend on, or fill, the user's cache.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

# an installable example package, imported only where it is installed (test_engines_plugin)
collect_ignore = ["plugin_example"]

ENGINES = ("sqlite", "postgres", "duckdb")
GAP_MARKERS = {
    "notimpl": "querygym does not implement this on the engine yet",
    "notyet": "the engine does not support this yet",
    "never": "a semantic difference the engine keeps",
}


def pytest_configure(config):
    for name, meaning in GAP_MARKERS.items():
        config.addinivalue_line("markers", f"{name}(engines, reason): {meaning}; strict xfail on those engines")


def pytest_collection_modifyitems(config, items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        engine = callspec.params.get("engine") if callspec else None
        if engine is None:
            continue
        for kind in GAP_MARKERS:
            for mark in item.iter_markers(kind):
                engines = mark.args[0] if mark.args else mark.kwargs["engines"]
                if engine in engines:
                    item.add_marker(pytest.mark.xfail(strict=True, raises=mark.kwargs.get("raises"),
                                                      reason=f"{kind}: {mark.kwargs.get('reason', '')}"))


def _missing(*modules: str) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"CI must test every engine: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _engine_cache(tmp_path_factory):
    old = os.environ.get("QUERYGYM_CACHE")
    os.environ["QUERYGYM_CACHE"] = str(tmp_path_factory.mktemp("querygym-cache"))
    yield
    if old is None:
        os.environ.pop("QUERYGYM_CACHE", None)
    else:
        os.environ["QUERYGYM_CACHE"] = old


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of a real PostgreSQL server that SQLite databases are copied into for the session."""
    missing = _missing("psycopg", "sqlalchemy.dialects.postgresql")
    if missing:
        _unavailable(f"PostgreSQL tests need the postgres extra (missing: {', '.join(missing)})")
    from querygym.dialects.postgres import PostgresDialect, embedded_server, stop_embedded_server

    given = os.environ.get("QUERYGYM_TEST_POSTGRES_URL")
    if given:
        previous, PostgresDialect.server_url = PostgresDialect.server_url, given
        yield given
        PostgresDialect.server_url = previous
        return
    if _missing("pgserver"):
        _unavailable("PostgreSQL tests need pgserver (the postgres extra) or QUERYGYM_TEST_POSTGRES_URL")
    server = embedded_server()
    yield server.url
    stop_embedded_server()


@pytest.fixture(scope="session")
def duckdb_available() -> bool:
    missing = _missing("duckdb", "duckdb_engine")
    if missing:
        _unavailable(f"DuckDB tests need the duckdb extra (missing: {', '.join(missing)})")
    return True


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    """Each engine's dialect name in turn, with its server or driver ready."""
    name = request.param
    if name == "postgres":
        request.getfixturevalue("postgres_url")
    elif name == "duckdb":
        request.getfixturevalue("duckdb_available")
    return name
