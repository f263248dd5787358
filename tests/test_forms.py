"""Forms are XLSForm workbooks: a new form is one file and one line, a new question type
is one module, and a workbook that cannot run says why, naming the file and question."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import openpyxl
import pytest
from pyxform.xls2xform import convert
from sqlalchemy import select

from bot.features.forms import FormFeature
from conversations import library, qtypes
from conversations.catalog_extract import extract_template
from conversations.engine import Engine
from conversations.flow import FlowError
from conversations.forms import FORMS_DIR, extract_xlsform, load_form
from conversations.i18n import T
from conversations.messages import Inbound, InboundKind
from conversations.parsing import InvalidAnswer
from conversations.prompt import Prompt
from conversations.qtypes import Answer, Case, QuestionType, register
from storage.db import Database
from storage.models_forms import FormSubmission
from tests.harness import START, Bot, Photo, Pin, translator

ROOT = Path(__file__).resolve().parents[1]
FLOOD = Path(__file__).parent / "forms" / "laporan_banjir.xlsx"
REF = re.compile(r"\bBJR-[0-9A-Z]{5}\b")

pytestmark = pytest.mark.e2e


async def test_a_flood_report_is_one_workbook_and_one_line(db: Database) -> None:
    bot = Bot(db)
    bot.dispatcher.add_feature(FormFeature(FLOOD))  # the one line
    out = await bot.say("banjir")
    assert "laporan banjir" in out.text and "Banjir apa" in out.text
    assert [c.id for c in out.choices] == ["jenis:rob", "jenis:hujan", "jenis:saluran"]
    out = await bot.say("rob")
    assert "setinggi apa" in out.text
    out = await bot.say("selutut")
    assert "Sejak kapan" in out.text
    out = await bot.say("kemarin")
    assert "Jumat, 27 November 2026" in out.text and out.request_location
    out = await bot.say(Pin(-6.0937, 106.9244))
    assert "foto" in out.text
    out = await bot.say(Photo("flood-1"))
    assert "Ini laporan banjir Bapak/Ibu" in out.text and "Selutut" in out.text
    out = await bot.say("ya")
    found = REF.search(out.text)
    assert found is not None, out.text
    async with db.session() as session:
        row = (await session.execute(select(FormSubmission))).scalar_one()
    assert row.ref == found.group(0) and row.form_id == "laporan_banjir"
    assert row.answers["jenis"] == "rob" and row.answers["kedalaman"] == "lutut"
    assert row.answers["sejak"] == "2026-11-27"
    assert row.answers["lokasi"]["latitude"] == pytest.approx(-6.0937)
    assert row.answers["foto"]["ref"] == "flood-1"


async def test_the_flood_form_is_in_the_menu_in_both_languages(db: Database) -> None:
    bot = Bot(db)
    bot.dispatcher.add_feature(FormFeature(FLOOD))
    out = await bot.say("menu")
    assert ("menu:laporan_banjir", "🌊 Lapor banjir") in [(c.id, c.label) for c in out.choices]
    await bot.say("english")
    out = await bot.say("menu")
    assert "🌊 Report a flood" in [c.label for c in out.choices]


def test_the_same_workbook_opens_in_pyxform_as_kobo_would() -> None:
    warnings: list[str] = []
    result = convert(xlsform=str(FLOOD), warnings=warnings)
    assert "<h:title>Laporan banjir</h:title>" in result.xform
    assert 'jr:constraintMsg' in result.xform  # constraints and messages travel too


@pytest.mark.parametrize("path", sorted(FORMS_DIR.glob("*.xlsx")), ids=lambda p: p.stem)
def test_every_shipped_workbook_is_a_valid_xform(path: Path) -> None:
    convert(xlsform=str(path), warnings=[])


def test_forms_check_command(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "bot", "forms", "check", str(FLOOD)],
                        capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0 and "ok — form 'laporan_banjir'" in ok.stdout
    bad = tmp_path / "rusak.xlsx"
    write_form(bad, [["integer", "n", "Berapa?", "How many?", "", ". > (1"]])
    refused = subprocess.run([sys.executable, "-m", "bot", "forms", "check", str(bad)],
                             capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode == 1
    assert "rusak.xlsx" in refused.stderr and "'n'" in refused.stderr


# -- a workbook that cannot run says why -------------------------------------------------

SURVEY = ["type", "name", "label::Indonesian (id)", "label::English (en)", "chat::type",
          "constraint"]


def write_form(path: Path, rows: list[list[str]], *, extra: dict[str, list[str]] | None = None,
               choices: list[list[str]] | None = None) -> Path:
    wb = openpyxl.Workbook()
    survey = wb.active
    assert survey is not None
    survey.title = "survey"
    header = list(SURVEY) + list(extra or {})
    survey.append(header)
    for n, row in enumerate(rows):
        survey.append(row + [v[n] for v in (extra or {}).values()])
    sheet = wb.create_sheet("choices")
    sheet.append(["list_name", "name", "label::Indonesian (id)", "label::English (en)"])
    for choice in choices or []:
        sheet.append(choice)
    settings = wb.create_sheet("settings")
    settings.append(["form_id", "version", "default_language"])
    settings.append([path.stem, "1", "Indonesian (id)"])
    wb.save(path)
    return path


@pytest.mark.parametrize(
    ("rows", "choices", "extra", "message"),
    [
        ([["range", "r", "Nilai?", "Score?", "", ""]], None, None,
         "question 'r': type 'range' cannot be asked by chat"),
        ([["text", "t", "Apa?", "What?", "", ""]], None, {"chat::warna": ["merah"]},
         r"question 't': unknown chat column\(s\) chat::warna"),
        ([["text", "t", "NIK?", "NIK?", "sidik_jari", ""]], None, None,
         "question 't': unknown question type 'sidik_jari'"),
        ([["integer", "n", "Berapa?", "How many?", "nik", ""]], None, None,
         "chat::type 'nik' sits on text, not 'integer'"),
        ([["select_one yt", "y", "Boleh?", "May we?", "yes_no", ""]],
         [["yt", "ya", "Ya", "Yes"], ["yt", "mungkin", "Mungkin", "Maybe"],
          ["yt", "tidak", "Tidak", "No"]], None,
         "a yes_no question needs a list of two choices"),
        ([["calculate", "c", "", "", "", ""]], None, {"calculation": ["''"],
                                                      "chat::function": ["ramalan"]},
         "chat::function 'ramalan' is not a registered function"),
        ([["integer", "n", "Berapa?", "How many?", "", "selected(. 'x')"]], None, None,
         "question 'n': constraint:"),
        ([["begin_repeat", "r", "Anggota", "Member", "", ""],
          ["text", "nama", "Nama?", "Name?", "", ""], ["end_repeat", "", "", "", "", ""]],
         None, None, "a repeat group needs chat::noun and chat::item"),
        ([["begin_group", "g", "Dua sekaligus?", "Both?", "", ""],
          ["select_one yt", "a", "A?", "A?", "", ""], ["text", "b", "B?", "B?", "", ""],
          ["end_group", "", "", "", "", ""]],
         [["yt", "ya", "Ya", "Yes"], ["yt", "tidak", "Tidak", "No"]],
         {"appearance": ["field-list", "", "", ""]},
         "'g': a field-list group holds select_one questions only"),
    ],
)
def test_a_workbook_that_cannot_run_fails_loudly(tmp_path: Path, rows: list[list[str]],
                                                 choices: list[list[str]] | None,
                                                 extra: dict[str, list[str]] | None,
                                                 message: str) -> None:
    path = write_form(tmp_path / "uji.xlsx", rows, extra=extra, choices=choices)
    with pytest.raises(FlowError, match=message) as err:
        load_form(path)
    assert "uji.xlsx" in str(err.value)


def test_a_text_without_english_fails_the_build(tmp_path: Path) -> None:
    path = write_form(tmp_path / "separuh.xlsx", [["text", "t", "Apa?", "", "", ""]])
    form = load_form(path)
    with pytest.raises(Exception, match=r"without a translation: en: separuh\.t\.label"):
        library.translator().add_texts(form.texts, "separuh.xlsx")


# -- a new question type is one module ----------------------------------------------------


@register
class Stars(QuestionType):
    """``stars``: a rating from 1 to 5, typed as a number or as ⭐s (a test's own type)."""

    name: ClassVar[str] = "stars"
    xlsform = ("integer",)
    export_kind = "integer"
    expected = "answer.number"
    cases = (Case("4", 4), Case("⭐⭐⭐", 3), Case("7", error="answer.number"),
             Case("bagus", error="answer.number"))

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        text = self.need_text(answer)
        value = text.count("⭐") or (int(text) if text.isdigit() else 0)
        if not 1 <= value <= 5:
            raise InvalidAnswer("answer.number")
        return value, []

    def prompt(self, step: Any, prompt: Prompt) -> None:
        prompt.choices = [(f"{step.name}:{n}", "⭐" * n) for n in range(1, 6)]

    def parse_button(self, answer: Answer) -> tuple[Any, list[T]]:
        return int(answer.choice or 0), []


@dataclass
class Said:
    texts: list[str]


def test_a_new_question_type_is_one_module(tmp_path: Path) -> None:
    path = write_form(tmp_path / "kepuasan.xlsx",
                      [["integer", "nilai", "Seberapa puas?", "How satisfied?", "stars", ""]])
    form = load_form(path)
    tr = translator()
    tr.add_texts(form.texts, "kepuasan.xlsx")
    engine = Engine(tr)
    turn = engine.start(form.flow, START)
    assert [c[1] for c in turn.prompt.choices][:2] == ["⭐", "⭐⭐"]
    assert turn.state is not None
    typed = Inbound("console", "u", "m1", kind=InboundKind.TEXT, text="⭐⭐⭐⭐")
    turn = engine.resume(form.flow, turn.state, typed, START)
    assert turn.state is not None and turn.state["answers"] == {"nilai": 4}
    assert "stars" in qtypes.REGISTRY


# -- translations ---------------------------------------------------------------------------


def test_babel_extracts_the_texts_of_a_workbook() -> None:
    with FLOOD.open("rb") as fh:
        found = {key: comments for _, _, key, comments in extract_xlsform(fh, [], [], {})}
    assert found["laporan_banjir.kedalaman.lutut"] == ["Selutut"]
    assert "laporan_banjir.sejak.constraint" in found


def test_the_message_template_is_current(tmp_path: Path) -> None:
    fresh = extract_template(tmp_path / "messages.pot").read_text(encoding="utf-8")
    committed = (ROOT / "locales" / "messages.pot").read_text(encoding="utf-8")
    assert fresh == committed, "locales/messages.pot is stale: run `warga i18n extract`"
    assert 'msgid "complaint.uraian.label"' in committed  # a workbook's text
    assert 'msgid "bot.welcome"' in committed  # a text the code says


def test_a_checked_workbook_is_read_from_its_kept_copy_until_it_changes(
        tmp_path: Path) -> None:
    path = write_form(tmp_path / "simpan.xlsx", [["text", "t", "Apa?", "What?", "", ""]])
    first = load_form(path)
    [kept] = (tmp_path / "__pycache__").glob("simpan.*.form.json")
    # Changed in place (same size and time stamp would not fool it: the bytes name it).
    write_form(path, [["text", "t", "Apa kabar?", "How are you?", "", ""]])
    second = load_form(path)
    assert first.texts["id"]["simpan.t.label"] == "Apa?"
    assert second.texts["id"]["simpan.t.label"] == "Apa kabar?"
    assert len(list((tmp_path / "__pycache__").glob("simpan.*.form.json"))) == 2
    # A damaged copy is not trusted: the workbook is read again.
    for copy in (tmp_path / "__pycache__").glob("*.form.json"):
        copy.write_text("{not json", encoding="utf-8")
    write_form(path, [["text", "t", "Apa?", "What?", "", ""]])
    assert load_form(path).texts["id"]["simpan.t.label"] == "Apa?"
    assert kept.exists()


def test_the_service_checks_workbooks_in_a_child_and_never_loads_pyxform(
        tmp_path: Path) -> None:
    forms = tmp_path / "forms"
    forms.mkdir()
    write_form(forms / "anak.xlsx", [["text", "t", "Apa?", "What?", "", ""]])
    script = (
        "import sys; from pathlib import Path\n"
        "from conversations.forms import check_in_child, load_form\n"
        f"check_in_child([Path({str(forms)!r})])\n"
        "import bot.app\n"
        f"load_form(Path({str(forms / 'anak.xlsx')!r}))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyxform', 'openpyxl'}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stderr
