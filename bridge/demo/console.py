"""What the demo prints: start-up progress, each insight as it arrives, and the end-of-meeting summary.

The formatting is pure (records in, text out) so it is tested without a terminal; `Console` only decides where the
text goes. This is the demo's output for the person watching, not a log: it shows meeting content on purpose.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
import time
from typing import Any, TextIO

from bridge.store import InsightRecord, MeetingFigures, TicketRecord

INDENT = " " * 13
SUMMARY_TEXT_MAX = 1200  # the dashboard shows all of it


def clock(ms: int | None) -> str:
    """`mm:ss` (or `h:mm:ss`) of a meeting offset; `--:--` when unknown."""
    if ms is None or ms < 0:
        return "--:--"
    seconds = ms // 1000
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


def _offset(at_ms: int | None, t0_ms: int | None) -> int | None:
    return None if at_ms is None or t0_ms is None else at_ms - t0_ms


def _quote(text: Any, limit: int = 160) -> str:
    text = " ".join(str(text or "").split())
    return f"\u201c{text if len(text) <= limit else text[: limit - 1] + '…'}\u201d"


def _wrap(text: str, width: int, indent: str = INDENT) -> str:
    return textwrap.fill(" ".join(text.split()), width=width, initial_indent=indent, subsequent_indent=indent)


def is_objection(record: InsightRecord) -> bool:
    return record.kind.startswith("objection") or "suggested_reply" in record.payload


def format_objection(record: InsightRecord, t0_ms: int | None, width: int = 100) -> str:
    p = record.payload
    head = f"[{clock(_offset(record.at_ms, t0_ms))}] OBJECTION  {p.get('category', record.kind)}"
    speaker = p.get("speaker")
    said = f"{speaker}: " if speaker else ""
    lines = [head, _wrap(f"{said}{_quote(record.quote or p.get('quote'))}", width)]
    reply = p.get("suggested_reply")
    if reply:
        lines.append(_wrap(f"Suggested reply: {reply}", width))
    return "\n".join(lines)


def ticket_status(record: TicketRecord) -> str:
    if record.external_status == "dry_run":
        return "dry run: not filed"
    if record.external_status in ("created", "existing"):
        where = record.external_url or f"{record.external_system} {record.external_id}"
        return f"filed: {where}"
    return "not filed"


def format_ticket(record: TicketRecord, t0_ms: int | None, width: int = 100) -> str:
    p = record.payload
    details = [f"owner {p['owner']}" if p.get("owner") else "", f"due {p['due']}" if p.get("due") else "",
               f"priority {p['priority']}" if p.get("priority") else ""]
    extra = ", ".join(d for d in details if d)
    head = f"[{clock(_offset(record.at_ms, t0_ms))}] TICKET     {record.kind}: {record.title}"
    return "\n".join([head, _wrap(f"{extra + ' · ' if extra else ''}{ticket_status(record)}", width)])


def summary_counts(payload: dict[str, Any]) -> str:
    counts = [(len(payload.get(k) or []), label) for k, label in
              (("key_points", "key point"), ("decisions", "decision"), ("open_questions", "open question"))]
    return ", ".join(f"{n} {label}{'' if n == 1 else 's'}" for n, label in counts)


def summary_at_ms(record: InsightRecord) -> int | None:
    """The time of the latest point a summary rests on (the record itself carries none)."""
    times = [p.get("at_ms") for key in ("key_points", "decisions", "open_questions")
             for p in (record.payload.get(key) or []) if isinstance(p, dict)]
    known = [t for t in times if isinstance(t, int)]
    return max(known) if known else record.at_ms


def format_summary_update(record: InsightRecord, t0_ms: int | None, width: int = 100) -> str:
    at = summary_at_ms(record)
    head = f"[{clock(_offset(at, t0_ms))}] SUMMARY    updated: {summary_counts(record.payload)}"
    text = str(record.payload.get("text") or "")
    return head + ("\n" + _wrap(text[:200] + ("…" if len(text) > 200 else ""), width) if text else "")


def format_other(record: InsightRecord, t0_ms: int | None, width: int = 100) -> str:
    label = record.kind.upper()[:10].ljust(10)
    what = record.quote or record.payload.get("title") or record.payload.get("text") or record.key
    return f"[{clock(_offset(record.at_ms, t0_ms))}] {label} {_quote(what)}"


def format_insight(record: InsightRecord, t0_ms: int | None, width: int = 100) -> str:
    if record.kind == "summary":
        return format_summary_update(record, t0_ms, width)
    if is_objection(record):
        return format_objection(record, t0_ms, width)
    return format_other(record, t0_ms, width)


def _points(title: str, items: list[dict[str, Any]], width: int) -> list[str]:
    if not items:
        return []
    out = [f"  {title}:"]
    for item in items:
        out.append(textwrap.fill(" ".join(str(item.get("text", "")).split()), width=width,
                                 initial_indent="    - ", subsequent_indent="      "))
    return out


def _ms(value: float | None) -> str:
    return "-" if value is None else (f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms")


def format_end_summary(*, title: str, length_ms: int, insights: list[InsightRecord], tickets: list[TicketRecord],
                       figures: MeetingFigures | None, t0_ms: int | None, width: int = 100) -> str:
    """The block printed once the meeting is over and its final windows are processed."""
    rule = "=" * min(width, 100)
    out = [rule, f"End of meeting: {title} ({clock(length_ms)})", rule]
    summaries = [r for r in insights if r.kind == "summary"]
    if summaries:
        payload = summaries[-1].payload
        out.append("Summary:")
        if payload.get("text"):
            text = " ".join(str(payload["text"]).split())
            text = text if len(text) <= SUMMARY_TEXT_MAX else text[: SUMMARY_TEXT_MAX - 1] + "…"
            out.append(textwrap.fill(text, width=width, initial_indent="  ", subsequent_indent="  "))
        out += _points("Key points", list(payload.get("key_points") or []), width)
        out += _points("Decisions", list(payload.get("decisions") or []), width)
        out += _points("Open questions", list(payload.get("open_questions") or []), width)
    else:
        out.append("Summary: none (the summary flow produced nothing for this meeting)")
    objections = sorted((r for r in insights if r.kind != "summary" and is_objection(r)),
                        key=lambda r: (r.at_ms or 0, r.id))
    out.append(f"Objections ({len(objections)}):")
    for r in objections:
        p = r.payload
        out.append(textwrap.fill(f"[{clock(_offset(r.at_ms, t0_ms))}] {p.get('category', r.kind)}: "
                                 f"{_quote(r.quote or p.get('quote'), 120)}", width=width, initial_indent="  ",
                                 subsequent_indent="    "))
        if p.get("suggested_reply"):
            out.append(textwrap.fill(f"reply: {' '.join(str(p['suggested_reply']).split())}", width=width,
                                     initial_indent="    ", subsequent_indent="    "))
    out.append(f"Tickets ({len(tickets)}):")
    for t in sorted(tickets, key=lambda t: (t.at_ms or 0, t.id)):
        out.append(textwrap.fill(f"[{t.kind}] {t.title} ({ticket_status(t)})", width=width, initial_indent="  ",
                                 subsequent_indent="    "))
    others = [r for r in insights if r.kind != "summary" and not is_objection(r)]
    if others:
        out.append(f"Other insights ({len(others)}):")
        out += [f"  {format_other(r, t0_ms, width)}" for r in others]
    if figures is not None:
        out.append(
            f"Figures: {figures.lines} lines, {figures.windows} windows ({figures.windows_failed} failed, "
            f"{figures.windows_coalesced} coalesced), flow latency p50 {_ms(figures.latency_p50_ms)} / p95 "
            f"{_ms(figures.latency_p95_ms)}, {figures.model_calls} model calls "
            f"({figures.input_tokens} in / {figures.output_tokens} out tokens)"
        )
    return "\n".join(out)


class Console:
    """Writes the demo's output; on a terminal, progress rewrites one line instead of adding lines."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.width = min(shutil.get_terminal_size((100, 24)).columns, 120) if self.tty else 100
        self._status = False
        self._last_status = 0.0
        self._last_text = ""

    def line(self, text: str = "") -> None:
        self._clear_status()
        print(text, file=self.out, flush=True)

    def status(self, text: str, *, key: str = "", every_s: float = 10.0) -> None:
        """A progress line: rewritten in place on a terminal; elsewhere printed when `key` changes or every
        `every_s` seconds, so the output of a non-interactive run stays short."""
        if self.tty:
            print("\r\033[K" + text[: self.width - 1], end="", file=self.out, flush=True)
            self._status = True
            return
        now = time.monotonic()
        if key != self._last_text or now - self._last_status >= every_s:
            self._last_text, self._last_status = key, now
            print(text, file=self.out, flush=True)

    def _clear_status(self) -> None:
        if self._status:
            print("\r\033[K", end="", file=self.out, flush=True)
            self._status = False
