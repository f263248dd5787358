"""Prometheus metrics, on a registry of our own so tests and replicas do not collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        self.errors = Counter(
            "warga_handler_errors_total", "Unexpected errors while handling a message",
            ["channel"], registry=self.registry,
        )
