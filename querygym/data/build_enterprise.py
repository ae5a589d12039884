"""Build the built-in ``enterprise`` demo database and its ``tables.json``.

The database is synthetic: a small B2B software company with regions,
employees (and their managers), customers, products, subscriptions, orders,
order lines, payments and monthly exchange rates.  Everything is drawn from
``random.Random(SEED)`` and iterated in list order, so two builds give the
same rows; the file is written with a fixed page size and then ``VACUUM``-ed
so that two builds with the same SQLite version give the same bytes.

Order currencies and the ``fx_rates`` table were added later and come from a
second generator, ``random.Random(FX_SEED)``, drawn only after everything
else: every other column keeps exactly the values it had before they existed,
so the tasks written against the older database keep their answers.

The data is deliberately a little messy, like real business data: customers
without a segment or an e-mail, employees without a manager, duplicate
customer names, order channels stored in inconsistent letter case, completed
orders without a payment, and dates stored as ISO-8601 text.

Rebuild the committed copy with::

    python -m querygym.data.build_enterprise --out querygym/data

Example:

>>> import sqlite3, tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = build(pathlib.Path(tmp) / "enterprise.sqlite")
...     con = sqlite3.connect(path)
...     n = con.execute("SELECT COUNT(*) FROM regions").fetchone()[0]
...     con.close()
>>> n
7
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import random
import sqlite3
from pathlib import Path

__all__ = ["SEED", "FX_SEED", "DB_ID", "build", "build_tables_json", "format_tables_json", "generate", "main"]

SEED = 20240611
# The second generator (order currencies, exchange rates); see the module docstring.
FX_SEED = 20240612
DB_ID = "enterprise"
PAGE_SIZE = 4096

SCHEMA = """
CREATE TABLE regions (
    region_id INTEGER NOT NULL PRIMARY KEY,
    region_code TEXT NOT NULL,
    region_name TEXT NOT NULL,
    country TEXT NOT NULL
);
CREATE TABLE employees (
    employee_id INTEGER NOT NULL PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL,
    title TEXT NOT NULL,
    department TEXT NOT NULL,
    manager_id INTEGER REFERENCES employees (employee_id),
    region_id INTEGER NOT NULL REFERENCES regions (region_id),
    hire_date TEXT NOT NULL,
    salary INTEGER NOT NULL
);
CREATE TABLE customers (
    customer_id INTEGER NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    region_id INTEGER NOT NULL REFERENCES regions (region_id),
    segment TEXT,
    signup_date TEXT NOT NULL,
    is_internal INTEGER NOT NULL DEFAULT 0,
    account_manager_id INTEGER REFERENCES employees (employee_id)
);
CREATE TABLE products (
    product_id INTEGER NOT NULL PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,
    product_name TEXT NOT NULL,
    category TEXT NOT NULL,
    list_price REAL NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE subscriptions (
    subscription_id INTEGER NOT NULL PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    plan TEXT NOT NULL,
    monthly_amount REAL NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT,
    status TEXT NOT NULL
);
CREATE TABLE orders (
    order_id INTEGER NOT NULL PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    employee_id INTEGER REFERENCES employees (employee_id),
    order_date TEXT NOT NULL,
    status TEXT NOT NULL,
    channel TEXT NOT NULL,
    currency TEXT NOT NULL
);
CREATE TABLE order_items (
    order_item_id INTEGER NOT NULL PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (order_id),
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    quantity INTEGER NOT NULL,
    unit_price REAL NOT NULL,
    discount REAL NOT NULL DEFAULT 0
);
CREATE TABLE payments (
    payment_id INTEGER NOT NULL PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (order_id),
    payment_date TEXT NOT NULL,
    amount REAL NOT NULL,
    method TEXT NOT NULL
);
CREATE TABLE fx_rates (
    currency TEXT NOT NULL,
    month TEXT NOT NULL,
    usd_rate REAL NOT NULL,
    PRIMARY KEY (currency, month)
);
"""

# --------------------------------------------------------------------------- vocabularies
# Region 7 (Oceania) deliberately has employees but no customers.
REGIONS = [
    (1, "NA-E", "North America East", "United States"),
    (2, "NA-W", "North America West", "United States"),
    (3, "EU-N", "Northern Europe", "Sweden"),
    (4, "EU-S", "Southern Europe", "Spain"),
    (5, "APAC", "Asia Pacific", "Singapore"),
    (6, "LATAM", "Latin America", "Brazil"),
    (7, "OCE", "Oceania", "Australia"),
]
CUSTOMER_REGION_WEIGHTS = [(1, 30), (2, 22), (3, 16), (4, 12), (5, 12), (6, 8)]

FIRST_NAMES = [
    "Alice", "Bruno", "Chen", "Dana", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kavya", "Liam", "Maya", "Nils", "Olga", "Pedro", "Quinn", "Rosa", "Sanjay", "Tara",
    "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe",
]
LAST_NAMES = [
    "Andersson", "Baker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hughes",
    "Ito", "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel",
    "Quispe", "Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Wong", "Yilmaz",
]

COMPANY_FIRST = [
    "Blue", "Red", "Green", "Silver", "Golden", "North", "South", "Bright", "Rapid", "Quiet",
    "Iron", "Cedar", "Maple", "Summit", "Harbor", "Prairie", "Atlas", "Nova", "Orbit", "Pioneer",
]
COMPANY_SECOND = [
    "River", "Peak", "Field", "Stone", "Bridge", "Lake", "Forge", "Wave", "Grove", "Point",
    "Ridge", "Valley", "Signal", "Harvest", "Anchor",
]
COMPANY_SUFFIX = ["Labs", "Systems", "Logistics", "Foods", "Health", "Energy", "Partners",
                  "Retail", "Analytics", "Media", "Manufacturing", "Consulting"]
FREE_MAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com"]
TLDS = [".com", ".com", ".com", ".io", ".net", ".org", ".co"]

SEGMENTS = [("Enterprise", 22), ("Mid-Market", 33), ("SMB", 45)]

# (sku, name, category, list price, active)
PRODUCTS = [
    ("SW-100", "Ledger Basic", "Software", 49.0),
    ("SW-110", "Ledger Pro", "Software", 149.0),
    ("SW-120", "Ledger Enterprise", "Software", 499.0),
    ("SW-200", "Insight Dashboards", "Software", 89.0),
    ("SW-210", "Insight Forecasting", "Software", 229.0),
    ("SW-300", "Vault Backup", "Software", 39.0),
    ("SW-310", "Vault Archive", "Software", 119.0),
    ("SW-400", "Relay Messaging", "Software", 25.0),
    ("HW-100", "Edge Gateway S", "Hardware", 640.0),
    ("HW-110", "Edge Gateway XL", "Hardware", 1450.0),
    ("HW-200", "Rack Server R2", "Hardware", 3899.0),
    ("HW-210", "Rack Server R4", "Hardware", 6250.0),
    ("HW-300", "Sensor Kit", "Hardware", 129.5),
    ("HW-310", "Thin Client T1", "Hardware", 385.0),
    ("HW-400", "Network Switch 24", "Hardware", 915.0),
    ("SV-100", "Onboarding Package", "Services", 1200.0),
    ("SV-110", "Data Migration", "Services", 2800.0),
    ("SV-200", "Premium Support (year)", "Services", 1800.0),
    ("SV-210", "Health Check", "Services", 450.0),
    ("SV-300", "Custom Integration", "Services", 5200.0),
    ("TR-100", "Admin Training (seat)", "Training", 299.0),
    ("TR-110", "Analyst Training (seat)", "Training", 349.0),
    ("TR-200", "Certification Exam", "Training", 150.0),
    ("TR-210", "Workshop Day", "Training", 990.0),
]
RETIRED_SKUS = ["SW-400", "HW-310", "TR-200"]

PLANS = [("Basic", 1.0), ("Pro", 2.4), ("Enterprise", 6.0)]
SUB_PRODUCTS = ["SW-100", "SW-200", "SW-210", "SW-300", "SW-310", "SW-400"]

ORDER_STATUSES = [("completed", 78), ("shipped", 8), ("cancelled", 9), ("refunded", 5)]
CHANNELS = [("web", 45), ("partner", 25), ("direct", 20), ("phone", 10)]
DISCOUNTS = [(0.0, 55), (0.05, 20), (0.1, 15), (0.15, 6), (0.2, 4)]
PAY_METHODS = [("card", 50), ("wire", 30), ("invoice", 20)]

# Billing currency of a customer by region (weights); an order is in its customer's billing
# currency except for a few orders paid in US dollars.
BILLING_CURRENCIES = {
    1: [("USD", 1)],
    2: [("USD", 1)],
    3: [("EUR", 60), ("GBP", 40)],
    4: [("EUR", 1)],
    5: [("SGD", 55), ("USD", 45)],
    6: [("USD", 1)],
    7: [("USD", 1)],
}
USD_EXCEPTION_RATE = 0.05
# US dollars per unit of each currency in January 2022, and the monthly drift (random walk).
FX_START = {"EUR": 1.1318, "GBP": 1.3542, "SGD": 0.7397}
FX_STEP = {"EUR": 0.012, "GBP": 0.014, "SGD": 0.004}
FX_BOUNDS = {"EUR": (0.98, 1.16), "GBP": (1.12, 1.38), "SGD": (0.70, 0.77)}

START = _dt.date(2022, 1, 1)
END = _dt.date(2024, 6, 30)


# --------------------------------------------------------------------------- helpers
def _weighted(rng: random.Random, pairs):
    values = [v for v, _ in pairs]
    weights = [w for _, w in pairs]
    return rng.choices(values, weights=weights, k=1)[0]


def _date_between(rng: random.Random, start: _dt.date, end: _dt.date) -> _dt.date:
    return start + _dt.timedelta(days=rng.randint(0, (end - start).days))


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


# --------------------------------------------------------------------------- generators
def _employees(rng: random.Random):
    """A four-level hierarchy: CEO, department heads, team leads, staff."""
    rows = []
    used = set()

    def person():
        while True:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            if (first, last) not in used:
                used.add((first, last))
                return first, last

    def add(title, department, manager_id, region_id, hired_from, hired_to, salary_range):
        employee_id = len(rows) + 1
        first, last = person()
        hire = _date_between(rng, hired_from, hired_to)
        salary = rng.randrange(salary_range[0], salary_range[1], 500)
        email = f"{first.lower()}.{last.lower()}@northwind-soft.example"
        rows.append([employee_id, first, last, email, title, department, manager_id,
                     region_id, hire.isoformat(), salary])
        return employee_id

    ceo = add("Chief Executive Officer", "Executive", None, 1,
              _dt.date(2012, 1, 1), _dt.date(2012, 12, 31), (240000, 260000))
    early, late = _dt.date(2013, 1, 1), _dt.date(2024, 3, 31)
    heads = {}
    for department, title in [("Sales", "VP Sales"), ("Support", "Head of Support"),
                              ("Engineering", "VP Engineering"), ("Finance", "CFO"),
                              ("Marketing", "Head of Marketing")]:
        heads[department] = add(title, department, ceo, rng.choice([1, 2, 3]),
                                early, _dt.date(2016, 12, 31), (160000, 200000))
    # Sales: a team lead per customer region, two or three reps each.
    sales_reps = []
    for region_id, _, _, _ in REGIONS[:6]:
        lead = add("Sales Manager", "Sales", heads["Sales"], region_id,
                   _dt.date(2015, 1, 1), _dt.date(2019, 12, 31), (110000, 140000))
        sales_reps.append(lead)
        for _ in range(2 if region_id > 3 else 3):
            sales_reps.append(add("Account Executive", "Sales", lead, region_id,
                                  _dt.date(2017, 1, 1), _dt.date(2023, 6, 30), (70000, 105000)))
    for department, n_leads, staff_title, staff_salary in [
        ("Support", 2, "Support Engineer", (55000, 80000)),
        ("Engineering", 2, "Software Engineer", (90000, 140000)),
        ("Finance", 1, "Accountant", (60000, 85000)),
        ("Marketing", 1, "Marketing Specialist", (55000, 80000)),
    ]:
        for _ in range(n_leads):
            lead = add(f"{department} Lead", department, heads[department],
                       rng.choice([1, 2, 3, 5, 7]), _dt.date(2015, 1, 1),
                       _dt.date(2020, 12, 31), (95000, 130000))
            for _ in range(rng.randint(2, 4)):
                add(staff_title, department, lead, rng.choice([1, 2, 3, 4, 5, 7]),
                    early, late, staff_salary)
    # Two contractors recorded without a manager (real HR data has such gaps).
    add("Contract Developer", "Engineering", None, 7, _dt.date(2023, 1, 1), late, (80000, 95000))
    add("Contract Designer", "Marketing", None, 4, _dt.date(2023, 1, 1), late, (60000, 75000))
    sales_by_region = {}
    for row in rows:
        if row[5] == "Sales" and row[6] != ceo:
            sales_by_region.setdefault(row[7], []).append(row[0])
    return rows, sales_by_region


def _company_names(rng: random.Random, n: int):
    names = []
    seen = set()
    while len(names) < n:
        name = f"{rng.choice(COMPANY_FIRST)} {rng.choice(COMPANY_SECOND)} {rng.choice(COMPANY_SUFFIX)}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _customers(rng: random.Random, sales_by_region):
    n = 300
    names = _company_names(rng, n)
    # A few companies share a name with another customer (different companies,
    # different regions): questions must group by customer_id, not by name.
    for dst, src in [(41, 7), (118, 63), (205, 150), (266, 19), (290, 233)]:
        names[dst] = names[src]
    rows = []
    for i in range(n):
        customer_id = i + 1
        name = names[i]
        # Mixed-case names, as typed by different sales reps.
        r = rng.random()
        if r < 0.05:
            name = name.upper()
        elif r < 0.08:
            name = name.lower()
        region_id = _weighted(rng, CUSTOMER_REGION_WEIGHTS)
        segment = None if rng.random() < 0.08 else _weighted(rng, SEGMENTS)
        signup = _date_between(rng, _dt.date(2021, 1, 1), _dt.date(2024, 3, 31))
        e = rng.random()
        if e < 0.06:
            email = None
        elif e < 0.25:
            email = f"{_slug(names[i].split()[0])}.{_slug(names[i].split()[1])}{customer_id}@{rng.choice(FREE_MAIL_DOMAINS)}"
        else:
            email = f"billing@{_slug(names[i])}{rng.choice(TLDS)}"
        manager = rng.choice(sales_by_region[region_id]) if rng.random() > 0.05 else None
        rows.append([customer_id, name, email, region_id, segment, signup.isoformat(), 0, manager])
    # Internal test accounts created by the company itself.
    for k, customer_id in enumerate([301, 302, 303, 304, 305, 306], start=1):
        signup = _date_between(rng, _dt.date(2021, 1, 1), _dt.date(2023, 12, 31))
        rows.append([customer_id, f"Internal Test Account {k}",
                     f"qa{k}@northwind-soft.example", rng.choice([1, 2, 3]),
                     "Enterprise" if k % 2 else None, signup.isoformat(), 1, None])
    return rows


def _products():
    rows = []
    for i, (sku, name, category, price) in enumerate(PRODUCTS, start=1):
        rows.append([i, sku, name, category, price, 0 if sku in RETIRED_SKUS else 1])
    return rows


def _subscriptions(rng: random.Random, customers, products):
    by_sku = {p[1]: p for p in products}
    rows = []
    for c in customers:
        customer_id, segment, signup = c[0], c[4], _dt.date.fromisoformat(c[5])
        if rng.random() < 0.3:
            continue
        n = rng.choice([1, 1, 1, 2, 2, 3])
        skus = rng.sample(SUB_PRODUCTS, n)
        for sku in skus:
            product = by_sku[sku]
            if segment == "Enterprise":
                plan = _weighted(rng, [("Basic", 10), ("Pro", 40), ("Enterprise", 50)])
            elif segment == "SMB":
                plan = _weighted(rng, [("Basic", 65), ("Pro", 30), ("Enterprise", 5)])
            else:
                plan = _weighted(rng, [("Basic", 35), ("Pro", 45), ("Enterprise", 20)])
            factor = dict(PLANS)[plan]
            seats = rng.randint(1, 20)
            amount = round(product[4] * factor * seats * rng.choice([1.0, 0.95, 0.9]), 2)
            start = _date_between(rng, max(signup, START), END)
            r = rng.random()
            status, end = "A", None
            if r < 0.1:
                status = "P"
            elif r < 0.45 and (END - start).days > 60:
                status = "C"
                end = _date_between(rng, start + _dt.timedelta(days=30), END)
            rows.append([len(rows) + 1, customer_id, product[0], plan, amount,
                         start.isoformat(), end.isoformat() if end else None, status])
    return rows


def _orders(rng: random.Random, customers, products, sales_by_region):
    orders, items, payments = [], [], []
    # Customers who never ordered: every 13th external customer plus two test accounts.
    never = {c[0] for c in customers if c[0] % 13 == 0 or c[0] in (304, 306)}
    activity = {c[0]: rng.choice([1, 2, 3, 4, 6, 8, 12]) for c in customers}
    candidates = [c for c in customers if c[0] not in never]
    weights = [activity[c[0]] for c in candidates]
    hw_sv_tr = [p for p in products if p[3] != "Software"]
    sw = [p for p in products if p[3] == "Software"]
    region_of = {c[0]: c[3] for c in customers}
    for order_id in range(1, 1501):
        c = rng.choices(candidates, weights=weights, k=1)[0]
        signup = _dt.date.fromisoformat(c[5])
        order_date = _date_between(rng, max(signup, START), END)
        status = _weighted(rng, ORDER_STATUSES)
        if status == "shipped" and order_date < _dt.date(2024, 5, 1):
            status = "completed"  # only recent orders can still be in transit
        channel = _weighted(rng, CHANNELS)
        r = rng.random()
        if r < 0.12:
            channel = channel.capitalize()
        elif r < 0.18:
            channel = channel.upper()
        reps = sales_by_region[region_of[c[0]]]
        employee_id = rng.choice(reps) if channel.lower() != "web" else None
        orders.append([order_id, c[0], employee_id, order_date.isoformat(), status, channel])
        total = 0.0
        n_items = _weighted(rng, [(1, 35), (2, 30), (3, 20), (4, 10), (5, 5)])
        pool = rng.sample(hw_sv_tr, 2) + rng.sample(sw, 3)
        for product in rng.sample(pool, n_items):
            if product[3] in ("Hardware", "Services"):
                quantity = _weighted(rng, [(1, 50), (2, 25), (3, 12), (5, 8), (10, 5)])
            else:
                quantity = rng.randint(1, 25)
            # Prices drift a little from the list price over time.
            drift = 1.0 + 0.03 * (order_date.year - 2022)
            unit_price = round(product[4] * drift * rng.choice([1.0, 1.0, 0.98, 1.02]), 2)
            discount = _weighted(rng, DISCOUNTS)
            items.append([len(items) + 1, order_id, product[0], quantity, unit_price, discount])
            total += quantity * unit_price * (1 - discount)
        total = round(total, 2)
        if status in ("completed", "shipped", "refunded") and rng.random() > 0.04:
            pay_date = order_date + _dt.timedelta(days=rng.randint(0, 45))
            method = _weighted(rng, PAY_METHODS)
            payments.append([len(payments) + 1, order_id, pay_date.isoformat(), total, method])
            if status == "refunded":
                refund_date = pay_date + _dt.timedelta(days=rng.randint(5, 60))
                payments.append([len(payments) + 1, order_id, refund_date.isoformat(),
                                 -total, method])
    return orders, items, payments


def _months(start: _dt.date, end: _dt.date):
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        yield f"{year:04d}-{month:02d}"
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _currencies(fx_rng: random.Random, customers, orders):
    """Append each order's currency (in place) and return the ``fx_rates`` rows.

    Uses only ``fx_rng``, so the main generator's sequence, and with it every
    other column, is the same as before currencies existed.
    """
    billing = {c[0]: _weighted(fx_rng, BILLING_CURRENCIES[c[3]]) for c in customers}
    for order in orders:
        currency = billing[order[1]]
        if currency != "USD" and fx_rng.random() < USD_EXCEPTION_RATE:
            currency = "USD"
        order.append(currency)
    rates = []
    months = list(_months(START, END))
    for currency in sorted(FX_START):
        rate = FX_START[currency]
        low, high = FX_BOUNDS[currency]
        for month in months:
            rates.append([currency, month, round(rate, 4)])
            rate = min(high, max(low, rate + fx_rng.uniform(-1, 1) * FX_STEP[currency]))
    rates.extend(["USD", month, 1.0] for month in months)
    rates.sort()
    return rates


def generate(seed: int = SEED, fx_seed: int = FX_SEED):
    """Return ``{table_name: rows}`` for the enterprise database (pure, deterministic)."""
    rng = random.Random(seed)
    employees, sales_by_region = _employees(rng)
    customers = _customers(rng, sales_by_region)
    products = _products()
    subscriptions = _subscriptions(rng, customers, products)
    orders, items, payments = _orders(rng, customers, products, sales_by_region)
    # Drawn last and from their own generator: see the module docstring.
    fx_rates = _currencies(random.Random(fx_seed), customers, orders)
    return {
        "regions": [list(r) for r in REGIONS],
        "employees": employees,
        "customers": customers,
        "products": products,
        "subscriptions": subscriptions,
        "orders": orders,
        "order_items": items,
        "payments": payments,
        "fx_rates": fx_rates,
    }


# --------------------------------------------------------------------------- writing
def build(path) -> Path:
    """Write the enterprise database to ``path`` (replacing it) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    for stale in (tmp, Path(str(tmp) + "-journal")):
        if stale.exists():
            stale.unlink()
    data = generate()
    con = sqlite3.connect(tmp)
    try:
        # page_size must be set before the first table is created; the DELETE
        # journal keeps everything in one file.
        con.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        con.execute("PRAGMA journal_mode = DELETE")
        con.execute("PRAGMA foreign_keys = ON")
        con.executescript(SCHEMA)
        with con:
            for table, rows in data.items():
                placeholders = ", ".join("?" * len(rows[0]))
                con.executemany(f"INSERT INTO {table} VALUES ({placeholders})", rows)
        problems = con.execute("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise RuntimeError(f"generated data violates foreign keys: {problems[:5]}")
        con.execute("VACUUM")
    finally:
        con.close()
    os.replace(tmp, path)
    return path


_TYPE_MAP = {"INTEGER": "number", "REAL": "number", "NUMERIC": "number", "TEXT": "text"}


def _column_type(table: str, column: str, declared: str) -> str:
    if column.startswith("is_"):
        return "boolean"
    if column.endswith("_date"):
        return "time"
    return _TYPE_MAP.get(declared.upper(), "others")


def build_tables_json(db_path) -> list[dict]:
    """Describe the database at ``db_path`` in Spider/BIRD ``tables.json`` format."""
    con = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
        column_names_original = [[-1, "*"]]
        column_names = [[-1, "*"]]
        column_types = ["text"]
        primary_keys = []
        index = {}
        for t_idx, table in enumerate(tables):
            info = con.execute(f"PRAGMA table_info({table})").fetchall()
            pk = []
            for cid, name, declared, _notnull, _default, pk_pos in info:
                index[(table, name)] = len(column_names_original)
                if pk_pos:
                    pk.append((pk_pos, len(column_names_original)))
                column_names_original.append([t_idx, name])
                column_names.append([t_idx, name.replace("_", " ")])
                column_types.append(_column_type(table, name, declared))
            pk = [i for _, i in sorted(pk)]
            if pk:
                primary_keys.append(pk[0] if len(pk) == 1 else pk)
        foreign_keys = []
        for table in tables:
            for row in con.execute(f"PRAGMA foreign_key_list({table})").fetchall():
                _id, _seq, ref_table, from_col, to_col = row[:5]
                foreign_keys.append([index[(table, from_col)], index[(ref_table, to_col)]])
        foreign_keys.sort()
    finally:
        con.close()
    return [{
        "db_id": DB_ID,
        "table_names_original": tables,
        "table_names": [t.replace("_", " ") for t in tables],
        "column_names_original": column_names_original,
        "column_names": column_names,
        "column_types": column_types,
        "primary_keys": primary_keys,
        "foreign_keys": foreign_keys,
    }]


def format_tables_json(tables: list[dict]) -> str:
    """Render ``tables.json`` with one list element per line (readable, diff-friendly).

    >>> print(format_tables_json([{"db_id": "x", "primary_keys": [1, [2, 3]]}]))
    [
      {
        "db_id": "x",
        "primary_keys": [
          1,
          [2, 3]
        ]
      }
    ]
    """
    out = ["["]
    for i, db in enumerate(tables):
        out.append("  {")
        items = list(db.items())
        for j, (key, value) in enumerate(items):
            comma = "," if j < len(items) - 1 else ""
            if isinstance(value, list) and value:
                body = ",\n".join("      " + json.dumps(x) for x in value)
                out.append(f"    {json.dumps(key)}: [\n{body}\n    ]{comma}")
            else:
                out.append(f"    {json.dumps(key)}: {json.dumps(value)}{comma}")
        out.append("  }" + ("," if i < len(tables) - 1 else ""))
    out.append("]")
    return "\n".join(out)


def main(argv=None) -> int:
    """Build the enterprise database, tasks and references into ``--out``."""
    parser = argparse.ArgumentParser(
        prog="python -m querygym.data.build_enterprise",
        description="Build the synthetic enterprise demo database and its tables.json.")
    parser.add_argument("--out", required=True, type=Path,
                        help="output directory; writes OUT/enterprise/enterprise.sqlite "
                             "and OUT/enterprise/tables.json")
    args = parser.parse_args(argv)
    db_path = build(args.out / DB_ID / f"{DB_ID}.sqlite")
    tables_path = args.out / DB_ID / "tables.json"
    tables_path.write_text(format_tables_json(build_tables_json(db_path)) + "\n",
                           encoding="utf-8")
    print(f"wrote {db_path} ({db_path.stat().st_size} bytes) and {tables_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
