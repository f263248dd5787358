"""Baseline: the same complaint flow written the conventional way — python-telegram-bot
22.8 ``Application`` with a ``ConversationHandler`` (states as ints) and
``PicklePersistence`` behind an aiohttp webhook that puts each update on
``application.update_queue`` and answers 200 (PTB's custom-webhook example; the bot is
``bench/conventional_bot.py``, which imports nothing of ours) — against the same fake Bot
API and the same load as our service.

    python bench/baseline_ptb.py [--users 50] [--seconds 10] [--json]

Both bots run in a child process (one core each, as in production); this process plays
Telegram: ``--users`` residents walk the flow of ``bench/telegram_webhook.py`` (14 updates:
commands, taps on inline keyboards, texts, a location, a photo), each sending the next
update when the bot's reply to the last one reached the fake Bot API (a conversation's
round trip), for ``--seconds``. Both bots do the same Bot API work per update: the reply,
and for a tap ``answerCallbackQuery`` plus an edit that shows the choice; a photo is
downloaded (getFile + file). Our service runs with its outbox unpaced here (the baseline
has no rate limiter either), otherwise as ``warga serve``.

Printed for each: updates/s answered, updates lost (no answer within 3 s: the resident
starts again, as a person would), time to 200 and update → reply (p50/p99), and our
throughput / the baseline's.

Configurations (see docs/performance.md):
- baseline "docs": ``concurrent_updates=False``, which PTB's documentation asks for with
  ConversationHandler ("heavily relies on incoming updates being processed one by one");
- baseline "concurrent": ``concurrent_updates=True`` (faster, against that advice: two
  updates of one chat can then race), shown for fairness;
- both use PTB's default HTTP transport (httpx); ours uses ``bot/telegram_request.py``
  (aiohttp), a speed-up the baseline could adopt too: ``--aiohttp`` gives it ours.
- PicklePersistence keeps its defaults (written every 60 s, so never during a run: the
  baseline keeps conversations in memory — and loses them on a crash).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake import Child, free_port, loadavg, pct, start_child
from bench.telegram_webhook import PHOTO, SCRIPT, Replies, update_for
from bot.telegram import SECRET_HEADER, WEBHOOK_PATH
from tests.fakes.telegram_api import TOKEN, FakeBotAPI

SECRET = "bench-baseline-secret-0123456789abcdef"
PHASE_LIMIT = 120.0
# Seconds without the bot's answer after which an update counts as lost (replies take
# well under half a second at p99 when nothing is lost).
LOST_AFTER = 3.0

# -- the bots (each runs in a child; the conventional one is bench/conventional_bot.py) --


def run_ours(port: int, api: str, data_dir: Path) -> None:
    """Our service as ``warga serve`` builds it, with the outbox unpaced and no
    per-contact inbound limit (the baseline has neither): SQLite, webhook mode, INFO
    logging with access lines."""
    from aiohttp import web

    from bot.app import create_app
    from bot.settings import Secret, Settings
    from bot.telegram import TelegramPlugin
    from conversations.messages import Pacing

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings(database_url=f"sqlite+aiosqlite:///{data_dir}/warga.db",
                        data_dir=data_dir, port=port, secret_key=Secret("b" * 40),
                        telegram_bot_token=Secret(TOKEN), telegram_api_url=api,
                        telegram_mode="webhook", telegram_webhook_secret=Secret(SECRET),
                        # Residents here answer the moment a reply arrives, far above the
                        # per-contact limit meant for people; the baseline has none either.
                        inbound_per_minute=0.0)
    unpaced = Pacing(rate=1_000_000.0, per_recipient_interval=0.0, burst=1_000_000)
    app = create_app(settings, plugins=[TelegramPlugin(settings, pacing=unpaced)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, shutdown_timeout=10)


# -- the load (this process) ----------------------------------------------------------------


async def round_trips(url: str, fake: FakeBotAPI, users: range, seconds: float
                      ) -> dict[str, Any]:
    """Each resident sends the next update once the bot's reply to the last one arrived."""
    replies = Replies(fake)
    to_200: list[float] = []
    round_trip: list[float] = []
    not_200 = 0
    lost = 0
    deadline = time.perf_counter() + seconds
    headers = {SECRET_HEADER: SECRET}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def resident(user: int) -> None:
            nonlocal not_200, lost
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
                        not_200 += 1
                to_200.append(time.perf_counter() - t0)
                try:
                    async with asyncio.timeout(LOST_AFTER):
                        await replies.after(user, seen)
                except TimeoutError:
                    # No answer: the bot dropped the update (a ConversationHandler that
                    # saw it before its state moved on). A person would start again.
                    lost += 1
                    steps = itertools.cycle(SCRIPT)
                    continue
                round_trip.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        async with asyncio.timeout(PHASE_LIMIT):
            await asyncio.gather(*(resident(user) for user in users))
        elapsed = time.perf_counter() - t0
    fake.on_call = None
    return {"updates": len(round_trip), "seconds": round(elapsed, 2),
            "updates_per_s": round(len(round_trip) / elapsed, 1), "not_200": not_200,
            "lost": lost,
            "to_200_p50_ms": round(pct(to_200, 0.5), 1),
            "to_200_p99_ms": round(pct(to_200, 0.99), 1),
            "reply_p50_ms": round(pct(round_trip, 0.5), 1),
            "reply_p99_ms": round(pct(round_trip, 0.99), 1)}


async def measure(kind: str, args: argparse.Namespace, tmp: Path, run: int) -> dict[str, Any]:
    folder = tmp / kind
    folder.mkdir()
    fake = await FakeBotAPI().start()
    first = 3_000_000 + 100_000 * run
    users = range(first, first + args.users)
    for user in users:
        fake.add_file(f"bench-photo-{user}", PHOTO + str(user).encode())
    port = free_port()
    argv = serve_argv(kind, port, fake.url, folder)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WARGA_", "TELEGRAM_", "WHATSAPP_"))}
    child: Child | None = None
    try:
        child = await start_child(argv, env, port, folder / "service.log")
        load_before = loadavg()
        cpu_before = child.cpu_seconds()
        figures = await round_trips(child.url, fake, users, args.seconds)
        figures["service_cpu_share"] = round(
            (child.cpu_seconds() - cpu_before) / figures["seconds"], 2)
        figures["loadavg"] = round(load_before, 2)
        figures["service_peak_rss_mb"] = round(child.peak_rss_mb(), 1)
    finally:
        if child is not None:
            await child.stop()
        await fake.close()
    return figures


def serve_argv(kind: str, port: int, api: str, folder: Path) -> list[str]:
    """The child process of one kind: ours from this file, the conventional bot from
    ``bench/conventional_bot.py`` (which imports nothing of Warga)."""
    if kind == "ours":
        return [sys.executable, str(HERE), "--serve", kind, "--port", str(port),
                "--api", api, "--data", str(folder)]
    argv = [sys.executable, str(HERE.with_name("conventional_bot.py")), "--port", str(port),
            "--api", api, "--data", str(folder), "--token", TOKEN, "--secret", SECRET,
            "--path", WEBHOOK_PATH]
    if kind != "ptb":
        argv.append("--concurrent")
    if kind == "ptb-aiohttp":
        argv.append("--aiohttp")
    return argv


KINDS = {
    "ours": "ours (warga serve, outbox unpaced)",
    "ptb": "baseline, concurrent_updates=False (PTB docs)",
    "ptb-concurrent": "baseline, concurrent_updates=True",
    "ptb-aiohttp": "baseline, concurrent, our aiohttp transport",
}


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"round trip: {args.users} residents, next update when the reply arrived, "
          f"{args.seconds:.0f} s each")
    for kind, figures in results["runs"].items():
        print(f"{KINDS[kind]}  (load {figures['loadavg']:.2f})")
        print(f"  updates/s              {figures['updates_per_s']:,.0f} "
              f"({figures['updates']:,} answered, {figures['lost']} lost, "
              f"{figures['not_200']} not 200, service used "
              f"{figures['service_cpu_share']:.0%} of a core)")
        print(f"  time to 200 p50/p99    {figures['to_200_p50_ms']:.1f} ms / "
              f"{figures['to_200_p99_ms']:.1f} ms")
        print(f"  update → reply p50/p99 {figures['reply_p50_ms']:.1f} ms / "
              f"{figures['reply_p99_ms']:.1f} ms")
        print(f"  peak RSS               {figures['service_peak_rss_mb']:.0f} MB")
    for name, ratio in results["ratios"].items():
        print(f"ours / {name:<28} {ratio:.1f}x")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", default="ours,ptb,ptb-concurrent",
                        help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    runs = [r for r in args.runs.split(",") if r]
    if set(runs) - set(KINDS):
        parser.error(f"unknown runs {sorted(set(runs) - set(KINDS))}")
    results: dict[str, Any] = {"users": args.users, "runs": {}, "ratios": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for n, kind in enumerate(runs):
            results["runs"][kind] = await measure(kind, args, Path(tmp), n)
    ours = results["runs"].get("ours")
    if ours:
        for kind, figures in results["runs"].items():
            if kind != "ours" and figures["updates_per_s"]:
                results["ratios"][kind] = round(ours["updates_per_s"]
                                                / figures["updates_per_s"], 2)
    if args.json:
        print(json.dumps(results))
    else:
        report(results, args)


def serve_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=["ours"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args(argv)
    run_ours(args.port, args.api, args.data)


if __name__ == "__main__":
    if "--serve" in sys.argv:
        with contextlib.suppress(KeyboardInterrupt):
            serve_main(sys.argv[1:])
    else:
        asyncio.run(main())
