"""Schema migrations (Alembic), run in-process on the project's async engine.

``await upgrade(url)`` is what ``warga db upgrade`` and ``warga serve`` call. The
migration runs on a connection of our own engine (WAL, busy timeout, ``BEGIN
IMMEDIATE`` on SQLite) handed to Alembic's ``env.py`` through
``config.attributes["connection"]``, all in one transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection

from storage.db import create_engine

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")


class ForeignKeyViolation(RuntimeError):
    """A SQLite migration left rows whose foreign keys point nowhere."""


def alembic_config(url: str) -> Config:
    """An Alembic configuration without an ini file, pointing at our migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Config values go through configparser interpolation: escape '%' (e.g. in passwords).
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_connection(connection: Connection, revision: str = "head") -> None:
    """Upgrade through an open sync connection: ``await conn.run_sync(upgrade_connection)``."""
    config = alembic_config(connection.engine.url.render_as_string(hide_password=False))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (creates a SQLite file's folder)."""
    engine = create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        # Batch migrations copy and drop tables; with foreign keys on, dropping a parent
        # table would cascade-delete its children. SQLite's documented procedure: turn
        # them off outside the transaction, migrate, then run foreign_key_check.
        @event.listens_for(engine.sync_engine, "connect")
        def _foreign_keys_off(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=OFF")
            cursor.close()

    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_connection, revision)
            if sqlite:
                problems = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if problems:
                    raise ForeignKeyViolation(
                        f"migration to {revision} broke foreign keys: {problems[:5]!r}"
                    )
    finally:
        await engine.dispose()
