"""Every message the code can say exists, translated, in every language."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.dispatcher import _UNSUPPORTED
from conversations.complaint import COMPLAINT, STATUSES
from conversations.i18n import (
    LANGUAGES,
    CatalogError,
    T,
    Translator,
    compile_catalogs,
    format_day,
    format_when,
    locales_dir,
)
from tests.harness import translator as harness_translator

ROOT = Path(__file__).resolve().parents[1]
KEY_CALL = re.compile(r"""\b(?:T|InvalidAnswer)\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")


def keys_in_code() -> set[str]:
    found: set[str] = set()
    for folder in ("bot", "conversations", "handlers"):
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(KEY_CALL.findall(path.read_text(encoding="utf-8")))
    return found


def dynamic_keys() -> set[str]:
    """Keys the code builds from data (f-strings)."""
    keys = {f"status.{s}" for s in STATUSES}
    keys |= {f"bot.unsupported.{k}" for k in _UNSUPPORTED}
    keys |= {f"complaint.jenis.{o.value}" for o in COMPLAINT.step("jenis").choices}
    return keys


@pytest.fixture(scope="module")
def translator() -> Translator:
    return harness_translator()


def test_every_key_the_code_uses_is_in_every_catalog(translator: Translator) -> None:
    needed = keys_in_code() | dynamic_keys() | COMPLAINT.keys()
    assert len(needed) > 100  # the scan really found the code's messages
    for lang in LANGUAGES:
        missing = sorted(needed - translator.keys[lang])
        assert not missing, f"{lang} catalog lacks {missing}"


def test_catalogs_compile_and_match_each_other(tmp_path: Path) -> None:
    written = compile_catalogs()
    assert {p.parent.parent.name for p in written} == set(LANGUAGES)


def _copy_catalogs(tmp_path: Path) -> Path:
    for lang in LANGUAGES:
        src = locales_dir() / lang / "LC_MESSAGES" / "messages.po"
        dst = tmp_path / lang / "LC_MESSAGES" / "messages.po"
        dst.parent.mkdir(parents=True)
        dst.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_a_fuzzy_entry_fails_the_build(tmp_path: Path) -> None:
    folder = _copy_catalogs(tmp_path)
    po = folder / "id" / "LC_MESSAGES" / "messages.po"
    text = po.read_text(encoding="utf-8")
    po.write_text(text.replace('msgid "common.yes"', '#, fuzzy\nmsgid "common.yes"', 1),
                  encoding="utf-8")
    with pytest.raises(CatalogError, match=r"fuzzy: common\.yes"):
        compile_catalogs(folder)


def test_an_untranslated_entry_fails_the_build(tmp_path: Path) -> None:
    folder = _copy_catalogs(tmp_path)
    po = folder / "en" / "LC_MESSAGES" / "messages.po"
    text = po.read_text(encoding="utf-8")
    po.write_text(text.replace('msgstr "Yes"', 'msgstr ""', 1), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"untranslated: common\.yes"):
        compile_catalogs(folder)


def test_a_key_missing_from_one_language_fails_the_build(tmp_path: Path) -> None:
    folder = _copy_catalogs(tmp_path)
    po = folder / "en" / "LC_MESSAGES" / "messages.po"
    text = po.read_text(encoding="utf-8")
    po.write_text(text.replace('msgid "common.yes"\nmsgstr "Yes"\n', "", 1), encoding="utf-8")
    with pytest.raises(CatalogError, match="differs"):
        compile_catalogs(folder)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("id", "Sabtu, 5 Desember 2026 pukul 07.00 WIB"),
        ("en", "Saturday, 5 December 2026 at 07:00 WIB"),
    ],
)
def test_dates_read_like_people_write_them(lang: str, expected: str) -> None:
    # 07.00 WIB is 00.00 UTC: the zone is converted, not assumed.
    assert format_when(datetime(2026, 12, 5, 0, 0, tzinfo=UTC), lang) == expected


def test_day_format_and_naive_datetimes_refused() -> None:
    assert format_day(datetime(2026, 11, 27).date(), "id") == "Jumat, 27 November 2026"
    with pytest.raises(ValueError):
        format_when(datetime(2026, 12, 5, 7, 0))


def test_parameters_are_translated_too(translator: Translator) -> None:
    text = translator("en", T("status.line", ticket="AIR-4K7QX", status=T("status.diproses"),
                              kind=T("complaint.jenis.air"),
                              when=datetime(2026, 11, 28).date()))
    assert text == "• AIR-4K7QX — Clean-water problem — In progress (Saturday, 28 November 2026)"
