"""Migration 0004_tickets creates exactly the ticket tables of the models, on SQLite and
PostgreSQL, beside the other branches from 0001 (upgrade targets "heads")."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.migrate import alembic_config, upgrade
from storage.models import Base

pytestmark = pytest.mark.storage

TABLES = {"ticket_links", "ticket_assignments", "ticket_closures", "ticket_escalations",
          "dashboard_login_tokens", "dashboard_sessions"}


def _state(conn: Connection) -> tuple[list[Any], tuple[str, ...], set[str]]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    ours = [d for d in compare_metadata(context, Base.metadata)
            if any(t in repr(d) for t in TABLES)]
    return ours, context.get_current_heads(), set(inspect(conn).get_table_names())


async def _inspect(url: str) -> tuple[list[Any], tuple[str, ...], set[str]]:
    database = Database(url)
    try:
        async with database.engine.connect() as conn:
            return await conn.run_sync(_state)
    finally:
        await database.close()


async def test_upgrade_creates_the_ticket_tables_and_downgrade_removes_them(
        database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        database = Database(database_url)
        async with database.engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        await database.drop_all()
        await database.close()
    await upgrade(database_url)
    differences, heads, tables = await _inspect(database_url)
    assert differences == []
    assert "0004_tickets" in heads and TABLES <= tables
    config = alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "0004_tickets@0001")
    differences, heads, tables = await _inspect(database_url)
    assert "0004_tickets" not in heads and not (TABLES & tables)
    assert "complaints" in tables
