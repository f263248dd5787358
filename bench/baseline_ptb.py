"""Baseline: the same complaint flow written the conventional way — python-telegram-bot
22.8 ``Application`` with a ``ConversationHandler`` (states as ints) and
``PicklePersistence`` behind an aiohttp webhook that puts each update on
``application.update_queue`` and answers 200 (PTB's custom-webhook example) — against
the same fake Bot API and the same load as our service.

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
import random
import re
import sys
import tempfile
import time
import warnings
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

# -- the baseline bot (runs in the child) -------------------------------------------------

(MENU, JENIS, KATEGORI, URAIAN, SEJAK, JUMLAH, LOKASI, KELURAHAN, RTRW, PATOKAN, FOTO,
 KONTAK, KONFIRMASI) = range(13)

JENIS_OPTIONS = [("air", "Masalah air bersih"), ("keluhan", "Keluhan lain"),
                 ("aspirasi", "Aspirasi / usulan"), ("informasi", "Minta informasi")]
KATEGORI_OPTIONS = [("mati", "Air mati"), ("debit", "Debit kecil"), ("keruh", "Air keruh"),
                    ("bau", "Air bau"), ("asin", "Asin / payau"), ("pompa", "Pompa rusak"),
                    ("bocor", "Pipa bocor"), ("kering", "Sumur kering"),
                    ("antrean", "Antrean / jadwal"), ("lainnya", "Lainnya")]
KELURAHAN_OPTIONS = [("1001", "Cilincing"), ("1002", "Sukapura"), ("1003", "Marunda"),
                     ("1004", "Kalibaru"), ("1005", "Semper Timur"), ("1006", "Rorotan"),
                     ("1007", "Semper Barat")]
RT_RW = re.compile(r"rt\D*(\d{1,3})\D+rw\D*(\d{1,3})", re.IGNORECASE)


def run_baseline(port: int, api: str, data_dir: Path, concurrent: bool, use_aiohttp: bool
                 ) -> None:
    """The conventional PTB bot: ConversationHandler + PicklePersistence + webhook."""
    from aiohttp import web
    from telegram import (
        InlineKeyboardButton,
        InlineKeyboardMarkup,
        KeyboardButton,
        ReplyKeyboardMarkup,
        ReplyKeyboardRemove,
        Update,
    )
    from telegram.ext import (
        Application,
        CallbackQueryHandler,
        CommandHandler,
        ContextTypes,
        ConversationHandler,
        MessageHandler,
        PicklePersistence,
        filters,
    )

    # per_message=False with CallbackQueryHandlers draws a PTBUserWarning; it is what
    # the examples do.
    warnings.filterwarnings("ignore", module="telegram")
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    Context = ContextTypes.DEFAULT_TYPE

    def keyboard(options: list[tuple[str, str]], prefix: str, per_row: int = 1
                 ) -> InlineKeyboardMarkup:
        buttons = [InlineKeyboardButton(label, callback_data=f"{prefix}:{key}")
                   for key, label in options]
        return InlineKeyboardMarkup([buttons[i:i + per_row]
                                     for i in range(0, len(buttons), per_row)])

    async def tapped(update: Update) -> str:
        """Answer the tap and show the choice on the tapped message (as ours does)."""
        query = update.callback_query
        assert query is not None and query.data is not None
        await query.answer()
        label = next((b.text for row in (query.message.reply_markup.inline_keyboard
                                         if query.message and query.message.reply_markup
                                         else []) for b in row
                      if b.callback_data == query.data), query.data)
        if query.message is not None and getattr(query.message, "text", None):
            await query.edit_message_text(f"{query.message.text}\n\n✓ {label}")
        return query.data.partition(":")[2]

    async def say(update: Update, text: str, markup: Any = None) -> None:
        message = update.effective_message
        assert message is not None
        await message.reply_text(text, reply_markup=markup)

    async def start(update: Update, context: Context) -> int:
        user = update.effective_user
        await say(update, f"Halo {user.first_name if user else ''}! Ini layanan pengaduan "
                          "air bersih dan sosial Kelurahan Kalibaru. Mau apa hari ini?",
                  keyboard([("lapor", "Lapor masalah"), ("status", "Cek laporan saya"),
                            ("bahasa", "Ganti bahasa"), ("bantuan", "Bantuan")], "menu", 2))
        return MENU

    async def menu(update: Update, context: Context) -> int:
        await tapped(update)
        await say(update, "Kita buat laporan baru. Ketik batal kapan saja untuk membatalkan."
                          "\n\nApa jenis laporan Anda?", keyboard(JENIS_OPTIONS, "jenis"))
        return JENIS

    async def jenis(update: Update, context: Context) -> int:
        assert context.user_data is not None
        context.user_data["jenis"] = await tapped(update)
        await say(update, "Masalah air apa yang terjadi?", keyboard(KATEGORI_OPTIONS,
                                                                     "kategori", 2))
        return KATEGORI

    async def kategori(update: Update, context: Context) -> int:
        assert context.user_data is not None
        context.user_data["kategori"] = await tapped(update)
        await say(update, "Ceritakan masalahnya secara singkat.")
        return URAIAN

    async def uraian(update: Update, context: Context) -> int:
        assert context.user_data is not None and update.message is not None
        text = update.message.text or ""
        if len(text) < 3:
            await say(update, "Ceritakan sedikit lebih panjang, ya.")
            return URAIAN
        context.user_data["uraian"] = text
        await say(update, "Sejak kapan masalah ini terjadi?\n\nContoh: kemarin, 3 hari lalu, "
                          "Senin, tgl 20.")
        return SEJAK

    async def sejak(update: Update, context: Context) -> int:
        assert context.user_data is not None and update.message is not None
        context.user_data["sejak"] = update.message.text
        await say(update, "Kira-kira berapa KK (keluarga) yang terdampak?")
        return JUMLAH

    async def jumlah(update: Update, context: Context) -> int:
        assert context.user_data is not None and update.message is not None
        text = (update.message.text or "").strip()
        if not text.isdigit() or not 1 <= int(text) <= 5000:
            await say(update, "Tulis angka antara 1 dan 5000, ya.")
            return JUMLAH
        context.user_data["jumlah_kk"] = int(text)
        await say(update, "Bagikan lokasi masalahnya dengan tombol 📍 Kirim lokasi.\n\n"
                          "(Tidak wajib — ketik lewati kalau tidak ada.)",
                  ReplyKeyboardMarkup([[KeyboardButton("📍 Kirim lokasi",
                                                       request_location=True)],
                                       ["Lewati"]], resize_keyboard=True,
                                      one_time_keyboard=True))
        return LOKASI

    async def lokasi(update: Update, context: Context) -> int:
        assert context.user_data is not None and update.message is not None
        where = update.message.location
        context.user_data["lokasi"] = (where.latitude, where.longitude) if where else None
        await say(update, "Lokasi dicatat.", ReplyKeyboardRemove())
        await say(update, "Di kelurahan mana?", keyboard(KELURAHAN_OPTIONS, "kelurahan", 2))
        return KELURAHAN

    async def kelurahan(update: Update, context: Context) -> int:
        assert context.user_data is not None
        context.user_data["kelurahan"] = await tapped(update)
        await say(update, "RT dan RW berapa? Contoh: RT 5 RW 3")
        return RTRW

    async def rt_rw(update: Update, context: Context) -> int:
        assert context.user_data is not None and update.message is not None
        found = RT_RW.search(update.message.text or "")
        if found is None:
            await say(update, "Tulis RT dan RW, contoh: RT 5 RW 3")
            return RTRW
        context.user_data["rt_rw"] = (found.group(1).zfill(3), found.group(2).zfill(3))
        await say(update, "Ada patokan dekat lokasi? (masjid, warung, gang…)",
                  keyboard([("__skip", "Lewati")], "patokan"))
        return PATOKAN

    async def patokan(update: Update, context: Context) -> int:
        assert context.user_data is not None
        if update.callback_query is not None:
            await tapped(update)
            context.user_data["patokan"] = None
        else:
            assert update.message is not None
            context.user_data["patokan"] = update.message.text
        await say(update, "Kirim foto masalahnya kalau ada (tidak wajib).",
                  keyboard([("__skip", "Lewati")], "foto"))
        return FOTO

    async def foto(update: Update, context: Context) -> int:
        assert context.user_data is not None
        if update.message is not None and update.message.photo:
            # PTB's conversationbot example: take the largest size and download it.
            photo = await update.message.photo[-1].get_file()
            data = await photo.download_as_bytearray()
            path = data_dir / f"{update.message.photo[-1].file_unique_id}.jpg"
            path.write_bytes(bytes(data))
            context.user_data["foto"] = str(path)
        else:
            await tapped(update)
            context.user_data["foto"] = None
        await say(update, "Bolehkah petugas menghubungi Anda tentang laporan ini?",
                  keyboard([("yes", "Ya"), ("no", "Tidak")], "boleh_dihubungi", 2))
        return KONTAK

    async def kontak(update: Update, context: Context) -> int:
        assert context.user_data is not None
        context.user_data["boleh_dihubungi"] = await tapped(update) == "yes"
        data = context.user_data
        summary = "\n".join(f"• {key}: {value}" for key, value in data.items())
        await say(update, f"Ringkasan laporan Anda:\n\n{summary}\n\nApakah data di atas "
                          "sudah benar dan boleh dikirim?",
                  keyboard([("yes", "Kirim"), ("no", "Ubah"), ("cancel", "Batal")],
                           "confirm"))
        return KONFIRMASI

    async def konfirmasi(update: Update, context: Context) -> int:
        assert context.user_data is not None and context.bot_data is not None
        choice = await tapped(update)
        if choice != "yes":
            await say(update, "Laporan dibatalkan. Ketik /start untuk mulai lagi.")
            context.user_data.clear()
            return ConversationHandler.END
        ticket = "AIR-" + "".join(random.choices("23456789ABCDEFGHJKLMNPQRSTUVWXYZ", k=5))
        context.bot_data.setdefault("tickets", {})[ticket] = dict(context.user_data)
        context.user_data.clear()
        await say(update, f"Terima kasih, laporan Anda sudah kami terima.\nNomor tiket: "
                          f"{ticket}\nSimpan nomor ini.\n\nKetik /start untuk kembali.")
        return ConversationHandler.END

    async def batal(update: Update, context: Context) -> int:
        await say(update, "Laporan dibatalkan.")
        return ConversationHandler.END

    text = filters.TEXT & ~filters.COMMAND
    conversation = ConversationHandler(
        entry_points=[CommandHandler("start", start)],
        states={
            MENU: [CallbackQueryHandler(menu, pattern="^menu:lapor$")],
            JENIS: [CallbackQueryHandler(jenis, pattern="^jenis:")],
            KATEGORI: [CallbackQueryHandler(kategori, pattern="^kategori:")],
            URAIAN: [MessageHandler(text, uraian)],
            SEJAK: [MessageHandler(text, sejak)],
            JUMLAH: [MessageHandler(text, jumlah)],
            LOKASI: [MessageHandler(filters.LOCATION, lokasi),
                     MessageHandler(filters.Regex("(?i)^lewati$"), lokasi)],
            KELURAHAN: [CallbackQueryHandler(kelurahan, pattern="^kelurahan:")],
            RTRW: [MessageHandler(text, rt_rw)],
            PATOKAN: [CallbackQueryHandler(patokan, pattern="^patokan:"),
                      MessageHandler(text, patokan)],
            FOTO: [MessageHandler(filters.PHOTO, foto),
                   CallbackQueryHandler(foto, pattern="^foto:")],
            KONTAK: [CallbackQueryHandler(kontak, pattern="^boleh_dihubungi:")],
            KONFIRMASI: [CallbackQueryHandler(konfirmasi, pattern="^confirm:")],
        },
        fallbacks=[CommandHandler("batal", batal)],
        allow_reentry=True,
        name="complaint",
        persistent=True,
    )
    builder = (Application.builder().token(TOKEN).base_url(f"{api}/bot")
               .base_file_url(f"{api}/file/bot")
               .persistence(PicklePersistence(filepath=data_dir / "conversations.pickle"))
               .concurrent_updates(concurrent).updater(None))
    if use_aiohttp:
        from bot.telegram_request import AiohttpRequest

        builder = builder.request(AiohttpRequest(connections=256, pool_timeout=5.0))
    application = builder.build()
    application.add_handler(conversation)

    async def webhook(request: web.Request) -> web.Response:
        # PTB's custom-webhook example: check the secret, queue the update, answer 200.
        if request.headers.get(SECRET_HEADER) != SECRET:
            return web.Response(status=403)
        await application.update_queue.put(
            Update.de_json(data=await request.json(), bot=application.bot))
        return web.Response()

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def lifecycle(app: web.Application) -> Any:
        async with application:
            await application.start()
            yield
            await application.stop()

    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, webhook)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(lifecycle)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def run_ours(port: int, api: str, data_dir: Path) -> None:
    """Our service as ``warga serve`` builds it, with the outbox unpaced (the baseline
    has no rate limiter): SQLite, webhook mode, INFO logging with access lines."""
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
                        telegram_mode="webhook", telegram_webhook_secret=Secret(SECRET))
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
    argv = [sys.executable, str(HERE), "--serve", kind, "--port", str(port),
            "--api", fake.url, "--data", str(folder)]
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
    parser.add_argument("--serve", choices=sorted(KINDS), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.serve == "ours":
        run_ours(args.port, args.api, args.data)
    else:
        run_baseline(args.port, args.api, args.data, concurrent=args.serve != "ptb",
                     use_aiohttp=args.serve == "ptb-aiohttp")


if __name__ == "__main__":
    if "--serve" in sys.argv:
        with contextlib.suppress(KeyboardInterrupt):
            serve_main(sys.argv[1:])
    else:
        asyncio.run(main())
