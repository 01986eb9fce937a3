"""Anthropic prompt caching, as billed: which part of a request is written to, read from or missed by the cache.

The double reports `cache_creation_input_tokens` / `cache_read_input_tokens` from the requests it really receives,
so a benchmark's bill cannot be better than what Anthropic would charge for the same bytes. The rules (Anthropic's
prompt-caching documentation, 2026; see docs/field-notes and bench/README):

* The prompt is rendered tools -> system -> messages; every tool definition, system block and message content block
  is one block here. A `cache_control` on a block is a breakpoint: the prefix up to and including that block can be
  cached. A top-level `cache_control` on the request (automatic caching) puts one on the last block. At most 4
  breakpoints per request (more is a 400, as from the API).
* A hit needs a byte-identical prefix: the key of a prefix chains the model, each block's content and, from the
  first message on, `tool_choice` (changing it invalidates the messages' cache, not the tools' or system's). The
  `cache_control` markers themselves are not part of the content.
* Reads: for each breakpoint the service also looks back at up to 20 earlier block boundaries; the longest cached
  prefix found is read (billed 0.1x) and its lifetime is refreshed.
* Writes: the prefix up to the last breakpoint, beyond what was read, is written (1.25x for 5 minutes, 2x for
  `ttl: "1h"`) if it reaches the model's minimum cacheable length; below the minimum nothing is cached and nothing
  says so (both counters stay 0).
* Mixed lifetimes: a 1-hour breakpoint may not follow a 5-minute one (400).
* Lifetime: 5 minutes (or 1 hour) from the last write or hit, on the clock the caller passes: meeting time in the
  benchmarks, which replay faster than real time.

Token counts are the double's own counter (`wire.count_tokens`, per block), the one every benchmark uses for every
strategy. The special system prompt Anthropic adds when `tools` are present is not modelled (not billed here).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

from bridge.offline_llm.wire import ContentBlock, MessagesRequest, count_tokens

MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20
TTL_MS = {"5m": 5 * 60_000, "1h": 60 * 60_000}
WRITE_MULTIPLIER = {"5m": 1.25, "1h": 2.0}
READ_MULTIPLIER = 0.1

# Minimum cacheable prefix per model, longest name prefix first (Anthropic's prompt-caching docs, checked 2026-12).
MIN_CACHEABLE: tuple[tuple[str, int], ...] = (
    ("claude-haiku-4-5", 4096),
    ("claude-opus-4-6", 4096),
    ("claude-opus-4-5", 4096),
    ("claude-sonnet-4-6", 2048),
    ("claude-sonnet-4-5", 1024),
    ("claude-opus-4-1", 1024),
    ("claude-opus-4", 1024),
    ("claude-sonnet-4", 1024),
    ("claude-3-7-sonnet", 1024),
    ("claude-3-5-haiku", 2048),
    ("claude-3-haiku", 2048),
)
UNKNOWN_MODEL_MIN = 4096
"""A model the table does not know gets the strictest minimum, so nothing is claimed cached that might not be."""

Ttl = Literal["5m", "1h"]


class CacheRequestError(ValueError):
    """A request the API would refuse with 400 for its cache markers."""


def min_cacheable_tokens(model: str) -> int:
    name = model.lower()
    for prefix, tokens in MIN_CACHEABLE:
        if name.startswith(prefix):
            return tokens
    return UNKNOWN_MODEL_MIN


@dataclass(frozen=True)
class Block:
    """One cacheable unit of the rendered prompt."""

    section: Literal["tools", "system", "messages"]
    content: str
    tokens: int
    ttl: Ttl | None
    """Set when the block carries a `cache_control` (a breakpoint)."""


def _marker(raw: Any) -> Ttl | None:
    """The ttl of a `cache_control` value, or None when there is none; bad values are the client's error."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") != "ephemeral":
        raise CacheRequestError(f"cache_control: type must be 'ephemeral', got {raw!r}")
    ttl = raw.get("ttl", "5m")
    if ttl not in TTL_MS:
        raise CacheRequestError(f"cache_control.ttl: must be '5m' or '1h', got {ttl!r}")
    return "1h" if ttl == "1h" else "5m"


def _canonical(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=False, separators=(",", ":"))


def _without_marker(dumped: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dumped.items() if k != "cache_control" and v is not None}


def _content_block(section: Literal["system", "messages"], block: ContentBlock, prefix: str = "") -> Block:
    dumped = _without_marker(block.model_dump())
    text = block.text if block.type == "text" and block.text is not None else _canonical(dumped)
    marker = _marker((block.model_extra or {}).get("cache_control"))
    return Block(section, prefix + _canonical(dumped), count_tokens(text), marker)


def blocks(request: MessagesRequest) -> list[Block]:
    """The request's blocks in render order: tools, system, messages."""
    out: list[Block] = []
    for tool in request.tools or []:
        dumped = _without_marker(tool.model_dump())
        extra = tool.model_extra or {}
        text = _canonical({k: dumped.get(k) for k in ("name", "description", "input_schema") if k in dumped})
        out.append(Block("tools", _canonical(dumped), count_tokens(text), _marker(extra.get("cache_control"))))
    if isinstance(request.system, str):
        if request.system:
            out.append(Block("system", request.system, count_tokens(request.system), None))
    elif request.system is not None:
        out.extend(_content_block("system", block) for block in request.system)
    for message in request.messages:
        if isinstance(message.content, str):
            out.append(Block("messages", f"{message.role}:{message.content}", count_tokens(message.content), None))
        else:
            out.extend(_content_block("messages", block, f"{message.role}:") for block in message.content)
    return out


def request_tokens(request: MessagesRequest) -> int:
    """All input tokens of a request (the figure without caching): the sum over its blocks."""
    return sum(block.tokens for block in blocks(request))


def breakpoints(request: MessagesRequest, rendered: list[Block]) -> list[tuple[int, Ttl]]:
    """(block index, ttl) of every breakpoint, explicit ones and the automatic one; raises past 4."""
    found: list[tuple[int, Ttl]] = [(i, b.ttl) for i, b in enumerate(rendered) if b.ttl is not None]
    automatic = _marker((request.model_extra or {}).get("cache_control"))
    if automatic is not None and rendered and all(i != len(rendered) - 1 for i, _ in found):
        found.append((len(rendered) - 1, automatic))
    if len(found) > MAX_BREAKPOINTS:
        raise CacheRequestError(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(found)}."
        )
    ordered = sorted(found)
    if any(a == "5m" and b == "1h" for (_, a), (_, b) in pairwise(ordered)):
        raise CacheRequestError("cache_control: a ttl='1h' breakpoint must not come after a ttl='5m' one")
    return found


def prefix_keys(request: MessagesRequest, rendered: list[Block]) -> list[str]:
    """Key of the prefix ending at each block: a hash chain over the model, the blocks and (for messages)
    tool_choice, so two prefixes share a key exactly when their bytes are identical."""
    keys = []
    digest = hashlib.sha256(f"model:{request.model}".encode()).digest()
    choice_mixed = False
    for block in rendered:
        h = hashlib.sha256(digest)
        if block.section == "messages" and not choice_mixed:
            choice = request.tool_choice.model_dump() if request.tool_choice is not None else None
            h.update(f"tool_choice:{_canonical(choice)}".encode())
            choice_mixed = True
        h.update(f"{block.section}\x00{block.content}\x00".encode())
        digest = h.digest()
        keys.append(digest.hex())
    return keys


@dataclass(frozen=True)
class CacheUsage:
    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    cache_creation_5m: int = 0
    cache_creation_1h: int = 0
    breakpoints: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens


@dataclass
class _Entry:
    tokens: int
    ttl_ms: int
    expires_ms: float


@dataclass
class PromptCache:
    """The cache of one organisation: prefix key -> entry. Not thread-safe (one event loop)."""

    entries: dict[str, _Entry] = field(default_factory=dict)

    def clear(self) -> None:
        self.entries.clear()

    def _expire(self, now_ms: float) -> None:
        for key in [k for k, e in self.entries.items() if e.expires_ms <= now_ms]:
            del self.entries[key]

    def account(self, request: MessagesRequest, now_ms: float) -> CacheUsage:
        """Bill `request` at `now_ms` (ms on the caller's clock) and update the cache as the API would."""
        rendered = blocks(request)
        marks = breakpoints(request, rendered)
        total = sum(b.tokens for b in rendered)
        if not marks:
            return CacheUsage(total, 0, 0)
        self._expire(now_ms)
        keys = prefix_keys(request, rendered)
        cumulative = list(_running_sum(b.tokens for b in rendered))
        read_at = -1
        for index, _ in marks:
            for j in range(index, max(-1, index - LOOKBACK_BLOCKS), -1):
                if j > read_at and keys[j] in self.entries:
                    read_at = j
                    break
        read = cumulative[read_at] if read_at >= 0 else 0
        if read_at >= 0:
            hit = self.entries[keys[read_at]]
            hit.expires_ms = now_ms + hit.ttl_ms
        minimum = min_cacheable_tokens(request.model)
        written_to = read_at
        by_ttl = {"5m": 0, "1h": 0}
        for index, ttl in sorted(marks):
            if index <= read_at or cumulative[index] < minimum:
                continue
            by_ttl[ttl] += cumulative[index] - (cumulative[written_to] if written_to >= 0 else 0)
            self.entries[keys[index]] = _Entry(cumulative[index], TTL_MS[ttl], now_ms + TTL_MS[ttl])
            written_to = index
        created = by_ttl["5m"] + by_ttl["1h"]
        uncached = total - (cumulative[written_to] if written_to >= 0 else 0)
        return CacheUsage(uncached, created, read, by_ttl["5m"], by_ttl["1h"], len(marks))


def _running_sum(values: Iterable[int]) -> Iterable[int]:
    total = 0
    for value in values:
        total += value
        yield total


def billed_equivalent(usage: CacheUsage) -> float:
    """Input tokens at the base price that cost the same: uncached + 1.25 x 5-minute writes (2 x 1-hour writes)
    + 0.1 x reads."""
    return (
        usage.input_tokens
        + WRITE_MULTIPLIER["5m"] * usage.cache_creation_5m
        + WRITE_MULTIPLIER["1h"] * usage.cache_creation_1h
        + READ_MULTIPLIER * usage.cache_read_input_tokens
    )
