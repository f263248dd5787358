"""Retention: what the operations guide promises is forgotten, is."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.db import Database
from tests.harness import START

pytestmark = [pytest.mark.storage]


async def test_stale_conversations_and_old_delivery_ids_are_forgotten(db: Database) -> None:
    old, recent = START - timedelta(days=31), START - timedelta(days=1)
    async with db.transaction() as tx:
        a = await tx.contacts.touch("console", "a", old)
        b = await tx.contacts.touch("console", "b", recent)
        await tx.sessions.save(a.id, {"flow": {"step": "uraian"}}, old, flow_id="complaint")
        await tx.sessions.save(b.id, {"flow": {"step": "uraian"}}, recent, flow_id="complaint")
        await tx.inbound.remember("console", "m-old", old)
        await tx.inbound.remember("console", "m-new", recent)
    async with db.transaction() as tx:
        assert await tx.sessions.forget_before(START - timedelta(days=30)) == 1
        assert await tx.inbound.forget_before(START - timedelta(days=30)) == 1
    async with db.transaction() as tx:
        assert await tx.sessions.state(a.id) is None
        assert await tx.sessions.state(b.id) == {"flow": {"step": "uraian"}}
        assert await tx.inbound.seen("console", "m-new")
        assert not await tx.inbound.seen("console", "m-old")


async def test_a_person_known_by_phone_is_recognised_under_a_whatsapp_user_id(
    db: Database,
) -> None:
    async with db.transaction() as tx:
        known = await tx.contacts.touch("whatsapp", "6281234567890", START)
        known_id = known.id
    async with db.transaction() as tx:
        again = await tx.contacts.touch("whatsapp", "US.1349120865", START,
                                        alt_id="6281234567890")
        assert again.id == known_id
        assert (again.external_id, again.alt_id) == ("6281234567890", "US.1349120865")
    async with db.transaction() as tx:
        third = await tx.contacts.touch("whatsapp", "US.1349120865", START,
                                        alt_id="6281234567890")
        assert third.id == known_id
        assert await tx.contacts.count() == 1
