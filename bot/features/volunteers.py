"""Volunteers and household assessments.

- Roles: resident (default), volunteer, coordinator. Coordinators make invite codes
  (``/kode_relawan [jumlah]``); a volunteer registers with ``/relawan KODE``, the Telegram
  deep link ``start=relawan_KODE`` or "DAFTAR RELAWAN KODE" on WhatsApp, and a
  coordinator approves or rejects with a button (or ``/pendaftar``).
- Assessment (``/asesmen``): the flow in ``conversations.assessment``; "nanti" puts it
  aside as a draft (kept in the database, continued from ``/asesmen``, also after a
  restart); the same NIK or No. KK in the same kelurahan is flagged while the volunteer
  types, with the earlier record's number.
- Protection: NIK and No. KK are sealed (AES-GCM, ``storage.crypto``) in the conversation
  state already, stored with a keyed hash for lookups, shown masked everywhere; the full
  numbers only leave in an export a coordinator asks for by name, which is audited.
- The data subject by chat: ``data saya``, ``ubah data``, ``hapus data``, ``tarik
  persetujuan``; requests go to coordinators with a 3×24-hour deadline and a reminder.
"""

from __future__ import annotations

import hashlib
import logging
import random
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from bot.feature import (
    Button,
    Command,
    Context,
    DeepLink,
    FeatureContext,
    FeatureSpec,
    FormUse,
    MenuItem,
    Timer,
)
from bot.settings import Settings
from conversations import library
from conversations.assessment import (
    ASSESSMENT,
    HOUSE_FIELDS,
    NOTICE_KEY,
    NOTICE_VERSION,
    consent_given,
    families_in_house,
    house_answers,
    household_label,
    upgrade_draft,
)
from conversations.buttons import Payload
from conversations.engine import Prompt, Turn
from conversations.flow import Flow, Step, StepType
from conversations.i18n import T
from conversations.places import KELURAHAN
from conversations.qtypes.yes_no import is_yes
from conversations.roles import COORDINATOR, COORDINATORS, OFFICERS, RESIDENT, VOLUNTEER
from conversations.tickets import ALPHABET
from conversations.volunteers import (
    CORRECTION,
    CORRECTION_ID,
    ERASURE,
    ERASURE_ID,
    REGISTRATION,
    REGISTRATION_ID,
    REGISTRATION_NOTICE_KEY,
    REGISTRATION_NOTICE_VERSION,
    REQUEST_KINDS,
    WITHDRAWAL,
    WITHDRAWAL_ID,
)
from storage.crypto import IdentityCipher
from storage.db import Database
from storage.erasure import erase_data_subject
from storage.models import Contact
from storage.models_volunteers import DataRequest, VolunteerApplication
from storage.repos import ContactState, Repos
from storage.repos_volunteers import VolunteerRepo

log = logging.getLogger(__name__)


CODE_LENGTH = 6
MAX_CODE_USES = 100
# Wrong invite codes tried by one contact in a day before we stop checking (guessing).
MAX_CODE_ATTEMPTS = 5
KELURAHAN_NAMES = {k.code: k.name for k in KELURAHAN}


@dataclass(frozen=True)
class Timing:
    """Deadlines the feature works with (overridable in tests)."""

    invite_valid: timedelta = timedelta(days=7)
    # UU PDP art. 32-44 give the controller 3×24 hours for access, correction, erasure.
    request_due: timedelta = timedelta(hours=72)
    remind_before: timedelta = timedelta(hours=24)
    # Drafts nobody touched for this long are dropped (the session housekeeping uses 30).
    draft_keep: timedelta = timedelta(days=30)


def _actor(contact: ContactState | Contact) -> str:
    return f"{contact.channel}:{contact.id}"


def notice_digest(text: str) -> str:
    """What a consent record keeps of the notice: the exact text's SHA-256."""
    return hashlib.sha256(text.encode()).hexdigest()


def _mask_phone(phone: str | None) -> str:
    if not phone:
        return "-"
    return phone[:5] + "*" * max(0, len(phone) - 8) + phone[-3:]


def _parse_time(value: Any, default: datetime) -> datetime:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else default
    except ValueError:
        return default


NAME = "volunteers"


@dataclass(frozen=True)
class VolunteerButton(Payload, prefix="vol"):
    action: Literal["ok", "no", "code", "list"]
    application: int = 0


@dataclass(frozen=True)
class AssessmentButton(Payload, prefix="asm"):
    action: Literal["draft", "new"]
    draft: int = 0


@dataclass(frozen=True)
class RequestButton(Payload, prefix="dsr"):
    action: Literal["list", "start", "done"]
    arg: str = ""


class VolunteersFeature:
    """Registers volunteer, assessment and data-subject commands, buttons and flows."""

    def __init__(self, settings: Settings, *, rng: random.Random | None = None,
                 timing: Timing | None = None) -> None:
        self.settings = settings
        # Tests pass a seeded generator for stable invite codes; production uses secrets.
        self._rng = rng
        self.timing = timing or Timing()
        self._app: FeatureContext | None = None
        self._cipher: IdentityCipher | None = None

    @property
    def d(self) -> FeatureContext:
        assert self._app is not None, "feature not bound"
        return self._app

    @property
    def cipher(self) -> IdentityCipher:
        if self._cipher is None:
            self._cipher = self.settings.identity_cipher()
        return self._cipher

    def seal(self, kind: str, digits: str) -> dict[str, str]:
        """The engine's sealer: ciphertext and lookup hash of an NIK / No. KK."""
        return self.cipher.seal(kind, digits)

    def spec(self) -> FeatureSpec:
        # A configured key that is too short fails now, at start-up, not mid-conversation;
        # a missing one is read (or generated into the data folder) on first use.
        if self.settings.secret_key is not None:
            _ = self.cipher
        requests = tuple(FormUse(flow, self._request_saver(REQUEST_KINDS[flow.id]))
                         for flow in (CORRECTION, ERASURE, WITHDRAWAL))
        return FeatureSpec(
            name=NAME,
            forms=(FormUse(ASSESSMENT, self._save_assessment, self._assessment_hook),
                   FormUse(REGISTRATION, self._save_registration), *requests),
            commands=(
                Command(("relawan", "daftar relawan"), self._cmd_register),
                Command(("asesmen", "asesmen rumah tangga"), self._cmd_assess, OFFICERS,
                        menu_text="cmd.asesmen", refusal=T("asm.only_volunteers")),
                Command(("kk_berikutnya", "kk berikutnya"), self._cmd_next_kk),
                Command(("kode_relawan", "undang", "kode relawan", "buat kode relawan"),
                        self._cmd_code, COORDINATORS, menu_text="cmd.kode_relawan"),
                Command(("pendaftar", "pendaftar relawan"), self._cmd_pending, COORDINATORS,
                        menu_text="cmd.pendaftar"),
                Command(("setujui",), self._cmd_approve, COORDINATORS),
                Command(("tolak",), self._cmd_reject, COORDINATORS),
                Command(("cabut_relawan", "cabut relawan"), self._cmd_revoke, COORDINATORS),
                Command(("permintaan_data", "permintaan data"), self._cmd_requests,
                        COORDINATORS, menu_text="cmd.permintaan_data"),
                Command(("data_saya", "data saya", "data pribadi saya"), self._cmd_my_data,
                        menu_text="cmd.data_saya"),
                Command(("ubah_data", "ubah data"), self._starter(CORRECTION_ID)),
                Command(("hapus_data", "hapus data", "hapus data saya"),
                        self._starter(ERASURE_ID)),
                Command(("tarik_persetujuan", "tarik persetujuan"),
                        self._starter(WITHDRAWAL_ID)),
            ),
            menu=(
                MenuItem("asesmen", T("menu.asesmen"), lambda ctx: self._cmd_assess(ctx, ""),
                         OFFICERS),
                MenuItem("relawan", T("menu.relawan"), self._coordinator_menu, COORDINATORS),
                MenuItem("datasaya", T("menu.datasaya"), lambda ctx: self._cmd_my_data(ctx, "")),
            ),
            buttons=(Button(VolunteerButton, self._on_vol_button),
                     Button(AssessmentButton, self._on_asm_button),
                     Button(RequestButton, self._on_dsr_button)),
            deep_links=(DeepLink("relawan", self._cmd_register),),
            timers=(Timer("volunteers:sweep", "interval", {"minutes": 10}, self._sweep,
                          at_start=True),),
            # NIK/KK answers are sealed by the engine itself: the session never holds them.
            sealer=self,
        )

    def bind(self, app: FeatureContext) -> None:
        self._app = app

    async def _sweep(self) -> None:
        """Reminders before a data request's deadline, alerts after it, draft clean-up."""
        await self.sweep(self.d.db, self.d.clock())

    # -- helpers ---------------------------------------------------------------------------

    def _code(self, length: int) -> str:
        if self._rng is not None:
            return "".join(self._rng.choice(ALPHABET) for _ in range(length))
        return "".join(secrets.choice(ALPHABET) for _ in range(length))

    def _ref(self, prefix: str) -> str:
        return f"{prefix}-{self._code(5)}"

    def _wake(self) -> None:
        self.d.wake()

    def _refuse(self, ctx: Context, message: T) -> None:
        ctx.say(message)
        ctx.reask()

    def _notice_hash(self, lang: str, key: str) -> str:
        return notice_digest(self.d.translator(lang, key))

    async def _coordinators(self, tx: Repos) -> Sequence[Contact]:
        return await tx.contacts.with_role(COORDINATOR)

    async def _tell_coordinators(self, tx: Repos, now: datetime, *texts: T, key: str,
                                 choices: list[tuple[str, T | str]] | None = None) -> int:
        coordinators = await self._coordinators(tx)
        for coordinator in coordinators:
            await self.d.notify(tx, coordinator.id, *texts, now=now, choices=choices,
                                dedupe_key=f"{key}:{coordinator.id}")
        if not coordinators:
            log.warning("no coordinator to tell (%s); add one with `warga coordinator add`",
                        key.split(":", 1)[0])
        return len(coordinators)

    def _keep_alive(self, ctx: Context) -> None:
        ctx.keep_alive()

    # -- registration ----------------------------------------------------------------------

    async def _cmd_register(self, ctx: Context, args: str) -> None:
        """``/relawan KODE``: check the invite code, then the registration flow."""
        code = args.strip().split()[0].upper() if args.strip() else ""
        contact = ctx.contact
        if contact.role == COORDINATOR:
            self._refuse(ctx, T("vol.already_coordinator"))
            return
        if contact.role == VOLUNTEER:
            kind = contact.volunteer_type or "lainnya"
            self._refuse(ctx, T("vol.already_volunteer",
                                kind=T(f"volunteer_registration.jenis.{kind}")))
            return
        repo = VolunteerRepo(ctx.tx.session)
        if await repo.pending_application(contact.id) is not None:
            self._refuse(ctx, T("vol.pending"))
            return
        if not code:
            self._refuse(ctx, T("vol.code_missing"))
            return
        actor = _actor(contact)
        if await repo.failed_code_attempts(actor, ctx.now - timedelta(days=1)) >= (
            MAX_CODE_ATTEMPTS
        ):
            self._refuse(ctx, T("vol.code_locked"))
            return
        invite = await repo.valid_invite(code, ctx.now)
        if invite is None:
            await ctx.tx.audit.add(actor, "volunteer.code_invalid", ctx.now, subject=actor)
            self._refuse(ctx, T("vol.code_invalid"))
            return
        await ctx.start_or_offer(REGISTRATION_ID,
                                    {"invite_id": invite.id, "code": invite.code})

    async def _save_registration(self, ctx: Context, answers: dict[str, Any]) -> list[T]:
        meta = answers.pop("_meta", {})
        repo = VolunteerRepo(ctx.tx.session)
        contact = ctx.contact
        actor = _actor(contact)
        agreed = is_yes(answers.get("setuju"))
        await repo.add_consent(
            contact_id=contact.id, subject="diri", scope="umum",
            notice_version=REGISTRATION_NOTICE_VERSION,
            notice_sha256=self._notice_hash(ctx.lang, REGISTRATION_NOTICE_KEY),
            language=ctx.lang, channel=contact.channel, granted=agreed,
            at=_parse_time(meta.get("times", {}).get("setuju"), ctx.now))
        if not agreed:
            await ctx.tx.audit.add(actor, "consent.refused", ctx.now, subject=actor,
                                   details={"notice": REGISTRATION_NOTICE_VERSION})
            return [T("vol.refused")]
        invite_id = meta.get("ctx", {}).get("invite_id")
        invite = await repo.valid_invite(str(meta.get("ctx", {}).get("code", "")), ctx.now)
        if invite is None or invite.id != invite_id or not await repo.use_invite(invite.id):
            return [T("vol.code_gone")]
        application = await repo.add_application(
            contact_id=contact.id, invite_id=invite.id, volunteer_type=answers["jenis"],
            type_other=answers.get("jenis_lain"), full_name=answers["nama"],
            kelurahan_code=(answers.get("wilayah") or {}).get("code"), status="menunggu",
            created_at=ctx.now)
        contact.consent_version = REGISTRATION_NOTICE_VERSION
        contact.consent_at = ctx.now
        await ctx.tx.audit.add(actor, "volunteer.applied", ctx.now, subject=actor,
                               details={"application": application.id})
        told = await self._tell_coordinators(
            ctx.tx, ctx.now, self._application_text(application, contact.channel),
            key=f"vol-app:{application.id}", choices=self._decision_buttons(application))
        return [T("vol.applied" if told else "vol.applied_no_coordinator")]

    def _application_text(self, app: VolunteerApplication, channel: str) -> T:
        kind: T | str = T(f"volunteer_registration.jenis.{app.volunteer_type}")
        if app.type_other:
            kind = T("vol.type_other", other=app.type_other)
        return T("vol.new_application", name=app.full_name or "-", kind=kind,
                 channel=T(f"channel.{channel}"),
                 kelurahan=KELURAHAN_NAMES.get(app.kelurahan_code or "", "-"), n=app.id)

    @staticmethod
    def _decision_buttons(app: VolunteerApplication) -> list[tuple[str, T | str]]:
        return [(VolunteerButton("ok", app.id).pack(), T("vol.approve")),
                (VolunteerButton("no", app.id).pack(), T("vol.reject"))]

    async def _cmd_code(self, ctx: Context, args: str) -> None:
        """``/kode_relawan [jumlah]``: a new invite code for that many volunteers."""
        uses = 1
        if args.strip():
            try:
                uses = int(args.split()[0])
            except ValueError:
                uses = 0
            if not 1 <= uses <= MAX_CODE_USES:
                ctx.say(T("vol.code_uses_range", max=MAX_CODE_USES))
                return
        await self._create_code(ctx, uses)

    async def _create_code(self, ctx: Context, uses: int) -> None:
        expires = ctx.now + self.timing.invite_valid
        invite = await VolunteerRepo(ctx.tx.session).create_invite(
            lambda: self._code(CODE_LENGTH), created_by=ctx.contact.id, now=ctx.now,
            expires_at=expires, max_uses=uses)
        await ctx.tx.audit.add(_actor(ctx.contact), "volunteer.code_created", ctx.now,
                               subject=f"invite:{invite.id}", details={"uses": uses})
        ctx.say(T("vol.code_created", code=invite.code, uses=uses, until=expires))
        ctx.reask()

    async def _cmd_pending(self, ctx: Context, args: str) -> None:
        """``/pendaftar``: registrations waiting for a decision, with buttons."""
        pending = await VolunteerRepo(ctx.tx.session).pending_applications(limit=5)
        if not pending:
            self._refuse(ctx, T("vol.none_pending"))
            return
        lines: list[T] = [T("vol.pending_intro")]
        choices: list[tuple[str, T | str]] = []
        for app in pending:
            contact = await ctx.tx.contacts.get(app.contact_id)
            lines.append(self._application_text(app, contact.channel if contact else "-"))
            choices.append((VolunteerButton("ok", app.id).pack(), T("vol.approve_n", n=app.id)))
            choices.append((VolunteerButton("no", app.id).pack(), T("vol.reject_n", n=app.id)))
        ctx.say(*lines, choices=choices)

    async def _cmd_approve(self, ctx: Context, args: str) -> None:
        await self._decide_typed(ctx, args, approve=True)

    async def _cmd_reject(self, ctx: Context, args: str) -> None:
        await self._decide_typed(ctx, args, approve=False)

    async def _decide_typed(self, ctx: Context, args: str, *, approve: bool) -> None:
        number = args.strip().lstrip("#")
        if not number.isdigit():
            self._refuse(ctx, T("vol.decide_usage"))
            return
        await self._decide(ctx, int(number), approve=approve)

    async def _cmd_revoke(self, ctx: Context, args: str) -> None:
        """``/cabut_relawan N``: registration N's volunteer becomes a resident again."""
        number = args.strip().lstrip("#")
        if not number.isdigit():
            self._refuse(ctx, T("vol.revoke_usage"))
            return
        app = await VolunteerRepo(ctx.tx.session).application(int(number))
        volunteer = await ctx.tx.contacts.get(app.contact_id) if app else None
        if app is None or volunteer is None or volunteer.role != VOLUNTEER:
            self._refuse(ctx, T("vol.revoke_none", n=number))
            return
        await ctx.tx.contacts.set_fields(volunteer.id, ctx.now, role=RESIDENT,
                                         volunteer_type=None)
        await ctx.tx.audit.add(_actor(ctx.contact), "volunteer.revoked", ctx.now,
                               subject=_actor(volunteer), details={"application": app.id})
        await self.d.notify(ctx.tx, volunteer.id, T("vol.revoked"), now=ctx.now,
                            dedupe_key=f"vol-revoked:{app.id}:{ctx.now.isoformat()}")
        ctx.say(T("vol.revoked_ok", name=app.full_name or "-"))

    async def _on_vol_button(self, ctx: Context, button: VolunteerButton) -> None:
        if ctx.contact.role != COORDINATOR:
            # A volunteer (or anyone) pressing a forwarded approval button.
            self._refuse(ctx, T("bot.not_allowed"))
            return
        if button.action in ("ok", "no") and button.application:
            await self._decide(ctx, button.application, approve=button.action == "ok")
        elif button.action == "code":
            await self._create_code(ctx, 1)
        elif button.action == "list":
            await self._cmd_pending(ctx, "")
        else:
            self._refuse(ctx, T("flow.stale_button"))

    async def _decide(self, ctx: Context, application_id: int, *, approve: bool) -> None:
        repo = VolunteerRepo(ctx.tx.session)
        app = await repo.application(application_id)
        if app is None:
            self._refuse(ctx, T("vol.not_found", n=application_id))
            return
        if app.status != "menunggu":
            self._refuse(ctx, T("vol.already_decided", name=app.full_name or "-",
                                status=T(f"vol.status.{app.status}")))
            return
        applicant = await ctx.tx.contacts.get(app.contact_id)
        if applicant is None:
            self._refuse(ctx, T("vol.not_found", n=application_id))
            return
        app.status = "disetujui" if approve else "ditolak"
        app.decided_at = ctx.now
        app.decided_by = ctx.contact.id
        if approve:
            # Written straight to the row: the applicant's own ContactState (if they are
            # chatting right now) only writes back the fields it changed. A coordinator
            # meanwhile stays one.
            fields: dict[str, Any] = {"volunteer_type": app.volunteer_type}
            if applicant.role == RESIDENT:
                fields["role"] = VOLUNTEER
            await ctx.tx.contacts.set_fields(applicant.id, ctx.now, **fields)
            message = T("vol.approved",
                        kind=T(f"volunteer_registration.jenis.{app.volunteer_type}"))
        else:
            message = T("vol.rejected")
        await ctx.tx.audit.add(_actor(ctx.contact),
                               "volunteer.approved" if approve else "volunteer.rejected",
                               ctx.now, subject=_actor(applicant),
                               details={"application": app.id})
        await self.d.notify(ctx.tx, applicant.id, message, now=ctx.now,
                            dedupe_key=f"vol-decision:{app.id}")
        ctx.say(T("vol.decided_ok" if approve else "vol.decided_no", name=app.full_name or "-"))
        ctx.reask()

    async def _coordinator_menu(self, ctx: Context) -> None:
        repo = VolunteerRepo(ctx.tx.session)
        pending = len(await repo.pending_applications(limit=50))
        requests = len(await repo.open_requests(limit=50))
        ctx.say(T("vol.coordinator_menu", pending=pending, requests=requests),
                choices=[(VolunteerButton("code").pack(), T("vol.make_code")),
                         (VolunteerButton("list").pack(), T("vol.show_pending")),
                         (RequestButton("list").pack(), T("dsr.show_open"))])

    # -- assessment ------------------------------------------------------------------------

    async def _cmd_assess(self, ctx: Context, args: str) -> None:
        """``/asesmen``: continue the assessment under way, pick a draft, or start one."""
        if ctx.contact.role not in OFFICERS:
            self._refuse(ctx, T("asm.only_volunteers"))
            return
        fstate = ctx.session.flow
        if fstate and fstate.get("flow") == ASSESSMENT.id:
            # Paused by "menu", or gone quiet: continue where it stopped.
            self._keep_alive(ctx)
            ctx.replies.append(self.d.engine.reask(ASSESSMENT, fstate, [T("asm.continue")]).prompt)
            return
        drafts = await VolunteerRepo(ctx.tx.session).drafts(ctx.contact.id)
        if drafts:
            lines = [T("asm.draft_line", n=i + 1, label=d.label or T("asm.draft_unnamed"),
                       when=d.updated_at) for i, d in enumerate(drafts)]
            choices: list[tuple[str, T | str]] = [
                (AssessmentButton("draft", d.id).pack(), T("asm.draft_button", n=i + 1))
                for i, d in enumerate(drafts)]
            choices.append((AssessmentButton("new").pack(), T("asm.new")))
            ctx.say(T("asm.drafts_intro"), *lines, choices=choices)
            return
        await self._start_assessment(ctx)

    async def _cmd_next_kk(self, ctx: Context, args: str) -> None:
        """``/kk_berikutnya``: the next keluarga of the house just saved, house answers kept."""
        if ctx.contact.role not in OFFICERS:
            self._refuse(ctx, T("asm.only_volunteers"))
            return
        offer = ctx.data(NAME).pop("next_kk", None)
        if not isinstance(offer, dict):
            self._refuse(ctx, T("asm.no_next_kk"))
            return
        await ctx.start_or_offer(
            ASSESSMENT.id, {"volunteer_type": ctx.contact.volunteer_type,
                            "rumah": offer["rumah"], "kk_ke": offer["kk_ke"]},
            answers=dict(offer["house"]))

    async def _start_assessment(self, ctx: Context) -> None:
        # The kelurahan is the volunteer's area unless they change it: not asked.
        area = await VolunteerRepo(ctx.tx.session).area_of(ctx.contact.id)
        await ctx.start_or_offer(ASSESSMENT.id,
                                 {"volunteer_type": ctx.contact.volunteer_type,
                                  "wilayah": area or ""})

    async def _on_asm_button(self, ctx: Context, button: AssessmentButton) -> None:
        if ctx.contact.role not in OFFICERS:
            self._refuse(ctx, T("asm.only_volunteers"))
            return
        fstate = ctx.session.flow
        if fstate and fstate.get("flow") != ASSESSMENT.id:
            # Another flow (a report) is open: finish or cancel it first, nothing is lost.
            self._refuse(ctx, T("asm.finish_other_first"))
            return
        if fstate:
            await self._stash(ctx, fstate)
        if button.action == "new":
            await self._start_assessment(ctx)
            return
        if button.action == "draft" and button.draft:
            draft = await VolunteerRepo(ctx.tx.session).take_draft(button.draft, ctx.contact.id)
            if draft is not None:
                self._keep_alive(ctx)
                intro = [T("asm.resumed", label=draft.label or T("asm.draft_unnamed"))]
                if draft.flow_version == ASSESSMENT.version:
                    turn = self.d.engine.reask(ASSESSMENT, draft.state, intro)
                else:
                    upgrade_draft(draft.state)
                    turn = self.d.engine.refresh(ASSESSMENT, draft.state, intro)
                ctx.session.flow = turn.state
                ctx.replies.append(turn.prompt)
                await ctx.tx.audit.add(_actor(ctx.contact), "assessment.resumed", ctx.now,
                                       subject=_actor(ctx.contact))
                return
        self._refuse(ctx, T("asm.draft_gone"))

    async def _stash(self, ctx: Context, fstate: dict[str, Any]) -> int:
        """Put the assessment in the session aside as a draft."""
        draft = await VolunteerRepo(ctx.tx.session).save_draft(
            contact_id=ctx.contact.id, flow_id=ASSESSMENT.id, flow_version=fstate["version"],
            label=household_label(fstate["answers"]), state=fstate, now=ctx.now)
        ctx.session.end_flow()
        await ctx.tx.audit.add(_actor(ctx.contact), "assessment.paused", ctx.now,
                               subject=_actor(ctx.contact), details={"draft": draft.id})
        return draft.id

    async def _assessment_hook(self, ctx: Context, flow: Flow, turn: Turn) -> None:
        """Drafts on "nanti"; duplicate check as soon as NIK/KK and kelurahan are known."""
        if turn.paused and turn.state is not None:
            await self._stash(ctx, turn.state)
            label = household_label(turn.state["answers"])
            turn.state = None
            turn.paused = False
            turn.prompt = Prompt(texts=[T("asm.paused", label=label or T("asm.draft_unnamed"))])
            return
        if turn.state is not None:
            await self._check_duplicate(ctx, flow, turn)

    async def _check_duplicate(self, ctx: Context, flow: Flow, turn: Turn) -> None:
        assert turn.state is not None
        state = turn.state
        answers = state["answers"]
        kel = answers.get("kelurahan")
        if not isinstance(kel, dict):
            return
        nik, kk = answers.get("kepala_nik"), answers.get("no_kk")
        nik_hash = nik.get("hash") if isinstance(nik, dict) else None
        kk_hash = kk.get("hash") if isinstance(kk, dict) else None
        if not nik_hash and not kk_hash:
            return
        flow_ctx = state.setdefault("ctx", {})
        # Look up once per (kelurahan, NIK, KK), not on every answer.
        signature = notice_digest(f"{kel['code']}|{nik_hash}|{kk_hash}")[:16]
        if flow_ctx.get("dup_checked") == signature:
            return
        flow_ctx["dup_checked"] = signature
        found = await VolunteerRepo(ctx.tx.session).find_duplicate(kel["code"], nik_hash,
                                                                   kk_hash)
        previous = flow_ctx.get("duplicate")
        if found is None:
            if previous is not None:
                # The number was corrected: the question about an update goes away.
                flow_ctx.pop("duplicate")
                refreshed = self.d.engine.refresh(flow, state)
                turn.state, turn.prompt = refreshed.state, refreshed.prompt
            return
        earlier = found.assessment
        if previous is not None and previous.get("id") == earlier.id:
            previous["by"] = found.by  # the same record, now found by the other number
            return
        flow_ctx["duplicate"] = {"id": earlier.id, "ref": earlier.ref, "by": found.by,
                                 "at": earlier.created_at.isoformat()}
        answers.pop("pembaruan", None)
        warning = T("asm.duplicate", number=T(f"asm.duplicate.{found.by}"), ref=earlier.ref,
                    kelurahan=kel["name"], when=earlier.created_at)
        refreshed = self.d.engine.refresh(flow, state, [warning])
        turn.state, turn.prompt = refreshed.state, refreshed.prompt
        await ctx.tx.audit.add(_actor(ctx.contact), "assessment.duplicate_warned", ctx.now,
                               subject=earlier.ref)

    async def _save_assessment(self, ctx: Context, answers: dict[str, Any]) -> list[T]:
        meta = answers.pop("_meta", {})
        flow_ctx: dict[str, Any] = meta.get("ctx", {})
        times: dict[str, Any] = meta.get("times", {})
        repo = VolunteerRepo(ctx.tx.session)
        actor = _actor(ctx.contact)
        consent = {
            "contact_id": ctx.contact.id, "subject": "rumah_tangga",
            "notice_version": NOTICE_VERSION, "language": ctx.lang,
            "channel": ctx.contact.channel,
        }
        if not consent_given(answers):
            await repo.add_consent(**consent, scope="umum", granted=False,
                                   notice_sha256=self._notice_hash(ctx.lang, NOTICE_KEY),
                                   at=_parse_time(times.get("persetujuan"), ctx.now))
            await ctx.tx.audit.add(actor, "assessment.consent_refused", ctx.now,
                                   subject=actor, details={"notice": NOTICE_VERSION})
            return [T("asm.refused")]
        duplicate = flow_ctx.get("duplicate")
        if answers.get("pembaruan") is not None and not is_yes(answers["pembaruan"]) and duplicate:
            await ctx.tx.audit.add(actor, "assessment.duplicate_stopped", ctx.now,
                                   subject=duplicate["ref"])
            return [T("asm.duplicate_stopped", ref=duplicate["ref"])]
        head = answers["kepala_nik"]
        # No card number: recorded with its reason (alasan_tanpa_kk), never blocked.
        kk: dict[str, Any] = answers.get("no_kk") or {}
        if "sealed" not in head or (kk and "sealed" not in kk):
            raise RuntimeError("assessment without sealed identity numbers (no cipher?)")
        members: list[dict[str, Any]] = answers.get("anggota") or []
        identities: list[tuple[str, str, int | None, str]] = [("nik", "kepala", 1, head["hash"])]
        if kk:
            identities.append(("kk", "kk", None, kk["hash"]))
        for position, member in enumerate(members[1:], start=2):
            nik = member.get("nik")
            if isinstance(nik, dict) and nik.get("hash"):
                identities.append(("nik", "anggota", position, nik["hash"]))
        kel = answers["kelurahan"]
        rt_rw = answers.get("rt_rw") or {}
        location = answers.get("lokasi") or {}
        assessment = await repo.add_assessment(
            lambda: self._ref("ASM"), identities,
            contact_id=ctx.contact.id, kelurahan_code=kel["code"], rw=rt_rw.get("rw"),
            rt=rt_rw.get("rt"), head_name=answers.get("kepala_nama"),
            nik_sealed=head["sealed"], nik_hash=head["hash"], nik_masked=head["masked"],
            kk_sealed=kk.get("sealed"), kk_hash=kk.get("hash"), kk_masked=kk.get("masked"),
            household_size=answers["jumlah_art"], member_count=len(members),
            latitude=location.get("latitude"), longitude=location.get("longitude"),
            flags=list(answers.get("kerentanan") or []), answers=answers,
            flow_id=ASSESSMENT.id, flow_version=ASSESSMENT.version,
            consent_version=NOTICE_VERSION,
            specific_consent=is_yes(answers.get("persetujuan_khusus")),
            duplicate_of=duplicate["id"] if duplicate else None,
            created_at=ctx.now, updated_at=ctx.now)
        await repo.add_consent(**consent, assessment_id=assessment.id, scope="umum",
                               granted=True,
                               notice_sha256=self._notice_hash(ctx.lang, NOTICE_KEY),
                               at=_parse_time(times.get("persetujuan"), ctx.now))
        await repo.add_consent(**consent, assessment_id=assessment.id, scope="spesifik",
                               granted=is_yes(answers.get("persetujuan_khusus")),
                               notice_sha256=self._notice_hash(ctx.lang, NOTICE_KEY),
                               at=_parse_time(times.get("persetujuan"), ctx.now))
        # One record per keluarga; keluarga of one house share the first one's reference.
        house_ref = str(flow_ctx.get("rumah") or assessment.ref)
        kk_number = int(flow_ctx.get("kk_ke") or 1)
        # Onto the stored answers (identity numbers already reduced there), not the raw ones.
        assessment.answers = {**assessment.answers, "rumah": house_ref, "kk_ke": kk_number}
        total = families_in_house(answers)
        ctx.data(NAME).pop("next_kk", None)
        if kk_number < total:
            ctx.data(NAME)["next_kk"] = {"rumah": house_ref, "kk_ke": kk_number + 1,
                                         "house": house_answers(answers)}
        await ctx.tx.audit.add(actor, "assessment.created", ctx.now, subject=assessment.ref,
                               details={"kelurahan": kel["code"], "members": len(members),
                                        "duplicate_of": duplicate["ref"] if duplicate else None})
        texts = [T("asm.saved", ref=assessment.ref)]
        flags = answers.get("kerentanan") or []
        if flags:
            texts.append(T("asm.saved_flags",
                           flags=[T(f"assessment.kerentanan.{f}") for f in flags]))
        if duplicate:
            texts.append(T("asm.saved_update", ref=duplicate["ref"]))
        if kk_number < total:
            texts.append(T("asm.next_kk", n=kk_number + 1, total=total))
        texts.append(T("asm.next_hint"))
        return texts

    # -- the data subject ------------------------------------------------------------------

    async def _cmd_my_data(self, ctx: Context, args: str) -> None:
        """``data saya``: what we hold about this contact (masked) and what we did with it."""
        contact = ctx.contact
        repo = VolunteerRepo(ctx.tx.session)
        actor = _actor(contact)
        lines: list[T] = [
            T("dsr.mine.intro"),
            T("dsr.mine.name", name=contact.name or "-"),
            T("dsr.mine.channel", channel=T(f"channel.{contact.channel}")),
            T("dsr.mine.phone", phone=_mask_phone(contact.phone)),
            T("dsr.mine.role", role=T(f"role.{contact.role}")),
        ]
        if contact.role == VOLUNTEER and contact.volunteer_type:
            lines.append(T("dsr.mine.volunteer_type",
                           kind=T(f"volunteer_registration.jenis.{contact.volunteer_type}")))
        for record in await repo.consents_of(contact.id):
            key = "dsr.mine.consent_withdrawn" if record.withdrawn_at else (
                "dsr.mine.consent_yes" if record.granted else "dsr.mine.consent_no")
            lines.append(T(key, version=record.notice_version, when=record.at))
        for app in await repo.applications_of(contact.id):
            lines.append(T("dsr.mine.application", status=T(f"vol.status.{app.status}"),
                           when=app.created_at))
        complaints = await ctx.tx.complaints.for_contact(contact.id, limit=50)
        lines.append(T("dsr.mine.complaints", n=len(complaints)))
        if contact.role in OFFICERS:
            lines.append(T("dsr.mine.assessments", n=await repo.count_assessments_by(contact.id)))
        for request in await repo.requests_of(contact.id, limit=5):
            lines.append(T("dsr.mine.request", ref=request.ref,
                           kind=T(f"dsr.kind.{request.kind}"),
                           status=T(f"dsr.status.{request.status}"), due=request.due_at))
        lines.append(T("dsr.mine.household"))
        log_entries = await repo.processing_log(actor, actor, limit=10)
        if log_entries:
            lines.append(T("dsr.mine.log_intro"))
            for entry in log_entries:
                what: T | str = T(f"audit.{entry.action}") if self.d.translator.has(
                    f"audit.{entry.action}") else entry.action
                lines.append(T("dsr.mine.log_line", when=entry.at, what=what))
        lines.append(T("dsr.mine.rights"))
        ctx.say(*lines, choices=[(RequestButton("start", "ubah").pack(), T("dsr.button.ubah")),
                                 (RequestButton("start", "hapus").pack(), T("dsr.button.hapus")),
                                 (RequestButton("start", "tarik").pack(), T("dsr.button.tarik"))])
        await ctx.tx.audit.add(actor, "data.viewed", ctx.now, subject=actor)

    def _starter(self, flow_id: str) -> Callable[[Context, str], Awaitable[None]]:
        async def start(ctx: Context, args: str) -> None:
            await self._start_request(ctx, flow_id)

        return start

    async def _start_request(self, ctx: Context, flow_id: str) -> None:
        kind = REQUEST_KINDS[flow_id]
        for request in await VolunteerRepo(ctx.tx.session).requests_of(ctx.contact.id):
            if request.kind == kind and request.status == "baru":
                self._refuse(ctx, T("dsr.already_open", ref=request.ref, due=request.due_at))
                return
        await ctx.start_or_offer(flow_id)

    def _request_saver(self, kind: str) -> Callable[[Context, dict[str, Any]],
                                                    Awaitable[list[T]]]:
        async def save(ctx: Context, answers: dict[str, Any]) -> list[T]:
            return await self._save_request(ctx, answers, kind)

        return save

    async def _save_request(self, ctx: Context, answers: dict[str, Any], kind: str) -> list[T]:
        contact = ctx.contact
        repo = VolunteerRepo(ctx.tx.session)
        due = ctx.now + self.timing.request_due
        request = await repo.add_request(
            lambda: self._ref("DSR"), contact_id=contact.id, kind=kind,
            details=answers.get("rincian") or answers.get("alasan"), status="baru",
            created_at=ctx.now, due_at=due)
        texts = [T("dsr.created", ref=request.ref, kind=T(f"dsr.kind.{kind}"), due=due)]
        if kind == "tarik":
            # Withdrawal takes effect at once (UU PDP art. 9); deletion follows the request.
            await repo.withdraw_consents(contact.id, ctx.now)
            contact.consent_version = None
            contact.consent_at = None
            texts.append(T("dsr.withdrawn_now"))
        await ctx.tx.audit.add(_actor(contact), f"data_request.{kind}", ctx.now,
                               subject=_actor(contact), details={"ref": request.ref})
        await self._tell_coordinators(
            ctx.tx, ctx.now, self._request_text(request, contact),
            key=f"dsr-new:{request.id}",
            choices=[(RequestButton("done", str(request.id)).pack(), T("dsr.done"))])
        return texts

    def _request_text(self, request: DataRequest, contact: ContactState | Contact) -> T:
        return T("dsr.new", ref=request.ref, kind=T(f"dsr.kind.{request.kind}"),
                 who=contact.name or "-", channel=T(f"channel.{contact.channel}"),
                 details=request.details or "-", due=request.due_at)

    async def _cmd_requests(self, ctx: Context, args: str) -> None:
        """``/permintaan_data``: open requests, earliest deadline first."""
        requests = await VolunteerRepo(ctx.tx.session).open_requests(limit=5)
        if not requests:
            self._refuse(ctx, T("dsr.none_open"))
            return
        lines: list[T] = [T("dsr.open_intro")]
        for request in requests:
            contact = await ctx.tx.contacts.get(request.contact_id)
            if contact is not None:
                lines.append(self._request_text(request, contact))
        ctx.say(*lines, choices=[(RequestButton("done", str(r.id)).pack(),
                                  T("dsr.done_ref", ref=r.ref)) for r in requests])

    async def _on_dsr_button(self, ctx: Context, button: RequestButton) -> None:
        if button.action == "start":
            flow_id = {"ubah": CORRECTION_ID, "hapus": ERASURE_ID, "tarik": WITHDRAWAL_ID}.get(
                button.arg)
            if flow_id is not None:
                ctx.session.awaiting = None
                await self._start_request(ctx, flow_id)
                return
        if ctx.contact.role != COORDINATOR:
            self._refuse(ctx, T("bot.not_allowed"))
            return
        if button.action == "list":
            await self._cmd_requests(ctx, "")
        elif button.action == "done" and button.arg.isdigit():
            await self._close_request(ctx, int(button.arg))
        else:
            self._refuse(ctx, T("flow.stale_button"))

    async def _close_request(self, ctx: Context, request_id: int) -> None:
        repo = VolunteerRepo(ctx.tx.session)
        request = await repo.request(request_id)
        if request is None:
            self._refuse(ctx, T("flow.stale_button"))
            return
        if request.status != "baru":
            self._refuse(ctx, T("dsr.already_closed", ref=request.ref))
            return
        request.status = "selesai"
        request.closed_at = ctx.now
        request.closed_by = ctx.contact.id
        requester = await ctx.tx.contacts.get(request.contact_id)
        if request.kind == "hapus":
            await erase_data_subject(ctx.tx, request.contact_id, ctx.now,
                                     actor=_actor(ctx.contact))
        await ctx.tx.audit.add(_actor(ctx.contact), "data_request.closed", ctx.now,
                               subject=_actor(requester) if requester else request.ref,
                               details={"ref": request.ref, "kind": request.kind})
        await self.d.notify(ctx.tx, request.contact_id,
                            T("dsr.erased" if request.kind == "hapus" else "dsr.closed",
                              ref=request.ref, kind=T(f"dsr.kind.{request.kind}")),
                            now=ctx.now, dedupe_key=f"dsr-closed:{request.id}")
        ctx.say(T("dsr.closed_ok", ref=request.ref))
        ctx.reask()

    async def sweep(self, db: Database, now: datetime) -> dict[str, int]:
        """Remind coordinators of requests near their deadline, alert on overdue ones, and
        drop drafts nobody touched for a month. Idempotent: rows remember what was sent."""
        counts = {"reminded": 0, "overdue": 0, "drafts": 0}
        async with db.transaction() as tx:
            repo = VolunteerRepo(tx.session)
            for request in await repo.requests_overdue(now):
                await self._tell_coordinators(
                    tx, now, T("dsr.overdue", ref=request.ref,
                               kind=T(f"dsr.kind.{request.kind}"), due=request.due_at),
                    key=f"dsr-overdue:{request.id}",
                    choices=[(RequestButton("done", str(request.id)).pack(),
                              T("dsr.done"))])
                request.overdue_at = now
                request.reminded_at = request.reminded_at or now
                counts["overdue"] += 1
            for request in await repo.requests_to_remind(now + self.timing.remind_before):
                hours = max(1, int((request.due_at - now).total_seconds() // 3600))
                await self._tell_coordinators(
                    tx, now, T("dsr.reminder", ref=request.ref,
                               kind=T(f"dsr.kind.{request.kind}"), due=request.due_at,
                               hours=hours),
                    key=f"dsr-remind:{request.id}",
                    choices=[(RequestButton("done", str(request.id)).pack(),
                              T("dsr.done"))])
                request.reminded_at = now
                counts["reminded"] += 1
            counts["drafts"] = await repo.forget_drafts_before(now - self.timing.draft_keep)
        if counts["reminded"] or counts["overdue"]:
            self._wake()
        return counts


# -- export (``warga export assessments``) --------------------------------------------------

HOUSE_TITLE = "Nomor rumah (asesmen KK pertama di rumah ini)"


def export_columns(lang: str = "id") -> tuple[list[Any], list[Any], list[Any]]:
    """Household (keluarga), member and house columns of the export, built from the flow
    definition."""
    from storage.export_assessments import Column

    tr = library.translator()

    def coded(step: Step, prefix: str = "") -> list[Column]:
        labels = {o.value: tr(lang, o.label) for o in step.choices}
        title = tr(lang, step.title)
        multi = step.type in (StepType.SELECT_MULTIPLE, StepType.CALCULATE)
        cols = [Column(step.name, title, f"{prefix}{step.name}", kind="multi" if multi else
                       "code"),
                Column(f"{step.name}_label", f"{title} (label)", f"{prefix}{step.name}",
                       kind="multi_label" if multi else "label", labels=labels)]
        if multi:
            cols += [Column(f"{step.name}.{value}", f"{title}: {label}",
                            f"{prefix}{step.name}", kind="has", value=value)
                     for value, label in labels.items()]
        return cols

    def yes_no(step: Step) -> bool:
        # A yes/no question, or a calculation that says yes or no (416a from the work).
        return step.type == StepType.YES_NO or {o.value for o in step.choices} == {"yes", "no"}

    def plain(step: Step, prefix: str = "") -> list[Column]:
        title = tr(lang, step.title)
        kinds = {StepType.INTEGER: "int", StepType.DATE: "text",
                 StepType.NIK: "nik", StepType.KK: "kk", StepType.TEXT: "text",
                 StepType.IMAGE: "media", StepType.CALCULATE: "int"}
        return [Column(step.name, title, f"{prefix}{step.name}",
                       kind="bool" if yes_no(step) else kinds.get(step.type, "text"))]

    households: list[Column] = [
        Column("ref", "Nomor asesmen", "ref", kind="row"),
        Column("rumah", HOUSE_TITLE, "rumah", kind="house"),
        Column("kk_ke", "KK ke- di rumah ini", "kk_ke", kind="house_kk"),
        Column("dibuat", "Waktu (WIB)", "created_at", kind="row"),
        Column("relawan_id", "ID relawan", "contact_id", kind="row"),
        Column("relawan_kanal", "Kanal relawan", "channel", kind="row"),
        Column("relawan_jenis", "Jenis relawan", "volunteer_type", kind="row"),
        Column("kode_kelurahan", "Kode kelurahan (Kemendagri)", "kelurahan_code", kind="row"),
        Column("kelurahan", "Kelurahan", "kelurahan_code", kind="label",
               labels=KELURAHAN_NAMES),
        Column("rw", "RW", "rw", kind="row"),
        Column("rt", "RT", "rt", kind="row"),
        Column("patokan", tr(lang, "assessment.patokan.title"), "patokan", kind="text"),
        Column("kepala_nama", tr(lang, "assessment.kepala_nama.title"), "head_name", kind="row"),
        Column("nik_kepala", tr(lang, "assessment.kepala_nik.title"), "nik", kind="row_nik"),
        Column("no_kk", tr(lang, "assessment.no_kk.title"), "kk", kind="row_kk"),
        Column("jumlah_art", tr(lang, "assessment.jumlah_art.title"), "household_size", kind="row"),
        Column("jumlah_anggota_tercatat", "Anggota tercatat", "member_count", kind="row"),
    ]
    skip = {"persetujuan", "persetujuan_khusus", "kelurahan", "kepala_nama", "kepala_nik",
            "no_kk", "rt_rw", "patokan", "jumlah_art", "anggota", "lokasi", "pembaruan",
            # the roster only fills the members' relationships and the size: both exported
            "susunan"}
    for step in ASSESSMENT.steps:
        if step.name in skip:
            continue
        households += coded(step) if step.choices and not yes_no(step) else plain(step)
    households += [
        Column("latitude", "Lintang", "latitude", kind="row"),
        Column("longitude", "Bujur", "longitude", kind="row"),
        Column("persetujuan_khusus", tr(lang, "assessment.persetujuan_khusus.title"),
               "specific_consent", kind="row_bool"),
        Column("versi_pemberitahuan", "Versi pemberitahuan", "consent_version", kind="row"),
        Column("pembaruan_dari", "Pembaruan dari", "duplicate_ref", kind="row"),
        Column("versi_formulir", "Versi formulir", "flow_version", kind="row"),
    ]
    group = ASSESSMENT.step("anggota")
    assert group.repeat is not None
    members: list[Column] = [
        Column("ref", "Nomor asesmen", "ref", kind="row"),
        Column("no_urut", "No. urut", "position", kind="row"),
    ]
    for child in group.repeat.children:
        members += coded(child) if child.choices and not yes_no(child) else plain(child)
    # The house block (what the next keluarga of the house does not answer again) and what
    # is calculated from it only, in the columns the households sheet gives them.
    in_row = {"kelurahan": ("kelurahan_code",), "rt_rw": ("rw", "rt"),
              "lokasi": ("latitude", "longitude")}
    sources = {source for name in HOUSE_FIELDS for source in in_row.get(name, (name,))}
    sources |= {step.name for step in ASSESSMENT.steps if step.calculation is not None
                and step.calculation.refs() and step.calculation.refs() <= set(HOUSE_FIELDS)}
    sources.add("luas_lantai")  # floor_area() of luas_lantai_ukuran: a function, no refs
    stated = [c for c in households if c.source == "jumlah_kk_rumah"]
    houses: list[Column] = [
        Column("rumah", HOUSE_TITLE, "rumah", kind="house"),
        Column("jumlah_kk_tercatat", "KK tercatat di rumah ini", "kk_count", kind="row"),
        *stated,
        *[c for c in households if c.source in sources and c not in stated],
    ]
    return households, members, houses


async def run_assessment_export(settings: Settings, fmt: Literal["csv", "xlsx"], out: Path, *,
                                full_ids: bool = False, requested_by: str | None = None,
                                reason: str | None = None) -> int:
    """``warga export assessments``: masked by default; full NIK/KK only for a named
    coordinator, written to the audit log before the file is."""
    from storage.export_assessments import export_assessments
    from storage.migrate import upgrade

    await upgrade(settings.database_url)
    db = Database(settings.database_url)
    cipher = settings.identity_cipher()
    show = sys.stderr.isatty()
    try:
        if full_ids:
            channel, _, external_id = (requested_by or "").partition(":")
            async with db.transaction() as tx:
                who = await tx.contacts.get_by_external(channel, external_id)
                if who is None or who.role != COORDINATOR:
                    print("warga: full NIK/KK numbers are exported only for a coordinator: "
                          "--requested-by CHANNEL:ID of a coordinator", file=sys.stderr)
                    return 2
                await tx.audit.add(_actor(who), "export.full_identity_numbers",
                                   datetime.now(tz=settings.tz),
                                   subject="assessments",
                                   details={"file": str(out), "format": fmt,
                                            "reason": reason or ""})
        async with db.transaction() as tx:
            total = await VolunteerRepo(tx.session).count_assessments()

        def progress(done: int) -> None:
            if show:
                sys.stderr.write("\r" + progress_bar(done, total))
                sys.stderr.flush()

        households, members, houses = export_columns()
        result = await export_assessments(
            db, out, fmt, households=households, members=members, houses=houses,
            reveal=cipher.decrypt if full_ids else None, progress=progress,
            tz=settings.tz)
    finally:
        await db.close()
    if show:
        sys.stderr.write("\n")
    files = ", ".join(str(p) for p in result.files)
    print(f"{result.households} households, {result.members} members written to {files}"
          + (" (full NIK/KK, audited)" if full_ids else " (NIK/KK masked)"))
    return 0


def progress_bar(done: int, total: int, width: int = 30) -> str:
    """'[##########--------------------]  33% 1.000/3.000 rumah tangga'."""
    share = done / total if total else 1.0
    filled = int(width * min(1.0, share))
    return (f"[{'#' * filled}{'-' * (width - filled)}] {share:4.0%} "
            f"{done:,}/{total:,} rumah tangga".replace(",", "."))
