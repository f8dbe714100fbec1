// tribes dashboard: plain JavaScript, no build step. Live updates over Server-Sent Events (/api/events).
"use strict";
(function () {
  const $ = (s) => document.querySelector(s);
  const S = { node: null, members: [], samples: [], events: [] };
  const MAX_SAMPLES = 300, MAX_EVENTS = 60;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) e.append(k.nodeType ? k : document.createTextNode(String(k)));
    return e;
  }
  const hms = (t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false });
  const ms = (v) => (v == null ? "-" : v < 1 ? (v * 1000).toFixed(1) + " ms" : v.toFixed(2) + " s");

  function authHeader() {
    const v = $("#token").value.trim();
    if (!v) return {};
    if (v.includes(":")) return { Authorization: "Basic " + btoa(v) };
    return { Authorization: "Bearer " + v };
  }

  function renderMembers() {
    const tb = $("#members tbody");
    tb.replaceChildren();
    for (const m of S.members) {
      const tr = el("tr", { class: "member-row", "data-member": m.member, "data-state": m.state },
        el("td", {}, m.member + (m.local ? " (this node)" : "")),
        el("td", {}, el("span", { class: "state " + m.state }, m.state)),
        el("td", {}, m.kind + (m.version && m.version !== "unknown" ? " " + m.version : "")),
        el("td", { class: "when" }, hms(m.since)));
      tb.append(tr);
    }
    $("#m-count").textContent = S.members.filter((m) => m.state === "alive").length;
  }

  function renderSample(s) {
    if (!s) return;
    const total = Object.values(s.sessions || {}).reduce((a, b) => a + b, 0);
    $("#s-count").textContent = total;
    $("#rate").textContent = s.rxRate.toFixed(1) + " · " + s.txRate.toFixed(1);
    const l = s.lag || {};
    $("#lag").textContent = ms(l.p50) + " · " + ms(l.p95) + " · " + ms(l.p99);
    $("#contexts").textContent = Object.entries(s.sessions || {}).map(([c, n]) => c + ": " + n).join("   ");
    renderChart();
  }

  function renderChart() {
    const data = S.samples;
    const box = $("#chart");
    if (data.length < 2) { box.textContent = "collecting…"; return; }
    const ctxs = [...new Set(data.flatMap((d) => Object.keys(d.sessions || {})))];
    const max = Math.max(1, ...data.flatMap((d) => Object.values(d.sessions || {})));
    const W = 600, H = 120, n = data.length;
    const colors = ["#2f5fb3", "#b3312f", "#2e8b57", "#8a4fbf", "#c77c00"];
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("preserveAspectRatio", "none");
    ctxs.forEach((c, i) => {
      const pts = data.map((d, j) => `${(j / (n - 1)) * W},${H - 4 - ((d.sessions[c] || 0) / max) * (H - 8)}`);
      const p = document.createElementNS(ns, "polyline");
      p.setAttribute("points", pts.join(" "));
      p.setAttribute("fill", "none");
      p.setAttribute("stroke", colors[i % colors.length]);
      p.setAttribute("stroke-width", "2");
      p.setAttribute("vector-effect", "non-scaling-stroke");
      svg.append(p);
    });
    box.replaceChildren(svg);
  }

  function describe(e) {
    const parts = [e.event];
    for (const k of ["member", "context", "session", "from", "by", "user", "sessions", "ms"]) {
      if (e[k] != null && e[k] !== "-") parts.push(k === "member" || k === "context" || k === "session" ? e[k] : k + " " + e[k]);
    }
    return e.kind + ": " + parts.join(" ");
  }
  function renderEvents() {
    const ol = $("#events");
    ol.replaceChildren(...S.events.slice().reverse().map((e) =>
      el("li", { class: "ev-" + e.kind }, el("time", {}, hms(e.time)), describe(e))));
  }

  function applyEvent(e) {
    S.events.push(e);
    if (S.events.length > MAX_EVENTS) S.events.shift();
    renderEvents();
    if (e.kind === "member") {
      const state = e.event === "joined" ? "alive" : e.event;
      const m = S.members.find((x) => x.member === e.member);
      if (m) { m.state = state; m.since = e.time; if (e.memberKind) { m.kind = e.memberKind; m.version = e.memberVersion; } }
      else S.members.push({ member: e.member, state: state, since: e.time, kind: e.memberKind || "unknown",
                            version: e.memberVersion || "unknown" });
      renderMembers();
    } else if (e.kind === "session" || e.kind === "operator") {
      loadUsers();
    }
  }

  function applyState(st) {
    S.node = st.node;
    S.members = st.members;
    S.samples = st.samples.slice(-MAX_SAMPLES);
    S.events = st.events.slice(-MAX_EVENTS);
    $("#node").textContent = (st.node.member || "") + " · " + st.node.role;
    $("#ops-state").textContent = st.node.actions
      ? "Operator actions are on: give the token (or user:password) to use them."
      : "Operator actions are off on this node.";
    renderMembers();
    renderSample(S.samples[S.samples.length - 1]);
    renderEvents();
  }

  let usersTimer = null;
  function loadUsers() {
    if (usersTimer) return;
    usersTimer = setTimeout(async () => {
      usersTimer = null;
      try {
        const r = await fetch("/api/users");
        if (!r.ok) return;
        const d = await r.json();
        const box = $("#users");
        box.replaceChildren(...d.users.map((u) => el("span", {
          class: "chip", "data-user": u.user, title: "search " + u.user,
          onclick: () => { $("#search").value = u.user; search(); },
        }, `${u.user} (${u.context}, ${u.sessions})`)));
        if (!d.users.length) box.textContent = "no logged-in users";
      } catch (err) { /* offline: the next event retries */ }
    }, 300);
  }

  async function act(url, body, what) {
    const msg = $("#ops-msg");
    try {
      const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", ...authHeader() },
        body: JSON.stringify(body) });
      const d = await r.json().catch(() => ({}));
      msg.textContent = r.ok ? `${what}: done (${JSON.stringify(d)})` : `${what}: refused (HTTP ${r.status}: ${d.error || ""})`;
      msg.dataset.status = String(r.status);
      if (r.ok) setTimeout(search, 300);
    } catch (err) { msg.textContent = what + ": " + err; }
  }

  async function search(ev) {
    if (ev) ev.preventDefault();
    const q = $("#search").value.trim();
    const out = $("#results");
    if (!q) { out.replaceChildren(); return; }
    const r = await fetch("/api/search?q=" + encodeURIComponent(q));
    const d = await r.json().catch(() => ({ results: [] }));
    if (!r.ok) { out.textContent = d.error || ("HTTP " + r.status); return; }
    if (!d.results.length) { out.replaceChildren(el("p", { class: "muted" }, "no session matches " + q)); return; }
    const actions = S.node && S.node.actions;
    out.replaceChildren(...d.results.map((s) => el("div", { class: "result", "data-session": s.id, "data-user": s.user || "" },
      el("div", {}, el("strong", {}, s.user || "(no login)"), " in ", s.context, s.primary ? " · primary here" : ""),
      el("div", { class: "id" }, s.id),
      el("div", { class: "muted" }, "created " + hms(s.created / 1000) + " · last access " + hms(s.lastAccessed / 1000)),
      el("pre", { class: "attrs" }, JSON.stringify(s.attributes, null, 2)),
      actions ? el("div", { class: "row" },
        el("button", { class: "danger invalidate", onclick: () => act("/api/sessions/invalidate", { context: s.context, id: s.id }, "invalidate") }, "Invalidate session"),
        s.user ? el("button", { class: "danger logout", "data-user": s.user, onclick: () => act("/api/logout", { user: s.user }, "logout " + s.user) }, "Force logout of " + s.user) : null)
        : null)));
  }

  function connect() {
    const es = new EventSource("/api/events");
    es.addEventListener("open", () => { $("#live").textContent = "live"; $("#live").className = "badge on"; });
    es.addEventListener("error", () => { $("#live").textContent = "reconnecting"; $("#live").className = "badge off"; });
    es.addEventListener("state", (m) => applyState(JSON.parse(m.data)));
    es.addEventListener("sample", (m) => {
      const s = JSON.parse(m.data);
      S.samples.push(s);
      if (S.samples.length > MAX_SAMPLES) S.samples.shift();
      renderSample(s);
      loadUsers();   // a login changes no session event of its own (the principal travels in a delta)
    });
    es.addEventListener("event", (m) => applyEvent(JSON.parse(m.data)));
  }

  $("#search-form").addEventListener("submit", search);
  loadUsers();
  connect();
})();
