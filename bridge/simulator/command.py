"""`rtms-langflow simulate`: run a fake Zoom against a webhook URL and print a report per meeting.

Progress goes to stderr as JSON log lines; the final report is one JSON object per meeting on stdout.
Exit status: 0 when every meeting delivered every line, 1 otherwise, 2 for bad options or missing credentials.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys

from pydantic import ValidationError

from bridge.logs import configure_logging, get_logger
from bridge.preflight import check_address
from bridge.rtms.enums import Product, StopReason
from bridge.settings import BadSetting, ZoomCredentials
from bridge.simulator.config import CHAOS_KINDS, ChaosEvent, MeetingSpec, SimulatorConfig
from bridge.simulator.errors import UrlValidationFailed
from bridge.simulator.report import MeetingReport
from bridge.simulator.simulator import Simulator
from bridge.simulator.transcripts import Transcript, TranscriptError, load_transcript, sample_names

log = get_logger(__name__)

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2


def _chaos(text: str) -> ChaosEvent:
    try:
        return ChaosEvent.parse(text)
    except (ValueError, ValidationError) as exc:
        raise argparse.ArgumentTypeError(
            str(exc).splitlines()[0] if isinstance(exc, ValueError) else str(exc)
        ) from None


def _schedule(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated seconds, e.g. 300,1200,3600; got {text!r}"
        ) from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"retry delays must be finite numbers, got {text!r}")
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("retry delays must be >= 0")
    return values


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):  # inf and nan parse as floats but mean nothing here
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535, got {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _stop_reason(text: str) -> int:
    value = _count(text)
    if value > 1000:
        raise argparse.ArgumentTypeError(f"expected an RTMS stop reason (0-1000), got {text}")
    return value


# SimulatorConfig and MeetingSpec fields -> the option that sets them, for one-line errors.
_OPTIONS = {
    "webhook_url": "--webhook-url", "extra_webhook_urls": "--webhook-url", "host": "--host",
    "port_signaling": "--port-signaling", "port_media": "--port-media", "speed": "--speed",
    "keepalive_interval_s": "--keepalive-interval", "keepalive_misses": "--keepalive-misses",
    "signaling_reconnect_window_s": "--signaling-window", "media_reconnect_window_s": "--media-window",
    "webhook_timeout_s": "--webhook-timeout", "webhook_retry_schedule_s": "--retry-schedule",
    "redeliver_s": "--redeliver-after-loss", "chaos": "--chaos", "stop_reason": "--stop-reason",
    "client_id": "ZOOM_CLIENT_ID", "client_secret": "ZOOM_CLIENT_SECRET", "webhook_secret": "ZOOM_WEBHOOK_SECRET_TOKEN",
}


def _problems(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = [str(part) for part in error["loc"]]
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{_OPTIONS.get(loc[0], loc[0])}: {message}" if loc else message)
    return lines


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run a local fake Zoom: it validates the webhook URL, sends signed *.rtms_started webhooks, serves the RTMS "
        "signaling and media WebSockets on loopback, replays a transcript (msg 17) and ends each stream with msg 8 "
        "state 4 and *.rtms_stopped. Credentials come from ZOOM_WEBHOOK_SECRET_TOKEN, ZOOM_CLIENT_ID and "
        "ZOOM_CLIENT_SECRET (environment or .env), the same values the bridge uses."
    )
    parser.epilog = (
        f"Chaos kinds: {', '.join(CHAOS_KINDS)}. ARG is a stop reason for stop (e.g. stop@5:1), seconds for "
        "delay_webhook (delay_webhook@0:2 delays the first rtms_started), a medium for drop_media "
        "(drop_media@3:audio). Progress is logged to stderr as JSON lines; the report is printed to stdout, one "
        "JSON object per meeting. Exit status 0 when every line of every meeting was delivered, 1 otherwise, 2 on "
        "bad options or missing credentials."
    )
    add = parser.add_argument
    add(
        "--webhook-url",
        required=True,
        action="append",
        metavar="URL",
        help="where Zoom's webhooks go: the bridge's webhook endpoint, e.g. http://127.0.0.1:8000/zoom/webhook; "
        "repeat it for bridge replicas behind a stand-in load balancer (round-robin, an unreachable URL is passed "
        "over for the next; each must answer the URL validation)",
    )
    add(
        "--transcript",
        default="sales",
        metavar="NAME|PATH",
        help=f"what the meeting says: a bundled sample ({', '.join(sample_names())}) or a .jsonl, .vtt, .srt or "
        "AMI .json file (default: %(default)s)",
    )
    add("--max-lines", type=_count, default=0, metavar="N", help="replay only the first N lines (0: all)")
    add(
        "--speed",
        type=_positive_float,
        default=1.0,
        metavar="N",
        help="replay N times faster than real time; timestamps keep the meeting's own pace (default: %(default)s)",
    )
    add(
        "--meetings",
        type=_positive_int,
        default=1,
        metavar="N",
        help="run N meetings at once, each its own stream (default: %(default)s)",
    )
    add(
        "--product",
        choices=[p.value for p in Product],
        default=Product.MEETING.value,
        help="Zoom product family: decides webhook names and the id key (meeting_uuid, webinar_uuid, session_id, "
        "engagement_id, call_id) (default: %(default)s)",
    )
    add(
        "--audio",
        action="store_true",
        help="send synthetic L16 audio (16 kHz by default) at the negotiated send rate when the client asks for audio",
    )
    add(
        "--media-mode",
        choices=["split", "unified"],
        default="unified",
        help="what the signaling reply advertises: one media URL for all media (unified) or a URL per medium "
        "(split); the media server accepts either way of connecting (default: %(default)s)",
    )
    add(
        "--chaos",
        type=_chaos,
        action="append",
        default=[],
        metavar="KIND@LINE[:ARG]",
        help="inject a fault just before line LINE (0-based) of every meeting; repeatable",
    )
    add(
        "--stop-reason",
        type=_stop_reason,
        default=int(StopReason.MEETING_ENDED),
        metavar="N",
        help="stop reason sent when a replay ends normally (6: meeting ended)",
    )
    add("--host", default="127.0.0.1", help="address the RTMS WebSocket servers listen on (default: %(default)s)")
    add("--port-signaling", type=_port, default=0, metavar="PORT", help="signaling server port (0: any free port)")
    add("--port-media", type=_port, default=0, metavar="PORT", help="media server port (0: any free port)")
    add(
        "--keepalive-interval",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="seconds of silence on a socket before a keep-alive request (msg 12) is sent (default: %(default)s)",
    )
    add(
        "--keepalive-misses",
        type=_positive_int,
        default=3,
        metavar="N",
        help="unanswered keep-alives in a row after which the stream is interrupted (default: %(default)s)",
    )
    add(
        "--signaling-window",
        type=_positive_float,
        default=60.0,
        metavar="S",
        help="seconds Zoom waits for the app to reconnect signaling before ending the stream (default: %(default)s)",
    )
    add(
        "--media-window",
        type=_positive_float,
        default=65.0,
        metavar="S",
        help="seconds Zoom waits for a dropped media socket to come back before ending the stream "
        "(default: %(default)s)",
    )
    add(
        "--webhook-timeout",
        type=_positive_float,
        default=3.0,
        metavar="S",
        help="seconds the endpoint has to answer a webhook with a 2xx before it counts as failed "
        "(default: %(default)s)",
    )
    add(
        "--retry-schedule",
        type=_schedule,
        default=(300.0, 1200.0, 3600.0),
        metavar="S,S,...",
        help="delays before each re-delivery of a failed webhook; Zoom's are 5, 20 and 60 minutes "
        "(default: 300,1200,3600); compress them for tests",
    )
    add(
        "--redeliver-after-loss",
        type=_non_negative_float,
        default=0.0,
        metavar="S",
        help="when a socket that carried transcript lines is lost mid-stream, write the lines sent on it in the "
        "last S seconds again once a transcript socket streams (at-least-once, to test deduplication; Zoom "
        "documents no re-delivery) (default: %(default)s)",
    )
    add(
        "--no-url-validation",
        action="store_true",
        help="skip the endpoint.url_validation challenge that otherwise precedes the first event",
    )
    add(
        "--frame-style",
        choices=["compact", "styled"],
        default="compact",
        help="JSON layout of the frames the servers send; styled is the official SDK's tab-indented layout "
        "(default: %(default)s)",
    )
    add(
        "--frame-opcode",
        choices=["text", "binary"],
        default="text",
        help="WebSocket frame type the servers send; Zoom may send binary frames of JSON (default: %(default)s)",
    )
    add(
        "--require-event-subscription",
        action="store_true",
        help="send participant and speaker events only after a msg 5 subscription (the official SDK never sends "
        "one, so by default they are always sent)",
    )
    add(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="progress log level; transcript text is logged at DEBUG only (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    credentials = ZoomCredentials()
    missing = credentials.missing()
    if missing:
        print(
            f"rtms-langflow simulate: missing credentials {', '.join(missing)}: set them in the environment or "
            "in .env (the same values the bridge uses)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    configure_logging(args.log_level)
    for chatty in ("websockets", "httpx", "httpcore"):  # one line per connection or request: progress drowns
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        transcript = load_transcript(args.transcript)
    except TranscriptError as exc:
        print(f"rtms-langflow simulate: --transcript: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.max_lines < 0:
        print("rtms-langflow simulate: --max-lines must be >= 0", file=sys.stderr)
        return EXIT_USAGE
    if args.max_lines:
        transcript = Transcript(meta=transcript.meta, utterances=transcript.utterances[: args.max_lines])
    try:
        config = SimulatorConfig(
            client_id=credentials.zoom_client_id,
            client_secret=credentials.zoom_client_secret,
            webhook_secret=credentials.zoom_webhook_secret_token,
            webhook_url=args.webhook_url[0],
            extra_webhook_urls=tuple(args.webhook_url[1:]),
            host=args.host,
            port_signaling=args.port_signaling,
            port_media=args.port_media,
            speed=args.speed,
            keepalive_interval_s=args.keepalive_interval,
            keepalive_misses=args.keepalive_misses,
            signaling_reconnect_window_s=args.signaling_window,
            media_reconnect_window_s=args.media_window,
            webhook_timeout_s=args.webhook_timeout,
            webhook_retry_schedule_s=args.retry_schedule,
            validate_url_first=not args.no_url_validation,
            frame_style=args.frame_style,
            frame_opcode=args.frame_opcode,
            require_event_subscription=args.require_event_subscription,
            media_mode=args.media_mode,
            redeliver_s=args.redeliver_after_loss,
        )
        title = transcript.meta.title or args.transcript
        specs = [
            MeetingSpec(
                transcript=transcript,
                product=Product(args.product),
                audio=args.audio,
                chaos=args.chaos,
                stop_reason=args.stop_reason,
                name=title if args.meetings == 1 else f"{title} #{n + 1}",
            )
            for n in range(args.meetings)
        ]
    except ValidationError as exc:
        for line in _problems(exc):
            print(f"rtms-langflow simulate: {line}", file=sys.stderr)
        return EXIT_USAGE
    try:  # the servers bind these: a bad host or a taken port is a usage error, not a traceback
        check_address(args.host, args.port_signaling, host_name="--host", port_name="--port-signaling")
        if args.port_media:
            check_address(args.host, args.port_media, host_name="--host", port_name="--port-media")
    except BadSetting as exc:
        print(f"rtms-langflow simulate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        reports = asyncio.run(_simulate(config, specs))
    except UrlValidationFailed as exc:
        print(f"rtms-langflow simulate: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        return EXIT_INCOMPLETE
    for report in reports:
        print(report.model_dump_json(), flush=True)
    return EXIT_OK if all(r.complete for r in reports) else EXIT_INCOMPLETE


async def _simulate(config: SimulatorConfig, specs: list[MeetingSpec]) -> list[MeetingReport]:
    async with Simulator(config) as sim:
        log.info(
            "simulator ready",
            extra={
                "signaling_url": sim.signaling_url,
                "meetings": len(specs),
                "webhook_urls": list(config.webhook_urls),
            },
        )
        return await sim.run_meetings(specs)
