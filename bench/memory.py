"""Memory with many open conversations: N residents each stopped mid-report.

    python bench/memory.py [--conversations 10000]

Conversation state lives in the database, not in the process, so RSS should barely move
with N. Prints RSS before and after, the peak, and how many sessions the database holds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.dispatcher import Dispatcher
from bot.features.complaints import ComplaintsFeature
from conversations import library
from conversations.messages import Inbound
from storage.db import Database
from storage.migrate import upgrade

STEPS = ["lapor", "air", "keruh", "Air keruh sejak kemarin pagi"]


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await upgrade(url)
        db = Database(url)
        dispatcher = Dispatcher(db, library.translator(), clock=lambda: datetime.now(UTC))
        dispatcher.add_feature(ComplaintsFeature())
        gc.collect()
        before = rss_mb()

        async def resident(n: int) -> None:
            for text in STEPS:
                await dispatcher.handle(Inbound(channel="bench", user_id=f"m{n}",
                                                message_id=uuid.uuid4().hex, text=text))

        for start in range(0, args.conversations, 200):
            await asyncio.gather(*(resident(n) for n in
                                   range(start, min(start + 200, args.conversations))))
        gc.collect()
        after = rss_mb()
        async with db.transaction() as tx:
            open_sessions = await tx.sessions.count_active()
        await db.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {"open_conversations": open_sessions, "rss_before_mb": round(before, 1),
               "rss_after_mb": round(after, 1), "peak_rss_mb": round(peak, 1)}
    if args.json:
        print(json.dumps(figures))
        return
    print(f"open conversations       {open_sessions:,}")
    print(f"RSS before / after       {before:.0f} MB / {after:.0f} MB")
    print(f"peak RSS                 {peak:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
