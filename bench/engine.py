"""Engine benchmark: simulated residents through dispatcher + engine + database commit,
with the outbox sender delivering every reply to a channel that answers at once.

    python bench/engine.py [--users 50] [--seconds 10] [--rate 200] [--database-url URL]

Prints persisted answers/s at full speed (closed loop), then p50/p99 latency at a fixed
offered rate (open loop), and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.dispatcher import Dispatcher
from bot.features.complaints import ComplaintsFeature
from bot.metrics import Metrics
from bot.outbox import OutboxSender
from conversations import library
from conversations.messages import (
    Inbound,
    InboundKind,
    Location,
    Outbound,
    Pacing,
    SendResult,
)
from storage.db import Database
from storage.migrate import upgrade

SCRIPT = [
    "lapor", "air", "keruh", "Air keruh sejak pagi, warnanya coklat", "kemarin", "12",
    "__pin__", "kalibaru", "rt 5 rw 3", "dekat masjid", "lewati", "ya", "0812 3456 7890", "ya",
]


class NullChannel:
    name = "bench"
    pacing = Pacing(rate=1_000_000.0, per_recipient_interval=0.0, burst=1_000_000)

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, message: Outbound) -> SendResult:
        self.sent += 1
        return SendResult(provider_message_id=None)


def inbound(user: str, text: str) -> Inbound:
    base = {"channel": "bench", "user_id": user, "message_id": uuid.uuid4().hex,
            "timestamp": datetime.now(UTC)}
    if text == "__pin__":
        return Inbound(kind=InboundKind.LOCATION, location=Location(-6.1, 106.93), **base)  # type: ignore[arg-type]
    return Inbound(kind=InboundKind.TEXT, text=text, **base)  # type: ignore[arg-type]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


async def closed_loop(
    dispatcher: Dispatcher, users: int, seconds: float
) -> tuple[int, list[float]]:
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    count = 0

    async def resident(n: int) -> None:
        nonlocal count
        for round_ in itertools.count():
            user = f"r{n}-{round_}"
            for text in SCRIPT:
                if time.perf_counter() > deadline:
                    return
                t0 = time.perf_counter()
                await dispatcher.handle(inbound(user, text))
                latencies.append(time.perf_counter() - t0)
                count += 1

    await asyncio.gather(*(resident(n) for n in range(users)))
    return count, latencies


async def open_loop(dispatcher: Dispatcher, rate: float, seconds: float) -> list[float]:
    """Arrivals at a fixed rate regardless of how fast we answer (what users do).

    About ``rate`` residents walk the script side by side, so each answers about once a
    second; a resident who finishes is replaced by a new one.
    """
    latencies: list[float] = []
    tasks = []
    users = max(1, int(rate))
    residents = [iter(SCRIPT) for _ in range(users)]
    ids = [f"o{n}" for n in range(users)]
    next_id = users

    async def one(user: str, text: str) -> None:
        t0 = time.perf_counter()
        await dispatcher.handle(inbound(user, text))
        latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        slot = i % users
        text = next(residents[slot], None)
        if text is None:
            residents[slot] = iter(SCRIPT)
            ids[slot] = f"o{next_id}"
            next_id += 1
            text = next(residents[slot])
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(ids[slot], text)))
    await asyncio.gather(*tasks)
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    # --json: the figures as one JSON object instead of the text (bench/run.py reads it).
    figures: dict[str, float] = {}
    text_out = sys.stdout
    if args.json:
        sys.stdout = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        await upgrade(url)
        db = Database(url)
        metrics = Metrics()
        dispatcher = Dispatcher(db, library.translator(), clock=lambda: datetime.now(UTC),
                                metrics=metrics)
        dispatcher.add_feature(ComplaintsFeature())
        channel = NullChannel()
        sender = OutboxSender(db, {"bench": channel}, clock=lambda: datetime.now(UTC),
                              metrics=metrics)
        dispatcher.on_enqueued.append(sender.wake)
        sender_task = asyncio.create_task(sender.run())

        t0 = time.perf_counter()
        count, lat = await closed_loop(dispatcher, args.users, args.seconds)
        elapsed = time.perf_counter() - t0
        print(f"database                 {url.split(':')[0]}")
        print(f"closed loop              {args.users} concurrent residents, {elapsed:.1f} s")
        print(f"  persisted answers/s    {count / elapsed:,.0f}")
        print(f"  latency p50 / p99      {pct(lat, 0.5):.1f} ms / {pct(lat, 0.99):.1f} ms")
        figures.update(answers_per_s=round(count / elapsed, 1),
                       closed_p50_ms=round(pct(lat, 0.5), 1),
                       closed_p99_ms=round(pct(lat, 0.99), 1))
        lat = await open_loop(dispatcher, args.rate, args.seconds)
        print(f"open loop                {args.rate:.0f} answers/s offered, "
              f"{args.seconds:.0f} s")
        print(f"  latency p50 / p99      {pct(lat, 0.5):.1f} ms / {pct(lat, 0.99):.1f} ms")
        print(f"  mean                   {statistics.mean(lat) * 1000:.1f} ms")
        figures.update(open_rate=args.rate, open_p50_ms=round(pct(lat, 0.5), 1),
                       open_p99_ms=round(pct(lat, 0.99), 1))
        await asyncio.sleep(1.0)
        await sender.stop()
        sender_task.cancel()
        print(f"replies delivered        {channel.sent:,}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS                 {peak:.0f} MB")
        await db.close()
    if args.json:
        sys.stdout = text_out
        print(json.dumps({**figures, "replies_delivered": channel.sent,
                          "peak_rss_mb": round(peak, 1)}))


if __name__ == "__main__":
    asyncio.run(main())
