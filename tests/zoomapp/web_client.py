"""A test double of Zoom's web client hosting the panel: a page on a zoom.us origin (served by Playwright's request
interception, no network) that frames the Home URL, sends no X-Zoom-App-Context header, and answers the Zoom Apps
SDK's messages the way the web client does. The wire format is the one the bundled SDK itself speaks in an iframe:
it posts a JSON string `{jsCallId, apiName, data}` to the parent and resolves on a message
`{type: "apiResponse", data: {jsCallId, result | errorCode, errorMessage}}`; `config` must answer a
`clientVersion` before any other call is allowed. Checked against the real SDK (the bundled
`@zoom/appssdk`), which is what calls it in the test."""

from __future__ import annotations

import json

ORIGIN = "https://pwa.zoom.us"
URL = f"{ORIGIN}/wc/meeting"


def host_page(panel_url: str, context: str) -> str:
    """The web client's page: the panel in an iframe, and the SDK's counterpart answering config/getAppContext."""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Zoom web client (test double)</title></head>
<body style="margin:0">
<iframe id="app" src="{panel_url}" style="width:360px;height:700px;border:0"></iframe>
<script>
window.__calls = [];
const CONTEXT = {json.dumps(context)};
window.addEventListener("message", (event) => {{
  let request;
  try {{ request = JSON.parse(event.data); }} catch {{ return; }}
  if (!request || !request.jsCallId) return;
  window.__calls.push(request.apiName);
  let reply;
  if (request.apiName === "config") {{
    reply = {{ result: {{ clientVersion: "6.4.0.0", runningContext: "inMeeting", unsupportedApis: [] }} }};
  }} else if (request.apiName === "getAppContext") {{
    reply = {{ result: {{ context: CONTEXT }} }};
  }} else {{
    reply = {{ errorCode: 10000, errorMessage: "not supported by this test double" }};
  }}
  event.source.postMessage({{ type: "apiResponse", data: {{ jsCallId: request.jsCallId, ...reply }} }}, "*");
}});
</script></body></html>"""
