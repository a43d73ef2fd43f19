// Grappe's dashboard: the cluster map, load history, jobs and migration monitor, live from this
// node's grapped (GET /api/state, /api/history, the /api/events stream), and actions with a
// session (POST /api/session with the one-time token of `grappe dashboard`, then /api/action with
// the CSRF token in a header). Plain DOM and canvas: no library, nothing fetched from elsewhere.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const colors = ["#5b7bd5", "#d5605b", "#5aa77a", "#c99a2e", "#8a5bd5", "#2ea3c9", "#c95b9a", "#6b6b6b"];
  let state = { nodes: [], jobs: [] };
  let others = {};  // node name -> the jobs its own dashboard lists (fetched every 2 s)
  const series = {};  // node name -> {t: [], load: [], mem: []}
  let span = 3600, csrf = "", source = null;

  const text = (v) => (v === undefined || v === null ? "" : String(v));
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("data-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const k of kids) e.append(k instanceof Node ? k : text(k));
    return e;
  };
  const showError = (msg) => { $("error").textContent = msg || ""; };

  // ---- cluster map
  function drawMap() {
    const map = $("map");
    map.replaceChildren();
    for (const n of (state.nodes || []).slice().sort((a, b) => (a.number || 0) - (b.number || 0))) {
      const cpus = n.cpus || 1, load = n.load || 0;
      const memUsed = (n.mem_total_mb || 0) - (n.mem_free_mb || 0);
      const card = el("div", { class: "node " + text(n.state), "data-node": text(n.name), "data-number": text(n.number) },
        el("span", { class: "state" }, text(n.state)),
        el("div", { class: "name" }, `${n.number || "?"} · ${n.name}${n.self ? " (this node)" : ""}`),
        el("div", { class: "small" }, `load ${load.toFixed(2)} on ${cpus} CPU${cpus > 1 ? "s" : ""}, speed ${text(n.speed)}`),
        el("div", { class: "bar" }, el("i")),
        el("div", { class: "small" }, `memory ${memUsed} / ${text(n.mem_total_mb)} MB`),
        el("div", { class: "bar mem" }, el("i")),
        el("div", { class: "small" }, `${text(n.jobs || 0)} job(s)${n.flags_text && n.flags_text !== "-" ? " · " + n.flags_text : ""}`));
      card.querySelector(".bar > i").style.width = Math.min(100, (100 * load) / cpus) + "%";
      card.querySelector(".bar.mem > i").style.width = (n.mem_total_mb ? Math.min(100, (100 * memUsed) / n.mem_total_mb) : 0) + "%";
      card.addEventListener("dragover", (e) => { if (csrf) { e.preventDefault(); card.classList.add("drop"); } });
      card.addEventListener("dragleave", () => card.classList.remove("drop"));
      card.addEventListener("drop", (e) => {
        e.preventDefault();
        card.classList.remove("drop");
        const job = e.dataTransfer.getData("text/plain");
        if (job) act({ action: "migrate", job, to: text(n.number || n.name) });
      });
      map.append(card);
    }
    const live = (state.nodes || []).filter((n) => n.state === "alive").length;
    $("cluster").textContent = `${live} node${live === 1 ? "" : "s"} alive`;
  }

  // ---- jobs
  // The jobs of this node first, then those other nodes' dashboards list (a job seen on two
  // nodes, at home and as a guest, is shown once: from the first that lists it).
  function allJobs() {
    const byId = new Map();
    for (const j of state.jobs || []) byId.set(j.id, Object.assign({ here: true }, j));
    for (const [name, jobs] of Object.entries(others))
      for (const j of jobs) {
        const had = byId.get(j.id);
        if (!had) byId.set(j.id, Object.assign({ listed: name }, j));
        else if (had.cpu_s === undefined && j.cpu_s !== undefined)  // where it runs: its CPU and RSS
          Object.assign(had, { cpu_s: j.cpu_s, rss_kb: j.rss_kb, stays: j.stays });
      }
    return [...byId.values()];
  }
  async function fetchOthers() {
    const port = location.port || "80", next = {};
    await Promise.all((state.nodes || []).filter((n) => n.state === "alive" && !n.self && /^[0-9.]+$/.test(n.address || "")).map(async (n) => {
      try {
        const ctl = new AbortController(), timer = setTimeout(() => ctl.abort(), 1500);
        const r = await fetch(`http://${n.address}:${port}/api/state`, { signal: ctl.signal });
        clearTimeout(timer);
        next[n.name] = (await r.json()).jobs || [];
      } catch (e) { next[n.name] = others[n.name] || []; }
    }));
    others = next;
    drawJobs();
  }

  let dragging = false;
  function drawJobs() {
    const body = $("jobs").querySelector("tbody");
    // Not while the user picks a node in a row's list or drags a row: a redraw would undo it.
    if (dragging || (document.activeElement && body.contains(document.activeElement))) return;
    body.replaceChildren();
    for (const j of allJobs()) {
      const running = j.state === "running";
      const row = el("tr", { "data-job": text(j.id) },
        el("td", {}, text(j.id)), el("td", { class: "cmd" }, text(j.command)), el("td", {}, text(j.user)), el("td", {}, text(j.home)), el("td", {}, text(j.node)),
        el("td", {}, text(j.migrating ? "moving" : j.state)), el("td", {}, j.cpu_s !== undefined ? j.cpu_s.toFixed(1) : ""),
        el("td", {}, j.rss_kb !== undefined ? (j.rss_kb / 1024).toFixed(1) : ""), el("td", {}, text(j.migrations)),
        el("td", {}, text(j.why || j.stays || "")), el("td", {}, text(j.moved || "")));
      const cell = el("td");
      if (running && csrf && !j.here) cell.append(el("span", { class: "small" }, `act from ${j.listed}'s dashboard`));
      if (running && csrf && j.here) {
        const pick = el("select", { title: "move to" }, el("option", { value: "" }, "move to…"));
        for (const n of state.nodes || [])
          if (n.state === "alive") pick.append(el("option", { value: text(n.number || n.name) }, text(n.name)));
        pick.append(el("option", { value: "home" }, "home"));
        pick.addEventListener("change", () => pick.value && act({ action: "migrate", job: j.id, to: pick.value }));
        const kill = el("button", { type: "button" }, "kill");
        kill.addEventListener("click", () => act({ action: "kill", job: j.id }));
        cell.append(pick, kill);
        row.draggable = true;
        row.addEventListener("dragstart", (e) => { dragging = true; e.dataTransfer.setData("text/plain", j.id); });
        row.addEventListener("dragend", () => { dragging = false; });
      }
      row.append(cell);
      body.append(row);
    }
  }

  // ---- series
  function addSample(t, nodes) {
    for (const n of nodes || []) {
      if (n.state !== "alive" || n.load === undefined) continue;
      const h = (series[n.name] ||= { t: [], load: [], mem: [] });
      if (h.t.length && h.t[h.t.length - 1] >= t) continue;
      h.t.push(t); h.load.push(n.load); h.mem.push((n.mem_total_mb || 0) - (n.mem_free_mb || 0));
      while (h.t.length && h.t[0] < t - 3600) { h.t.shift(); h.load.shift(); h.mem.shift(); }
    }
  }
  function drawHistory() {
    const c = $("history"), g = c.getContext("2d");
    const w = c.width, h = c.height, pad = 30;
    g.clearRect(0, 0, w, h);
    const names = Object.keys(series).sort();
    let now = 0, top = 1;
    for (const n of names) {
      const s = series[n];
      if (s.t.length) now = Math.max(now, s.t[s.t.length - 1]);
      for (let i = 0; i < s.t.length; i++) if (s.t[i] >= now - span) top = Math.max(top, s.load[i]);
    }
    top = Math.ceil(top);
    g.strokeStyle = "#c9d1dc"; g.fillStyle = "#4b5566"; g.font = "11px sans-serif";
    for (let v = 0; v <= top; v += Math.max(1, Math.round(top / 4))) {
      const y = h - pad / 2 - ((h - pad) * v) / top;
      g.beginPath(); g.moveTo(pad, y); g.lineTo(w, y); g.stroke(); g.fillText(String(v), 4, y + 4);
    }
    g.fillText(span === 3600 ? "last hour" : "last 5 minutes", w - 90, 12);
    const legend = $("legend");
    legend.replaceChildren();
    names.forEach((n, k) => {
      const s = series[n], col = colors[k % colors.length];
      g.strokeStyle = col; g.lineWidth = 1.5; g.beginPath();
      let started = false;
      for (let i = 0; i < s.t.length; i++) {
        if (s.t[i] < now - span) continue;
        const x = pad + ((w - pad) * (s.t[i] - (now - span))) / span, y = h - pad / 2 - ((h - pad) * s.load[i]) / top;
        if (started) g.lineTo(x, y); else { g.moveTo(x, y); started = true; }
      }
      g.stroke();
      const sw = el("i"); sw.style.background = col;
      legend.append(el("span", {}, sw, `${n} (${s.mem.length ? s.mem[s.mem.length - 1] : 0} MB used)`));
    });
    c.dataset.points = String(names.reduce((a, n) => a + series[n].t.length, 0));
  }

  // ---- migration monitor
  function showMove(m) {
    const li = el("li", { class: "new" }, `${new Date().toLocaleTimeString()} job ${text(m.job)}: ${text(m.from)} → ${text(m.to)} `,
      m.moved ? `moved, frozen ${(m.freeze_s || 0).toFixed(2)} s (${text(m.why)})` : `stayed: ${text(m.why)}`);
    const list = $("moves");
    list.prepend(li);
    while (list.children.length > 50) list.lastChild.remove();
  }

  function render() { drawMap(); drawJobs(); drawHistory(); }

  // ---- live stream
  function connect() {
    source = new EventSource("/api/events");
    source.addEventListener("open", () => { $("live").textContent = "live"; $("live").className = "badge ok"; });
    source.addEventListener("error", () => {
      $("live").textContent = "reconnecting…"; $("live").className = "badge bad";
      // Refused (too many watchers) or dropped for good: the browser gives up; try again later.
      if (source.readyState === EventSource.CLOSED) { source.close(); setTimeout(connect, 5000); }
    });
    source.addEventListener("state", (e) => {
      state = JSON.parse(e.data);
      addSample(state.t, state.nodes);
      render();
    });
    source.addEventListener("move", (e) => showMove(JSON.parse(e.data)));
  }

  // ---- session and actions
  async function startSession() {
    const m = /token=([0-9a-f]{64})/.exec(location.hash);
    window.history.replaceState(null, "", location.pathname);  // the token leaves the address bar
    let body = null;
    if (m) {
      const r = await fetch("/api/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: m[1] }) });
      body = await r.json();
      if (!r.ok) return showError(body.error);
      sessionStorage.setItem("grappe-session", JSON.stringify(body));  // this tab keeps it across a reload
    } else {
      body = JSON.parse(sessionStorage.getItem("grappe-session") || "null");
      if (!body) return;
    }
    csrf = body.csrf;
    $("session").textContent = body.uid === 0 ? "acting as root" : `acting as uid ${body.uid}`;
    $("session").className = "badge ok";
    $("node-actions").hidden = body.uid !== 0;
    $("jobs-hint").textContent = "Drag a job onto a node to move it, or pick one.";
    render();
  }
  async function act(what) {
    showError("");
    const r = await fetch("/api/action", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Grappe-CSRF": csrf }, body: JSON.stringify(what),
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok || body.ok === false) showError(`${what.action}: ${body.error || r.status}`);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    for (const b of document.querySelectorAll("#node-actions button")) b.addEventListener("click", () => act({ action: b.dataset.act }));
    $("zoom-hour").addEventListener("click", () => { span = 3600; $("zoom-hour").className = "on"; $("zoom-5").className = ""; drawHistory(); });
    $("zoom-5").addEventListener("click", () => { span = 300; $("zoom-5").className = "on"; $("zoom-hour").className = ""; drawHistory(); });
    try {
      const h = await (await fetch("/api/history?since=" + (Date.now() / 1000 - 3600))).json();
      for (const [n, s] of Object.entries(h.nodes || {})) series[n] = { t: s.t, load: s.load, mem: s.mem };
    } catch (e) { showError("no history: " + e); }
    await startSession().catch((e) => showError("session: " + e));
    // A link opened in a tab already showing the dashboard changes only the address's fragment.
    window.addEventListener("hashchange", () => startSession().catch((e) => showError("session: " + e)));
    connect();
    setInterval(fetchOthers, 2000);
  });
})();
