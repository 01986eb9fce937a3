"""One demo run: the offline model server (unless Claude is used), Langflow (a child process), the bridge (uvicorn
in this process) and the simulator, wired with this run's random secrets.

Parts start in that order and stop in the reverse one from a single exit stack, so whatever ends the run (the
meeting's end with `--exit-when-done`, Ctrl-C, SIGTERM, a failure half-way) stops everything it started; Langflow
last, by killing its whole process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr

from bridge.demo.console import Console, clock, format_end_summary, format_insight, format_ticket
from bridge.demo.datadir import DemoDir, RunningDemo
from bridge.demo.replay import ReplayQueue, add_replay_routes
from bridge.demo.watch import MeetingWatch, changes
from bridge.langflow_process import LangflowProcess, LangflowStartError, port_in_use
from bridge.logs import JsonFormatter, get_logger
from bridge.server import BridgeServer
from bridge.settings import BridgeSettings
from bridge.simulator.config import MeetingSpec, SimulatorConfig
from bridge.simulator.simulator import Simulator
from bridge.simulator.transcripts import Transcript
from bridge.store import Store

log = get_logger(__name__)

MODEL_TYPE = "AnthropicModel"  # every Anthropic node of a flow (by component type): its base_url goes offline
OFFLINE_KEY = "offline-demo-key"  # the offline server takes any non-empty key
OPENAI_TYPE = "OpenAIModel"  # Langflow's OpenAI node, when a lead swaps the model
OFFLINE_OPENAI_KEY = "offline-demo-openai-key"  # not a server env value: Langflow sends those to default hosts only
ANTHROPIC_MODELS_URL = "https://api.anthropic.com/v1/models"


class DemoError(RuntimeError):
    """A failure the user can act on; the message says what and where to look."""


@dataclass(frozen=True)
class DemoOptions:
    transcript: Transcript
    transcript_name: str
    speed: float
    data_dir: Path
    port: int = 0
    langflow_port: int = 0
    exit_when_done: bool = False
    langflow_timeout_s: float = 300.0
    settle_timeout_s: float = 180.0
    anthropic_api_key: str | None = None
    flows_config: Path | None = None
    log_level: str = "WARNING"
    force_flows: bool = False


class _EmbeddedServer(BridgeServer):
    """Leaves SIGINT/SIGTERM to the demo, which stops the parts in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_loopback(port: int, what: str, option: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise DemoError(f"port {port} on 127.0.0.1 is busy ({exc.strerror}): {what} cannot listen there; pass "
                        f"{option} with another port, or {option} 0 for any free one") from None
    return sock


def flows_dir_for(data: DemoDir) -> Path:
    """The flow JSONs Langflow loads: the checkout's `flows/` when there is one (edits there show up in the demo),
    otherwise freshly built from the installed component bundle."""
    import rtms_langflow_ext

    checkout = rtms_langflow_ext.extension_root() / "flows"
    if any(checkout.glob("*.json")):
        return checkout
    from bridge.flows_build import write_flows

    built = data.root / "flows"
    write_flows(built)
    return built


def extension_installed() -> bool:
    """True when Langflow finds the `zoom_rtms` bundle through the `langflow.extensions` entry point."""
    return any(ep.name == "rtms-langflow" for ep in importlib.metadata.entry_points(group="langflow.extensions"))


def setup_logging(path: Path, console_level: str) -> None:
    """JSON logs: everything from INFO to `demo.log` in the data directory; the terminal gets `console_level` and
    up only, so the demo's own output stays readable."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_rtms_demo", False):
            root.removeHandler(handler)
            handler.close()
    to_file = logging.FileHandler(path, mode="w", encoding="utf-8")  # this run's only
    to_file.setLevel(logging.INFO)
    to_terminal = logging.StreamHandler(sys.stderr)
    to_terminal.setLevel(console_level.upper())
    handlers: list[logging.Handler] = [to_file, to_terminal]
    for handler in handlers:
        handler.setFormatter(JsonFormatter())
        setattr(handler, "_rtms_demo", True)  # noqa: B010 - a marker, so a second setup replaces ours only
        root.addHandler(handler)
    root.setLevel(min(logging.INFO, logging.getLevelName(console_level.upper())))
    for chatty in ("httpx", "httpcore", "websockets", "uvicorn.access"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


class DemoSession:
    def __init__(self, options: DemoOptions, console: Console) -> None:
        self.options = options
        self.console = console
        self.data = DemoDir(options.data_dir.resolve())
        self.langflow: LangflowProcess | None = None
        self.finished = False
        """True once the meeting was replayed and its end summary printed (Ctrl-C afterwards is a normal exit)."""
        self.dashboard_url = ""
        self.api_token = secrets.token_urlsafe(24)
        # The Zoom app's secrets, shared by the bridge and the simulator (its fake Zoom) for this run only.
        self.webhook_secret = secrets.token_urlsafe(24)
        self.client_id = "demo-" + secrets.token_hex(8)
        self.client_secret = secrets.token_urlsafe(24)
        self._t0: int | None = None
        """Epoch ms of the meeting's start (its timeline), for the `[mm:ss]` of each insight."""
        self.replays = ReplayQueue()
        self._playing: Transcript = options.transcript

    @property
    def offline(self) -> bool:
        return not self.options.anthropic_api_key

    # -- the run ---------------------------------------------------------------------------------------------------

    async def run(self) -> int:
        async with contextlib.AsyncExitStack() as stack:
            self.data.open()
            stack.callback(self.data.close)
            setup_logging(self.data.log_path, self.options.log_level)
            self._check_ports()
            self._intro()
            for pgid in self.data.stop_orphaned_langflow():
                self.console.line(f"Stopped a Langflow left running by an earlier demo (process group {pgid}).")

            tweaks: dict[str, dict[str, str]] = {}
            if not self.offline:
                await self._check_anthropic_key()
            if self.offline:
                from bridge.offline_llm import OfflineLLM

                llm = OfflineLLM()
                await llm.start()
                stack.push_async_callback(llm.stop)
                # A flow whose model node a lead swapped for Langflow's OpenAI one runs offline too.
                tweaks = {MODEL_TYPE: {"base_url": llm.base_url},
                          OPENAI_TYPE: {"openai_api_base": f"{llm.base_url}/v1", "api_key": OFFLINE_OPENAI_KEY}}
            flows_dir = flows_dir_for(self.data)
            stack.push_async_callback(self._stop_langflow)
            langflow = await self._start_langflow()
            await self._sync_flows(langflow, flows_dir)

            app, bridge_url = await self._start_bridge(stack, langflow, tweaks)
            self.data.write_running(RunningDemo(pid=os.getpid(), langflow_url=langflow.base_url,
                                                langflow_api_key=langflow.api_key, bridge_url=bridge_url,
                                                api_token=self.api_token))
            stack.callback(self.data.clear_running)
            store = await self._store(stack, app)
            bus = getattr(app.state.bridge, "bus", None)
            if getattr(app.state.bridge, "pipeline", None) is None:
                self.console.line("WARNING: this bridge has no pipeline (bridge/pipeline is not wired into "
                                  "create_app): no flow will run, the store gets no insights.")

            sim = await stack.enter_async_context(Simulator(self._simulator_config(app, bridge_url)))
            status = await self._replay(sim, store, bus, self.options.transcript, self.options.transcript_name)
            self.finished = True
            if self.options.exit_when_done:
                return status
            while True:
                self.console.line("Still serving the dashboard; replay a meeting from it (or `rtms-langflow demo "
                                  f"replay --data-dir {self.options.data_dir}`), or press Ctrl-C to stop everything.")
                name, transcript = await self.replays.next()
                self.replays.playing = name
                try:
                    await self._replay(sim, store, bus, transcript, name)
                finally:
                    self.replays.playing = None

    # -- parts -----------------------------------------------------------------------------------------------------

    def _check_ports(self) -> None:
        for port, what, option in ((self.options.port, "the bridge", "--port"),
                                   (self.options.langflow_port, "Langflow", "--langflow-port")):
            if port and port_in_use(port):
                raise DemoError(f"port {port} on 127.0.0.1 is busy: {what} cannot listen there; pass {option} "
                                f"with another port, or {option} 0 for any free one")

    def _intro(self) -> None:
        o, t = self.options, self.options.transcript
        length = t.duration_ms
        title = t.meta.title or o.transcript_name
        self.console.line("rtms-langflow demo: Langflow + the bridge + a simulated Zoom meeting, all on this machine")
        self.console.line(f"  Meeting:  {title}: {len(t.utterances)} lines, {clock(length)} long, replayed at "
                          f"{o.speed:g}x (about {clock(int(length / o.speed))})")
        if self.offline:
            self.console.line("  Model:    OFFLINE. ANTHROPIC_API_KEY is not set, so the flows call a local "
                              "rule-based model server:")
            self.console.line("            the pipeline is real, the model's answers are rule-based. Set "
                              "ANTHROPIC_API_KEY to use Claude.")
        else:
            self.console.line("  Model:    Claude (Anthropic API, with your ANTHROPIC_API_KEY)")
        reused = ("reused: Langflow has its database already and starts faster" if self.data.reused
                  else "new: Langflow creates its database on this first start")
        self.console.line(f"  Data:     {self.data.root} ({reused})")

    async def _check_anthropic_key(self) -> None:
        """Fail before the long Langflow start when Anthropic refuses the key; only warn when it cannot be asked."""
        key = self.options.anthropic_api_key or ""
        try:
            async with httpx.AsyncClient(timeout=15) as http:
                response = await http.get(ANTHROPIC_MODELS_URL,
                                          headers={"x-api-key": key, "anthropic-version": "2023-06-01"})
        except httpx.HTTPError as exc:
            self.console.line(f"  WARNING: could not reach the Anthropic API to check ANTHROPIC_API_KEY ({exc!r}); "
                              "the flows will fail if Langflow cannot reach it either.")
            return
        if response.status_code in (401, 403):
            raise DemoError(f"the Anthropic API refused ANTHROPIC_API_KEY (HTTP {response.status_code}); fix it, "
                            "or unset it to run with the offline model")
        if response.status_code != 200:
            self.console.line(f"  WARNING: the Anthropic API answered HTTP {response.status_code} to a key check.")

    async def _start_langflow(self) -> LangflowProcess:
        creds = self.data.credentials()
        # No LANGFLOW_LOAD_FLOWS_PATH: Langflow would write the files over the flows at every start, edits and all.
        env = {"ANTHROPIC_API_KEY": self.options.anthropic_api_key or OFFLINE_KEY}
        if self.offline:
            # Langflow refuses private addresses unless allowed: the model node must reach the loopback server.
            env["LANGFLOW_SSRF_ALLOWED_HOSTS"] = "127.0.0.1"
            env["LANGFLOW_PROVIDER_CREDENTIAL_ALLOWED_HOSTS"] = "http://127.0.0.1"
        if not extension_installed():
            import rtms_langflow_ext

            env["LANGFLOW_COMPONENTS_PATH"] = str(rtms_langflow_ext.extension_root() / "components")
        self.langflow = LangflowProcess(
            workdir=self.data.langflow_dir, api_key=creds.api_key, superuser=creds.superuser,
            password=creds.password, secret_key=creds.secret_key, port=self.options.langflow_port,
            env_overrides=env,
        )
        first = not self.data.reused
        self.console.line("Starting Langflow 1.13" + (" (first run: it creates its database; a minute or two)…"
                                                        if first else "…"))
        self.langflow.spawn()

        def progress(elapsed: float, phase: str) -> None:
            self.console.status(f"  Langflow: {elapsed:3.0f} s · {phase}", key=phase, every_s=15)

        try:
            await self.langflow.wait_ready_async(self.options.langflow_timeout_s, progress)
        except LangflowStartError as exc:
            raise DemoError(str(exc)) from None
        self.console.line(f"Langflow ready in {self.langflow.startup_s:.0f} s: {self.langflow.base_url} "
                          f"(user {creds.superuser}, password {creds.password}; log {self.langflow.log_path})")
        return self.langflow

    async def _stop_langflow(self) -> None:
        if self.langflow is not None and self.langflow.process is not None:
            self.console.line("Stopping Langflow…")
            # In a thread, so a second Ctrl-C (`force_stop`) is still handled while Langflow shuts down.
            await asyncio.to_thread(self.langflow.stop)

    async def _sync_flows(self, langflow: LangflowProcess, flows_dir: Path) -> None:
        """Write the flows to Langflow, keeping any edited there since the demo last wrote them (`--force-flows`
        replaces those after a backup); what was kept or replaced is said in one line each."""
        from bridge.flows_push import FlowPushError, push_flows

        try:
            pushed = await push_flows(langflow.base_url, langflow.api_key, flows_dir, state_dir=self.data.root,
                                      force=self.options.force_flows)
        except FlowPushError as exc:
            raise DemoError(f"the flows could not be loaded into Langflow: {exc}") from None
        for flow in pushed:
            if flow.outcome in ("kept", "replaced"):
                self.console.line(f"  Flows: {flow.line()}")
        fresh = [f.endpoint_name for f in pushed if f.outcome in ("created", "updated")]
        if fresh:
            self.console.line(f"  Flows: wrote {', '.join(fresh)} to Langflow")

    async def _start_bridge(self, stack: contextlib.AsyncExitStack, langflow: LangflowProcess,
                            tweaks: dict[str, dict[str, str]]) -> tuple[Any, str]:
        from bridge.app import create_app

        sock = bind_loopback(self.options.port, "the bridge", "--port")
        port = sock.getsockname()[1]
        settings = BridgeSettings(
            _env_file=None,
            zoom_webhook_secret_token=SecretStr(self.webhook_secret), zoom_client_id=self.client_id,
            zoom_client_secret=SecretStr(self.client_secret),
            host="127.0.0.1", port=port, allowed_hosts=["127.0.0.1"], allow_insecure_ws=True,
            database_url=self.data.database_url, api_token=SecretStr(self.api_token),
            langflow_url=langflow.base_url, langflow_api_key=SecretStr(langflow.api_key),
            langflow_database_file=langflow.database_path, flows_config=self.options.flows_config,
            langflow_tweaks=tweaks,
            model_label="offline" if self.offline else "anthropic",
            shutdown_timeout_s=5.0, log_level=self.options.log_level,
        )
        app = create_app(settings)
        add_replay_routes(app, settings.api_token, self.replays)
        config = uvicorn.Config(app, log_config=None, lifespan="on", access_log=False, timeout_graceful_shutdown=3)
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="bridge")

        async def stop() -> None:
            server.should_exit = True
            try:
                async with asyncio.timeout(30):
                    await task
            except TimeoutError:
                task.cancel()
            finally:
                sock.close()

        stack.push_async_callback(stop)
        async with asyncio.timeout(60):
            while not server.started:
                if task.done():
                    task.result()
                    raise DemoError(f"the bridge stopped while starting; see {self.data.log_path}")
                await asyncio.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        self.dashboard_url = f"{url}/#token={self.api_token}"
        self.console.line(f"Bridge ready: {url} (logs: {self.data.log_path})")
        self.console.line(f"Dashboard (watch live): {self.dashboard_url}")
        return app, url

    async def _store(self, stack: contextlib.AsyncExitStack, app: Any) -> Store:
        store = getattr(app.state.bridge, "store", None)
        if isinstance(store, Store):
            return store
        own = await Store.open(self.data.database_url)  # no pipeline: read what the store has anyway
        stack.push_async_callback(own.close)
        return own

    def _simulator_config(self, app: Any, bridge_url: str) -> SimulatorConfig:
        return SimulatorConfig(
            client_id=self.client_id, client_secret=SecretStr(self.client_secret),
            webhook_secret=SecretStr(self.webhook_secret),
            webhook_url=bridge_url + app.state.bridge.settings.webhook_path, speed=self.options.speed,
            webhook_retry_schedule_s=(1.0, 2.0, 4.0),
        )

    # -- the meeting -------------------------------------------------------------------------------------------------

    async def _replay(self, sim: Simulator, store: Store, bus: Any, transcript: Transcript, name: str) -> int:
        o = self.options
        self._t0, self._playing = None, transcript
        title = transcript.meta.title or name
        handle = await sim.start_meeting(MeetingSpec(transcript=transcript, name=title))
        stream_id = handle.rtms_stream_id
        self.console.line(f"Meeting started (stream {stream_id}); insights print as the flows answer:")
        watch = MeetingWatch(store, stream_id)
        started = time.monotonic()
        meeting = asyncio.create_task(handle.wait(), name="meeting")
        try:
            async with contextlib.aclosing(changes(bus, stream_id, 1.0)) as ticks:
                async for _ in ticks:
                    await self._print_fresh(watch, store, stream_id)
                    if meeting.done():
                        break
                    position = int((time.monotonic() - started) * o.speed * 1000)
                    self.console.status(
                        f"  … meeting {clock(min(position, transcript.duration_ms))} / "
                        f"{clock(transcript.duration_ms)}", key="", every_s=30)
        finally:
            if not meeting.done():
                meeting.cancel()
        report = meeting.result()
        self.console.line(f"Meeting over: {report.lines_sent}/{report.lines_total} lines delivered. Waiting for the "
                          "final windows…")
        failed = await self._settle(watch, store, stream_id)
        await self._print_fresh(watch, store, stream_id)
        meeting_rec = await store.get_meeting(stream_id)
        self.console.line(format_end_summary(
            title=title, length_ms=transcript.duration_ms, insights=await store.insights(stream_id),
            tickets=await store.tickets(stream_id), figures=meeting_rec.figures if meeting_rec else None,
            t0_ms=self._t0, width=self.console.width))
        status = 0
        if not report.complete:
            self.console.line(f"The meeting did not complete: {report.errors or 'lines were not delivered'}")
            status = 1
        if failed:
            self.console.line(f"{failed} window(s) failed or were still unfinished; see {self.data.log_path} and "
                              f"{self.langflow.log_path if self.langflow else ''}")
            status = 1
        self.console.line(f"Dashboard: {self.dashboard_url}")
        return status

    async def _settle(self, watch: MeetingWatch, store: Store, stream_id: str) -> int:
        """Wait for the meeting's end to reach the store and its last windows to finish; unfinished windows left."""
        max_attempts = None
        with contextlib.suppress(Exception):
            from bridge.pipeline.config import load_flows_config

            max_attempts = load_flows_config(self.options.flows_config).runner.window_attempts
        await watch.ended(timeout_s=15)
        deadline = time.monotonic() + self.options.settle_timeout_s
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            await self._print_fresh(watch, store, stream_id)
            left = await watch.unfinished(max_attempts)
            now = time.monotonic()
            if left:
                quiet_since = None
                self.console.status(f"  … {left} window(s) still running", key=str(left), every_s=15)
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= 2.0:
                return len([w for w in await store.windows(stream_id) if w.status == "failed"])
            await asyncio.sleep(0.5)
        return await watch.unfinished(None)

    async def _print_fresh(self, watch: MeetingWatch, store: Store, stream_id: str) -> None:
        fresh = await watch.fresh()
        if not fresh:
            return
        if self._t0 is None:
            first = await store.lines(stream_id, limit=1)
            if first and self._playing.utterances:
                self._t0 = first[0].start_ms - self._playing.utterances[0].start_ms
        width = self.console.width
        for record in fresh.insights:
            self.console.line(format_insight(record, self._t0, width))
        for ticket in fresh.tickets:
            self.console.line(format_ticket(ticket, self._t0, width))

    def force_stop(self) -> None:
        """A second Ctrl-C: do not wait for Langflow to shut down gracefully."""
        if self.langflow is not None:
            self.langflow.kill()
