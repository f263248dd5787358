"""Residents' reports: the complaint form, the ticket it makes, and "status".

When a report is saved the feature says ``complaint.created``; others (ticket follow-up)
react to it through the feature context, not by wrapping this feature.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.feature import (
    Command,
    Context,
    FeatureContext,
    FeatureSpec,
    FormUse,
    Matcher,
    MenuItem,
)
from conversations.complaint import FORM
from conversations.engine import Turn
from conversations.flow import Flow
from conversations.i18n import JAKARTA, T
from conversations.parsing import extract_report, is_water_report
from conversations.privacy import mask_ids
from conversations.tickets import find_ticket, new_ticket

REPORT_WORDS = ("lapor", "laporan", "pengaduan", "aduan", "lapor air", "buat laporan",
                "report", "new report")
STATUS_WORDS = ("status", "cek", "cek status", "cek laporan", "tiket", "laporan saya",
                "check", "my reports")
CREATED = "complaint.created"
# Questions a resident may answer with the whole story ("air mati dari kemarin di RT 3").
OPENING_STEPS = ("jenis", "kategori")
# A reply this long at those questions is a description, not just the answer.
STORY_WORDS = 4
# What a resident may add in a later answer, in passing: the place, when, how many.
LATE_SLOTS = ("sejak", "jumlah_kk", "kelurahan", "rt_rw", "patokan")


class ComplaintsFeature:
    """Registers the report form, /lapor, /status and the menu entries for them."""

    name = "complaints"

    def __init__(self) -> None:
        self._app: FeatureContext | None = None

    @property
    def app(self) -> FeatureContext:
        if self._app is None:
            raise RuntimeError("ComplaintsFeature used before it was bound")
        return self._app

    def spec(self) -> FeatureSpec:
        return FeatureSpec(
            name=self.name,
            forms=(FormUse(FORM, self._create, self._story_mid_flow),),
            commands=(
                Command(REPORT_WORDS, self._cmd_report, in_flow=True, menu_text="cmd.lapor"),
                Command(STATUS_WORDS, self._cmd_status, in_flow=True, menu_text="cmd.status"),
            ),
            menu=(
                MenuItem("lapor", T("menu.report"), self._menu_report),
                MenuItem("status", T("menu.status"), self._menu_status),
            ),
            matchers=(Matcher(lambda text: find_ticket(text) is not None, self._typed_ticket),
                      Matcher(is_water_report, self._report_from_story)),
        )

    def bind(self, app: FeatureContext) -> None:
        self._app = app

    # -- starting --------------------------------------------------------------------------

    async def _cmd_report(self, ctx: Context, args: str) -> None:
        if ctx.session.in_flow:
            ctx.reask(T("bot.already_in_flow"))
            return
        text = ctx.inbound.text or ""
        if is_water_report(text):
            # "lapor air", "lapor air mati di RT 3": what it says is not asked again.
            await self._report_from_story(ctx, text)
            return
        await ctx.start_or_offer(FORM.flow.id)

    async def _menu_report(self, ctx: Context) -> None:
        await ctx.start_or_offer(FORM.flow.id)

    # -- one-message reports -------------------------------------------------------------

    async def _report_from_story(self, ctx: Context, text: str) -> None:
        """A message that describes a water problem opens a report with what it says."""
        answers, narrow = prefill(text, ctx.now)
        await ctx.start_or_offer(FORM.flow.id, answers=answers, narrow=narrow)

    async def _story_mid_flow(self, ctx: Context, flow: Flow, turn: Turn) -> None:
        """What a resident writes is taken in full: the whole story typed at the first
        questions, or a place typed where a number was asked ("kalibaru rt 1 rw 2")."""
        before = ctx.session.flow or {}
        text = ctx.inbound.text or ""
        if not text or turn.state is None or turn.completed is not None:
            return
        answers, narrow = prefill(text, ctx.now)
        if before.get("step") in OPENING_STEPS:
            if not is_water_report(text):
                return
            more = set(answers) - {"jenis", "kategori", "uraian"}
            refused = turn.state.get("step") == before.get("step") and not turn.changed
            if not more and len(text.split()) < STORY_WORDS and not refused:
                return  # "keruh": just the answer to the question
            base = before
        else:
            step = before.get("step")
            # Only what the question itself did not take: its own answer wins.
            answers = {k: v for k, v in answers.items() if k in LATE_SLOTS and k != step}
            narrow = {}
            if not answers:
                return
            base = turn.state
        known = dict(base.get("answers") or {})
        new = {k: v for k, v in answers.items() if k not in known}
        if not new and not narrow:
            return
        state = dict(base)
        state["answers"] = {**new, **known}
        state["history"] = [*base.get("history", []), *new]
        if narrow and "kategori" not in state["answers"]:
            state["narrow"] = narrow
        engine = self.app.engine
        lines = [T("flow.understood"), *engine.recap(flow, state)]
        fresh = engine.refresh(flow, state, lines)
        turn.state, turn.prompt = fresh.state, fresh.prompt
        turn.cancelled = turn.paused = False

    # -- saving ----------------------------------------------------------------------------

    async def _create(self, ctx: Context, answers: dict[str, Any]) -> list[T]:
        report_type = answers["jenis"]
        location = answers.get("lokasi") or {}
        kel = answers.get("kelurahan") or {}
        rt_rw = answers.get("rt_rw") or {}
        if answers.get("telepon"):
            ctx.contact.phone = answers["telepon"]
        if "boleh_dihubungi" not in answers:
            # Asked for a number to be contacted on: giving it is agreeing to be contacted.
            answers["boleh_dihubungi"] = "yes" if answers.get("telepon") else "no"
        flow = FORM.flow
        complaint = await ctx.tx.complaints.create(
            new_ticket=lambda: new_ticket(report_type),
            contact_id=ctx.contact.id,
            now=ctx.now,
            actor=_actor(ctx),
            report_type=report_type,
            category=answers.get("kategori"),
            description=answers["uraian"],
            kelurahan_code=kel.get("code"),
            rt=rt_rw.get("rt"),
            rw=rt_rw.get("rw"),
            latitude=location.get("latitude"),
            longitude=location.get("longitude"),
            flow_id=flow.id,
            flow_version=flow.version,
            answers=answers,
        )
        await ctx.tx.audit.add(_actor(ctx), "complaint.created", ctx.now,
                               subject=complaint.ticket)
        if self.app.metrics is not None:
            self.app.metrics.tickets.labels(report_type).inc()
        texts = [T("complaint.created", ticket=complaint.ticket)]
        return texts + await self.app.emit(CREATED, ctx, {"complaint_id": complaint.id,
                                                          "ticket": complaint.ticket})

    # -- status ----------------------------------------------------------------------------

    async def _cmd_status(self, ctx: Context, args: str) -> None:
        await self.status(ctx, find_ticket(args) if args else None)
        ctx.reask()

    async def _menu_status(self, ctx: Context) -> None:
        await self.status(ctx, None)

    async def _typed_ticket(self, ctx: Context, text: str) -> None:
        await self.status(ctx, find_ticket(text))

    async def status(self, ctx: Context, ticket: str | None) -> None:
        """The resident's own reports, or one of them with its history."""
        ctx.session.awaiting = None
        if ticket:
            complaint = await ctx.tx.complaints.by_ticket(ticket)
            if complaint is None or complaint.contact_id != ctx.contact.id:
                ctx.say(T("status.not_found", ticket=ticket))
                return
            history = await ctx.tx.complaints.history(complaint.id)
            lines = [T("status.history_line", status=T(f"status.{h.status}"),
                       when=h.at, note=h.note or "") for h in history]
            ctx.say(T("status.detail", ticket=complaint.ticket,
                      status=T(f"status.{complaint.status}")), *lines)
            return
        complaints = await ctx.tx.complaints.for_contact(ctx.contact.id, limit=10)
        if not complaints:
            ctx.say(T("status.none"))
            return
        lines = [
            T("status.line", ticket=c.ticket, status=T(f"status.{c.status}"),
              kind=T(f"complaint.jenis.{c.report_type}"), when=c.created_at.date())
            for c in complaints
        ]
        ctx.say(T("status.list_intro"), *lines, T("status.detail_hint"))


def _actor(ctx: Context) -> str:
    return f"{ctx.contact.channel}:{ctx.contact.id}"


def prefill(text: str, now: datetime) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The answers of the complaint form a free-text water report already gives, and the
    categories to offer first when it fits more than one."""
    report = extract_report(text, now.astimezone(JAKARTA))
    answers: dict[str, Any] = {"jenis": "air"}
    narrow: dict[str, list[str]] = {}
    if report.categories:
        if len(report.categories) > 1:
            narrow["kategori"] = list(report.categories)
        else:
            answers["kategori"] = report.categories[0]
        # A message that names the problem is its description too.
        answers["uraian"] = mask_ids(text.strip())[:1000]
    if report.since is not None:
        answers["sejak"] = report.since.isoformat()
    if report.households is not None and 1 <= report.households <= 5000:
        answers["jumlah_kk"] = report.households
    if report.kelurahan is not None:
        answers["kelurahan"] = {"code": report.kelurahan.code, "name": report.kelurahan.name}
    if report.rt_rw is not None:
        answers["rt_rw"] = {"rt": report.rt_rw[0], "rw": report.rt_rw[1]}
    if report.landmark:
        answers["patokan"] = mask_ids(report.landmark)[:200]
    return answers, narrow
