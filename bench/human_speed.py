"""Replies at human speed, under the platforms' caps, and a service no one can stall —
side by side with the conventional bot of ``bench/baseline_ptb.py``.

    python bench/human_speed.py [--phases think,cap,flood,broadcast,export,sigkill]
                                [--seconds 30] [--quick] [--json]
                                [--service-root DIR] [--no-baseline]

Every bot runs as its own child process (one core, as in production): ours is
``bench/service.py`` (``warga serve`` with an event-loop lag probe), SQLite, webhook
mode, INFO logging, the platforms' real pacing; the conventional bot is PTB 22.8
``ConversationHandler`` + ``PicklePersistence`` behind PTB's custom-webhook route. This
process plays Telegram: it posts the updates and runs the fake Bot API both bots send to.
Residents walk the complaint flow of ``bench/telegram_webhook.py`` and answer ``THINK``
seconds after each reply, as people do.

Phases:
- think: 20 residents. Reply p50/p99 (update → the reply at the Bot API), CPU per
  answer, peak RSS — ours and the conventional bot.
- cap: 100 residents (over Telegram's 30 messages/s) against a fake that answers 429
  above 30 messages in any second (sliding window) or faster than one a second to a
  chat. 429s drawn, answers lost (none within LOST_AFTER), residents stranded.
- flood: 20 residents while one contact sends ``--flood`` messages as fast as the
  webhook answers: the 20's reply p50/p99 (against "think", the same without a flood).
- broadcast: a resident's reply latency while a 300-recipient /siaran goes out at the cap.
- export: 20,000 households; a coordinator downloads the XLSX export through the
  dashboard and opens the assessments page while 20 residents report: the event loop's
  longest stall (a 10 ms timer's lateness), and the residents' reply p99.
- sigkill: a 300-recipient broadcast; ``kill -9`` at the 100th delivery; restart. Time
  from the restarted service answering /healthz to its first delivery, and how many
  messages were lost or sent twice.

``--service-root DIR`` runs our service from another checkout (a ``git archive`` of an
older commit) for before/after figures; the conventional bot always runs from here.
Loopback only; every phase is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from bench.baseline_ptb import SECRET as PTB_SECRET
from bench.baseline_ptb import serve_argv
from bench.intake import TG_SECRET, Child, free_port, loadavg, pct, service_env, start_child
from bench.telegram_webhook import PHOTO, SCRIPT, Replies, update_for
from bot.telegram import SECRET_HEADER, WEBHOOK_PATH
from tests.fakes.telegram_api import Call, FakeBotAPI
from tests.fakes.telegram_limits import FloodLimits

THINK = 1.0
# No answer this long after an update: the bot dropped it (a person would start again).
LOST_AFTER = 10.0
PHASE_LIMIT = 300.0
# No delivery for this long after a crash: whatever is missing is lost (leases were 60 s).
STALLED = 75.0
FIRST_RESIDENT = 4_000_001
FLOODER = 4_900_001
COORDINATOR = 4_950_001
FIRST_RECIPIENT = 6_000_001
BROADCAST_BODY = "Pembagian air bersih besok pukul 08.00 di Balai RW 03."
COORDINATOR_PANEL = "http://127.0.0.1:1"
SECRET_KEY = "bench-human-speed-secret-" + "x" * 24


@dataclass
class Load:
    """What residents saw during one phase."""

    latencies: list[float] = field(default_factory=list)
    lost: int = 0
    not_200: int = 0
    stranded: set[int] = field(default_factory=set)

    def figures(self) -> dict[str, Any]:
        return {"answers": len(self.latencies), "lost": self.lost, "not_200": self.not_200,
                "stranded": len(self.stranded),
                "reply_p50_ms": round(pct(self.latencies, 0.5), 1),
                "reply_p99_ms": round(pct(self.latencies, 0.99), 1),
                "reply_max_ms": round(max(self.latencies, default=0.0) * 1000, 1)}


async def residents(url: str, secret: str, replies: Replies, users: range, seconds: float,
                    load: Load, *, think: float = THINK) -> None:
    """Each resident answers ``think`` seconds after the bot's last reply."""
    deadline = time.perf_counter() + seconds
    headers = {SECRET_HEADER: secret}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(user: int) -> None:
            # Residents do not all start in the same millisecond.
            await asyncio.sleep(random.uniform(0, think))
            steps = itertools.cycle(SCRIPT)
            while time.perf_counter() < deadline:
                step = next(steps)
                shown = replies.last.get(user)
                seen = replies.count[user]
                t0 = time.perf_counter()
                async with http.post(url + WEBHOOK_PATH, json=update_for(user, step, shown),
                                     headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        load.not_200 += 1
                try:
                    async with asyncio.timeout(LOST_AFTER):
                        await replies.after(user, seen)
                except TimeoutError:
                    load.lost += 1
                    load.stranded.add(user)
                    steps = itertools.cycle(SCRIPT)
                    continue
                load.latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(think)

        async with asyncio.timeout(seconds + PHASE_LIMIT):
            await asyncio.gather(*(one(user) for user in users))


@dataclass
class Bot:
    kind: str  # "ours" | "ptb"
    child: Child
    secret: str
    cpu_before: float = 0.0


async def start_ours(args: argparse.Namespace, fake: FakeBotAPI, folder: Path,
                     probe_ms: float = 0.0, extra: dict[str, str] | None = None) -> Bot:
    port = free_port()
    database_url = f"sqlite+aiosqlite:///{folder}/warga.db"
    env = service_env(folder, database_url, port, telegram_api=fake.url, graph_api=None)
    env["PYTHONPATH"] = str(args.service_root)
    env["WARGA_PUBLIC_URL"] = COORDINATOR_PANEL
    env["WARGA_COORDINATORS"] = f"telegram:{COORDINATOR}"
    env["WARGA_MAP_TILE_URL"] = ""
    env["WARGA_SECRET_KEY"] = SECRET_KEY
    env.update(extra or {})
    argv = [sys.executable, str(HERE.with_name("service.py")), "--probe-ms", str(probe_ms)]
    if args.cprofile:
        argv += ["--cprofile", args.cprofile]
    child = await start_child(argv, env, port, folder / f"service-{port}.log",
                              args.service_root)
    return Bot("ours", child, TG_SECRET)


async def start_ptb(fake: FakeBotAPI, folder: Path) -> Bot:
    port = free_port()
    argv = serve_argv("ptb", port, fake.url, folder)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WARGA_", "TELEGRAM_", "WHATSAPP_"))}
    child = await start_child(argv, env, port, folder / "ptb.log")
    return Bot("ptb", child, PTB_SECRET)


def add_photos(fake: FakeBotAPI, users: range) -> None:
    for user in users:
        fake.add_file(f"bench-photo-{user}", PHOTO + str(user).encode())


def cost(bot: Bot, load: Load, seconds: float, before: float) -> dict[str, Any]:
    used = bot.child.cpu_seconds() - before
    return {"service_cpu_ms_per_answer": round(used * 1000 / max(1, len(load.latencies)), 2),
            "service_cpu_share": round(used / seconds, 2),
            "service_peak_rss_mb": round(bot.child.peak_rss_mb(), 1)}


# -- phases --------------------------------------------------------------------------------


async def phase_think(args: argparse.Namespace, tmp: Path, kind: str, users: int = 20,
                      limits: FloodLimits | None = None) -> dict[str, Any]:
    fake = await FakeBotAPI(limits=limits).start()
    folder = tmp / f"{kind}-{users}-{'cap' if limits else 'think'}"
    folder.mkdir()
    who = range(FIRST_RESIDENT, FIRST_RESIDENT + users)
    add_photos(fake, who)
    bot = await (start_ours(args, fake, folder) if kind == "ours" else start_ptb(fake, folder))
    try:
        replies = Replies(fake)
        load = Load()
        load_before = loadavg()
        profiler = None
        if args.py_spy and kind == "ours":
            # Stacks of the service while residents report, for `py-spy`'s flame graphs
            # or `sort | uniq`-style reading (raw collapsed format).
            profiler = await asyncio.create_subprocess_exec(
                args.py_spy, "record", "--pid", str(bot.child.process.pid), "--rate", "250",
                "--format", "raw", "--gil", "--duration", str(max(1, int(args.seconds))),
                "--output", f"{args.py_spy_out}-{folder.name}.txt",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        cpu = bot.child.cpu_seconds()
        t0 = time.perf_counter()
        await residents(bot.child.url, bot.secret, replies, who, args.seconds, load)
        elapsed = time.perf_counter() - t0
        if profiler is not None:
            await profiler.wait()
        figures = {**load.figures(), **cost(bot, load, elapsed, cpu),
                   "throttled_429": fake.throttled, "loadavg": round(load_before, 2)}
    finally:
        await bot.child.stop()
        await fake.close()
    return figures


async def phase_flood(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    fake = await FakeBotAPI().start()
    folder = tmp / "ours-flood"
    folder.mkdir()
    who = range(FIRST_RESIDENT, FIRST_RESIDENT + 20)
    add_photos(fake, who)
    bot = await start_ours(args, fake, folder)
    flood = {"sent": 0, "not_200": 0, "seconds": 0.0}
    try:
        replies = Replies(fake)
        load = Load()
        load_before = loadavg()

        async def flooder() -> None:
            headers = {SECRET_HEADER: bot.secret}
            t0 = time.perf_counter()
            async with aiohttp.ClientSession() as http:
                for n in range(args.flood):
                    update = update_for(FLOODER, ("text", f"halo {n}"), None)
                    async with http.post(bot.child.url + WEBHOOK_PATH, json=update,
                                         headers=headers) as response:
                        await response.read()
                        flood["sent"] += 1
                        flood["not_200"] += response.status != 200
            flood["seconds"] = round(time.perf_counter() - t0, 1)

        cpu = bot.child.cpu_seconds()
        t0 = time.perf_counter()
        flooding = asyncio.create_task(flooder())
        await residents(bot.child.url, bot.secret, replies, who, args.seconds, load)
        elapsed = time.perf_counter() - t0
        flood_done = flooding.done()
        # The service's CPU over the residents' phase (the flood's included), per answer.
        used = cost(bot, load, elapsed, cpu)
        async with asyncio.timeout(PHASE_LIMIT):
            await flooding
        figures = {**load.figures(), **used,
                   "flood_messages": flood["sent"], "flood_not_200": flood["not_200"],
                   "flood_seconds": flood["seconds"],
                   "flood_done_within_phase": flood_done,
                   "flood_replies_during_phase": replies.count[FLOODER],
                   "loadavg": round(load_before, 2)}
    finally:
        await bot.child.stop()
        await fake.close()
    return figures


def seed_recipients(database: Path, count: int) -> None:
    """``count`` residents who may receive broadcasts (plain SQL: any schema version)."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    with sqlite3.connect(database) as conn:
        conn.executemany(
            "INSERT INTO contacts (channel, external_id, name, language, role, opted_out, "
            "stopped, window_closed, created_at, updated_at) "
            "VALUES ('telegram', ?, ?, 'id', 'resident', 0, 0, 0, ?, ?)",
            [(str(FIRST_RECIPIENT + n), f"Warga {n}", now, now) for n in range(count)])


def schedule_broadcast(database: Path) -> None:
    """A /siaran to everyone, confirmed just now by the coordinator."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    with sqlite3.connect(database) as conn:
        (coordinator,) = conn.execute(
            "SELECT id FROM contacts WHERE external_id = ?", (str(COORDINATOR),)).fetchone()
        conn.execute(
            "INSERT INTO broadcasts (kind, audience, params, body, status, due_at, "
            "requested_by, created_at, cursor, enqueued) VALUES ('siaran', ?, '{}', ?, "
            "'scheduled', ?, ?, ?, 0, 0)",
            (json.dumps({"type": "all"}), BROADCAST_BODY, now, coordinator, now))


async def until(predicate: Callable[[], bool], poll: float = 0.05) -> None:
    """Wait (bounded) until ``predicate()`` holds; it reads what the fake recorded."""
    async with asyncio.timeout(PHASE_LIMIT):
        while not predicate():  # noqa: ASYNC110 - the fake has no event for this
            await asyncio.sleep(poll)


class Deliveries:
    """Broadcast messages as they reach the fake Bot API (by chat, with times)."""

    def __init__(self, fake: FakeBotAPI, replies: Replies | None = None) -> None:
        self.at: dict[int, list[float]] = {}
        self.replies = replies
        self.hook: Callable[[int], None] | None = None
        fake.on_call = self.on_call

    def on_call(self, call: Call, result: Any) -> None:
        if self.replies is not None:
            self.replies.on_call(call, result)
        if call.method == "sendMessage" and BROADCAST_BODY.split()[0] in str(
                call.params.get("text", "")):
            chat = int(call.params["chat_id"])
            self.at.setdefault(chat, []).append(time.perf_counter())
            if self.hook is not None:
                self.hook(len(self.at))

    def count(self) -> int:
        return sum(len(v) for v in self.at.values())


async def phase_broadcast(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    limits = FloodLimits(per_chat_burst=1)
    fake = await FakeBotAPI(limits=limits).start()
    folder = tmp / "ours-broadcast"
    folder.mkdir()
    resident = range(FIRST_RESIDENT, FIRST_RESIDENT + 1)
    add_photos(fake, resident)
    bot = await start_ours(args, fake, folder)
    try:
        seed_recipients(folder / "warga.db", args.recipients)
        replies = Replies(fake)
        deliveries = Deliveries(fake, replies)
        idle = Load()
        await residents(bot.child.url, bot.secret, replies, resident, 8.0, idle)
        schedule_broadcast(folder / "warga.db")
        during = Load()
        load_before = loadavg()
        # The broadcast starts within the feature's 5-second tick; measure while it runs.
        await until(lambda: deliveries.count() > 0)
        started = time.perf_counter()
        run = asyncio.create_task(residents(bot.child.url, bot.secret, replies, resident,
                                            PHASE_LIMIT, during))
        await until(lambda: deliveries.count() >= args.recipients + 1)  # the coordinator too
        took = time.perf_counter() - started
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
        figures = {"recipients": args.recipients, "broadcast_seconds": round(took, 1),
                   "broadcast_rate_per_s": round(args.recipients / took, 1),
                   "throttled_429": fake.throttled,
                   "idle_reply_p50_ms": idle.figures()["reply_p50_ms"],
                   "idle_reply_p99_ms": idle.figures()["reply_p99_ms"],
                   "during_answers": len(during.latencies),
                   "during_reply_p50_ms": during.figures()["reply_p50_ms"],
                   "during_reply_p99_ms": during.figures()["reply_p99_ms"],
                   "during_reply_max_ms": during.figures()["reply_max_ms"],
                   "loadavg": round(load_before, 2)}
    finally:
        await bot.child.stop()
        await fake.close()
    return figures


async def lag(http: aiohttp.ClientSession, url: str, reset: bool = False) -> dict[str, Any]:
    async with (http.post if reset else http.get)(url + "/bench/lag") as response:
        return dict(await response.json())


async def login(http: aiohttp.ClientSession, url: str, database_url: str) -> dict[str, str]:
    """A coordinator's dashboard session: a one-time link, opened and confirmed."""
    from bot.dashboard.auth import issue_login_link
    from bot.settings import Secret, Settings
    from storage.db import Database

    settings = Settings(database_url=database_url, public_url=COORDINATOR_PANEL,
                        secret_key=Secret(SECRET_KEY))
    db = Database(database_url)
    try:
        async with db.transaction() as tx:
            coordinator = await tx.contacts.get_by_external("telegram", str(COORDINATOR))
            assert coordinator is not None
            link = await issue_login_link(tx, settings, coordinator.id, datetime.now(UTC))
    finally:
        await db.close()
    path = "/" + link.split("/", 3)[3]
    cookies: dict[str, str] = {}

    def keep(response: aiohttp.ClientResponse) -> None:
        for name, morsel in response.cookies.items():
            cookies[name] = morsel.value

    async with http.get(url + path, allow_redirects=False) as response:
        keep(response)
        page = await response.text()
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None, page[:300]
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    async with http.post(url + path, data={"csrf": token.group(1)}, allow_redirects=False,
                         headers={"Cookie": cookie}) as response:
        keep(response)
        assert response.status == 303, response.status
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


async def phase_export(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from bench.export_assessments import generate

    fake = await FakeBotAPI().start()
    folder = tmp / "ours-export"
    folder.mkdir()
    who = range(FIRST_RESIDENT, FIRST_RESIDENT + 20)
    add_photos(fake, who)
    database_url = f"sqlite+aiosqlite:///{folder}/warga.db"
    bot = await start_ours(args, fake, folder, probe_ms=10.0)
    try:
        # The service made the schema; the households go in beside it.
        with contextlib.redirect_stdout(sys.stderr):
            await generate(database_url, args.households, migrate=False)
        replies = Replies(fake)
        before = Load()
        during = Load()
        async with aiohttp.ClientSession() as http:
            session = await login(http, bot.child.url, database_url)
            # First use (lazy imports, caches) is not what a running service does all day.
            await lag(http, bot.child.url, reset=True)
            await residents(bot.child.url, bot.secret, replies, who, 16.0, Load())
            first_use = await lag(http, bot.child.url)
            await lag(http, bot.child.url, reset=True)
            await residents(bot.child.url, bot.secret, replies, who, 10.0, before)
            quiet = await lag(http, bot.child.url)
            await lag(http, bot.child.url, reset=True)
            load_before = loadavg()
            run = asyncio.create_task(residents(bot.child.url, bot.secret, replies, who,
                                                PHASE_LIMIT, during))
            t0 = time.perf_counter()
            async with http.get(bot.child.url + "/unduh/asesmen.xlsx",
                                headers=session) as response:
                size = len(await response.read())
                status = response.status
            export_seconds = time.perf_counter() - t0
            t1 = time.perf_counter()
            async with http.get(bot.child.url + "/asesmen", headers=session) as response:
                await response.read()
                page_status = response.status
            page_seconds = time.perf_counter() - t1
            busy = await lag(http, bot.child.url)
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
        figures = {"households": args.households, "export_status": status,
                   "export_mib": round(size / 2**20, 1),
                   "export_seconds": round(export_seconds, 1),
                   "page_status": page_status, "page_ms": round(page_seconds * 1000),
                   "loop_lag_max_ms_first_use": first_use["max_ms"],
                   "loop_lag_max_ms_quiet": quiet["max_ms"],
                   "loop_lag_max_ms_during": busy["max_ms"],
                   "loop_lag_p99_ms_during": busy["p99_ms"],
                   "reply_p99_ms_before": before.figures()["reply_p99_ms"],
                   "reply_p99_ms_during": during.figures()["reply_p99_ms"],
                   "reply_max_ms_during": during.figures()["reply_max_ms"],
                   "answers_during": len(during.latencies),
                   "loadavg": round(load_before, 2)}
    finally:
        await bot.child.stop()
        await fake.close()
    return figures


async def phase_sigkill(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    limits = FloodLimits(per_chat_burst=1)
    fake = await FakeBotAPI(limits=limits).start()
    folder = tmp / "ours-sigkill"
    folder.mkdir()
    first = await start_ours(args, fake, folder)
    second: Bot | None = None
    try:
        seed_recipients(folder / "warga.db", args.recipients)
        deliveries = Deliveries(fake)
        killed_at: list[float] = []

        def kill(count: int) -> None:
            if count >= args.recipients // 3 and not killed_at:
                killed_at.append(time.perf_counter())
                first.child.process.kill()  # SIGKILL, from inside the "platform"

        deliveries.hook = kill
        schedule_broadcast(folder / "warga.db")
        async with asyncio.timeout(PHASE_LIMIT):
            await first.child.process.wait()
        at_kill = deliveries.count()
        t_restart = time.perf_counter()
        second = await start_ours(args, fake, folder)
        up = time.perf_counter()
        await until(lambda: deliveries.count() > at_kill, poll=0.005)
        resumed = time.perf_counter()
        chats = range(FIRST_RECIPIENT, FIRST_RECIPIENT + args.recipients)
        # Until everyone has it, or nothing more arrives for longer than any lease (what
        # is still missing then is lost).
        last_count, last_change = deliveries.count(), time.perf_counter()
        async with asyncio.timeout(PHASE_LIMIT):
            while not all(chat in deliveries.at for chat in chats):
                await asyncio.sleep(0.1)
                if deliveries.count() != last_count:
                    last_count, last_change = deliveries.count(), time.perf_counter()
                elif time.perf_counter() - last_change > STALLED:
                    break
        await asyncio.sleep(3.0)  # anything sent twice shows up meanwhile
        done = max(max(deliveries.at[chat]) for chat in chats if chat in deliveries.at)
        twice = sum(1 for chat in chats if len(deliveries.at.get(chat, ())) > 1)
        lost = sum(1 for chat in chats if chat not in deliveries.at)
        # At the cap (bulk leaves one a second to replies), what was left needed at least:
        minimum = (args.recipients + 1 - at_kill) / 29
        figures = {"recipients": args.recipients, "delivered_before_kill": at_kill,
                   "restart_to_healthy_s": round(up - t_restart, 2),
                   "healthy_to_first_delivery_s": round(resumed - up, 2),
                   "kill_to_last_delivery_s": round(done - killed_at[0], 1),
                   "rest_at_the_cap_s": round(minimum, 1),
                   "lost": lost, "sent_twice": twice, "throttled_429": fake.throttled}
    finally:
        if second is not None:
            await second.child.stop()
        await first.child.stop()
        await fake.close()
    return figures


# -- running -------------------------------------------------------------------------------

PHASES = ("think", "cap", "flood", "broadcast", "export", "sigkill")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"service_root": str(args.service_root),
                               "seconds": args.seconds, "think_s": THINK}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for name in args.phases:
            print(f"… {name} (load {loadavg():.2f})", file=sys.stderr, flush=True)
            if name in ("think", "cap"):
                users = 20 if name == "think" else 100
                limits = FloodLimits(per_chat_burst=1) if name == "cap" else None
                kinds = ["ours"] if args.no_baseline else ["ours", "ptb"]
                results[name] = {kind: await phase_think(args, tmp, kind, users, limits)
                                 for kind in kinds}
            else:
                phase: Callable[[argparse.Namespace, Path], Awaitable[dict[str, Any]]] = {
                    "flood": phase_flood, "broadcast": phase_broadcast,
                    "export": phase_export, "sigkill": phase_sigkill}[name]
                results[name] = await phase(args, tmp)
            if args.out is not None:  # each phase as it is done (a long run can fail late)
                args.out.write_text(json.dumps(results))
    return results


def report(results: dict[str, Any]) -> None:
    for name in PHASES:
        if name not in results:
            continue
        print(name)
        figures = results[name]
        if name in ("think", "cap"):
            keys = sorted({k for f in figures.values() for k in f})
            print(f"  {'':34}" + "".join(f"{kind:>14}" for kind in figures))
            for key in keys:
                print(f"  {key:34}" + "".join(f"{f.get(key, '')!s:>14}"
                                               for f in figures.values()))
        else:
            for key, value in figures.items():
                print(f"  {key:34}{value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--phases", default=",".join(PHASES),
                        type=lambda s: [p for p in s.split(",") if p])
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="think, cap and flood: how long residents report")
    parser.add_argument("--flood", type=int, default=10_000, help="messages of the flood")
    parser.add_argument("--recipients", type=int, default=300)
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true",
                        help="shorter loads: 10 s, a 2,000-message flood, 5,000 households")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the conventional bot (think, cap)")
    parser.add_argument("--service-root", type=Path, default=ROOT,
                        help="run our service from another checkout (before/after)")
    parser.add_argument("--cprofile", default=None, metavar="FILE",
                        help="profile our service with cProfile into FILE")
    parser.add_argument("--py-spy", default=None, metavar="PY_SPY",
                        help="record our service with this py-spy executable (think, cap)")
    parser.add_argument("--py-spy-out", default="/tmp/human-speed", metavar="PREFIX",
                        help="py-spy's raw profiles go to PREFIX-<phase folder>.txt")
    parser.add_argument("--out", type=Path, default=None,
                        help="also write the figures so far to this file after each phase")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}")
    if args.quick:
        args.seconds, args.flood, args.households = 10.0, 2_000, 5_000
    results = asyncio.run(run(args))
    if args.json:
        print(json.dumps(results))
    else:
        report(results)


if __name__ == "__main__":
    main()
