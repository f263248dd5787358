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
