"""Which replica should hold a stream: rendezvous (highest-random-weight) hashing, a pure function.

Every replica computes the same ranking from the same list of live replicas. New streams go to the least-loaded
replica with ties broken by this rank (`Registry.place`, atomic in Redis: a burst of starts spreads evenly even
where hashing alone would not, with few streams). A stream nobody holds any more (its replica died) goes to its
top-ranked survivor: each replica decides alone, with no counter to agree on, and a dead replica's streams spread
over the survivors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def score(replica: str, stream_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{replica}\x00{stream_id}".encode(), digest_size=8).digest(), "big")


def rank(stream_id: str, replicas: Iterable[str]) -> list[str]:
    """Replicas from the best placed to the worst for `stream_id`."""
    return sorted(set(replicas), key=lambda r: (score(r, stream_id), r), reverse=True)


def pick(stream_id: str, replicas: Iterable[str]) -> str | None:
    ranked = rank(stream_id, replicas)
    return ranked[0] if ranked else None
