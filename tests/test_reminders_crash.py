"""Acceptance: `warga serve` killed with SIGKILL and started again sends each reminder,
and each broadcast message, exactly once — with one process, and with two replicas
sharing one database (PostgreSQL with WARGA_TEST_DATABASE_URL; one SQLite file else).

The processes are real (`python -m bot serve`, Telegram in webhook mode) and talk to the
rate-limited fake Bot API of ``tests.fakes.telegram_limits`` in this process. A process
is killed before a reminder is due, or from inside the fake while the platform holds a
message the process will never hear back about (the hardest moment: sent, not recorded).
Waits are bounded only to fail a hung test; what is asserted is read from the fake and
from the database once nothing is left to send.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import unused_port
from sqlalchemy import func, select

from storage.db import Database
from storage.migrate import upgrade
from storage.models import OutboxMessage
from storage.models_activities import Broadcast
from storage.repos_activities import ActivityRepo
from tests.fakes.telegram_limits import TOKEN, Delivered, LimitedBotAPI

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[1]
HANG = 40.0  # seconds before a hung wait fails the test (never a measurement)
LEASE = 2  # seconds: how soon work of a killed process is taken over
FIRST_CHAT = 5_100_001
COORDINATOR_CHAT = 5_000_001


def utc_now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def fake() -> AsyncIterator[LimitedBotAPI]:
    api = await LimitedBotAPI().start()
    try:
        yield api
    finally:
        await api.close()
    assert api.problems == [], api.problems


class Serve:
    """One `warga serve` process."""

    def __init__(self, database_url: str, fake: LimitedBotAPI, data_dir: Path) -> None:
        self.port = unused_port()
        self.log = data_dir / f"serve-{self.port}.log"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "WARGA_DATABASE_URL": database_url,
            "WARGA_DATA_DIR": str(data_dir),
            "WARGA_PORT": str(self.port),
            "WARGA_SECRET_KEY": "k" * 40,
            "WARGA_LEASE_SECONDS": str(LEASE),
            "WARGA_LOG_LEVEL": "WARNING",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": fake.url,
            "TELEGRAM_MODE": "webhook",
            "TELEGRAM_WEBHOOK_SECRET": "w" * 40,
        }
        self.cwd = data_dir
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> Serve:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve", cwd=self.cwd, env=self.env,
                stdout=log, stderr=log)
        async with asyncio.timeout(HANG), aiohttp.ClientSession() as http:
            while True:
                assert self.process.returncode is None, self.log.read_text()
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as r:
                        if r.status == 200:
                            return self
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        if self.process is not None and self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)

    async def stop(self) -> None:
        if self.process is None:
            return
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(HANG):
                    await self.process.wait()
            except TimeoutError:
                self.kill()
        await self.process.wait()

    async def died(self) -> None:
        assert self.process is not None
        async with asyncio.timeout(HANG):
            await self.process.wait()


@contextlib.asynccontextmanager
async def serving(*servers: Serve) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for server in servers:
            await server.stop()


def kill_on(fake: LimitedBotAPI, servers: Callable[[], list[Serve]],
            when: Callable[[Delivered], bool]) -> None:
    """Kill the servers, from inside the fake, the first time ``when`` holds: the
    message has reached the platform and the bot never hears back."""

    def hook(delivered: Delivered) -> None:
        if when(delivered) and fake.on_delivery is hook:
            fake.on_delivery = None
            for server in servers():
                server.kill()

    fake.on_delivery = hook


# -- the database ----------------------------------------------------------------------


async def prepare(database_url: str, chats: int) -> Database:
    """The schema as `warga db upgrade` makes it, a coordinator and ``chats`` residents."""
    await upgrade(database_url)
    db = Database(database_url)
    now = utc_now()
    async with db.transaction() as tx:
        coordinator = await tx.contacts.upsert("telegram", str(COORDINATOR_CHAT), now,
                                               name="Koordinator", inbound=False)
        coordinator.role = "coordinator"
        for n in range(chats):
            await tx.contacts.upsert("telegram", str(FIRST_CHAT + n), now, name=f"Warga {n}",
                                     inbound=False)
    return db


async def reminder_due_in(db: Database, seconds: float, coming: int) -> int:
    """A published activity two hours (and ``seconds``) from now, ``coming`` residents
    coming, and its 2-hours-before reminder: due in ``seconds``. Returns its id."""
    now = utc_now()
    async with db.transaction() as tx:
        repo = ActivityRepo(tx.session)
        activity = await repo.create(
            title="Kerja bakti saluran", kind="kerja_bakti",
            starts_at=now + timedelta(hours=2, seconds=seconds), place="Balai RW 03",
            audience={"type": "all"}, recurrence="none", reminders=["2jam"],
            status="published", created_at=now, updated_at=now, published_at=now)
        for n in range(coming):
            contact = await tx.contacts.get_by_external("telegram", str(FIRST_CHAT + n))
            assert contact is not None
            await repo.set_rsvp(activity.id, contact.id, "yes", now)
        reminder = await repo.add_broadcast(
            kind="reminder", activity_id=activity.id,
            audience={"type": "rsvp", "activity_id": activity.id, "answers": ["yes", "maybe"]},
            params={"code": "2jam"}, status="scheduled", due_at=now + timedelta(seconds=seconds),
            created_at=now)
        return reminder.id


async def broadcast_now(db: Database) -> int:
    """A /siaran to everyone, confirmed by the coordinator just now."""
    now = utc_now()
    async with db.transaction() as tx:
        coordinator = await tx.contacts.get_by_external("telegram", str(COORDINATOR_CHAT))
        assert coordinator is not None
        broadcast = await ActivityRepo(tx.session).add_broadcast(
            kind="siaran", requested_by=coordinator.id, audience={"type": "all"},
            body="Air bersih dibagikan besok pukul 08.00 di Balai RW 03.", status="scheduled",
            due_at=now, created_at=now)
        return broadcast.id


async def settled(db: Database, broadcast_id: int, *, report: bool = False) -> None:
    """Wait until the send is fanned out and none of its outbox rows can still go."""
    async with asyncio.timeout(HANG):
        while True:
            async with db.session() as session:
                broadcast = await session.get(Broadcast, broadcast_id)
                assert broadcast is not None
                batch = f"{broadcast.kind}:{broadcast.id}"
                open_rows = (await session.execute(
                    select(func.count()).select_from(OutboxMessage).where(
                        OutboxMessage.batch == batch,
                        OutboxMessage.status.in_(("pending", "sending"))))).scalar_one()
                done = broadcast.status == "done" if report else broadcast.status in (
                    "done", "sending")
            if done and open_rows == 0:
                return
            await asyncio.sleep(0.1)


def exactly_once(fake: LimitedBotAPI, chats: range, marker: str) -> None:
    got = {chat: sum(marker in t for t in fake.texts(chat)) for chat in chats}
    assert got == dict.fromkeys(chats, 1), {c: n for c, n in got.items() if n != 1}
    assert fake.refused == [], fake.refused


# -- the tests ---------------------------------------------------------------------------


async def test_a_reminder_survives_sigkill_before_it_is_due(
        database_url: str, fake: LimitedBotAPI, tmp_path: Path) -> None:
    db = await prepare(database_url, chats=5)
    try:
        reminder = await reminder_due_in(db, seconds=4, coming=5)
        first = await Serve(database_url, fake, tmp_path).start()
        first.kill()  # its timer for the reminder dies with it
        await first.died()
        second = Serve(database_url, fake, tmp_path)
        async with serving(second):
            await second.start()  # rebuilds the timer from the database
            await fake.wait_for(lambda: len(fake.delivered) >= 5, within=HANG)
            await settled(db, reminder)
        exactly_once(fake, range(FIRST_CHAT, FIRST_CHAT + 5), "Pengingat")
    finally:
        await db.close()


async def test_a_reminder_interrupted_by_sigkill_while_sending_arrives_once(
        database_url: str, fake: LimitedBotAPI, tmp_path: Path) -> None:
    db = await prepare(database_url, chats=8)
    try:
        reminder = await reminder_due_in(db, seconds=2, coming=8)
        first = Serve(database_url, fake, tmp_path)
        kill_on(fake, lambda: [first], lambda d: "Pengingat" in d.text)
        await first.start()
        await first.died()
        assert len(fake.delivered) == 1  # the platform has one; the bot never heard back
        second = Serve(database_url, fake, tmp_path)
        async with serving(second):
            await second.start()
            await fake.wait_for(lambda: len(fake.delivered) >= 8, within=HANG)
            await settled(db, reminder)
        exactly_once(fake, range(FIRST_CHAT, FIRST_CHAT + 8), "Pengingat")
    finally:
        await db.close()


async def test_a_broadcast_interrupted_by_sigkill_reaches_everyone_once(
        database_url: str, fake: LimitedBotAPI, tmp_path: Path) -> None:
    recipients = 60
    db = await prepare(database_url, chats=recipients)
    try:
        first = Serve(database_url, fake, tmp_path)
        # Killed in the middle: 20 delivered, the rest queued or claimed by the dead one.
        kill_on(fake, lambda: [first], lambda d: len(fake.delivered) == 20)
        broadcast = await broadcast_now(db)
        await first.start()
        async with serving(first):
            await first.died()
        second = Serve(database_url, fake, tmp_path)
        async with serving(second):
            await second.start()
            await settled(db, broadcast, report=True)
            await fake.wait_for(
                lambda: any("Laporan siaran" in t for t in fake.texts(COORDINATOR_CHAT)),
                within=HANG)
        exactly_once(fake, range(FIRST_CHAT, FIRST_CHAT + recipients), "Air bersih")
        [report] = [t for t in fake.texts(COORDINATOR_CHAT) if "Laporan siaran" in t]
        # Everyone (the coordinator too) counted as sent, nothing failed or lost.
        assert f"Terkirim: {recipients + 1}" in report and "Gagal: 0" in report
    finally:
        await db.close()


async def test_two_replicas_send_each_reminder_once_even_when_both_are_killed(
        database_url: str, fake: LimitedBotAPI, tmp_path: Path) -> None:
    coming = 20
    chats = range(FIRST_CHAT, FIRST_CHAT + coming)
    db = await prepare(database_url, chats=coming)
    try:
        replicas = [Serve(database_url, fake, tmp_path), Serve(database_url, fake, tmp_path)]
        async with serving(*replicas):
            await asyncio.gather(*(r.start() for r in replicas))
            # Both replicas' timers fire for this one; the database gives it to one.
            first = await reminder_due_in(db, seconds=1, coming=coming)
            await fake.wait_for(lambda: len(fake.delivered) >= coming, within=HANG)
            await settled(db, first)
            exactly_once(fake, chats, "Pengingat")
            # The next one: both replicas die while it is being sent.
            kill_on(fake, lambda: replicas, lambda d: len(fake.delivered) == coming + 3)
            second = await reminder_due_in(db, seconds=1, coming=coming)
            for replica in replicas:
                await replica.died()
        again = [Serve(database_url, fake, tmp_path), Serve(database_url, fake, tmp_path)]
        async with serving(*again):
            await asyncio.gather(*(r.start() for r in again))
            await fake.wait_for(lambda: len(fake.delivered) >= 2 * coming, within=HANG)
            await settled(db, second)
        got = {chat: sum("Pengingat" in t for t in fake.texts(chat)) for chat in chats}
        assert got == dict.fromkeys(chats, 2), got  # two reminders, each exactly once
        assert fake.refused == []
    finally:
        await db.close()
