"""Alembic migrations produce exactly the schema of the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.migrate import UnversionedSchema, alembic_config, upgrade, upgrade_connection
from storage.models import Base, Contact

pytestmark = pytest.mark.storage

NOW = datetime(2026, 12, 5, tzinfo=UTC)


async def _wipe(url: str) -> None:
    database = Database(url)
    try:
        async with database.engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        await database.drop_all()
    finally:
        await database.close()


@pytest.fixture
async def fresh_url(database_url: str) -> AsyncIterator[str]:
    """The test database with no tables at all (SQLite: a new file in tmp_path)."""
    if not database_url.startswith("sqlite"):
        await _wipe(database_url)
    yield database_url
    if not database_url.startswith("sqlite"):
        await _wipe(database_url)


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _current(conn: Connection) -> tuple[str, ...]:
    # Features branch from the first revision, so the schema has several heads.
    return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))


async def _inspect(url: str) -> tuple[list[Any], tuple[str, ...]]:
    database = Database(url)
    try:
        async with database.engine.connect() as conn:
            return await conn.run_sync(_differences), await conn.run_sync(_current)
    finally:
        await database.close()


def _heads(url: str = "sqlite+aiosqlite://") -> tuple[str, ...]:
    return tuple(sorted(ScriptDirectory.from_config(alembic_config(url)).get_heads()))


HEADS = _heads()


async def test_upgrade_head_matches_models(fresh_url: str) -> None:
    await upgrade(fresh_url)
    differences, current = await _inspect(fresh_url)
    assert differences == []
    assert current == HEADS
    assert "0001" not in HEADS and len(HEADS) >= 1  # every feature revision applied


async def test_the_service_migrates_in_a_process_of_its_own(fresh_url: str) -> None:
    """`warga serve` upgrades through `python -m storage.migrate` (Alembic stays out of
    the service's memory): the same schema as in-process."""
    from bot.app import upgrade_in_child

    assert await asyncio.to_thread(upgrade_in_child, fresh_url) is True
    differences, current = await _inspect(fresh_url)
    assert (differences, current) == ([], HEADS)
    # An in-memory database lives in the service's process: migrated there instead.
    assert upgrade_in_child("sqlite+aiosqlite://") is False


async def test_a_failed_migration_in_its_process_stops_the_start(tmp_path: Path) -> None:
    from bot.app import upgrade_in_child

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the database folder should be")
    with pytest.raises(RuntimeError, match="database migration failed"):
        await asyncio.to_thread(upgrade_in_child,
                                f"sqlite+aiosqlite:///{blocked}/warga.db")


async def test_upgrade_twice_is_a_no_op(fresh_url: str) -> None:
    await upgrade(fresh_url)
    database = Database(fresh_url)
    try:
        async with database.transaction() as tx:
            contact = await tx.contacts.upsert("telegram", "42", NOW, name="Ani")
            contact_id = contact.id
        await upgrade(fresh_url)
        async with database.transaction() as tx:
            again = await tx.contacts.get(contact_id)
            assert again is not None and again.name == "Ani"
            assert await tx.contacts.count() == 1
    finally:
        await database.close()
    differences, current = await _inspect(fresh_url)
    assert differences == []
    assert current == HEADS


async def test_upgrade_on_a_shared_connection(fresh_url: str) -> None:
    """What ``warga serve`` does: migrate through its own running engine."""
    database = Database(fresh_url)
    try:
        async with database.engine.begin() as conn:
            await conn.run_sync(upgrade_connection, "heads")
    finally:
        await database.close()
    differences, current = await _inspect(fresh_url)
    assert differences == []
    assert current == HEADS


async def test_alembic_command_line_path_and_downgrade(fresh_url: str) -> None:
    """env.py without a shared connection builds its own async engine (``alembic`` CLI)."""
    config = alembic_config(fresh_url)
    # env.py calls asyncio.run(): give it a thread without a running loop.
    await asyncio.to_thread(command.upgrade, config, "heads")
    differences, current = await _inspect(fresh_url)
    assert (differences, current) == ([], HEADS)
    await asyncio.to_thread(command.downgrade, config, "base")
    database = Database(fresh_url)
    try:
        async with database.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await database.close()
    assert tables <= {"alembic_version"}
    await upgrade(fresh_url)
    assert (await _inspect(fresh_url)) == ([], HEADS)


async def test_sqlite_parent_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "data" / "warga.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url)
    assert path.exists()
    assert (await _inspect(url)) == ([], HEADS)


def test_alembic_config_keeps_percent_signs() -> None:
    url = "postgresql+asyncpg://warga:p%40ss%25w0rd@db.local:5432/warga"
    config = alembic_config(url)
    assert config.get_main_option("sqlalchemy.url") == url
    script_location = config.get_main_option("script_location")
    assert script_location is not None
    assert (Path(script_location) / "env.py").is_file()


async def test_comparison_detects_drift(fresh_url: str) -> None:
    """Guards the guard: a schema that differs from the models is reported."""
    await upgrade(fresh_url)
    database = Database(fresh_url)
    try:
        async with database.engine.begin() as conn:
            await conn.execute(text("DROP INDEX ix_outbox_batch"))
    finally:
        await database.close()
    differences, _ = await _inspect(fresh_url)
    assert [d[0] for d in differences] == ["add_index"]
    assert differences[0][1].name == "ix_outbox_batch"


async def test_schema_from_create_all_is_adopted(fresh_url: str) -> None:
    """A database made by ``Database.create_all()`` is stamped, not re-created."""
    database = Database(fresh_url)
    try:
        await database.create_all()
        async with database.transaction() as tx:
            await tx.contacts.upsert("telegram", "1", NOW)
        await upgrade(fresh_url)
        async with database.transaction() as tx:
            assert await tx.contacts.count() == 1
    finally:
        await database.close()
    assert (await _inspect(fresh_url)) == ([], HEADS)


async def test_partial_unversioned_schema_is_refused(fresh_url: str) -> None:
    database = Database(fresh_url)
    try:
        async with database.engine.begin() as conn:
            await conn.run_sync(lambda sync: Contact.__table__.create(sync))
    finally:
        await database.close()
    with pytest.raises(UnversionedSchema, match="contacts"):
        await upgrade(fresh_url)
    _, current = await _inspect(fresh_url)
    assert current == ()
