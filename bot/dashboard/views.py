"""The coordinators' dashboard: server-rendered pages (aiohttp + Jinja2), no build step.

Every page needs a session (else: 303 to the login notice); every form carries a CSRF
token bound to the session; every response says no caching, no framing, no referrer (a
login link must not leak through a Referer header), and a Content Security Policy that
allows only our own scripts and the configured map tiles. Text a resident typed is shown
with any 16-digit number masked (``finalize``), so no page ever shows a full NIK or KK.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from aiohttp import BodyPartReader, web
from markupsafe import Markup

import bot.dashboard.auth as auth
from bot.broadcast import audience_counts_text, send_free_form
from bot.dashboard import composer
from bot.dashboard.charts import daily_bars
from bot.edge import ascii_or_none
from bot.exports import export
from bot.features.activities import ActivitiesFeature
from bot.features.tickets import (
    KELURAHAN_NAMES,
    Actor,
    Proof,
    TicketError,
    TicketsFeature,
    actor_names,
    answer_lines,
    deadline_day,
    map_link,
    photo_ref,
    place_label,
    reporter_phone,
)
from bot.services import SERVICES, Services
from conversations.activity import audience_text, broadcast_message
from conversations.complaint import WATER_CATEGORIES
from conversations.i18n import LANGUAGES, T, format_day, format_when
from conversations.privacy import has_id, identity_label, mask_ids
from conversations.roles import COORDINATOR, VOLUNTEER
from conversations.tickets import PREFIXES
from conversations.tickets_flow import (
    CLOSED,
    DONE,
    STATUSES,
    next_statuses,
)
from storage import dashboard_sources
from storage.repos_activities import ActivityRepo
from storage.repos_tickets import TicketFilter, TicketRepo

if TYPE_CHECKING:
    import jinja2

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PAGE_SIZE = 50
# An urlencoded form of ours (the longest: a 900-character broadcast) is far below this.
FORM_LIMIT = 64 * 1024
CHART_DAYS = 30
# The composer's limits: those of the chat's /siaran message step.
MIN_BROADCAST, MAX_BROADCAST = 3, 900
IMAGE_TYPES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))
# Map markers: the fill says the problem, the ring the status (one hue family each, so
# the two read apart); "other" is every report that is not about water.
CATEGORY_COLOURS = {
    "mati": "#1f77b4", "debit": "#6baed6", "keruh": "#8c564b", "bau": "#9467bd",
    "asin": "#17becf", "bocor": "#ff7f0e", "pompa": "#d62728", "kering": "#bcbd22",
    "tangki": "#2ca02c", "harga": "#e377c2", "tagihan": "#7f7f7f", "rob": "#393b79",
    "lainnya": "#c49c94", "other": "#000000",
}
STATUS_COLOURS = {"diterima": "#5f6b76", "diverifikasi": "#1d4ed8", "diproses": "#f2b705",
                  "selesai": "#1b7f3b", "ditolak": "#b3261e"}
# From this many pins on, pins close together on screen are drawn as one numbered circle.
CLUSTER_FROM = 20
Handler = Callable[["Dashboard", web.Request, "User"], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class User:
    """The signed-in coordinator of a request."""

    contact_id: int
    channel: str
    name: str | None
    session_hash: str
    csrf: str

    @property
    def actor(self) -> Actor:
        return Actor(self.contact_id, self.channel, COORDINATOR, self.name)


def _finalize(value: Any) -> Any:
    """Every value printed in a template: strings lose any full NIK / KK."""
    if isinstance(value, Markup):
        return Markup(mask_ids(str(value)))
    if isinstance(value, str):
        return mask_ids(value)
    return value


def safe_next(target: str) -> str:
    """A redirect target of ours: a path on this site, parsed (browsers read '/\\host',
    '/\t/host' and the like as another site), else '/'."""
    if not target or len(target) > 2000 or "\\" in target or any(
            ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") \
            or parts.path.startswith("//") or "%" in parts.path:
        return "/"
    return target


def tile_origin(url: str) -> str:
    """'https://{s}.tile.example.org/{z}/…' → 'https://*.tile.example.org' for the CSP."""
    if not url:
        return ""
    parts = urlsplit(url.replace("{s}", "a"))
    host = parts.netloc
    if "{s}" in url:
        host = "*." + host.split(".", 1)[1] if "." in host else host
    return f"{parts.scheme}://{host}"


def page(handler: Handler) -> Callable[[Dashboard, web.Request], Awaitable[web.StreamResponse]]:
    """A page that needs a signed-in coordinator: others go to the login notice."""

    @functools.wraps(handler)
    async def wrapped(self: Dashboard, request: web.Request) -> web.StreamResponse:
        user = await self.user(request)
        if user is None:
            raise web.HTTPSeeOther("/masuk", headers=self.security_headers())
        return await handler(self, request, user)

    return wrapped


class Dashboard:
    def __init__(self, feature: TicketsFeature) -> None:
        self.feature = feature
        self.settings = feature.settings
        self._key: bytes | None = None
        self.csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data: {tile_origin(self.settings.map_tile_url)}".rstrip()
            + "; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
        self.secure_cookies = (self.settings.public_url or "").startswith("https://")

    @functools.cached_property
    def env(self) -> jinja2.Environment:
        """The templates, loaded with the first page: the residents' side of the service
        never renders one, so Jinja2 stays out of its memory until a coordinator looks."""
        import jinja2

        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            finalize=_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def routes(self, app: web.Application) -> None:
        add = app.router.add_route
        for method, path, handler in (
            ("GET", "/", self.overview),
            ("GET", "/masuk", self.login_notice),
            ("GET", "/masuk/{token}", self.login_confirm),
            ("POST", "/masuk/{token}", self.login),
            ("POST", "/keluar", self.logout),
            ("POST", "/bahasa", self.language),
            ("GET", "/tiket", self.tickets),
            ("GET", "/tiket/{ticket}", self.ticket),
            ("POST", "/tiket/{ticket}/status", self.ticket_status),
            ("POST", "/tiket/{ticket}/tugaskan", self.ticket_assign),
            ("POST", "/tiket/{ticket}/lepas", self.ticket_unassign),
            ("GET", "/peta", self.map),
            ("GET", "/asesmen", self.assessments),
            ("GET", "/kegiatan", self.activities),
            ("GET", "/siaran", self.broadcasts),
            ("GET", "/siaran/kemajuan.json", self.broadcast_progress),
            ("POST", "/siaran/pratinjau", self.broadcast_preview),
            ("POST", "/siaran/kirim", self.broadcast_send),
            ("GET", "/unduh", self.downloads),
            ("GET", "/unduh/{name}", self.download),
            ("GET", "/media/{media_id}", self.media),
        ):
            add(method, path, handler)
        app.router.add_static("/static/", HERE / "static", append_version=True)

    # -- plumbing ------------------------------------------------------------------------

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = auth.dashboard_key(self.settings)
        return self._key

    @staticmethod
    def services(request: web.Request) -> Services:
        return request.app[SERVICES]

    def security_headers(self) -> dict[str, str]:
        return {
            "Content-Security-Policy": self.csp,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        }

    def redirect(self, location: str) -> web.Response:
        """A 303 that can carry cookies (raised HTTPExceptions are for the rest)."""
        return web.Response(status=303, headers={**self.security_headers(),
                                                 "Location": location})

    def csrf_refused(self) -> web.HTTPForbidden:
        return web.HTTPForbidden(text="CSRF token missing or wrong; reload the page.",
                                 headers=self.security_headers())

    async def user(self, request: web.Request) -> User | None:
        token = ascii_or_none(request.cookies.get(auth.SESSION_COOKIE))
        if not token or len(token) > 100:
            return None
        session_hash = auth.digest(token)
        services = self.services(request)
        async with services.db.transaction() as tx:
            contact = await TicketRepo(tx.session).session_contact(session_hash,
                                                                   services.clock())
        if contact is None:
            return None
        return User(contact.id, contact.channel, contact.name, session_hash,
                    auth.csrf_token(self.key, session_hash))

    def lang(self, request: web.Request) -> str:
        for value in (request.query.get("lang"), request.cookies.get(auth.LANGUAGE_COOKIE)):
            if value in LANGUAGES:
                return value
        return self.settings.locale

    def render(self, request: web.Request, template: str, user: User | None, *,
               status: int = 200, **context: Any) -> web.Response:
        lang = self.lang(request)
        tr = self.services(request).translator

        def _(key: str, **params: Any) -> str:
            return tr(lang, key, **params)

        html = self.env.get_template(template).render(
            _=_, lang=lang, user=user, csrf=user.csrf if user else "", path=request.path,
            when=lambda moment: format_when(moment, lang) if moment else "-",
            day=lambda d: format_day(d, lang) if d else "-",
            status_label=lambda s: tr(lang, f"status.{s}"),
            what=lambda c: tr(lang, f"complaint.kategori.{c.category}") if c.category
            else tr(lang, f"complaint.jenis.{c.report_type}"),
            place=place_label, identity=identity_label, **context,
        )
        return web.Response(text=html, content_type="text/html", status=status,
                            headers=self.security_headers())

    async def form(self, request: web.Request, user: User, *,
                   files: bool = False) -> dict[str, Any]:
        """A posted form, its CSRF token checked before the rest of the body is read.

        Urlencoded forms are size-capped before they are parsed; multipart only where a
        file is expected (``files``), with the token as its first part."""
        if request.content_type == "multipart/form-data":
            if not files:
                raise web.HTTPUnsupportedMediaType(text="this form takes no files",
                                                   headers=self.security_headers())
            return await self._multipart(request, user)
        if request.content_length is None:
            raise web.HTTPLengthRequired(headers=self.security_headers())
        if request.content_length > FORM_LIMIT:
            raise web.HTTPRequestEntityTooLarge(max_size=FORM_LIMIT,
                                                actual_size=request.content_length,
                                                headers=self.security_headers())
        fields: dict[str, Any] = dict(await request.post())
        if not auth.check_csrf(self.key, user.session_hash, fields.get("csrf")):
            raise self.csrf_refused()
        return fields

    async def _multipart(self, request: web.Request, user: User) -> dict[str, Any]:
        """Read a multipart form whose first part is the CSRF token (our forms put it
        first; a browser sends fields in order); a file is kept as bytes, up to the
        media size limit."""
        limit = self.settings.max_media_bytes
        fields: dict[str, Any] = {}
        reader = await request.multipart()
        first = await reader.next()
        token = None
        if isinstance(first, BodyPartReader) and first.name == "csrf" and first.filename is None:
            raw = await first.read_chunk(256)
            token = raw.decode("ascii", "replace") if first.at_eof() else None
        if not auth.check_csrf(self.key, user.session_hash, token):
            raise self.csrf_refused()
        fields["csrf"] = token
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.name:
                continue
            data = bytearray()
            while chunk := await part.read_chunk(64 * 1024):
                data.extend(chunk)
                if len(data) > limit:
                    raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(data))
            if part.filename is not None:
                fields[part.name] = bytes(data)
            else:
                fields[part.name] = data.decode("utf-8", "replace")[:5000]
        return fields

    def _wake(self, request: web.Request) -> None:
        for wake in self.services(request).dispatcher.on_enqueued:
            wake()

    # -- signing in ----------------------------------------------------------------------

    async def login_notice(self, request: web.Request) -> web.StreamResponse:
        if await self.user(request) is not None:
            raise web.HTTPSeeOther("/", headers=self.security_headers())
        return self.render(request, "login_notice.html", None)

    async def login_confirm(self, request: web.Request) -> web.StreamResponse:
        """Show a button rather than sign in on GET: link scanners must not spend links."""
        services = self.services(request)
        token = request.match_info["token"]
        token_hash = auth.check_login_token(self.key, token, services.clock())
        usable = False
        if token_hash is not None:
            async with services.db.transaction() as tx:
                row = await TicketRepo(tx.session).login_token(token_hash)
            usable = row is not None and row.used_at is None
        if not usable:
            return self.render(request, "login_refused.html", None, status=403)
        pre = secrets.token_urlsafe(16)
        response = self.render(request, "login_confirm.html", None, token=token,
                               login_csrf=auth.csrf_token(self.key, "pre:" + pre))
        response.set_cookie(auth.PRELOGIN_COOKIE, pre, max_age=int(auth.LOGIN_TTL.total_seconds()),
                            httponly=True, samesite="Lax", secure=self.secure_cookies,
                            path="/masuk")
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        services = self.services(request)
        form = await request.post()
        pre = ascii_or_none(request.cookies.get(auth.PRELOGIN_COOKIE))
        if not auth.check_csrf(self.key, "pre:" + pre if pre else None, form.get("csrf")):
            raise self.csrf_refused()
        now = services.clock()
        token_hash = auth.check_login_token(self.key, request.match_info["token"], now)
        async with services.db.transaction() as tx:
            repo = TicketRepo(tx.session)
            contact_id = await repo.use_login_token(token_hash, now) if token_hash else None
            contact = await repo.contact(contact_id) if contact_id else None
            if contact is None or contact.role != COORDINATOR:
                await tx.audit.add("dashboard", "dashboard.login_refused", now)
                refused = True
            else:
                refused = False
                cookie, session_hash = auth.new_session_token()
                await repo.add_session(session_hash, contact.id, now, now + auth.SESSION_TTL)
                await tx.audit.add(f"{contact.channel}:{contact.id}", "dashboard.login", now)
        if refused:
            return self.render(request, "login_refused.html", None, status=403)
        response = self.redirect("/")
        response.set_cookie(auth.SESSION_COOKIE, cookie,
                            max_age=int(auth.SESSION_TTL.total_seconds()), httponly=True,
                            samesite="Lax", secure=self.secure_cookies, path="/")
        response.del_cookie(auth.PRELOGIN_COOKIE, path="/masuk")
        return response

    @page
    async def logout(self, request: web.Request, user: User) -> web.StreamResponse:
        await self.form(request, user)
        services = self.services(request)
        async with services.db.transaction() as tx:
            await TicketRepo(tx.session).end_session(user.session_hash)
            await tx.audit.add(user.actor.label, "dashboard.logout", services.clock())
        response = self.redirect("/masuk")
        response.del_cookie(auth.SESSION_COOKIE, path="/")
        return response

    @page
    async def language(self, request: web.Request, user: User) -> web.StreamResponse:
        form = await self.form(request, user)
        lang = str(form.get("lang") or "")
        response = self.redirect(safe_next(str(form.get("next") or "/")))
        if lang in LANGUAGES:
            response.set_cookie(auth.LANGUAGE_COOKIE, lang, max_age=365 * 86400,
                                httponly=True, samesite="Lax", secure=self.secure_cookies)
        return response

    # -- overview ------------------------------------------------------------------------

    @page
    async def overview(self, request: web.Request, user: User) -> web.StreamResponse:
        services = self.services(request)
        now = services.clock()
        tz = self.feature.tz
        today = now.astimezone(tz).date()
        first = today - timedelta(days=CHART_DAYS - 1)
        since = datetime.combine(first, time(0), tzinfo=tz)
        async with services.db.transaction() as tx:
            repo = TicketRepo(tx.session)
            by_status = dict(await repo.open_counts("status"))
            by_category = await repo.open_counts("category")
            by_rw = await repo.open_counts("rw")
            by_type = await repo.open_counts("report_type")
            tickets = await repo.open_primaries()
            histories = await repo.histories([c.id for c in tickets])
            reported = await repo.created_since(since, "air")
        breaches = []
        for complaint in tickets:
            sla = self.feature.sla(complaint, histories[complaint.id])
            if sla.overdue(now):
                breaches.append((complaint, sla, deadline_day(sla, tz)))
        breaches.sort(key=lambda b: b[1].due_at or now)
        per_day = {first + timedelta(days=i): 0 for i in range(CHART_DAYS)}
        for moment in reported:
            local = moment.astimezone(tz).date()
            if local in per_day:
                per_day[local] += 1
        lang = self.lang(request)
        tr = services.translator
        chart = daily_bars(sorted(per_day.items()), tr(lang, "dash.overview.chart_title"),
                           tr(lang, "dash.overview.chart_empty"))
        return self.render(
            request, "overview.html", user,
            by_status=[(s, by_status.get(s, 0)) for s in STATUSES if s not in CLOSED],
            by_category=by_category, by_rw=by_rw, by_type=by_type,
            open_total=sum(by_status.values()), breaches=breaches, chart=chart,
            water_total=sum(per_day.values()),
        )

    # -- tickets -------------------------------------------------------------------------

    def _filter(self, request: web.Request) -> tuple[TicketFilter, bool, dict[str, str]]:
        q = request.query
        status = q.get("status", "open")
        if status not in (*STATUSES, "open", "all"):
            status = "open"
        water = {o.value for o in WATER_CATEGORIES}
        category = q.get("category") if q.get("category") in water else None
        rw = q.get("rw", "").strip()
        rw = rw.zfill(3) if rw.isdigit() and len(rw) <= 3 else None
        kind = q.get("type") if q.get("type") in PREFIXES else None
        kel = q.get("kelurahan") if q.get("kelurahan") in KELURAHAN_NAMES else None
        query = (q.get("q") or "").strip()[:100] or None
        # A typed NIK / No. KK finds nothing (no search narrows a number) and is not
        # echoed back: the form shows the placeholder.
        nothing = query is not None and has_id(query)
        if nothing and query is not None:
            query = mask_ids(query)
        late = q.get("late") == "1"
        chosen = {"status": status, "category": category or "", "rw": rw or "",
                  "type": kind or "", "kelurahan": kel or "", "q": query or "",
                  "late": "1" if late else ""}
        return (TicketFilter(status=None if status == "all" else status, report_type=kind,
                             category=category, rw=rw, kelurahan_code=kel,
                             query=None if nothing else query, nothing=nothing),
                late, chosen)

    @page
    async def tickets(self, request: web.Request, user: User) -> web.StreamResponse:
        services = self.services(request)
        now = services.clock()
        f, late, chosen = self._filter(request)
        try:
            page_no = max(1, min(10_000, int(request.query.get("page", "1"))))
        except ValueError:
            page_no = 1
        async with services.db.transaction() as tx:
            repo = TicketRepo(tx.session)
            if late:
                rows, _ = await repo.page(f, offset=0, limit=5000)
            else:
                rows, total = await repo.page(f, offset=(page_no - 1) * PAGE_SIZE,
                                              limit=PAGE_SIZE)
            histories = await repo.histories([c.id for c in rows])
            slas = {c.id: self.feature.sla(c, histories[c.id]) for c in rows}
            if late:
                rows = [c for c in rows if slas[c.id].overdue(now)]
                total = len(rows)
                rows = rows[(page_no - 1) * PAGE_SIZE: page_no * PAGE_SIZE]
            ids = [c.id for c in rows]
            linked = await repo.linked_counts(ids)
            follows = await repo.primaries_of(ids)
            primary_tickets = await repo.tickets_by_id(list(set(follows.values())))
            values = await repo.filter_values()
        pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)

        def page_link(n: int) -> str:
            return "/tiket?" + urlencode({**{k: v for k, v in chosen.items() if v}, "page": n})

        return self.render(
            request, "tickets.html", user, rows=rows, slas=slas, now=now, linked=linked,
            follows={cid: primary_tickets.get(pid, "") for cid, pid in follows.items()},
            chosen=chosen, values=values, total=total, page_no=page_no, pages=pages,
            page_link=page_link, statuses=STATUSES, categories=WATER_CATEGORIES,
            kinds=list(PREFIXES), kelurahan=KELURAHAN_NAMES,
            deadline=lambda sla: deadline_day(sla, self.feature.tz),
        )

    async def _ticket_context(self, request: web.Request, complaint_ticket: str
                              ) -> dict[str, Any]:
        services = self.services(request)
        async with services.db.transaction() as tx:
            repo = TicketRepo(tx.session)
            complaint = await repo.by_ticket(complaint_ticket)
            if complaint is None:
                raise web.HTTPNotFound(text="ticket not found", headers=self.security_headers())
            group = await repo.group(complaint.id)
            primary = group[0]
            histories = await repo.histories(list({complaint.id, primary.id}))
            reporter = await repo.contact(complaint.contact_id)
            assignees = list(await repo.assignees(primary.id))
            volunteers = [v for v in await repo.people(VOLUNTEER)
                          if v.id not in {a.id for a in assignees}]
            closures = list(await repo.closures(complaint.id))
            ref = photo_ref(complaint)
            photo = await repo.media(reporter.channel, ref) if ref and reporter else None
            history = histories[complaint.id]
            names = await actor_names(repo, history, complaint.contact_id)
        sla = self.feature.sla(primary, histories[primary.id])
        lang = self.lang(request)
        tr = services.translator
        located = complaint.latitude is not None and complaint.longitude is not None
        return {
            "complaint": complaint, "primary": primary, "group": group,
            "history": history, "reporter": reporter,
            "who": {label: tr(lang, name) if not isinstance(name, str) else name
                    for label, name in names.items()},
            "answers": [(tr.value(lang, line.params["title"]), tr.value(lang, line.params["value"]))
                        for line in answer_lines(complaint)],
            "reporter_phone": reporter_phone(complaint, reporter),
            "assignees": assignees, "volunteers": volunteers, "closures": closures,
            "photo": photo, "photo_pending": ref is not None and photo is None,
            "map_url": map_link(complaint.latitude, complaint.longitude)  # type: ignore[arg-type]
            if located else None,
            "sla": sla, "sla_day": deadline_day(sla, self.feature.tz),
            "overdue": sla.overdue(services.clock()),
            "actions": next_statuses(primary.status, COORDINATOR),
            "kelurahan": KELURAHAN_NAMES,
        }

    @page
    async def ticket(self, request: web.Request, user: User) -> web.StreamResponse:
        context = await self._ticket_context(request, request.match_info["ticket"])
        done = request.query.get("ok", "")
        return self.render(request, "ticket.html", user, error=None,
                           done=done if done in ("status", "assigned", "unassigned") else "",
                           **context)

    @page
    async def ticket_status(self, request: web.Request, user: User) -> web.StreamResponse:
        form = await self.form(request, user, files=True)
        services = self.services(request)
        ticket = request.match_info["ticket"]
        target = str(form.get("status") or "")
        note = mask_ids(str(form.get("note") or "").strip()[:1000]) or None
        photo = form.get("foto")
        now = services.clock()
        error: str | None = None
        lang = self.lang(request)
        proof: Proof | None = None
        if isinstance(photo, bytes) and photo:
            if target != DONE:
                error = services.translator(lang, "dash.ticket.photo_only_done")
            else:
                proof = await self._keep_upload(request, photo, now)
                if proof is None:
                    error = services.translator(lang, "dash.ticket.photo_bad")
        if error is None:
            try:
                async with services.db.transaction() as tx:
                    complaint = await TicketRepo(tx.session).by_ticket(ticket)
                    if complaint is None:
                        raise web.HTTPNotFound(text="ticket not found")
                    await self.feature.change_status(
                        tx, complaint, target, user.actor, now, note=note, proof=proof,
                        expected=str(form.get("expected") or ""),
                    )
            except TicketError as err:
                error = services.translator(lang, err.message)
        if error is not None:
            context = await self._ticket_context(request, ticket)
            return self.render(request, "ticket.html", user, status=409, error=error,
                               done="", **context)
        self._wake(request)
        raise web.HTTPSeeOther(f"/tiket/{ticket}?ok=status", headers=self.security_headers())

    async def _keep_upload(self, request: web.Request, data: bytes,
                           now: datetime) -> Proof | None:
        """Keep an uploaded proof photo like a chat photo: bytes on disk, a media row."""
        mime = next((m for magic, m in IMAGE_TYPES if data.startswith(magic)), None)
        if mime is None:
            return None
        services = self.services(request)
        sha = hashlib.sha256(data).hexdigest()
        folder = services.dispatcher.media_dir
        path = folder / sha
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            await asyncio.to_thread(partial.write_bytes, data)
            partial.replace(path)
        ref = f"upload:{sha}"
        async with services.db.transaction() as tx:
            await TicketRepo(tx.session).add_media(
                channel="dashboard", ref=ref, unique_id=None, mime_type=mime, sha256=sha,
                size=len(data), path=str(path), created_at=now)
        return Proof("dashboard", ref)

    @page
    async def ticket_assign(self, request: web.Request, user: User) -> web.StreamResponse:
        form = await self.form(request, user)
        services = self.services(request)
        now = services.clock()
        ticket = request.match_info["ticket"]
        try:
            volunteer_id = int(str(form.get("contact_id") or "0"))
        except ValueError:
            volunteer_id = 0
        async with services.db.transaction() as tx:
            repo = TicketRepo(tx.session)
            complaint = await repo.by_ticket(ticket)
            volunteer = await repo.contact(volunteer_id)
            if complaint is None:
                raise web.HTTPNotFound(text="ticket not found")
            if volunteer is None or volunteer.role != VOLUNTEER:
                raise web.HTTPBadRequest(text="not a volunteer")
            primary = (await repo.group(complaint.id))[0]
            if await repo.assign(primary.id, volunteer.id, user.actor.label, now):
                await tx.audit.add(user.actor.label, "ticket.assigned", now,
                                   subject=primary.ticket,
                                   details={"volunteer": f"{volunteer.channel}:{volunteer.id}"})
                await services.dispatcher.notify(
                    tx, volunteer.id,
                    T("ticket.assigned", ticket=primary.ticket, place=place_label(primary)),
                    now=now, choices=[(f"tkv:{primary.id}", primary.ticket)],
                    dedupe_key=f"ticket:assigned:{primary.id}:{volunteer.id}:{now.isoformat()}",
                )
        self._wake(request)
        raise web.HTTPSeeOther(f"/tiket/{ticket}?ok=assigned", headers=self.security_headers())

    @page
    async def ticket_unassign(self, request: web.Request, user: User) -> web.StreamResponse:
        form = await self.form(request, user)
        services = self.services(request)
        now = services.clock()
        ticket = request.match_info["ticket"]
        try:
            volunteer_id = int(str(form.get("contact_id") or "0"))
        except ValueError:
            volunteer_id = 0
        async with services.db.transaction() as tx:
            repo = TicketRepo(tx.session)
            complaint = await repo.by_ticket(ticket)
            if complaint is None:
                raise web.HTTPNotFound(text="ticket not found")
            primary = (await repo.group(complaint.id))[0]
            if await repo.unassign(primary.id, volunteer_id):
                await tx.audit.add(user.actor.label, "ticket.unassigned", now,
                                   subject=primary.ticket, details={"volunteer": volunteer_id})
        raise web.HTTPSeeOther(f"/tiket/{ticket}?ok=unassigned", headers=self.security_headers())

    # -- map -----------------------------------------------------------------------------

    @page
    async def map(self, request: web.Request, user: User) -> web.StreamResponse:
        services = self.services(request)
        f, _, chosen = self._filter(request)
        async with services.db.transaction() as tx:
            rows = await TicketRepo(tx.session).with_location(f)
        lang = self.lang(request)
        tr = services.translator
        other = tr(lang, "dash.map.other")
        points = [
            {"ticket": c.ticket, "status": c.status, "label": tr(lang, f"status.{c.status}"),
             "category": c.category if c.category in CATEGORY_COLOURS else "other",
             "what": tr(lang, f"complaint.kategori.{c.category}") if c.category
             else tr(lang, f"complaint.jenis.{c.report_type}"),
             # Rounded (about 10 cm): a float's long tail would read as an identity
             # number to the page's masking and break the embedded JSON.
             "lat": round(c.latitude, 6), "lon": round(c.longitude, 6),  # type: ignore[arg-type]
             "url": f"/tiket/{c.ticket}",
             "place": place_label(c), "coords": f"{c.latitude:.5f}, {c.longitude:.5f}"}
            for c in rows
        ]
        legend = {
            "category": [[tr(lang, o.label), CATEGORY_COLOURS[o.value]]
                         for o in WATER_CATEGORIES if o.value in CATEGORY_COLOURS]
            + [[other, CATEGORY_COLOURS["other"]]],
            "status": [[tr(lang, f"status.{s}"), STATUS_COLOURS[s]] for s in STATUSES],
            "titles": [tr(lang, "dash.map.legend_category"), tr(lang, "dash.map.legend_status"),
                       tr(lang, "dash.map.legend_cluster")],
        }
        data = {"tiles": self.settings.map_tile_url,
                "attribution": tr(lang, "dash.map.attribution"),
                "center": [-6.1045, 106.9286], "points": points,
                "colours": {"category": CATEGORY_COLOURS, "status": STATUS_COLOURS},
                "legend": legend, "cluster_from": CLUSTER_FROM}
        return self.render(request, "map.html", user, data=data, count=len(points),
                           points=points, chosen=chosen, statuses=STATUSES,
                           categories=WATER_CATEGORIES)

    # -- other features' pages ------------------------------------------------------------

    @page
    async def assessments(self, request: web.Request, user: User) -> web.StreamResponse:
        services = self.services(request)
        async with services.db.transaction() as tx:
            rows = await dashboard_sources.assessments_masked(tx.session)
        return self.render(request, "assessments.html", user, rows=rows,
                           kelurahan=KELURAHAN_NAMES)

    @page
    async def activities(self, request: web.Request, user: User) -> web.StreamResponse:
        services = self.services(request)
        async with services.db.transaction() as tx:
            rows = await dashboard_sources.activities_with_rsvp_counts(tx.session,
                                                                       services.clock())
        return self.render(request, "activities.html", user, rows=rows)

    @staticmethod
    def _activities_feature(services: Services) -> ActivitiesFeature | None:
        """The feature that fans broadcasts out, if this service runs it (else the
        composer is not offered: a broadcast nobody sends would wait for ever)."""
        return next((f for f in services.features if isinstance(f, ActivitiesFeature)), None)

    async def _broadcasts_page(self, request: web.Request, user: User, *, status: int = 200,
                               **context: Any) -> web.Response:
        services = self.services(request)
        async with services.db.transaction() as tx:
            rows = await dashboard_sources.recent_broadcasts(tx.session)
            activities = await self._rsvp_activities(tx.session, services.clock())
        can_compose = rows is not None and self._activities_feature(services) is not None
        ok = request.query.get("ok", "")
        context.setdefault("body", "")
        context.setdefault("fields", {**dict.fromkeys(composer.FIELDS, ""), "audience": "all"})
        context.setdefault("preview", None)
        context.setdefault("error", None)
        return self.render(request, "broadcasts.html", user, status=status, rows=rows,
                           can_compose=can_compose, audiences=composer.AUDIENCES,
                           kelurahan=composer.KELURAHAN, volunteer_types=composer.VOLUNTEER_TYPES,
                           categories=composer.CATEGORIES, activities=activities,
                           sent=ok if ok.isdigit() else "",
                           again=request.query.get("again") == "1", **context)

    @staticmethod
    async def _rsvp_activities(session: Any, now: datetime) -> list[composer.ActivityChoice]:
        """Activities whose answers a broadcast may go to (recent and coming ones)."""
        rows = await dashboard_sources.activities_with_rsvp_counts(session, now)
        return [composer.ActivityChoice(a.id, a.title) for a in rows or ()
                if a.status != "cancelled"]

    async def _composed(self, request: web.Request, form: dict[str, Any], lang: str,
                        tr: Callable[..., str]) -> tuple[str, composer.Composed]:
        """(message, audience) of a posted composer form; ``error`` says what is wrong."""
        body = str(form.get("body") or "").replace("\r\n", "\n").strip()
        services = self.services(request)
        async with services.db.transaction() as tx:
            activities = await self._rsvp_activities(tx.session, services.clock())
        composed = composer.read_audience(form, activities)
        if composed.error is not None:
            key, params = composed.error
            composed.extra["error"] = tr(lang, key, **params)
        elif not MIN_BROADCAST <= len(body) <= MAX_BROADCAST:
            composed.extra["error"] = tr(lang, "dash.broadcasts.bad_length",
                                         min=MIN_BROADCAST, max=MAX_BROADCAST)
        return body, composed

    @page
    async def broadcasts(self, request: web.Request, user: User) -> web.StreamResponse:
        return await self._broadcasts_page(request, user)

    @page
    async def broadcast_preview(self, request: web.Request, user: User) -> web.StreamResponse:
        """The message as residents will see it, how many people it goes to, and the
        one-time token its "send" button carries."""
        form = await self.form(request, user)
        services = self.services(request)
        if self._activities_feature(services) is None:
            raise web.HTTPNotFound(text="broadcasts are not part of this service",
                                   headers=self.security_headers())
        lang = self.lang(request)
        tr = services.translator
        body, composed = await self._composed(request, form, lang, tr)
        if "error" in composed.extra or composed.audience is None:
            return await self._broadcasts_page(request, user, status=400, body=body,
                                               fields=composed.fields,
                                               error=composed.extra.get("error"))
        async with services.db.transaction() as tx:
            total, unreachable = await ActivityRepo(tx.session).audience_size(
                composed.audience)
        preview = {
            "message": [tr(lang, t) for t in broadcast_message(body)],
            "audience": tr(lang, audience_text(composed.audience)),
            "count": " ".join(tr(lang, t) for t in audience_counts_text(total, unreachable)),
            "reachable": total - unreachable,
            "token": composer.issue_token(self.key, user.session_hash),
        }
        return await self._broadcasts_page(request, user, body=body, fields=composed.fields,
                                           preview=preview)

    @page
    async def broadcast_send(self, request: web.Request, user: User) -> web.StreamResponse:
        """A confirmed preview: the broadcast row, audited, and its fan-out started —
        the same machinery as ``/siaran`` by chat. Its one-time token is claimed in the
        same transaction: the same form posted again sends nothing."""
        form = await self.form(request, user)
        services = self.services(request)
        feature = self._activities_feature(services)
        if feature is None:
            raise web.HTTPNotFound(text="broadcasts are not part of this service",
                                   headers=self.security_headers())
        lang = self.lang(request)
        nonce = composer.token_nonce(self.key, user.session_hash, form.get("once"))
        body, composed = await self._composed(request, form, lang, services.translator)
        if nonce is None:
            composed.extra.setdefault(
                "error", services.translator(lang, "dash.broadcasts.stale_form"))
        if "error" in composed.extra or composed.audience is None:
            return await self._broadcasts_page(request, user, status=400, body=body,
                                               fields=composed.fields,
                                               error=composed.extra.get("error"))
        assert nonce is not None
        now = services.clock()
        async with services.db.transaction() as tx:
            if not await tx.inbound.remember(composer.TOKEN_CHANNEL,
                                             composer.claim_id(nonce), now):
                number = None
            else:
                broadcast = await send_free_form(
                    tx, body=body, audience=composed.audience,
                    requested_by=user.contact_id, actor=user.actor.label, now=now,
                    details={"via": "dashboard", "audience": composed.fields["audience"]})
                feature.kick_after_commit(tx)
                number = broadcast.id
        target = "/siaran?again=1" if number is None else f"/siaran?ok={number}"
        raise web.HTTPSeeOther(target, headers=self.security_headers())

    @page
    async def broadcast_progress(self, request: web.Request, user: User) -> web.StreamResponse:
        services = self.services(request)
        async with services.db.transaction() as tx:
            rows = await dashboard_sources.recent_broadcasts(tx.session)
        body = [{"id": b.id, "status": b.status, "enqueued": b.enqueued, "done": b.done,
                 "failed": b.failed} for b in rows or []]
        return web.json_response({"broadcasts": body}, headers=self.security_headers(),
                                 dumps=functools.partial(json.dumps, ensure_ascii=False))

    # -- downloads and media ---------------------------------------------------------------

    @page
    async def downloads(self, request: web.Request, user: User) -> web.StreamResponse:
        return self.render(request, "downloads.html", user)

    @page
    async def download(self, request: web.Request, user: User) -> web.StreamResponse:
        name = request.match_info["name"]
        xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        formats = {"pengaduan.csv": ("csv", "text/csv; charset=utf-8"),
                   "pengaduan.xlsx": ("xlsx", xlsx),
                   "asesmen.csv": ("csv", "text/csv; charset=utf-8"),
                   "asesmen.xlsx": ("xlsx", xlsx)}
        if name not in formats:
            raise web.HTTPNotFound(text="no such export", headers=self.security_headers())
        fmt, content_type = formats[name]
        services = self.services(request)
        folder = Path(tempfile.mkdtemp(prefix="warga-export-"))
        path = folder / name
        try:
            # The one export path (bot.exports): streamed, in a child process. NIK / KK
            # stay masked here (the full numbers are for the command line only); CSV
            # gives the households file (the XLSX holds all the sheets).
            what = "assessments" if name.startswith("asesmen.") else "complaints"
            count = (await export(services.db, what, fmt, path,  # type: ignore[arg-type]
                                  tz=self.feature.tz, in_process=False,
                                  public_url=self.settings.public_url)).rows
            action = f"export.{what}"
            async with services.db.transaction() as tx:
                await tx.audit.add(user.actor.label, action, services.clock(),
                                   details={"format": fmt, "rows": count, "via": "dashboard"})
            stamp = services.clock().astimezone(self.feature.tz).strftime("%Y%m%d-%H%M")
            response = web.StreamResponse(headers={
                **self.security_headers(), "Content-Type": content_type,
                "Content-Disposition": f'attachment; filename="warga-{stamp}-{name}"',
            })
            await response.prepare(request)
            with path.open("rb") as fh:
                while chunk := await asyncio.to_thread(fh.read, 64 * 1024):
                    await response.write(chunk)
            await response.write_eof()
            return response
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # the CSV export writes one file a sheet

    @page
    async def media(self, request: web.Request, user: User) -> web.StreamResponse:
        services = self.services(request)
        try:
            media_id = int(request.match_info["media_id"])
        except ValueError as err:
            raise web.HTTPNotFound() from err
        async with services.db.transaction() as tx:
            media = await TicketRepo(tx.session).media_by_id(media_id)
        if media is None:
            raise web.HTTPNotFound(headers=self.security_headers())
        try:
            data = await asyncio.to_thread(Path(media.path).read_bytes)
        except OSError as err:
            raise web.HTTPNotFound(headers=self.security_headers()) from err
        mime = next((m for magic, m in IMAGE_TYPES if data.startswith(magic)),
                    "application/octet-stream")
        return web.Response(body=data, content_type=mime,
                            headers={**self.security_headers(), "Content-Disposition": "inline"})
