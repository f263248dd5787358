"""/metrics: counters, the reply-latency histogram and the database gauges move when a
message travels through the real app."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from bot.app import create_app
from bot.whatsapp import WhatsAppPlugin
from storage.models import Complaint
from storage.models_tickets import TicketEscalation
from tests.dashboard_helpers import add_complaint, add_contact
from tests.fakes.whatsapp_api import FakeGraphAPI
from tests.harness import Clock
from tests.test_whatsapp_e2e import FAST, WhatsApp, settings_for, text, webhook

pytestmark = [pytest.mark.e2e]

CHANNEL = "whatsapp"


@pytest.fixture
async def wa(database_url: str, tmp_path: Path) -> AsyncIterator[WhatsApp]:
    async with FakeGraphAPI() as fake:
        settings = settings_for(database_url, tmp_path, fake.url)
        clock = Clock()
        plugin = WhatsAppPlugin(settings, pacing=FAST)
        app = create_app(settings, clock=clock, plugins=[plugin])
        async with TestClient(TestServer(app)) as client:
            yield WhatsApp(client, fake, clock, plugin, itertools.count(1))
        assert fake.problems == []


async def scrape(wa: WhatsApp) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with wa.client.get("/metrics") as resp:
        assert resp.status == 200
        body = await resp.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_message_through_the_app_moves_the_metrics(wa: WhatsApp) -> None:
    before = await scrape(wa)
    assert value(before, "warga_inbound_messages_total", channel=CHANNEL, kind="text") == 0
    assert value(before, "warga_reply_latency_seconds_count", channel=CHANNEL) == 0

    await wa.deliver(webhook(wa.message(text("halo"))))
    after = await scrape(wa)
    assert value(after, "warga_inbound_messages_total", channel=CHANNEL, kind="text") == 1
    assert value(after, "warga_outbound_messages_total", channel=CHANNEL, result="sent") == 1
    assert value(after, "warga_reply_latency_seconds_count", channel=CHANNEL) == 1
    assert value(after, "warga_outbox_depth", status="sent") == 1
    assert value(after, "warga_outbox_pending") == 0


async def test_a_429_is_counted_and_the_outbox_depth_shows_it_waiting(
        wa: WhatsApp) -> None:
    wa.fake.fail_next(130429)
    await wa.deliver(webhook(wa.message(text("halo"))))
    samples = await scrape(wa)
    assert value(samples, "warga_throttled_total", channel=CHANNEL) == 1
    assert value(samples, "warga_outbox_pending") == 1
    assert value(samples, "warga_outbox_depth", status="pending") == 1
    assert value(samples, "warga_reply_latency_seconds_count", channel=CHANNEL) == 0
    wa.clock.advance(minutes=5)
    await wa.settle()
    samples = await scrape(wa)
    assert value(samples, "warga_outbox_pending") == 0
    assert value(samples, "warga_outbox_depth", status="pending") == 0
    assert value(samples, "warga_reply_latency_seconds_count", channel=CHANNEL) == 1


async def test_tickets_by_status_and_sla_breaches_follow_the_database(wa: WhatsApp) -> None:
    db, now = wa.services.db, wa.clock()
    contact = await add_contact(db, "6281200000001", now, channel=CHANNEL)
    first = await add_complaint(db, contact, now)
    await add_complaint(db, contact, now)
    samples = await scrape(wa)
    assert value(samples, "warga_tickets", status="diterima") == 2
    assert value(samples, "warga_sla_breaches", kind="verify") == 0

    async with db.transaction() as tx:
        await tx.session.execute(update(Complaint).where(Complaint.id == first.id)
                                 .values(status="diverifikasi"))
        tx.session.add(TicketEscalation(complaint_id=first.id, kind="verify", due_at=now,
                                        escalated_at=now))
    samples = await scrape(wa)
    assert value(samples, "warga_tickets", status="diterima") == 1
    assert value(samples, "warga_tickets", status="diverifikasi") == 1
    assert value(samples, "warga_sla_breaches", kind="verify") == 1
