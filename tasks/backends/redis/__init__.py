"""The Redis backend: one Lua script per state transition (``lua/``), key names from ``keys.py``."""

from .backend import RedisBackend

__all__ = ["RedisBackend"]
