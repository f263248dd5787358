"""The conventional bot: the complaint flow written the usual way with
python-telegram-bot 22.8 — an ``Application`` with a ``ConversationHandler`` (states as
ints) and ``PicklePersistence``, behind an aiohttp webhook that puts each update on
``application.update_queue`` and answers 200 (PTB's custom-webhook example).

    python bench/conventional_bot.py --port P --api URL --data DIR --token T --secret S

The benchmarks (``bench/baseline_ptb.py``, ``bench/human_speed.py``) start it as a child
process. It imports PTB, aiohttp and the standard library only — nothing of Warga — so its
memory is what such a bot costs, not what importing our service costs (``--aiohttp`` is
the exception: it borrows our HTTP transport for PTB).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import re
import warnings
from pathlib import Path
from typing import Any

# Telegram's header for the webhook's secret token.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

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


def run_baseline(port: int, api: str, data_dir: Path, *, concurrent: bool, use_aiohttp: bool,
                 token: str, secret: str, path: str) -> None:
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
    builder = (Application.builder().token(token).base_url(f"{api}/bot")
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
        if request.headers.get(SECRET_HEADER) != secret:
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
    app.router.add_post(path, webhook)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(lifecycle)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True, help="the Bot API's base URL")
    parser.add_argument("--data", type=Path, required=True, help="where the pickle goes")
    parser.add_argument("--token", required=True)
    parser.add_argument("--secret", required=True, help="the webhook's secret token")
    parser.add_argument("--path", default="/webhooks/telegram", help="the webhook's path")
    parser.add_argument("--concurrent", action="store_true",
                        help="concurrent_updates=True (against PTB's advice)")
    parser.add_argument("--aiohttp", action="store_true",
                        help="PTB on our aiohttp transport instead of httpx")
    args = parser.parse_args()
    run_baseline(args.port, args.api, args.data, concurrent=args.concurrent,
                 use_aiohttp=args.aiohttp, token=args.token, secret=args.secret,
                 path=args.path)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
