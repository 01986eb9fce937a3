"""Join specs: what `*.rtms_started` said is kept with the meeting, so the next process can dial a live stream
again; the meetings not over are listed for a starting bridge, the ended ones are not."""

from __future__ import annotations

import pytest

from bridge.store import Store
from tests.store.helpers import meeting


async def test_join_spec_is_kept_and_a_failover_replaces_the_urls(store: Store) -> None:
    assert await store.join_spec("s1") is None
    await store.save_join_spec("s1", instance_id="inst-s1", product="meeting",
                               server_urls=["wss://a.example/s", "wss://b.example/s"])
    spec = await store.join_spec("s1")
    assert spec is not None
    assert (spec.instance_id, spec.product, spec.status, spec.id_key) == ("inst-s1", "meeting", "live",
                                                                           "meeting_uuid")
    assert spec.server_urls == ("wss://a.example/s", "wss://b.example/s")
    await store.set_meeting_status("s1", "reconnecting")
    await store.save_join_spec("s1", instance_id="inst-s1", product="meeting", server_urls=["wss://c.example/s"],
                               id_key="meeting_uuid")
    spec = await store.join_spec("s1")
    assert spec is not None and spec.server_urls == ("wss://c.example/s",) and spec.status == "reconnecting"


async def test_unfinished_meetings_lists_live_and_reconnecting_only(store: Store) -> None:
    await store.save_join_spec("s1", instance_id="i1", product="meeting", server_urls=["wss://a.example/s"])
    await meeting(store, "s2")  # stored without a join spec (before revision 0003)
    await store.save_join_spec("s3", instance_id="i3", product="webinar", server_urls=["wss://a.example/t"],
                               id_key="webinar_uuid")
    await store.set_meeting_status("s3", "ended", end_cause="stopped")
    await store.save_join_spec("s4", instance_id="i4", product="meeting", server_urls=["wss://a.example/u"])
    await store.set_meeting_status("s4", "reconnecting")
    assert await store.claim_stream("s4", 3, instance_id="i4", product="meeting")
    found = {s.stream_id: s for s in await store.unfinished_meetings()}
    assert set(found) == {"s1", "s2", "s4"}
    assert found["s2"].server_urls == ()
    assert found["s4"].fence == 3 and found["s4"].status == "reconnecting"


async def test_join_spec_refuses_an_unknown_product(store: Store) -> None:
    with pytest.raises(ValueError, match="product"):
        await store.save_join_spec("s1", instance_id="i", product="radio", server_urls=[])
