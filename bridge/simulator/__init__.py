"""The simulator: a fake Zoom that speaks RTMS (webhooks, signaling and media servers) and replays transcripts."""

from bridge.simulator.config import ChaosEvent, MeetingSpec, SimulatorConfig
from bridge.simulator.errors import SimulatorError, SimulatorNotRunning, UrlValidationFailed
from bridge.simulator.report import MeetingReport, RejectedHandshake, WebhookRecord
from bridge.simulator.simulator import MeetingHandle, Simulator

__all__ = [
    "ChaosEvent",
    "MeetingHandle",
    "MeetingReport",
    "MeetingSpec",
    "RejectedHandshake",
    "Simulator",
    "SimulatorConfig",
    "SimulatorError",
    "SimulatorNotRunning",
    "UrlValidationFailed",
    "WebhookRecord",
]
