"""Readers that turn benchmark datasets into querygym task sets."""

from querygym.converters.bird import load_bird, load_tables_json

__all__ = ["load_bird", "load_tables_json"]
