"""``querygym load-db``: copy SQLite databases into PostgreSQL or DuckDB."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from querygym.dialects import get, load_database
from querygym.errors import QueryGymError
from querygym.util import cache_dir


def register(subparsers) -> None:
    """Add ``querygym load-db`` to the command line."""
    p = subparsers.add_parser(
        "load-db", help="copy SQLite databases into PostgreSQL or DuckDB",
        description="Copy SQLite databases (schema and rows, with querygym's documented type mapping) into "
                    "PostgreSQL schemas or DuckDB files, once: a database already copied from the same file is "
                    "skipped.  Without --url, PostgreSQL copies go to querygym's private server in DIR "
                    "(QUERYGYM_POSTGRES_DATA, default <cache>/postgres), which later runs reuse when "
                    "QUERYGYM_POSTGRES_DATA names the same folder.")
    p.add_argument("--to", required=True, metavar="ENGINE", help="postgres or duckdb (any dialect that can load)")
    p.add_argument("sources", nargs="+", metavar="SQLITE_FILE", help="SQLite database files")
    p.add_argument("--url", help="PostgreSQL server to load into (default: querygym's private server)")
    p.add_argument("--schema", help="PostgreSQL schema name (one source only; default: the file's stem)")
    p.add_argument("--out", metavar="PATH", help="DuckDB file (one source) or folder (default: querygym's cache)")
    p.add_argument("--replace", action="store_true", help="copy again even when an up-to-date copy exists")
    p.add_argument("--json", action="store_true", help="print one JSON object per database")
    p.set_defaults(func=run_load)


def run_load(args) -> int:
    """Copy each SQLite file into the engine named by ``--to``, skipping up-to-date copies."""
    dialect = get(args.to)
    if args.schema and len(args.sources) > 1:
        raise QueryGymError("--schema names one PostgreSQL schema: give one SQLite file with it")
    if args.out and len(args.sources) > 1 and Path(args.out).suffix == ".duckdb":
        raise QueryGymError("--out FILE.duckdb takes one SQLite file; give a folder for several")
    options = {"replace": args.replace}
    if args.url:
        options["url"] = args.url
    if args.schema:
        options["schema"] = args.schema
    if args.out:
        options["out"] = args.out
    if args.to == "postgres" and not args.url and not os.environ.get("QUERYGYM_POSTGRES_URL"):
        # A private server in a temporary folder would vanish with this process: keep it.
        os.environ.setdefault("QUERYGYM_POSTGRES_DATA", str(cache_dir() / "postgres"))
        print(f"private PostgreSQL server in {os.environ['QUERYGYM_POSTGRES_DATA']} (set QUERYGYM_POSTGRES_DATA "
              f"to it to reuse these copies)", file=sys.stderr)
    for source in args.sources:
        loaded = load_database(source, dialect.name, **options)
        if args.json:
            print(json.dumps(loaded.to_dict(), default=str))
        else:
            state = f"copied {loaded.tables} table(s), {loaded.rows} row(s) in {loaded.seconds:.2f} s" \
                if loaded.loaded else "already up to date"
            print(f"{source} -> {loaded.location}: {state}; open with {loaded.target}")
    return 0
