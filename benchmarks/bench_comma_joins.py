"""How long the oracle takes over comma-join SQL (GeoQuery, ATIS, Scholar style).

Builds a BIRD-format dataset of comma-join questions in a temporary folder — over the built-in
database and Spider dev's ``flight_2`` (whose ``airports`` has 100 rows) and ``world_1`` — and
times ``querygym run --agent oracle`` over it in a fresh process, run from this checkout so its
``querygym/`` is the one measured.  Prints the wall time, the episodes solved, the time-outs and
the episodes stopped at a failed step.

    python benchmarks/bench_comma_joins.py [--timeout 5] [--repeat 2] [--checkout DIR]

``--checkout`` runs another copy of the package to compare with, e.g. an older commit exported by
``git archive 6fb34f8 querygym | tar -x -C /tmp/old``.  Each
four-way self join of ``airports`` is a cross product of 10^8 rows when its WHERE equalities are
left to a filter after a CROSS JOIN.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import querygym

ROOT = Path(__file__).resolve().parents[1]
SPIDER = ROOT.parent / "shared" / "data" / "spider_dev" / "database"

SELF_JOIN = ("SELECT DISTINCT A3.AirportName FROM airports AS A3, airports AS A0, airports AS A2, airports AS A1 "
             "WHERE A0.AirportCode = '{code}' AND A0.City = A1.City AND A1.Country = A2.Country "
             "AND A2.City = A3.City AND A2.AirportCode = A1.AirportCode")

QUESTIONS = [
    ("builtin", "SELECT CUSTOMERSalias0.name FROM customers AS CUSTOMERSalias0, regions AS REGIONSalias0 "
                "WHERE REGIONSalias0.country = 'Spain' AND CUSTOMERSalias0.region_id = REGIONSalias0.region_id"),
    ("builtin", "SELECT DISTINCT PRODUCTSalias0.product_name FROM customers AS CUSTOMERSalias0, order_items AS "
                "ORDER_ITEMSalias0, orders AS ORDERSalias0, products AS PRODUCTSalias0 WHERE "
                "CUSTOMERSalias0.segment = 'SMB' AND ORDERSalias0.customer_id = CUSTOMERSalias0.customer_id AND "
                "ORDER_ITEMSalias0.order_id = ORDERSalias0.order_id AND PRODUCTSalias0.product_id = "
                "ORDER_ITEMSalias0.product_id"),
    ("builtin", "SELECT REGIONSalias0.region_name FROM regions AS REGIONSalias0 WHERE REGIONSalias0.region_id IN "
                "(SELECT CUSTOMERSalias0.region_id FROM customers AS CUSTOMERSalias0, orders AS ORDERSalias0 "
                "WHERE ORDERSalias0.customer_id = CUSTOMERSalias0.customer_id AND ORDERSalias0.order_id IN "
                "(SELECT PAYMENTSalias0.order_id FROM payments AS PAYMENTSalias0, orders AS ORDERSalias1 WHERE "
                "ORDERSalias1.order_id = PAYMENTSalias0.order_id AND PAYMENTSalias0.method = 'wire'))"),
    ("builtin", "SELECT EMPLOYEESalias0.first_name FROM employees AS EMPLOYEESalias0 WHERE "
                "EMPLOYEESalias0.employee_id NOT IN (SELECT ORDERSalias0.employee_id FROM orders AS ORDERSalias0, "
                "customers AS CUSTOMERSalias0 WHERE CUSTOMERSalias0.customer_id = ORDERSalias0.customer_id AND "
                "CUSTOMERSalias0.segment = 'SMB' AND ORDERSalias0.employee_id IS NOT NULL)"),
    ("builtin", "SELECT COUNT(DISTINCT ORDERSalias0.order_id), CUSTOMERSalias0.name FROM customers AS "
                "CUSTOMERSalias0, order_items AS ORDER_ITEMSalias0, orders AS ORDERSalias0, products AS "
                "PRODUCTSalias0 WHERE PRODUCTSalias0.category = 'Software' AND ORDER_ITEMSalias0.product_id = "
                "PRODUCTSalias0.product_id AND ORDERSalias0.order_id = ORDER_ITEMSalias0.order_id AND "
                "CUSTOMERSalias0.customer_id = ORDERSalias0.customer_id GROUP BY CUSTOMERSalias0.name "
                "ORDER BY COUNT(DISTINCT ORDERSalias0.order_id) DESC, CUSTOMERSalias0.name LIMIT 5"),
    ("world_1", "SELECT CITYalias0.Name FROM city AS CITYalias0 WHERE CITYalias0.Population = (SELECT "
                "MAX(CITYalias1.Population) FROM city AS CITYalias1, country AS COUNTRYalias0 WHERE "
                "COUNTRYalias0.Code = CITYalias1.CountryCode AND COUNTRYalias0.Continent = 'Europe')"),
    ("world_1", "SELECT COUNTRYalias0.Name FROM country AS COUNTRYalias0, countrylanguage AS COUNTRYLANGUAGEalias0, "
                "city AS CITYalias0 WHERE COUNTRYLANGUAGEalias0.Language = 'Dutch' AND "
                "COUNTRYLANGUAGEalias0.CountryCode = COUNTRYalias0.Code AND CITYalias0.ID = COUNTRYalias0.Capital"),
] + [("flight_2", SELF_JOIN.format(code=code)) for code in ("APG", "ABR", "DYS", "ABI")]


def database(db_id: str) -> Path:
    return Path(querygym.builtin_database()) if db_id == "builtin" else SPIDER / db_id / f"{db_id}.sqlite"


def build(root: Path) -> Path:
    records = []
    for n, (db_id, sql) in enumerate(QUESTIONS):
        if not database(db_id).is_file():
            continue
        folder = root / "db" / db_id
        if not folder.is_dir():
            folder.mkdir(parents=True)
            (folder / f"{db_id}.sqlite").symlink_to(database(db_id))
        records.append({"question_id": n, "db_id": db_id, "question": f"comma join {n}", "SQL": sql,
                        "evidence": "", "difficulty": "moderate"})
    questions = root / "questions.json"
    questions.write_text(json.dumps(records, indent=1), encoding="utf-8")
    return questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=5.0, help="time limit per query (querygym run's default)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--checkout", type=Path, default=ROOT, help="folder holding the querygym/ to run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        questions = build(root)
        n = len(json.loads(questions.read_text()))
        for r in range(args.repeat):
            out = root / f"run{r}"
            command = [sys.executable, "-m", "querygym", "run", "--agent", "oracle", "--bird", str(questions),
                       "--db-root", str(root / "db"), "--timeout", str(args.timeout), "--out", str(out),
                       "--quiet"]
            t0 = time.perf_counter()
            subprocess.run(command, cwd=args.checkout, check=False, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            elapsed = time.perf_counter() - t0
            summary = json.loads((out / "summary.json").read_text())
            steps = [json.loads(line) for line in (out / "trajectories.jsonl").read_text().splitlines()]
            timeouts = sum((s.get("error") or {}).get("type") == "timeout" for s in steps)
            print(f"{n} questions: {elapsed:.1f} s wall, solved {summary['solved']}/{summary['episodes']}, "
                  f"{len(steps)} steps, {timeouts} time-outs, "
                  f"{len(summary.get('failed_steps') or {})} stopped at a failed step")


if __name__ == "__main__":
    main()
