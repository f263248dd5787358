"""Forms as XLSForm workbooks: read and checked with pyxform, turned into chat flows.

A workbook has the sheets ``survey``, ``choices`` and ``settings`` that KoBoToolbox and
ODK read; the same file runs here as a chat flow. What XLSForm has no column for goes in
``chat::…`` columns, which form tools ignore:

survey
    ``chat::type`` (a chat question type on an XLSForm base type: ``nik``, ``kk``,
    ``phone``, ``rt_rw``, ``kelurahan``, ``yes_no``), ``chat::title::<language>`` (the
    short name in the summary), ``chat::confirm`` (read an identity number back),
    ``chat::derive`` (``jenis_kelamin = sex (L:1, P:2); tanggal_lahir = birth_date``),
    ``chat::retain`` and ``chat::finish_if`` (formulas), ``chat::timestamp``,
    ``chat::context`` (a calculation filled from what the bot knows, e.g. ``phone``),
    ``chat::function`` (a calculation by a named Python function), ``chat::when``
    (``past``: a bare weekday means the last one), ``chat::max_length``,
    ``chat::numbers`` (``code``: a typed number is the option's code, as on paper),
    ``chat::ask`` (``no``: never asked, kept when sent — a photo), ``chat::of``
    (``households`` / ``people``: an integer that counts those), ``chat::unique``
    (``yes``: in a repeat, no two items share the answer — one person, one NIK),
    ``chat::with`` (the next question, answerable in the same message: a name with its
    NIK, an RT/RW with the landmark). XLSForm's ``default`` is read as if it were typed
    when the question is reached (in a repeat: when the item begins, ``position(..)`` its
    number); a default that reads is kept without asking, said with the next question
    (top level) and changed from the summary — a chat turn costs more than a tap on a
    pre-filled screen. On a repeat
    ``chat::noun::<language>``, ``chat::item::<language>`` (``Anggota ke-{n}``),
    ``chat::seed`` (``nama = ${kepala_nama}; hubungan = '1'``), ``chat::label_child``.
    A group with the ``appearance`` ``field-list`` (select_one questions only) is asked
    in one message: each list on a line, the answers typed in order ("keramik, tembok,
    seng"); a single answer is the first question's.
choices
    ``chat_aliases`` (comma-separated words people type) and ``chat_exclusive``
    (``yes``: a "none of these" option). Plain names, because form tools copy the
    choices sheet's extra columns into the form.
settings
    ``chat::intro``, ``chat::summary_intro``, ``chat::cancelled`` (each
    ``::<language>``), ``chat::pausable``, ``chat::with_meta``, and for a form that is a
    feature by itself ``chat::command`` (words that start it), ``chat::menu::<language>``,
    ``chat::roles``, ``chat::done::<language>`` (said when it is saved, with ``{ref}``),
    ``chat::ref_prefix`` (three letters of its reference numbers).

Texts are keyed ``<form_id>.<name>.label`` (``<form_id>.settings.intro`` for settings);
the workbook is their catalog for the languages it has columns for
(``label::Indonesian (id)``, ``label::English (en)``).
``${name}`` in a label shows that answer.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from conversations import qtypes
from conversations.flow import (
    Derive,
    Expression,
    Flow,
    FlowError,
    Option,
    Repeat,
    Step,
    StepType,
)
from conversations.functions import FUNCTIONS
from conversations.i18n import DEFAULT_LANGUAGE, LANGUAGES
from conversations.qtypes.yes_no import NO_NAMES, YES_NAMES
from conversations.xpath import ExprError, compile_expr

FORMS_DIR = Path(__file__).resolve().parent / "forms"

# Telegram callback_data is at most 64 bytes; choice ids are "<step>:<value>".
MAX_CHOICE_ID_BYTES = 64

_TYPES = {
    "text": "text", "integer": "integer", "decimal": "decimal", "date": "date",
    "dateTime": "datetime", "select one": "select_one", "select all that apply":
    "select_multiple", "geopoint": "geopoint", "image": "image", "photo": "image",
    "note": "note", "calculate": "calculate",
}
_XLSFORM_NAME = {"select one": "select_one", "select all that apply": "select_multiple",
                 "photo": "image"}
_SURVEY_CHAT = frozenset({
    "type", "title", "confirm", "derive", "retain", "finish_if", "timestamp", "context",
    "function", "when", "max_length", "noun", "item", "seed", "label_child", "choices",
    "numbers", "ask", "of", "unique", "with",
})
_PARAMS = ("when", "max_length", "numbers", "ask", "of", "unique", "with")
_SETTINGS_CHAT = frozenset({
    "intro", "summary_intro", "cancelled", "pausable", "with_meta", "command", "menu",
    "roles", "done", "ref_prefix",
})
_YES = frozenset({"yes", "true", "true()", "1", "ya"})
_REF = re.compile(r"\$\{([A-Za-z_][\w.-]*)\}")
_LANG = re.compile(r"\(([A-Za-z]{2,3})\)\s*$")

class FormError(FlowError):
    """A workbook that cannot run; the message names the file, the row or question."""


@dataclass(frozen=True)
class Form:
    """A loaded workbook: the flow, its texts by language, and its chat settings."""

    flow: Flow
    texts: Mapping[str, Mapping[str, str]]  # language -> key -> text
    settings: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None
    warnings: tuple[str, ...] = ()

    def setting_text(self, name: str) -> str | None:
        """The key of a translated chat setting (``menu``, ``done``), if the form has one."""
        key = f"{self.flow.id}.settings.{name}"
        return key if key in self.texts.get(DEFAULT_LANGUAGE, {}) else None

    def words(self, name: str) -> tuple[str, ...]:
        raw = self.settings.get(name)
        return tuple(w.strip().lower() for w in str(raw or "").split(",") if w.strip())


def form_path(name: str) -> Path:
    """A workbook shipped with the project, by form id (``complaint``)."""
    return FORMS_DIR / f"{name}.xlsx"


def load_form(path: Path | str, *, validate_xform: bool = True) -> Form:
    """Read a workbook, check it with pyxform and the chat rules, and build its flow."""
    path = Path(path)
    stamp = path.stat().st_mtime_ns if path.exists() else 0
    return _load(str(path.resolve()), stamp, validate_xform)


def load_builtin(name: str) -> Form:
    return load_form(form_path(name))


@functools.lru_cache(maxsize=64)
def _load(path: str, _stamp: int, validate_xform: bool) -> Form:
    where = Path(path).name
    data, warnings = _checked(Path(path), validate_xform)
    form = _Builder(data, where).build(Path(path))
    return Form(form.flow, form.texts, form.settings, Path(path),
                tuple(w for w in warnings if "is missing the" not in w))


# -- what pyxform made of a workbook, kept ---------------------------------------------------

# Bump when what is kept changes shape.
_CACHE_FORMAT = 1


def _cache_file(path: Path, raw: bytes) -> Path:
    """Where pyxform's reading of this exact workbook is kept: beside it, as Python keeps
    compiled modules, named by the workbook's bytes and the pyxform version."""
    digest = hashlib.sha256(raw)
    digest.update(f"|{_CACHE_FORMAT}|{metadata.version('pyxform')}".encode())
    return path.parent / "__pycache__" / f"{path.stem}.{digest.hexdigest()[:24]}.form.json"


def _checked(path: Path, validate_xform: bool) -> tuple[dict[str, Any], list[str]]:
    """The workbook as pyxform reads it, and its warnings. A workbook checked before is
    read from its kept copy: pyxform and openpyxl then never load into the
    service (``warga serve`` checks the workbooks in a process of its own first)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FormError(f"{path.name}: no such workbook") from None
    cache = _cache_file(path, raw)
    if validate_xform:
        try:
            kept = json.loads(cache.read_text(encoding="utf-8"))
            return kept["data"], list(kept["warnings"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    data, warnings = _pyxform(path, validate_xform)
    if validate_xform:
        _keep(cache, {"data": data, "warnings": warnings})
    return data, warnings


def _pyxform(path: Path, validate_xform: bool) -> tuple[dict[str, Any], list[str]]:
    from pyxform.errors import PyXFormError
    from pyxform.xls2json import parse_file_to_json
    from pyxform.xls2xform import convert

    warnings: list[str] = []
    try:
        data = parse_file_to_json(str(path))
        if validate_xform:
            # The whole XForm is built once: references and structure are checked as
            # KoBo/ODK would (pyxform raises on what they would refuse).
            convert(xlsform=str(path), warnings=warnings)
    except PyXFormError as err:
        raise FormError(f"{path.name}: {err}") from None
    return data, warnings


def _keep(cache: Path, document: dict[str, Any]) -> None:
    """Write the kept copy whole or not at all; a folder that cannot be written to only
    means the workbook is read again next time."""
    try:
        cache.parent.mkdir(exist_ok=True)
        temporary = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(document, ensure_ascii=False, default=str),
                             encoding="utf-8")
        os.replace(temporary, cache)
    except OSError:
        pass


def workbooks(folders: Iterable[Path | None]) -> list[Path]:
    """The workbooks the service runs: the built-in ones, and those of ``WARGA_FORMS_DIR``."""
    found = sorted(FORMS_DIR.glob("*.xlsx"))
    for folder in folders:
        if folder is not None:
            found += sorted(p for p in folder.glob("*.xlsx") if not p.name.startswith("~$"))
    return found


def check_in_child(folders: Iterable[Path | None] = ()) -> None:
    """Check every workbook in a process of its own (``python -m conversations.forms``),
    so that the service reads the kept copies. A workbook at fault is reported when the
    service loads it, as always."""
    import subprocess

    subprocess.run([sys.executable, "-m", "conversations.forms",
                    *(str(p) for p in workbooks(folders))],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _language(header: str) -> str:
    match = _LANG.search(header)
    return match.group(1).lower() if match else header.strip().lower()


def _is_yes(value: Any) -> bool:
    return str(value or "").strip().lower() in _YES


class _Builder:
    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data = data
        self.where = where
        self.id = str(data.get("id_string") or data.get("name") or "")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", self.id):
            raise FormError(f"{where}: form_id {self.id!r} must be a short lower-case word "
                            "(letters, digits, _)")
        self.default = _language(str(data.get("default_language") or "(id)"))
        self.texts: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
        self.names: set[str] = set()

    def fail(self, name: str, message: str) -> FormError:
        return FormError(f"{self.where}: question {name!r}: {message}")

    # -- texts -----------------------------------------------------------------------------

    def text(self, key: str, value: Any, *, xlsform: bool = True) -> str | None:
        """Record a translated text under ``key``; returns the key (None if no text)."""
        if value in (None, "", {}):
            return None
        by_lang = value if isinstance(value, Mapping) else {self.default: value}
        found = False
        for header, text in by_lang.items():
            lang = _language(header) if isinstance(value, Mapping) else self.default
            if header == "default":
                lang = self.default
            if not str(text).strip():
                continue
            self.texts.setdefault(lang, {})[key] = _chat_text(str(text)) if xlsform else str(
                text)
            found = True
        return key if found else None

    def refs_in(self, value: Any) -> tuple[str, ...]:
        texts = value.values() if isinstance(value, Mapping) else [value or ""]
        return tuple(dict.fromkeys(r for t in texts for r in _REF.findall(str(t))))

    # -- expressions -----------------------------------------------------------------------

    def expr(self, name: str, column: str, source: Any) -> Expression | None:
        if source in (None, ""):
            return None
        try:
            return compile_expr(str(source))
        except ExprError as err:
            raise self.fail(name, f"{column}: {err}") from None

    # -- building --------------------------------------------------------------------------

    def build(self, path: Path) -> Form:
        settings = dict(self.data.get("chat") or {})
        unknown = set(settings) - _SETTINGS_CHAT
        if unknown:
            raise FormError(f"{self.where}: settings: unknown chat column(s) "
                            f"{', '.join(sorted('chat::' + u for u in unknown))}")
        fid = self.id
        title = self.text(f"{fid}.settings.intro", settings.get("intro"),
                          xlsform=False) or "flow.intro"
        summary = self.text(f"{fid}.settings.summary_intro", settings.get("summary_intro"),
                            xlsform=False) or "flow.summary_intro"
        cancelled = self.text(f"{fid}.settings.cancelled", settings.get("cancelled"),
                              xlsform=False) or "flow.cancelled"
        for name in ("menu", "done"):
            self.text(f"{fid}.settings.{name}", settings.get(name), xlsform=False)
        if self.text(f"{fid}.settings.form_title", self.data.get("title"), xlsform=False):
            # form_title has no language columns in XLSForm: one name for every language.
            title_text = self.texts[self.default][f"{fid}.settings.form_title"]
            for lang in LANGUAGES:
                self.texts[lang].setdefault(f"{fid}.settings.form_title", title_text)
        version = str(self.data.get("version") or "1")
        if not version.isdigit():
            raise FormError(f"{self.where}: settings: version {version!r} must be a whole "
                            "number (for example 2026120301)")
        steps = tuple(self.steps(self.data.get("children") or [], None, in_repeat=False))
        flow = Flow(
            id=fid, version=int(version), title=title, steps=steps, summary_intro=summary,
            pausable=_is_yes(settings.get("pausable")),
            with_meta=_is_yes(settings.get("with_meta")),
            cancelled=cancelled, source=path.name,
        )
        validate(flow)
        plain = {k: v for k, v in settings.items() if not isinstance(v, Mapping)}
        return Form(flow, self.texts, plain, path)

    def steps(self, children: list[dict[str, Any]], group_relevant: str | None, *,
              in_repeat: bool, together: str | None = None) -> Iterator[Step]:
        for child in children:
            kind = child.get("type")
            name = str(child.get("name") or "")
            if kind == "group":
                control = child.get("control") or {}
                if name == "meta" and control.get("bodyless"):
                    continue  # instanceID and the like: form tools' own bookkeeping
                relevant = (child.get("bind") or {}).get("relevant")
                combined = _and(group_relevant, relevant)
                inner = together
                if control.get("appearance") == "field-list":
                    # One screen in form tools; one message by chat.
                    if in_repeat or together is not None:
                        raise self.fail(name, "a field-list group is asked in one message: "
                                              "not inside a repeat or another field-list")
                    if not self.text(f"{self.id}.{name}.label", child.get("label")):
                        raise self.fail(name, "a field-list group needs a label")
                    inner = name
                grouped = list(self.steps(child.get("children") or [], combined,
                                          in_repeat=in_repeat, together=inner))
                if inner is not None and inner != together and any(
                        s.type != StepType.SELECT_ONE for s in grouped):
                    raise self.fail(name, "a field-list group holds select_one questions "
                                          "only (their answers are told apart by list)")
                yield from grouped
                continue
            if kind == "repeat":
                if in_repeat:
                    raise self.fail(name, "repeat groups inside repeat groups cannot be "
                                          "asked by chat")
                yield self.repeat(child, group_relevant)
                continue
            yield self.step(child, group_relevant, together)

    def common(self, child: dict[str, Any]) -> dict[str, Any]:
        name = str(child["name"])
        chat = dict(child.get("chat") or {})
        unknown = set(chat) - _SURVEY_CHAT
        if unknown:
            raise self.fail(name, "unknown chat column(s) "
                                  f"{', '.join(sorted('chat::' + u for u in unknown))}")
        return chat

    def step(self, child: dict[str, Any], group_relevant: str | None,
             together: str | None = None) -> Step:
        name = str(child["name"])
        kind = str(child.get("type"))
        chat = self.common(child)
        base = _TYPES.get(kind)
        if base is None:
            raise self.fail(name, f"type {kind!r} cannot be asked by chat (supported: "
                                  f"{', '.join(sorted(set(_TYPES)))})")
        qtype = base
        if chat.get("type"):
            qtype = str(chat["type"]).strip()
            try:
                registered = qtypes.get(qtype)
            except KeyError as err:
                raise self.fail(name, str(err.args[0])) from None
            if _XLSFORM_NAME.get(kind, kind) not in registered.xlsform:
                raise self.fail(name, f"chat::type {qtype!r} sits on "
                                      f"{' or '.join(registered.xlsform)}, not {kind!r}")
        bind = dict(child.get("bind") or {})
        fid = self.id
        label = self.text(f"{fid}.{name}.label", child.get("label")) or ""
        title = self.text(f"{fid}.{name}.title", chat.get("title"), xlsform=False) or label
        hint = self.text(f"{fid}.{name}.hint", child.get("hint"))
        message = self.text(f"{fid}.{name}.constraint", bind.get("jr:constraintMsg"))
        choices = self.choices(name, child)
        if kind == "calculate" and chat.get("choices"):
            # The labels a calculation's values are shown with (vulnerability flags).
            listed = (self.data.get("choices") or {}).get(str(chat["choices"]))
            if not listed:
                raise self.fail(name, f"chat::choices {chat['choices']!r} is not a list")
            choices = self.choices(name, {"choices": listed, "list_name": chat["choices"]})
        calculation = None
        function = chat.get("function")
        context = chat.get("context")
        if qtype == StepType.CALCULATE:
            if function:
                if function not in FUNCTIONS:
                    raise self.fail(name, f"chat::function {function!r} is not a registered "
                                          f"function ({', '.join(sorted(FUNCTIONS)) or 'none'})")
            elif not context:
                calculation = self.expr(name, "calculation", bind.get("calculate"))
        if qtype == StepType.YES_NO:
            values = {c.value.lower() for c in choices}
            if len(choices) != 2 or not (values & YES_NAMES and values & NO_NAMES):
                raise self.fail(name, "a yes_no question needs a list of two choices named "
                                      "yes/no (or 1 Ya / 2 Tidak)")
        params = {k: str(chat[k]).strip() for k in _PARAMS if chat.get(k) not in (None, "")}
        if together is not None:
            params["together"] = together
        return Step(
            name=name, type=qtype, label=label, title=title,
            required=_is_yes(bind.get("required")),
            relevant=self.expr(name, "relevant", _and(group_relevant, bind.get("relevant"))),
            constraint=self.expr(name, "constraint", bind.get("constraint")),
            constraint_message=message, choices=choices,
            choice_filter=self.expr(name, "choice_filter", child.get("choice_filter")),
            hint=hint, confirm=_is_yes(chat.get("confirm")), derive=self.derive(name, chat),
            calculation=calculation, function=function or None, context=context or None,
            finish_if=self.expr(name, "chat::finish_if", chat.get("finish_if")),
            retain=self.expr(name, "chat::retain", chat.get("retain")),
            timestamp=_is_yes(chat.get("timestamp")), params=params,
            label_refs=self.refs_in(child.get("label")),
            default=self.default_answer(name, child.get("default")),
        )

    def default_answer(self, name: str, raw: Any) -> Expression | None:
        """XLSForm's ``default``: a formula when it is one (``${x}``, ``position(..)``),
        otherwise the literal answer (``1004``)."""
        if raw in (None, ""):
            return None
        text = str(raw).strip()
        if "${" in text or "(" in text:
            return self.expr(name, "default", text)
        quote = '"' if "'" in text else "'"
        return self.expr(name, "default", f"{quote}{text}{quote}")

    def repeat(self, child: dict[str, Any], group_relevant: str | None) -> Step:
        name = str(child["name"])
        chat = self.common(child)
        fid = self.id
        children = tuple(self.steps(child.get("children") or [], None, in_repeat=True))
        if not children:
            raise self.fail(name, "a repeat group needs questions")
        label = self.text(f"{fid}.{name}.label", child.get("label")) or ""
        title = self.text(f"{fid}.{name}.title", chat.get("title"), xlsform=False) or label
        noun = self.text(f"{fid}.{name}.noun", chat.get("noun"), xlsform=False)
        item = self.text(f"{fid}.{name}.item", chat.get("item"), xlsform=False)
        if noun is None or item is None:
            raise self.fail(name, "a repeat group needs chat::noun and chat::item texts "
                                  "(what one item is called, and its heading 'Anggota ke-{n}')")
        count = (child.get("control") or {}).get("jr:count")
        seed = []
        for part in str(chat.get("seed") or "").split(";"):
            if not part.strip():
                continue
            target, sep, source = part.partition("=")
            if not sep:
                raise self.fail(name, f"chat::seed {part.strip()!r}: write child = formula")
            expr = self.expr(name, "chat::seed", source.strip())
            assert expr is not None
            seed.append((target.strip(), expr))
        bind = dict(child.get("bind") or {})
        return Step(
            name=name, type=StepType.REPEAT, label=label, title=title, required=False,
            relevant=self.expr(name, "relevant", _and(group_relevant, bind.get("relevant"))),
            repeat=Repeat(children=children, noun=noun, item=item,
                          count=self.expr(name, "repeat_count", count), seed=tuple(seed),
                          label_child=chat.get("label_child") or None),
        )

    def choices(self, name: str, child: dict[str, Any]) -> tuple[Option, ...]:
        raw = child.get("choices") or []
        if not raw:
            return ()
        list_name = str(child.get("list_name") or child.get("itemset") or name)
        out = []
        for choice in raw:
            value = str(choice.get("name"))
            key = self.text(f"{self.id}.{list_name}.{value}", choice.get("label"))
            if key is None:
                raise self.fail(name, f"choice {value!r} of list {list_name!r} has no label")
            aliases = tuple(a.strip() for a in str(choice.get("chat_aliases") or "").split(",")
                            if a.strip())
            props = {k: str(v) for k, v in choice.items()
                     if k not in ("name", "label", "chat_aliases", "chat_exclusive")
                     and isinstance(v, str | int | float)}
            out.append(Option(value, key, aliases, exclusive=_is_yes(choice.get("chat_exclusive")),
                              props=props))
        return tuple(out)

    def derive(self, name: str, chat: Mapping[str, Any]) -> tuple[Derive, ...]:
        out = []
        for part in str(chat.get("derive") or "").split(";"):
            if not part.strip():
                continue
            match = re.fullmatch(r"\s*(\w+)\s*=\s*(\w+)\s*(?:\(([^)]*)\))?\s*", part)
            if match is None:
                raise self.fail(name, f"chat::derive {part.strip()!r}: write "
                                      "target = field (from:to, …)")
            target, source, mapping = match.groups()
            pairs = []
            for pair in (mapping or "").split(","):
                if pair.strip():
                    left, _, right = pair.partition(":")
                    pairs.append((left.strip(), right.strip()))
            out.append(Derive(target, source, tuple(pairs)))
        return tuple(out)


def _and(first: str | None, second: Any) -> str | None:
    parts = [str(p) for p in (first, second) if p not in (None, "")]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else " and ".join(f"({p})" for p in parts)


def _chat_text(text: str) -> str:
    """An XLSForm text as a catalog text: ``${nama}`` → ``{nama}``, other braces kept."""
    escaped = text.replace("{", "{{").replace("}", "}}")
    return re.sub(r"\$\{\{([A-Za-z_][\w.-]*)\}\}", r"{\1}", escaped)


# -- validation ---------------------------------------------------------------------------


def validate(flow: Flow, known_keys: set[str] | None = None) -> Flow:
    """Check a flow's chat rules; raise FlowError naming the question at fault."""
    seen: set[str] = set()
    for index, step in enumerate(flow.steps):
        earlier = {s.name for s in flow.steps[:index]}
        _check_step(flow, step, earlier, seen, in_repeat=False)
        if step.repeat is not None:
            where = f"flow {flow.id!r} step {step.name!r}"
            if step.type != StepType.REPEAT:
                raise FlowError(f"{where}: only repeat steps have children")
            rep = step.repeat
            if not rep.children:
                raise FlowError(f"{where}: a repeat group needs children")
            if rep.count is not None:
                for ref in rep.count.refs():
                    if ref not in earlier:
                        raise FlowError(f"{where}: repeat_count refers to {ref!r}, which is "
                                        "not an earlier question")
            names = [c.name for c in rep.children]
            for child_name, source in rep.seed:
                if child_name not in names or not source.refs() <= earlier:
                    raise FlowError(f"{where}: seed {child_name!r} <- {source.source!r} is "
                                    "not valid")
            if rep.label_child is not None and rep.label_child not in names:
                raise FlowError(f"{where}: label_child {rep.label_child!r} is not a child")
            for child_index, child in enumerate(rep.children):
                visible = earlier | set(names[:child_index])
                _check_step(flow, child, visible, seen, in_repeat=True)
                _check_derive(flow, child, names[child_index + 1:])
        else:
            _check_derive(flow, step, [s.name for s in flow.steps[index + 1:]])
        if step.type == StepType.REPEAT and step.repeat is None:
            raise FlowError(f"flow {flow.id!r} step {step.name!r}: a repeat step needs children")
    if known_keys is not None:
        missing = sorted(flow.keys() - known_keys)
        if missing:
            raise FlowError(f"flow {flow.id!r}: catalog keys missing: {', '.join(missing)}")
    return flow


def _check_step(flow: Flow, step: Step, earlier: set[str], seen: set[str], *,
                in_repeat: bool) -> None:
    where = f"flow {flow.id!r} step {step.name!r}"
    if not step.name or not step.name.replace("_", "").isalnum():
        raise FlowError(f"{where}: step ids are short words of letters, digits and _")
    if step.name in seen:
        raise FlowError(f"{where}: duplicate step id")
    seen.add(step.name)
    if step.type not in (StepType.REPEAT, StepType.CALCULATE):
        try:
            qtype = qtypes.get(step.type)
        except KeyError as err:
            raise FlowError(f"{where}: {err.args[0]}") from None
        if qtype.has_choices and not step.choices and step.type != StepType.KELURAHAN:
            raise FlowError(f"{where}: a choice step needs choices")
        if step.confirm and not qtype.confirmable:
            raise FlowError(f"{where}: only identity numbers are read back to confirm")
    values = [o.value for o in step.choices]
    if len(values) != len(set(values)):
        raise FlowError(f"{where}: duplicate choice values")
    for value in values:
        if len(f"{step.name}:{value}".encode()) > MAX_CHOICE_ID_BYTES:
            raise FlowError(f"{where}: choice {value!r} makes an id over 64 bytes")
    if step.type == StepType.CALCULATE and not (
        step.calculation is not None or step.function or step.context
    ):
        raise FlowError(f"{where}: a calculation needs a formula, a function or a context")
    if step.context is not None and step.name != f"_{step.context}":
        # The value is the caller's, read from the flow context: one name for both.
        raise FlowError(f"{where}: a calculation filled from chat::context {step.context!r} "
                        f"must be named '_{step.context}'")
    if in_repeat and step.type == StepType.REPEAT:
        raise FlowError(f"{where}: repeat groups do not nest")
    if in_repeat and step.finish_if is not None:
        raise FlowError(f"{where}: finish_if works on top-level steps only")
    for column, expr in (("relevant", step.relevant), ("default", step.default)):
        for ref in expr.refs() if expr is not None else ():
            if not ref.startswith("_") and ref not in earlier:
                raise FlowError(
                    f"{where}: {column} refers to {ref!r}, which is not an earlier step"
                )


def _check_derive(flow: Flow, step: Step, later: list[str]) -> None:
    for d in step.derive:
        if d.target not in later:
            raise FlowError(
                f"flow {flow.id!r} step {step.name!r}: derives {d.target!r}, "
                "which is not a later step beside it"
            )


# -- translations -------------------------------------------------------------------------


def extract_xlsform(fileobj: Any, keywords: Any, comment_tags: Any,
                    options: Any) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel extraction method ``xlsform``: every text of a workbook as a catalog entry,
    its key as the message id and its Indonesian text as the translators' comment."""
    name = getattr(fileobj, "name", None)
    if not name:
        raise FormError("the xlsform extractor needs a workbook file on disk")
    form = load_form(Path(name))
    default = form.texts.get(DEFAULT_LANGUAGE, {})
    for key in sorted(default):
        yield 0, None, key, [default[key]]


if __name__ == "__main__":
    # The workbooks named, or the built-in ones (an image build keeps their copies).
    for path in [Path(name) for name in sys.argv[1:]] or workbooks([]):
        try:
            _checked(path, True)
        except FormError as error:
            print(error, file=sys.stderr)
