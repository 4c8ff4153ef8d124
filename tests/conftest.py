"""Shared fixtures. Backends (SQLite, PostgreSQL, Redis) are configured in tests/backends.py."""
