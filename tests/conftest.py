"""Shared fixtures. Backends (SQLite, PostgreSQL, Redis) are configured in tests/backends.py."""

from tests.backends import (
    _postgres_session_database,
    _redis_problem,
    _sqlite_template,
    database_url,
    postgres_url,
    redis_key_prefix,
    redis_url,
    session_factory,
)

__all__ = [
    "_postgres_session_database",
    "_redis_problem",
    "_sqlite_template",
    "database_url",
    "postgres_url",
    "redis_key_prefix",
    "redis_url",
    "session_factory",
]
