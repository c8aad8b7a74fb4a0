// The supervisor wallboard, made for a 1080p screen: queues against their service-level
// target, the agent tiles (sorted, filtered, amber/red when a call, a wrap-up or a
// not-ready lasts too long), live calls; listen / whisper / barge with a mark on the
// tile and a stop, force an agent's state, broadcast a message.
// Every update changes the existing DOM nodes in place (text, classes, CSS order): no
// node a person may be using is ever replaced or moved, so focus stays where it is.
"use strict";

(async () => {
  const { t, fmt, api, el, toast } = CTI;
  const $ = (id) => document.getElementById(id);
  await CTI.session();
  const phone = $("phone");
  phone.value = localStorage.getItem("cti.phone") || phone.value;
  phone.onchange = () => localStorage.setItem("cti.phone", phone.value.trim());
  const s = { queues: [], agents: new Map(), calls: [], spies: new Map() };
  const tiles = new Map(); // agent id -> { node, refs }
  const queueRows = new Map(), callRows = new Map();
  const STATE_ORDER = ["on_call", "reserved", "wrap_up", "not_ready", "ready", "logged_out"];

  // --- alert thresholds (minutes), per supervisor, kept in this browser -------------------
  const DEFAULT_LIMITS = { on_call: { amber: 5, red: 10 }, not_ready: { amber: 10, red: 20 }, wrap_up: { amber: 1, red: 2 } };
  const limits = JSON.parse(JSON.stringify(DEFAULT_LIMITS));
  try {
    const saved = JSON.parse(localStorage.getItem("cti.wall.limits") || "{}");
    for (const [st, v] of Object.entries(saved)) if (limits[st]) Object.assign(limits[st], v);
  } catch (e) { /* a broken setting: the defaults */ }
  document.querySelectorAll("[data-limit]").forEach((input) => {
    const [st, level] = input.dataset.limit.split(".");
    input.value = limits[st][level];
    input.onchange = () => {
      const v = Number(input.value);
      if (!(v > 0)) { input.value = limits[st][level]; return; }
      limits[st][level] = v;
      localStorage.setItem("cti.wall.limits", JSON.stringify(limits));
      tick();
    };
  });

  const setText = (node, text) => { if (node.textContent !== text) node.textContent = text; };
  const setAttr = (node, name, value) => {
    if (value === null || value === undefined) { if (node.hasAttribute(name)) node.removeAttribute(name); }
    else if (node.getAttribute(name) !== value) node.setAttribute(name, value);
  };
  const nameOf = (id) => (s.agents.get(id) || {}).name || id || "–";
  const queueName = (q) => CTI.name("queue", q);
  const inState = (a, now) => (now - a.since) / 1000;
  function alertOf(a, now) {
    const l = limits[a.state];
    if (!l) return null;
    const min = inState(a, now) / 60;
    return min >= l.red ? "red" : min >= l.amber ? "amber" : null;
  }

  // --- agent tiles --------------------------------------------------------------------------
  function makeTile(id) {
    const r = {
      name: el("span", { class: "name" }), timer: el("span", { class: "timer" }),
      state: el("span", { class: "state" }), alert: el("span", { class: "alert-mark" }),
      call: el("span", { class: "small call" }), spyText: el("span", { class: "spy-text" }),
      pending: el("div", { class: "pending-mark hidden" }),
      stop: el("button", { type: "button", class: "stop", "data-action": "stop_spy", onclick: () => command({ type: "stop_spy", agent: id }) }),
      spies: ["listen", "whisper", "barge"].map((mode) => el("button", {
        type: "button", "data-action": mode, onclick: () => command({ type: mode, agent: id, endpoint: phone.value.trim() }),
      })),
      force: el("select", { "data-action": "force", onchange: (ev) => {
        const state = ev.target.value;
        ev.target.value = "";
        if (state) command({ type: "force_state", agent: id, state, reason: state === "not_ready" ? "admin" : null });
      } }, ...["", "ready", "not_ready", "logout"].map((v) => new Option("", v))),
    };
    r.spyBox = el("div", { class: "spy-mark hidden" }, r.spyText, r.stop);
    const node = el("div", { class: "tile", "data-agent": id, role: "group" },
      el("div", { class: "head" }, r.name, r.timer),
      el("div", { class: "line" }, r.state, r.force),
      el("div", { class: "line" }, r.call, r.alert),
      r.pending,
      r.spyBox,
      el("div", { class: "actions" }, ...r.spies));
    const tile = { node, r };
    label(tile);
    $("agents").append(node);
    tiles.set(id, tile);
    return tile;
  }

  function label({ r }) {
    // A short word on the button (a tile is narrow in every language), the full one in
    // its tooltip.
    r.spies.forEach((b) => { setText(b, t(`btn_${b.dataset.action}`)); b.title = t(b.dataset.action); });
    setText(r.stop, t("stop_spy"));
    r.force.setAttribute("aria-label", t("force_state"));
    ["force_state", "ready", "not_ready", "logged_out"].forEach((k, i) => setText(r.force.options[i], t(k)));
  }

  function updateTile(a, now, visible) {
    const { node, r } = tiles.get(a.id) || makeTile(a.id);
    const cls = `tile st-${a.state}${visible ? "" : " hidden"}`;
    if (node.className !== cls) node.className = cls;
    // The name may be cut on the tile: the whole of it in the tooltip and the tile's
    // accessible name, the skills after it.
    const name = a.name || a.id;
    setText(r.name, name);
    setAttr(r.name, "title", name);
    setAttr(node, "aria-label", name);
    const skills = Object.entries(a.skills || {}).map(([k, v]) => `${CTI.name("skill", k)} ${v}`).join(", ");
    setAttr(node, "title", skills ? `${name} · ${skills}` : name);
    setText(r.timer, fmt.dur(inState(a, now)));
    setText(r.state, t(a.state));
    const alert = alertOf(a, now);
    setAttr(node, "data-alert", alert);
    setText(r.alert, alert ? `⚠ ${t(`alert_${alert}`)}` : "");
    const call = a.call ? s.calls.find((c) => c.id === a.call) : null;
    // The line under the state: the call (number, queue), or why the agent is not ready.
    const reason = a.state === "not_ready" && a.reason ? t(`reason_${a.reason}`) : "";
    setText(r.call, a.call ? `☎ ${call ? call.caller || "–" : ""}${call && call.queue ? ` · ${queueName(call.queue)}` : ""}` : reason);
    // A state forced (or asked for) during a call: it starts when the call is done.
    const next = a.pending && a.pending.state;
    r.pending.classList.toggle("hidden", !next);
    setText(r.pending, next ? `→ ${t("pending_next", { state: t(next === "logout" ? "logged_out" : next) })}` : "");
    const spy = s.spies.get(a.id);
    setAttr(node, "data-spy", spy ? spy.mode : null);
    r.spyBox.classList.toggle("hidden", !spy);
    setText(r.spyText, spy ? `◉ ${t(`spying_${spy.mode}`)} · ${spy.by}` : "");
    const talking = a.state === "on_call";
    r.spies.forEach((b) => { if (b.disabled === talking) b.disabled = !talking; });
  }

  function renderAgents() {
    const now = Date.now(), filter = $("filter").value, sort = $("sort").value;
    const agents = [...s.agents.values()];
    const key = {
      name: (a, b) => (a.name || a.id).localeCompare(b.name || b.id, CTI.lang),
      state: (a, b) => STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state) || inState(b, now) - inState(a, now),
      time: (a, b) => inState(b, now) - inState(a, now),
    }[sort] || (() => 0);
    agents.sort(key).forEach((a, i) => {
      const visible = !filter || (filter === "alerts" ? alertOf(a, now) !== null : a.state === filter);
      updateTile(a, now, visible);
      const node = tiles.get(a.id).node;
      if (node.style.order !== String(i)) node.style.order = String(i);
    });
    for (const [id, tile] of tiles) if (!s.agents.has(id)) { tile.node.remove(); tiles.delete(id); }
    setText($("tot-alerts"), fmt.num(agents.filter((a) => alertOf(a, now)).length));
    $("tot-alerts").parentElement.classList.toggle("hot", agents.some((a) => alertOf(a, now)));
  }

  // --- queues and totals --------------------------------------------------------------------
  function renderQueues() {
    let waiting = 0, longest = 0, offered = 0, answered = 0, abandoned = 0, inSl = 0, slOffered = 0;
    const tbody = $("queues");
    s.queues.forEach((q, i) => {
      waiting += q.waiting; longest = Math.max(longest, q.longest_wait_s);
      offered += q.offered; answered += q.answered; abandoned += q.abandoned;
      if (q.service_level !== null) { inSl += q.service_level * q.offered; slOffered += q.offered; }
      let row = queueRows.get(q.name);
      if (!row) {
        const cells = Array.from({ length: 7 }, (_, j) => el("td", { class: j ? "num" : "" }));
        cells[3].classList.add("sl");
        cells[6].classList.add("ready");
        row = { tr: el("tr", { "data-queue": q.name }, ...cells), cells };
        queueRows.set(q.name, row);
      }
      if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
      const breach = (q.service_level !== null && q.service_level < q.service_level_target) || q.longest_wait_s > q.service_level_s;
      row.tr.classList.toggle("breach", breach);
      const rate = q.offered ? q.abandoned / q.offered : null;
      [queueName(q.name), fmt.num(q.waiting), fmt.dur(q.longest_wait_s),
        `${fmt.pct(q.service_level)} / ${fmt.pct(q.service_level_target)}`, fmt.dur(q.asa_s),
        fmt.pct(rate), `${fmt.num(q.agents_ready)} / ${fmt.num(q.agents_logged_in)}`,
      ].forEach((text, j) => setText(row.cells[j], text));
    });
    const names = new Set(s.queues.map((q) => q.name));
    for (const [name, row] of queueRows) if (!names.has(name)) { row.tr.remove(); queueRows.delete(name); }
    setText($("tot-waiting"), fmt.num(waiting));
    setText($("tot-longest"), fmt.dur(longest));
    setText($("tot-offered"), fmt.num(offered));
    setText($("tot-answered"), fmt.num(answered));
    setText($("tot-abandoned"), fmt.num(abandoned));
    setText($("tot-abandon-rate"), fmt.pct(offered ? abandoned / offered : null));
    setText($("tot-sl"), fmt.pct(slOffered ? inSl / slOffered : null));
    // An agent serves several queues: count people, not queue memberships.
    setText($("tot-ready"), fmt.num([...s.agents.values()].filter((a) => a.state === "ready").length));
  }

  // --- live calls: as many rows as the panel holds, the oldest first ------------------------
  function renderCalls() {
    const tbody = $("calls");
    s.calls.forEach((c, i) => {
      let row = callRows.get(c.id);
      if (!row) {
        const cells = Array.from({ length: 5 }, (_, j) => el("td", { class: j === 4 ? "num" : "" }));
        const whyBtn = el("button", { type: "button", class: "why-btn", "data-action": "why" });
        row = { tr: el("tr", { "data-call": c.id }, ...cells, el("td", { class: "why-cell" }, whyBtn)), cells, whyBtn };
        whyBtn.onclick = () => openWhy(row.call, whyBtn);
        callRows.set(c.id, row);
      }
      row.call = c;
      setText(row.whyBtn, t("why_btn"));
      setAttr(row.whyBtn, "aria-label", t("why_btn_label", { number: c.caller || "–" }));
      if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
      [c.caller || "–", c.queue ? queueName(c.queue) : "–", t(`call_state_${c.state}`),
        c.agent ? nameOf(c.agent) : "–", fmt.dur(c.started_s_ago)].forEach((text, j) => setText(row.cells[j], text));
    });
    const ids = new Set(s.calls.map((c) => c.id));
    for (const [id, row] of callRows) if (!ids.has(id)) { row.tr.remove(); callRows.delete(id); }
    setText($("calls-count"), `(${fmt.num(s.calls.length)})`);
    fitCalls();
  }

  // Every call is in the box, which scrolls; "+N more" says how many are below what it
  // shows and opens the list over the whole right-hand column (again: back).
  let callsOpen = false;
  function fitCalls() {
    const box = $("calls-box"), more = $("calls-more");
    const bottom = box.getBoundingClientRect().bottom + 1;
    const below = [...$("calls").children].filter((r) => r.getBoundingClientRect().bottom > bottom).length;
    setText($("calls-none"), s.calls.length ? "" : t("no_live_calls"));
    more.classList.toggle("hidden", !below && !callsOpen);
    setAttr(more, "aria-expanded", String(callsOpen));
    if (callsOpen) setText(more, t("fewer_calls"));
    else if (below) {
      const form = `more_calls_${new Intl.PluralRules(CTI.lang).select(below)}`;
      setText(more, t(CTI.has(form) ? form : "more_calls_other", { n: fmt.num(below) }));
    }
  }
  $("calls-more").onclick = () => {
    callsOpen = !callsOpen;
    document.querySelector(".wall-grid .side").classList.toggle("calls-open", callsOpen);
    if (!callsOpen) $("calls-box").scrollTop = 0;
    fitCalls();
  };
  $("calls-box").addEventListener("scroll", fitCalls, { passive: true });

  // --- why this agent: a call's routing decisions in words, in a modal dialog ---------------
  // The dialog takes the focus only when a supervisor opens it, and gives it back to the
  // row's button when it closes (Escape, or Close).
  const why = { dialog: $("why"), body: $("why-body"), opener: null, call: null, data: null, error: null };
  async function openWhy(c, button) {
    Object.assign(why, { opener: button, call: c, data: null, error: null });
    drawWhy();
    if (!why.dialog.open) why.dialog.showModal();
    let data = null, error = null;
    try { data = await api("GET", `/api/v1/calls/${encodeURIComponent(c.id)}/routing`); } catch (e) { error = e; }
    if (why.call !== c) return; // closed, or another call opened meanwhile
    Object.assign(why, { data, error });
    drawWhy();
    why.dialog.dataset.loaded = "1";
  }
  why.dialog.addEventListener("close", () => {
    why.call = null;
    delete why.dialog.dataset.loaded;
    (why.opener && why.opener.isConnected ? why.opener : $("calls-box")).focus();
  });
  $("why-close").onclick = () => why.dialog.close();

  const ruleTitle = (r) => {
    if (!r) return t("why_rule_none");
    if (r.startsWith("relaxed_step_")) return t("why_rule_relaxed", { step: fmt.num(Number(r.slice(13))) });
    return CTI.has(`why_rule_${r}`) ? t(`why_rule_${r}`) : r;
  };
  const ruleText = (r) => {
    const key = r && r.startsWith("relaxed_step_") ? "why_rule_relaxed_text" : `why_rule_${r}_text`;
    return r && CTI.has(key) ? t(key) : "";
  };
  const skillsText = (req) => (!req || !Object.keys(req).length ? t("why_any_agent")
    : Object.entries(req).map(([k, v]) => `${CTI.name("skill", k)} ${fmt.num(v)}`).join(", "));
  const grid = (caption, head, rows) => el("table", { class: "compact" },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, head.map(([h, num]) => el("th", { scope: "col", class: num ? "num" : "" }, h)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((v, i) => el("td", { class: head[i][1] ? "num" : "" }, v))))));
  const fact = (label, value) => el("div", { class: "why-fact" }, el("dt", {}, label), el("dd", {}, value));

  function candidatesOf(w) {
    if (!w.candidates) return null;
    const withRule = w.mode === "reservation";
    const head = [[t("agent")], [t("why_pool")], [t("why_level"), 1], [t("why_idle"), 1], [t("why_fits")]];
    if (withRule) head.push([t("why_rule")]);
    const rows = w.candidates.map((c) => {
      const r = [nameOf(c.agent), c.pool ? queueName(c.pool) : "–", fmt.num(c.level), fmt.dur(c.idle_s),
        t(c.fits ? "why_yes" : "why_no")];
      if (withRule) r.push(ruleTitle(c.rule));
      return r;
    });
    const caption = `${t("why_candidates")} · ${t("why_ready_total", { n: fmt.num(w.ready_total) })}`;
    return grid(caption, head, rows);
  }

  function poolsOf(w) {
    if (!w.pools) return null;
    const head = [[t("why_pool")], [t("why_ready"), 1], [t("why_wrapping"), 1], [t("why_waiting"), 1],
      [t("why_available"), 1], [t("why_reserve_col"), 1], [t("why_spare"), 1]];
    const rows = Object.entries(w.pools).map(([name, p]) => [queueName(name), fmt.num(p.ready), fmt.num(p.wrapping),
      fmt.num(p.waiting), fmt.num(p.available), fmt.num(p.reserve), fmt.num(p.spare)]);
    return grid(t("why_pools"), head, rows);
  }

  function requirementOf(w) {
    if (w.mode !== "relaxation") return [];
    const out = [fact(t("why_requirement"), skillsText(w.requirement))];
    if (w.reserve !== null && w.reserve !== undefined) out.push(fact(t("why_reserve"), fmt.num(w.reserve)));
    return out;
  }

  function waitingReason(w) {
    const cands = w.candidates || [];
    if (!w.ready_total) return t("why_wait_no_ready");
    if (cands.some((c) => (w.mode === "reservation" ? c.rule : c.fits))) {
      return w.mode === "reservation" ? t("why_wait_next") : t("why_wait_reserve");
    }
    if (!cands.some((c) => c.fits)) return t("why_wait_no_fit");
    return t("why_wait_reserve");
  }

  function drawWhy() {
    const c = why.call;
    if (!c) return;
    setText($("why-number"), `· ${c.caller || "–"}`);
    const parts = [];
    const d = why.data;
    if (why.error) parts.push(el("p", { class: "error-text" }, t("why_failed", { error: CTI.errorText ? CTI.errorText(why.error) : why.error.message })));
    else if (!d) parts.push(el("p", { class: "muted" }, t("why_loading")));
    else {
      parts.push(el("dl", { class: "why-facts" },
        fact(t("queue"), d.queue ? queueName(d.queue) : "–"),
        fact(t("state"), d.state === "ended" ? t("why_state_ended")
          : CTI.has(`call_state_${d.state}`) ? t(`call_state_${d.state}`) : d.state),
        fact(t("agent"), d.agent ? nameOf(d.agent) : "–")));
      const last = d.decisions[d.decisions.length - 1];
      if (last) {
        parts.push(el("section", { class: "why-decision", "aria-labelledby": "why-chosen-h" },
          el("h3", { id: "why-chosen-h" }, t("why_chosen")),
          el("p", { class: "why-chosen" }, nameOf(last.agent)),
          el("p", { class: "why-rule" }, el("b", {}, `${t("why_rule")}: ${ruleTitle(last.rule)}`),
            ruleText(last.rule) ? ` — ${ruleText(last.rule)}` : ""),
          el("dl", { class: "why-facts" }, fact(t("why_waited"), fmt.dur(last.waited_s)), ...requirementOf(last)),
          poolsOf(last), candidatesOf(last)));
        const earlier = d.decisions.slice(0, -1);
        if (earlier.length) {
          parts.push(el("p", { class: "why-earlier" }, `${t("why_earlier")}: `,
            earlier.map((e) => `${nameOf(e.agent)} (${ruleTitle(e.rule)})`).join(", ")));
        }
      }
      if (d.waiting) {
        const w = d.waiting;
        parts.push(el("section", { class: "why-waiting", "aria-labelledby": "why-waiting-h" },
          el("h3", { id: "why-waiting-h" }, t("why_waiting_title")),
          el("p", { class: "why-reason" }, waitingReason(w)),
          el("dl", { class: "why-facts" }, fact(t("waited"), fmt.dur(w.waited_s)), ...requirementOf(w)),
          poolsOf(w), candidatesOf(w)));
      }
      if (!last && !d.waiting) parts.push(el("p", { class: "muted" }, t("why_no_decision")));
    }
    why.body.replaceChildren(...parts.filter(Boolean));
  }

  // --- data ---------------------------------------------------------------------------------
  async function refresh() {
    try {
      const [queues, agents, calls] = await Promise.all([
        api("GET", "/api/v1/queues"), api("GET", "/api/v1/agents"), api("GET", "/api/v1/calls"),
      ]);
      s.queues = queues.items;
      s.calls = calls.items;
      s.agents = new Map(agents.items.map((a) => [a.id, { ...a, since: Date.now() - a.in_state_s * 1000 }]));
      render();
      document.body.dataset.loaded = "1";
    } catch (e) { /* the next event or tick tries again */ }
  }
  function render() { renderQueues(); renderCalls(); renderAgents(); }
  let pending = null;
  const soon = () => { if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 500); };

  function onFrame(f) {
    if (f.type === "snapshot") {
      s.spies = new Map((f.spies || []).map((x) => [x.agent, x]));
      refresh();
    } else if (f.type === "event") {
      const d = f.data;
      if (f.event === "supervisor.spy") {
        if (d.active) s.spies.set(d.agent, d); else s.spies.delete(d.agent);
        renderAgents();
        return;
      }
      if (f.event === "acd.AgentStateChanged" && s.agents.has(d.agent)) {
        Object.assign(s.agents.get(d.agent), { state: d.new, reason: d.reason, since: Date.now() });
        renderAgents();
      }
      soon();
    }
  }

  const conn = CTI.socket("/ws/supervisor", {
    onFrame, resume: false,
  });

  async function command(msg) {
    try {
      await conn.send(msg);
      toast(`${t(msg.type === "broadcast" ? "send" : msg.type)} · ${msg.agent ? nameOf(msg.agent) : ""} ✓`);
      if (msg.type === "force_state") refresh(); // the tile shows the state, or that it is pending
    } catch (e) {
      toast(`${t(msg.type === "broadcast" ? "send" : msg.type)}: ${CTI.errorText ? CTI.errorText(e) : e.message || e.code}`, "error");
    }
  }

  $("bc").onsubmit = async (ev) => {
    ev.preventDefault();
    const text = $("bc-text").value.trim();
    if (!text) return;
    await command({ type: "broadcast", text });
    $("bc-text").value = "";
  };
  $("filter").onchange = renderAgents;
  $("sort").onchange = renderAgents;

  // The centre's clock, not the browser's: a supervisor elsewhere sees the centre's time.
  let zone;
  try { zone = (await api("GET", "/api/v1/reports/settings")).timezone; } catch (e) { /* the browser's */ }
  function tick() {
    const clock = $("clock");
    try {
      setText(clock, new Intl.DateTimeFormat(CTI.lang, { timeStyle: "medium", timeZone: zone }).format(new Date()));
    } catch (e) { setText(clock, new Intl.DateTimeFormat(CTI.lang, { timeStyle: "medium" }).format(new Date())); }
    renderAgents();
  }
  setInterval(tick, 1000);
  setInterval(refresh, 3000);
  // Overdue cases escalated to supervisors (their deadline alerts, unread): a link to the journal.
  async function alerts() {
    try { setText($("inbox-count"), fmt.num((await api("GET", "/api/v1/inbox?unread=true&limit=1")).unread)); } catch (e) { /* next time */ }
  }
  alerts();
  setInterval(alerts, 60000);
  window.addEventListener("resize", fitCalls);
  CTI.onLanguage(() => { tiles.forEach(label); render(); drawWhy(); });
})();
