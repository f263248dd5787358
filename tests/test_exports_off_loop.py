"""Exports run off the event loop: one entry point, in a worker thread or a child process,
with the same file either way."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from bot.exports import export
from bot.settings import Settings, SettingsError
from storage.db import Database
from tests.dashboard_helpers import add_complaint, add_contact

pytestmark = [pytest.mark.storage]

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


async def test_work_in_a_worker_runs_on_its_own_thread_and_loop(db: Database) -> None:
    here = (threading.get_ident(), asyncio.get_running_loop())

    async def where(own: Database) -> tuple[int, asyncio.AbstractEventLoop]:
        async with own.transaction() as tx:
            await tx.contacts.count()  # its own connection works
        return threading.get_ident(), asyncio.get_running_loop()

    there = await db.in_worker(where)
    assert there[0] != here[0] and there[1] is not here[1]


async def test_an_exports_reads_never_keep_a_residents_answer_waiting(
        db: Database) -> None:
    """The export's own connection reads while the service writes: the service's commit
    does not wait for the export's transaction, and the export cannot write."""
    await add_contact(db, "warga-1", NOW, name="Siti")
    opened, committed = threading.Event(), threading.Event()

    async def reading(own: Database) -> tuple[int, int]:
        async with own.transaction() as tx:
            before = await tx.contacts.count()
            opened.set()
            # The service commits (on its own loop) while this transaction stays open.
            assert await asyncio.to_thread(committed.wait, 10)
            during = await tx.contacts.count()  # SQLite: its snapshot, as it started
        with pytest.raises(DBAPIError):
            async with own.transaction() as tx:
                await tx.contacts.upsert("console", "warga-3", NOW, name="Ani", inbound=False)
        return before, during

    reader = asyncio.create_task(db.in_worker(reading))
    assert await asyncio.to_thread(opened.wait, 10)
    try:
        # A resident's answer, committed while the export's transaction is open.
        async with asyncio.timeout(5):
            await add_contact(db, "warga-2", NOW, name="Budi")
    finally:
        committed.set()
    before, during = await reader
    assert before == 1
    assert during in (1, 2)  # PostgreSQL reads committed rows; SQLite keeps its snapshot
    async with db.transaction() as tx:
        assert await tx.contacts.count() == 2


@pytest.mark.parametrize("what", ["complaints", "assessments"])
async def test_the_dashboards_child_process_writes_what_the_thread_writes(
        db: Database, tmp_path: Path, what: str) -> None:
    resident = await add_contact(db, "warga", NOW, name="Siti")
    for n in range(3):
        await add_complaint(db, resident, NOW, rt=f"00{n}")
    in_thread = await export(db, what, "csv", tmp_path / "a.csv")  # type: ignore[arg-type]
    in_child = await export(db, what, "csv", tmp_path / "b.csv",  # type: ignore[arg-type]
                            in_process=False)
    assert in_thread.rows == in_child.rows
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_the_new_settings_are_read_and_checked() -> None:
    env = {"WARGA_OUTBOX_LEASE_SECONDS": "5", "WARGA_SEND_LIMITER": "local",
           "WARGA_INBOUND_BURST": "12", "WARGA_INBOUND_PER_MINUTE": "0",
           "WARGA_OUTBOX_BODY_DAYS": "3"}
    settings = Settings.from_env(env, dotenv=None)
    assert (settings.outbox_lease_seconds, settings.send_limiter, settings.inbound_burst,
            settings.inbound_per_minute, settings.outbox_body_days) == (5.0, "local", 12,
                                                                         0.0, 3.0)
    defaults = Settings.from_env({}, dotenv=None)
    assert (defaults.send_limiter, defaults.inbound_burst, defaults.inbound_per_minute,
            defaults.outbox_body_days) == ("auto", 30, 60.0, 7.0)
    with pytest.raises(SettingsError, match="WARGA_SEND_LIMITER=database needs PostgreSQL"):
        Settings.from_env({"WARGA_SEND_LIMITER": "database"}, dotenv=None)
    with pytest.raises(SettingsError, match="WARGA_SEND_LIMITER must be"):
        Settings.from_env({"WARGA_SEND_LIMITER": "redis"}, dotenv=None)
    with pytest.raises(SettingsError, match="WARGA_INBOUND_PER_MINUTE"):
        Settings.from_env({"WARGA_INBOUND_PER_MINUTE": "-1"}, dotenv=None)
