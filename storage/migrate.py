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
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection

from storage.db import create_engine
from storage.schema import METADATA

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")


class ForeignKeyViolation(RuntimeError):
    """A SQLite migration left rows whose foreign keys point nowhere."""


class UnversionedSchema(RuntimeError):
    """Tables exist without an Alembic version and do not match the models."""


def alembic_config(url: str) -> Config:
    """An Alembic configuration without an ini file, pointing at our migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Config values go through configparser interpolation: escape '%' (e.g. in passwords).
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _adopt_unversioned(connection: Connection, config: Config) -> None:
    """Stamp a schema made by ``Database.create_all()`` instead of failing on it.

    Only when it matches the models exactly; anything else needs a person to look.
    """
    if MigrationContext.configure(connection).get_current_heads():
        return
    existing = set(inspect(connection).get_table_names()) & set(METADATA.tables)
    if not existing:
        return
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    differences = compare_metadata(context, METADATA)
    if differences:
        raise UnversionedSchema(
            f"tables {sorted(existing)} exist without a migration version and differ from "
            f"the models ({len(differences)} differences, e.g. {differences[0]!r})"
        )
    command.stamp(config, "heads")


def upgrade_connection(connection: Connection, revision: str = "heads") -> None:
    """Upgrade through an open sync connection: ``await conn.run_sync(upgrade_connection)``."""
    config = alembic_config(connection.engine.url.render_as_string(hide_password=False))
    config.attributes["connection"] = connection
    _adopt_unversioned(connection, config)
    command.upgrade(config, revision)


async def upgrade(url: str, revision: str = "heads") -> None:
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


def _main() -> int:
    """``python -m storage.migrate``: upgrade ``WARGA_DATABASE_URL`` to the latest revision
    (``warga serve`` runs it in a process of its own, ``bot.app.upgrade_in_child``)."""
    import asyncio
    import logging
    import os

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(upgrade(os.environ["WARGA_DATABASE_URL"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
