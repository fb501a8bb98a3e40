// nightwatch console: the little a server-rendered page cannot do by itself. Live updates over
// the one WebSocket (/ws?view=queue: compact queue items), keyboard navigation, and analyst
// actions sent as JSON with the session's CSRF token. No framework, no build step.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
const page = document.body.dataset.page;

function flash(text, ok) {
  const el = document.getElementById("flash");
  if (!el) return;
  el.textContent = text;
  el.className = ok ? "ok" : "";
}

async function send(method, url, body) {
  const r = await fetch(url, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: body === undefined ? "" : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { const e = await r.json(); msg = e.message || msg; } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return r.json().catch(() => ({}));
}

// One WebSocket per page, resumed after the last item seen; reconnects with backoff.
function live(onItem) {
  let after = null, delay = 1000;
  const connect = () => {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const q = "view=queue" + (after ? "&after=" + encodeURIComponent(after) : "");
    const ws = new WebSocket(proto + "//" + location.host + "/ws?" + q, ["nightwatch.v1"]);
    ws.onopen = () => { delay = 1000; document.body.dataset.live = "on"; };
    ws.onmessage = (m) => {
      let item;
      try { item = JSON.parse(m.data); } catch (_) { return; }
      if (item.type !== "queue_item") return;
      after = item.verdict_id;
      onItem(item);
    };
    ws.onclose = () => {
      document.body.dataset.live = "off";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  };
  connect();
}

// ---- queue -------------------------------------------------------------------------------
function queuePage() {
  const tbody = document.querySelector("#queue tbody");
  const marker = document.getElementById("new-marker");
  const firstPage = !new URLSearchParams(location.search).get("cursor");
  const pending = new Set();
  const rows = () => Array.from(tbody.querySelectorAll("tr[data-case]"));
  let sel = -1;
  const select = (i) => {
    const all = rows();
    if (!all.length) return;
    sel = Math.max(0, Math.min(i, all.length - 1));
    all.forEach((r, j) => r.classList.toggle("selected", j === sel));
    all[sel].scrollIntoView({ block: "nearest" });
  };
  const rowUrl = (id) => "/console/rows/" + encodeURIComponent(id) + location.search;
  const fetchRow = async (id) => {
    const r = await fetch(rowUrl(id), { credentials: "same-origin" });
    if (r.status !== 200) return null; // 204: no longer matches the filters
    const t = document.createElement("tbody");
    t.innerHTML = (await r.text()).trim();
    return t.firstElementChild;
  };
  const showMarker = () => {
    marker.hidden = pending.size === 0;
    marker.textContent = pending.size + " new case" + (pending.size === 1 ? "" : "s") + " — show";
  };
  marker.addEventListener("click", async () => {
    const ids = Array.from(pending);
    pending.clear();
    showMarker();
    for (const id of ids) {
      const row = await fetchRow(id);
      if (!row || tbody.querySelector('tr[data-case="' + CSS.escape(id) + '"]')) continue;
      row.classList.add("updated");
      tbody.prepend(row);
      document.getElementById("empty")?.remove();
    }
  });
  live(async (item) => {
    const existing = tbody.querySelector('tr[data-case="' + CSS.escape(item.case_id) + '"]');
    if (existing) {
      const row = await fetchRow(item.case_id);
      if (row) {
        row.classList.add("updated");
        row.classList.toggle("selected", existing.classList.contains("selected"));
        existing.replaceWith(row);
      } else {
        existing.remove();
        if (sel >= 0) select(sel);
      }
    } else if (firstPage && rows().length === 0) {
      // Nothing on screen can jump: show the first cases at once.
      const row = await fetchRow(item.case_id);
      if (row && !tbody.querySelector('tr[data-case="' + CSS.escape(item.case_id) + '"]')) {
        row.classList.add("updated");
        tbody.prepend(row);
        document.getElementById("empty")?.remove();
      }
    } else if (firstPage) {
      pending.add(item.case_id);
      showMarker();
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea")) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    if (e.key === "j") select(sel + 1);
    else if (e.key === "k") select(sel - 1);
    else if (e.key === "Enter" && sel >= 0) location.href = rows()[sel].dataset.href;
    else if (e.key === "/") { e.preventDefault(); document.getElementById("q")?.focus(); }
    else return;
    e.preventDefault();
  });
  tbody.addEventListener("click", (e) => {
    const row = e.target.closest("tr[data-case]");
    if (row && !e.target.closest("a")) location.href = row.dataset.href;
  });
}

// ---- case --------------------------------------------------------------------------------
function casePage() {
  const root = document.getElementById("case");
  const id = root.dataset.case;
  const version = Number(root.dataset.version);
  const base = "/api/cases/" + encodeURIComponent(id) + "/";
  const note = () => document.getElementById("note")?.value || "";
  document.querySelectorAll("button[data-action]").forEach((b) => {
    b.addEventListener("click", async () => {
      const action = b.dataset.action;
      let body = { note: note() };
      if (action === "feedback") body.disposition = b.dataset.disposition;
      if (action === "assign") {
        const to = document.getElementById("assignee")?.value.trim();
        if (to) body.assignee = to;
      }
      b.disabled = true;
      try {
        await send("POST", base + action, body);
        flash(b.textContent + ": done", true);
        location.reload();
      } catch (err) {
        flash(b.textContent + ": " + err.message, false);
      } finally {
        b.disabled = false;
      }
    });
  });
  const banner = document.getElementById("newer");
  live((item) => {
    if (item.case_id !== id || item.version <= version || !banner) return;
    banner.hidden = false;
    banner.querySelector("a").textContent = "Version " + item.version + " (" + item.conclusion +
      ", score " + item.score + ") is available: load it";
  });
}

// ---- login -------------------------------------------------------------------------------
function loginPage() {
  const form = document.getElementById("login");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await send("POST", "/api/session", { token: document.getElementById("token").value });
      const next = new URLSearchParams(location.search).get("next") || "/";
      location.href = next.startsWith("/") && !next.startsWith("//") ? next : "/";
    } catch (err) {
      flash("Sign-in refused: " + err.message, false);
    }
  });
}

document.getElementById("logout")?.addEventListener("click", async () => {
  try { await send("DELETE", "/api/session"); } finally { location.href = "/login"; }
});

if (page === "queue") queuePage();
else if (page === "case") casePage();
else if (page === "login") loginPage();
