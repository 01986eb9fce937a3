"""`Store`: the bridge's persistence API (see the package docstring for the overview).

Each method is one short transaction. Idempotence rests on unique constraints and `INSERT .. ON CONFLICT`, so two
coroutines (or a retry after a crash) racing on the same row end with one row. SQLite allows one writer at a time;
an in-process lock queues our writers instead of letting them fail with "database is locked".
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, nullcontext
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, and_, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bridge.contracts import Ticket as TicketContract
from bridge.logs import get_logger
from bridge.store import migrate as migrations
from bridge.store.engine import is_memory_sqlite, make_engine, parse_url
from bridge.store.figures import percentile
from bridge.store.models import (
    Base,
    ChatDelivery,
    Insight,
    Line,
    Meeting,
    MeetingName,
    Participant,
    PendingPurge,
    StreamAccount,
    Ticket,
    Window,
)
from bridge.store.records import (
    MEETING_STATUSES,
    PARTICIPANT_ROLES,
    PRODUCTS,
    UNFINISHED,
    WINDOW_STATUSES,
    ChatDeliveryRecord,
    DeliveryStatus,
    FlowFigures,
    InsightItem,
    InsightRecord,
    JoinSpec,
    LineRecord,
    MeetingFigures,
    MeetingNameRecord,
    MeetingRecord,
    MeetingStatus,
    NewWindow,
    ParticipantRecord,
    ParticipantRole,
    TicketRecord,
    Usage,
    WindowRecord,
    WindowStatus,
)

log = get_logger(__name__)

_M = TypeVar("_M", bound=Base)

SUMMARY_KIND = "summary"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _check(what: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r} (expected one of: {', '.join(allowed)})")


def _dumps(value: Any) -> str:
    """Canonical JSON, so equal payloads compare equal as text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_MIGRATION_LOCK = 0x72746D73  # "rtms": the PostgreSQL advisory lock held while migrating


class SeqTaken(RuntimeError):
    """Another line already has this seq (the caller's numbering is behind the store's): renumber and retry."""


class Fenced(RuntimeError):
    """A write under a lease token older than the stream's: another replica has taken the stream over."""


def line_key(line: LineRecord) -> str:
    """Who, when and a digest of the words: equal for the same line sent again, whatever its seq."""
    digest = hashlib.sha256(line.text.encode("utf-8")).hexdigest()[:20]
    return f"{line.user_id}:{line.start_ms}:{line.end_ms}:{digest}"


class Store:
    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], int] | None = None) -> None:
        """Prefer `Store.open`, which also migrates. The store owns `engine` and disposes of it on `close`."""
        self._engine = engine
        self._dialect = engine.dialect.name
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._clock = clock or _now_ms
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self._dialect == "sqlite" else None
        # An in-memory SQLite is one connection shared by every session (StaticPool): a read session ending with
        # its rollback would roll back a write in progress on that connection, so reads queue behind writes there.
        self._read_lock = self._write_lock if is_memory_sqlite(engine.url) else None

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True, schema: str | None = None,
                   clock: Callable[[], int] | None = None) -> Store:
        """Connect (one AsyncEngine) and, with `migrate`, bring the schema to the latest alembic revision.

        `schema` (PostgreSQL only) keeps every table in that schema (search_path; created when migrating);
        `clock` returns epoch ms (tests). Without `migrate` the schema must already be at head.
        """
        parsed = parse_url(url)
        engine = make_engine(parsed, schema=schema)
        try:
            async with engine.begin() as conn:
                if migrate and engine.dialect.name == "postgresql":
                    # Replicas starting together: one migrates, the others wait, then find the schema at head.
                    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
                if schema is not None and migrate:
                    quoted = engine.dialect.identifier_preparer.quote_identifier(schema)
                    await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
                before = await conn.run_sync(migrations.current_revision)
                if migrate:
                    await conn.run_sync(migrations.upgrade)
                    after = await conn.run_sync(migrations.current_revision)
                else:
                    after = before
            head = migrations.head_revision()
            if after != head:
                raise RuntimeError(f"database schema is at revision {after!r}, this bridge needs {head!r}: "
                                   f"open with migrate=True")
        except BaseException:
            await engine.dispose()
            raise
        log.info("store opened", extra={"backend": engine.dialect.name, "database": parsed.database,
                                        "schema": schema, "revision_before": before, "revision": after})
        return cls(engine, clock=clock)

    async def close(self) -> None:
        """Dispose of the engine; nothing is pending (every method commits before it returns)."""
        await self._engine.dispose()

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    # plumbing --------------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        async with self._write_lock or nullcontext(), self._sessions.begin() as session:
            yield session

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        async with self._read_lock or nullcontext(), self._sessions() as session:
            yield session

    def _insert(self, model: type[_M]) -> Any:
        """`INSERT` with ON CONFLICT support for the engine's dialect."""
        if self._dialect == "postgresql":
            return postgresql.insert(model)
        return sqlite.insert(model)

    async def _integrity(self, exc: IntegrityError, stream_id: str, window_id: int | None = None) -> BaseException:
        """Turn a foreign-key failure into LookupError naming the unknown stream or window; other integrity
        errors stay as they are."""
        async with self._read() as session:
            known = await session.scalar(select(Meeting.stream_id).where(Meeting.stream_id == stream_id))
            if known is None:
                return LookupError(f"unknown stream {stream_id!r}: call upsert_meeting first")
            if window_id is not None and await session.get(Window, window_id) is None:
                return LookupError(f"unknown window id {window_id}")
        return exc

    # meetings --------------------------------------------------------------------------------------------------

    async def upsert_meeting(self, stream_id: str, *, instance_id: str, product: str, topic: str | None = None,
                             started_at_ms: int | None = None) -> None:
        """Create the meeting (status "live") or update it; `None` arguments leave stored values alone."""
        if not stream_id:
            raise ValueError("stream_id is empty")
        _check("product", product, PRODUCTS)
        now = self._clock()
        stmt = self._insert(Meeting).values(
            stream_id=stream_id, instance_id=instance_id, product=product, topic=topic, status="live",
            started_at_ms=started_at_ms, created_at_ms=now, updated_at_ms=now)
        stmt = stmt.on_conflict_do_update(index_elements=[Meeting.stream_id], set_={
            "instance_id": stmt.excluded.instance_id,
            "product": stmt.excluded.product,
            "topic": func.coalesce(stmt.excluded.topic, Meeting.topic),
            "started_at_ms": func.coalesce(stmt.excluded.started_at_ms, Meeting.started_at_ms),
            "updated_at_ms": now,
        })
        async with self._write() as session:
            await session.execute(stmt)

    async def claim_stream(self, stream_id: str, fence: int, *, instance_id: str, product: str) -> bool:
        """A replica took the stream under lease token `fence`: raise the meeting's fence to it (creating the
        meeting, status "live", when new). False, changing nothing, when a newer token already holds it."""
        if not stream_id:
            raise ValueError("stream_id is empty")
        _check("product", product, PRODUCTS)
        now = self._clock()
        stmt = self._insert(Meeting).values(
            stream_id=stream_id, instance_id=instance_id, product=product, status="live", fence=fence,
            created_at_ms=now, updated_at_ms=now)
        stmt = stmt.on_conflict_do_update(index_elements=[Meeting.stream_id],
                                          set_={"fence": fence, "updated_at_ms": now},
                                          where=Meeting.fence <= fence).returning(Meeting.stream_id)
        async with self._write() as session:
            return (await session.execute(stmt)).first() is not None

    async def _check_fence(self, session: AsyncSession, stream_id: str, fence: int | None) -> None:
        """Inside a write: refuse it when the stream was claimed under a newer token. PostgreSQL locks the row
        (FOR SHARE) so a claim cannot slip in between this check and the commit."""
        if fence is None:
            return
        current = await session.scalar(
            select(Meeting.fence).where(Meeting.stream_id == stream_id).with_for_update(read=True))
        if current is not None and current > fence:
            raise Fenced(f"stream {stream_id!r} is held under lease token {current}, this write has {fence}")

    async def set_meeting_status(self, stream_id: str, status: MeetingStatus, *, ended_at_ms: int | None = None,
                                 end_cause: str | None = None, fence: int | None = None) -> None:
        """LookupError for an unknown stream, ValueError for an unknown status, `Fenced` for an old `fence`.
        `None` keeps stored values."""
        _check("meeting status", status, MEETING_STATUSES)
        values: dict[str, Any] = {"status": status, "updated_at_ms": self._clock()}
        if ended_at_ms is not None:
            values["ended_at_ms"] = ended_at_ms
        if end_cause is not None:
            values["end_cause"] = end_cause
        async with self._write() as session:
            await self._check_fence(session, stream_id, fence)
            result = await session.execute(
                update(Meeting).where(Meeting.stream_id == stream_id).values(**values).returning(Meeting.stream_id))
            if result.first() is None:
                raise LookupError(f"unknown stream {stream_id!r}: call upsert_meeting first")

    async def upsert_participant(self, stream_id: str, user_id: str, name: str,
                                 role: ParticipantRole | None = None, *, joined_at_ms: int | None = None,
                                 left_at_ms: int | None = None, fence: int | None = None) -> None:
        """One row per (stream, user_id). An empty `name` or a `None` role keeps the stored one ("participant" for
        a new row); a join without a leave clears an earlier leave (the user came back)."""
        if role is not None:
            _check("participant role", role, PARTICIPANT_ROLES)
        stmt = self._insert(Participant).values(
            stream_id=stream_id, user_id=user_id, name=name, role=role or "participant",
            joined_at_ms=joined_at_ms, left_at_ms=left_at_ms)
        left: Any = Participant.left_at_ms if joined_at_ms is None else None
        stmt = stmt.on_conflict_do_update(
            index_elements=[Participant.stream_id, Participant.user_id],
            set_={
                "name": stmt.excluded.name if name else Participant.name,
                "role": stmt.excluded.role if role is not None else Participant.role,
                "joined_at_ms": func.coalesce(stmt.excluded.joined_at_ms, Participant.joined_at_ms),
                "left_at_ms": stmt.excluded.left_at_ms if left_at_ms is not None else left,
            })
        try:
            async with self._write() as session:
                await self._check_fence(session, stream_id, fence)
                await session.execute(stmt)
        except IntegrityError as exc:
            raise await self._integrity(exc, stream_id) from exc

    async def delete_stream(self, stream_id: str, *, reason: str = "revoked") -> int:
        """Delete every row of the stream in every table (stop reason 8); returns the number of rows deleted.

        In the same transaction a pending purge (`bridge.store.purge`) is recorded with the flows the stream ran:
        Langflow's copies of its sessions and the database's own copies are removed after, and retried until done,
        so a crash or an unreachable Langflow between here and there forgets nothing."""
        deleted = 0
        async with self._write() as session:
            flows = sorted((await session.scalars(
                select(Window.flow).where(Window.stream_id == stream_id).distinct())).all())
            now = self._clock()
            pending = self._insert(PendingPurge).values(
                kind="stream", target=stream_id, flows=_dumps(flows), reason=reason, next_at_ms=now,
                created_at_ms=now)
            await session.execute(pending.on_conflict_do_update(
                index_elements=[PendingPurge.kind, PendingPurge.target],
                set_={"next_at_ms": now, "flows": func.coalesce(
                    func.nullif(pending.excluded.flows, "[]"), PendingPurge.flows)}))
            for model in (Insight, Ticket, Window, Line, Participant):
                result = await session.execute(
                    delete(model).where(model.stream_id == stream_id).returning(model.id))
                deleted += len(result.all())
            result = await session.execute(
                delete(Meeting).where(Meeting.stream_id == stream_id).returning(Meeting.stream_id))
            deleted += len(result.all())
            await session.execute(delete(StreamAccount).where(StreamAccount.stream_id == stream_id))
        log.info("stream deleted", extra={"stream_id": stream_id, "rows": deleted})
        return deleted

    # join specs (a restarted bridge dials its live streams again) ---------------------------------------------

    async def save_join_spec(self, stream_id: str, *, instance_id: str, product: str, server_urls: Sequence[str],
                             id_key: str = "meeting_uuid") -> None:
        """Keep what the `*.rtms_started` webhook said (creating the meeting, status "live", when new); a fail-over
        replaces the URLs. The meeting's status is left alone."""
        if not stream_id:
            raise ValueError("stream_id is empty")
        _check("product", product, PRODUCTS)
        now = self._clock()
        urls = _dumps(list(server_urls))
        stmt = self._insert(Meeting).values(
            stream_id=stream_id, instance_id=instance_id, product=product, status="live", server_urls=urls,
            id_key=id_key, created_at_ms=now, updated_at_ms=now)
        stmt = stmt.on_conflict_do_update(index_elements=[Meeting.stream_id], set_={
            "server_urls": urls, "id_key": id_key, "updated_at_ms": now})
        async with self._write() as session:
            await session.execute(stmt)

    async def join_spec(self, stream_id: str) -> JoinSpec | None:
        """The stream's join spec and status; None when the meeting is unknown. `server_urls` is empty when no
        webhook's URLs were kept (a meeting stored before revision 0003, or written by another path)."""
        async with self._read() as session:
            row = await session.get(Meeting, stream_id)
            return None if row is None else _join_spec(row)

    async def unfinished_meetings(self) -> list[JoinSpec]:
        """Meetings the store says are not over ("live" or "reconnecting"): what a starting bridge must resume or
        end. Oldest first."""
        async with self._read() as session:
            rows = (await session.scalars(select(Meeting).where(Meeting.status.in_(("live", "reconnecting")))
                                          .order_by(Meeting.created_at_ms))).all()
            return [_join_spec(row) for row in rows]

    # transcript ------------------------------------------------------------------------------------------------

    async def add_line(self, stream_id: str, line: LineRecord, *, fence: int | None = None) -> bool:
        """Store a line; False when the same line (`line_key`) is already stored. `SeqTaken` when another line has
        its seq, LookupError when the meeting is unknown, `Fenced` when `fence` is older than the stream's."""
        key = line_key(line)
        stmt = (self._insert(Line)
                .values(stream_id=stream_id, key=key, **line.model_dump())
                .on_conflict_do_nothing()
                .returning(Line.id))
        try:
            async with self._write() as session:
                await self._check_fence(session, stream_id, fence)
                inserted = (await session.execute(stmt)).first() is not None
                if not inserted and await session.scalar(
                        select(Line.id).where(Line.stream_id == stream_id, Line.key == key)) is None:
                    raise SeqTaken(f"stream {stream_id!r} already has a line {line.seq}")
        except IntegrityError as exc:
            raise await self._integrity(exc, stream_id) from exc
        return inserted

    async def lines(self, stream_id: str, *, after_seq: int = 0, limit: int | None = None) -> list[LineRecord]:
        """Lines with seq > after_seq, in seq order."""
        query = select(Line).where(Line.stream_id == stream_id, Line.seq > after_seq).order_by(Line.seq)
        if limit is not None:
            query = query.limit(limit)
        async with self._read() as session:
            rows = (await session.scalars(query)).all()
        return [_line(row) for row in rows]

    async def last_line_seq(self, stream_id: str) -> int:
        """Highest stored seq of the stream, 0 when none."""
        async with self._read() as session:
            value = await session.scalar(select(func.max(Line.seq)).where(Line.stream_id == stream_id))
        return int(value or 0)

    # windows ---------------------------------------------------------------------------------------------------

    async def create_window(self, w: NewWindow, *, fence: int | None = None) -> WindowRecord:
        """Insert a pending window; a retry with the same (stream_id, flow, seq) returns the stored row unchanged.
        `Fenced` when `fence` is older than the stream's."""
        now = self._clock()
        stmt = (self._insert(Window)
                .values(**w.model_dump(), status="pending", attempts=0, created_at_ms=now, updated_at_ms=now)
                .on_conflict_do_nothing(index_elements=[Window.stream_id, Window.flow, Window.seq])
                .returning(Window))
        try:
            async with self._write() as session:
                await self._check_fence(session, w.stream_id, fence)
                row = (await session.scalars(stmt)).first()
                if row is None:
                    row = (await session.scalars(select(Window).where(
                        Window.stream_id == w.stream_id, Window.flow == w.flow, Window.seq == w.seq))).one()
                return _window(row)
        except IntegrityError as exc:
            raise await self._integrity(exc, w.stream_id) from exc

    async def mark_window(self, window_id: int, status: WindowStatus, *, error: str | None = None,
                          latency_ms: float | None = None, usage: BaseModel | Mapping[str, int] | None = None
                          ) -> WindowRecord:
        """Move a window to `status`; "in_flight" counts an attempt. `None` arguments leave stored values alone,
        except `error`, which is cleared when the window becomes done. `usage` is a `bridge.contracts.Usage` or a
        mapping with its fields. LookupError for an unknown id."""
        _check("window status", status, WINDOW_STATUSES)
        if usage is not None and not isinstance(usage, Usage):
            try:  # another model with the same fields, or the JSON object
                usage = Usage.model_validate(usage.model_dump() if isinstance(usage, BaseModel) else dict(usage))
            except ValidationError as exc:
                raise ValueError(f"window {window_id}: bad usage: {exc}") from exc
        async with self._write() as session:
            row = await session.get(Window, window_id, with_for_update=True)
            if row is None:
                raise LookupError(f"unknown window id {window_id}")
            row.status = status
            if status == "in_flight":
                row.attempts += 1
            if error is not None:
                row.error = error
            elif status == "done":
                row.error = None
            if latency_ms is not None:
                row.latency_ms = float(latency_ms)
            if usage is not None:
                row.usage = usage.model_dump_json()
            row.updated_at_ms = self._clock()
            await session.flush()
            return _window(row)

    async def get_window(self, window_id: int) -> WindowRecord | None:
        async with self._read() as session:
            row = await session.get(Window, window_id)
            return None if row is None else _window(row)

    async def windows(self, stream_id: str, *, flow: str | None = None) -> list[WindowRecord]:
        """A stream's windows in id order."""
        query = select(Window).where(Window.stream_id == stream_id)
        if flow is not None:
            query = query.where(Window.flow == flow)
        return await self._windows(query)

    async def unfinished_windows(self, stream_id: str | None = None, *,
                                 max_attempts: int | None = None) -> list[WindowRecord]:
        """Windows pending, in flight or failed (to send again after a restart), in id order.

        `max_attempts` leaves out windows already sent that many times.
        """
        query = select(Window).where(Window.status.in_(UNFINISHED))
        if stream_id is not None:
            query = query.where(Window.stream_id == stream_id)
        if max_attempts is not None:
            query = query.where(Window.attempts < max_attempts)
        return await self._windows(query)

    async def _windows(self, query: Select[tuple[Window]]) -> list[WindowRecord]:
        async with self._read() as session:
            rows = (await session.scalars(query.order_by(Window.id))).all()
        return [_window(row) for row in rows]

    async def window_cursor(self, stream_id: str, flow: str) -> tuple[int, int]:
        """(highest window seq, highest line seq covered) of the stream's windows for `flow`; (0, 0) when none."""
        async with self._read() as session:
            row = (await session.execute(
                select(func.max(Window.seq), func.max(Window.last_line_seq))
                .where(Window.stream_id == stream_id, Window.flow == flow))).one()
        return int(row[0] or 0), int(row[1] or 0)

    # insights and tickets --------------------------------------------------------------------------------------

    async def save_insights(self, stream_id: str, flow: str, window_id: int | None, kind: str,
                            items: Sequence[InsightItem]) -> list[InsightRecord]:
        """Dedupe on (stream_id, kind, key): returns only rows inserted or whose payload or quote changed (once
        each, in item order). A re-seen unchanged item only has its `updated_at_ms` bumped; `at_ms` stays the
        first one known (the delay figure measures from first mention)."""
        if not kind:
            raise ValueError("insight kind is empty")
        if kind == SUMMARY_KIND:
            raise ValueError("use save_summary for kind 'summary'")
        changed: dict[str, InsightRecord] = {}
        try:
            async with self._write() as session:
                # rows locked in key order, so two batches with the same keys cannot deadlock (PostgreSQL)
                for item in sorted(items, key=lambda i: i.key):
                    record, is_changed = await self._upsert_insight(
                        session, stream_id, flow, window_id, kind, item.key, item.payload, item.at_ms, item.quote)
                    if is_changed:
                        changed[item.key] = record
        except IntegrityError as exc:
            raise await self._integrity(exc, stream_id, window_id) from exc
        return [changed.pop(item.key) for item in items if item.key in changed]

    async def save_summary(self, stream_id: str, flow: str, window_id: int | None,
                           summary: BaseModel | Mapping[str, Any]) -> InsightRecord:
        """The rolling summary (a `bridge.contracts.Summary` or its JSON object): one insight of kind "summary" and
        key `flow`, replaced by each new one."""
        payload = summary.model_dump(mode="json") if isinstance(summary, BaseModel) else dict(summary)
        try:
            async with self._write() as session:
                record, _ = await self._upsert_insight(
                    session, stream_id, flow, window_id, SUMMARY_KIND, flow, payload, None, None)
        except IntegrityError as exc:
            raise await self._integrity(exc, stream_id, window_id) from exc
        return record

    async def _upsert_insight(self, session: AsyncSession, stream_id: str, flow: str, window_id: int | None,
                              kind: str, key: str, payload: dict[str, Any], at_ms: int | None,
                              quote: str | None) -> tuple[InsightRecord, bool]:
        now = self._clock()
        body = _dumps(payload)
        stmt = (self._insert(Insight)
                .values(stream_id=stream_id, flow=flow, kind=kind, key=key, payload=body, at_ms=at_ms, quote=quote,
                        window_id=window_id, created_at_ms=now, updated_at_ms=now)
                .on_conflict_do_nothing(index_elements=[Insight.stream_id, Insight.kind, Insight.key])
                .returning(Insight))
        row = (await session.scalars(stmt)).first()
        if row is not None:
            return _insight(row), True
        row = (await session.scalars(
            select(Insight).where(Insight.stream_id == stream_id, Insight.kind == kind, Insight.key == key)
            .with_for_update())).one()
        is_changed = row.payload != body or (quote is not None and row.quote != quote)
        if is_changed:
            row.payload = body
            row.flow = flow
            row.window_id = window_id
            if quote is not None:
                row.quote = quote
        if row.at_ms is None and at_ms is not None:
            row.at_ms = at_ms
        row.updated_at_ms = now
        await session.flush()
        return _insight(row), is_changed

    async def upsert_ticket(self, stream_id: str, ticket: TicketContract | Mapping[str, Any], *,
                            flow: str | None = None, window_id: int | None = None) -> tuple[TicketRecord, bool]:
        """Dedupe on (stream_id, key). The bool is True when the row is new or its content changed (worth
        publishing). A ticket without `external` keeps the external system/id/url/status already stored.
        A mapping is validated as `bridge.contracts.Ticket` (ValueError naming the field)."""
        if not isinstance(ticket, TicketContract):
            ticket = TicketContract.model_validate(dict(ticket))
        now = self._clock()
        body = _dumps(ticket.model_dump(mode="json", exclude={"external"}))
        external: dict[str, Any] = {}
        if ticket.external is not None:
            external = {"external_system": ticket.external.system, "external_id": ticket.external.id,
                        "external_url": ticket.external.url, "external_status": ticket.external.status}
        stmt = (self._insert(Ticket)
                .values(stream_id=stream_id, key=ticket.key, flow=flow, kind=ticket.kind, title=ticket.title,
                        payload=body, at_ms=ticket.at_ms, window_id=window_id, created_at_ms=now,
                        updated_at_ms=now, **external)
                .on_conflict_do_nothing(index_elements=[Ticket.stream_id, Ticket.key])
                .returning(Ticket))
        try:
            async with self._write() as session:
                row = (await session.scalars(stmt)).first()
                if row is not None:
                    return _ticket(row), True
                row = (await session.scalars(
                    select(Ticket).where(Ticket.stream_id == stream_id, Ticket.key == ticket.key)
                    .with_for_update())).one()
                is_changed = row.payload != body or any(getattr(row, k) != v for k, v in external.items())
                if is_changed:
                    row.payload, row.kind, row.title = body, ticket.kind, ticket.title
                    for name, value in external.items():
                        setattr(row, name, value)
                    if window_id is not None:
                        row.window_id = window_id
                    if flow is not None:
                        row.flow = flow
                row.updated_at_ms = now
                await session.flush()
                return _ticket(row), is_changed
        except IntegrityError as exc:
            raise await self._integrity(exc, stream_id, window_id) from exc

    # names and Team Chat deliveries (issue 15) -------------------------------------------------------------

    async def save_meeting_name(self, instance_id: str, *, product: str, topic: str | None = None,
                                host_id: str | None = None, numeric_id: str | None = None,
                                start_time_ms: int | None = None) -> None:
        """What a `*.started` webhook said about an instance; `None` keeps what is stored (a re-delivery, or a
        later webhook that says less, changes nothing it does not know)."""
        if not instance_id:
            raise ValueError("instance_id is empty")
        _check("product", product, PRODUCTS)
        now = self._clock()
        stmt = self._insert(MeetingName).values(
            instance_id=instance_id, product=product, topic=topic, host_id=host_id, numeric_id=numeric_id,
            start_time_ms=start_time_ms, updated_at_ms=now)
        stmt = stmt.on_conflict_do_update(index_elements=[MeetingName.instance_id], set_={
            "topic": func.coalesce(stmt.excluded.topic, MeetingName.topic),
            "host_id": func.coalesce(stmt.excluded.host_id, MeetingName.host_id),
            "numeric_id": func.coalesce(stmt.excluded.numeric_id, MeetingName.numeric_id),
            "start_time_ms": func.coalesce(stmt.excluded.start_time_ms, MeetingName.start_time_ms),
            "updated_at_ms": now,
        })
        async with self._write() as session:
            await session.execute(stmt)

    async def meeting_names(self, instance_ids: Sequence[str]) -> dict[str, MeetingNameRecord]:
        """instance_id -> what its `*.started` webhook said, for those that have one."""
        wanted = sorted(set(instance_ids))
        if not wanted:
            return {}
        async with self._read() as session:
            rows = (await session.scalars(select(MeetingName).where(MeetingName.instance_id.in_(wanted)))).all()
        return {row.instance_id: MeetingNameRecord.model_validate(
            {c: getattr(row, c) for c in MeetingNameRecord.model_fields}) for row in rows}

    async def host_names(self, stream_ids: Sequence[str]) -> dict[str, str]:
        """stream_id -> the name of its host (the participant with role "host" seen first)."""
        wanted = sorted(set(stream_ids))
        if not wanted:
            return {}
        async with self._read() as session:
            rows = (await session.execute(
                select(Participant.stream_id, Participant.name)
                .where(Participant.stream_id.in_(wanted), Participant.role == "host")
                .order_by(Participant.id))).all()
        hosts: dict[str, str] = {}
        for stream_id, name in rows:
            if name:
                hosts.setdefault(stream_id, name)
        return hosts

    async def set_stop_reason(self, stream_id: str, reason: int, *, fence: int | None = None) -> None:
        """Zoom's stop reason for an ended stream; LookupError when the stream is unknown."""
        async with self._write() as session:
            await self._check_fence(session, stream_id, fence)
            result = await session.execute(
                update(Meeting).where(Meeting.stream_id == stream_id)
                .values(stop_reason=int(reason), updated_at_ms=self._clock()).returning(Meeting.stream_id))
            if result.first() is None:
                raise LookupError(f"unknown stream {stream_id!r}: call upsert_meeting first")

    async def claim_delivery(self, key: str, *, stream_id: str, kind: str, to_jid: str) -> bool:
        """Take the message `key` for sending: True for the one caller that inserted its row (status pending),
        False when it already exists (sent, failed, or being sent by someone else)."""
        if not key:
            raise ValueError("delivery key is empty")
        now = self._clock()
        stmt = (self._insert(ChatDelivery)
                .values(key=key, stream_id=stream_id, kind=kind, to_jid=to_jid, status="pending", attempts=0,
                        created_at_ms=now, updated_at_ms=now)
                .on_conflict_do_nothing(index_elements=[ChatDelivery.key])
                .returning(ChatDelivery.id))
        try:
            async with self._write() as session:
                return (await session.execute(stmt)).first() is not None
        except IntegrityError as exc:
            raise await self._integrity(exc, stream_id) from exc

    async def reclaim_delivery(self, key: str, *, updated_at_ms: int) -> bool:
        """Take a pending delivery over for another try, only if nobody touched it since `updated_at_ms` (so two
        replicas sweeping at once do not both resend it)."""
        async with self._write() as session:
            result = await session.execute(
                update(ChatDelivery)
                .where(ChatDelivery.key == key, ChatDelivery.status == "pending",
                       ChatDelivery.updated_at_ms == updated_at_ms)
                .values(updated_at_ms=max(self._clock(), updated_at_ms + 1)).returning(ChatDelivery.id))
            return result.first() is not None

    async def update_delivery(self, key: str, status: DeliveryStatus, *, attempts: int | None = None,
                              message_id: str | None = None, error: str | None = None) -> None:
        """Record how a delivery went; LookupError for an unknown key."""
        values: dict[str, Any] = {"status": status, "updated_at_ms": self._clock(), "error": error}
        if attempts is not None:
            values["attempts"] = attempts
        if message_id is not None:
            values["message_id"] = message_id
        async with self._write() as session:
            result = await session.execute(
                update(ChatDelivery).where(ChatDelivery.key == key).values(**values).returning(ChatDelivery.id))
            if result.first() is None:
                raise LookupError(f"unknown chat delivery {key!r}")

    async def deliveries(self, *, stream_id: str | None = None,
                         status: DeliveryStatus | None = None) -> list[ChatDeliveryRecord]:
        """In id order."""
        query = select(ChatDelivery)
        if stream_id is not None:
            query = query.where(ChatDelivery.stream_id == stream_id)
        if status is not None:
            query = query.where(ChatDelivery.status == status)
        async with self._read() as session:
            rows = (await session.scalars(query.order_by(ChatDelivery.id))).all()
        return [ChatDeliveryRecord.model_validate({c: getattr(r, c) for c in ChatDeliveryRecord.model_fields})
                for r in rows]

    async def meetings_since(self, since_ms: int, *, live_since_ms: int | None = None) -> list[MeetingRecord]:
        """Meetings changed at or after `since_ms`, and those not ended that were created at or after
        `live_since_ms` (a long meeting's row changes rarely while it goes on): what a delivery sweep looks at."""
        recent: Any = Meeting.updated_at_ms >= since_ms
        if live_since_ms is not None:
            recent = or_(recent, and_(Meeting.status != "ended", Meeting.created_at_ms >= live_since_ms))
        async with self._read() as session:
            rows = (await session.scalars(select(Meeting).where(recent).order_by(Meeting.created_at_ms))).all()
        return [_meeting(row) for row in rows]

    async def has_unfinished_windows(self, stream_id: str) -> bool:
        """Whether any window of the stream is still pending or in flight (its flows may still answer)."""
        async with self._read() as session:
            found = await session.scalar(select(Window.id).where(
                Window.stream_id == stream_id, Window.status.in_(("pending", "in_flight"))).limit(1))
        return found is not None

    # reads (API) -----------------------------------------------------------------------------------------------

    async def list_meetings(self, *, limit: int = 100, offset: int = 0) -> list[MeetingRecord]:
        """Newest first (by created_at_ms); without participants and figures."""
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must be >= 0 (got limit={limit}, offset={offset})")
        async with self._read() as session:
            rows = (await session.scalars(
                select(Meeting).order_by(Meeting.created_at_ms.desc(), Meeting.stream_id)
                .limit(limit).offset(offset))).all()
        return [_meeting(row) for row in rows]

    async def get_meeting(self, stream_id: str) -> MeetingRecord | None:
        """The meeting with its participants and figures, None when unknown."""
        async with self._read() as session:
            row = await session.get(Meeting, stream_id)
            if row is None:
                return None
            people = (await session.scalars(
                select(Participant).where(Participant.stream_id == stream_id).order_by(Participant.id))).all()
        figures = await self.meeting_figures(stream_id)
        return _meeting(row, participants=[_participant(p) for p in people], figures=figures)

    async def insights(self, stream_id: str, *, kind: str | None = None) -> list[InsightRecord]:
        """In id (first seen) order."""
        query = select(Insight).where(Insight.stream_id == stream_id)
        if kind is not None:
            query = query.where(Insight.kind == kind)
        async with self._read() as session:
            rows = (await session.scalars(query.order_by(Insight.id))).all()
        return [_insight(row) for row in rows]

    async def tickets(self, stream_id: str) -> list[TicketRecord]:
        """In id (first seen) order."""
        async with self._read() as session:
            rows = (await session.scalars(
                select(Ticket).where(Ticket.stream_id == stream_id).order_by(Ticket.id))).all()
        return [_ticket(row) for row in rows]

    async def meeting_figures(self, stream_id: str) -> MeetingFigures:
        """Counts and percentiles for the dashboard (see `MeetingFigures`); zeros and None for an unknown stream.

        The insight delay covers insights and tickets that carry `at_ms`: it runs from the arrival at the bridge of
        the line the item came from (the last line starting at or before `at_ms`; Zoom sends a line when its speaker
        stops) to the item's creation. Meeting times alone would not do: a replay runs faster than its clock."""
        async with self._read() as session:
            lines = await session.scalar(select(func.count()).select_from(Line).where(Line.stream_id == stream_id))
            windows = (await session.execute(
                select(Window.flow, Window.status, Window.attempts, Window.coalesced, Window.latency_ms, Window.usage)
                .where(Window.stream_id == stream_id))).all()
            insights = (await session.execute(
                select(Insight.at_ms, Insight.created_at_ms).where(Insight.stream_id == stream_id))).all()
            tickets = (await session.execute(
                select(Ticket.at_ms, Ticket.created_at_ms).where(Ticket.stream_id == stream_id))).all()
            arrivals = (await session.execute(
                select(Line.start_ms, Line.received_at_ms).where(Line.stream_id == stream_id)
                .order_by(Line.start_ms))).all()
        starts = [row.start_ms for row in arrivals]
        latencies: list[float] = []
        per_flow: dict[str, list[Any]] = {}
        usage = Usage()
        for row in windows:
            per_flow.setdefault(row.flow, []).append(row)
            if row.status == "done" and row.latency_ms is not None:
                latencies.append(row.latency_ms)
            if row.usage:
                used = Usage.model_validate_json(row.usage)
                usage = Usage(model_calls=usage.model_calls + used.model_calls,
                              input_tokens=usage.input_tokens + used.input_tokens,
                              output_tokens=usage.output_tokens + used.output_tokens)
        delays = []
        for at, created in [*insights, *tickets]:
            index = bisect.bisect_right(starts, at) - 1 if at is not None else -1
            if index >= 0:
                delays.append(max(0, created - arrivals[index].received_at_ms))
        return MeetingFigures(
            lines=int(lines or 0),
            windows=len(windows),
            windows_done=sum(row.status == "done" for row in windows),
            windows_failed=sum(row.status == "failed" for row in windows),
            windows_pending=sum(row.status in ("pending", "in_flight") for row in windows),
            windows_coalesced=sum(row.coalesced for row in windows),
            attempts=sum(row.attempts for row in windows),
            latency_p50_ms=percentile(latencies, 50),
            latency_p95_ms=percentile(latencies, 95),
            model_calls=usage.model_calls,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            insights=len(insights),
            tickets=len(tickets),
            insight_delay_p50_ms=percentile(delays, 50),
            insight_delay_p95_ms=percentile(delays, 95),
            per_flow={flow: _flow_figures(rows) for flow, rows in sorted(per_flow.items())},
        )


# ORM row -> record ---------------------------------------------------------------------------------------------


def _join_spec(row: Meeting) -> JoinSpec:
    urls: list[str] = []
    if row.server_urls:
        try:
            loaded = json.loads(row.server_urls)
            urls = [str(u) for u in loaded] if isinstance(loaded, list) else []
        except ValueError:
            log.error("stored server_urls unreadable", extra={"stream_id": row.stream_id})
    return JoinSpec(stream_id=row.stream_id, instance_id=row.instance_id, product=row.product,
                    server_urls=tuple(urls), id_key=row.id_key or "meeting_uuid", status=row.status,
                    fence=row.fence)


def _flow_figures(rows: list[Any]) -> FlowFigures:
    latencies = [r.latency_ms for r in rows if r.status == "done" and r.latency_ms is not None]
    return FlowFigures(windows=len(rows), done=sum(r.status == "done" for r in rows),
                       failed=sum(r.status == "failed" for r in rows),
                       latency_p50_ms=percentile(latencies, 50), latency_p95_ms=percentile(latencies, 95))


def _line(row: Line) -> LineRecord:
    return LineRecord(seq=row.seq, speaker=row.speaker, user_id=row.user_id, start_ms=row.start_ms,
                      end_ms=row.end_ms, text=row.text, received_at_ms=row.received_at_ms)


def _window(row: Window) -> WindowRecord:
    return WindowRecord.model_validate({
        **{c: getattr(row, c) for c in WindowRecord.model_fields if c != "usage"},
        "usage": None if row.usage is None else Usage.model_validate_json(row.usage),
    })


def _insight(row: Insight) -> InsightRecord:
    return InsightRecord.model_validate({
        **{c: getattr(row, c) for c in InsightRecord.model_fields if c != "payload"},
        "payload": json.loads(row.payload),
    })


def _ticket(row: Ticket) -> TicketRecord:
    return TicketRecord.model_validate({
        **{c: getattr(row, c) for c in TicketRecord.model_fields if c != "payload"},
        "payload": json.loads(row.payload),
    })


def _participant(row: Participant) -> ParticipantRecord:
    return ParticipantRecord.model_validate({c: getattr(row, c) for c in ParticipantRecord.model_fields})


def _meeting(row: Meeting, *, participants: list[ParticipantRecord] | None = None,
             figures: MeetingFigures | None = None) -> MeetingRecord:
    fields = {c: getattr(row, c) for c in MeetingRecord.model_fields if c not in ("participants", "figures")}
    return MeetingRecord.model_validate({**fields, "participants": participants or [], "figures": figures})
