"""Tests of the store: engines, migrations, tables and bulk writes, on SQLite and PostgreSQL."""
