// The Zoom App panel: one meeting's objections (newest first, reply one tap from the clipboard), latest summary
// and tickets, kept live from /zoomapp/api/events. The session that names the meeting came with the page (the
// bridge read Zoom's X-Zoom-App-Context header) or, in Zoom's web client which sends no header, from the SDK's
// getAppContext() traded at /zoomapp/session. It travels in an Authorization header, never in a URL, so the event
// stream is read with fetch() rather than EventSource (which cannot send headers).

const $ = (id) => document.getElementById(id);
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";

const state = {
  session: meta("zoomapp-session"),
  expires: Number(meta("zoomapp-expires")) || 0,
  meeting: null,
  summary: null,
  objections: new Map(), // key -> insight
  tickets: new Map(), // key -> ticket
  newTickets: new Set(),
  fresh: new Set(),
  snapshotSeen: false,
  stopped: false,
};

function notice(text, kind) {
  const el = $("notice");
  el.textContent = text || "";
  el.hidden = !text;
  if (kind) document.body.dataset.state = kind;
}

function setConn(value) {
  $("conn").dataset.state = value;
}

// ---------------------------------------------------------------- rendering

function when(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Embedded browsers may refuse the async clipboard: fall back to a selection copy.
    const area = el("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    area.remove();
    return ok;
  }
}

function foldable(node) {
  node.classList.add("clamp");
  node.title = "Tap to show all";
  node.addEventListener("click", () => {
    if ("open" in node.dataset) delete node.dataset.open;
    else node.dataset.open = "";
  });
  return node;
}

function objectionTime(item) {
  return item.payload?.at_ms ?? item.at_ms ?? item.created_at_ms ?? 0;
}

function renderMeeting() {
  const m = state.meeting;
  if (!m) return;
  $("topic").textContent = m.topic || (m.product === "webinar" ? "This webinar" : "This meeting");
  const pill = $("status");
  pill.hidden = false;
  pill.dataset.status = m.status;
  pill.textContent = m.status === "ended" ? "ended" : m.status === "live" ? "live" : m.status;
}

function renderObjections() {
  const list = $("objections");
  const items = [...state.objections.values()].sort((a, b) => objectionTime(b) - objectionTime(a) || b.id - a.id);
  list.replaceChildren(...items.map((item) => {
    const p = item.payload || {};
    const li = el("li", "objection");
    li.dataset.key = item.key;
    if (state.fresh.has(item.key)) li.classList.add("fresh");
    const head = el("div", "head");
    head.append(el("span", "category", p.category || "objection"),
                el("span", "when", [p.speaker, when(objectionTime(item))].filter(Boolean).join(" · ")));
    li.append(head);
    const quote = p.quote || item.quote;
    if (quote) li.append(foldable(el("p", "quote", `“${quote}”`)));
    const reply = p.suggested_reply;
    if (reply) {
      const row = el("div", "reply");
      row.append(el("p", "text", reply));
      const button = el("button", "copy", "Copy");
      button.type = "button";
      button.setAttribute("aria-label", "Copy the suggested reply");
      button.addEventListener("click", async () => {
        const ok = await copyText(reply);
        button.textContent = ok ? "Copied" : "Copy failed";
        if (ok) button.dataset.copied = "";
        setTimeout(() => { button.textContent = "Copy"; delete button.dataset.copied; }, 1500);
      });
      row.append(button);
      li.append(row);
    }
    return li;
  }));
  $("objection-count").textContent = String(items.length);
  $("objections-empty").hidden = items.length > 0;
}

function lastTexts(entries, n) {
  return (Array.isArray(entries) ? entries : []).slice(-n).map((e) => (typeof e === "string" ? e : e?.text))
    .filter(Boolean);
}

function renderSummary() {
  const box = $("summary");
  const s = state.summary?.payload;
  if (!s) {
    box.replaceChildren(el("p", "empty", "No summary yet."));
    return;
  }
  const parts = [];
  if (s.text) parts.push(foldable(el("p", "text", s.text)));
  const groups = [["Key points", lastTexts(s.key_points, 3)], ["Decisions", lastTexts(s.decisions, 3)],
                  ["Open questions", lastTexts(s.open_questions, 2)]];
  for (const [label, texts] of groups) {
    if (!texts.length) continue;
    const ul = el("ul", label.toLowerCase().replace(/ /g, "-"));
    ul.setAttribute("aria-label", label);
    ul.append(...texts.map((t) => el("li", null, t)));
    parts.push(el("h3", null, label), ul);
  }
  box.replaceChildren(...parts);
}

function renderTickets() {
  const list = $("tickets");
  const items = [...state.tickets.values()].sort((a, b) => (b.created_at_ms - a.created_at_ms) || (b.id - a.id));
  list.replaceChildren(...items.map((t) => {
    const li = el("li", "ticket");
    li.dataset.key = t.key;
    const title = el("div", "title");
    const url = t.external?.url;
    if (url && /^https?:\/\//i.test(url)) {
      const a = el("a", null, t.title);
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      title.append(a);
    } else {
      title.append(document.createTextNode(t.title));
    }
    if (state.newTickets.has(t.key)) title.append(el("span", "new", "new"));
    li.append(title);
    const details = [t.status, t.owner && `owner: ${t.owner}`, t.due && `due ${t.due}`].filter(Boolean);
    li.append(el("div", "details", details.join(" · ")));
    return li;
  }));
  $("ticket-count").textContent = String(items.length);
  $("tickets-empty").hidden = items.length > 0;
}

function renderAll() {
  renderMeeting();
  renderObjections();
  renderSummary();
  renderTickets();
}

// ---------------------------------------------------------------- events

function applySnapshot(snap) {
  state.meeting = snap.meeting;
  state.summary = snap.summary;
  state.objections = new Map(snap.insights.filter((i) => i.kind === "objections").map((i) => [i.key, i]));
  const keys = new Set(snap.tickets.map((t) => t.key));
  if (state.snapshotSeen) {
    for (const key of keys) if (!state.tickets.has(key)) state.newTickets.add(key);
  }
  state.tickets = new Map(snap.tickets.map((t) => [t.key, t]));
  state.snapshotSeen = true;
  $("panel").hidden = false;
  notice("", "ok");
  renderAll();
}

function apply(name, body) {
  if (name === "snapshot") return applySnapshot(body);
  if (name === "waiting") {
    $("panel").hidden = true;
    notice("Waiting for this meeting's transcript: insights appear here once the meeting's stream reaches the bridge.",
           "ok");
    return;
  }
  const data = body.data || {};
  if (name === "insight" && data.kind === "objections") {
    if (!state.objections.has(data.key)) state.fresh.add(data.key);
    state.objections.set(data.key, data);
    renderObjections();
  } else if (name === "summary") {
    state.summary = data;
    renderSummary();
  } else if (name === "ticket" && data.key) {
    if (!state.tickets.has(data.key)) state.newTickets.add(data.key);
    state.tickets.set(data.key, data);
    renderTickets();
  } else if (name === "meeting" && state.meeting) {
    if (typeof data.status === "string") state.meeting = { ...state.meeting, status: data.status };
    if (typeof data.topic === "string" && data.topic) state.meeting = { ...state.meeting, topic: data.topic };
    renderMeeting();
  }
}

function* frames(buffer) {
  // Complete SSE frames in `buffer.text`; what follows the last blank line stays for the next chunk.
  const parts = buffer.text.split(/\r\n\r\n|\n\n|\r\r/);
  buffer.text = parts.pop();
  for (const part of parts) {
    let event = "message";
    const data = [];
    let retry = null;
    for (const line of part.split(/\r\n|\n|\r/)) {
      if (!line || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? "" : line.slice(i + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
    }
    yield { event, data: data.join("\n"), retry };
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function follow() {
  let delay = 1000;
  for (let attempt = 0; !state.stopped; attempt++) {
    let next = delay;
    try {
      const response = await fetch("/zoomapp/api/events", {
        headers: { Authorization: `Bearer ${state.session}`, Accept: "text/event-stream" },
        cache: "no-store",
      });
      if (response.status === 401 || response.status === 403) {
        stop("The session for this meeting has expired. Close the app and open it again from the meeting.");
        return;
      }
      if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
      setConn("live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      const buffer = { text: "" };
      let ended = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer.text += value;
        for (const frame of frames(buffer)) {
          if (frame.retry !== null) delay = Math.max(500, frame.retry);
          if (!frame.data) continue;
          const body = JSON.parse(frame.data);
          if (frame.event === "end") { ended = true; continue; }
          if (frame.event === "waiting") next = 3000;
          apply(frame.event, body);
        }
      }
      if (ended) {
        setConn("off");
        state.stopped = true;
        return;
      }
      next = Math.min(next, delay);
    } catch (err) {
      next = Math.min(30000, delay * 2 ** Math.min(attempt, 5));
    }
    setConn("retrying");
    await sleep(next);
  }
}

function stop(message) {
  state.stopped = true;
  setConn("off");
  $("panel").hidden = true;
  notice(message, "expired");
}

async function renewLoop() {
  while (!state.stopped) {
    const left = state.expires - Date.now();
    const wait = Math.max(1000, Math.min(left - 60000, left * 0.8)); // well before expiry, whatever the lifetime
    await sleep(wait);
    if (state.stopped) return;
    try {
      const response = await fetch("/zoomapp/session/renew", {
        method: "POST", headers: { Authorization: `Bearer ${state.session}` }, cache: "no-store",
      });
      if (!response.ok) throw new Error(`renew: HTTP ${response.status}`);
      const body = await response.json();
      state.session = body.session;
      state.expires = body.expires_at_ms;
    } catch {
      if (Date.now() >= state.expires) {
        stop("The session for this meeting has expired. Close the app and open it again from the meeting.");
        return;
      }
    }
  }
}

function start() {
  setConn("retrying");
  follow();
  renewLoop();
}

// Zoom's web client sends no X-Zoom-App-Context header: ask the SDK for the same context and trade it for a
// session. Outside Zoom the SDK never answers; the page then keeps saying to open it from a meeting.
async function fromSdk() {
  const { default: zoomSdk } = await import("./zoom-appssdk.js");
  const within = (ms, promise) => Promise.race([promise, sleep(ms).then(() => { throw new Error("timeout"); })]);
  await within(5000, zoomSdk.config({ capabilities: ["getAppContext"] }));
  const { context } = await within(5000, zoomSdk.getAppContext());
  const response = await fetch("/zoomapp/session", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ context }),
    cache: "no-store",
  });
  const body = await response.json();
  if (!response.ok) {
    notice(body.detail || "The Zoom App context was refused.", body.error || "refused");
    return;
  }
  state.session = body.session;
  state.expires = body.expires_at_ms;
  notice("Connecting...", "ok");
  start();
}

if (state.session) {
  start();
} else if (document.body.dataset.state === "missing") {
  fromSdk().catch(() => { /* not inside Zoom: the notice already says what to do */ });
}
