"""Intake benchmark: ``warga serve`` (the real CLI, SQLite, webhook mode) in a child
process; this process plays Telegram and Meta — it posts the webhooks and runs the fake
Bot API and Graph API the service talks to.

    python bench/intake.py [--users 100] [--connections 40] [--seconds 10]
                           [--rate 300] [--open-seconds 10] [--channels telegram,whatsapp]
                           [--database-url URL] [--json]

Why two processes: on a 2-core machine a load generator in the service's own process
takes half of the service's CPU (and its event loop). Here the service has one core to
itself, as it would in production, and the platforms' side the other.

For each channel, on a fresh service and database:

1. closed loop — ``--users`` residents walk the complaint flow (the same updates as
   ``bench/telegram_webhook.py`` and ``bench/whatsapp_webhook.py``), each sending the next
   message as soon as the last got its 200, over at most ``--connections`` connections at
   once (Telegram opens at most ``max_connections`` = 40 to a webhook). Figures: messages/s
   stored (a 200 means committed: inbound id, session, answer, reply in the outbox) and
   time to 200 p50/p99.
2. open loop — ``--rate`` messages/s offered whatever our answer time (what the platforms
   do), for ``--open-seconds``: time to 200 p50/p99/max.

The outbox keeps the platforms' real pacing (Telegram 30/s, WhatsApp per recipient), so
replies trickle out beside the intake as they would in production; taps are answered
(``answerCallbackQuery`` + edit) and WhatsApp messages marked read, as in production.
Also printed: the service's peak RSS (VmHWM) and the load average around each phase.
Bounded in time and count; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.telegram_webhook import PHOTO, update_for
from bench.telegram_webhook import SCRIPT as TELEGRAM_SCRIPT
from bench.whatsapp_webhook import SCRIPT as WHATSAPP_SCRIPT
from bench.whatsapp_webhook import delivery
from bot.telegram import SECRET_HEADER, WEBHOOK_PATH
from handlers.whatsapp import SIGNATURE_HEADER, sign
from tests.fakes.telegram_api import TOKEN, FakeBotAPI
from tests.fakes.whatsapp_api import PHONE_NUMBER_ID, FakeGraphAPI
from tests.fakes.whatsapp_api import TOKEN as WA_TOKEN

TG_SECRET = "bench-intake-secret-0123456789abcdef"
WA_SECRET = "bench-intake-app-secret"
STARTUP_LIMIT = 60.0  # seconds for the child to answer /healthz
PHASE_LIMIT = 120.0  # a phase that takes longer is a hang, not a result


def pct(values: list[float], p: float) -> float:
    """The p-quantile in milliseconds (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def loadavg() -> float:
    return os.getloadavg()[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the service in a child process ------------------------------------------------------


@dataclass
class Child:
    """A service process on a loopback port; stopped with SIGTERM (as systemd would)."""

    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_mb(self) -> float:
        """VmHWM: the most resident memory the process ever had."""
        with contextlib.suppress(OSError), open(f"/proc/{self.process.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far."""
        with contextlib.suppress(OSError), open(f"/proc/{self.process.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return float("nan")

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode or 0


def _log_file(log: Path) -> IO[bytes]:
    return open(log, "wb")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def start_child(argv: list[str], env: dict[str, str], port: int, log: Path,
                      root: Path = ROOT) -> Child:
    """Start ``argv`` and wait until it answers ``GET /healthz`` with 200."""
    with _log_file(log) as out:
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, cwd=str(root), stdout=out, stderr=asyncio.subprocess.STDOUT)
    child = Child(process, port, log)
    deadline = time.monotonic() + STARTUP_LIMIT
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                break
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(f"{child.url}/healthz") as r:
                    if r.status == 200:
                        return child
            await asyncio.sleep(0.1)
    await child.stop()
    raise RuntimeError(f"service did not start; its log:\n{_tail(log)}")


def service_env(data_dir: Path, database_url: str, port: int, *, telegram_api: str | None,
                graph_api: str | None) -> dict[str, str]:
    """The environment ``warga serve`` gets in production, pointed at the fakes."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WARGA_", "TELEGRAM_", "WHATSAPP_"))}
    env.update(WARGA_DATABASE_URL=database_url, WARGA_DATA_DIR=str(data_dir),
               WARGA_PORT=str(port), WARGA_SECRET_KEY="bench-secret-key-" + "x" * 32,
               PYTHONPATH=str(ROOT))
    if telegram_api is not None:
        env.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram_api,
                   TELEGRAM_MODE="webhook", TELEGRAM_WEBHOOK_SECRET=TG_SECRET)
    if graph_api is not None:
        env.update(WHATSAPP_ACCESS_TOKEN=WA_TOKEN, WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
                   WHATSAPP_APP_SECRET=WA_SECRET, WHATSAPP_VERIFY_TOKEN="bench-verify",
                   WHATSAPP_API_URL=graph_api)
    return env


# -- the platforms' side -----------------------------------------------------------------


@dataclass
class Load:
    """Time to 200 of every delivery of one phase."""

    latencies: list[float] = field(default_factory=list)
    not_200: int = 0
    elapsed: float = 0.0

    def figures(self) -> dict[str, float]:
        ok = len(self.latencies) - self.not_200
        return {"messages": len(self.latencies), "not_200": self.not_200,
                "seconds": round(self.elapsed, 2),
                "messages_per_s": round(ok / self.elapsed, 1) if self.elapsed else 0.0,
                "p50_ms": round(pct(self.latencies, 0.5), 1),
                "p99_ms": round(pct(self.latencies, 0.99), 1),
                "max_ms": round(max(self.latencies, default=0.0) * 1000, 1)}


Post = Callable[[aiohttp.ClientSession, int, int], Awaitable[int]]


class TelegramSide:
    """Builds Telegram updates for one resident's n-th step, and posts them."""

    def __init__(self, fake: FakeBotAPI, url: str) -> None:
        self.fake = fake
        self.url = url + WEBHOOK_PATH
        self.headers = {SECRET_HEADER: TG_SECRET}
        self._shown = itertools.count(1)

    def prepare(self, users: range) -> None:
        for user in users:
            self.fake.add_file(f"bench-photo-{user}", PHOTO + str(user).encode())

    async def post(self, http: aiohttp.ClientSession, user: int, step: int) -> int:
        kind, value = TELEGRAM_SCRIPT[step % len(TELEGRAM_SCRIPT)]
        shown = None
        if kind == "press":
            # The tapped message, as the fake Bot API knows it, so the service's answer
            # to the tap (edit: choice shown, keyboard gone) succeeds as it would.
            shown = {"message_id": next(self._shown), "date": 1795833600,
                     "chat": {"id": user, "type": "private", "first_name": "Warga"},
                     "text": "Pilih:", "reply_markup": {"inline_keyboard": [[
                         {"text": value, "callback_data": value}]]}}
            self.fake.messages[(user, shown["message_id"])] = dict(shown)
        async with http.post(self.url, json=update_for(user, (kind, value), shown),
                             headers=self.headers) as r:
            await r.read()
            return r.status


class WhatsAppSide:
    def __init__(self, url: str) -> None:
        self.url = url + "/webhooks/whatsapp"
        self._ids = itertools.count()

    def prepare(self, users: range) -> None:
        pass

    async def post(self, http: aiohttp.ClientSession, user: int, step: int) -> int:
        body = delivery(f"62{user:010d}", f"wamid.intake.{user}.{next(self._ids)}",
                        WHATSAPP_SCRIPT[step % len(WHATSAPP_SCRIPT)])
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(WA_SECRET, body)}
        async with http.post(self.url, data=body, headers=headers) as r:
            await r.read()
            return r.status


async def timed(load: Load, post: Post, http: aiohttp.ClientSession, user: int,
                step: int) -> None:
    t0 = time.perf_counter()
    status = await post(http, user, step)
    load.latencies.append(time.perf_counter() - t0)
    if status != 200:
        load.not_200 += 1


async def closed_loop(post: Post, users: range, connections: int, seconds: float) -> Load:
    """Every resident sends the next message as soon as the last one got its 200, over at
    most ``connections`` connections: residents wait their turn in arrival order, as
    updates queue at Telegram (aiohttp's own connection limit is not fair: a task that
    releases a connection takes it straight back, and the others starve)."""
    load = Load()
    ready: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for user in users:
        ready.put_nowait((user, 0))
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def connection() -> None:
            while time.perf_counter() < deadline:
                user, step = await ready.get()
                await timed(load, post, http, user, step)
                ready.put_nowait((user, step + 1))

        t0 = time.perf_counter()
        async with asyncio.timeout(PHASE_LIMIT):
            await asyncio.gather(*(connection() for _ in range(connections)))
        load.elapsed = time.perf_counter() - t0
    return load


async def open_loop(post: Post, first_user: int, rate: float, seconds: float) -> Load:
    """``rate`` messages/s whatever our answer time; ``rate`` residents take turns, so
    each walks the flow at about one message a second."""
    load = Load()
    users = max(1, int(rate))
    tasks: list[asyncio.Task[None]] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        t0 = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(
                timed(load, post, http, first_user + i % users, i // users)))
        async with asyncio.timeout(PHASE_LIMIT):
            await asyncio.gather(*tasks)
        load.elapsed = time.perf_counter() - t0
    return load


# -- phases ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fakes(channel: str) -> AsyncIterator[tuple[FakeBotAPI | None, FakeGraphAPI | None]]:
    """The platform API the service sends to, in this process."""
    if channel == "telegram":
        bot_api = await FakeBotAPI().start()
        try:
            yield bot_api, None
        finally:
            await bot_api.close()
    else:
        async with FakeGraphAPI() as graph:
            yield None, graph


async def run_phase(channel: str, kind: str, args: argparse.Namespace, tmp: Path,
                    argv: list[str]) -> dict[str, Any]:
    """One fresh service and database, one kind of load; its figures."""
    data_dir = tmp / f"{channel}-{kind}"
    data_dir.mkdir()
    database_url = args.database_url or f"sqlite+aiosqlite:///{data_dir}/warga.db"
    port = free_port()
    async with fakes(channel) as (bot_api, graph):
        env = service_env(data_dir, database_url, port,
                          telegram_api=bot_api.url if bot_api else None,
                          graph_api=graph.url if graph else None)
        env["PYTHONPATH"] = str(args.service_root)
        child = await start_child(argv, env, port, data_dir / "service.log",
                                  args.service_root)
        try:
            side: TelegramSide | WhatsAppSide
            if bot_api is not None:
                side = TelegramSide(bot_api, child.url)
            else:
                side = WhatsAppSide(child.url)
            first = 1_000_000 if kind == "closed" else 2_000_000
            load_before = loadavg()
            cpu_before = child.cpu_seconds()
            own_before = time.process_time()
            profiler = None
            if args.py_spy:
                duration = args.seconds if kind == "closed" else args.open_seconds
                profiler = await asyncio.create_subprocess_exec(
                    args.py_spy, "record", "--pid", str(child.process.pid), "--rate", "200",
                    "--format", "raw", "--duration", str(max(1, int(duration))),
                    "--output", f"/tmp/intake-{channel}-{kind}.txt",
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            if kind == "closed":
                users = range(first, first + args.users)
                side.prepare(users)
                load = await closed_loop(side.post, users, args.connections, args.seconds)
            else:
                side.prepare(range(first, first + max(1, int(args.rate))))
                load = await open_loop(side.post, first, args.rate, args.open_seconds)
            figures = load.figures()
            figures["service_cpu_share"] = round(
                (child.cpu_seconds() - cpu_before) / load.elapsed, 2)
            # The platforms' side must not be the bottleneck: its share is shown too.
            figures["load_cpu_share"] = round((time.process_time() - own_before) / load.elapsed,
                                              2)
            figures["loadavg_before"] = round(load_before, 2)
            figures["loadavg_after"] = round(loadavg(), 2)
            figures["service_peak_rss_mb"] = round(child.peak_rss_mb(), 1)
            if profiler is not None:
                await profiler.wait()
        finally:
            status = await child.stop()
        if status != 0:
            raise RuntimeError(f"service exited {status}; log in {child.log}")
    return figures


def serve_argv() -> list[str]:
    return [sys.executable, "-m", "bot", "serve"]


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"database                 {results['database']}")
    print(f"service                  `warga serve` in a child process; load and fake APIs "
          f"in this one ({os.cpu_count()} cores)")
    for channel in args.channels:
        closed, opened = results[channel]["closed"], results[channel]["open"]
        print(channel)
        print(f"  closed loop            {args.users} residents over {args.connections} "
              f"connections, {closed['seconds']:.1f} s (load {closed['loadavg_before']:.2f})")
        print(f"    messages/s stored    {closed['messages_per_s']:,.0f} "
              f"({closed['messages']:,} messages, {closed['not_200']} not 200; service "
              f"used {closed['service_cpu_share']:.0%} of a core, the load generator "
              f"{closed['load_cpu_share']:.0%})")
        print(f"    time to 200 p50/p99  {closed['p50_ms']:.1f} ms / {closed['p99_ms']:.1f} ms")
        print(f"  open loop              {args.rate:.0f} messages/s offered for "
              f"{args.open_seconds:.0f} s (load {opened['loadavg_before']:.2f})")
        print(f"    time to 200 p50/p99  {opened['p50_ms']:.1f} ms / {opened['p99_ms']:.1f} ms "
              f"(max {opened['max_ms']:.1f} ms, {opened['not_200']} not 200)")
        print(f"  service peak RSS       "
              f"{max(closed['service_peak_rss_mb'], opened['service_peak_rss_mb']):.0f} MB")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000, help="closed loop: residents")
    parser.add_argument("--connections", type=int, default=40,
                        help="closed loop: connections at once (Telegram's max_connections)")
    parser.add_argument("--seconds", type=float, default=10.0, help="closed loop: duration")
    parser.add_argument("--rate", type=float, default=300.0,
                        help="open loop: messages/s offered")
    parser.add_argument("--open-seconds", type=float, default=10.0,
                        help="open loop: duration")
    parser.add_argument("--channels", default="telegram,whatsapp",
                        type=lambda s: [c for c in s.split(",") if c])
    parser.add_argument("--database-url", default=None,
                        help="an empty scratch database (default: SQLite, fresh per phase)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--service-root", type=Path, default=ROOT,
                        help="run the service from another checkout (before/after "
                             "comparisons, e.g. one made with `git archive COMMIT`)")
    parser.add_argument("--py-spy", default=None, metavar="PY_SPY",
                        help="profile the service during each load with this py-spy "
                             "executable; raw profiles are written to /tmp/intake-*.txt")
    args = parser.parse_args()
    unknown = set(args.channels) - {"telegram", "whatsapp"}
    if unknown:
        parser.error(f"unknown channels {sorted(unknown)}")
    results: dict[str, Any] = {
        "database": (args.database_url or "sqlite").split(":")[0], "cores": os.cpu_count(),
        "users": args.users, "connections": args.connections, "rate": args.rate}
    with tempfile.TemporaryDirectory() as tmp:
        for channel in args.channels:
            results[channel] = {}
            for kind in ("closed", "open"):
                results[channel][kind] = await run_phase(channel, kind, args, Path(tmp),
                                                         serve_argv())
    if args.json:
        print(json.dumps(results))
    else:
        report(results, args)


if __name__ == "__main__":
    asyncio.run(main())
