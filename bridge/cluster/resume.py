"""The one resume path: how a bridge takes up a stream another holder had, whether that holder was a replica that
died or drained (`Coordinator`) or this same bridge before a crash or a restart (`Solo`).

Taking a stream means: the store's fence raised to the new token (writes under older ones are refused from then
on), the windows the previous holder left unfinished sent again and the lines it stored but never windowed
windowed here (`Pipeline.adopt`), then the stream dialled from its stored `server_urls` as a resumed stream
(`StreamManager.adopt`): Zoom keeps a stream whose app went away for its reconnect window (60 s) and re-sends what
was said meanwhile; a line stored twice is stored once (`line_key`).
"""

from __future__ import annotations

from bridge.intake.manager import StreamManager
from bridge.intake.stream import StreamSpec
from bridge.pipeline.consumer import Pipeline


async def take_stream(manager: StreamManager, pipeline: Pipeline | None, spec: StreamSpec, fence: int, *,
                      dial: bool, resumed: bool) -> str:
    """Take `spec`'s stream under `fence`; dial it unless `dial` is False (Zoom stopped it meanwhile: only its
    windows are finished). Returns the manager's label (`adopted`, `already_held`, `refused_url`, `not_accepting`)
    or `not_dialled`. Raises `bridge.store.Fenced` when a newer holder is recorded."""
    if pipeline is not None:
        await pipeline.adopt(spec.rtms_stream_id, fence, instance_id=spec.instance_id, product=spec.product.value)
    if not dial:
        return "not_dialled"
    return manager.adopt(spec, resumed=resumed)
