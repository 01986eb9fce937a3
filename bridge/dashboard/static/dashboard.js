// rtms-langflow dashboard: plain JS, no build step, no external assets.
// Every piece of meeting data reaches the page through textContent or a checked attribute, never as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "rtms-langflow.token";
  const LIST_POLL_MS = 15000;
  const DETAIL_DEBOUNCE_MS = 800;

  const state = {
    token: null,
    meetings: [],
    selected: null,   // stream id of the meeting shown
    meeting: null,    // its detail (with participants and figures)
    lines: new Map(), // seq -> line
    lastSeq: 0,
    summary: null,
    objections: new Map(), // key -> insight
    tickets: new Map(),    // key -> ticket
    source: null,          // EventSource
    detailTimer: null,
    listTimer: null,
  };

  const $ = (id) => document.getElementById(id);

  // ----------------------------------------------------------------------------------------------------------
  // DOM helpers: text only
  // ----------------------------------------------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [name, value] of Object.entries(props)) {
        if (value === null || value === undefined || value === false) continue;
        if (name === "class") node.className = value;
        else if (name === "text") node.textContent = String(value);
        else if (name === "dataset") Object.assign(node.dataset, value);
        else if (name === "style") Object.assign(node.style, value); // CSSOM: allowed by the CSP, unlike style=""
        else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
        else node.setAttribute(name, String(value));
      }
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function safeUrl(raw) {
    if (typeof raw !== "string" || !raw) return null;
    try {
      const url = new URL(raw, window.location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch {
      return null;
    }
  }

  const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);

  function fmtMs(ms) {
    const v = num(ms);
    if (v === null) return "—";
    if (v < 1000) return `${Math.round(v)} ms`;
    if (v < 60000) return `${(v / 1000).toFixed(v < 10000 ? 2 : 1)} s`;
    return `${Math.floor(v / 60000)} min ${Math.round((v % 60000) / 1000)} s`;
  }

  function fmtCount(v) {
    const n = num(v);
    if (n === null) return "—";
    if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
    if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
    return n.toLocaleString();
  }

  function fmtClock(ms) {
    const v = num(ms);
    return v === null ? "" : new Date(v).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function fmtDate(ms) {
    const v = num(ms);
    return v === null ? "" : new Date(v).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  // Position in the meeting (mm:ss from its start) when the start is known, else the wall-clock time.
  function fmtAt(ms) {
    const v = num(ms);
    if (v === null) return "";
    const start = state.meeting ? num(state.meeting.started_at_ms) : null;
    if (start === null || v < start) return fmtClock(v);
    const s = Math.floor((v - start) / 1000);
    const h = Math.floor(s / 3600);
    const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
    const ss = String(s % 60).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }

  function fmtDuration(startMs, endMs) {
    const a = num(startMs);
    if (a === null) return "";
    const b = num(endMs) ?? Date.now();
    const min = Math.max(0, Math.round((b - a) / 60000));
    return min < 60 ? `${min} min` : `${Math.floor(min / 60)} h ${min % 60} min`;
  }

  // ----------------------------------------------------------------------------------------------------------
  // Token and API calls
  // ----------------------------------------------------------------------------------------------------------

  function hashParams() {
    return new URLSearchParams(window.location.hash.replace(/^#/, ""));
  }

  function setHash(params) {
    const text = params.toString();
    history.replaceState(null, "", window.location.pathname + window.location.search + (text ? `#${text}` : ""));
  }

  // The token arrives once in the fragment (never sent to a server), is kept for this tab only and removed from
  // the address bar so it does not end up in bookmarks or screenshots.
  function takeToken() {
    const params = hashParams();
    const fromHash = params.get("token");
    if (fromHash) {
      sessionStorage.setItem(TOKEN_KEY, fromHash);
      params.delete("token");
      setHash(params);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail || `HTTP ${status}`);
      this.status = status;
    }
  }

  async function api(path) {
    const response = await fetch(`api/${path}`, {
      headers: { Authorization: `Bearer ${state.token}`, Accept: "application/json" },
      cache: "no-store",
    });
    if (!response.ok) {
      let detail = "";
      try {
        const body = await response.json();
        detail = typeof body.detail === "string" ? body.detail : "";
      } catch {
        // not JSON: keep the status only
      }
      throw new ApiError(response.status, detail);
    }
    return response.json();
  }

  function showError(message) {
    const banner = $("error-banner");
    banner.textContent = message || "";
    banner.hidden = !message;
  }

  function handleApiError(err) {
    if (err instanceof ApiError && err.status === 401) {
      signOut("The token was not accepted. Paste the bridge's API token.");
      return;
    }
    if (err instanceof ApiError && err.status === 503) {
      showError("The bridge's API is disabled: its api_token setting (BRIDGE_API_TOKEN) is not configured.");
      return;
    }
    showError(`Could not reach the bridge: ${err.message}`);
  }

  function signOut(message) {
    closeStream();
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    clearInterval(state.listTimer);
    $("app").hidden = true;
    $("sign-out").hidden = true;
    $("token-panel").hidden = false;
    setConn("idle", "updates off");
    showError(message || "");
    $("token-input").focus();
  }

  // ----------------------------------------------------------------------------------------------------------
  // Header: model and connection
  // ----------------------------------------------------------------------------------------------------------

  // The page's own event-stream connection (small, next to the meeting's state): not what the meeting does.
  function setConn(kind, text) {
    const dot = $("conn");
    dot.dataset.state = kind;
    dot.className = `conn conn-${kind.replace(/[^a-z]/g, "")}`;
    dot.textContent = text;
  }

  function renderInfo(info) {
    const model = isObj(info) && typeof info.model === "string" ? info.model : "unknown";
    const badge = $("model-badge");
    badge.textContent = `model: ${model}`;
    badge.className = `pill ${model === "offline" ? "pill-warn" : "pill-muted"}`;
    if (isObj(info) && typeof info.version === "string") badge.title = `bridge ${info.version}`;
    $("offline-banner").hidden = model !== "offline";
  }

  // ----------------------------------------------------------------------------------------------------------
  // Meetings list
  // ----------------------------------------------------------------------------------------------------------

  // What the meeting is doing (the API's `state`), never the page's connection.
  const STATE_LABELS = {
    live: "live", reconnecting: "reconnecting", ended: "ended", error: "ended with an error", revoked: "revoked",
    interrupted: "bridge stopped",
  };

  function stateOf(m) {
    if (!isObj(m)) return "unknown";
    if (typeof m.state === "string" && m.state) return m.state;
    return typeof m.status === "string" ? m.status : "unknown";
  }

  function statusChip(m) {
    const s = stateOf(m);
    const detail = isObj(m) && typeof m.state_detail === "string" ? m.state_detail : "";
    return el("span", { class: `status status-${s.replace(/[^a-z_]/g, "")}`, text: STATE_LABELS[s] || s,
      title: detail || null, dataset: { state: s } });
  }

  const PRODUCT_NAMES = { meeting: "Meeting", webinar: "Webinar", session: "Video SDK session",
    contact_center: "Contact Center call", phone: "Phone call" };

  // The topic Zoom gave; without one, what it is and when, never its base64 id.
  function meetingTitle(m) {
    if (m && m.topic) return m.topic;
    const kind = (m && PRODUCT_NAMES[m.product]) || "Meeting";
    const when = m ? fmtDate(m.started_at_ms || m.created_at_ms) : "";
    return when ? `${kind} · ${when}` : `${kind} without a topic`;
  }

  function renderMeetings() {
    const list = $("meetings");
    list.replaceChildren(
      ...state.meetings.map((m) => {
        const host = m.host_name ? `host ${m.host_name}` : null;
        const when = m.started_at_ms ? fmtDate(m.started_at_ms) : null;
        const span = m.started_at_ms && stateOf(m) !== "live" && m.ended_at_ms
          ? fmtDuration(m.started_at_ms, m.ended_at_ms) : null;
        return el(
          "li",
          { class: m.id === state.selected ? "selected" : "", dataset: { id: m.id, state: stateOf(m) } },
          el(
            "a",
            { href: `#meeting=${encodeURIComponent(m.id)}`, title: meetingTitle(m) },
            el("div", { class: "m-topic" }, el("span", { class: "m-name", text: meetingTitle(m) }), statusChip(m)),
            el("div", { class: "m-sub" }, ...[host, when, span].filter(Boolean).map((t) => el("span", { text: t }))),
          ),
        );
      }),
    );
    $("meeting-count").textContent = String(state.meetings.length);
    $("meetings-empty").hidden = state.meetings.length > 0;
  }

  async function loadMeetings() {
    try {
      const body = await api("meetings");
      state.meetings = Array.isArray(body.meetings) ? body.meetings : [];
      renderMeetings();
      showError("");
    } catch (err) {
      handleApiError(err);
    }
  }

  // ----------------------------------------------------------------------------------------------------------
  // One meeting: header, figures
  // ----------------------------------------------------------------------------------------------------------

  function renderMeetingHead() {
    const m = state.meeting;
    if (!m) return;
    $("m-title").textContent = meetingTitle(m);
    const s = stateOf(m);
    const meta = [PRODUCT_NAMES[m.product] || m.product, m.host_name ? `host ${m.host_name}` : null,
      m.started_at_ms ? `started ${fmtDate(m.started_at_ms)}` : null,
      m.started_at_ms ? fmtDuration(m.started_at_ms, m.ended_at_ms) : null];
    // Why it ended, in words, when that is news (an error, a revocation, a bridge stop, a reconnect).
    if (s !== "live" && s !== "ended" && m.state_detail) meta.push(m.state_detail);
    $("m-meta").replaceChildren(...meta.filter(Boolean).map((t) => el("span", { text: t })),
      el("span", { class: "stream-id", title: `RTMS stream ${m.id}`, text: `stream ${String(m.id).slice(0, 8)}` }));
    const people = Array.isArray(m.participants) ? m.participants : [];
    $("m-people").replaceChildren(
      ...people.map((p) => el("span", {
        class: `person${p.role === "host" ? " person-host" : ""}`,
        text: p.role === "host" ? `${p.name || p.user_id} (host)` : p.name || p.user_id,
      })),
    );
    $("m-status").replaceWith(Object.assign(statusChip(m), { id: "m-status" }));
    document.title = `${meetingTitle(m)} · rtms-langflow`;
  }

  function figure(label, value, note, key) {
    return el("div", { class: "figure", dataset: { figure: key } },
      el("div", { class: "figure-label", text: label }),
      el("div", { class: "figure-value", text: value }),
      note ? el("div", { class: "figure-note", text: note }) : null);
  }

  function renderFigures() {
    const f = state.meeting && isObj(state.meeting.figures) ? state.meeting.figures : {};
    const failed = num(f.windows_failed) || 0;
    const pending = num(f.windows_pending) || 0;
    const coalesced = num(f.windows_coalesced) || 0;
    const windowNote = [failed ? `${failed} failed` : "none failed", pending ? `${pending} pending` : null,
      coalesced ? `${coalesced} coalesced` : null].filter(Boolean).join(" · ");
    $("figures").replaceChildren(
      figure("Windows", fmtCount(f.windows), windowNote, "windows"),
      figure("Flow latency p50", fmtMs(f.latency_p50_ms), null, "latency_p50"),
      figure("Flow latency p95", fmtMs(f.latency_p95_ms), null, "latency_p95"),
      figure("Model calls", fmtCount(f.model_calls), null, "model_calls"),
      figure("Tokens", `${fmtCount(f.input_tokens)} / ${fmtCount(f.output_tokens)}`, "input / output", "tokens"),
      figure("Utterance → insight", fmtMs(f.insight_delay_p50_ms),
        num(f.insight_delay_p95_ms) !== null ? `p50 · p95 ${fmtMs(f.insight_delay_p95_ms)}` : "p50", "insight_delay"),
    );
    const flows = isObj(f.per_flow) ? Object.entries(f.per_flow) : [];
    $("per-flow").replaceChildren(...flows.map(([flow, ff]) => el("span", { class: "flow-figure", dataset: { flow } },
      el("strong", { text: flow }),
      ` ${fmtCount(ff.windows)} window${ff.windows === 1 ? "" : "s"}${num(ff.failed) ? `, ${ff.failed} failed` : ""}`
        + ` · p50 ${fmtMs(ff.latency_p50_ms)} · p95 ${fmtMs(ff.latency_p95_ms)}`)));
  }

  // ----------------------------------------------------------------------------------------------------------
  // Transcript: lines merged into turns of one speaker
  // ----------------------------------------------------------------------------------------------------------

  function nearBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 48;
  }

  function turnNode(line) {
    const node = el("div", { class: "turn", dataset: { speaker: line.speaker || "", lastSeq: line.seq } },
      el("div", { class: "turn-head" },
        el("span", { class: "speaker", text: line.speaker || "Unknown speaker" }),
        el("span", { class: "turn-time", text: fmtAt(line.start_ms) })),
      el("p", { class: "turn-text", text: line.text || "" }));
    return node;
  }

  function appendLine(box, line, fresh) {
    const last = box.lastElementChild;
    if (last && last.dataset.speaker === (line.speaker || "") && Number(last.dataset.lastSeq) === line.seq - 1) {
      const text = last.querySelector(".turn-text");
      text.textContent = `${text.textContent} ${line.text || ""}`.trim();
      last.dataset.lastSeq = String(line.seq);
      if (fresh) { last.classList.remove("fresh"); void last.offsetWidth; last.classList.add("fresh"); }
      return;
    }
    const node = turnNode(line);
    if (fresh) node.classList.add("fresh");
    box.append(node);
  }

  function renderTranscript() {
    const box = $("transcript");
    box.replaceChildren();
    for (const line of [...state.lines.values()].sort((a, b) => a.seq - b.seq)) appendLine(box, line, false);
    box.scrollTop = box.scrollHeight;
    updateLineCount();
  }

  function updateLineCount() {
    $("line-count").textContent = String(state.lines.size);
    $("transcript-empty").hidden = state.lines.size > 0;
  }

  function addLine(raw) {
    if (!isObj(raw) || num(raw.seq) === null || state.lines.has(raw.seq)) return;
    state.lines.set(raw.seq, raw);
    const box = $("transcript");
    if (raw.seq > state.lastSeq) {
      const stick = nearBottom(box);
      state.lastSeq = raw.seq;
      appendLine(box, raw, true);
      if (stick) box.scrollTop = box.scrollHeight;
      updateLineCount();
    } else {
      renderTranscript(); // out of order: rebuild
    }
  }

  // ----------------------------------------------------------------------------------------------------------
  // Summary, objections, tickets
  // ----------------------------------------------------------------------------------------------------------

  // An insight as the API sends it: {kind, key, payload, at_ms, ...}; tolerate a bare payload too.
  function payloadOf(record) {
    return isObj(record) && isObj(record.payload) ? record.payload : record;
  }

  function pointNode(point) {
    if (typeof point === "string") return el("li", { text: point });
    if (!isObj(point)) return null;
    const by = [point.speaker, fmtAt(point.at_ms)].filter(Boolean).join(", ");
    return el("li", null, el("span", { text: point.text || "" }),
      point.quote ? el("div", { class: "quote-inline", text: `“${point.quote}”${by ? ` — ${by}` : ""}` }) : null);
  }

  function renderSummary() {
    const box = $("summary");
    const s = state.summary ? payloadOf(state.summary) : null;
    $("summary-empty").hidden = !!s;
    $("summary-at").textContent = state.summary && num(state.summary.updated_at_ms)
      ? `updated ${fmtClock(state.summary.updated_at_ms)}` : "";
    if (!s) { box.replaceChildren(); return; }
    const sections = [["Key points", s.key_points, "key_points"], ["Decisions", s.decisions, "decisions"],
      ["Open questions", s.open_questions, "open_questions"]];
    box.replaceChildren(
      s.text ? el("p", { class: "summary-text", text: s.text }) : null,
      ...sections.map(([title, items, key]) => {
        const list = Array.isArray(items) ? items : [];
        return el("div", { class: "summary-section", dataset: { section: key } },
          el("h3", { text: `${title} (${list.length})` }),
          list.length ? el("ul", null, ...list.map(pointNode)) : el("p", { class: "empty", text: "None yet." }));
      }),
    );
  }

  function objectionNode(record) {
    const o = payloadOf(record);
    const conf = num(o.confidence);
    const by = [o.speaker, fmtAt(o.at_ms ?? record.at_ms)].filter(Boolean).join(" · ");
    const reply = typeof o.suggested_reply === "string" ? o.suggested_reply : "";
    const copy = reply && navigator.clipboard
      ? el("button", {
        class: "btn btn-ghost btn-small", type: "button", text: "Copy",
        onclick: () => navigator.clipboard.writeText(reply).catch(() => {}),
      }) : null;
    return el("article", { class: "objection", dataset: { key: record.key || o.key || "" } },
      el("div", { class: "objection-head" },
        el("span", { class: "category", text: String(o.category || "objection").replace(/_/g, " ") }),
        conf === null ? null : el("span", { class: "confidence", title: "Model confidence" },
          el("span", { class: "confidence-bar" },
            el("span", { style: { width: `${Math.round(Math.min(1, Math.max(0, conf)) * 100)}%` } })),
          el("span", { text: `${Math.round(conf * 100)}%` }))),
      o.quote ? el("blockquote", { text: o.quote }) : null,
      by ? el("div", { class: "by", text: by }) : null,
      reply ? el("div", { class: "reply" },
        el("div", { class: "reply-head" }, el("span", { text: "Suggested reply" }), copy),
        el("p", { text: reply })) : null);
  }

  function renderObjections() {
    const items = [...state.objections.values()].sort(
      (a, b) => (num(payloadOf(b).at_ms ?? b.at_ms) || 0) - (num(payloadOf(a).at_ms ?? a.at_ms) || 0));
    $("objections").replaceChildren(...items.map(objectionNode));
    $("objection-count").textContent = String(items.length);
    $("objections-empty").hidden = items.length > 0;
  }

  // A ticket as the API sends it (flat, with `external`); fields of a nested payload fill the gaps.
  function ticketView(record) {
    const t = isObj(record.payload) ? { ...record.payload, ...record } : record;
    const ext = isObj(t.external) ? t.external : {};
    return {
      key: t.key || "",
      title: t.title || t.key || "Untitled",
      kind: t.kind,
      priority: t.priority,
      owner: t.owner,
      due: t.due,
      description: t.description,
      url: safeUrl(t.external_url || ext.url || t.url),
      status: t.status || ext.status || "tracked",
      system: ext.system || t.system,
      externalId: ext.id || t.external_id,
      at: t.at_ms,
    };
  }

  function ticketNode(record) {
    const t = ticketView(record);
    const title = t.url
      ? el("a", { href: t.url, target: "_blank", rel: "noopener noreferrer", text: t.title })
      : el("span", { text: t.title });
    const tag = (text, cls) => (text ? el("span", { class: `tag ${cls || ""}`, text }) : null);
    return el("li", { class: "ticket", dataset: { key: t.key } },
      el("div", { class: "ticket-head" }, el("span", { class: "ticket-title" }, title),
        tag(String(t.status).replace(/_/g, " "), `tag-status-${String(t.status).replace(/[^a-z_]/g, "")}`)),
      el("div", { class: "ticket-meta" },
        tag(t.kind ? String(t.kind).replace(/_/g, " ") : ""),
        tag(t.priority ? `${t.priority} priority` : "", `tag-priority-${String(t.priority).replace(/[^a-z]/g, "")}`),
        tag(t.owner ? `owner: ${t.owner}` : ""),
        tag(t.due ? `due: ${t.due}` : ""),
        tag(t.system ? `${t.system}${t.externalId ? ` ${t.externalId}` : ""}` : "")),
      t.description ? el("p", { class: "ticket-desc", text: t.description }) : null);
  }

  function renderTickets() {
    const items = [...state.tickets.values()];
    $("tickets").replaceChildren(...items.map(ticketNode));
    $("ticket-count").textContent = String(items.length);
    $("tickets-empty").hidden = items.length > 0;
  }

  function kindOf(record) {
    return String((isObj(record) && record.kind) || "");
  }

  function applyInsight(record) {
    if (!isObj(record)) return;
    const kind = kindOf(record);
    if (kind === "summary") {
      applySummary(record);
    } else if (kind.startsWith("objection")) {
      const key = record.key || payloadOf(record).key;
      if (key) state.objections.set(key, record);
      renderObjections();
    } else if (kind.startsWith("ticket") || kind === "action_item" || kind === "bug") {
      applyTicket(record);
    }
  }

  function applySummary(record) {
    if (!isObj(record)) return;
    const current = state.summary;
    if (current && (num(current.updated_at_ms) || 0) > (num(record.updated_at_ms) || Infinity)) return;
    state.summary = record;
    renderSummary();
  }

  function applyTicket(record) {
    if (!isObj(record)) return;
    const key = record.key || (isObj(record.payload) && record.payload.key);
    if (!key) return;
    state.tickets.set(key, record);
    renderTickets();
  }

  // ----------------------------------------------------------------------------------------------------------
  // Live stream
  // ----------------------------------------------------------------------------------------------------------

  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch {
      return null;
    }
  }

  function applySnapshot(snap) {
    if (!isObj(snap)) return;
    if (isObj(snap.meeting)) state.meeting = snap.meeting;
    state.lines = new Map();
    state.lastSeq = 0;
    for (const line of Array.isArray(snap.lines) ? snap.lines : []) {
      if (isObj(line) && num(line.seq) !== null) {
        state.lines.set(line.seq, line);
        state.lastSeq = Math.max(state.lastSeq, line.seq);
      }
    }
    state.summary = isObj(snap.summary) ? snap.summary : null;
    state.objections = new Map();
    state.tickets = new Map();
    for (const record of Array.isArray(snap.insights) ? snap.insights : []) applyInsight(record);
    for (const record of Array.isArray(snap.tickets) ? snap.tickets : []) {
      if (isObj(record) && record.key) state.tickets.set(record.key, record);
    }
    renderAll();
  }

  function renderAll() {
    renderMeetingHead();
    renderFigures();
    renderTranscript();
    renderSummary();
    renderObjections();
    renderTickets();
  }

  // Figures and status are recomputed by the store: fetch the meeting again shortly after activity.
  function refreshDetailSoon() {
    clearTimeout(state.detailTimer);
    const id = state.selected;
    state.detailTimer = setTimeout(async () => {
      if (!id || id !== state.selected) return;
      try {
        const detail = await api(`meetings/${encodeURIComponent(id)}`);
        if (id !== state.selected) return;
        state.meeting = detail;
        renderMeetingHead();
        renderFigures();
        const row = state.meetings.find((m) => m.id === id);
        if (row) {
          Object.assign(row, { status: detail.status, state: detail.state, state_detail: detail.state_detail,
            topic: detail.topic, host_name: detail.host_name, ended_at_ms: detail.ended_at_ms });
          renderMeetings();
        }
      } catch (err) {
        handleApiError(err);
      }
    }, DETAIL_DEBOUNCE_MS);
  }

  function closeStream() {
    if (state.source) {
      state.source.close();
      state.source = null;
    }
  }

  function openStream(id) {
    closeStream();
    setConn("connecting", "connecting…");
    const url = `api/meetings/${encodeURIComponent(id)}/events?token=${encodeURIComponent(state.token)}`;
    const source = new EventSource(url);
    state.source = source;
    const on = (type, handler) => source.addEventListener(type, (event) => {
      if (state.source !== source) return;
      const body = parse(event);
      if (body !== null) handler(body);
    });
    source.onopen = () => { if (state.source === source) setConn("live", "updates on"); };
    source.onerror = () => {
      if (state.source !== source) return;
      if (source.readyState === EventSource.CLOSED) {
        setConn("error", "updates lost");
        // EventSource gives up on an HTTP error (401, 404, 503): find out which through a plain request.
        api(`meetings/${encodeURIComponent(id)}`).then(
          () => setTimeout(() => { if (state.source === source) openStream(id); }, 3000),
          (err) => {
            if (err instanceof ApiError && err.status === 404) showGone(id, "This meeting is not (or no longer) stored.");
            else handleApiError(err);
          });
      } else {
        setConn("reconnecting", "updates reconnecting…");
      }
    };
    on("snapshot", (body) => { setConn("live", "updates on"); applySnapshot(body); });
    on("line", (ev) => addLine(ev.data));
    on("insight", (ev) => { applyInsight(ev.data); refreshDetailSoon(); });
    on("summary", (ev) => { applySummary(ev.data); refreshDetailSoon(); });
    on("ticket", (ev) => { applyTicket(ev.data); refreshDetailSoon(); });
    on("meeting", (ev) => {
      if (isObj(ev.data) && ev.data.deleted) {
        showGone(id, "This meeting's data was deleted at the host's request.");
        return;
      }
      refreshDetailSoon();
      loadMeetings();
    });
    on("window", () => refreshDetailSoon());
    on("end", () => {
      if (state.source !== source) return;
      closeStream();
      setConn("idle", "updates done");
      refreshDetailSoon();
    });
  }

  // ----------------------------------------------------------------------------------------------------------
  // Navigation
  // ----------------------------------------------------------------------------------------------------------

  function resetDetail() {
    state.meeting = null;
    state.lines = new Map();
    state.lastSeq = 0;
    state.summary = null;
    state.objections = new Map();
    state.tickets = new Map();
  }

  // The meeting shown is gone (deleted, or never stored): say so instead of an empty page.
  function showGone(id, message) {
    if (id !== state.selected) return;
    closeStream();
    resetDetail();
    renderTranscript();
    renderSummary();
    renderObjections();
    renderTickets();
    for (const box of ["figures", "per-flow", "m-people", "m-meta"]) $(box).replaceChildren();
    setConn("idle", "updates off");
    $("detail-body").hidden = true;
    $("detail-empty").hidden = false;
    $("detail-empty-title").textContent = "Meeting unavailable";
    $("detail-empty-text").textContent = message;
    state.meetings = state.meetings.filter((m) => m.id !== id);
    renderMeetings();
    loadMeetings();
  }

  function route() {
    const id = hashParams().get("meeting");
    if (id === state.selected) return;
    state.selected = id;
    resetDetail();
    closeStream();
    renderMeetings();
    $("detail-empty").hidden = !!id;
    $("detail-body").hidden = !id;
    $("detail-empty-title").textContent = "Select a meeting";
    $("detail-empty-text").textContent = "Its transcript, summary, objections, tickets and figures update live.";
    if (!id) { setConn("idle", "updates off"); document.title = "rtms-langflow · live meetings"; return; }
    const row = state.meetings.find((m) => m.id === id);
    state.meeting = row ? { ...row } : { id };
    renderAll();
    openStream(id);
  }

  // The demo (`rtms-langflow demo`) can replay a meeting on demand: after an edit in Langflow, see it at once.
  async function setupReplay(info) {
    if (!isObj(info) || info.replay !== true) return; // not a demo: no button (and no request that would 404)
    let demo;
    try {
      demo = await api("demo");
    } catch {
      return; // not a demo: no button
    }
    const select = $("replay-transcript");
    select.replaceChildren(...demo.transcripts.map((name) => {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      return option;
    }));
    $("replay").hidden = false;
  }

  $("replay-button").addEventListener("click", async () => {
    const button = $("replay-button");
    button.disabled = true;
    try {
      const response = await fetch("api/demo/replay", {
        method: "POST",
        headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ transcript: $("replay-transcript").value }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new ApiError(response.status, typeof body.detail === "string" ? body.detail : "");
      showError("");
      button.textContent = "Queued";
      setTimeout(() => { button.textContent = "Replay"; }, 3000);
    } catch (err) {
      showError(`Replay refused: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  });

  async function start() {
    state.token = takeToken();
    if (!state.token) { signOut(""); return; }
    $("token-panel").hidden = true;
    let info;
    try {
      info = await api("info");
    } catch (err) {
      handleApiError(err);
      return;
    }
    renderInfo(info);
    $("app").hidden = false;
    $("sign-out").hidden = false;
    setupReplay(info);
    await loadMeetings();
    clearInterval(state.listTimer);
    state.listTimer = setInterval(loadMeetings, LIST_POLL_MS);
    state.selected = undefined;
    route();
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token-input").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("token-input").value = "";
    showError("");
    start();
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  window.addEventListener("hashchange", () => {
    if (hashParams().has("token")) { start(); return; }
    if (state.token) route();
  });

  start();
})();
