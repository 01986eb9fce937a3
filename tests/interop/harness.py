"""Runs `sdk_client.py` (the official-SDK app) from project tests and reads its JSON-lines events.

Use from an async test in the project venv:

    python = ensure_sdk_python()            # or pytest.skip(str(exc)) on SdkUnavailable
    sdk = await start_sdk_client(python, {"ZOOM_WEBHOOK_SECRET_TOKEN": ..., "ZOOM_CLIENT_ID": ...,
                                          "ZOOM_CLIENT_SECRET": ...}, timeout_s=60)
    try:
        ... POST the signed rtms_started webhook to sdk.webhook_url ...
        events = await sdk.collect_until_leave(timeout=30)
    finally:
        await sdk.aclose()

or `async with await start_sdk_client(...) as sdk:`. Every wait is bounded, and `aclose()` always leaves no process
behind (SIGTERM, then SIGKILL). Set RTMS_SDK_KEEP_LOGS=1 to keep the client's stderr and the SDK's own logs/.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

SDK_CLIENT = Path(__file__).with_name("sdk_client.py")
READY_TIMEOUT_S = 30.0
TERMINATE_GRACE_S = 5.0
_LINE_LIMIT = 1 << 20
_EOF: dict[str, Any] = {"event": "_eof"}


class SdkClientError(RuntimeError):
    """The SDK client process failed to start or ended without the expected events."""


class SdkClientProcess:
    """A running `sdk_client.py`; every event it printed is kept in `events` in order."""

    def __init__(self, proc: asyncio.subprocess.Process, scratch: Path) -> None:
        self.proc = proc
        self.scratch = scratch
        self.stderr_path = scratch / "stderr.log"
        self.workdir = scratch / "sdk"  # the SDK's cwd: its own logs land in workdir/logs/
        self.events: list[dict[str, Any]] = []
        self.received_at: list[float] = []  # loop.time() at which each of `events` was read
        self.port = 0
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read_stdout(), name="sdk-client-stdout")

    async def __aenter__(self) -> SdkClientProcess:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        try:
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    break
                try:
                    event = json.loads(raw)
                except ValueError:
                    event = {"event": "_unparsed", "line": raw.decode("utf-8", "replace").rstrip("\n")}
                if not isinstance(event, dict):
                    event = {"event": "_unparsed", "line": raw.decode("utf-8", "replace").rstrip("\n")}
                self.events.append(event)
                self.received_at.append(asyncio.get_running_loop().time())
                await self._queue.put(event)
        finally:
            await self._queue.put(_EOF)

    async def next_event(self, timeout: float) -> dict[str, Any] | None:  # noqa: ASYNC109 - the agreed interface; each wait is bounded inside
        """The next event, or None at end of output. Raises TimeoutError (with the stderr tail) when none came."""
        try:
            async with asyncio.timeout(timeout):
                event = await self._queue.get()
        except TimeoutError:
            raise TimeoutError(f"no event from the SDK client within {timeout:.1f} s\n{self.stderr_tail()}") from None
        if event is _EOF:
            self._queue.put_nowait(_EOF)  # stay at EOF for later callers
            return None
        return event

    async def lines(self, timeout: float = 60.0) -> AsyncIterator[dict[str, Any]]:  # noqa: ASYNC109 - the agreed interface; each wait is bounded inside
        """Yield events as they arrive until the process's output ends; `timeout` bounds each wait."""
        while (event := await self.next_event(timeout)) is not None:
            yield event

    async def wait_for(self, name: str, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109 - the agreed interface; each wait is bounded inside
        """Read until an event called `name`; raise SdkClientError at end of output, TimeoutError at the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {name!r} event within {timeout:.1f} s\n{self.stderr_tail()}")
            event = await self.next_event(remaining)
            if event is None:
                raise SdkClientError(
                    f"SDK client ended before a {name!r} event; events={self.events}\n{self.stderr_tail()}"
                )
            if event.get("event") == name:
                return event

    async def collect_until_leave(self, timeout: float) -> list[dict[str, Any]]:  # noqa: ASYNC109 - the agreed interface; each wait is bounded inside
        """Wait for the SDK's `leave` event and return every event seen so far (the `leave` included).

        Also returns, instead of raising, when the client exits first (a refused join, its own --timeout):
        the caller's assertions on the events then say what went wrong.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"no 'leave' event within {timeout:.1f} s; events={self.events}\n{self.stderr_tail()}"
                )
            event = await self.next_event(remaining)
            if event is None or event.get("event") in ("leave", "exit"):
                return list(self.events)

    def of(self, name: str) -> list[dict[str, Any]]:
        """The events called `name` seen so far."""
        return [e for e in self.events if e.get("event") == name]

    def stderr_tail(self, lines: int = 40) -> str:
        try:
            text = self.stderr_path.read_text("utf-8", "replace")
        except OSError:
            return "(no stderr captured)"
        return "--- SDK client stderr (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    async def aclose(self) -> int | None:
        """Stop the process (SIGTERM, then SIGKILL after a grace period), stop reading and remove scratch files."""
        proc = self.proc
        if proc.returncode is None and any(e.get("event") == "exit" for e in self.events[-1:]):
            # It announced its exit and is finishing by itself: let it, so its exit code stays meaningful.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TERMINATE_GRACE_S):
                    await proc.wait()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(TERMINATE_GRACE_S):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                async with asyncio.timeout(TERMINATE_GRACE_S):
                    await proc.wait()
        # The reader ends by itself at EOF; bound it anyway.
        try:
            async with asyncio.timeout(TERMINATE_GRACE_S):
                await self._reader
        except TimeoutError:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if os.environ.get("RTMS_SDK_KEEP_LOGS"):
            print(f"rtms SDK client files kept in {self.scratch}")
        else:
            shutil.rmtree(self.scratch, ignore_errors=True)
        return proc.returncode


def _make_scratch() -> tuple[Path, BinaryIO]:
    """A private directory for one client: the SDK's working dir (its logs) and our copy of its stderr."""
    scratch = Path(tempfile.mkdtemp(prefix="rtms-sdk-client-"))
    (scratch / "sdk").mkdir()
    return scratch, open(scratch / "stderr.log", "wb")  # closed by the caller once the child holds it


async def start_sdk_client(
    python: Path, env: dict[str, str], timeout_s: float, *, ready_timeout_s: float = READY_TIMEOUT_S
) -> SdkClientProcess:
    """Spawn `sdk_client.py` with the SDK venv's `python` and wait until it listens for webhooks.

    `env` must carry ZOOM_WEBHOOK_SECRET_TOKEN, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET; `timeout_s` is the client's
    own lifetime (it exits with code 3 after it).
    """
    scratch, stderr = _make_scratch()
    # Secrets come only from `env`: never inherit real Zoom credentials, nor the project venv's python settings.
    child_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith(("ZOOM_", "ZM_RTMS_"))
    }
    child_env.update(env)
    child_env["PYTHONUNBUFFERED"] = "1"
    with stderr:
        proc = await asyncio.create_subprocess_exec(
            str(python),
            str(SDK_CLIENT),
            "--port",
            "0",
            "--timeout",
            str(timeout_s),
            "--workdir",
            str(scratch / "sdk"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=child_env,
            cwd=scratch,
            limit=_LINE_LIMIT,
        )
    client = SdkClientProcess(proc, scratch)
    try:
        ready = await client.wait_for("ready", ready_timeout_s)
        client.port = int(ready["port"])
    except BaseException:
        await client.aclose()
        raise
    return client
