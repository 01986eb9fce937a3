"""Prometheus metrics of the intake, in a registry owned by one app (never the process-global default), so any
number of apps can live in one test process and each `/metrics` shows only its own numbers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "IntakeMetrics"]


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.webhooks = Counter(
            "rtms_webhooks", "Webhook requests by outcome.", ["outcome"], registry=r)
        self.active_streams = Gauge(
            "rtms_active_streams", "Streams the bridge currently holds.", registry=r)
        self.reconnects = Counter(
            "rtms_reconnects", "Reconnect attempts by failure scenario (rtms-protocol.md section 11).",
            ["scenario"], registry=r)
        self.keepalives = Counter(
            "rtms_keepalives_answered", "Keep-alive requests answered, by socket.", ["socket"], registry=r)
        self.events = Counter(
            "rtms_events", "Meeting events delivered to the consumer queue, by type.", ["type"], registry=r)
        self.refused_urls = Counter(
            "rtms_refused_urls", "URLs the SSRF guard refused to dial, by reason.", ["reason"], registry=r)
        self.duplicate_lines = Counter(
            "rtms_transcript_duplicates_dropped", "Transcript lines dropped as repeats after a reconnect.",
            registry=r)
        self.stream_ends = Counter(
            "rtms_stream_ends", "Streams ended, by cause.", ["cause"], registry=r)
        self.bad_frames = Counter(
            "rtms_bad_frames", "Frames from Zoom that could not be decoded or made no sense.", ["socket"],
            registry=r)
        self.consumer_errors = Counter(
            "rtms_consumer_errors", "Exceptions raised by the event consumer.", registry=r)
        self.events_lost = Counter(
            "rtms_consumer_events_lost", "Events given up after the consumer kept failing on them (logged at ERROR).",
            ["type"], registry=r)
        self.store_errors = Counter(
            "rtms_store_errors", "Store writes of the intake that failed (logged), by what was written.", ["what"],
            registry=r)
        self.queue_full = Counter(
            "rtms_consumer_queue_full", "Times a stream's event queue was full and its reader had to wait.",
            registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
