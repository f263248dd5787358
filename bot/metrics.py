"""Prometheus metrics, on a registry of our own so tests and replicas do not collide.

Counters and histograms move as things happen; the gauges read from the database
(outbox depth, tickets by status, SLA breaches) are refreshed on every scrape, so what
/metrics shows is what the database holds, on any replica.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Complaint, OutboxMessage
from storage.models_tickets import TicketEscalation


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._seen: dict[Gauge, set[str]] = {}
        self.inbound = Counter(
            "warga_inbound_messages_total", "Inbound messages taken", ["channel", "kind"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "warga_inbound_duplicates_total", "Re-delivered inbound messages ignored",
            ["channel"], registry=self.registry,
        )
        self.handle_seconds = Histogram(
            "warga_handle_seconds", "Time to handle one inbound message, commit included",
            ["channel"], registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.outbound = Counter(
            "warga_outbound_messages_total", "Outbox send attempts by result",
            ["channel", "result"], registry=self.registry,
        )
        self.tickets = Counter(
            "warga_tickets_created_total", "Tickets created", ["report_type"],
            registry=self.registry,
        )
        self.outbox_pending = Gauge(
            "warga_outbox_pending", "Messages waiting in the outbox", registry=self.registry
        )
        self.send_delay = Histogram(
            "warga_send_delay_seconds",
            "From a message being due to its hand-over to the platform",
            ["channel", "kind"], registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
        )
        self.inbound_held = Counter(
            "warga_inbound_held_total",
            "Inbound messages over a contact's allowance, stored to be handled in turn",
            ["channel"], registry=self.registry,
        )
        self.reply_latency = Histogram(
            "warga_reply_latency_seconds",
            "From a reply being stored (the inbound handled) to the platform accepting it",
            ["channel"], registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
        )
        self.throttled = Counter(
            "warga_throttled_total", "Sends the platform refused as too many (HTTP 429)",
            ["channel"], registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "warga_outbox_depth", "Outbox rows by status", ["status"], registry=self.registry,
        )
        self.tickets_by_status = Gauge(
            "warga_tickets", "Tickets by status", ["status"], registry=self.registry,
        )
        self.sla_breaches = Gauge(
            "warga_sla_breaches", "Tickets past a deadline and escalated, by deadline kind",
            ["kind"], registry=self.registry,
        )
        self.errors = Counter(
            "warga_handler_errors_total", "Unexpected errors while handling a message",
            ["channel"], registry=self.registry,
        )

    async def refresh(self, db: Database) -> None:
        """Read the gauges that the database holds (called on every scrape)."""
        async with db.session() as session:
            outbox = dict((await session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )).all())
            tickets = dict((await session.execute(
                select(Complaint.status, func.count()).group_by(Complaint.status)
            )).all())
            breaches = dict((await session.execute(
                select(TicketEscalation.kind, func.count()).group_by(TicketEscalation.kind)
            )).all())
        self.outbox_pending.set(outbox.get("pending", 0) + outbox.get("sending", 0))
        self._replace(self.outbox_depth, outbox)
        self._replace(self.tickets_by_status, tickets)
        self._replace(self.sla_breaches, breaches)


    def _replace(self, gauge: Gauge, values: dict[str, int]) -> None:
        """Set a labelled gauge to exactly these values: a label seen before and gone
        from the database now shows 0."""
        seen = self._seen.setdefault(gauge, set())
        for label in seen - set(values):
            gauge.labels(label).set(0)
        for label, n in values.items():
            gauge.labels(label).set(int(n))
        seen.update(values)
