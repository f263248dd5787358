"""WhatsApp webhook benchmark: signed deliveries over loopback HTTP into the real app
(signature check, parsing, dispatcher, engine, database commit, reply in the outbox),
with the outbox and read receipts talking to the fake Graph API.

    python bench/whatsapp_webhook.py [--users 50] [--messages 20] [--rate 80]
                                     [--seconds 5] [--slow 1.5] [--database-url URL]

Closed loop: ``--users`` residents each send ``--messages`` messages, the next as soon
as the last got its 200 — deliveries/s at saturation. Open loop: deliveries arrive at
``--rate`` per second whatever our answer time, as Meta sends them — the time to 200 at
a realistic load (80/s is WhatsApp's cap per number, inbound included). Each runs with a
fast Graph API and with one that takes ``--slow`` seconds per call: the webhook never
waits on the Graph API, so its time to 200 must stay far below Meta's patience (~2 s).
Also printed: replies and read receipts that reached the fake API, and peak RSS.
Bounded (a fixed number of deliveries per phase) and loopback only. The fake Graph API
and the client share the process with the app, so the figures are conservative.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import create_app
from bot.settings import Secret, Settings
from bot.whatsapp import WhatsAppPlugin
from handlers.whatsapp import sign
from tests.fakes.whatsapp_api import PHONE_NUMBER_ID, TOKEN, FakeGraphAPI

APP_SECRET = "bench-app-secret"
# One resident's report, as WhatsApp delivers it (texts, list replies, a location).
SCRIPT: list[dict[str, Any]] = [
    {"type": "text", "text": {"body": "halo"}},
    {"type": "interactive", "interactive": {
        "type": "list_reply", "list_reply": {"id": "menu:lapor", "title": "Lapor masalah"}}},
    {"type": "interactive", "interactive": {
        "type": "list_reply", "list_reply": {"id": "jenis:air", "title": "Masalah air"}}},
    {"type": "text", "text": {"body": "keruh"}},
    {"type": "text", "text": {"body": "Air keruh sejak pagi, warnanya coklat"}},
    {"type": "text", "text": {"body": "kemarin"}},
    {"type": "text", "text": {"body": "12"}},
    {"type": "location", "location": {"latitude": -6.1011, "longitude": 106.9264}},
    {"type": "text", "text": {"body": "kalibaru"}},
    {"type": "text", "text": {"body": "rt 5 rw 3"}},
    {"type": "text", "text": {"body": "dekat masjid"}},
    {"type": "text", "text": {"body": "lewati"}},
    {"type": "text", "text": {"body": "tidak"}},
    {"type": "interactive", "interactive": {
        "type": "button_reply", "button_reply": {"id": "confirm:yes", "title": "Kirim"}}},
]


def delivery(user: str, wamid: str, message: dict[str, Any]) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "622100000", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Warga"}, "wa_id": user}],
        "messages": [{"from": user, "id": wamid,
                      "timestamp": str(int(datetime.now(UTC).timestamp())), **message}],
    }
    return json.dumps({"object": "whatsapp_business_account", "entry": [
        {"id": "WABA", "changes": [{"field": "messages", "value": value}]}]}).encode()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


class Poster:
    """Signs and posts deliveries; records the time to 200 of each."""

    def __init__(self, client: aiohttp.ClientSession, url: str) -> None:
        self.client = client
        self.url = url
        self.ids = itertools.count()
        self.latencies: list[float] = []
        self.failures = 0

    async def post(self, user: str, step: int) -> None:
        body = delivery(user, f"wamid.{user}.{next(self.ids)}", SCRIPT[step % len(SCRIPT)])
        headers = {"Content-Type": "application/json",
                   "X-Hub-Signature-256": sign(APP_SECRET, body)}
        t0 = time.perf_counter()
        async with self.client.post(self.url, data=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                self.failures += 1
        self.latencies.append(time.perf_counter() - t0)


async def closed_loop(poster: Poster, prefix: str, users: int, messages: int) -> float:
    """Every resident sends their next message as soon as the last one got its 200."""

    async def resident(n: int) -> None:
        for step in range(messages):
            await poster.post(f"62{prefix}{n:08d}", step)

    t0 = time.perf_counter()
    await asyncio.gather(*(resident(n) for n in range(users)))
    return time.perf_counter() - t0


async def open_loop(poster: Poster, prefix: str, rate: float, seconds: float) -> float:
    """Deliveries at a fixed rate whatever our answer time (what Meta does); residents
    take turns, each walking the script about once a second."""
    users = max(1, int(rate))
    tasks = []
    t0 = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        user = f"62{prefix}{i % users:08d}"
        tasks.append(asyncio.create_task(poster.post(user, i // users)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - t0


Phase = Callable[[Poster, str], Awaitable[float]]


def report(label: str, poster: Poster, elapsed: float, fake: FakeGraphAPI,
           before: tuple[int, int], figures: dict[str, float] | None = None) -> None:
    lat = poster.latencies
    if figures is not None:
        figures[label] = {"deliveries_per_s": round(len(lat) / elapsed, 1),  # type: ignore[assignment]
                          "p50_ms": round(pct(lat, 0.5), 1), "p99_ms": round(pct(lat, 0.99), 1),
                          "max_ms": round(max(lat) * 1000, 1), "not_200": poster.failures}
    print(label)
    print(f"  deliveries/s           {len(lat) / elapsed:,.0f} "
          f"({len(lat):,} in {elapsed:.1f} s, {poster.failures} not 200)")
    print(f"  time to 200 p50 / p99  {pct(lat, 0.5):.1f} ms / {pct(lat, 0.99):.1f} ms "
          f"(max {max(lat) * 1000:.1f} ms)")
    print(f"  meanwhile at the API   {len(fake.messages) - before[0]:,} replies "
          f"(paced per resident), {len(fake.reads) - before[1]:,} read receipts")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="closed loop: residents")
    parser.add_argument("--messages", type=int, default=20,
                        help="closed loop: messages per resident")
    parser.add_argument("--rate", type=float, default=80.0,
                        help="open loop: deliveries/s (WhatsApp's cap per number is 80/s)")
    parser.add_argument("--seconds", type=float, default=5.0, help="open loop: duration")
    parser.add_argument("--slow", type=float, default=1.5,
                        help="seconds every Graph API call takes in the slow phases")
    parser.add_argument("--database-url", default=None,
                        help="an empty database (default: SQLite in a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    # --json: the figures as one JSON object instead of the text (bench/run.py reads it).
    figures: dict[str, float] = {}
    text_out = sys.stdout
    if args.json:
        sys.stdout = io.StringIO()

    def closed(poster: Poster, prefix: str) -> Awaitable[float]:
        return closed_loop(poster, prefix, args.users, args.messages)

    def opened(poster: Poster, prefix: str) -> Awaitable[float]:
        return open_loop(poster, prefix, args.rate, args.seconds)

    slow = f"Graph API {args.slow:.1f} s per call"
    closed_label = f"closed loop, {args.users} residents x {args.messages} messages"
    open_label = f"open loop, {args.rate:.0f} deliveries/s for {args.seconds:.0f} s"
    phases: list[tuple[str, float, Phase]] = [
        (f"{closed_label}, fast API", 0.0, closed),
        (f"{closed_label}, {slow}", args.slow, closed),
        (f"{open_label}, fast API", 0.0, opened),
        (f"{open_label}, {slow}", args.slow, opened),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        async with FakeGraphAPI() as fake:
            settings = Settings(
                database_url=url, data_dir=Path(tmp),
                whatsapp_access_token=Secret(TOKEN),
                whatsapp_phone_number_id=PHONE_NUMBER_ID,
                whatsapp_app_secret=Secret(APP_SECRET),
                whatsapp_verify_token=Secret("bench-verify"),
                whatsapp_api_url=fake.url,
            )
            plugin = WhatsAppPlugin(settings)
            runner = web.AppRunner(create_app(settings, plugins=[plugin]))
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            webhook = f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks/whatsapp"
            print(f"database                 {url.split(':')[0]}")
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
                for n, (label, delay, run) in enumerate(phases, start=1):
                    fake.delay = delay
                    before = (len(fake.messages), len(fake.reads))
                    poster = Poster(client, webhook)
                    elapsed = await run(poster, str(n))
                    report(label, poster, elapsed, fake, before, figures)
                    # Let this phase's read receipts finish so the next starts clean
                    # (replies keep trickling out at each resident's pace).
                    fake.delay = 0.0
                    await plugin.idle(within=60)
            fake.delay = 0.0
            await runner.cleanup()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS                 {peak:.0f} MB")
    if args.json:
        sys.stdout = text_out
        print(json.dumps({"phases": figures, "peak_rss_mb": round(peak, 1)}))


if __name__ == "__main__":
    asyncio.run(main())
