// The supervisor wallboard: queues against their service-level target, the agent grid,
// live calls; listen / whisper / barge, force an agent's state, broadcast a message.
"use strict";

(async () => {
  const { t, fmt, api, el, toast } = CTI;
  const $ = (id) => document.getElementById(id);
  await CTI.session();
  const phone = $("phone");
  phone.value = localStorage.getItem("cti.phone") || phone.value;
  phone.onchange = () => localStorage.setItem("cti.phone", phone.value.trim());
  const s = { queues: [], agents: new Map(), calls: [] };

  function renderQueues() {
    let waiting = 0, longest = 0, offered = 0, answered = 0, abandoned = 0;
    $("queues").replaceChildren(...s.queues.map((q) => {
      waiting += q.waiting; longest = Math.max(longest, q.longest_wait_s);
      offered += q.offered; answered += q.answered; abandoned += q.abandoned;
      const breach = (q.service_level !== null && q.service_level < q.service_level_target)
        || q.longest_wait_s > q.service_level_s;
      return el("tr", { class: breach ? "breach" : "", "data-queue": q.name },
        el("td", {}, q.name), el("td", { class: "num" }, fmt.num(q.waiting)),
        el("td", { class: "num" }, fmt.dur(q.longest_wait_s)),
        el("td", { class: "num sl" }, `${fmt.pct(q.service_level)} / ${fmt.pct(q.service_level_target)}`),
        el("td", { class: "num" }, fmt.dur(q.asa_s)),
        el("td", { class: "num" }, fmt.num(q.agents_ready)), el("td", { class: "num" }, fmt.num(q.agents_logged_in)),
        el("td", { class: "num" }, fmt.num(q.offered)), el("td", { class: "num" }, fmt.num(q.answered)),
        el("td", { class: "num" }, fmt.num(q.abandoned)));
    }));
    $("tot-waiting").textContent = fmt.num(waiting);
    $("tot-longest").textContent = fmt.dur(longest);
    $("tot-offered").textContent = fmt.num(offered);
    $("tot-answered").textContent = fmt.num(answered);
    $("tot-abandoned").textContent = fmt.num(abandoned);
    // An agent serves several queues: count people, not queue memberships.
    $("tot-ready").textContent = fmt.num([...s.agents.values()].filter((a) => a.state === "ready").length);
  }

  function renderAgents() {
    const tiles = [...s.agents.values()].sort((a, b) => a.id.localeCompare(b.id)).map((a) => {
      const talking = a.state === "on_call";
      const spy = (mode) => el("button", { onclick: () => command({ type: mode, agent: a.id, endpoint: phone.value.trim() }), disabled: !talking, "data-action": mode }, t(mode));
      const force = el("select", { "aria-label": t("force_state"), onchange: (ev) => {
        const state = ev.target.value;
        ev.target.value = "";
        if (state) command({ type: "force_state", agent: a.id, state, reason: state === "not_ready" ? "admin" : null });
      } }, new Option(t("force_state"), ""), new Option(t("ready"), "ready"), new Option(t("not_ready"), "not_ready"), new Option(t("logged_out"), "logout"));
      return el("div", { class: `tile st-${a.state}`, "data-agent": a.id },
        el("div", { class: "row", style: "justify-content:space-between" }, el("span", { class: "id" }, a.id),
          el("span", { class: "timer", "data-since": a.since }, fmt.dur((Date.now() - a.since) / 1000))),
        el("div", {}, t(a.state), a.state === "not_ready" && a.reason ? ` · ${t(`reason_${a.reason}`)}` : ""),
        el("div", { class: "small" }, a.call ? `☎ ${callNumber(a.call)}` : ""),
        el("div", { class: "small" }, Object.entries(a.skills || {}).map(([k, v]) => `${k} ${v}`).join(", ")),
        el("div", { class: "row actions" }, spy("listen"), spy("whisper"), spy("barge"), force));
    });
    $("agents").replaceChildren(...tiles);
  }

  function callNumber(id) {
    const c = s.calls.find((x) => x.id === id);
    return c ? c.caller : id;
  }

  function renderCalls() {
    $("calls").replaceChildren(...s.calls.map((c) => el("tr", {},
      el("td", {}, c.caller || "–"), el("td", {}, c.queue || "–"), el("td", {}, t(`call_state_${c.state}`)),
      el("td", {}, c.agent || "–"), el("td", { class: "num" }, fmt.dur(c.started_s_ago)))));
  }

  async function refresh() {
    try {
      const [queues, agents, calls] = await Promise.all([
        api("GET", "/api/v1/queues"), api("GET", "/api/v1/agents"), api("GET", "/api/v1/calls"),
      ]);
      s.queues = queues.items;
      s.calls = calls.items;
      s.agents = new Map(agents.items.map((a) => [a.id, { ...a, since: Date.now() - a.in_state_s * 1000 }]));
      renderQueues(); renderCalls(); renderAgents();
    } catch (e) { /* the next event or tick tries again */ }
  }
  let pending = null;
  const soon = () => { if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 250); };

  function onFrame(f) {
    if (f.type === "snapshot") {
      refresh();
    } else if (f.type === "event") {
      const d = f.data;
      if (f.event === "acd.AgentStateChanged" && s.agents.has(d.agent)) {
        Object.assign(s.agents.get(d.agent), { state: d.new, reason: d.reason, since: Date.now() });
        renderAgents();
        renderQueues();
      }
      soon();
    }
  }

  const conn = CTI.socket("/ws/supervisor", {
    onFrame, resume: false,
    onStatus: (up) => { $("conn").classList.toggle("up", up); $("conn").textContent = t(up ? "connected" : "reconnecting"); },
  });

  async function command(msg) {
    try {
      await conn.send(msg);
      toast(`${t(msg.type === "broadcast" ? "send" : msg.type)} · ${msg.agent || ""} ✓`);
    } catch (e) {
      toast(`${msg.type}: ${e.message || e.code}`, "error");
    }
  }

  $("bc").onsubmit = async (ev) => {
    ev.preventDefault();
    const text = $("bc-text").value.trim();
    if (!text) return;
    await command({ type: "broadcast", text });
    $("bc-text").value = "";
  };

  setInterval(() => {
    $("clock").textContent = new Intl.DateTimeFormat(CTI.lang, { timeStyle: "medium" }).format(new Date());
    document.querySelectorAll(".timer[data-since]").forEach((n) => { n.textContent = fmt.dur((Date.now() - Number(n.dataset.since)) / 1000); });
  }, 1000);
  setInterval(refresh, 5000);
  CTI.onLanguage(() => { renderQueues(); renderAgents(); renderCalls(); });
})();
