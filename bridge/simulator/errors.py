"""Errors of the simulator itself (protocol errors of its peers stay in `bridge.rtms.errors`).

SimulatorError
├── UrlValidationFailed   the webhook endpoint answered the URL-validation challenge wrongly (Zoom refuses it)
└── SimulatorNotRunning   a meeting was started on a simulator that is not (or no longer) serving
"""

from __future__ import annotations


class SimulatorError(Exception):
    pass


class UrlValidationFailed(SimulatorError):
    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"webhook endpoint {url} failed URL validation: {reason}")


class SimulatorNotRunning(SimulatorError):
    pass
