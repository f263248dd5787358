"""Scale-out: two ``warga serve`` replicas on one PostgreSQL database, behind a round-robin
proxy, give the same outcomes as one replica.

Two topologies run side by side, each with its own database and fake Bot API, and the
same residents sending the same updates:

- reference: one replica, webhooks straight to it;
- scaled: replicas A and B, every webhook through a round-robin proxy, so consecutive
  updates of one resident land on different replicas.

Checked on the scaled one: each resident's answers applied in order (their complaint
holds every answer, in the right fields), exactly one reply row per update and every
reply delivered once (the fake Bot API received what the reference one did, no more),
one ticket per finished report, and a reminder sent once although both replicas' timers
fire. Waits are bounded only to fail a hung test.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from storage.db import Database
from storage.models import Complaint, Contact, OutboxMessage
from storage.repos_activities import ActivityRepo
from tests.conftest import _admin
from tests.fakes.telegram_api import FakeBotAPI
from tests.test_faults import (
    Serve,
    Update,
    check_reports,
    deliver_until_200,
    free_port,
    outbox_settled,
    script_texts,
    serve_env,
    telegram_env,
    text_update,
)

pytestmark = pytest.mark.e2e

TICKET = re.compile(r"\b[A-Z]{3}-[0-9A-Z]{5}\b")
REMINDER_TITLE = "Kerja bakti saluran RW 03 uji skala"
SETTLE = 40.0


class RoundRobin:
    """A tiny HTTP load balancer on loopback: each request to the next replica in turn."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self.sent_to: collections.Counter[str] = collections.Counter()
        self._next = itertools.cycle(upstreams)
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.port = 0

    async def start(self) -> RoundRobin:
        self._http = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        upstream = next(self._next)
        self.sent_to[upstream] += 1
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "x-telegram-bot-api-secret-token")}
        try:
            async with self._http.request(request.method, upstream + request.path_qs,
                                          data=await request.read(),
                                          headers=headers) as response:
                return web.Response(status=response.status, body=await response.read())
        except (aiohttp.ClientError, OSError):
            return web.Response(status=502)  # the platform delivers it again


@contextlib.asynccontextmanager
async def scratch_database(base_url: str) -> AsyncIterator[str]:
    """A second throw-away PostgreSQL database (the reference topology's)."""
    name = f"warga_ref_{secrets.token_hex(4)}"
    await _admin(base_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def replies(fake: FakeBotAPI, chat: int) -> list[str]:
    """What a resident read, tickets blanked (they are random), as a sorted list: two
    replicas pace a chat each on their own, so replies may swap places in time."""
    texts = [TICKET.sub("TICKET", m["text"]) for m in fake.sent(chat)
             if m.get("text") != "✓"]  # "✓" only removes a reply keyboard
    return sorted(texts)


async def schedule_reminder(database_url: str, users: list[int]) -> None:
    """An activity the residents said they attend, with a reminder due in a second."""
    db = Database(database_url)
    now = datetime.now(UTC)
    try:
        async with db.transaction() as tx:
            repo = ActivityRepo(tx.session)
            activity = await repo.create(
                title=REMINDER_TITLE, kind="kerja_bakti", starts_at=now + timedelta(hours=3),
                place="Pos RW 03", audience={"type": "all"}, recurrence="none",
                reminders=["2jam"], status="published", created_at=now, updated_at=now,
                published_at=now)
            contacts = (await tx.session.execute(select(Contact.id).where(
                Contact.channel == "telegram",
                Contact.external_id.in_([str(u) for u in users])))).scalars().all()
            assert len(contacts) == len(users)
            for contact_id in contacts:
                await repo.set_rsvp(activity.id, contact_id, "yes", now)
            await repo.add_broadcast(
                kind="reminder", activity_id=activity.id,
                audience={"type": "rsvp", "activity_id": activity.id,
                          "answers": ["yes", "maybe"]},
                params={"code": "2jam"}, status="scheduled",
                due_at=now + timedelta(seconds=1), created_at=now)
    finally:
        await db.close()


async def test_two_replicas_behind_round_robin_match_one_replica(
        database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("scale-out needs PostgreSQL")
    users = list(range(6_100_001, 6_100_005))
    bodies = {user: [text_update(user, text) for text in script_texts(user)] for user in users}
    fake_ref, fake_two = await FakeBotAPI().start(), await FakeBotAPI().start()
    balancer: RoundRobin | None = None
    started: list[Serve] = []
    try:
        async with scratch_database(database_url) as reference_url:
            (tmp_path / "ref").mkdir()
            (tmp_path / "a").mkdir()
            (tmp_path / "b").mkdir()

            def serve(url: str, folder: str, fake: FakeBotAPI) -> Serve:
                port = free_port()
                # The production lease: nobody crashes here, and a lease shorter than a
                # paced reply's wait would let the other replica send it as well.
                env = serve_env(url, tmp_path / folder, port,
                                **telegram_env(fake, lease_seconds=60.0))
                service = Serve(env, port, tmp_path / folder / "serve.log")
                started.append(service)
                return service

            reference = serve(reference_url, "ref", fake_ref)
            replica_a = serve(database_url, "a", fake_two)
            replica_b = serve(database_url, "b", fake_two)
            # A migrates the shared database first; then B joins it.
            await asyncio.gather(reference.start(), replica_a.start())
            await replica_b.start()
            balancer = await RoundRobin([replica_a.url, replica_b.url]).start()

            # The same residents, the same updates, both topologies at once.
            scaled: dict[int, list[Update]] = {}
            single: dict[int, list[Update]] = {}
            async with aiohttp.ClientSession() as http:

                async def resident(user: int, url: str, sent: dict[int, list[Update]]
                                   ) -> None:
                    # Telegram delivers one chat's updates in order, the next after a 200.
                    sent[user] = [Update(user, n, dict(body))
                                  for n, body in enumerate(bodies[user])]
                    for update in sent[user]:
                        await deliver_until_200(http, lambda: url, update)

                async with asyncio.timeout(SETTLE):
                    await asyncio.gather(
                        *(resident(user, balancer.url, scaled) for user in users),
                        *(resident(user, reference.url, single) for user in users))
            # Both replicas served this resident's conversation.
            assert balancer.sent_to[replica_a.url] and balancer.sent_to[replica_b.url]

            two_db, ref_db = Database(database_url), Database(reference_url)
            try:
                await asyncio.gather(outbox_settled(two_db), outbox_settled(ref_db))
                scaled_updates = [u for us in scaled.values() for u in us]
                # Answers in order (every field of every complaint right), one ticket
                # each, every update stored and its reply row sent.
                await check_reports(two_db, users, scaled_updates)
                await check_reports(ref_db, users, [u for us in single.values() for u in us])
                async with two_db.session() as session:
                    reply_rows = (await session.execute(
                        select(func.count()).select_from(OutboxMessage)
                        .where(OutboxMessage.dedupe_key.like("reply:%")))).scalar_one()
                    tickets = (await session.execute(
                        select(func.count()).select_from(Complaint))).scalar_one()
                assert reply_rows == len(scaled_updates)
                assert tickets == len(users)

                # Every reply delivered exactly once: what one replica's residents read.
                for user in users:
                    assert replies(fake_two, user) == replies(fake_ref, user), user

                # A reminder: both replicas' timers fire; it goes out once per resident.
                await schedule_reminder(database_url, users)

                def reminded(user: int) -> int:
                    return sum(REMINDER_TITLE in m.get("text", "")
                               for m in fake_two.sent(user))

                async with asyncio.timeout(SETTLE):
                    while True:
                        if all(reminded(user) for user in users):
                            break
                        await asyncio.sleep(0.1)
                # Both replicas tick every 5 s: give the other one its turns to repeat it.
                await asyncio.sleep(6.0)
                assert [reminded(user) for user in users] == [1] * len(users)
            finally:
                await two_db.close()
                await ref_db.close()
            for service in started:
                assert await service.stop() == 0, service.output()
                assert "Traceback" not in service.output(), service.output()
    finally:
        for service in started:
            with contextlib.suppress(ProcessLookupError, AssertionError):
                await service.stop()
        if balancer is not None:
            await balancer.close()
        await fake_ref.close()
        await fake_two.close()
    assert fake_ref.problems == [] and fake_two.problems == []
