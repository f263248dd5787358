"""Message catalogs (gettext, keys as msgids) and Indonesian date formatting.

Catalogs live in ``locales/<lang>/LC_MESSAGES/messages.po``; the build compiles them to
``.mo`` with :func:`compile_catalogs`, which refuses missing, empty or fuzzy entries.
At run time a ``.mo`` is used when it is at least as new as its ``.po``; otherwise the
``.po`` is compiled in memory (same checks), so a checkout runs without a build step.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
JAKARTA = ZoneInfo("Asia/Jakarta")


def locales_dir() -> Path:
    env = os.environ.get("WARGA_LOCALES_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "locales"


@dataclass(frozen=True)
class T:
    """A message to translate later, in the reader's language."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, key: str, **params: Any) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "params", params)


class CatalogError(RuntimeError):
    pass


def _check_catalog(catalog: Catalog, lang: str, po: Path) -> None:
    problems = []
    for message in catalog:
        if not message.id:
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id}")
        elif not message.string:
            problems.append(f"untranslated: {message.id}")
    if problems:
        raise CatalogError(f"{po}: {len(problems)} problem(s): " + "; ".join(problems[:20]))


def _read(po: Path, lang: str) -> Catalog:
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    _check_catalog(catalog, lang, po)
    return catalog


def compile_catalogs(directory: Path | None = None) -> list[Path]:
    """Compile every catalog to .mo; fail on missing/fuzzy entries or unequal key sets."""
    directory = directory or locales_dir()
    written = []
    keysets: dict[str, set[str]] = {}
    for lang in LANGUAGES:
        po = directory / lang / "LC_MESSAGES" / "messages.po"
        if not po.exists():
            raise CatalogError(f"missing catalog {po}")
        catalog = _read(po, lang)
        keysets[lang] = {m.id for m in catalog if m.id}  # type: ignore[misc]
        mo = po.with_suffix(".mo")
        with mo.open("wb") as fh:
            write_mo(fh, catalog)
        written.append(mo)
    base = keysets[DEFAULT_LANGUAGE]
    for lang, keys in keysets.items():
        if keys != base:
            raise CatalogError(
                f"catalog {lang!r} differs from {DEFAULT_LANGUAGE!r}: "
                f"missing {sorted(base - keys)[:10]}, extra {sorted(keys - base)[:10]}"
            )
    return written


class Translator:
    """Looks up catalog keys; formats parameters (which may be T themselves).

    Texts come from the gettext catalogs and from the forms added with :meth:`add_texts`
    (a workbook is the catalog of its own questions).
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or locales_dir()
        self._texts: dict[str, dict[str, str]] = {}
        self.keys: dict[str, set[str]] = {}
        self._sources: dict[str, str] = {}
        for lang in LANGUAGES:
            self._texts[lang] = self._load(lang)
            self.keys[lang] = set(self._texts[lang])

    def _load(self, lang: str) -> dict[str, str]:
        po = self.directory / lang / "LC_MESSAGES" / "messages.po"
        mo = po.with_suffix(".mo")
        if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
            with mo.open("rb") as fh:
                catalog = read_mo(fh)
        else:
            catalog = _read(po, lang)
        return {str(m.id): str(m.string) for m in catalog if m.id and isinstance(m.id, str)}

    def add_texts(self, texts: Mapping[str, Mapping[str, str]], source: str) -> None:
        """Add a form's texts (language → key → text); a language the form lacks must be
        in that language's catalog, and a key may not mean two things."""
        default = texts.get(DEFAULT_LANGUAGE, {})
        problems = []
        for lang in LANGUAGES:
            mine = texts.get(lang, {})
            for key in default:
                if key not in mine and key not in self._texts[lang]:
                    problems.append(f"{lang}: {key}")
            for key, text in mine.items():
                owner = self._sources.get(key)
                if (owner not in (None, source)) or (owner is None and key in self.keys[lang]
                                                     and self._texts[lang][key] != text):
                    raise CatalogError(f"{source}: text key {key!r} is already used by "
                                       f"{owner or 'the message catalog'}")
        if problems:
            raise CatalogError(f"{source}: {len(problems)} text(s) without a translation: "
                               + "; ".join(problems[:20]))
        for lang in LANGUAGES:
            for key, text in texts.get(lang, {}).items():
                self._texts[lang][key] = text
                self.keys[lang].add(key)
                self._sources[key] = source

    def has(self, key: str, lang: str = DEFAULT_LANGUAGE) -> bool:
        return key in self.keys[lang]

    def __call__(self, lang: str, key: str | T, **params: Any) -> str:
        if isinstance(key, T):
            params = {**key.params, **params}
            key = key.key
        lang = lang if lang in self._texts else DEFAULT_LANGUAGE
        text = self._texts[lang].get(key, key)
        if not params:
            return text
        rendered = {k: self.value(lang, v) for k, v in params.items()}
        return string.Formatter().vformat(text, (), _SafeDict(rendered))

    def value(self, lang: str, value: Any) -> str:
        """Render one parameter in the reader's language."""
        if isinstance(value, T):
            return self(lang, value)
        if isinstance(value, bool):
            return self(lang, "common.yes" if value else "common.no")
        if isinstance(value, datetime):
            return format_when(value, lang)
        if isinstance(value, PlainDay):
            return babel_format_date(value, "d MMMM y", locale=lang)
        if isinstance(value, date):
            return format_day(value, lang)
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return format_decimal(value, locale=lang)
        if isinstance(value, list | tuple):
            return ", ".join(self.value(lang, v) for v in value)
        return str(value)

    def labels(self, key: str) -> Iterable[str]:
        """The text of a key in every language (for matching what people type)."""
        for lang in LANGUAGES:
            yield self._texts[lang].get(key, key)


class PlainDay(date):
    """A date read without its weekday ("12 Maret 1981"): a birth date, an issue date."""


class _SafeDict(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def format_when(moment: datetime, lang: str = DEFAULT_LANGUAGE) -> str:
    """'Sabtu, 5 Desember 2026 pukul 07.00 WIB'; in English 'Saturday, … at 07:00 WIB'."""
    if moment.tzinfo is None:
        raise ValueError("format_when needs an aware datetime")
    local = moment.astimezone(JAKARTA)
    day = babel_format_datetime(local, "EEEE, d MMMM y", locale=lang)
    if lang == "id":
        return f"{day} pukul {local:%H.%M} WIB"
    return f"{day} at {local:%H:%M} WIB"


def format_day(day: date, lang: str = DEFAULT_LANGUAGE) -> str:
    """'Sabtu, 5 Desember 2026'."""
    return babel_format_date(day, "EEEE, d MMMM y", locale=lang)


def format_time(moment: time, lang: str = DEFAULT_LANGUAGE) -> str:
    return f"{moment:%H.%M}" if lang == "id" else f"{moment:%H:%M}"
