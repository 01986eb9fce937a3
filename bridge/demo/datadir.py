"""The demo's data directory (`.rtms-demo/` by default): kept between runs so the second run starts faster.

Layout: `langflow/` (Langflow's SQLite database, config, temp files and `langflow.log`), `bridge.db` (the store),
`demo.log` (the bridge's JSON logs),
`credentials.json` (Langflow's secret key, API key and superuser password: the secret key must stay the same for
the credentials Langflow stored encrypted to stay readable), `demo.lock` (one demo per directory), `running.json`
(where the running demo's Langflow and bridge listen, for `demo replay` and `flows push/pull --demo-dir`), and
`pushed-flows.json` with `flow-backups/` (what the demo last wrote to Langflow, so it never overwrites an edit).
A Langflow orphaned by a demo that was killed outright is found by its working directory and stopped by the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict, ValidationError

from bridge.langflow_process import fernet_key, kill_group
from bridge.logs import get_logger

log = get_logger(__name__)


class DataDirBusy(RuntimeError):
    """Another demo holds the directory's lock."""


class LangflowCredentials(BaseModel):
    model_config = ConfigDict(extra="ignore")

    secret_key: str
    api_key: str
    superuser: str = "admin"
    password: str

    @classmethod
    def new(cls) -> LangflowCredentials:
        return cls(secret_key=fernet_key(), api_key="lf-demo-" + secrets.token_urlsafe(18),
                   password="demo-" + secrets.token_urlsafe(9))


class RunningDemo(BaseModel):
    """Where a running demo listens; written once it is up, removed when it stops."""

    model_config = ConfigDict(extra="ignore")

    pid: int
    langflow_url: str
    langflow_api_key: str
    bridge_url: str
    api_token: str


@dataclass
class DemoDir:
    root: Path
    _lock: IO[str] | None = None

    @property
    def langflow_dir(self) -> Path:
        return self.root / "langflow"

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.root / 'bridge.db'}"

    @property
    def log_path(self) -> Path:
        return self.root / "demo.log"

    @property
    def reused(self) -> bool:
        """True when an earlier run left a Langflow database here (start-up skips creating it)."""
        return (self.langflow_dir / "langflow.db").is_file()

    def open(self) -> DemoDir:
        """Create the directory and take its lock; `DataDirBusy` when another demo runs on it."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle = (self.root / "demo.lock").open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise DataDirBusy(f"another rtms-langflow demo (pid {holder}) is using {self.root}; stop it or pass "
                              "another --data-dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle
        return self

    def close(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    @property
    def running_path(self) -> Path:
        return self.root / "running.json"

    def write_running(self, running: RunningDemo) -> None:
        fd = os.open(self.running_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(running.model_dump_json(indent=2))

    def clear_running(self) -> None:
        self.running_path.unlink(missing_ok=True)

    def running(self) -> RunningDemo | None:
        """The demo running on this directory, if any: its `running.json`, when its process is alive."""
        try:
            running = RunningDemo.model_validate_json(self.running_path.read_text(encoding="utf-8"))
        except (OSError, ValidationError):
            return None
        try:
            os.kill(running.pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return running

    def credentials(self) -> LangflowCredentials:
        """The Langflow credentials of this directory, made on the first run."""
        path = self.root / "credentials.json"
        try:
            return LangflowCredentials.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            pass
        except (OSError, ValidationError):
            log.warning("demo.credentials_unreadable", extra={"path": str(path)})
        creds = LangflowCredentials.new()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(creds.model_dump(), out, indent=2)
        return creds

    # -- a Langflow left behind by a demo that was killed (SIGKILL gives no chance to clean up) ------------------

    def stop_orphaned_langflow(self) -> list[int]:
        """Stop what an earlier run of this directory left running (any process whose working directory is
        `langflow/`: only our Langflow runs there); the process groups stopped."""
        target = self.langflow_dir.resolve()
        groups: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if Path(os.readlink(entry / "cwd")).resolve() == target:
                    groups.add(os.getpgid(int(entry.name)))
            except OSError:
                continue  # gone, or not ours to look at
        groups.discard(os.getpgid(0))
        for pgid in sorted(groups):
            log.warning("demo.orphan_stopped", extra={"pgid": pgid})
            kill_group(pgid, timeout_s=15)
        return sorted(groups)
