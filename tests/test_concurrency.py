"""Order per contact, parallel across contacts, and more than one process on one file."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.feature import Button, Context, FeatureContext, FeatureSpec
from conversations.buttons import Payload
from conversations.i18n import T
from storage.db import Database
from storage.models import Complaint
from tests.harness import Bot, Clock
from tests.harness import Button as Press

pytestmark = [pytest.mark.e2e]

SCRIPT = ["lapor", "air", "mati", "Air mati di gang kami", "kemarin", "4",
          "cilincing rt 3 rw 2", "lewati", "tidak", "ya"]


async def test_one_contacts_messages_are_taken_in_order_even_when_they_arrive_together(
    db: Database,
) -> None:
    bot = Bot(db)
    # All the answers hit the dispatcher at once, as a burst from a flaky phone would.
    await asyncio.gather(*(bot.dispatcher.handle(bot.inbound(text)) for text in SCRIPT))
    await bot.sender.drain()
    async with db.session() as s:
        [complaint] = (await s.execute(select(Complaint))).scalars().all()
    assert complaint.category == "mati" and complaint.answers["jumlah_kk"] == 4


async def test_many_residents_report_at_the_same_time(db: Database) -> None:
    clock = Clock()
    bots = [Bot(db, clock, user=f"warga-{n}") for n in range(20)]

    async def walk(bot: Bot) -> None:
        for text in SCRIPT:
            await bot.dispatcher.handle(bot.inbound(text))

    await asyncio.gather(*(walk(b) for b in bots))
    async with db.session() as s:
        complaints = (await s.execute(select(Complaint))).scalars().all()
    assert len(complaints) == 20
    assert len({c.ticket for c in complaints}) == 20
    assert len({c.contact_id for c in complaints}) == 20


@pytest.mark.storage
async def test_two_processes_on_one_sqlite_file_lose_no_update(tmp_path: Path) -> None:
    """Two engines stand in for `warga serve` and `warga chat` sharing data/warga.db."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    first, second = Database(url), Database(url)
    await first.create_all()
    async with first.transaction() as tx:
        contact = await tx.contacts.touch("console", "counter", Clock()())
        await tx.sessions.save(contact.id, {"n": 0}, Clock()())

    async def increment(db: Database) -> None:
        for _ in range(20):
            async with db.transaction() as tx:
                state = await tx.sessions.state(contact.id)
                assert state is not None
                await tx.sessions.save(contact.id, {"n": state["n"] + 1}, Clock()())
                await asyncio.sleep(0)  # hold the write lock across a scheduling point

    await asyncio.gather(*(increment(first if n % 2 else second) for n in range(10)))
    async with first.transaction() as tx:
        assert await tx.sessions.state(contact.id) == {"n": 200}
    await first.close()
    await second.close()


@dataclass(frozen=True)
class Poll(Payload, prefix="poll"):
    number: int


class PollFeature:
    """A feature whose button may be pressed in the middle of someone's report."""

    def spec(self) -> FeatureSpec:
        return FeatureSpec(name="poll", buttons=(Button(Poll, self.on_poll),))

    def bind(self, app: FeatureContext) -> None:
        pass

    async def on_poll(self, ctx: Context, button: Poll) -> None:
        ctx.say(T("bot.opted_in"))
        ctx.reask()  # a feature asking again, as the dispatcher also does


async def test_a_button_from_another_message_mid_flow_repeats_the_question_once(
    db: Database,
) -> None:
    bot = Bot(db)
    bot.dispatcher.add_feature(PollFeature())
    await bot.run(["lapor", "air"])
    reply = await bot.say(Press("poll:1"))
    assert reply.text.count("Masalah airnya apa, Bapak/Ibu?") == 1
