"""Send limits from actual send times: never over a strict platform, whatever the network
does between our hand-over and the platform's answer."""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from bot.limiter import Candidate, DatabaseLimiter, Grant, LocalLimiter
from conversations.messages import Pacing
from storage.db import Database

TELEGRAM = Pacing(rate=30.0, per_recipient_interval=1.0, burst=3)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class StrictPlatform:
    """Telegram's limits over *arrival* times, as tests/fakes/telegram_limits enforces
    them: a sliding window for the bot, a bucket per chat."""

    rate: int = 30
    window: float = 1.0
    interval: float = 1.0
    burst: int = 3
    recent: deque[float] = field(default_factory=deque)
    tat: dict[str, float] = field(default_factory=dict)
    refused: list[tuple[float, str]] = field(default_factory=list)
    delivered: list[tuple[float, str]] = field(default_factory=list)

    def arrive(self, at: float, chat: str) -> None:
        while self.recent and at - self.recent[0] >= self.window:
            self.recent.popleft()
        tat = self.tat.get(chat, at)
        if tat - (self.burst - 1) * self.interval > at or len(self.recent) >= self.rate:
            self.refused.append((at, chat))
            return
        self.recent.append(at)
        self.tat[chat] = max(tat, at) + self.interval
        self.delivered.append((at, chat))


async def simulate(limiter: LocalLimiter, clock: Clock, queues: dict[str, int], *,
                   seed: int, bulk: bool = False) -> StrictPlatform:
    """Messages queued per chat, sent whenever the limiter allows; each reaches the
    platform after a random delay and is answered after another (requests overtake each
    other on the way). Event-driven, on a virtual clock."""
    rng = random.Random(seed)
    platform = StrictPlatform()
    left = dict(queues)
    events: list[tuple[float, int, str, Grant | None]] = []  # (time, seq, kind, grant)
    seq = 0
    while any(left.values()) or events:
        candidates = [Candidate(chat, 1, bulk) for chat, n in left.items() if n]
        pick = await limiter.acquire(candidates) if candidates else None
        if pick is not None and pick.grant is not None:
            chat = candidates[pick.index].recipient
            left[chat] -= 1
            arrival = clock.now + rng.choice((0.001, 0.05, 0.3, 0.9))
            answered = arrival + rng.choice((0.001, 0.02, 0.6))
            heapq.heappush(events, (arrival, seq, "arrive", pick.grant))
            heapq.heappush(events, (answered, seq + 1, "answer", pick.grant))
            seq += 2
            continue
        wait = pick.wait if pick is not None else None
        if events and (wait is None or events[0][0] <= clock.now + wait):
            at, _, kind, grant = heapq.heappop(events)
            clock.now = max(clock.now, at)
            assert grant is not None
            if kind == "arrive":
                platform.arrive(at, grant.recipient)
            else:
                await limiter.answered(grant)
        else:
            assert wait is not None
            clock.now += wait
    return platform


@pytest.mark.parametrize("seed", range(8))
async def test_a_strict_platform_never_refuses_a_message(seed: int) -> None:
    clock = Clock()
    limiter = LocalLimiter(TELEGRAM, clock)
    # 100 chats over the cap, a few with a backlog of their own.
    queues = {f"chat{n}": 1 + (n % 7 == 0) * 5 for n in range(100)}
    platform = await simulate(limiter, clock, queues, seed=seed)
    assert platform.refused == []
    assert len(platform.delivered) == sum(queues.values())


async def test_a_quiet_chat_gets_a_short_burst_at_once_then_one_a_second() -> None:
    clock = Clock()
    limiter = LocalLimiter(TELEGRAM, clock)
    starts = []
    for _ in range(5):
        pick = await limiter.acquire([Candidate("siti")])
        while pick.grant is None:
            assert pick.wait is not None
            clock.now += pick.wait
            pick = await limiter.acquire([Candidate("siti")])
        starts.append(clock.now)
        await limiter.answered(pick.grant)
    # Three at once (give or take the limiter's margin), then one a second.
    assert starts[2] - starts[0] < 0.1
    assert starts[3] - starts[0] >= 1.0 and starts[4] - starts[3] >= 1.0


async def test_one_message_at_a_time_per_chat() -> None:
    clock = Clock()
    limiter = LocalLimiter(TELEGRAM, clock)
    first = await limiter.acquire([Candidate("siti")])
    assert first.grant is not None
    # While the first is on its way, the same chat waits; another chat does not.
    second = await limiter.acquire([Candidate("siti"), Candidate("budi")])
    assert second.grant is not None and second.grant.recipient == "budi"


async def test_bulk_leaves_room_for_a_reply() -> None:
    clock = Clock()
    limiter = LocalLimiter(Pacing(rate=30.0, per_recipient_interval=0.0, burst=1), clock)
    for n in range(29):
        pick = await limiter.acquire([Candidate(f"bulk{n}", bulk=True)])
        assert pick.grant is not None
    assert (await limiter.acquire([Candidate("bulk-more", bulk=True)])).grant is None
    reply = await limiter.acquire([Candidate("bulk-more", bulk=True), Candidate("waiting")])
    assert reply.grant is not None and reply.grant.recipient == "waiting"


async def test_bulk_goes_evenly_on_a_paced_channel() -> None:
    clock = Clock()
    limiter = LocalLimiter(TELEGRAM, clock)
    first = await limiter.acquire([Candidate("a", bulk=True)])
    assert first.grant is not None
    second = await limiter.acquire([Candidate("b", bulk=True)])
    assert second.grant is None and second.wait is not None and second.wait > 0
    # A reply does not wait for the bulk's spacing.
    assert (await limiter.acquire([Candidate("c")])).grant is not None


async def test_a_429_holds_the_chat_as_long_as_asked() -> None:
    clock = Clock()
    limiter = LocalLimiter(TELEGRAM, clock)
    await limiter.delay("siti", 37)
    pick = await limiter.acquire([Candidate("siti")])
    assert pick.grant is None and pick.wait is not None and pick.wait >= 37
    clock.now += pick.wait
    assert (await limiter.acquire([Candidate("siti")])).grant is not None


async def test_a_message_never_sent_gives_its_slot_back() -> None:
    clock = Clock()
    limiter = LocalLimiter(Pacing(rate=1.0, per_recipient_interval=0.0, burst=1), clock)
    pick = await limiter.acquire([Candidate("a")])
    assert pick.grant is not None
    await limiter.release(pick.grant)
    assert (await limiter.acquire([Candidate("b")])).grant is not None


# -- shared by replicas (PostgreSQL) ----------------------------------------------------


@pytest.fixture
async def pg(db: Database) -> AsyncIterator[Database]:
    if db.is_sqlite:
        pytest.skip("the shared limiter lives in PostgreSQL")
    yield db


@pytest.mark.storage
async def test_replicas_share_one_window_and_one_bucket_per_chat(pg: Database) -> None:
    replicas = [DatabaseLimiter(Database(pg.url), "telegram:42", TELEGRAM) for _ in range(2)]
    try:
        granted: list[Grant] = []
        # Both replicas ask for 40 different chats: together they get 29 bulk slots.
        for n in range(40):
            pick = await replicas[n % 2].acquire([Candidate(f"chat{n}", bulk=False)])
            if pick.grant is not None:
                granted.append(pick.grant)
        assert len(granted) == 30
        # One chat: busy on replica A means busy on replica B.
        busy = granted[0].recipient
        assert (await replicas[1].acquire([Candidate(busy)])).grant is None
        await replicas[0].answered(granted[0])
        blocked = await replicas[1].acquire([Candidate(busy)])
        # The window is full (30 in the last second): nobody may send before it frees.
        assert blocked.grant is None and blocked.wait is not None and blocked.wait > 0
    finally:
        for replica in replicas:
            await replica.db.close()


@pytest.mark.storage
async def test_a_429_on_one_replica_holds_the_chat_on_the_other(pg: Database) -> None:
    a = DatabaseLimiter(Database(pg.url), "telegram:43", TELEGRAM)
    b = DatabaseLimiter(Database(pg.url), "telegram:43", TELEGRAM)
    try:
        await a.delay("siti", 20)
        pick = await b.acquire([Candidate("siti")])
        assert pick.grant is None and pick.wait is not None and pick.wait > 19
        assert (await b.acquire([Candidate("budi")])).grant is not None
    finally:
        await a.db.close()
        await b.db.close()
