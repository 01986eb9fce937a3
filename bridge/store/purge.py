"""A revoke removes the words everywhere the bridge put them, and a purge that fails is not forgotten.

Two triggers: stop reason 8 (one stream) and Zoom's `app_deauthorized` (every stream of an account; Zoom's rule:
delete the account's data once the app is uninstalled, within ten days at most). Both end in `Store.delete_stream`,
which deletes the stream's rows and, in the same transaction, records a pending purge (table `pending_purges`)
naming the flows the stream ran. The `Purger` then works through the pending purges until each is done:

* Langflow: the sessions `"{stream_id}:{flow}"` (messages, traces, vertex builds; see `bridge.langflow_purge`);
* our database's copies: SQLite overwrites deleted rows (`PRAGMA secure_delete=ON`, set on every connection) and
  `PRAGMA wal_checkpoint(TRUNCATE)` empties the write-ahead log that still holds the rows as they were. PostgreSQL
  deletes the rows; until VACUUM reuses their space, the dead tuples remain in the table's files, and in WAL segments
  and base backups until those are recycled (the README says so);
* a second pass once `settle_s` has passed since the revoke: a run Langflow was executing when the bridge cancelled
  it may still write its messages after the first pass.

A failure (Langflow down, a checkpoint blocked by a reader) is logged, counted and retried with a capped, jittered
backoff; the row stays until a pass succeeds, across restarts. An account purge is recorded first too, then turned
into one stream purge per stream of the account (`stream_accounts`, filled from `*.rtms_started`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import delete, func, select, update

from bridge.langflow_purge import LangflowPurgeClient, LangflowPurgeError
from bridge.logs import get_logger
from bridge.store.models import PendingPurge, StreamAccount
from bridge.store.store import Store

__all__ = ["CopiesRemain", "PurgeMetrics", "Purger"]

log = get_logger(__name__)

BACKOFF_BASE_S: Final = 1.0
BACKOFF_CAP_S: Final = 300.0
IDLE_CHECK_S: Final = 30.0
"""How often the worker looks at the table when nothing woke it (another replica may have recorded a purge)."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class CopiesRemain(RuntimeError):
    """A copy could not be removed now (e.g. the SQLite WAL could not be truncated: a reader holds it)."""


class PurgeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.purges = Counter("rtms_purges", "Purges completed, by kind (stream, account).", ["kind"], registry=r)
        self.failures = Counter("rtms_purge_failures", "Purge passes that failed and will be retried, by stage.",
                                ["stage"], registry=r)
        self.kept = Counter("rtms_purge_copies_kept", "Purges after which Langflow still held copies its API "
                            "cannot delete (see the log for the setting to change).", registry=r)
        self.pending = Gauge("rtms_purges_pending", "Purges recorded and not yet complete.", registry=r)


class Purger:
    def __init__(self, store: Store, *, langflow: LangflowPurgeClient | None = None, flows: Sequence[str] = (),
                 delete_stream: Callable[[str], Awaitable[object]] | None = None, settle_s: float = 120.0,
                 metrics: PurgeMetrics | None = None, clock: Callable[[], int] = _now_ms,
                 rng: random.Random | None = None) -> None:
        """`delete_stream(stream_id)` deletes a stream's rows and stops work in progress for it (the pipeline's
        `purge`); by default `store.delete_stream`. `flows`: the configured flow names (a stream revoked before
        any window was stored still ran none; one whose windows are gone may have run any of them)."""
        self.store = store
        self.langflow = langflow
        self.flows = tuple(flows)
        self.delete_stream = delete_stream or store.delete_stream
        self.settle_ms = int(settle_s * 1000)
        self.metrics = metrics or PurgeMetrics()
        self.clock = clock
        self.rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._pass = asyncio.Lock()  # one pass at a time in this process (the worker, `wait_done`)
        self._task: asyncio.Task[None] | None = None
        self._undeleted: dict[str, None] = {}  # revoked streams whose rows the store refused to delete (yet)

    # -- triggers ------------------------------------------------------------------------------------------------

    async def remember_account(self, stream_id: str, account_id: str) -> None:
        """`*.rtms_started` names the stream's account: kept so an `app_deauthorized` finds its streams."""
        stmt = self.store._insert(StreamAccount).values(stream_id=stream_id, account_id=account_id,
                                                        created_at_ms=self.clock())
        async with self.store._write() as session:
            await session.execute(stmt.on_conflict_do_update(index_elements=[StreamAccount.stream_id],
                                                             set_={"account_id": account_id}))

    async def deauthorize(self, account_id: str) -> None:
        """Record that every stream of `account_id` is to be purged (the webhook answers once this is stored)."""
        now = self.clock()
        stmt = self.store._insert(PendingPurge).values(kind="account", target=account_id, reason="app_deauthorized",
                                                       next_at_ms=now, created_at_ms=now)
        async with self.store._write() as session:
            await session.execute(stmt.on_conflict_do_update(
                index_elements=[PendingPurge.kind, PendingPurge.target], set_={"next_at_ms": now}))
        log.info("account deauthorized: purge recorded", extra={"account_id": account_id})
        self._wake.set()

    async def revoked(self, stream_id: str) -> None:
        """The stream manager's revoke hook (stop reason 8). A store that refuses the delete does not lose the
        revoke: it is retried with the pending purges."""
        try:
            await self.delete_stream(stream_id)
        except Exception:
            self.metrics.failures.labels(stage="delete").inc()
            log.exception("revoked stream not deleted yet: will retry", extra={"stream_id": stream_id})
            self._undeleted[stream_id] = None
        self._wake.set()

    # -- the worker ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="purger")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.langflow is not None:
            await self.langflow.aclose()

    async def _run(self) -> None:
        while True:
            try:
                wait_s = await self.run_due()
            except Exception:  # the table itself could not be read: the store is down; try again later
                self.metrics.failures.labels(stage="store").inc()
                log.exception("pending purges not readable: will retry")
                wait_s = BACKOFF_BASE_S * 5
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._wake.wait()
            self._wake.clear()

    async def run_due(self) -> float:
        """One pass over what is due; returns the seconds until the next purge is due (at most `IDLE_CHECK_S`)."""
        async with self._pass:
            return await self._run_due()

    async def _run_due(self) -> float:
        for stream_id in list(self._undeleted):
            try:
                await self.delete_stream(stream_id)
            except Exception:
                self.metrics.failures.labels(stage="delete").inc()
                log.exception("revoked stream still not deleted: will retry", extra={"stream_id": stream_id})
            else:
                self._undeleted.pop(stream_id, None)
        now = self.clock()
        async with self.store._read() as session:
            due = (await session.scalars(select(PendingPurge).where(PendingPurge.next_at_ms <= now)
                                         .order_by(PendingPurge.kind, PendingPurge.id))).all()
        for row in due:  # "account" rows first: they add the stream rows this pass then works on
            if row.kind == "account":
                await self._attempt(row, self._account)
        async with self.store._read() as session:
            due = (await session.scalars(select(PendingPurge).where(
                PendingPurge.kind == "stream", PendingPurge.next_at_ms <= self.clock()).order_by(PendingPurge.id)
            )).all()
        for row in due:
            await self._attempt(row, self._stream)
        async with self.store._read() as session:
            left = await session.scalar(select(func.count()).select_from(PendingPurge)) or 0
            upcoming = await session.scalar(select(func.min(PendingPurge.next_at_ms)))
        self.metrics.pending.set(left + len(self._undeleted))
        if self._undeleted:
            return BACKOFF_BASE_S * 5
        if upcoming is None:
            return IDLE_CHECK_S
        return max(0.0, min(IDLE_CHECK_S, (upcoming - self.clock()) / 1000))

    async def wait_done(self, timeout_s: float) -> bool:
        """True once nothing is pending (tests, and an operator's check); runs due purges meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            wait_s = await self.run_due()
            async with self.store._read() as session:
                left = await session.scalar(select(func.count()).select_from(PendingPurge)) or 0
            if not left and not self._undeleted:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(wait_s, remaining) or 0.01)  # due times come from the clock: wait for them

    async def _attempt(self, row: PendingPurge, work: Callable[[PendingPurge], Awaitable[bool]]) -> None:
        try:
            finished = await work(row)
        except Exception as exc:
            failures = row.failures + 1
            delay_s = self.rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(failures, 16)))
            stage = "langflow" if isinstance(exc, LangflowPurgeError) else \
                "copies" if isinstance(exc, CopiesRemain) else "store"
            self.metrics.failures.labels(stage=stage).inc()
            log.error("purge pass failed: will retry", exc_info=not isinstance(exc, (LangflowPurgeError,
                                                                                      CopiesRemain)),
                      extra={"kind": row.kind, "target": row.target, "stage": stage, "failures": failures,
                             "retry_in_s": round(delay_s, 1), "error": str(exc)[:300]})
            try:
                async with self.store._write() as session:
                    await session.execute(update(PendingPurge).where(PendingPurge.id == row.id).values(
                        failures=failures, last_error=str(exc)[:2000],
                        next_at_ms=self.clock() + int(delay_s * 1000)))
            except Exception as store_exc:  # the store itself failed: the row stays due, the next pass retries it
                log.warning("purge failure not recorded", extra={"kind": row.kind, "target": row.target,
                                                                 "error": str(store_exc)[:300]})
            return
        if finished:
            async with self.store._write() as session:
                await session.execute(delete(PendingPurge).where(PendingPurge.id == row.id))
            self.metrics.purges.labels(kind=row.kind).inc()
            log.info("purge complete", extra={"kind": row.kind, "target": row.target, "passes": row.passes + 1,
                                              "failures": row.failures})

    async def _account(self, row: PendingPurge) -> bool:
        async with self.store._read() as session:
            streams = (await session.scalars(
                select(StreamAccount.stream_id).where(StreamAccount.account_id == row.target))).all()
        for stream_id in streams:
            await self.delete_stream(stream_id)  # records the stream's own pending purge
            async with self.store._write() as session:  # gone even if the stream had no meeting row
                await session.execute(delete(StreamAccount).where(StreamAccount.stream_id == stream_id))
        log.info("account purge: streams deleted", extra={"account_id": row.target, "streams": len(streams)})
        return True

    async def _stream(self, row: PendingPurge) -> bool:
        flows = sorted(set(json.loads(row.flows or "[]")) | set(self.flows))
        if self.langflow is not None and flows:
            outcome = await self.langflow.purge(row.target, flows)
            for kept in outcome.kept:
                self.metrics.kept.inc()
                log.warning("Langflow keeps copies its API cannot delete", extra={"stream_id": row.target,
                                                                                   "kept": kept})
        await self.scrub()
        now = self.clock()
        settled = now >= row.created_at_ms + self.settle_ms
        if not settled:  # again once runs cancelled at the revoke can no longer write to Langflow
            async with self.store._write() as session:
                await session.execute(update(PendingPurge).where(PendingPurge.id == row.id).values(
                    passes=row.passes + 1, next_at_ms=row.created_at_ms + self.settle_ms, last_error=None))
        return settled

    async def scrub(self) -> None:
        """Remove the copies of deleted rows the database still holds: on SQLite, truncate the WAL (deleted pages
        are already zeroed by `secure_delete`). `CopiesRemain` when a reader keeps the checkpoint from finishing."""
        if self.store.engine.dialect.name != "sqlite":
            return
        async with self.store._write_lock or contextlib.nullcontext(), self.store.engine.connect() as conn:
            busy, _, _ = (await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
        if busy:
            raise CopiesRemain("the SQLite write-ahead log could not be truncated (a reader holds it)")
