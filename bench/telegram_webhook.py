"""Telegram webhook benchmark: Bot API updates over loopback HTTP into the real app
(secret check, PTB decoding, dispatcher, engine, database commit, reply in the outbox),
with the outbox sending through PTB to a fake Bot API that answers at once.

    python bench/telegram_webhook.py [--users 50] [--messages 28] [--database-url URL]

Each of ``--users`` residents walks the complaint flow (commands, button taps with their
callback answers and edits, texts, a location, a photo), ``--messages`` updates each.

1. webhook — the next update is delivered when the previous one got its 200 (what
   Telegram does per chat); the outbox keeps Telegram's pacing (30/s, 1/s per chat).
   Printed: updates/s, time to 200 p50/p99, and the rate replies reached the Bot API.
2. round trip — the next update is sent when the bot's reply to the previous one reached
   the Bot API; the outbox is unpaced, so this is the service's own end-to-end speed.
   Printed: updates/s, update → reply p50/p99.

Then the peak RSS of this process (app, fake API and clients together). Bounded (users ×
messages per phase, and a time limit) and loopback only. With ``--database-url`` both
phases share that (scratch) database, so phase 1's paced backlog drains during phase 2.
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
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import create_app
from bot.settings import Secret, Settings
from bot.telegram import SECRET_HEADER, WEBHOOK_PATH, TelegramPlugin
from conversations.messages import Pacing
from handlers.telegram import PACING
from tests.fakes.telegram_api import TOKEN, Call, FakeBotAPI

SECRET = "bench-webhook-secret-0123456789abcdef"
UNPACED = Pacing(rate=1_000_000.0, per_recipient_interval=0.0, burst=1_000_000)
PHASE_LIMIT = 300.0  # seconds; a phase that takes longer is a hang, not a result
PHOTO = b"\xff\xd8\xff\xe0" + b"murky water " * 2000 + b"\xff\xd9"
# One resident's report as Telegram delivers it.
SCRIPT: list[tuple[str, str]] = [
    ("text", "/start"),
    ("press", "menu:lapor"),
    ("press", "jenis:air"),
    ("press", "kategori:keruh"),
    ("text", "Air keruh sejak pagi, warnanya coklat"),
    ("text", "kemarin"),
    ("text", "12"),
    ("location", ""),
    ("press", "kelurahan:1004"),
    ("text", "RT 5 RW 3"),
    ("press", "patokan:__skip"),
    ("photo", ""),
    ("press", "boleh_dihubungi:no"),
    ("press", "confirm:yes"),
]

_update_ids = itertools.count(900_000_001)
_message_ids = itertools.count(1)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


class Replies:
    """Follows what the fake Bot API received: bot messages per chat, as they arrive."""

    def __init__(self, fake: FakeBotAPI) -> None:
        self.fake = fake
        self.count: dict[int, int] = defaultdict(int)
        self.last: dict[int, dict[str, Any]] = {}
        self.events: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.sent = 0
        fake.on_call = self.on_call

    def on_call(self, call: Call, result: Any) -> None:
        if call.method not in ("sendMessage", "sendPhoto"):
            return
        self.sent += 1
        chat = call.params["chat_id"]
        if isinstance(result, dict) and result.get("text") != "✓":
            # "✓" only removes a reply keyboard; the question follows it.
            self.count[chat] += 1
            self.last[chat] = result
            self.events[chat].set()

    async def after(self, chat: int, seen: int) -> None:
        while self.count[chat] <= seen:
            event = self.events[chat] = asyncio.Event()
            await event.wait()


def update_for(user: int, step: tuple[str, str], shown: dict[str, Any] | None
               ) -> dict[str, Any]:
    who = {"id": user, "is_bot": False, "first_name": f"Warga {user}", "language_code": "id"}
    chat = {"id": user, "type": "private", "first_name": f"Warga {user}"}
    kind, value = step
    if kind == "press":
        message = shown or {"message_id": 1, "date": 1795833600, "chat": chat, "text": "?",
                            "reply_markup": {"inline_keyboard": [[
                                {"text": value, "callback_data": value}]]}}
        return {"update_id": next(_update_ids), "callback_query": {
            "id": f"cq{next(_update_ids)}", "from": who, "chat_instance": str(user),
            "message": message, "data": value}}
    content: dict[str, Any]
    if kind == "text":
        content = {"text": value}
        if value.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(value)}]
    elif kind == "location":
        content = {"location": {"latitude": -6.1011, "longitude": 106.9264}}
    else:
        file_id = f"bench-photo-{user}"
        content = {"photo": [{"file_id": file_id, "file_unique_id": f"u-{file_id}",
                              "file_size": len(PHOTO), "width": 1280, "height": 960}]}
    return {"update_id": next(_update_ids), "message": {
        "message_id": next(_message_ids), "from": who, "chat": chat, "date": 1795833600,
        **content}}


@asynccontextmanager
async def service(url: str, data_dir: Path, fake: FakeBotAPI, pacing: Pacing
                  ) -> AsyncIterator[str]:
    settings = Settings(database_url=url, data_dir=data_dir, telegram_bot_token=Secret(TOKEN),
                        telegram_api_url=fake.url, telegram_mode="webhook",
                        telegram_webhook_secret=Secret(SECRET))
    server = TestServer(create_app(settings, plugins=[TelegramPlugin(settings, pacing=pacing)]),
                        host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url(WEBHOOK_PATH))
    finally:
        await server.close()


async def resident(http: aiohttp.ClientSession, url: str, user: int, messages: int,
                   replies: Replies | None, to_200: list[float], round_trip: list[float]
                   ) -> None:
    headers = {SECRET_HEADER: SECRET}
    for step in itertools.islice(itertools.cycle(SCRIPT), messages):
        shown = replies.last.get(user) if replies is not None else None
        seen = replies.count[user] if replies is not None else 0
        t0 = time.perf_counter()
        async with http.post(url, json=update_for(user, step, shown), headers=headers) as r:
            if r.status != 200:
                raise RuntimeError(f"webhook answered {r.status}")
        to_200.append(time.perf_counter() - t0)
        if replies is not None:
            await replies.after(user, seen)
            round_trip.append(time.perf_counter() - t0)


async def phase(url: str, users: int, messages: int, replies: Replies | None, first_user: int
                ) -> tuple[float, list[float], list[float]]:
    to_200: list[float] = []
    round_trip: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=users)) as http:
        t0 = time.perf_counter()
        async with asyncio.timeout(PHASE_LIMIT):
            await asyncio.gather(*(resident(http, url, first_user + n, messages, replies,
                                            to_200, round_trip) for n in range(users)))
        return time.perf_counter() - t0, to_200, round_trip


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=2 * len(SCRIPT),
                        help="updates per resident and phase")
    parser.add_argument("--database-url", default=None,
                        help="a scratch database (default: SQLite in a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    # --json: the figures as one JSON object instead of the text (bench/run.py reads it).
    figures: dict[str, float] = {}
    text_out = sys.stdout
    if args.json:
        sys.stdout = io.StringIO()
    fake = await FakeBotAPI().start()
    for user in (*range(700_000, 700_000 + args.users), *range(800_000, 800_000 + args.users)):
        fake.add_file(f"bench-photo-{user}", PHOTO + str(user).encode())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench1.db"
            print(f"database                 {url.split(':')[0]}")
            print(f"residents x updates      {args.users} x {args.messages} per phase")

            async with service(url, Path(tmp), fake, PACING) as webhook:
                sent_before = len(fake.calls)
                elapsed, to_200, _ = await phase(webhook, args.users, args.messages, None,
                                                 first_user=700_000)
                count = len(to_200)
                figures.update(webhook_updates_per_s=round(count / elapsed, 1),
                               webhook_to_200_p50_ms=round(pct(to_200, 0.5), 1),
                               webhook_to_200_p99_ms=round(pct(to_200, 0.99), 1))
                print("webhook (Telegram's pacing in the outbox)")
                print(f"  updates/s              {count / elapsed:,.0f} ({count:,} in "
                      f"{elapsed:.1f} s)")
                print(f"  time to 200 p50 / p99  {pct(to_200, 0.5):.1f} ms / "
                      f"{pct(to_200, 0.99):.1f} ms")
                replies_at = Replies(fake)
                await asyncio.sleep(3.0)
                calls = len(fake.calls) - sent_before
                figures["replies_per_s_paced"] = round(replies_at.sent / 3.0, 1)
                print(f"  replies reaching API   {replies_at.sent / 3.0:.1f}/s while the backlog "
                      f"drains (cap {PACING.rate:.0f}/s); {calls:,} Bot API calls so far")
                fake.on_call = None

            if args.database_url is None:
                url = f"sqlite+aiosqlite:///{tmp}/bench2.db"
            async with service(url, Path(tmp), fake, UNPACED) as webhook:
                replies = Replies(fake)
                elapsed, to_200, round_trip = await phase(webhook, args.users, args.messages,
                                                          replies, first_user=800_000)
                count = len(round_trip)
                figures.update(round_trip_updates_per_s=round(count / elapsed, 1),
                               round_trip_p50_ms=round(pct(round_trip, 0.5), 1),
                               round_trip_p99_ms=round(pct(round_trip, 0.99), 1))
                print("round trip (outbox unpaced): update → reply at the Bot API")
                print(f"  updates/s              {count / elapsed:,.0f} ({count:,} in "
                      f"{elapsed:.1f} s)")
                print(f"  update → reply p50/p99 {pct(round_trip, 0.5):.1f} ms / "
                      f"{pct(round_trip, 0.99):.1f} ms")
                print(f"  time to 200 p50 / p99  {pct(to_200, 0.5):.1f} ms / "
                      f"{pct(to_200, 0.99):.1f} ms")
    finally:
        await fake.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS                 {peak:.0f} MB")
    if args.json:
        sys.stdout = text_out
        print(json.dumps({**figures, "peak_rss_mb": round(peak, 1)}))


if __name__ == "__main__":
    asyncio.run(main())
