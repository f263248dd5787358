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


def _logging(level: str, settings: Settings | None = None) -> None:
    from bot.logs import configure_logging

    configure_logging(level, settings)


def key_refusal(settings: Settings) -> str | None:
    """Why ``warga serve`` will not start with this key (None: it will)."""
    problem = settings.key_problem()
    if problem is None or settings.local_trial:
        return None
    return (f"warga: {problem}.\n"
            "  Keep the key apart from the data: set WARGA_SECRET_KEY, or "
            "WARGA_SECRET_KEY_FILE to a file outside the data folder (for example a "
            "Docker secret, /run/secrets/warga_key); `warga keys generate --out FILE` "
            "makes one.\n"
            "  For a trial on this machine only, set WARGA_LOCAL_TRIAL=1 "
            "(scripts/serve does).")


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.logs import server_options
    from conversations.forms import check_in_child

    settings = _settings()
    refusal = key_refusal(settings)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return 2
    _logging(settings.log_level, settings)
    if settings.key_problem() is not None:
        log.warning("local trial: the secret key is kept in the data folder; do not use "
                    "this set-up for real residents' data")
    log.info("settings: %s", settings.redacted())
    # The workbooks are checked by pyxform in a process of its own, before the features
    # load them: the service reads what it kept and never loads pyxform.
    check_in_child([settings.forms_dir])
    from bot.app import create_app, default_plugins, upgrade_in_child

    try:
        migrated = upgrade_in_child(settings.database_url)
    except RuntimeError as error:
        print(f"warga: {error}", file=sys.stderr)
        return 1
    plugins = default_plugins(settings)
    app = create_app(settings, plugins=plugins, migrate=not migrated)
    web.run_app(app, host=settings.host, port=settings.port, print=None,
                shutdown_timeout=10, **server_options())
    # A channel that had to stop the service (Telegram 409 Conflict) makes the exit non-zero.
    return max((getattr(p, "exit_status", 0) for p in plugins), default=0)


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.chat import run_chat

    settings = _settings()
    _logging("WARNING")
    return asyncio.run(run_chat(settings, role=args.role, user_id=args.user, name=args.name))


def cmd_export(args: argparse.Namespace) -> int:
    from bot.exports import run_export

    settings = _settings()
    _logging("WARNING")
    return asyncio.run(run_export(settings, args.what, args.format, Path(args.out),
                                  full_ids=args.full_ids, requested_by=args.requested_by,
                                  reason=args.reason, delimiter=args.delimiter))


def cmd_db(args: argparse.Namespace) -> int:
    from storage.migrate import upgrade

    settings = _settings()
    _logging(settings.log_level)
    asyncio.run(upgrade(settings.database_url))
    print("database is at the latest revision")
    return 0


def cmd_coordinator(args: argparse.Namespace) -> int:
    from bot.chat import add_coordinator, list_coordinators, remove_coordinator

    settings = _settings()
    _logging("WARNING", settings)
    if args.action == "list":
        rows = asyncio.run(list_coordinators(settings))
        sources = {"env": "WARGA_COORDINATORS", "cli": "warga coordinator add"}
        for address, name, source in rows:
            print(f"{address}\t{name}\t{sources.get(source, source)}")
        if not rows:
            print("no coordinators yet: `warga coordinator add CHANNEL:ID`", file=sys.stderr)
        return 0
    channel, _, external_id = (args.who or "").partition(":")
    if channel not in ("telegram", "whatsapp", "console") or not external_id:
        print("warga: give the coordinator as CHANNEL:ID, e.g. telegram:123456", file=sys.stderr)
        return 2
    if args.action == "add":
        asyncio.run(add_coordinator(settings, channel, external_id))
        print(f"{channel}:{external_id} is a coordinator")
        return 0
    outcome = asyncio.run(remove_coordinator(settings, channel, external_id))
    messages = {
        "removed": (0, f"{channel}:{external_id} is no longer a coordinator (audited)"),
        "not-found": (1, f"warga: nobody known as {channel}:{external_id}"),
        "not-coordinator": (1, f"warga: {channel}:{external_id} is not a coordinator"),
        "from-environment": (2, f"warga: {channel}:{external_id} is listed in "
                                "WARGA_COORDINATORS; remove it there and restart the "
                                "service (the list is the source of truth)"),
    }
    code, message = messages[outcome]
    print(message, file=sys.stderr if code else sys.stdout)
    return code


def cmd_keys(args: argparse.Namespace) -> int:
    if args.action == "generate":
        from bot.settings import new_secret_key, write_key_file

        if not args.out:
            print("warga: give the file to write: --out FILE", file=sys.stderr)
            return 2
        out = Path(args.out)
        if out.exists():
            print(f"warga: {out} exists; a key is never overwritten", file=sys.stderr)
            return 1
        write_key_file(out, new_secret_key())
        print(f"new key written to {out} (mode 0600)")
        return 0
    return _rotate_keys(args.batch)


def _rotate_keys(batch: int) -> int:
    from datetime import UTC, datetime

    from storage.db import Database
    from storage.identities import rotate_keys
    from storage.migrate import upgrade

    settings = _settings()
    _logging("WARNING", settings)
    if not settings.previous_secret_keys:
        print("warga: nothing to rotate from. To rotate the key:\n"
              "  1. `warga keys generate --out NEW_FILE`;\n"
              "  2. set WARGA_PREVIOUS_SECRET_KEY(_FILE) to the current key and "
              "WARGA_SECRET_KEY(_FILE) to the new one, and restart the service (both keys "
              "open what is stored; everything new uses the new key);\n"
              "  3. `warga keys rotate` (run it again until it re-seals 0);\n"
              "  4. remove WARGA_PREVIOUS_SECRET_KEY(_FILE), restart, and destroy the old "
              "key.", file=sys.stderr)
        return 2
    if settings.secret_key is None:
        print("warga: set the new key in WARGA_SECRET_KEY or WARGA_SECRET_KEY_FILE",
              file=sys.stderr)
        return 2
    cipher = settings.identity_cipher()
    show = sys.stderr.isatty()

    def progress(table: str, last: int) -> None:
        if show:
            sys.stderr.write(f"\r{table}: up to #{last}   ")
            sys.stderr.flush()

    async def run() -> int:
        await upgrade(settings.database_url)
        db = Database(settings.database_url)
        try:
            report = await rotate_keys(db, cipher, lambda: datetime.now(UTC),
                                       batch=batch, progress=progress)
        finally:
            await db.close()
        if show:
            sys.stderr.write("\n")
        print(f"re-sealed {report.numbers} identity numbers with key {cipher.key_id}: "
              f"{report.assessments} assessments, {report.drafts} drafts, "
              f"{report.sessions} conversations (audited)")
        if report.unreadable:
            print(f"warga: {report.unreadable} numbers open with none of the configured "
                  "keys and were left as they are", file=sys.stderr)
            return 1
        return 0

    return asyncio.run(run())


def cmd_i18n(args: argparse.Namespace) -> int:
    from conversations import library
    from conversations.forms import FlowError
    from conversations.i18n import CatalogError, compile_catalogs

    if args.action == "extract":
        from conversations.catalog_extract import extract_template

        out = extract_template(Path(args.out) if args.out else None)
        print(f"wrote {out}")
        return 0
    try:
        written = compile_catalogs()
        # Every shipped form must have its texts in every language too.
        library.translator()
    except (CatalogError, FlowError) as err:
        print(f"warga: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"compiled {path}")
    return 0


def cmd_forms(args: argparse.Namespace) -> int:
    """Check workbooks as the service loads them; print a flow's diagram."""
    from conversations import library
    from conversations.flow import mermaid
    from conversations.forms import FlowError, load_form
    from conversations.i18n import CatalogError

    status = 0
    translator = library.translator()
    for name in args.files:
        try:
            form = load_form(Path(name))
            translator.add_texts(form.texts, form.flow.source or name)
        except (FlowError, CatalogError) as err:
            print(f"{name}: {err}", file=sys.stderr)
            status = 1
            continue
        if args.action == "diagram":
            print(mermaid(form.flow), end="")
            continue
        asked = sum(1 for s in form.flow.all_steps() if s.type not in ("calculate", "note"))
        print(f"{name}: ok — form {form.flow.id!r} version {form.flow.version}, "
              f"{asked} questions")
        for warning in form.warnings:
            print(f"{name}: warning: {warning}")
    return status


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="warga", description="Warga chat-bot intake service")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the service (HTTP, channels, scheduler, outbox)")
    chat = sub.add_parser("chat", help="talk to the bot in this terminal, as one person "
                                       "(one terminal per person on one database)")
    chat.add_argument("--as", dest="role", choices=("resident", "volunteer", "coordinator"),
                      default="resident", help="the role this person has")
    chat.add_argument("--user", default=os.environ.get("USER", "terminal"),
                      help="who you are in the bot's records (default: your login name); "
                           "this terminal shows only this person's messages")
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
    export.add_argument("--delimiter", default=None, metavar="CHAR",
                        help="CSV delimiter (default ';' for Excel set to Indonesian, "
                             "or WARGA_CSV_DELIMITER); e.g. --delimiter ,")
    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=("upgrade",))
    coord = sub.add_parser("coordinator", help="manage coordinators")
    coord.add_argument("action", choices=("add", "remove", "list"))
    coord.add_argument("who", metavar="CHANNEL:ID", nargs="?")
    keys = sub.add_parser("keys", help="the secret key: make a new one, rotate to it")
    keys.add_argument("action", choices=("generate", "rotate"))
    keys.add_argument("--out", help="generate: the new key file (written 0600)")
    keys.add_argument("--batch", type=int, default=200,
                      help="rotate: rows re-sealed per transaction")
    i18n = sub.add_parser("i18n", help="message catalogs")
    i18n.add_argument("action", choices=("compile", "extract"))
    i18n.add_argument("--out", help="extract: the template to write (locales/messages.pot)")
    forms = sub.add_parser("forms", help="XLSForm workbooks: check them, draw them")
    forms.add_argument("action", choices=("check", "diagram"))
    forms.add_argument("files", nargs="+", metavar="FILE")
    return p


COMMANDS = {
    "serve": cmd_serve,
    "chat": cmd_chat,
    "export": cmd_export,
    "db": cmd_db,
    "coordinator": cmd_coordinator,
    "keys": cmd_keys,
    "i18n": cmd_i18n,
    "forms": cmd_forms,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Everything this process writes (database, media, exports, keys) is its owner's
    # alone: files 0600, folders 0700.
    os.umask(0o077)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
