// The agent desktop: state, screen-pop, call control, case and wrap-up, broadcasts.
// What is on screen is kept in sessionStorage, so a reload or a reconnect loses nothing.
"use strict";

(async () => {
  const { t, fmt, api, el, toast } = CTI;
  const $ = (id) => document.getElementById(id);
  const me = await CTI.session();
  const saved = JSON.parse(sessionStorage.getItem("cti.desk") || "{}");
  const s = {
    state: "logged_out", reason: null, since: Date.now(), call: null,
    pop: saved.pop || null, talking: saved.talking || false, held: saved.held || false,
    recPaused: saved.recPaused || false, topics: [], broadcasts: saved.broadcasts || [],
  };
  const keep = () => sessionStorage.setItem("cti.desk", JSON.stringify({
    pop: s.pop, talking: s.talking, held: s.held, recPaused: s.recPaused, broadcasts: s.broadcasts.slice(-5),
  }));

  async function loadProfile() {
    const p = await api("GET", `/api/v1/agents/${encodeURIComponent(me.agent_id)}`);
    s.state = p.state; s.reason = p.reason; s.call = p.call;
    s.since = Date.now() - p.in_state_s * 1000;
    const reasons = $("reasons");
    reasons.replaceChildren(...p.not_ready_reasons.map((r) => new Option(t(`reason_${r}`), r)));
    $("t-queue").replaceChildren(...p.all_queues.map((q) => new Option(q, q)));
    if (!["reserved", "on_call", "wrap_up"].includes(s.state)) { s.pop = null; s.talking = false; s.held = false; }
    render();
  }

  async function loadTopics() {
    try {
      s.topics = (await api("GET", "/api/v1/topics")).items;
    } catch (e) { s.topics = []; }
    const orgs = new Map();
    s.topics.forEach((tp) => tp.organisation && orgs.set(tp.organisation, tp.organisation_name || tp.organisation));
    $("c-topic").replaceChildren(...s.topics.map((tp) => new Option(`${tp.name} (${tp.code})`, tp.code)));
    $("c-org").replaceChildren(...[...orgs].map(([code, name]) => new Option(name, code)));
    topicChanged();
  }

  function topicChanged() {
    const tp = s.topics.find((x) => x.code === $("c-topic").value);
    if (!tp) return;
    if (tp.organisation) $("c-org").value = tp.organisation;
    const days = tp.regulation_days || 30;
    const due = new Date(); due.setDate(due.getDate() + days);
    $("c-deadline").textContent = `${fmt.date(due)} (${days} ${t("days")})`;
  }

  // --- rendering -----------------------------------------------------------------------------
  function render() {
    const badge = $("state");
    badge.className = `badge st-${s.state}`;
    badge.textContent = t(s.state) + (s.held ? ` · ${t("on_hold")}` : "");
    $("reason").textContent = s.state === "not_ready" && s.reason ? t(`reason_${s.reason}`) : "";
    const st = s.state;
    $("b-login").disabled = st !== "logged_out";
    $("b-ready").disabled = !["not_ready"].includes(st);
    $("b-not-ready").disabled = !["ready", "not_ready"].includes(st);
    $("reasons").disabled = $("b-not-ready").disabled;
    $("b-logout").disabled = !["ready", "not_ready", "wrap_up"].includes(st);
    const pop = s.pop;
    $("pop-body").classList.toggle("hidden", !pop);
    $("pop").classList.toggle("talking", st === "on_call");
    $("pop-title").textContent = !pop ? t("no_call") : st === "reserved" ? t("incoming") : t("current_call");
    if (pop) {
      const c = pop.caller || {};
      $("pop-number").textContent = pop.number || "–";
      $("pop-name").textContent = c.name || t("unknown_caller");
      $("pop-address").textContent = c.address || "–";
      $("pop-queue").textContent = pop.queue || "–";
      $("pop-topic").textContent = pop.topic || "–";
      $("pop-waited").textContent = fmt.dur(pop.waited_s);
      $("pop-ivr").replaceChildren(...(pop.ivr_path || []).map((p) => el("span", {}, p)));
    }
    $("b-answer").classList.toggle("hidden", st !== "reserved");
    const talking = st === "on_call";
    for (const id of ["b-hold", "b-unhold", "b-rec", "b-hangup", "b-transfer"]) $(id).disabled = !talking;
    $("b-hold").classList.toggle("hidden", s.held);
    $("b-unhold").classList.toggle("hidden", !s.held);
    $("b-rec").textContent = t(s.recPaused ? "resume_recording" : "pause_recording");
    renderHistory();
    $("wrap").classList.toggle("hidden", st !== "wrap_up");
    const existing = (pop && pop.open_cases) || [];
    $("c-existing").replaceChildren(...existing.map((c) => new Option(`${c.number} · ${c.topic}`, c.id)));
    $("broadcasts").classList.toggle("hidden", !s.broadcasts.length);
    $("broadcasts").replaceChildren(...s.broadcasts.slice(-3).map((b) =>
      el("div", { class: "broadcast", role: "alert" }, el("b", {}, t("broadcast")), ` (${t("from")} ${b.by}): `, b.text)));
    keep();
  }

  function renderHistory() {
    const pop = s.pop;
    const cases = (pop && pop.open_cases) || [];
    $("cases").replaceChildren(...(cases.length ? cases.map((c) => el("tr", {},
      el("td", {}, c.number), el("td", {}, c.topic), el("td", {}, c.status), el("td", {}, fmt.date(c.deadline))))
      : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, t("none")))]));
    const calls = (pop && pop.interactions) || [];
    $("calls").replaceChildren(...(calls.length ? calls.map((c) => el("tr", {},
      el("td", {}, fmt.dateTime(c.arrived_at)), el("td", {}, c.topic || "–"), el("td", {}, c.outcome || "–"), el("td", {}, c.agent || "–")))
      : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, t("none")))]));
  }

  setInterval(() => { $("timer").textContent = fmt.dur((Date.now() - s.since) / 1000); }, 500);

  // --- the websocket -------------------------------------------------------------------------
  function onFrame(f) {
    if (f.type === "screen_pop") {
      s.pop = f; s.talking = false; s.held = false; s.recPaused = false;
    } else if (f.type === "broadcast") {
      s.broadcasts.push(f);
      toast(`${t("broadcast")}: ${f.text}`);
    } else if (f.type === "resume_failed") {
      loadProfile();
      return;
    } else if (f.type === "event") {
      const d = f.data;
      if (f.event === "acd.AgentStateChanged") {
        const was = s.state;
        s.state = d.new; s.reason = d.reason; s.since = Date.now();
        if ((was === "reserved" && d.new !== "on_call") || (was === "wrap_up" && d.new !== "wrap_up")) {
          s.pop = null; s.held = false; s.recPaused = false;
        }
      } else if (f.event === "acd.CallAnswered") {
        s.talking = true;
      } else if (f.event === "acd.CallHeld") {
        s.held = true;
      } else if (f.event === "acd.CallResumed" || f.event === "acd.CallCompleted") {
        s.held = false;
      }
    }
    render();
  }

  const conn = CTI.socket("/ws/agent", {
    onFrame,
    onStatus: (up, code) => {
      $("conn").classList.toggle("up", up);
      $("conn").textContent = t(up ? "connected" : "reconnecting");
      if (code === 4001) $("conn").textContent = "replaced by another desktop";
    },
    onOpen: () => loadProfile().catch(() => {}),
  });

  async function command(msg, done) {
    try {
      const ack = await conn.send(msg);
      if (done) done(ack);
      render();
      return ack;
    } catch (e) {
      toast(`${msg.type}: ${e.message || e.code}`, "error");
      return null;
    }
  }

  $("b-login").onclick = () => command({ type: "login" });
  $("b-ready").onclick = () => command({ type: "ready" });
  $("b-not-ready").onclick = () => command({ type: "not_ready", reason: $("reasons").value });
  $("b-logout").onclick = () => command({ type: "logout" });
  $("b-answer").onclick = () => command({ type: "answer" });
  $("b-hold").onclick = () => command({ type: "hold" });
  $("b-unhold").onclick = () => command({ type: "unhold" });
  $("b-hangup").onclick = () => command({ type: "hangup" });
  $("b-rec").onclick = () => command({ type: s.recPaused ? "resume_recording" : "pause_recording" },
    () => { s.recPaused = !s.recPaused; });
  $("t-kind").onchange = () => {
    const q = $("t-kind").value === "queue";
    $("t-queue").classList.toggle("hidden", !q);
    $("t-target").classList.toggle("hidden", q);
  };
  $("b-transfer").onclick = () => {
    const kind = $("t-kind").value;
    const target = kind === "queue" ? $("t-queue").value : $("t-target").value.trim();
    if (target) command({ type: "transfer", [kind]: target });
  };
  $("c-topic").onchange = topicChanged;
  document.querySelectorAll("input[name=case]").forEach((r) => {
    r.onchange = () => {
      const v = document.querySelector("input[name=case]:checked").value;
      $("case-new").classList.toggle("hidden", v !== "new");
      $("case-existing").classList.toggle("hidden", v !== "existing");
    };
  });
  $("wrap-form").onsubmit = (ev) => {
    ev.preventDefault();
    const kind = document.querySelector("input[name=case]:checked").value;
    const msg = { type: "wrap_up", disposition: $("disposition").value, ready: true };
    if (kind === "new") {
      msg.case = { topic: $("c-topic").value, description: $("c-desc").value, organisation: $("c-org").value || null };
      const number = s.pop && s.pop.number;
      if (number && /^\+?\d{6,}$/.test(number)) msg.case.phone = number;
    } else if (kind === "existing" && $("c-existing").value) {
      msg.case_id = Number($("c-existing").value);
    }
    command(msg, (ack) => {
      if (ack.case_number) toast(t("case_filed", { number: ack.case_number }));
      $("c-desc").value = "";
    });
  };

  CTI.onLanguage(() => { render(); topicChanged(); });
  render();
  loadTopics();
})();
