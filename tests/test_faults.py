"""Fault tests: ``warga serve`` killed under load, its database gone for a while, a slow
Graph API. The service runs as a real process (``python -m bot serve``) in webhook mode;
this process plays Telegram or Meta (posting webhooks, retrying what got no 200) and runs
the fake platform APIs on loopback.

Waits are bounded only to fail a hung test; the one timed assertion is the WhatsApp
webhook's answer under a slow Graph API, which is the requirement itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.app import create_app
from bot.settings import Secret, Settings
from bot.telegram import SECRET_HEADER, WEBHOOK_PATH, TelegramPlugin
from conversations.messages import Pacing
from handlers.whatsapp import SIGNATURE_HEADER, sign
from storage import db as storage_db
from storage.db import Database
from storage.models import Complaint, Contact, OutboxMessage, ProcessedInbound
from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.telegram_api import TOKEN, FakeBotAPI
from tests.fakes.whatsapp_api import PHONE_NUMBER_ID, FakeGraphAPI
from tests.fakes.whatsapp_api import TOKEN as WA_TOKEN

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
SECRET = "fault-tests-webhook-secret_0123456789"
APP_SECRET = "fault-tests-app-secret"
SETTLE = 30.0  # seconds before a hung wait fails the test
# Telegram's pacing (1 message/s per chat) would only make an in-process walk slow.
FAST = Pacing(rate=1000.0, per_recipient_interval=0.0, burst=100)
# One resident's report, typed (what Telegram delivers for each message). Every answer
# is checked in the complaint it makes, so an acknowledged answer that was lost shows.
# Each resident has their own RT: reports of one problem in one RT are linked to each
# other, which would make a reply depend on who finished first.
SCRIPT = ["lapor", "air", "keruh", "{description}", "kemarin", "12",
          "kalibaru rt {rt} rw 3 dekat masjid", "tidak", "ya"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the service as a process ------------------------------------------------------------


@dataclass
class Serve:
    """``python -m bot serve`` on a loopback port; its output goes to ``log``."""

    env: dict[str, str]
    port: int
    log: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _output_file(self) -> IO[bytes]:
        return open(self.log, "ab")  # appended to: one log across restarts

    async def start(self) -> Serve:
        with self._output_file() as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve", env=self.env, cwd=self.log.parent,
                stdout=out, stderr=asyncio.subprocess.STDOUT)
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(60):
                while True:
                    if self.process.returncode is not None:
                        raise AssertionError(f"warga serve exited:\n{self.output()}")
                    with contextlib.suppress(aiohttp.ClientError, OSError):
                        async with http.get(f"{self.url}/healthz") as r:
                            if r.status == 200:
                                return self
                    await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs at all."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        """SIGTERM, as systemd or Docker stops it; returns the exit status."""
        process = self.process
        if process is None or process.returncode is not None:
            return process.returncode if process is not None else 0
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(30):
                return await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(
                f"warga serve did not stop on SIGTERM:\n{self.output()}") from None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]


def serve_env(database_url: str, data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WARGA_", "TELEGRAM_", "WHATSAPP_"))}
    env.update(WARGA_DATABASE_URL=database_url, WARGA_DATA_DIR=str(data_dir),
               WARGA_PORT=str(port), WARGA_SECRET_KEY="fault-tests-key-" + "k" * 32,
               PYTHONPATH=str(ROOT), **extra)
    return env


def telegram_env(fake: FakeBotAPI, *, lease_seconds: float = 1.0) -> dict[str, str]:
    # A short lease by default: rows a killed process had claimed are taken over a second
    # later. (Only with one process: replies are not fenced by the lease, so with two
    # replicas a lease shorter than a paced send's wait lets the other one send it too.)
    return {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.url,
            "TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "WARGA_LEASE_SECONDS": str(lease_seconds)}


@contextlib.asynccontextmanager
async def running(*services: Serve) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for service in services:
            with contextlib.suppress(ProcessLookupError, AssertionError):
                await service.stop()


# -- Telegram's side -----------------------------------------------------------------------

_update_ids = itertools.count(810_000_001)


@dataclass
class Update:
    user: int
    step: int
    body: dict[str, Any]
    statuses: list[int | str] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return 200 in self.statuses


def text_update(user: int, text: str) -> dict[str, Any]:
    who = {"id": user, "is_bot": False, "first_name": f"Warga {user}", "language_code": "id"}
    return {"update_id": next(_update_ids), "message": {
        "message_id": next(_update_ids), "from": who,
        "chat": {"id": user, "type": "private", "first_name": f"Warga {user}"},
        "date": int(time.time()), "text": text}}


def description(user: int) -> str:
    return f"Air keruh di rumah warga nomor {user}"


def rt_of(user: int) -> int:
    return user % 97 + 1


def script_texts(user: int) -> list[str]:
    return [text.format(description=description(user), rt=rt_of(user)) for text in SCRIPT]


def script_for(user: int) -> list[Update]:
    return [Update(user, n, text_update(user, text))
            for n, text in enumerate(script_texts(user))]


async def post_update(http: aiohttp.ClientSession, url: str, update: Update) -> int | str:
    """One delivery attempt: the status, or the transport error's name (no answer)."""
    try:
        async with http.post(url + WEBHOOK_PATH, json=update.body,
                             headers={SECRET_HEADER: SECRET}) as response:
            await response.read()
            status: int | str = response.status
    except (aiohttp.ClientError, OSError) as error:
        status = type(error).__name__
    update.statuses.append(status)
    return status


async def deliver_until_200(http: aiohttp.ClientSession, url: Callable[[], str],
                            update: Update) -> None:
    """Telegram's retry: the same update again until it gets a 200."""
    async with asyncio.timeout(SETTLE):
        while True:
            if await post_update(http, url(), update) == 200:
                return
            await asyncio.sleep(0.2)


async def outbox_settled(db: Database) -> None:
    """Every reply row left the outbox (nothing pending, nothing leased)."""
    async with asyncio.timeout(SETTLE):
        while True:
            async with db.transaction() as tx:
                counts = await tx.outbox.counts()
            if not counts.get("pending") and not counts.get("sending"):
                return
            await asyncio.sleep(0.1)


async def check_reports(db: Database, users: list[int], updates: list[Update]) -> None:
    """Every update stored once, every answer in its user's one complaint, every reply
    row sent."""
    async with db.session() as session:
        stored = set((await session.execute(
            select(ProcessedInbound.message_id).where(ProcessedInbound.channel == "telegram")
        )).scalars())
        assert {str(u.body["update_id"]) for u in updates} <= stored
        rows = (await session.execute(
            select(Contact.external_id, Complaint.description, Complaint.category,
                   Complaint.kelurahan_code, Complaint.rt, Complaint.rw)
            .join(Complaint, Complaint.contact_id == Contact.id))).all()
        per_user: dict[str, list[Any]] = {}
        for row in rows:
            per_user.setdefault(row.external_id, []).append(row)
        for user in users:
            reports = per_user.get(str(user), [])
            assert len(reports) == 1, f"user {user}: {len(reports)} tickets"
            (report,) = reports
            assert (report.description, report.category, report.kelurahan_code, report.rt,
                    report.rw) == (description(user), "keruh", "31.72.04.1004",
                                   f"{rt_of(user):03d}", "003")
        replies = (await session.execute(
            select(OutboxMessage.dedupe_key, OutboxMessage.status))).all()
        by_key = {key: status for key, status in replies if key and key.startswith("reply:")}
        for update in updates:
            assert by_key.get(f"reply:telegram:{update.body['update_id']}") == "sent", update


# -- (a) SIGKILL under load ----------------------------------------------------------------


async def test_sigkill_under_load_loses_nothing_acknowledged(
        database_url: str, tmp_path: Path) -> None:
    fake = await FakeBotAPI().start()
    port = free_port()
    service = Serve(serve_env(database_url, tmp_path, port, **telegram_env(fake)), port,
                    tmp_path / "serve.log")
    users = list(range(5_100_001, 5_100_009))
    scripts = {user: script_for(user) for user in users}
    updates = [u for script in scripts.values() for u in script]
    acknowledged = 0
    half_way = asyncio.Event()
    killed = asyncio.Event()
    try:
        await service.start()
        async with running(service), aiohttp.ClientSession() as http:

            async def resident(user: int) -> int:
                """Sends the next message once the last got its 200; stops at the crash.
                Returns how far it got."""
                nonlocal acknowledged
                for n, update in enumerate(scripts[user]):
                    if killed.is_set() or await post_update(http, service.url, update) != 200:
                        return n
                    acknowledged += 1
                    if acknowledged >= len(updates) // 2:
                        half_way.set()
                return len(scripts[user])

            async def killer() -> None:
                await half_way.wait()
                await service.kill()  # mid-load: other residents' requests are in flight
                killed.set()

            async with asyncio.timeout(SETTLE):
                kill = asyncio.create_task(killer())
                reached = await asyncio.gather(*(resident(user) for user in users))
                await kill
            assert any(n < len(SCRIPT) for n in reached), "the crash came too late"
            in_flight = [u for u in updates if u.statuses and not u.acknowledged]

            # Restarted on the same address; Telegram delivers again what got no 200,
            # then the residents carry on.
            await service.start()

            async def resume(user: int, start: int) -> None:
                for update in scripts[user][start:]:
                    await deliver_until_200(http, lambda: service.url, update)

            await asyncio.gather(*(resume(user, n) for user, n in zip(users, reached,
                                                                        strict=True)))
            db = Database(database_url)
            try:
                await outbox_settled(db)
                await check_reports(db, users, updates)
            finally:
                await db.close()
        assert await service.stop() == 0, service.output()
    finally:
        await fake.close()
    assert fake.problems == [], fake.problems
    # Every reply row was sent, the tickets included. (Not necessarily in order: a reply
    # the killed process had claimed goes out when its lease ends, after newer ones.)
    for user in users:
        assert any("Nomor laporan" in m["text"] for m in fake.sent(user)), user
    # What the crash interrupted really was in flight, and was taken up again.
    assert all(u.acknowledged for u in in_flight)


# -- (b) the database goes away ------------------------------------------------------------


async def test_postgres_outage_answers_503_then_processes_everything_once(
        database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the outage variant needs PostgreSQL (WARGA_TEST_DATABASE_URL); on "
                    "SQLite see test_locked_sqlite_answers_503_until_free")
    url = make_url(database_url)
    fake = await FakeBotAPI().start()
    proxy = await TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False)
    port = free_port()
    service = Serve(serve_env(through_proxy, tmp_path, port, **telegram_env(fake)), port,
                    tmp_path / "serve.log")
    users = list(range(5_200_001, 5_200_005))
    scripts = {user: script_for(user) for user in users}
    updates = [u for script in scripts.values() for u in script]
    try:
        await service.start()
        async with running(service), aiohttp.ClientSession() as http:
            # Before: the first four answers of each resident, stored.
            for user in users:
                for update in scripts[user][:4]:
                    assert await post_update(http, service.url, update) == 200
            await proxy.cut()
            # During: nothing can be stored, so nothing is acknowledged.
            during = [scripts[user][4] for user in users]
            for update in during:
                assert await post_update(http, service.url, update) == 503, update.statuses
            async with http.get(service.url + "/healthz") as health:
                assert health.status == 503
            await proxy.restore()
            # After: Telegram delivers again what got a 503, then the rest.
            for user in users:
                for update in scripts[user][4:]:
                    await deliver_until_200(http, lambda: service.url, update)
            db = Database(database_url)
            try:
                await outbox_settled(db)
                await check_reports(db, users, updates)
                async with db.session() as session:
                    rows = (await session.execute(
                        select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.dedupe_key.like("reply:%")))).scalar_one()
                assert rows == len(updates)  # one reply each, none twice
            finally:
                await db.close()
        assert await service.stop() == 0, service.output()
    finally:
        await proxy.close()
        await fake.close()
    assert fake.problems == [], fake.problems
    assert all(u.statuses[0] == 503 for u in during)
    assert "Traceback" not in service.output()


async def test_locked_sqlite_answers_503_until_free(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's outage: another process holds the write lock (a backup, a stuck
    `warga chat`). The webhook answers 503 instead of acknowledging what it could not
    store, and everything is stored once the lock is free."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the SQLite variant of the outage test (PostgreSQL runs the proxy one)")
    # In production a writer waits up to 30 s for the lock; the test waits half a second.
    monkeypatch.setattr(storage_db, "SQLITE_BUSY_TIMEOUT_S", 0.5)
    fake = await FakeBotAPI().start()
    # A one-second lease: a delivery whose record the lock refused is sent again soon.
    settings = Settings(database_url=database_url, data_dir=tmp_path,
                        telegram_bot_token=Secret(TOKEN), telegram_api_url=fake.url,
                        telegram_mode="webhook", telegram_webhook_secret=Secret(SECRET),
                        lease_seconds=1.0)
    app = create_app(settings, plugins=[TelegramPlugin(settings, pacing=FAST)])
    user = 5_300_001
    script = script_for(user)
    try:
        async with TestClient(TestServer(app)) as client:

            async def post(update: Update) -> int:
                response = await client.post(WEBHOOK_PATH, json=update.body,
                                             headers={SECRET_HEADER: SECRET})
                update.statuses.append(response.status)
                return response.status

            for update in script[:3]:
                assert await post(update) == 200
            path = make_url(database_url).database
            assert path is not None
            # The other process's connection, on a thread of its own: waiting for the
            # lock on the event loop's thread would stall the service under test too.
            holder = await asyncio.to_thread(sqlite3.connect, path, isolation_level=None,
                                             check_same_thread=False)
            try:
                await asyncio.to_thread(holder.execute, "BEGIN IMMEDIATE")  # the write lock
                assert await post(script[3]) == 503
            finally:
                await asyncio.to_thread(holder.execute, "ROLLBACK")
                await asyncio.to_thread(holder.close)
            for update in script[3:]:
                assert await post(update) == 200
            db = Database(database_url)
            try:
                await outbox_settled(db)
                await check_reports(db, [user], script)
            finally:
                await db.close()
    finally:
        await fake.close()
    assert script[3].statuses == [503, 200]


# -- (c) a slow Graph API --------------------------------------------------------------------


def whatsapp_delivery(user: str, wamid: str, text: str) -> bytes:
    import json

    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "622100000", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Warga"}, "wa_id": user}],
        "messages": [{"from": user, "id": wamid, "timestamp": str(int(time.time())),
                      "type": "text", "text": {"body": text}}],
    }
    return json.dumps({"object": "whatsapp_business_account", "entry": [
        {"id": "WABA", "changes": [{"field": "messages", "value": value}]}]}).encode()


async def test_whatsapp_webhook_answers_fast_while_the_graph_api_is_slow(
        database_url: str, tmp_path: Path) -> None:
    """Meta gives up on a webhook after a few seconds and delivers it again for days;
    the Graph API (replies, read receipts) taking 3 s a call must not show in the 200."""
    async with FakeGraphAPI(delay=3.0) as fake:
        port = free_port()
        env = serve_env(database_url, tmp_path, port,
                        WHATSAPP_ACCESS_TOKEN=WA_TOKEN,
                        WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
                        WHATSAPP_APP_SECRET=APP_SECRET, WHATSAPP_VERIFY_TOKEN="verify",
                        WHATSAPP_API_URL=fake.url)
        service = Serve(env, port, tmp_path / "serve.log")
        await service.start()
        answers: list[tuple[int, float]] = []
        users = [f"62812000{n:05d}" for n in range(5)]
        async with running(service), aiohttp.ClientSession() as http:

            async def resident(user: str) -> None:
                for n, text in enumerate(script_texts(int(user))[:6]):
                    body = whatsapp_delivery(user, f"wamid.slow.{user}.{n}", text)
                    t0 = time.perf_counter()
                    async with http.post(f"{service.url}/webhooks/whatsapp", data=body,
                                         headers={"Content-Type": "application/json",
                                                  SIGNATURE_HEADER: sign(APP_SECRET, body)}
                                         ) as response:
                        await response.read()
                        answers.append((response.status, time.perf_counter() - t0))

            async with asyncio.timeout(SETTLE):
                await asyncio.gather(*(resident(user) for user in users))
                # The Graph API was really in the way: replies and receipts arrive, late.
                while True:
                    if all(fake.to(user) for user in users):
                        break
                    await asyncio.sleep(0.1)
        assert await service.stop() == 0, service.output()
    assert fake.problems == [], fake.problems
    assert [status for status, _ in answers] == [200] * len(users) * 6
    slowest = max(seconds for _, seconds in answers)
    assert slowest < 1.0, f"a webhook took {slowest:.2f} s while the Graph API was slow"

