"""Ticket Creator: files the extracted items in Jira Cloud, Zendesk, GitHub Issues or any HTTP webhook, once.

Idempotent across windows and retries: every item carries a stable key (from the Ticket Extractor), written onto
the ticket (a Jira label, a Zendesk external_id, a GitHub label, a webhook `Idempotency-Key` header) and looked up
before creating, so re-running a window finds the ticket instead of filing it twice. Dry-run mode (the default)
creates nothing and reports what would be filed. Credentials are secret inputs, so they can come from Langflow
global variables. Requests go through Langflow's SSRF-protected HTTP helpers (loopback or private hosts need
LANGFLOW_SSRF_ALLOWED_HOSTS). Self-contained (lfx and the standard library only): embedded in flows as-is.
"""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import datetime, timezone
from typing import Any

from lfx.custom.custom_component.component import Component
from lfx.io import BoolInput, DataInput, DropdownInput, FloatInput, MultiselectInput, Output, SecretStrInput, StrInput
from lfx.schema.data import Data

STAGE = "ticket_creator"
SYSTEMS = ["jira", "zendesk", "github", "webhook"]
KINDS = ["ticket", "action_item", "bug"]
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Which inputs each system uses (the others are hidden when the system changes).
_FIELDS = {
    "jira": {"base_url", "email", "api_token", "project", "issue_type"},
    "zendesk": {"base_url", "email", "api_token"},
    "github": {"base_url", "api_token", "project"},
    "webhook": {"base_url", "api_token"},
}
_DEFAULT_URLS = {"github": "https://api.github.com"}


class TicketSystemError(RuntimeError):
    """A ticket system answered with something other than success; the message names the system and status."""


def _clock(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")  # noqa: UP017


def ticket_body(ticket: dict[str, Any], meeting: dict[str, Any] | None) -> str:
    """The plain-text description every system gets: what, who said it when, and the idempotency key."""
    lines = [ticket["description"], ""]
    lines.append(
        f'Said by {ticket["speaker"] or "an unknown speaker"} at {_clock(ticket["at_ms"])}: "{ticket["quote"]}"'
    )
    facts = [f"Kind: {ticket['kind']}", f"Priority: {ticket['priority']}"]
    if ticket.get("owner"):
        facts.append(f"Owner: {ticket['owner']}")
    if ticket.get("due"):
        facts.append(f"Due: {ticket['due']}")
    lines.append(" | ".join(facts))
    if meeting:
        lines.append(f"Meeting: {meeting.get('topic') or '(no topic)'} ({meeting.get('id')})")
    lines.append(f"rtms-langflow key: {ticket['key']}")
    return "\n".join(lines)


def _check(response: Any, system: str, action: str, ok: tuple[int, ...] = (200, 201)) -> Any:
    if response.status_code not in ok:
        raise TicketSystemError(f"{system} {action} failed: HTTP {response.status_code}: {response.text[:300]}")
    try:
        return response.json()
    except ValueError:
        raise TicketSystemError(f"{system} {action} answered HTTP {response.status_code} without JSON") from None


# -- per-system lookups and creation ---------------------------------------------------------------------------
# Module-level functions rather than methods: Langflow compiles a component's class body twice on every run.


def _marker(conf: dict[str, Any], ticket: dict[str, Any]) -> str:
    prefix = re.sub(r"[^A-Za-z0-9_-]", "", str(conf["label_prefix"] or "rtms")) or "rtms"
    return f"{prefix}-{ticket['key']}"


def _http() -> tuple[Any, Any]:
    """Langflow's SSRF-checked HTTP helpers (an internal lfx module: imported only when a ticket is filed, and a
    Langflow without it gets an error that says so rather than an unchecked client)."""
    try:
        from lfx.utils.ssrf_httpx import ssrf_safe_httpx_get, ssrf_safe_strict_httpx_post
    except ImportError as exc:
        raise RuntimeError(
            "this Langflow has no lfx.utils.ssrf_httpx (SSRF-checked HTTP, Langflow 1.13): tickets cannot be filed "
            "safely; use Dry run, or run Langflow 1.13"
        ) from exc
    return ssrf_safe_httpx_get, ssrf_safe_strict_httpx_post


def _jira(conf: dict[str, Any], base: str, ticket: dict[str, Any], meeting: dict[str, Any] | None) -> dict[str, Any]:
    get, post = _http()
    auth = base64.b64encode(f"{conf['email']}:{conf['api_token']}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Accept": "application/json"}
    timeout = conf["timeout"]
    marker = _marker(conf, ticket)
    found = _check(
        get(
            f"{base}/rest/api/3/search/jql",
            headers=headers,
            timeout=timeout,
            params={"jql": f'labels = "{marker}"', "fields": "key,status", "maxResults": 1},
        ),
        "jira",
        "search",
    )
    for issue in found.get("issues") or []:
        return {"system": "jira", "id": issue["key"], "url": f"{base}/browse/{issue['key']}", "status": "existing"}
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]}
        for line in ticket_body(ticket, meeting).split("\n")
        if line
    ]
    fields: dict[str, Any] = {
        "project": {"key": conf["project"]},
        "summary": ticket["title"][:250],
        "description": {"type": "doc", "version": 1, "content": paragraphs},
        "issuetype": {"name": "Bug" if ticket["kind"] == "bug" else (conf["issue_type"] or "Task")},
        "labels": [marker, f"rtms-{ticket['kind'].replace('_', '-')}"],
    }
    if ticket.get("due") and _ISO_DATE.match(ticket["due"]):
        fields["duedate"] = ticket["due"]
    created = _check(
        post(f"{base}/rest/api/3/issue", headers=headers, json={"fields": fields}, timeout=timeout),
        "jira",
        "create",
    )
    return {"system": "jira", "id": created["key"], "url": f"{base}/browse/{created['key']}", "status": "created"}


def _zendesk(conf: dict[str, Any], base: str, ticket: dict[str, Any], meeting: dict[str, Any] | None) -> dict[str, Any]:
    get, post = _http()
    auth = base64.b64encode(f"{conf['email']}/token:{conf['api_token']}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Accept": "application/json"}
    timeout = conf["timeout"]
    marker = _marker(conf, ticket)
    found = _check(
        get(f"{base}/api/v2/tickets.json", headers=headers, params={"external_id": marker}, timeout=timeout),
        "zendesk",
        "search",
    )
    for existing in found.get("tickets") or []:
        tid = str(existing["id"])
        return {"system": "zendesk", "id": tid, "url": f"{base}/agent/tickets/{tid}", "status": "existing"}
    body: dict[str, Any] = {
        "subject": ticket["title"],
        "comment": {"body": ticket_body(ticket, meeting)},
        "priority": {"medium": "normal"}.get(ticket["priority"], ticket["priority"]),
        "type": "problem" if ticket["kind"] == "bug" else "task",
        "external_id": marker,
        "tags": ["rtms", f"rtms_{ticket['kind']}"],
    }
    if body["type"] == "task" and ticket.get("due") and _ISO_DATE.match(ticket["due"]):
        body["due_at"] = f"{ticket['due']}T17:00:00Z"
    created = _check(
        post(f"{base}/api/v2/tickets.json", headers=headers, json={"ticket": body}, timeout=timeout),
        "zendesk",
        "create",
    )
    tid = str(created["ticket"]["id"])
    return {"system": "zendesk", "id": tid, "url": f"{base}/agent/tickets/{tid}", "status": "created"}


def _github(conf: dict[str, Any], base: str, ticket: dict[str, Any], meeting: dict[str, Any] | None) -> dict[str, Any]:
    get, post = _http()
    repo = str(conf["project"] or "").strip().strip("/")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
        raise ValueError(f"github needs the repository as owner/name in 'Project / repository', got {repo!r}")
    headers = {
        "Authorization": f"Bearer {conf['api_token']}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    timeout = conf["timeout"]
    marker = _marker(conf, ticket)
    found = _check(
        get(
            f"{base}/repos/{repo}/issues",
            headers=headers,
            timeout=timeout,
            params={"labels": marker, "state": "all", "per_page": 1},
        ),
        "github",
        "search",
    )
    for issue in found or []:
        return {"system": "github", "id": str(issue["number"]), "url": issue.get("html_url"), "status": "existing"}
    body = {"title": ticket["title"], "body": ticket_body(ticket, meeting), "labels": [marker, ticket["kind"]]}
    created = _check(
        post(f"{base}/repos/{repo}/issues", headers=headers, json=body, timeout=timeout), "github", "create"
    )
    return {"system": "github", "id": str(created["number"]), "url": created.get("html_url"), "status": "created"}


def _webhook(conf: dict[str, Any], url: str, ticket: dict[str, Any], meeting: dict[str, Any] | None) -> dict[str, Any]:
    _, post = _http()
    headers = {"Idempotency-Key": ticket["key"], "Content-Type": "application/json"}
    if conf["api_token"]:
        headers["Authorization"] = f"Bearer {conf['api_token']}"
    event = {"event": "rtms-langflow.ticket", "key": ticket["key"], "ticket": ticket, "meeting": meeting}
    response = post(url, headers=headers, json=event, timeout=conf["timeout"])
    if response.status_code == 409:
        return {"system": "webhook", "id": ticket["key"], "url": None, "status": "existing"}
    answer = _check(response, "webhook", "post", ok=(200, 201, 202))
    answer = answer if isinstance(answer, dict) else {}
    status = "existing" if answer.get("status") == "existing" else "created"
    return {
        "system": "webhook",
        "id": str(answer.get("id") or ticket["key"]),
        "url": answer.get("url"),
        "status": status,
    }


def file_tickets(
    incoming: dict[str, Any],
    meeting: dict[str, Any] | None,
    system: str,
    conf: dict[str, Any],
    *,
    dry_run: bool,
    wanted: set[str],
    base_url: str,
) -> tuple[dict[str, Any], str]:
    """The Tickets output (the extractor's document with each item's `external` set) and a status line."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown ticket system {system!r}; choose one of {', '.join(SYSTEMS)}")
    tickets = [dict(t) for t in incoming["tickets"]]
    errors = list(incoming.get("errors") or [])
    counts = {"created": 0, "existing": 0, "dry_run": 0, "failed": 0, "skipped": 0}
    base = ""
    if not dry_run and tickets:
        from lfx.base.models.provider_ssrf import validate_provider_base_url

        base = (base_url or _DEFAULT_URLS.get(system, "")).strip().rstrip("/")
        if not base:
            raise ValueError(f"{system} needs a Base URL (or switch on Dry run)")
        if not conf["api_token"] and system != "webhook":
            raise ValueError(f"{system} needs an API token (or switch on Dry run)")
        validate_provider_base_url(base)
    create = {"jira": _jira, "zendesk": _zendesk, "github": _github, "webhook": _webhook}[system]
    for ticket in tickets:
        if ticket.get("kind") not in wanted:
            counts["skipped"] += 1
            continue
        if dry_run:
            ticket["external"] = {"system": system, "id": f"dry-run:{ticket['key']}", "url": None, "status": "dry_run"}
            counts["dry_run"] += 1
            continue
        try:
            ticket["external"] = create(conf, base, ticket, meeting)
            counts[ticket["external"]["status"]] += 1
        except Exception as exc:  # any failure (HTTP status, transport, bad answer) is reported per ticket
            counts["failed"] += 1
            reason = str(exc) if isinstance(exc, TicketSystemError) else f"{type(exc).__name__}: {exc}"
            errors.append({"stage": STAGE, "message": f"{system}: {reason}"[:500], "detail": ticket["key"]})
    done = ", ".join(f"{n} {label}" for label, n in counts.items() if n)
    return {**incoming, "tickets": tickets, "errors": errors}, (f"{system}: {done}" if tickets else "no tickets")


def _runs_inline(async_name: str) -> Any:
    """Mark a sync output method as having a coroutine twin, `async_name`, that Langflow awaits on its event loop
    instead of sending the method to a worker thread (lfx's `delegates_to`; a no-op where lfx lacks it). For output
    methods that only compute: the thread hop costs more than their work."""
    try:
        from lfx.utils.async_helpers import delegates_to
    except ImportError:
        return lambda method: method
    return delegates_to(async_name)


class TicketCreatorComponent(Component):
    display_name = "Ticket Creator"
    description = "Creates the extracted tickets in Jira Cloud, Zendesk, GitHub Issues or a webhook, each only once."
    icon = "ticket-plus"
    name = "RTMSTicketCreator"

    inputs = [
        DataInput(
            name="tickets",
            display_name="Tickets",
            info="The Ticket Extractor component's Tickets output.",
            input_types=["Data", "JSON"],
            required=True,
        ),
        DataInput(
            name="window",
            display_name="Window",
            info="Optional: the Transcript Window's Window output, to name the meeting in each ticket.",
            input_types=["Data", "JSON"],
            required=False,
        ),
        DropdownInput(
            name="system",
            display_name="Ticket system",
            options=SYSTEMS,
            value="jira",
            real_time_refresh=True,
            info="Where tickets go: Jira Cloud, Zendesk, GitHub Issues, or an HTTP webhook of your own.",
        ),
        BoolInput(
            name="dry_run",
            display_name="Dry run",
            info="Create nothing; report what would be created. Switch off once the credentials are set.",
            value=True,
        ),
        StrInput(
            name="base_url",
            display_name="Base URL",
            info="Jira: https://your-site.atlassian.net; Zendesk: https://your-subdomain.zendesk.com; "
            "GitHub: https://api.github.com (or your Enterprise API URL); webhook: the full URL to POST to.",
            value="",
        ),
        StrInput(
            name="email",
            display_name="Account email",
            info="Jira and Zendesk: the email of the account the API token belongs to.",
            value="",
        ),
        SecretStrInput(
            name="api_token",
            display_name="API token",
            info="Jira or Zendesk API token, GitHub token (issues: write), or the webhook's bearer token. "
            "Pick a global variable to keep it out of the flow.",
            value="",
            required=False,
        ),
        StrInput(
            name="project",
            display_name="Project / repository",
            info="Jira: the project key (e.g. OPS). GitHub: owner/repository.",
            value="",
        ),
        StrInput(
            name="issue_type",
            display_name="Jira issue type",
            info="Issue type for tickets and action items; bugs use 'Bug'.",
            value="Task",
            advanced=True,
        ),
        MultiselectInput(
            name="kinds",
            display_name="Kinds to create",
            options=KINDS,
            value=list(KINDS),
            advanced=True,
        ),
        StrInput(
            name="label_prefix",
            display_name="Label prefix",
            info="Prefix of the label / external id that carries each item's idempotency key.",
            value="rtms",
            advanced=True,
        ),
        FloatInput(name="timeout_s", display_name="Timeout (seconds)", value=15.0, advanced=True),
    ]
    outputs = [Output(display_name="Tickets", name="created", method="create_tickets")]

    def update_build_config(self, build_config: Any, field_value: Any, field_name: str | None = None) -> Any:
        if field_name == "system" and field_value in _FIELDS:
            for field in ("base_url", "email", "api_token", "project", "issue_type"):
                if field in build_config:
                    build_config[field]["show"] = field in _FIELDS[field_value]
        return build_config

    @_runs_inline("_created_inline")
    def create_tickets(self) -> Data:
        incoming = getattr(self.tickets, "data", self.tickets)
        if not isinstance(incoming, dict) or incoming.get("kind") != "tickets" or "tickets" not in incoming:
            raise ValueError("connect the Ticket Extractor component's Tickets output to the Tickets input")
        window = getattr(self.window, "data", self.window) if self.window is not None else None
        conf = {
            "email": self.email,
            "api_token": self.api_token,
            "project": self.project,
            "issue_type": self.issue_type,
            "label_prefix": self.label_prefix,
            "timeout": float(self.timeout_s or 15),
        }
        result, self.status = file_tickets(
            incoming,
            window.get("meeting") if isinstance(window, dict) else None,
            str(self.system or "jira"),
            conf,
            dry_run=bool(self.dry_run),
            wanted=set(self.kinds or KINDS),
            base_url=str(self.base_url or ""),
        )
        return Data(data=result)

    async def _created_inline(self) -> Data:
        # A dry run only marks the items: done on the event loop. Real requests are blocking: a worker thread.
        return self.create_tickets() if self.dry_run else await asyncio.to_thread(self.create_tickets)
