"""Helpers shared by tests: reading the built-in database directly, bypassing querygym."""

import sqlite3

import querygym


def builtin_rows(sql):
    """Rows of ``sql`` on the built-in database, through a plain read-only sqlite3 connection."""
    conn = sqlite3.connect(f"file:{querygym.builtin_database()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()
