"""Shared fixtures.

The database under test is SQLite in a temporary folder by default. Set
``WARGA_TEST_DATABASE_URL=postgresql+asyncpg://…`` to run the same tests on PostgreSQL:
a throw-away database is created for the run, so parallel runs never meet.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage.db import Database

PG_ENV = "WARGA_TEST_DATABASE_URL"


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        database=u.database or "test",
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this run, or None when running on SQLite."""
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    name = f"warga_t_{secrets.token_hex(4)}"
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    yield str(make_url(base).set(database=name).render_as_string(hide_password=False))
    asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def database_url(postgres_url: str | None, tmp_path: Path) -> str:
    """An empty database (no tables at all) for one test."""
    if postgres_url:
        await _admin(postgres_url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        return postgres_url
    return f"sqlite+aiosqlite:///{tmp_path / 'warga.db'}"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The schema created from the models on the database under test."""
    database = Database(database_url)
    await database.create_all()
    try:
        yield database
    finally:
        await database.close()
