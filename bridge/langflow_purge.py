"""Removing a revoked meeting's copies from Langflow 1.13, through its API.

The bridge runs each window with `session_id = "{stream_id}:{flow}"` (`bridge.pipeline.langflow_runner`), so a
meeting's copies in Langflow are exactly those sessions. What Langflow keeps of a run, and how each goes:

* messages (Chat Input / Chat Output): `DELETE /api/v1/monitor/messages/session/{session_id}`;
* traces and their spans (the native tracer): `GET /api/v1/monitor/traces?session_id=` then
  `DELETE /api/v1/monitor/traces/{trace_id}` (the spans go with their trace);
* vertex builds (the canvas's last outputs): no session in the table, only `DELETE /api/v1/monitor/builds?flow_id=`,
  which clears the flow's builds of every meeting (the canvas forgets its last outputs; nothing else is lost);
* transactions: no delete in the API. They are kept only with `LANGFLOW_TRANSACTIONS_STORAGE_ENABLED` (on by
  default in Langflow, off where the bridge starts Langflow): when the flow still has some, `kept` says so and the
  bridge logs the setting to change.

Langflow's own database keeps copies of deleted rows: with `secure_delete` in `LANGFLOW_SQLITE_PRAGMAS` (set where
the bridge starts Langflow) SQLite overwrites them in the database file, and given `database_file` the purge then
truncates the write-ahead log, which still holds them as they were. On PostgreSQL the rows are gone; their dead
tuples remain until VACUUM, and WAL segments until recycled.

A Langflow that cannot be reached or answers 5xx/401 raises `LangflowPurgeError`; the caller keeps the purge
pending and tries again.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bridge.logs import get_logger

__all__ = ["LangflowPurgeClient", "LangflowPurgeError", "PurgeOutcome", "session_id"]

log = get_logger(__name__)

MAX_TRACE_PAGES = 50
TRACE_PAGE_SIZE = 200


def session_id(stream_id: str, flow: str) -> str:
    """The session the bridge runs a meeting's windows of one flow under (see `LangflowRunner.run`)."""
    return f"{stream_id}:{flow}"


class LangflowPurgeError(RuntimeError):
    """Langflow did not confirm a deletion; the purge stays pending."""


def truncate_wal(database_file: Path, busy_timeout_s: float = 30.0) -> None:
    """`PRAGMA wal_checkpoint(TRUNCATE)` on Langflow's SQLite file (safe beside the running server: SQLite locks
    across processes). Raises `LangflowPurgeError` when a reader keeps it from finishing."""
    if not database_file.exists():
        raise LangflowPurgeError(f"Langflow's database file {database_file} does not exist")
    try:
        connection = sqlite3.connect(database_file, timeout=busy_timeout_s, isolation_level=None)
        try:
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise LangflowPurgeError(f"Langflow's database {database_file}: {exc}") from None
    if busy:
        raise LangflowPurgeError(f"the write-ahead log of {database_file} could not be truncated (a reader holds it)")


@dataclass
class PurgeOutcome:
    sessions: int = 0
    traces: int = 0
    flows_cleared: int = 0
    kept: list[str] = field(default_factory=list)
    """What Langflow still holds that its API cannot delete (each entry names the setting to change)."""


class LangflowPurgeClient:
    def __init__(self, base_url: str, api_key: str, *, database_file: Path | None = None, timeout_s: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        headers = {"x-api-key": api_key} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.database_file = database_file
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout_s,
                                         transport=transport, trust_env=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 204),
                    params: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = await self._client.request(method, path, params=params)
        except httpx.HTTPError as exc:
            raise LangflowPurgeError(f"cannot reach Langflow at {self.base_url} ({type(exc).__name__}: {exc})") \
                from None
        if response.status_code not in ok:
            raise LangflowPurgeError(f"Langflow answered HTTP {response.status_code} to {method} "
                                     f"{path.split('?')[0]}: {response.text[:200]}")
        return response

    async def purge(self, stream_id: str, flows: Iterable[str]) -> PurgeOutcome:
        """Delete every copy Langflow's API can delete of the meeting's sessions (one per flow)."""
        names = sorted(set(flows))
        outcome = PurgeOutcome()
        for flow in names:
            sid = quote(session_id(stream_id, flow), safe="")
            await self._call("DELETE", f"/api/v1/monitor/messages/session/{sid}")
            outcome.sessions += 1
            outcome.traces += await self._delete_traces(session_id(stream_id, flow))
        for flow_id in await self._flow_ids(names):
            await self._call("DELETE", "/api/v1/monitor/builds", params={"flow_id": flow_id})
            outcome.flows_cleared += 1
            kept = (await self._call("GET", "/api/v1/monitor/transactions",
                                     params={"flow_id": flow_id, "page": 1, "size": 1})).json()
            if isinstance(kept, dict) and int(kept.get("total") or 0) > 0:
                outcome.kept.append(f"transactions of flow {flow_id} (set LANGFLOW_TRANSACTIONS_STORAGE_ENABLED"
                                    f"=false on Langflow; its API cannot delete them)")
        if self.database_file is not None:
            await asyncio.to_thread(truncate_wal, self.database_file)
        return outcome

    async def _delete_traces(self, sid: str) -> int:
        deleted = 0
        for _ in range(MAX_TRACE_PAGES):
            found = (await self._call("GET", "/api/v1/monitor/traces",
                                      params={"session_id": sid, "page": 1, "size": TRACE_PAGE_SIZE})).json()
            traces = found.get("traces", []) if isinstance(found, dict) else []
            if not traces:
                return deleted
            for trace in traces:
                await self._call("DELETE", f"/api/v1/monitor/traces/{trace['id']}", ok=(200, 204, 404))
                deleted += 1
        raise LangflowPurgeError(f"more than {MAX_TRACE_PAGES * TRACE_PAGE_SIZE} traces for one session")

    async def _flow_ids(self, names: list[str]) -> list[str]:
        """The ids of the flows whose endpoint name (the bridge runs flows by it) is one of `names`."""
        flows = (await self._call("GET", "/api/v1/flows/",
                                  params={"header_flows": "true", "get_all": "true"})).json()
        rows = flows if isinstance(flows, list) else flows.get("items", []) if isinstance(flows, dict) else []
        wanted = set(names)
        return [str(row["id"]) for row in rows
                if isinstance(row, dict) and row.get("endpoint_name") in wanted]
