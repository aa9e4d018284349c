"""The SQLite backend: the embedded default, one file, many processes of one machine (WAL, BEGIN IMMEDIATE)."""

from .backend import SQLiteBackend
from .connection import path_from_url

__all__ = ["SQLiteBackend", "path_from_url"]
