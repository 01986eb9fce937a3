"""TLS is verified by default and the CA bundle is configurable: a wss:// signaling server with a self-signed
certificate (a TLS front to the simulator on loopback) is refused without the bundle and works with it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bridge.intake.manager import StreamManager
from bridge.intake.metrics import IntakeMetrics
from bridge.rtms.webhooks import encode_webhook, parse_webhook
from bridge.simulator import MeetingSpec, Simulator
from bridge.simulator.transcripts import load_transcript
from tests.intake.conftest import Collector, make_settings
from tests.intake.live import simulator_config

pytestmark = pytest.mark.timeout(60)


def make_cert(directory: Path) -> tuple[Path, Path]:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rtms test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextlib.asynccontextmanager
async def tls_front(target_port: int, cert: Path, key: Path) -> AsyncIterator[int]:
    """Terminates TLS on a loopback port and pipes the bytes to the simulator's signaling server."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    pipes: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        for task in (asyncio.create_task(pipe(reader, up_writer)), asyncio.create_task(pipe(up_reader, writer))):
            pipes.add(task)
            task.add_done_callback(pipes.discard)

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(pipes):
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)


@contextlib.asynccontextmanager
async def webhook_sink() -> AsyncIterator[str]:
    """Where the simulator's own webhooks go here: this test hands the bridge a rewritten rtms_started itself."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    finally:
        server.close()


async def run_over_tls(tmp_path: Path, *, with_bundle: bool) -> tuple[Any, Any, Collector]:
    cert, key = make_cert(tmp_path)
    collector = Collector()
    settings = make_settings(ca_bundle=cert if with_bundle else None, signaling_reconnect_window_s=1.0)
    manager = StreamManager(settings, collector, IntakeMetrics())
    transcript = load_transcript("support").sliced(120_000)
    async with webhook_sink() as hook_url:
        config = simulator_config(hook_url, validate_url_first=False, signaling_reconnect_window_s=5.0)
        async with Simulator(config) as sim:
            port = int(sim.signaling_url.rsplit(":", 1)[1])
            async with tls_front(port, cert, key) as tls_port:
                handle = await sim.start_meeting(MeetingSpec(transcript=transcript))
                payload = {**handle.started_payload, "server_urls": f"wss://127.0.0.1:{tls_port}"}
                event = parse_webhook(encode_webhook("meeting.rtms_started", payload, int(time.time() * 1000)))
                assert manager.handle(event) == "started"
                stream = await manager.wait_stream(handle.rtms_stream_id, 30)
                if not with_bundle:
                    handle.stop()
                report = await handle.wait(30)
            await manager.shutdown()
    return stream, report, collector


async def test_self_signed_server_is_refused_by_default(tmp_path: Path) -> None:
    stream, report, collector = await run_over_tls(tmp_path, with_bundle=False)
    print(f"sent={report.lines_sent} received={len(collector.of(stream.stream_id, 'utterance'))} "
          f"end={stream.ended.cause} ({stream.ended.detail})")
    assert stream.ended.cause == "gave_up" and "CERTIFICATE_VERIFY_FAILED" in stream.ended.detail
    assert report.lines_sent == 0 and report.signaling_connections == 0


async def test_ca_bundle_makes_it_trusted(tmp_path: Path) -> None:
    stream, report, collector = await run_over_tls(tmp_path, with_bundle=True)
    lines = collector.of(stream.stream_id, "utterance")
    print(f"sent={report.lines_sent} received={len(lines)} end={stream.ended.cause}")
    assert report.lines_sent == report.lines_total == len(lines) > 0
    assert stream.ended.cause == "terminated"
