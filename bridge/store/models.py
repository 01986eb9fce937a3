"""ORM tables. The schema itself is owned by the alembic revisions in `migrations/versions`; a test checks that the
two agree (autogenerate finds no difference)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# 64-bit ids on PostgreSQL; SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")



def _stream_fk() -> ForeignKey:
    return ForeignKey("meetings.stream_id", ondelete="CASCADE")


class Base(DeclarativeBase):
    pass


class Meeting(Base):
    __tablename__ = "meetings"

    stream_id: Mapped[str] = mapped_column(String, primary_key=True)
    instance_id: Mapped[str] = mapped_column(String)
    product: Mapped[str] = mapped_column(String)
    topic: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String)
    started_at_ms: Mapped[int | None] = mapped_column(BigInteger)
    ended_at_ms: Mapped[int | None] = mapped_column(BigInteger)
    end_cause: Mapped[str | None] = mapped_column(String)
    stop_reason: Mapped[int | None] = mapped_column(Integer)
    """Zoom's stop reason when the stream ended with one (RTMS StopReason): tells a normal end from an error."""
    fence: Mapped[int] = mapped_column(BigInteger, server_default="0")
    """The highest lease token a replica claimed the stream with; writes under a lower one are refused."""
    server_urls: Mapped[str | None] = mapped_column(Text)
    """The join spec (JSON list of the signaling URLs the webhook gave), so a restarted bridge can dial again."""
    id_key: Mapped[str | None] = mapped_column(String)
    created_at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    updated_at_ms: Mapped[int] = mapped_column(BigInteger)


class Participant(Base):
    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("stream_id", "user_id", name="uq_participants_stream_user"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    stream_id: Mapped[str] = mapped_column(String, _stream_fk())
    user_id: Mapped[str] = mapped_column(String)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String)
    joined_at_ms: Mapped[int | None] = mapped_column(BigInteger)
    left_at_ms: Mapped[int | None] = mapped_column(BigInteger)


class Line(Base):
    __tablename__ = "lines"
    __table_args__ = (
        UniqueConstraint("stream_id", "seq", name="uq_lines_stream_seq"),
        UniqueConstraint("stream_id", "key", name="uq_lines_stream_key"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    stream_id: Mapped[str] = mapped_column(String, _stream_fk())
    seq: Mapped[int] = mapped_column(BigInteger)
    speaker: Mapped[str] = mapped_column(Text)
    user_id: Mapped[str] = mapped_column(String)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    key: Mapped[str | None] = mapped_column(String)
    """Who, when and a digest of what was said: the same line sent twice (a reconnect, a takeover) is one row."""
    received_at_ms: Mapped[int] = mapped_column(BigInteger)


class Window(Base):
    __tablename__ = "windows"
    __table_args__ = (
        UniqueConstraint("stream_id", "flow", "seq", name="uq_windows_stream_flow_seq"),
        Index("ix_windows_status", "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    stream_id: Mapped[str] = mapped_column(String, _stream_fk())
    flow: Mapped[str] = mapped_column(String)
    seq: Mapped[int] = mapped_column(BigInteger)
    trigger: Mapped[str] = mapped_column(String)
    first_line_seq: Mapped[int] = mapped_column(BigInteger)
    last_line_seq: Mapped[int] = mapped_column(BigInteger)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)
    coalesced: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String)
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    usage: Mapped[str | None] = mapped_column(Text)  # JSON text of records.Usage
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at_ms: Mapped[int] = mapped_column(BigInteger)


class Insight(Base):
    __tablename__ = "insights"
    __table_args__ = (UniqueConstraint("stream_id", "kind", "key", name="uq_insights_stream_kind_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    stream_id: Mapped[str] = mapped_column(String, _stream_fk())
    flow: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    key: Mapped[str] = mapped_column(String)
    payload: Mapped[str] = mapped_column(Text)  # JSON text
    at_ms: Mapped[int | None] = mapped_column(BigInteger)
    quote: Mapped[str | None] = mapped_column(Text)
    window_id: Mapped[int | None] = mapped_column(Id, ForeignKey("windows.id", ondelete="SET NULL"))
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at_ms: Mapped[int] = mapped_column(BigInteger)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (UniqueConstraint("stream_id", "key", name="uq_tickets_stream_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    stream_id: Mapped[str] = mapped_column(String, _stream_fk())
    key: Mapped[str] = mapped_column(String)
    flow: Mapped[str | None] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    title: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)  # JSON text of the ticket without `external`
    at_ms: Mapped[int | None] = mapped_column(BigInteger)
    external_system: Mapped[str | None] = mapped_column(String)
    external_id: Mapped[str | None] = mapped_column(String)
    external_url: Mapped[str | None] = mapped_column(Text)
    external_status: Mapped[str | None] = mapped_column(String)
    window_id: Mapped[int | None] = mapped_column(Id, ForeignKey("windows.id", ondelete="SET NULL"))
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at_ms: Mapped[int] = mapped_column(BigInteger)


class MeetingName(Base):
    """What `meeting.started` / `webinar.started` / `session.started` said about an instance (meeting uuid...).

    Keyed by instance, not stream: the webhook usually arrives before any stream exists, and every stream of the
    instance shares it."""

    __tablename__ = "meeting_names"

    instance_id: Mapped[str] = mapped_column(String, primary_key=True)
    product: Mapped[str] = mapped_column(String)
    topic: Mapped[str | None] = mapped_column(Text)
    host_id: Mapped[str | None] = mapped_column(String)
    numeric_id: Mapped[str | None] = mapped_column(String)
    start_time_ms: Mapped[int | None] = mapped_column(BigInteger)
    updated_at_ms: Mapped[int] = mapped_column(BigInteger)


class ChatDelivery(Base):
    """One Team Chat message the bridge owes or sent; `key` (per insight, or per meeting for the summary) is the
    idempotency key that keeps a message from going out twice after a restart or on two replicas."""

    __tablename__ = "chat_deliveries"
    __table_args__ = (UniqueConstraint("key", name="uq_chat_deliveries_key"),
                      Index("ix_chat_deliveries_status", "status"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String)
    stream_id: Mapped[str] = mapped_column(String, _stream_fk(), index=True)
    kind: Mapped[str] = mapped_column(String)
    to_jid: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    attempts: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(String)
    error: Mapped[str | None] = mapped_column(Text)
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at_ms: Mapped[int] = mapped_column(BigInteger)


class StreamAccount(Base):
    """The Zoom account a stream belongs to (from `*.rtms_started`): `app_deauthorized` names an account only."""

    __tablename__ = "stream_accounts"

    stream_id: Mapped[str] = mapped_column(String, primary_key=True)
    account_id: Mapped[str] = mapped_column(String, index=True)
    created_at_ms: Mapped[int] = mapped_column(BigInteger)


class PendingPurge(Base):
    """A purge not yet known to be complete everywhere: kind "stream" (our rows are gone; Langflow's sessions of
    `flows` and the database's copies may not be) or "account" (its streams are still to be purged). Deleted
    once done; kept, with its failures, until then, so a crash or an unreachable Langflow forgets nothing."""

    __tablename__ = "pending_purges"
    __table_args__ = (UniqueConstraint("kind", "target", name="uq_pending_purges_kind_target"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String)
    target: Mapped[str] = mapped_column(String)
    flows: Mapped[str] = mapped_column(Text, server_default="[]")  # JSON list of flow names
    reason: Mapped[str] = mapped_column(String)
    passes: Mapped[int] = mapped_column(Integer, server_default="0")
    failures: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    next_at_ms: Mapped[int] = mapped_column(BigInteger)
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
