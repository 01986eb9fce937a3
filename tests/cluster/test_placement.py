"""Rendezvous placement: deterministic, even, and moving only a departed replica's streams."""

from __future__ import annotations

from collections import Counter

from bridge.cluster.placement import pick, rank, score

REPLICAS = ["replica-a", "replica-b", "replica-c"]
STREAMS = [f"stream-{n:05d}" for n in range(3000)]


def test_rank_and_pick_are_deterministic() -> None:
    for stream_id in STREAMS[:200]:
        ranked = rank(stream_id, REPLICAS)
        assert sorted(ranked) == sorted(REPLICAS)
        assert rank(stream_id, reversed(REPLICAS)) == ranked  # the order replicas are listed in does not matter
        assert rank(stream_id, [*REPLICAS, *REPLICAS]) == ranked  # nor duplicates
        assert rank(stream_id, iter(REPLICAS)) == ranked
        assert pick(stream_id, REPLICAS) == ranked[0] == pick(stream_id, tuple(reversed(REPLICAS)))
        scores = [score(r, stream_id) for r in ranked]
        assert scores == sorted(scores, reverse=True)
    assert score("replica-a", "s1") == score("replica-a", "s1")
    assert score("replica-a", "s1") != score("replica-b", "s1")


def test_pick_of_no_replicas() -> None:
    assert pick("s1", []) is None
    assert pick("s1", iter(())) is None
    assert rank("s1", []) == []
    assert pick("s1", ["only"]) == "only"


def test_three_replicas_share_streams_evenly() -> None:
    counts = Counter(pick(s, REPLICAS) for s in STREAMS)
    assert set(counts) == set(REPLICAS)
    for replica in REPLICAS:
        assert 0.28 <= counts[replica] / len(STREAMS) <= 0.39, counts


def test_removing_a_replica_moves_only_its_streams() -> None:
    before = {s: pick(s, REPLICAS) for s in STREAMS}
    survivors = [r for r in REPLICAS if r != "replica-b"]
    after = {s: pick(s, survivors) for s in STREAMS}
    moved = [s for s in STREAMS if before[s] == "replica-b"]
    assert moved
    for s in STREAMS:
        if before[s] != "replica-b":
            assert after[s] == before[s], s
        else:
            assert after[s] == rank(s, REPLICAS)[1]  # the runner-up takes it
    split = Counter(after[s] for s in moved)
    for replica in survivors:
        assert 0.35 <= split[replica] / len(moved) <= 0.65, split


def test_adding_a_replica_takes_streams_only_from_others_to_itself() -> None:
    before = {s: pick(s, REPLICAS) for s in STREAMS}
    grown = [*REPLICAS, "replica-d"]
    after = {s: pick(s, grown) for s in STREAMS}
    changed = [s for s in STREAMS if after[s] != before[s]]
    assert all(after[s] == "replica-d" for s in changed)
    assert 0.18 <= len(changed) / len(STREAMS) <= 0.32
