"""Repository contract tests: SQLite by default, PostgreSQL with WARGA_TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError

from storage.db import Database
from storage.models import Complaint

pytestmark = pytest.mark.storage

NOW = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)
WIB = timezone(timedelta(hours=7), "WIB")
LEASE = timedelta(seconds=30)


async def make_contact(db: Database, external_id: str = "100", channel: str = "telegram") -> int:
    async with db.transaction() as tx:
        contact = await tx.contacts.upsert(channel, external_id, NOW)
        return contact.id


def tickets(*values: str) -> Callable[[], str]:
    it = iter(values)
    return lambda: next(it)


async def enqueue(db: Database, n: int = 1, **kwargs: object) -> list[int]:
    ids: list[int] = []
    async with db.transaction() as tx:
        for i in range(n):
            row_id = await tx.outbox.enqueue(
                channel="telegram",
                recipient=f"r{i}",
                payload={"text": f"pesan {i}"},
                now=NOW,
                **kwargs,  # type: ignore[arg-type]
            )
            assert row_id is not None
            ids.append(row_id)
    return ids


async def claim(db: Database, at: datetime, limit: int = 10) -> list[int]:
    async with db.transaction() as tx:
        return [row.id for row in await tx.outbox.claim_due(at, limit=limit, lease=LEASE)]


# contacts


async def test_contact_upsert_is_idempotent_and_keeps_name_and_alt_id(db: Database) -> None:
    async with db.transaction() as tx:
        first = await tx.contacts.upsert(
            "whatsapp", "ID.bsuid-1", NOW, name="Siti Aminah", alt_id="6281234567890"
        )
        first_id = first.id
    async with db.transaction() as tx:
        again = await tx.contacts.upsert("whatsapp", "ID.bsuid-1", NOW + timedelta(minutes=5))
        assert again.id == first_id
        assert again.name == "Siti Aminah"
        assert again.alt_id == "6281234567890"
        assert again.last_inbound_at == NOW + timedelta(minutes=5)
        assert await tx.contacts.count() == 1


async def test_contact_lookup_by_alt_id_and_channel(db: Database) -> None:
    async with db.transaction() as tx:
        contact = await tx.contacts.upsert("whatsapp", "ID.bsuid-2", NOW, alt_id="6281111")
        contact_id = contact.id
    async with db.transaction() as tx:
        by_alt = await tx.contacts.get_by_external("whatsapp", "6281111")
        by_main = await tx.contacts.get_by_external("whatsapp", "ID.bsuid-2")
        assert by_alt is not None and by_main is not None
        assert by_alt.id == by_main.id == contact_id
        assert await tx.contacts.get_by_external("telegram", "6281111") is None


async def test_contact_upsert_new_name_replaces_old(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.contacts.upsert("telegram", "7", NOW, name="Budi")
    async with db.transaction() as tx:
        contact = await tx.contacts.upsert("telegram", "7", NOW, name="Budi Santoso")
        assert contact.name == "Budi Santoso"


async def test_contact_long_name_is_truncated_on_insert(db: Database) -> None:
    async with db.transaction() as tx:
        contact = await tx.contacts.upsert("telegram", "8", NOW, name="N" * 300)
        contact_id = contact.id
    async with db.transaction() as tx:
        found = await tx.contacts.get(contact_id)
        assert found is not None and found.name == "N" * 200


# inbound dedupe


async def test_inbound_remember_dedupes_per_channel(db: Database) -> None:
    async with db.transaction() as tx:
        assert await tx.inbound.remember("whatsapp", "wamid.ABC", NOW) is True
    async with db.transaction() as tx:
        assert await tx.inbound.remember("whatsapp", "wamid.ABC", NOW) is False
        assert await tx.inbound.remember("telegram", "wamid.ABC", NOW) is True
        assert await tx.inbound.seen("whatsapp", "wamid.ABC")
        assert not await tx.inbound.seen("whatsapp", "wamid.other")


async def test_inbound_forget_before(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.inbound.remember("telegram", "1", NOW - timedelta(days=10))
        await tx.inbound.remember("telegram", "2", NOW)
    async with db.transaction() as tx:
        assert await tx.inbound.forget_before(NOW - timedelta(days=7)) == 1
        assert not await tx.inbound.seen("telegram", "1")
        assert await tx.inbound.seen("telegram", "2")


# sessions


async def test_session_save_get_delete_round_trips_json(db: Database) -> None:
    contact_id = await make_contact(db)
    state = {
        "answers": {"kategori": "keruh", "rt": "005", "anggota": [{"nama": "Ani", "umur": 7}]},
        "darurat": True,
        "catatan": 'Air bau 🤢, "keruh" sejak Senin\nbaris kedua',
        "kosong": None,
        "angka": 12.5,
    }
    expires = NOW + timedelta(hours=24)
    async with db.transaction() as tx:
        await tx.sessions.save(
            contact_id,
            state,
            NOW,
            flow_id="complaint",
            flow_version=3,
            step="lokasi",
            status="active",
            expires_at=expires,
        )
    async with db.transaction() as tx:
        session = await tx.sessions.get(contact_id)
        assert session is not None
        assert session.state == state
        assert (session.flow_id, session.flow_version, session.step, session.status) == (
            "complaint",
            3,
            "lokasi",
            "active",
        )
        assert session.expires_at == expires
        assert await tx.sessions.count_active() == 1
    async with db.transaction() as tx:
        await tx.sessions.save(contact_id, {"x": 1}, NOW, flow_id="settings", step="bahasa")
    async with db.transaction() as tx:
        session = await tx.sessions.get(contact_id, for_update=False)
        assert session is not None
        assert session.state == {"x": 1}
        assert session.flow_id == "settings"
        assert session.expires_at is None
        await tx.sessions.delete(contact_id)
    async with db.transaction() as tx:
        assert await tx.sessions.get(contact_id) is None
        assert await tx.sessions.count_active() == 0


async def test_a_message_reads_its_senders_contact_and_session_together(
        db: Database) -> None:
    """What the dispatcher reads first for every message (on SQLite one statement):
    the contact, created if new, and the session document as it is in the database."""
    async with db.transaction() as tx:
        first, state = await tx.contacts.touch_reading_session("telegram", "501", NOW,
                                                               name="Siti")
        assert state is None  # no session yet
        assert first.name == "Siti"
        await tx.sessions.save(first.id, {"step": "jenis"}, NOW)
    async with db.transaction() as tx:
        again, state = await tx.contacts.touch_reading_session("telegram", "501", NOW)
        assert (again.id, again.name, state) == (first.id, "Siti", {"step": "jenis"})
        await tx.sessions.save(again.id, {"step": "kategori"}, NOW)
        other, state = await tx.contacts.touch_reading_session("telegram", "502", NOW)
        assert other.id != first.id and state is None
    async with db.transaction() as tx:
        _, state = await tx.contacts.touch_reading_session("telegram", "501", NOW)
        assert state == {"step": "kategori"}
        await tx.sessions.delete(first.id)
    async with db.transaction() as tx:
        # Known by another id (WhatsApp's phone number beside its user id): same person.
        _, state = await tx.contacts.touch_reading_session("telegram", "501", NOW)
        assert state is None


async def test_concurrent_read_modify_write_loses_no_update(db: Database) -> None:
    contact_id = await make_contact(db)
    async with db.transaction() as tx:
        await tx.sessions.save(contact_id, {"counter": 0}, NOW)

    async def worker() -> None:
        for _ in range(20):
            async with db.transaction() as tx:
                session = await tx.sessions.get(contact_id)
                assert session is not None
                state = dict(session.state)
                # Yield between read and write so the other tasks really interleave.
                await asyncio.sleep(0)
                state["counter"] += 1
                await tx.sessions.save(contact_id, state, NOW)

    await asyncio.gather(*(worker() for _ in range(10)))
    async with db.transaction() as tx:
        session = await tx.sessions.get(contact_id, for_update=False)
        assert session is not None
        assert session.state["counter"] == 200


# complaints


async def test_complaint_ticket_collision_draws_again(db: Database) -> None:
    contact_id = await make_contact(db)
    fields: dict[str, object] = {
        "report_type": "air",
        "category": "keruh",
        "description": "Air keruh",
        "flow_id": "complaint",
        "flow_version": 1,
        "answers": {"kategori": "keruh"},
    }
    async with db.transaction() as tx:
        first = await tx.complaints.create(
            new_ticket=tickets("AIR-4K7QX"),
            contact_id=contact_id,
            now=NOW,
            actor="warga",
            **fields,
        )
        assert first.ticket == "AIR-4K7QX"
    calls: list[str] = []

    def duplicate_first() -> str:
        ticket = "AIR-4K7QX" if not calls else "AIR-9Z8Y7"
        calls.append(ticket)
        return ticket

    async with db.transaction() as tx:
        second = await tx.complaints.create(
            new_ticket=duplicate_first, contact_id=contact_id, now=NOW, actor="warga", **fields
        )
        assert second.ticket == "AIR-9Z8Y7"
        second_id = second.id
    assert calls == ["AIR-4K7QX", "AIR-9Z8Y7"]
    async with db.transaction() as tx:
        found = await tx.complaints.by_ticket("air-9z8y7")
        assert found is not None and found.id == second_id
        assert found.answers == {"kategori": "keruh"}
        assert [c.ticket for c in await tx.complaints.for_contact(contact_id)] == [
            "AIR-9Z8Y7",
            "AIR-4K7QX",
        ]
        history = await tx.complaints.history(second_id)
        assert [(h.status, h.actor) for h in history] == [("diterima", "warga")]


async def test_complaint_gives_up_when_every_ticket_collides(db: Database) -> None:
    contact_id = await make_contact(db)
    fields: dict[str, object] = {
        "report_type": "air",
        "description": "x",
        "flow_id": "complaint",
        "flow_version": 1,
        "answers": {},
    }
    async with db.transaction() as tx:
        await tx.complaints.create(
            new_ticket=tickets("AIR-AAAAA"), contact_id=contact_id, now=NOW, actor="w", **fields
        )
    with pytest.raises(RuntimeError, match="unique ticket"):
        async with db.transaction() as tx:
            await tx.complaints.create(
                new_ticket=lambda: "AIR-AAAAA",
                contact_id=contact_id,
                now=NOW,
                actor="w",
                **fields,
            )


async def test_complaint_status_history_in_order(db: Database) -> None:
    contact_id = await make_contact(db)
    async with db.transaction() as tx:
        complaint = await tx.complaints.create(
            new_ticket=tickets("AIR-22222"),
            contact_id=contact_id,
            now=NOW,
            actor="warga",
            report_type="air",
            description="Pompa rusak",
            flow_id="complaint",
            flow_version=1,
            answers={},
        )
        complaint_id = complaint.id
    steps = [("diverifikasi", "koordinator:1"), ("diproses", "koordinator:2"), ("selesai", "k:1")]
    for i, (status, actor) in enumerate(steps, start=1):
        async with db.transaction() as tx:
            found = await tx.complaints.by_ticket("AIR-22222")
            assert found is not None
            await tx.complaints.set_status(
                found, status, NOW + timedelta(days=i), actor, note=f"catatan {i}"
            )
    async with db.transaction() as tx:
        found = await tx.complaints.by_ticket("AIR-22222")
        assert found is not None and found.status == "selesai"
        assert found.updated_at == NOW + timedelta(days=3)
        history = await tx.complaints.history(complaint_id)
    assert [h.status for h in history] == ["diterima", "diverifikasi", "diproses", "selesai"]
    assert [h.at for h in history] == [NOW + timedelta(days=i) for i in range(4)]
    assert history[2].note == "catatan 2" and history[2].actor == "koordinator:2"


async def test_complaint_stream_yields_all_in_id_order(db: Database) -> None:
    contact_id = await make_contact(db)
    codes = iter(f"AIR-{n:05d}" for n in itertools.count())
    async with db.transaction() as tx:
        for i in range(7):
            await tx.complaints.create(
                new_ticket=lambda: next(codes),
                contact_id=contact_id,
                now=NOW,
                actor="w",
                report_type="air",
                description=f"d{i}",
                flow_id="c",
                flow_version=1,
                answers={},
            )
    async with db.transaction() as tx:
        seen = [c.description async for c in tx.complaints.stream(batch=3)]
    assert seen == [f"d{i}" for i in range(7)]


async def test_complaint_stream_keeps_changes_and_bounded_memory(db: Database) -> None:
    contact_id = await make_contact(db)
    codes = iter(f"AIR-{n:05d}" for n in itertools.count())
    async with db.transaction() as tx:
        for i in range(1200):
            await tx.complaints.create(
                new_ticket=lambda: next(codes),
                contact_id=contact_id,
                now=NOW,
                actor="w",
                report_type="air",
                description=f"d{i}",
                flow_id="c",
                flow_version=1,
                answers={},
            )
    async with db.transaction() as tx:
        largest_identity_map = 0
        async for complaint in tx.complaints.stream(batch=100):
            if complaint.id % 2:
                complaint.status = "diproses"
            largest_identity_map = max(largest_identity_map, len(tx.session.identity_map))
    # Rows of earlier batches are not kept alive by the session.
    assert largest_identity_map <= 250
    async with db.transaction() as tx:
        counts = {
            status: n
            for status, n in (
                await tx.session.execute(
                    select(Complaint.status, func.count()).group_by(Complaint.status)
                )
            ).all()
        }
    assert counts == {"diproses": 600, "diterima": 600}


# outbox


async def test_outbox_dedupe_key(db: Database) -> None:
    async with db.transaction() as tx:
        first = await tx.outbox.enqueue(
            channel="telegram", recipient="1", payload={"t": 1}, now=NOW, dedupe_key="rem:5:1"
        )
        second = await tx.outbox.enqueue(
            channel="telegram", recipient="1", payload={"t": 2}, now=NOW, dedupe_key="rem:5:1"
        )
        assert first is not None
        assert second is None
        # Without a key nothing is deduplicated.
        assert await tx.outbox.enqueue(channel="telegram", recipient="1", payload={}, now=NOW)
        assert await tx.outbox.enqueue(channel="telegram", recipient="1", payload={}, now=NOW)
        assert await tx.outbox.counts() == {"pending": 3}
    async with db.transaction() as tx:
        again = await tx.outbox.enqueue(
            channel="whatsapp", recipient="2", payload={}, now=NOW, dedupe_key="rem:5:1"
        )
        assert again is None


async def test_outbox_claim_order_replies_first_then_time(db: Database) -> None:
    async with db.transaction() as tx:

        async def add(name: str, priority: int, at: datetime) -> int:
            row_id = await tx.outbox.enqueue(
                channel="telegram",
                recipient=name,
                payload={"n": name},
                now=NOW,
                priority=priority,
                not_before=at,
            )
            assert row_id is not None
            return row_id

        bulk_old = await add("bulk_old", 10, NOW - timedelta(minutes=10))
        reply_new = await add("reply_new", 0, NOW - timedelta(seconds=1))
        bulk_new = await add("bulk_new", 10, NOW - timedelta(minutes=1))
        reply_old = await add("reply_old", 0, NOW - timedelta(minutes=5))
        await add("future", 0, NOW + timedelta(minutes=1))
    assert await claim(db, NOW) == [reply_old, reply_new, bulk_old, bulk_new]
    async with db.transaction() as tx:
        assert await tx.outbox.counts() == {"sending": 4, "pending": 1}
        assert await tx.outbox.next_due_at() == NOW + timedelta(minutes=1)


async def test_outbox_claim_respects_limit_channels_and_exclude(db: Database) -> None:
    ids = await enqueue(db, 3)
    async with db.transaction() as tx:
        wa = await tx.outbox.enqueue(channel="whatsapp", recipient="x", payload={}, now=NOW)
    async with db.transaction() as tx:
        rows = await tx.outbox.claim_due(
            NOW, limit=10, lease=LEASE, channels=["whatsapp"], exclude=[ids[0]]
        )
        assert [r.id for r in rows] == [wa]
        rows = await tx.outbox.claim_due(NOW, limit=1, lease=LEASE, exclude=[ids[0]])
        assert [r.id for r in rows] == [ids[1]]


async def test_outbox_lease_blocks_reclaim_until_it_expires(db: Database) -> None:
    (row_id,) = await enqueue(db)
    assert await claim(db, NOW) == [row_id]
    assert await claim(db, NOW + timedelta(seconds=10)) == []
    assert await claim(db, NOW + LEASE + timedelta(seconds=1)) == [row_id]
    async with db.transaction() as tx:
        row = await tx.outbox.get(row_id)
        assert row is not None
        assert row.status == "sending"
        assert row.attempts == 2
        assert row.lease_until == NOW + LEASE + timedelta(seconds=1) + LEASE


async def test_outbox_mark_sent_retry_failed(db: Database) -> None:
    sent_id, retry_id, failed_id = await enqueue(db, 3)
    assert await claim(db, NOW) == [sent_id, retry_id, failed_id]
    later = NOW + timedelta(minutes=2)
    async with db.transaction() as tx:
        await tx.outbox.mark_sent(sent_id, NOW, "wamid.1")
        await tx.outbox.mark_retry(retry_id, later, "429 Too Many Requests " + "x" * 400)
        await tx.outbox.mark_failed(failed_id, "403 bot was blocked by the user")
    async with db.transaction() as tx:
        sent = await tx.outbox.get(sent_id)
        retry = await tx.outbox.get(retry_id)
        failed = await tx.outbox.get(failed_id)
        assert sent is not None and retry is not None and failed is not None
        assert (sent.status, sent.sent_at, sent.provider_message_id, sent.lease_until) == (
            "sent",
            NOW,
            "wamid.1",
            None,
        )
        assert (retry.status, retry.next_attempt_at, retry.lease_until) == ("pending", later, None)
        assert retry.error is not None and len(retry.error) == 300
        assert (failed.status, failed.error) == ("failed", "403 bot was blocked by the user")
        by_provider = await tx.outbox.by_provider_id("wamid.1")
        assert by_provider is not None and by_provider.id == sent_id
    # Nothing is due before the retry time; then only the retried row is.
    assert await claim(db, NOW + timedelta(minutes=1)) == []
    assert await claim(db, later) == [retry_id]
    async with db.transaction() as tx:
        await tx.outbox.mark_failed(retry_id, "recipient gone", status="skipped")
    async with db.transaction() as tx:
        assert await tx.outbox.counts() == {"sent": 1, "failed": 1, "skipped": 1}


async def test_outbox_delivery_receipts_never_move_backwards(db: Database) -> None:
    read_id, failed_id = await enqueue(db, 2)
    await claim(db, NOW)
    async with db.transaction() as tx:
        await tx.outbox.mark_sent(read_id, NOW, "wamid.R")
        await tx.outbox.mark_sent(failed_id, NOW, "wamid.F")
    async with db.transaction() as tx:
        assert await tx.outbox.update_delivery("wamid.R", "read") == 1
        # Receipts arrive out of order: a late "delivered" or "sent" must not undo "read".
        assert await tx.outbox.update_delivery("wamid.R", "delivered") == 0
        assert await tx.outbox.update_delivery("wamid.R", "sent") == 0
        assert await tx.outbox.update_delivery("wamid.F", "delivered") == 1
        assert await tx.outbox.update_delivery("wamid.F", "failed", "131047 window closed") == 1
        assert await tx.outbox.update_delivery("wamid.F", "read") == 0
        assert await tx.outbox.update_delivery("wamid.unknown", "read") == 0
    async with db.transaction() as tx:
        read = await tx.outbox.by_provider_id("wamid.R")
        failed = await tx.outbox.by_provider_id("wamid.F")
        assert read is not None and read.status == "read"
        assert failed is not None
        assert (failed.status, failed.error) == ("failed", "131047 window closed")


async def test_two_concurrent_claimers_never_share_a_row(db: Database) -> None:
    ids = await enqueue(db, 50)
    a_claimed = asyncio.Event()
    b_done = asyncio.Event()

    async def claimer_a() -> list[int]:
        async with db.transaction() as tx:
            rows = [r.id for r in await tx.outbox.claim_due(NOW, limit=30, lease=LEASE)]
            a_claimed.set()
            if not db.is_sqlite:
                # Keep A's row locks while B claims: B must skip them, not wait or take them.
                await asyncio.wait_for(b_done.wait(), timeout=10)
        return rows

    async def claimer_b() -> list[int]:
        await a_claimed.wait()
        try:
            async with db.transaction() as tx:
                return [r.id for r in await tx.outbox.claim_due(NOW, limit=30, lease=LEASE)]
        finally:
            b_done.set()

    got_a, got_b = await asyncio.gather(claimer_a(), claimer_b())
    assert len(got_a) == 30
    assert len(got_b) == 20
    assert not set(got_a) & set(got_b)
    assert sorted(got_a + got_b) == ids


async def test_many_claimers_drain_the_queue_exactly_once(db: Database) -> None:
    ids = await enqueue(db, 60)

    async def drain() -> list[int]:
        taken: list[int] = []
        while batch := await claim(db, NOW, limit=7):
            taken.extend(batch)
            await asyncio.sleep(0)
        return taken

    results = await asyncio.gather(*(drain() for _ in range(4)))
    everything = list(itertools.chain.from_iterable(results))
    assert sorted(everything) == ids
    assert len(set(everything)) == len(everything)


# audit


async def test_audit_add_and_entries(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.audit.add("koordinator:1", "view", NOW, subject="contact:5", details={"f": "nik"})
        await tx.audit.add("warga:5", "delete", NOW + timedelta(seconds=1), subject="contact:5")
        await tx.audit.add("system", "export", NOW + timedelta(seconds=2))
    async with db.transaction() as tx:
        everything = await tx.audit.entries()
        mine = await tx.audit.entries(subject="contact:5")
        limited = await tx.audit.entries(limit=1)
    assert [e.action for e in everything] == ["export", "delete", "view"]
    assert [e.action for e in mine] == ["delete", "view"]
    assert mine[1].details == {"f": "nik"} and mine[0].details == {}
    assert [e.action for e in limited] == ["export"]


# datetimes


async def test_aware_datetimes_come_back_equal_in_utc(db: Database) -> None:
    wib = datetime(2026, 12, 5, 7, 0, 30, 123456, tzinfo=WIB)
    contact_id = await make_contact(db)
    async with db.transaction() as tx:
        await tx.contacts.set_fields(contact_id, wib, consent_at=wib, consent_version="v1")
        await tx.audit.add("system", "consent", wib, subject=f"contact:{contact_id}")
    async with db.transaction() as tx:
        contact = await tx.contacts.get(contact_id)
        (entry,) = await tx.audit.entries()
    assert contact is not None and contact.consent_at is not None
    for value in (contact.consent_at, contact.updated_at, entry.at):
        assert value == wib
        assert value.utcoffset() == timedelta(0)
        assert value == datetime(2026, 12, 5, 0, 0, 30, 123456, tzinfo=UTC)


async def test_naive_datetime_is_refused(db: Database) -> None:
    with pytest.raises((ValueError, StatementError), match="naive datetime"):
        async with db.transaction() as tx:
            await tx.audit.add("system", "x", datetime(2026, 12, 5, 7, 0))
