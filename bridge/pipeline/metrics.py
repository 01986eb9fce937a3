"""Prometheus metrics of the pipeline, registered in the app's own registry (the intake's), so `/metrics` shows
both and any number of apps can live in one test process."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["PipelineMetrics"]

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
_DELAY_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600)


class PipelineMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.windows = Counter(
            "rtms_pipeline_windows", "Windows cut and stored for sending, by flow and trigger.",
            ["flow", "trigger"], registry=r)
        self.windows_done = Counter(
            "rtms_pipeline_windows_done", "Windows answered and stored, by flow.", ["flow"], registry=r)
        self.windows_coalesced = Counter(
            "rtms_pipeline_windows_coalesced", "Windows that came due while the flow's previous run was in "
            "flight and were folded into the next one.", ["flow"], registry=r)
        self.windows_failed = Counter(
            "rtms_pipeline_windows_failed", "Window sends that failed (after their retries), by flow and whether "
            "the window will be sent again.", ["flow", "final"], registry=r)
        self.windows_resent = Counter(
            "rtms_pipeline_windows_resent", "Unfinished windows sent again after a restart.", ["flow"], registry=r)
        self.utterances_skipped = Counter(
            "rtms_pipeline_utterances_skipped", "Utterances dropped from windows because too many were waiting.",
            ["flow"], registry=r)
        self.attempts = Counter(
            "rtms_pipeline_run_attempts", "HTTP attempts at Langflow runs, by flow and outcome.",
            ["flow", "outcome"], registry=r)
        self.latency = Histogram(
            "rtms_pipeline_langflow_latency_seconds", "Round trip of a successful Langflow run, by flow.",
            ["flow"], buckets=_LATENCY_BUCKETS, registry=r)
        self.insight_delay = Histogram(
            "rtms_pipeline_insight_delay_seconds", "From the arrival of an utterance's last line to the stored "
            "insight that rests on it, by flow.", ["flow"], buckets=_DELAY_BUCKETS, registry=r)
        self.insights = Counter(
            "rtms_pipeline_insights", "New or changed insights stored, by kind.", ["kind"], registry=r)
        self.insight_errors = Counter(
            "rtms_pipeline_insight_errors", "Items a flow reported in `errors` (dropped by the flow), by flow.",
            ["flow"], registry=r)
        self.lines = Counter(
            "rtms_pipeline_lines", "Transcript lines stored.", registry=r)
        self.lines_repeated = Counter(
            "rtms_pipeline_lines_repeated", "Transcript lines received again and not stored twice.", registry=r)
        self.handler_errors = Counter(
            "rtms_pipeline_errors", "Unexpected errors in the pipeline, by stage.", ["stage"], registry=r)
        self.runs_in_flight = Gauge(
            "rtms_pipeline_runs_in_flight", "Langflow runs being sent now (bounded by max_concurrent_runs).",
            registry=r)
        self.runs_waiting = Gauge(
            "rtms_pipeline_runs_waiting", "Windows waiting for a free run slot.", registry=r)
        self.pending_utterances = Gauge(
            "rtms_pipeline_pending_utterances", "Utterances waiting for their next window, all meetings and flows.",
            registry=r)
        self.bus_depth = Gauge(
            "rtms_pipeline_bus_queue_depth", "Events waiting in the fullest live-event subscriber queue.",
            registry=r)
        self.circuit_open = Gauge(
            "rtms_pipeline_circuit_open", "1 while the Langflow circuit breaker is open.", registry=r)
        self.meetings = Gauge(
            "rtms_pipeline_meetings", "Meetings the pipeline holds window state for.", registry=r)

    def watch(self, *, pending: Callable[[], float], bus_depth: Callable[[], float],
              circuit_open: Callable[[], float], meetings: Callable[[], float]) -> None:
        """Gauges read at scrape time."""
        self.pending_utterances.set_function(pending)
        self.bus_depth.set_function(bus_depth)
        self.circuit_open.set_function(circuit_open)
        self.meetings.set_function(meetings)
