"""`warga …` / `python -m bot …`: parses arguments and calls the app factory."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from bot.settings import Settings, SettingsError

log = logging.getLogger("warga")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as err:
        print(f"warga: {err}", file=sys.stderr)
        raise SystemExit(2) from err


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Library loggers that would print request URLs (with bot tokens) stay quiet.
    for noisy in ("httpx", "httpcore", "telegram.ext.Updater", "apscheduler.executors"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import create_app, default_plugins

    settings = _settings()
    _logging(settings.log_level)
    log.info("settings: %s", settings.redacted())
    plugins = default_plugins(settings)
    app = create_app(settings, plugins=plugins)
    web.run_app(app, host=settings.host, port=settings.port, print=None,
                shutdown_timeout=10)
    # A channel that had to stop the service (Telegram 409 Conflict) makes the exit non-zero.
    return max((getattr(p, "exit_status", 0) for p in plugins), default=0)


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.chat import run_chat

    settings = _settings()
    _logging("WARNING")
    return asyncio.run(run_chat(settings, role=args.role, user_id=args.user, name=args.name))


def cmd_export(args: argparse.Namespace) -> int:
    from bot.exports import run_export

    if args.what == "assessments":
        from bot.features.volunteers import run_assessment_export

        settings = _settings()
        _logging("WARNING")
        return asyncio.run(run_assessment_export(
            settings, "xlsx" if args.format == "xlsx" else "csv", Path(args.out),
            full_ids=args.full_ids, requested_by=args.requested_by, reason=args.reason))

    settings = _settings()
    _logging("WARNING")
    return asyncio.run(run_export(settings, args.what, args.format, Path(args.out)))


def cmd_db(args: argparse.Namespace) -> int:
    from storage.migrate import upgrade

    settings = _settings()
    _logging(settings.log_level)
    asyncio.run(upgrade(settings.database_url))
    print("database is at the latest revision")
    return 0


def cmd_coordinator(args: argparse.Namespace) -> int:
    from bot.chat import add_coordinator

    settings = _settings()
    _logging("WARNING")
    channel, _, external_id = args.who.partition(":")
    if channel not in ("telegram", "whatsapp", "console") or not external_id:
        print("warga: give the coordinator as CHANNEL:ID, e.g. telegram:123456", file=sys.stderr)
        return 2
    asyncio.run(add_coordinator(settings, channel, external_id))
    print(f"{channel}:{external_id} is a coordinator")
    return 0


def cmd_i18n(args: argparse.Namespace) -> int:
    from conversations.i18n import CatalogError, compile_catalogs

    try:
        written = compile_catalogs()
    except CatalogError as err:
        print(f"warga: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"compiled {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="warga", description="Warga chat-bot intake service")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the service (HTTP, channels, scheduler, outbox)")
    chat = sub.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--as", dest="role", choices=("resident", "volunteer", "coordinator"),
                      default="resident")
    chat.add_argument("--user", default=os.environ.get("USER", "terminal"),
                      help="who you are in the bot's records (default: your login name)")
    chat.add_argument("--name", default=None, help="your display name")
    export = sub.add_parser("export", help="export records")
    export.add_argument("what", choices=("complaints", "assessments"))
    export.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    export.add_argument("--out", required=True)
    # Assessments: NIK/KK are masked unless a coordinator asks by name (audited).
    export.add_argument("--full-ids", action="store_true",
                        help="assessments: full NIK/No. KK (needs --requested-by; audited)")
    export.add_argument("--requested-by", metavar="CHANNEL:ID",
                        help="the coordinator asking for the full numbers")
    export.add_argument("--reason", help="why the full numbers are needed (audit log)")
    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=("upgrade",))
    coord = sub.add_parser("coordinator", help="manage coordinators")
    coord.add_argument("action", choices=("add",))
    coord.add_argument("who", metavar="CHANNEL:ID")
    i18n = sub.add_parser("i18n", help="message catalogs")
    i18n.add_argument("action", choices=("compile",))
    return p


COMMANDS = {
    "serve": cmd_serve,
    "chat": cmd_chat,
    "export": cmd_export,
    "db": cmd_db,
    "coordinator": cmd_coordinator,
    "i18n": cmd_i18n,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
