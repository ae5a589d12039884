"""``querygym load-db`` (copy SQLite databases into PostgreSQL or DuckDB) and
``querygym bench engines`` (one plan on every engine: agreement, causes, step times)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from querygym.commands.common import bench_parsers, dataset_args
from querygym.errors import QueryGymError


def register(subparsers) -> None:
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

    b = bench_parsers(subparsers).add_parser(
        "engines", help="replay oracle trajectories on every engine and compare the final tables",
        description="Replays each task's action script (the oracle's decomposition of its gold SQL, --scripts, "
                    "or the built-in references) on every available engine, and reports per engine pair the "
                    "share of tasks whose final tables agree, the cause of each disagreement, compile failures "
                    "and per-step times.  Writes OUT/engines.json, OUT/disagreements.jsonl, OUT/failures.json.")
    dataset_args(b)
    b.add_argument("--scripts", metavar="PATH", help="action scripts (JSON, JSONL or folder) instead of the oracle's")
    b.add_argument("--engines", default=None, help="comma-separated engines (default: every installed one)")
    b.add_argument("--timeout", type=float, default=10.0, help="time limit per query in seconds (default: 10)")
    b.add_argument("--out", required=True, metavar="DIR", help="output folder")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b.set_defaults(func=run_bench)


def run_load(args) -> int:
    from querygym.dialects import get
    from querygym.engines import cache_dir, load_database

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


def run_bench(args) -> int:
    from querygym.commands.common import load_tasks
    from querygym.crossengine import available_engines, bench_engines, format_engines_report

    tasks = load_tasks(args)
    if args.scripts:
        from querygym.runner import load_scripts

        scripts = load_scripts(args.scripts)
    elif args.bird or args.data:
        from querygym.oracle import oracle_scripts

        scripts, _ = oracle_scripts(t for t in tasks if t.playable)
    else:
        from querygym.tasks import builtin_references

        scripts = builtin_references()
    engines = args.engines.split(",") if args.engines else available_engines()
    report = bench_engines(tasks, scripts, args.out, engines=engines, timeout_s=args.timeout, progress=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(format_engines_report(report))
    print(f"wrote {Path(args.out) / 'engines.json'}")
    return 0
