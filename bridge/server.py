"""The uvicorn server the bridge runs under (`serve` and the demo).

Uvicorn waits for open connections to finish before it runs the app's shutdown, but a live event stream (an open
dashboard tab) only ends when the event bus closes, which the shutdown does: without help every stop would wait out
the whole grace period and then cancel the streams. So the bus is closed as soon as the server starts to shut down.
"""

from __future__ import annotations

import socket

import uvicorn


class BridgeServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        bridge = getattr(getattr(self.config.app, "state", None), "bridge", None)
        bus = getattr(bridge, "bus", None)
        if bus is not None:
            bus.close()
        await super().shutdown(sockets)
