"""Repositories: the only place that speaks SQL. One instance per transaction."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    TextClause,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import (
    AuditEntry,
    Complaint,
    ComplaintStatus,
    Contact,
    ConversationSession,
    MediaFile,
    OutboxMessage,
    ProcessedInbound,
    UTCDateTime,
)


def _sql(sql: str, **types: Any) -> TextClause:
    """A hot-path statement in SQL both SQLite and PostgreSQL speak.

    SQLAlchemy does not cache the compiled form of dialect ``insert()…on_conflict``
    constructs; recompiling them costs more than the statement itself.
    """
    return text(sql).bindparams(*(bindparam(name, type_=t) for name, t in types.items()))


_REMEMBER = _sql(
    "INSERT INTO processed_inbound (channel, message_id, received_at) "
    "VALUES (:channel, :message_id, :received_at) "
    "ON CONFLICT (channel, message_id) DO NOTHING RETURNING message_id",
    received_at=UTCDateTime(),
)
_NEW_CONTACT = _sql(
    "INSERT INTO contacts (channel, external_id, alt_id, name, phone, language, role, "
    "opted_out, stopped, window_closed, created_at, updated_at) "
    "VALUES (:channel, :external_id, :alt_id, :name, :phone, :language, 'resident', "
    ":false, :false, :false, :now, :now) "
    "ON CONFLICT (channel, external_id) DO NOTHING",
    now=UTCDateTime(),
    false=Boolean(),
)
_SAVE_SESSION = _sql(
    "INSERT INTO sessions (contact_id, flow_id, flow_version, step, status, state, "
    "expires_at, updated_at) VALUES (:contact_id, :flow_id, :flow_version, :step, :status, "
    ":state, :expires_at, :updated_at) "
    "ON CONFLICT (contact_id) DO UPDATE SET flow_id = excluded.flow_id, "
    "flow_version = excluded.flow_version, step = excluded.step, status = excluded.status, "
    "state = excluded.state, expires_at = excluded.expires_at, "
    "updated_at = excluded.updated_at",
    state=JSON(),
    expires_at=UTCDateTime(),
    updated_at=UTCDateTime(),
)
_ENQUEUE = _sql(
    "INSERT INTO outbox (contact_id, channel, recipient, priority, payload, status, attempts, "
    "next_attempt_at, batch, dedupe_key, created_at, ephemeral) VALUES (:contact_id, "
    ":channel, :recipient, :priority, :payload, 'pending', 0, :next_attempt_at, :batch, "
    ":dedupe_key, :created_at, :ephemeral) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    payload=JSON(),
    next_attempt_at=UTCDateTime(),
    created_at=UTCDateTime(),
    ephemeral=Boolean(),
)


# An ephemeral row's body goes as soon as it is delivered.
_MARK_SENT = _sql(
    "UPDATE outbox SET status = 'sent', sent_at = :sent_at, lease_until = NULL, "
    "provider_message_id = :provider_message_id, error = NULL, "
    "payload = CASE WHEN ephemeral THEN :redacted ELSE payload END WHERE id = :row_id",
    sent_at=UTCDateTime(),
    redacted=JSON(),
)


def _insert(session: AsyncSession, table: Any) -> Any:
    """Dialect insert so ON CONFLICT works on SQLite and PostgreSQL alike."""
    if session.bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


@dataclass(frozen=True)
class _Compiled:
    """A hot statement compiled once for SQLite, with SQLAlchemy's own conversions."""

    sql: str
    binds: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    results: Mapping[str, Callable[[Any], Any] | None]


_COMPILED: dict[TextClause, _Compiled] = {}
# Result column names of hot statements, learnt on their first run.
_NAMES: dict[TextClause, list[str]] = {}


def _compile(stmt: TextClause, dialect: Dialect) -> _Compiled:
    compiled = stmt.compile(dialect=dialect)
    names = compiled.positiontup or []
    # dialect_impl: SQLite's own DATETIME/JSON/BOOLEAN handling, as a statement uses.
    binds = tuple((name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
                  for name in names)
    results = {column.name: column.type.dialect_impl(dialect).result_processor(dialect, None)
               for column in getattr(stmt, "selected_columns", ())}
    return _Compiled(compiled.string, binds, results)


class _Hot:
    """Runs the webhook hot path's statements straight on the aiosqlite connection.

    Why: per statement, SQLAlchemy's execution path (ORM session, execution context, the
    aiosqlite adapter's four trips to the driver's thread: cursor, execute, fetch, close)
    costs far more than the SQLite statement itself. Here each statement is one trip
    (aiosqlite's public ``execute_fetchall``) on the transaction's own connection. The
    SQL text and the parameter/result conversions stay SQLAlchemy's (compiled once per
    statement, types' public bind/result processors); only the per-call machinery is
    skipped. PostgreSQL keeps the ordinary path: there the round trip to the server
    dominates.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.s = session
        self.sqlite = session.bind.dialect.name == "sqlite"
        self._raw: Any = None

    async def _connection(self) -> Any:
        # Keep autoflush's ordering: ORM changes not yet written go before our statement,
        # as Session.execute would send them.
        if self.s.new or self.s.dirty or self.s.deleted:
            await self.s.flush()
        if self._raw is None:
            # The transaction's own connection (one session = one connection per
            # transaction, so it is kept for the life of this Repos): an
            # ``aiosqlite.Connection``, SQLAlchemy's public ``driver_connection``.
            connection = await self.s.connection()
            fairy = await connection.get_raw_connection()
            self._raw = fairy.driver_connection
        return self._raw

    def _compiled(self, stmt: TextClause) -> _Compiled:
        compiled = _COMPILED.get(stmt)
        if compiled is None:
            compiled = _COMPILED[stmt] = _compile(stmt, self.s.bind.dialect)
        return compiled

    async def rows(self, stmt: TextClause, params: Mapping[str, Any]
                   ) -> tuple[list[str], list[Any]]:
        """Run one statement; (column names, raw rows)."""
        compiled = self._compiled(stmt)
        # A parameter used twice (``:now``) is converted once.
        converted: dict[str, Any] = {}
        for name, convert in compiled.binds:
            if name not in converted:
                value = params[name]
                converted[name] = value if convert is None else convert(value)
        args = [converted[name] for name, _ in compiled.binds]
        raw = await self._connection()
        try:
            names = _NAMES.get(stmt)
            if names is not None:
                return names, list(await raw.execute_fetchall(compiled.sql, args))
            # First run of this statement: learn its column names from the cursor.
            cursor = await raw.execute(compiled.sql, args)
            try:
                names = [d[0] for d in cursor.description or ()]
                found = list(await cursor.fetchall())
            finally:
                await cursor.close()
            _NAMES[stmt] = names
            return names, found
        except sqlite3.Error as err:
            # The same exception SQLAlchemy would raise (the 503 middleware knows it).
            raise DBAPIError.instance(compiled.sql, args, err, sqlite3.Error,
                                      hide_parameters=True) from err

    async def execute(self, stmt: TextClause, params: Mapping[str, Any]) -> None:
        """Run a statement whose rows, if any, are not needed."""
        await self.rows(stmt, params)

    async def all(self, stmt: TextClause, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every row, as dicts of converted values."""
        names, found = await self.rows(stmt, params)
        results = _COMPILED[stmt].results
        converters = [results.get(name) for name in names]
        return [{name: value if convert is None else convert(value)
                 for name, convert, value in zip(names, converters, row, strict=True)}
                for row in found]

    async def executemany(self, stmt: TextClause, many: Sequence[Mapping[str, Any]]) -> None:
        if len(many) == 1:
            # One trip to the driver's thread; executemany's cursor would take a second
            # one to close.
            await self.execute(stmt, many[0])
            return
        compiled = self._compiled(stmt)
        args = [[params[name] if convert is None else convert(params[name])
                 for name, convert in compiled.binds] for params in many]
        raw = await self._connection()
        try:
            await (await raw.executemany(compiled.sql, args)).close()
        except sqlite3.Error as err:
            raise DBAPIError.instance(compiled.sql, args, err, sqlite3.Error,
                                      hide_parameters=True) from err

    async def first(self, stmt: TextClause, params: Mapping[str, Any]
                    ) -> dict[str, Any] | None:
        """The first row as a dict of converted values (None when there is none)."""
        found = await self.all(stmt, params)
        return found[0] if found else None


class Repos:
    """All repositories bound to one session (one transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # Run by ``Database.transaction`` once this transaction has committed, or rolled
        # back: what a unit of work must only make known in memory when it is durable.
        self.after_commit: list[Callable[[], None]] = []
        self.after_rollback: list[Callable[[], None]] = []
        hot = _Hot(session)
        self.contacts = ContactRepo(session, hot)
        self.sessions = SessionRepo(session, hot)
        self.inbound = InboundRepo(session, hot)
        self.complaints = ComplaintRepo(session)
        self.outbox = OutboxRepo(session, hot)
        self.audit = AuditRepo(session)
        self.media = MediaRepo(session)


_CONTACT_COLUMNS = (
    "id, channel, external_id, alt_id, name, phone, language, role, volunteer_type, "
    "opted_out, stopped, window_closed, consent_version, consent_at, last_inbound_at"
)
_CONTACT_TYPES = {
    "opted_out": Boolean(),
    "stopped": Boolean(),
    "window_closed": Boolean(),
    "consent_at": UTCDateTime(),
    "last_inbound_at": UTCDateTime(),
}


# What a message tells us about its sender (profile name, WhatsApp phone id): not stored
# again for a person whose data was erased.
_PROFILE = (
    "name = CASE WHEN erased_at IS NULL THEN COALESCE(:name, name) ELSE name END, "
    "alt_id = CASE WHEN erased_at IS NULL THEN COALESCE(:alt_id, alt_id) ELSE alt_id END"
)


def _touch(where: str, *, with_session: bool = False) -> TextClause:
    # SQLite: the session document comes along (``_Hot.prefetch``), one trip fewer.
    session = (", (SELECT state FROM sessions WHERE contact_id = contacts.id) AS "
               "session_state" if with_session else "")
    stmt = _sql(
        "UPDATE contacts SET last_inbound_at = :now, updated_at = :now, "
        f"window_closed = :false, stopped = :false, {_PROFILE} "
        f"WHERE channel = :channel AND {where} = :ext "
        f"RETURNING {_CONTACT_COLUMNS}{session}",
        now=UTCDateTime(),
        false=Boolean(),
    )
    if with_session:
        return stmt.columns(**_CONTACT_TYPES, session_state=JSON())
    return stmt.columns(**_CONTACT_TYPES)


_UNREAD = object()
# A person who writes to us has evidently unblocked the bot, and opened the WhatsApp window.
_TOUCH_BY_EXTERNAL = _touch("external_id")
_TOUCH_BY_ALT = _touch("alt_id")
_SQLITE_TOUCH = {_TOUCH_BY_EXTERNAL: _touch("external_id", with_session=True),
                 _TOUCH_BY_ALT: _touch("alt_id", with_session=True)}
# Someone first known by phone number (a coordinator added as whatsapp:6281…) now writes
# with a WhatsApp user id: same person; keep the number as the id, the user id beside it.
_ADOPT_BY_PHONE = _sql(
    "UPDATE contacts SET last_inbound_at = :now, updated_at = :now, "
    "window_closed = :false, stopped = :false, "
    "name = CASE WHEN erased_at IS NULL THEN COALESCE(:name, name) ELSE name END, "
    "alt_id = :ext WHERE channel = :channel AND external_id = :alt_id "
    f"RETURNING {_CONTACT_COLUMNS}",
    now=UTCDateTime(),
    false=Boolean(),
).columns(**_CONTACT_TYPES)
_LOCKABLE_FIELDS = frozenset(
    {"name", "phone", "language", "role", "volunteer_type", "opted_out", "stopped",
     "window_closed", "consent_version", "consent_at", "alt_id"}
)


@dataclass
class ContactState:
    """A contact as the dispatcher works with it: plain data, changes written back once."""

    id: int
    channel: str
    external_id: str
    alt_id: str | None
    name: str | None
    phone: str | None
    language: str
    role: str
    volunteer_type: str | None
    opted_out: bool
    stopped: bool
    window_closed: bool
    consent_version: str | None
    consent_at: datetime | None
    last_inbound_at: datetime | None
    _loaded: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_row(cls, row: Any) -> ContactState:
        return cls.from_mapping(dict(row._mapping))

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> ContactState:
        state = cls(**data)
        state._loaded = {k: data[k] for k in _LOCKABLE_FIELDS}
        return state

    @classmethod
    def from_orm(cls, contact: Contact) -> ContactState:
        return cls.from_row(
            _RowLike({k: getattr(contact, k) for k in _CONTACT_COLUMNS.split(", ")})
        )

    def changes(self) -> dict[str, Any]:
        return {
            k: getattr(self, k) for k in _LOCKABLE_FIELDS if getattr(self, k) != self._loaded[k]
        }


class ContactRepo:
    def __init__(self, session: AsyncSession, hot: _Hot | None = None) -> None:
        self.s = session
        self.hot = hot or _Hot(session)

    async def touch(
        self,
        channel: str,
        external_id: str,
        now: datetime,
        *,
        name: str | None = None,
        alt_id: str | None = None,
        language: str = "id",
    ) -> ContactState:
        """Record that this person wrote to us now; create them on first contact.

        One statement in the common case: the UPDATE … RETURNING both locks the row (on
        PostgreSQL) and reads it.
        """
        contact, _state = await self._touch(channel, external_id, now, name=name,
                                            alt_id=alt_id, language=language)
        return contact

    async def touch_reading_session(
        self,
        channel: str,
        external_id: str,
        now: datetime,
        *,
        name: str | None = None,
        alt_id: str | None = None,
        language: str = "id",
    ) -> tuple[ContactState, dict[str, Any] | None]:
        """``touch``, and the person's session document (``SessionRepo.state``: None when
        there is none) — what every message needs first. On SQLite one statement reads
        both: each statement is a trip to aiosqlite's thread, which costs more than the
        statement itself."""
        contact, state = await self._touch(channel, external_id, now, name=name,
                                           alt_id=alt_id, language=language,
                                           with_session=True)
        if state is _UNREAD:
            state = await SessionRepo(self.s, self.hot).state(contact.id)
        return contact, state

    async def _touch(self, channel: str, external_id: str, now: datetime, *,
                     name: str | None, alt_id: str | None, language: str,
                     with_session: bool = False) -> tuple[ContactState, Any]:
        """The contact, and its session document if the statement read it (else
        ``_UNREAD``)."""
        name = name[:200] if name else None
        params = {"channel": channel, "ext": external_id, "now": now, "false": False,
                  "name": name, "alt_id": alt_id}
        candidates: list[TextClause | None] = [_TOUCH_BY_EXTERNAL, _TOUCH_BY_ALT]
        if alt_id and alt_id != external_id:
            candidates.append(_ADOPT_BY_PHONE)
        for stmt in (*candidates, None):
            if stmt is None:
                await self._execute(
                    _NEW_CONTACT,
                    {"channel": channel, "external_id": external_id, "alt_id": alt_id,
                     "name": name, "phone": None, "language": language, "now": now,
                     "false": False},
                )
                stmt = _TOUCH_BY_EXTERNAL
            if self.hot.sqlite:
                found = await self.hot.first(
                    _SQLITE_TOUCH.get(stmt, stmt) if with_session else stmt, params)
                if found is not None:
                    contact = ContactState.from_mapping(
                        {k: v for k, v in found.items() if k != "session_state"})
                    if "session_state" in found:
                        state = found["session_state"]
                        return contact, dict(state) if state is not None else None
                    return contact, _UNREAD
                continue
            row = (await self.s.execute(stmt, params)).first()
            if row is not None:
                return ContactState.from_row(row), _UNREAD
        raise AssertionError("contact vanished while it was being created")

    async def _execute(self, stmt: TextClause, params: dict[str, Any]) -> None:
        if self.hot.sqlite:
            await self.hot.execute(stmt, params)
        else:
            await self.s.execute(stmt, params)

    async def state(self, channel: str, external_id: str) -> ContactState | None:
        contact = await self.get_by_external(channel, external_id, for_update=True)
        return None if contact is None else ContactState.from_orm(contact)

    async def save_changes(self, contact: ContactState, now: datetime) -> None:
        changes = contact.changes()
        if changes:
            await self.set_fields(contact.id, now, **changes)
            contact._loaded.update(changes)

    async def upsert(
        self,
        channel: str,
        external_id: str,
        now: datetime,
        *,
        name: str | None = None,
        alt_id: str | None = None,
        phone: str | None = None,
        language: str = "id",
        inbound: bool = True,
    ) -> Contact:
        """Find or create the contact and lock it for this transaction."""
        name = name[:200] if name else None
        contact = await self.get_by_external(channel, external_id, for_update=True)
        if contact is None:
            await self.s.execute(
                _NEW_CONTACT,
                {"channel": channel, "external_id": external_id, "alt_id": alt_id,
                 "name": name, "phone": phone, "language": language, "now": now,
                 "false": False},
            )
            contact = await self.get_by_external(channel, external_id, for_update=True)
            assert contact is not None
        erased = contact.erased_at is not None
        if name and contact.name != name and not erased:
            contact.name = name
        if alt_id and contact.alt_id != alt_id and not erased:
            contact.alt_id = alt_id
        if phone and not contact.phone and not erased:
            contact.phone = phone
        if inbound:
            contact.last_inbound_at = now
            contact.window_closed = False
            _UNREAD = object()
# A person who writes to us has evidently unblocked the bot.
            contact.stopped = False
        contact.updated_at = now
        return contact

    async def get(self, contact_id: int, *, for_update: bool = False) -> Contact | None:
        stmt = select(Contact).where(Contact.id == contact_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def get_by_external(
        self, channel: str, external_id: str, *, for_update: bool = False
    ) -> Contact | None:
        """By the id the platform gives (or the alternative one, e.g. a WhatsApp wa_id)."""
        for column in (Contact.external_id, Contact.alt_id):
            stmt = select(Contact).where(Contact.channel == channel, column == external_id)
            if for_update:
                stmt = stmt.with_for_update()
            found = (await self.s.execute(stmt.order_by(Contact.id).limit(1))).scalar_one_or_none()
            if found is not None:
                return found
        return None

    async def set_fields(self, contact_id: int, now: datetime, **fields: Any) -> None:
        await self.s.execute(
            update(Contact).where(Contact.id == contact_id).values(updated_at=now, **fields)
        )

    async def with_role(self, role: str) -> Sequence[Contact]:
        stmt = select(Contact).where(Contact.role == role).order_by(Contact.id)
        return (await self.s.execute(stmt)).scalars().all()

    async def count(self) -> int:
        return int((await self.s.execute(select(func.count(Contact.id)))).scalar_one())


class _Row:
    """Attribute access to a row dict (what SQLAlchemy's rows offer)."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None


class _RowLike:
    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping


_SESSION_STATE = {
    name: _sql(f"SELECT state FROM sessions WHERE contact_id = :contact_id{suffix}")
    .columns(state=JSON())
    for name, suffix in (("sqlite", ""), ("postgresql", " FOR UPDATE"))
}


class SessionRepo:
    def __init__(self, session: AsyncSession, hot: _Hot | None = None) -> None:
        self.s = session
        self.hot = hot or _Hot(session)

    async def state(self, contact_id: int) -> dict[str, Any] | None:
        """The session document alone, locked for this transaction."""
        stmt = _SESSION_STATE[self.s.bind.dialect.name]
        if self.hot.sqlite:
            found = await self.hot.first(stmt, {"contact_id": contact_id})
            return dict(found["state"]) if found else None
        row = (await self.s.execute(stmt, {"contact_id": contact_id})).first()
        return dict(row[0]) if row else None

    async def get(self, contact_id: int, *, for_update: bool = True) -> ConversationSession | None:
        stmt = select(ConversationSession).where(ConversationSession.contact_id == contact_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def save(
        self,
        contact_id: int,
        state: dict[str, Any],
        now: datetime,
        *,
        flow_id: str | None = None,
        flow_version: int | None = None,
        step: str | None = None,
        status: str | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        params = {"contact_id": contact_id, "state": state, "flow_id": flow_id,
                  "flow_version": flow_version, "step": step, "status": status,
                  "expires_at": expires_at, "updated_at": now}
        if self.hot.sqlite:
            await self.hot.execute(_SAVE_SESSION, params)
        else:
            await self.s.execute(_SAVE_SESSION, params)

    async def delete(self, contact_id: int) -> None:
        await self.s.execute(
            delete(ConversationSession).where(ConversationSession.contact_id == contact_id)
        )

    async def forget_before(self, cutoff: datetime) -> int:
        """Drop conversations untouched since ``cutoff`` (unfinished answers included)."""
        result = await self.s.execute(
            delete(ConversationSession).where(ConversationSession.updated_at < cutoff)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def count_active(self) -> int:
        stmt = select(func.count()).where(ConversationSession.flow_id.is_not(None))
        return int((await self.s.execute(stmt)).scalar_one())


class InboundRepo:
    def __init__(self, session: AsyncSession, hot: _Hot | None = None) -> None:
        self.s = session
        self.hot = hot or _Hot(session)

    async def remember(self, channel: str, message_id: str, now: datetime) -> bool:
        """Record an inbound id; False when it was seen before (a re-delivery)."""
        params = {"channel": channel, "message_id": message_id, "received_at": now}
        if self.hot.sqlite:
            return await self.hot.first(_REMEMBER, params) is not None
        return (await self.s.execute(_REMEMBER, params)).first() is not None

    async def seen(self, channel: str, message_id: str) -> bool:
        stmt = select(ProcessedInbound.message_id).where(
            ProcessedInbound.channel == channel, ProcessedInbound.message_id == message_id
        )
        return (await self.s.execute(stmt)).first() is not None

    async def forget_before(self, cutoff: datetime) -> int:
        result = await self.s.execute(
            delete(ProcessedInbound).where(ProcessedInbound.received_at < cutoff)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


class ComplaintRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def create(
        self,
        *,
        new_ticket: Callable[[], str],
        contact_id: int,
        now: datetime,
        actor: str,
        **fields: Any,
    ) -> Complaint:
        """Insert with a fresh ticket; a (rare) ticket collision just draws again."""
        for _ in range(20):
            ticket = new_ticket()
            try:
                async with self.s.begin_nested():
                    complaint = Complaint(
                        ticket=ticket,
                        contact_id=contact_id,
                        created_at=now,
                        updated_at=now,
                        status="diterima",
                        **fields,
                    )
                    self.s.add(complaint)
                    await self.s.flush()
            except IntegrityError:
                continue
            self.s.add(
                ComplaintStatus(complaint_id=complaint.id, status="diterima", actor=actor, at=now)
            )
            await self.s.flush()
            return complaint
        raise RuntimeError("could not draw a unique ticket number")

    async def by_ticket(self, ticket: str) -> Complaint | None:
        stmt = select(Complaint).where(Complaint.ticket == ticket.upper())
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def for_contact(self, contact_id: int, limit: int = 10) -> Sequence[Complaint]:
        stmt = (
            select(Complaint)
            .where(Complaint.contact_id == contact_id)
            .order_by(Complaint.id.desc())
            .limit(limit)
        )
        return (await self.s.execute(stmt)).scalars().all()

    async def set_status(
        self, complaint: Complaint, status: str, now: datetime, actor: str, note: str | None = None
    ) -> None:
        complaint.status = status
        complaint.updated_at = now
        self.s.add(
            ComplaintStatus(
                complaint_id=complaint.id, status=status, note=note, actor=actor, at=now
            )
        )
        await self.s.flush()

    async def history(self, complaint_id: int) -> Sequence[ComplaintStatus]:
        stmt = (
            select(ComplaintStatus)
            .where(ComplaintStatus.complaint_id == complaint_id)
            .order_by(ComplaintStatus.id)
        )
        return (await self.s.execute(stmt)).scalars().all()

    async def stream(self, batch: int = 500) -> AsyncIterator[Complaint]:
        """All complaints in id order, a batch at a time (bounded memory)."""
        last = 0
        while True:
            stmt = select(Complaint).where(Complaint.id > last).order_by(Complaint.id).limit(batch)
            rows = (await self.s.execute(stmt)).scalars().all()
            if not rows:
                return
            for row in rows:
                yield row
            last = rows[-1].id
            # No expunge_all(): it dropped the caller's unflushed changes to these rows (and
            # detached everything else). The identity map holds clean rows weakly anyway.


# Rows still to be sent (or being sent): they hold back a recipient's later rows.
_OPEN = ("pending", "sending")
# What a final row's body becomes when it must not stay readable (``ephemeral``) or when
# the housekeeping purges old bodies.
REDACTED: dict[str, Any] = {"text": "", "redacted": True}
_FINAL = ("sent", "delivered", "read", "failed", "skipped", "blocked")


def _sqlite_head(alias: str) -> str:
    """No older row of the same recipient and priority is still open: a recipient's rows
    go out in order, one at a time (and one replica's crash cannot reorder them)."""
    return (f" AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.channel = {alias}.channel "
            f"AND p.recipient = {alias}.recipient AND p.priority = {alias}.priority "
            f"AND p.status IN ('pending', 'sending') AND p.id < {alias}.id)")


_CLAIM_CONTACT_FIELDS = ("opted_out", "stopped", "last_inbound_at", "window_closed")


@functools.cache
def _sqlite_claim(by_channel: bool, exclude: bool, heads: bool, max_priority: bool
                  ) -> TextClause:
    """The outbox claim for SQLite (one writer: no row locks needed), run on the raw
    connection like the intake statements (lists go in as JSON: ``json_each``).

    "Pending and due, or leased and expired, in priority order" as one WHERE makes
    SQLite collect every due row and sort them: O(backlog) per claim. Each half alone
    walks ix_outbox_due (status, priority, next_attempt_at) in order and stops at the
    limit; the union of the two is then at most twice the limit.
    """
    extra = (" AND o.channel IN (SELECT value FROM json_each(:channels))" if by_channel
             else "") + (" AND o.id NOT IN (SELECT value FROM json_each(:exclude))"
                         if exclude else "") + (
        " AND o.priority <= :max_priority" if max_priority else "") + (
        _sqlite_head("o") if heads else "")
    half = ("SELECT id, priority, next_attempt_at FROM (SELECT o.id, o.priority, "
            "o.next_attempt_at FROM outbox o WHERE {due}" + extra
            + " ORDER BY o.priority, o.next_attempt_at, o.id LIMIT :limit)")
    return _sql(
        "UPDATE outbox SET status = 'sending', lease_until = :lease_until, "
        "attempts = attempts + 1 WHERE id IN (SELECT id FROM ("
        + half.format(due="o.status = 'pending' AND o.next_attempt_at <= :now")
        + " UNION ALL "
        + half.format(due="o.status = 'sending' AND o.lease_until < :now")
        + ") ORDER BY priority, next_attempt_at, id LIMIT :limit) "
        "RETURNING id, contact_id, channel, recipient, priority, payload, attempts, "
        "next_attempt_at, ephemeral, EXISTS (SELECT 1 FROM outbox n WHERE "
        "n.channel = outbox.channel AND n.recipient = outbox.recipient "
        "AND n.status = 'pending' AND n.id > outbox.id) AS more, "
        # What the sender needs of the contact, in the same statement: one trip to
        # aiosqlite's thread fewer per claim (they cost more than the subqueries).
        + ", ".join(f"(SELECT c.{name} FROM contacts c WHERE c.id = outbox.contact_id) "
                    f"AS contact_{name}" for name in _CLAIM_CONTACT_FIELDS),
        now=UTCDateTime(), lease_until=UTCDateTime(),
    ).columns(payload=JSON(), next_attempt_at=UTCDateTime(), ephemeral=Boolean(),
              more=Boolean(), contact_opted_out=Boolean(), contact_stopped=Boolean(),
              contact_window_closed=Boolean(), contact_last_inbound_at=UTCDateTime())


_RENEW = _sql(
    "UPDATE outbox SET lease_until = :lease_until WHERE status IN ('sending', 'posting') "
    "AND id IN (SELECT value FROM json_each(:ids)) RETURNING id, attempts",
    lease_until=UTCDateTime(),
)


@dataclass
class ClaimedMessage:
    """An outbox row taken for sending, with what the sender must know of its contact."""

    id: int
    contact_id: int | None
    channel: str
    recipient: str
    priority: int
    payload: dict[str, Any]
    attempts: int
    opted_out: bool
    stopped: bool
    last_inbound_at: datetime | None
    window_closed: bool
    due_at: datetime
    ephemeral: bool = False
    # The recipient has later rows waiting (claimed one at a time, in order).
    more: bool = False


class OutboxRepo:
    def __init__(self, session: AsyncSession, hot: _Hot | None = None) -> None:
        self.s = session
        self.hot = hot or _Hot(session)

    async def enqueue(
        self,
        *,
        channel: str,
        recipient: str,
        payload: dict[str, Any],
        now: datetime,
        contact_id: int | None = None,
        priority: int = 0,
        batch: str | None = None,
        dedupe_key: str | None = None,
        not_before: datetime | None = None,
        ephemeral: bool = False,
    ) -> int | None:
        """Queue a message; with a dedupe key, queueing the same thing twice is a no-op.

        ``priority``: 0 for a reply someone is waiting for, higher for bulk (bulk leaves
        room for replies and goes at most once: a bulk row cut off mid-send by a crash
        is not sent again). A recipient's rows of one priority go out in the order they
        were queued, one at a time.

        ``ephemeral=True`` for a body that must not stay readable in this table — a
        dashboard login link, an identity number read back to its owner: once the row
        is final (sent, failed, skipped) its payload is replaced by ``REDACTED``
        (``{"text": "", "redacted": true}``); delivery receipts and counts still work.
        Other bodies are purged the same way after ``WARGA_OUTBOX_BODY_DAYS`` days by
        the housekeeping job (``purge_bodies``).
        """
        params = {"contact_id": contact_id, "channel": channel, "recipient": recipient,
                  "payload": payload, "priority": priority,
                  "next_attempt_at": not_before or now, "batch": batch,
                  "dedupe_key": dedupe_key, "created_at": now, "ephemeral": ephemeral}
        if self.hot.sqlite:
            found = await self.hot.first(_ENQUEUE, params)
            return int(found["id"]) if found else None
        row = (await self.s.execute(_ENQUEUE, params)).first()
        return int(row[0]) if row else None

    async def claim_due(
        self,
        now: datetime,
        *,
        limit: int,
        lease: timedelta,
        channels: Sequence[str] | None = None,
        exclude: Sequence[int] = (),
        heads: bool = False,
        max_priority: int | None = None,
    ) -> list[ClaimedMessage]:
        """Take due rows under a lease; replies (lower priority number) first.

        Rows left in ``sending`` by a process that died are taken again once the
        lease runs out. On PostgreSQL several replicas claim in parallel without
        waiting on each other (SKIP LOCKED); on SQLite BEGIN IMMEDIATE serialises.
        With ``heads``, only a recipient's oldest open row of each priority is taken
        (the sender's fairness and order: a backlog for one recipient never fills a
        claim, and a later row never overtakes an earlier one, even across replicas);
        ``more`` then says whether that recipient has later rows waiting.
        ``max_priority`` takes only rows up to that priority (replies while the sender
        already holds all the bulk it wants). One statement claims the rows; one more
        reads their contacts.
        """
        if self.hot.sqlite:
            # A fixed statement run on the raw connection (see _Hot, _sqlite_claim):
            # composing the ORM statement below and keying it for the compiled cache on
            # every claim showed in the profile (docs/performance.md), and the sender
            # claims after every send that frees a slot.
            params: dict[str, Any] = {"now": now, "lease_until": now + lease, "limit": limit}
            if channels is not None:
                params["channels"] = json.dumps(list(channels))
            if exclude:
                params["exclude"] = json.dumps(list(exclude))
            if max_priority is not None:
                params["max_priority"] = max_priority
            stmt = _sqlite_claim(channels is not None, bool(exclude), heads,
                                 max_priority is not None)
            found = await self.hot.all(stmt, params)
            rows: Sequence[Any] = [_Row(r) for r in found]
            # The contacts came with the claim (None: the row has no contact, or it is gone).
            contacts: dict[int, Any] = {
                r["contact_id"]: _Row({name: r[f"contact_{name}"]
                                       for name in _CLAIM_CONTACT_FIELDS})
                for r in found if r["contact_id"] is not None}
        else:
            rows = await self._claim_postgres(now, limit, lease, channels, exclude, heads,
                                              max_priority)
            contacts = {}
        contact_ids = {r.contact_id for r in rows if r.contact_id is not None}
        if contact_ids and not self.hot.sqlite:
            result = await self.s.execute(
                select(Contact.id, Contact.opted_out, Contact.stopped, Contact.last_inbound_at,
                       Contact.window_closed).where(Contact.id.in_(contact_ids))
            )
            contacts = {c.id: c for c in result}
        claimed = []
        for r in rows:
            c = contacts.get(r.contact_id) if r.contact_id is not None else None
            claimed.append(ClaimedMessage(
                id=r.id, contact_id=r.contact_id, channel=r.channel, recipient=r.recipient,
                priority=r.priority, payload=r.payload, attempts=r.attempts,
                opted_out=bool(c and c.opted_out), stopped=bool(c and c.stopped),
                last_inbound_at=c.last_inbound_at if c else None,
                window_closed=bool(c and c.window_closed), due_at=r.next_attempt_at,
                ephemeral=bool(r.ephemeral), more=bool(r.more),
            ))
        claimed.sort(key=lambda m: (m.priority, m.due_at, m.id))
        return claimed

    async def _claim_postgres(
        self, now: datetime, limit: int, lease: timedelta, channels: Sequence[str] | None,
        exclude: Sequence[int], heads: bool, max_priority: int | None,
    ) -> Sequence[Any]:
        o = OutboxMessage
        filters = []
        if channels is not None:
            filters.append(o.channel.in_(channels))
        if exclude:
            filters.append(o.id.not_in(exclude))
        if max_priority is not None:
            filters.append(o.priority <= max_priority)
        if heads:
            older = aliased(OutboxMessage)
            filters.append(~exists().where(
                older.channel == o.channel, older.recipient == o.recipient,
                older.priority == o.priority, older.status.in_(_OPEN), older.id < o.id))
        due = or_(
            and_(o.status == "pending", o.next_attempt_at <= now),
            and_(o.status == "sending", o.lease_until < now),
        )
        pick = (
            select(o.id).where(due, *filters)
            .order_by(o.priority, o.next_attempt_at, o.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        later = aliased(OutboxMessage)
        more = exists().where(later.channel == o.channel, later.recipient == o.recipient,
                              later.status == "pending", later.id > o.id)
        claim = (
            update(o)
            .where(o.id.in_(pick.scalar_subquery()))
            .values(status="sending", lease_until=now + lease, attempts=o.attempts + 1)
            .returning(o.id, o.contact_id, o.channel, o.recipient, o.priority, o.payload,
                       o.attempts, o.next_attempt_at, o.ephemeral, more.label("more"))
            .execution_options(synchronize_session=False)
        )
        return (await self.s.execute(claim)).all()

    async def renew(self, held: Mapping[int, int], until: datetime) -> set[int]:
        """Extend the lease of rows this sender holds ({row id: attempts}); returns the
        ids that are still ours (a row re-claimed by another replica has more attempts)."""
        if not held:
            return set()
        if self.hot.sqlite:
            found = await self.hot.all(_RENEW, {"ids": json.dumps(sorted(held)),
                                                "lease_until": until})
            return {r["id"] for r in found if held.get(r["id"]) == r["attempts"]}
        result = await self.s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(list(held)),
                   OutboxMessage.status.in_(("sending", "posting")))
            .values(lease_until=until)
            .returning(OutboxMessage.id, OutboxMessage.attempts)
            .execution_options(synchronize_session=False)
        )
        return {row_id for row_id, attempts in result.all() if held.get(row_id) == attempts}

    async def mark_posting(self, row_id: int, attempts: int) -> bool:
        """A claimed row is handed to the platform now; False if it is no longer ours."""
        result = await self.s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.status == "sending",
                   OutboxMessage.attempts == attempts)
            .values(status="posting")
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def put_back(self, row_id: int, at: datetime) -> None:
        """Return a claimed row unsent, without counting an attempt."""
        await self.s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(status="pending", lease_until=None, next_attempt_at=at,
                    attempts=OutboxMessage.attempts - 1)
        )

    async def open_ids_not_for(self, channels: Sequence[str],
                               recipients: Collection[str]) -> list[int]:
        """Ids of the rows on ``channels`` still to send to anyone but ``recipients``."""
        o = OutboxMessage
        return list((await self.s.execute(
            select(o.id).where(o.channel.in_(list(channels)),
                               o.recipient.not_in(list(recipients)),
                               o.status.in_(("pending", "sending"))))).scalars())

    async def release(self, held: Mapping[int, int]) -> None:
        """Give back rows claimed but not sent ({row id: attempts}), at once, for another
        sender (a clean shutdown: nobody waits for the lease to run out)."""
        for row_id, attempts in held.items():
            await self.s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id, OutboxMessage.status == "sending",
                       OutboxMessage.attempts == attempts)
                .values(status="pending", lease_until=None,
                        attempts=OutboxMessage.attempts - 1)
            )

    async def mark_sent(self, row_id: int, now: datetime, provider_message_id: str | None) -> None:
        await self.mark_sent_many([(row_id, provider_message_id)], now)

    async def mark_sent_many(self, sent: Sequence[tuple[int, str | None]], now: datetime) -> None:
        """Record many deliveries in one statement (the sender batches them)."""
        if not sent:
            return
        many = [{"row_id": row_id, "provider_message_id": pid, "sent_at": now,
                 "redacted": REDACTED} for row_id, pid in sent]
        if self.hot.sqlite:
            await self.hot.executemany(_MARK_SENT, many)
        else:
            await self.s.execute(_MARK_SENT, many)

    async def mark_retry(self, row_id: int, at: datetime, error: str) -> None:
        await self.s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(status="pending", next_attempt_at=at, lease_until=None, error=error[:300])
        )

    async def mark_failed(self, row_id: int, error: str, status: str = "failed") -> None:
        await self.s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(status=status, lease_until=None, error=error[:300],
                    payload=case((OutboxMessage.ephemeral, literal(REDACTED, JSON())),
                                 else_=OutboxMessage.payload))
        )

    async def purge_bodies(self, before: datetime, *, limit: int = 500) -> int:
        """Replace the bodies of at most ``limit`` final rows queued before ``before`` with
        ``REDACTED`` (the housekeeping job; the rows stay for delivery counts and
        receipts, marked ``ephemeral`` once blank). Returns how many."""
        pick = (select(OutboxMessage.id)
                .where(OutboxMessage.status.in_(_FINAL), OutboxMessage.created_at < before,
                       OutboxMessage.ephemeral.is_(False))
                .limit(limit))
        result = await self.s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(pick.scalar_subquery()))
            .values(payload=REDACTED, ephemeral=True)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def update_delivery(
        self, provider_message_id: str, status: str, error: str | None = None
    ) -> int:
        """Apply a platform delivery receipt; never move a row backwards."""
        order = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}
        allowed = [s for s, rank in order.items() if rank < order.get(status, 0)]
        if status == "failed":
            allowed = ["sending", "sent", "delivered"]
        values: dict[str, Any] = {"status": status}
        if error is not None:
            values["error"] = error[:300]
        result = await self.s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.provider_message_id == provider_message_id,
                OutboxMessage.status.in_([*allowed, "sending"]),
            )
            .values(**values)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def by_provider_id(self, provider_message_id: str) -> OutboxMessage | None:
        stmt = select(OutboxMessage).where(
            OutboxMessage.provider_message_id == provider_message_id
        )
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def get(self, row_id: int) -> OutboxMessage | None:
        return await self.s.get(OutboxMessage, row_id)

    async def counts(self, batch: str | None = None) -> dict[str, int]:
        stmt = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        if batch is not None:
            stmt = stmt.where(OutboxMessage.batch == batch)
        return {status: int(n) for status, n in (await self.s.execute(stmt)).all()}

    async def next_due_at(self) -> datetime | None:
        stmt = select(func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == "pending"
        )
        return (await self.s.execute(stmt)).scalar_one_or_none()


class AuditRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add(
        self,
        actor: str,
        action: str,
        now: datetime,
        *,
        subject: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.s.add(
            AuditEntry(at=now, actor=actor, action=action, subject=subject, details=details or {})
        )
        await self.s.flush()

    async def entries(self, subject: str | None = None, limit: int = 100) -> Sequence[AuditEntry]:
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if subject is not None:
            stmt = stmt.where(AuditEntry.subject == subject)
        return (await self.s.execute(stmt)).scalars().all()


class MediaRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add(self, **fields: Any) -> MediaFile:
        media = MediaFile(**fields)
        self.s.add(media)
        await self.s.flush()
        return media

    async def by_ref(self, channel: str, ref: str) -> MediaFile | None:
        stmt = select(MediaFile).where(MediaFile.channel == channel, MediaFile.ref == ref)
        return (await self.s.execute(stmt.limit(1))).scalar_one_or_none()
