"""The per-contact inbound limit: messages over it are kept and handled in their turn, in
order, with one polite notice; nothing acknowledged is lost."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import build_services
from bot.inbound_limit import InboundGate, inbound_from_dict, inbound_to_dict
from bot.settings import Secret, Settings
from conversations.messages import Inbound, InboundKind, Location, Media
from storage.db import Database
from storage.models import Complaint, ProcessedInbound
from storage.models_pacing import InboundQueued
from tests.harness import Bot, Button, Clock, Photo, Pin, translator

pytestmark = [pytest.mark.storage]

FLOW = [
    "/start",
    Button("menu:lapor"),
    Button("jenis:air"),
    Button("kategori:keruh"),
    "Air keruh kecoklatan sejak pipa diperbaiki",
    "kemarin",
    "12",
    Pin(-6.1011, 106.9264),
    Button("kelurahan:1004"),
    Button("patokan:__skip"),
    Photo(),
    Button("telepon:__skip"),
    Button("confirm:yes"),
]
NOTICE = translator()("id", "bot.slow_down")


def gated(db: Database, clock: Clock, *, burst: int, per_minute: float) -> tuple[Bot,
                                                                                 InboundGate]:
    bot = Bot(db, clock)
    gate = InboundGate(db, burst=burst, per_minute=per_minute, clock=clock)
    bot.dispatcher.inbound_gate = gate
    return bot, gate


async def count(db: Database, model: type) -> int:
    async with db.session() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def test_a_fast_sender_is_answered_in_turn_in_order_and_told_once(db: Database) -> None:
    clock = Clock()
    bot, gate = gated(db, clock, burst=4, per_minute=60)
    replies = []
    for action in FLOW:  # all at once: the clock does not move
        replies += await bot.send(action)
    # Four were handled at once; the first message held drew the notice, once.
    assert [r.text for r in replies].count(NOTICE) == 1
    assert len(replies) == 4 + 1
    assert await count(db, InboundQueued) == len(FLOW) - 4
    # One a second after that, in the order they came: the report is complete.
    for _ in range(len(FLOW) - 4):
        clock.advance(seconds=1)
        await gate.handle_due(bot.dispatcher.handle_held)
        await bot.sender.drain()
    assert await count(db, InboundQueued) == 0
    assert await count(db, ProcessedInbound) == len(FLOW)
    async with db.session() as s:
        (complaint,) = (await s.execute(select(Complaint))).scalars().all()
    assert complaint.description == "Air keruh kecoklatan sejak pipa diperbaiki"
    assert complaint.category == "keruh" and complaint.kelurahan_code == "31.72.04.1004"
    assert "Nomor laporan" in bot.channel.sent[-1].text


async def test_a_held_message_waits_for_its_turn(db: Database) -> None:
    clock = Clock()
    bot, gate = gated(db, clock, burst=1, per_minute=6)  # one every 10 s
    await bot.send("halo")
    await bot.send("bantuan")
    clock.advance(seconds=5)
    await gate.handle_due(bot.dispatcher.handle_held)
    assert await count(db, InboundQueued) == 1  # not yet
    clock.advance(seconds=5)
    await gate.handle_due(bot.dispatcher.handle_held)
    assert await count(db, InboundQueued) == 0


async def test_a_redelivered_held_message_is_kept_once(db: Database) -> None:
    clock = Clock()
    bot, _ = gated(db, clock, burst=1, per_minute=1)
    await bot.dispatcher.handle(bot.inbound("halo"))
    again = bot.inbound("halo lagi")
    assert await bot.dispatcher.handle(again) is True  # held: acknowledged
    assert await bot.dispatcher.handle(again) is False  # the platform's retry
    assert await count(db, InboundQueued) == 1


async def test_blocking_the_bot_is_never_held(db: Database) -> None:
    clock = Clock()
    bot, _ = gated(db, clock, burst=1, per_minute=1)
    await bot.dispatcher.handle(bot.inbound("halo"))
    stop = Inbound(channel=bot.channel.name, user_id=bot.user, message_id="stop-1",
                   kind=InboundKind.STOPPED)
    assert await bot.dispatcher.handle(stop)
    assert await count(db, InboundQueued) == 0


def test_a_held_message_keeps_everything_it_carried() -> None:
    inbound = Inbound(channel="telegram", user_id="7", message_id="9", kind=InboundKind.MEDIA,
                      media=Media(kind="photo", ref="AgAD", unique_id="u", caption="pipa"),
                      location=Location(-6.1, 106.9, name="Balai"), contact_name="Siti",
                      timestamp=Clock()(), ack_ref="cq-1", language="id")
    assert inbound_from_dict(inbound_to_dict(inbound)) == inbound


async def test_the_service_limits_inbound_unless_switched_off(database_url: str,
                                                             tmp_path: Path) -> None:
    base = Settings(database_url=database_url, data_dir=tmp_path, secret_key=Secret("k" * 40))
    services = await build_services(base)
    try:
        gate = services.dispatcher.inbound_gate
        assert gate is not None and gate.burst == 30
        assert gate.interval == pytest.approx(timedelta(seconds=1).total_seconds())
    finally:
        await services.close()
    off = Settings(database_url=database_url, data_dir=tmp_path, secret_key=Secret("k" * 40),
                   inbound_per_minute=0)
    services = await build_services(off, migrate=False)
    try:
        assert services.dispatcher.inbound_gate is None
    finally:
        await services.close()
