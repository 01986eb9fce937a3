"""Test doubles of Jira Cloud, Zendesk, GitHub Issues and a webhook receiver, speaking their real wire formats.

Only the endpoints the Ticket Creator uses, with their real paths, authentication schemes, request bodies and
answers: Jira `POST /rest/api/3/issue` + `GET /rest/api/3/search/jql` (Basic email:token, ADF descriptions),
Zendesk `POST/GET /api/v2/tickets.json` (Basic `email/token:token`, `external_id`), GitHub
`POST/GET /repos/{owner}/{repo}/issues` (Bearer, labels), and a webhook honouring `Idempotency-Key`. One server
serves all four under `/jira`, `/zendesk`, `/github` and `/hook`. State is in memory and inspectable.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from tests.waiting import until

EMAIL, TOKEN = "bot@example.com", "secret-token"


@dataclass
class TicketSystems:
    jira: list[dict[str, Any]] = field(default_factory=list)
    zendesk: list[dict[str, Any]] = field(default_factory=list)
    github: list[dict[str, Any]] = field(default_factory=list)
    webhook: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    fail_creates: int = 0
    """How many of the next create requests answer 503 (to test error reporting and retries)."""


def _basic(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return None
    return base64.b64decode(header.removeprefix("Basic ")).decode()


def _denied() -> JSONResponse:
    return JSONResponse({"errorMessages": ["Client must be authenticated to access this resource."]}, status_code=401)


def create_app(state: TicketSystems) -> FastAPI:
    app = FastAPI()
    base = {"url": ""}

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        state.requests.append((request.method, request.url.path))
        base["url"] = str(request.base_url).rstrip("/")
        return await call_next(request)

    def failing() -> JSONResponse | None:
        if state.fail_creates > 0:
            state.fail_creates -= 1
            return JSONResponse({"message": "Service Unavailable"}, status_code=503)
        return None

    # -- Jira Cloud REST v3 --------------------------------------------------------------------------------------

    @app.get("/jira/rest/api/3/search/jql")
    async def jira_search(request: Request, jql: str, maxResults: int = 50) -> JSONResponse:
        if _basic(request) != f"{EMAIL}:{TOKEN}":
            return _denied()
        label = re.fullmatch(r'labels\s*=\s*"([^"]+)"', jql)
        if label is None:
            return JSONResponse({"errorMessages": [f"unsupported JQL in this double: {jql}"]}, status_code=400)
        found = [i for i in state.jira if label.group(1) in i["fields"]["labels"]][:maxResults]
        issues = [{"id": i["id"], "key": i["key"], "fields": {"status": {"name": "To Do"}}} for i in found]
        return JSONResponse({"issues": issues, "isLast": True})

    @app.post("/jira/rest/api/3/issue")
    async def jira_create(request: Request) -> JSONResponse:
        if _basic(request) != f"{EMAIL}:{TOKEN}":
            return _denied()
        fields = (await request.json()).get("fields", {})
        problems = {}
        if not fields.get("project", {}).get("key"):
            problems["project"] = "Specify a valid project ID or key"
        if not fields.get("summary"):
            problems["summary"] = "You must specify a summary of the issue."
        if fields.get("issuetype", {}).get("name") not in {"Task", "Bug", "Story"}:
            problems["issuetype"] = "Specify a valid issue type"
        description = fields.get("description")
        if description is not None and (description.get("type") != "doc" or description.get("version") != 1):
            problems["description"] = "Operation value must be an Atlassian Document"
        if problems:
            return JSONResponse({"errorMessages": [], "errors": problems}, status_code=400)
        if (failure := failing()) is not None:
            return failure
        number = len(state.jira) + 1
        issue = {"id": str(10000 + number), "key": f"{fields['project']['key']}-{number}", "fields": fields}
        state.jira.append(issue)
        return JSONResponse(
            {"id": issue["id"], "key": issue["key"], "self": f"{base['url']}/jira/rest/api/3/issue/{issue['id']}"},
            status_code=201,
        )

    # -- Zendesk Support API v2 ----------------------------------------------------------------------------------

    @app.get("/zendesk/api/v2/tickets.json")
    async def zendesk_list(request: Request, external_id: str | None = None) -> JSONResponse:
        if _basic(request) != f"{EMAIL}/token:{TOKEN}":
            return JSONResponse({"error": "Couldn't authenticate you"}, status_code=401)
        found = [t for t in state.zendesk if external_id is None or t["external_id"] == external_id]
        return JSONResponse({"tickets": found, "count": len(found), "next_page": None, "previous_page": None})

    @app.post("/zendesk/api/v2/tickets.json")
    async def zendesk_create(request: Request) -> JSONResponse:
        if _basic(request) != f"{EMAIL}/token:{TOKEN}":
            return JSONResponse({"error": "Couldn't authenticate you"}, status_code=401)
        ticket = (await request.json()).get("ticket", {})
        if not ticket.get("comment", {}).get("body"):
            return JSONResponse(
                {"error": "RecordInvalid", "details": {"base": [{"description": "Description: cannot be blank"}]}},
                status_code=422,
            )
        if ticket.get("priority") not in {None, "low", "normal", "high", "urgent"}:
            return JSONResponse(
                {"error": "RecordInvalid", "details": {"priority": [{"description": "invalid"}]}}, status_code=422
            )
        if (failure := failing()) is not None:
            return failure
        tid = 35436 + len(state.zendesk)
        stored = {
            **ticket,
            "id": tid,
            "url": f"{base['url']}/zendesk/api/v2/tickets/{tid}.json",
            "status": "new",
            "description": ticket["comment"]["body"],
        }
        state.zendesk.append(stored)
        return JSONResponse({"ticket": stored, "audit": {"events": []}}, status_code=201)

    # -- GitHub REST -----------------------------------------------------------------------------------------------

    @app.get("/github/repos/{owner}/{repo}/issues")
    async def github_list(
        request: Request,
        owner: str,
        repo: str,
        labels: str = "",
        issue_state: str = Query("open", alias="state"),
        per_page: int = 30,
    ) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"message": "Bad credentials", "status": "401"}, status_code=401)
        wanted = {label for label in labels.split(",") if label}
        found = [
            i
            for i in state.github
            if i["repo"] == f"{owner}/{repo}"
            and wanted <= {label["name"] for label in i["labels"]}
            and issue_state in ("all", i["state"])
        ]
        return JSONResponse([{k: v for k, v in i.items() if k != "repo"} for i in found][:per_page])

    @app.post("/github/repos/{owner}/{repo}/issues")
    async def github_create(request: Request, owner: str, repo: str) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"message": "Bad credentials", "status": "401"}, status_code=401)
        body = await request.json()
        if not body.get("title"):
            return JSONResponse(
                {"message": "Validation Failed", "errors": [{"field": "title", "code": "missing"}]}, status_code=422
            )
        if (failure := failing()) is not None:
            return failure
        number = len(state.github) + 1
        issue = {
            "id": 1_000_000 + number,
            "number": number,
            "title": body["title"],
            "body": body.get("body"),
            "state": "open",
            "labels": [{"name": name} for name in body.get("labels", [])],
            "html_url": f"https://github.example/{owner}/{repo}/issues/{number}",
            "repo": f"{owner}/{repo}",
        }
        state.github.append(issue)
        return JSONResponse({k: v for k, v in issue.items() if k != "repo"}, status_code=201)

    # -- a webhook receiver that deduplicates on Idempotency-Key -------------------------------------------------

    @app.post("/hook")
    async def hook(request: Request) -> JSONResponse:
        key = request.headers.get("idempotency-key")
        if not key:
            return JSONResponse({"error": "Idempotency-Key header required"}, status_code=400)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if key in state.webhook:
            return JSONResponse({"status": "existing", "id": state.webhook[key]["id"]})
        if (failure := failing()) is not None:
            return failure
        event = await request.json()
        state.webhook[key] = {"id": f"WH-{len(state.webhook) + 1}", "event": event}
        return JSONResponse(
            {
                "status": "created",
                "id": state.webhook[key]["id"],
                "url": f"{base['url']}/hook/{state.webhook[key]['id']}",
            },
            status_code=201,
        )

    return app


class ServedApp:
    """Runs an ASGI app on 127.0.0.1 (port 0) in the current event loop; `async with ServedApp(app) as url:`."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.url = ""
        self._server: Any = None
        self._task: Any = None

    async def __aenter__(self) -> str:
        import asyncio
        import contextlib
        import socket

        import uvicorn

        class Quiet(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Any:
                yield

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server = Quiet(uvicorn.Config(self.app, log_level="warning", lifespan="off"))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        task, server = self._task, self._server
        await until(lambda: server.started or task.done(), timeout_s=10, what="the test server to start")
        if not server.started:
            raise RuntimeError("test server stopped during start-up")
        return self.url

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        await self._task
