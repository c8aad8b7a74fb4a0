// The agent desktop: state (with a break asked for during a call), screen-pop with the
// call timer, notes, the caller's name and address, call control, transfer to a ready
// agent / queue / number (with a dial pad), wrap-up with its countdown, case and
// disposition, keyboard shortcuts. What is on screen is kept in sessionStorage, so a
// reload or a reconnect loses nothing; a desktop opened mid-call asks the server for the
// call. One desktop per agent: one opened elsewhere takes over, and "Use here" takes it
// back. Signing out logs the agent out of the queues first. Idle, she may call a number
// herself (the CTI's own call: her phone first, then the citizen's).
"use strict";

(async () => {
  const { t, fmt, api, el, toast } = CTI;
  const $ = (id) => document.getElementById(id);
  const me = await CTI.session();
  const saved = JSON.parse(sessionStorage.getItem("cti.desk") || "{}");
  const s = {
    state: "logged_out", reason: null, since: Date.now(), pending: null, wrapEnds: null,
    recording: false, queues: [], targets: [], topics: [],
    pop: saved.pop || null, held: saved.held || false, recPaused: saved.recPaused || false,
    broadcasts: saved.broadcasts || [], notes: saved.notes || {}, wrapFor: null, finishing: false,
    connected: false, elsewhere: false,
  };
  const CALL_STATES = ["reserved", "on_call", "wrap_up"];
  const EXTEND_S = 60;
  const keep = () => sessionStorage.setItem("cti.desk", JSON.stringify({
    pop: s.pop, held: s.held, recPaused: s.recPaused, broadcasts: s.broadcasts.slice(-5), notes: s.notes,
  }));

  // --- names instead of ids ------------------------------------------------------------------
  const has = CTI.has;
  const human = (id) => (id ? String(id).replace(/[_.]+/g, " ").replace(/^./, (c) => c.toUpperCase()) : "–");
  const named = (prefix, id) => (id && has(prefix + id) ? t(prefix + id) : human(id));
  // Names from the server's files in the page's language; a code without one, readable.
  const fileName = (kind, code) => {
    if (!code) return "–";
    const found = CTI.name(kind, code);
    return found === String(code) ? human(code) : found;
  };
  const queueName = (q) => fileName("queue", q);
  const topicName = (code) => {
    const found = CTI.name("topic", code);
    const tp = s.topics.find((x) => x.code === code);
    return found !== String(code) ? found : tp ? tp.name : human(code);
  };
  const DISPOSITIONS = { resolved: "disp_resolved", information: "disp_info", case_registered: "disp_case",
    callback_needed: "disp_callback", wrong_number: "disp_wrong" };
  const dispName = (d) => (d ? (DISPOSITIONS[d] ? t(DISPOSITIONS[d]) : human(d)) : "–");
  const reasonName = (r) => named("reason_", r);
  function ivrStep(step) {
    const [node, choice] = step.split(":");
    const label = named("ivr_", node);
    if (!choice) return label;
    const value = LANGUAGES[choice] || (has(`ivr_${choice}`) ? t(`ivr_${choice}`) : choice);
    return `${label}: ${value}`;
  }
  const errText = (e) => CTI.errorText(e);
  const agentName = (id) => CTI.name("agent", id);
  // Times as the centre lives them (its time zone, from the server), not the browser's.
  function inCentre(options) {
    try { return new Intl.DateTimeFormat(CTI.lang, { ...options, timeZone: me.timezone || undefined }); }
    catch (e) { return new Intl.DateTimeFormat(CTI.lang, options); } // a zone this browser lacks
  }
  const when = (v) => (v ? inCentre({ dateStyle: "short", timeStyle: "short" }).format(new Date(v)) : "–");
  // A date without a time (a deadline: "2026-12-08") is that day wherever it is read.
  const day = (v) => (v ? new Intl.DateTimeFormat(CTI.lang, { dateStyle: "medium", timeZone: "UTC" }).format(new Date(v)) : "–");

  // --- what the server knows -------------------------------------------------------------------
  async function loadProfile() {
    const p = await api("GET", `/api/v1/agents/${encodeURIComponent(me.agent_id)}`);
    s.state = p.state; s.reason = p.reason; s.pending = p.pending; s.recording = p.recording;
    s.since = Date.now() - p.in_state_s * 1000;
    s.wrapEnds = p.wrap_up_left_s === null ? null : Date.now() + p.wrap_up_left_s * 1000;
    if (p.held !== undefined) s.held = p.held;
    const pick = $("reasons").value;
    $("reasons").replaceChildren(...p.not_ready_reasons.map((r) => new Option(reasonName(r), r)));
    if (pick) $("reasons").value = pick;
    s.queues = p.all_queues;
    $("t-queue").replaceChildren(...s.queues.map((q) => new Option(queueName(q), q)));
    if (!CALL_STATES.includes(s.state)) { s.pop = null; s.held = false; }
    else if (!s.pop || (p.call && s.pop.call !== p.call)) await currentCall();
    if (s.state === "on_call") loadTargets();
    render();
  }

  async function currentCall() {
    const ack = await command({ type: "current_call" });
    if (ack && ack.pop) { s.pop = ack.pop; s.recPaused = false; }
  }

  async function loadTopics() {
    try { s.topics = (await api("GET", "/api/v1/topics")).items; } catch (e) { s.topics = []; }
    renderTopics();
  }

  function renderTopics() {
    const chosen = $("c-topic").value;
    const orgs = new Map();
    s.topics.forEach((tp) => tp.organisation && orgs.set(tp.organisation, fileName("organisation", tp.organisation)));
    const depth = (code) => code.split(".").length - 1;
    $("c-topic").replaceChildren(new Option(t("choose"), ""),
      ...s.topics.map((tp) => new Option(`${"\u2003".repeat(depth(tp.code))}${topicName(tp.code)}`, tp.code)));
    $("c-org").replaceChildren(...[...orgs].map(([code, name]) => new Option(name, code)));
    $("c-topic").value = chosen;
    if (s.wrapFor && !chosen) preselectTopic();
    topicChanged();
  }

  async function loadTargets() {
    try {
      s.targets = (await api("GET", "/api/v1/transfer-targets")).agents;
    } catch (e) { s.targets = []; }
    const skills = (a) => Object.entries(a.skills).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${queueName(k)} ${v}`).join(", ");
    const opts = s.targets.map((a) => new Option(`${a.name || a.id} — ${skills(a)}`, a.id));
    $("t-agent").replaceChildren(...(opts.length ? opts : [new Option(t("no_agent_ready"), "")]));
  }

  function topicChanged() {
    const tp = s.topics.find((x) => x.code === $("c-topic").value);
    if (!tp) { $("c-deadline").textContent = "–"; return; }
    if (tp.organisation) $("c-org").value = tp.organisation;
    const days = tp.regulation_days || 30;
    const due = new Date(); due.setDate(due.getDate() + days);
    $("c-deadline").textContent = `${fmt.date(due)} (${days} ${t("days")})`;
  }

  // --- the wrap-up form ---------------------------------------------------------------------
  function preselectTopic() {
    const code = s.pop && s.pop.topic;
    $("c-topic").value = s.topics.some((x) => x.code === code) ? code : "";
    topicChanged();
  }

  function prepareWrap() {
    const call = s.pop ? s.pop.call : "?";
    if (s.wrapFor === call) return;
    s.wrapFor = call;
    $("disposition").value = "";
    document.querySelector("input[name=case][value=new]").checked = true;
    caseKindChanged();
    preselectTopic();
    $("c-desc").value = s.notes[call] || "";
    $("c-address").value = (s.pop && s.pop.caller && s.pop.caller.address) || ""; // the caller's, to correct
    $("c-emergency").checked = false;
    $("c-paid").checked = false;
    limits.desc.show();
    showWrapError(null);
  }

  function caseKindChanged() {
    const v = document.querySelector("input[name=case]:checked").value;
    $("case-new").classList.toggle("hidden", v !== "new");
    $("case-existing").classList.toggle("hidden", v !== "existing");
  }

  function showWrapError(key, field) {
    for (const id of ["disposition", "c-topic", "c-desc", "c-existing"]) $(id).removeAttribute("aria-invalid");
    $("wrap-error").textContent = key ? t(key) : "";
    if (field) { $(field).setAttribute("aria-invalid", "true"); $(field).focus(); }
  }

  /** The first required field left empty: [message key, field id] (null: all given). */
  function missing() {
    const kind = document.querySelector("input[name=case]:checked").value;
    if (!$("disposition").value) return ["need_disposition", "disposition"];
    if (kind === "new" && !$("c-topic").value) return ["need_topic", "c-topic"];
    if (kind === "new" && !$("c-desc").value.trim()) return ["need_description", "c-desc"];
    if (kind === "existing" && !$("c-existing").value) return ["need_existing", "c-existing"];
    return null;
  }

  async function finishWrap() {
    if (s.state !== "wrap_up") return;
    const gap = missing();
    if (gap) { showWrapError(...gap); return; }
    showWrapError(null);
    const kind = document.querySelector("input[name=case]:checked").value;
    const msg = { type: "wrap_up", disposition: $("disposition").value, ready: true };
    if (kind === "new") {
      msg.case = { topic: $("c-topic").value, description: $("c-desc").value.trim(), organisation: $("c-org").value || null,
        address: $("c-address").value.trim(), emergency: $("c-emergency").checked, paid: $("c-paid").checked };
      const number = s.pop && s.pop.number;
      if (number && /^\+?\d{6,}$/.test(number)) msg.case.phone = number;
    } else if (kind === "existing") {
      msg.case_id = Number($("c-existing").value);
    }
    const call = s.wrapFor;
    s.finishing = true; // the state change may come before the ack
    const ack = await command(msg, null, (e) => { $("wrap-error").textContent = errText(e); });
    s.finishing = false;
    if (!ack) return;
    delete s.notes[call];
    $("c-desc").value = "";
    limits.desc.show();
    toast(ack.case_number ? t("case_filed", { number: ack.case_number }) : t("wrap_up_done"));
  }

  // --- rendering -----------------------------------------------------------------------------
  function render() {
    const st = s.state, pop = s.pop;
    const badge = $("state");
    badge.className = `badge st-${st}`;
    badge.textContent = t(st) + (s.held && st === "on_call" ? ` · ${t("on_hold")}` : "");
    $("reason").textContent = st === "not_ready" && s.reason ? reasonName(s.reason) : "";
    const pend = s.pending && CALL_STATES.includes(st) ? s.pending : null;
    $("pending").classList.toggle("hidden", !pend);
    if (pend) {
      const what = pend.state === "not_ready" ? `${t("not_ready")} · ${reasonName(pend.reason)}` : t("logged_out");
      $("pending-text").textContent = t("after_call", { what });
    }
    // Until the websocket is up nothing can be asked: the buttons say so. Open in
    // another window: only "Use here" works in this one.
    document.querySelector(".state-bar").toggleAttribute("inert", !s.connected);
    $("elsewhere").classList.toggle("hidden", !s.elsewhere);
    for (const id of ["pop", "wrap"]) $(id).toggleAttribute("inert", s.elsewhere);
    document.querySelector("main.desk").classList.toggle("elsewhere-on", s.elsewhere);
    $("b-login").disabled = st !== "logged_out";
    $("b-ready").disabled = st !== "not_ready";
    $("b-not-ready").disabled = st === "logged_out";
    $("reasons").disabled = st === "logged_out";
    $("b-logout").disabled = !["ready", "not_ready", "wrap_up"].includes(st);

    $("pop-body").classList.toggle("hidden", !pop);
    $("idle").classList.toggle("hidden", !!pop);
    $("dial-form").classList.toggle("hidden", !!pop || !["ready", "not_ready"].includes(st));
    $("pop").classList.toggle("talking", st === "on_call");
    $("pop-title").textContent = !pop ? t("no_call") : st === "reserved" ? t(pop.outbound ? "outgoing" : "incoming") : st === "wrap_up" ? t("last_call") : t("current_call");
    $("call-timer").classList.toggle("hidden", !(pop && ["reserved", "on_call"].includes(st)));
    if (pop) {
      const c = pop.caller || {};
      $("pop-number").textContent = pop.number || t("anonymous");
      $("pop-name").textContent = c.name || t("unknown_caller");
      $("pop-address").textContent = c.address || "–";
      $("pop-queue").textContent = pop.outbound ? "–" : queueName(pop.queue);
      $("pop-topic").textContent = pop.topic ? topicName(pop.topic) : "–";
      $("pop-waited").textContent = pop.outbound ? "–" : fmt.dur(pop.waited_s);
      $("pop-ivr").replaceChildren(...(pop.ivr_path || []).map((p) => el("span", {}, ivrStep(p))));
      $("b-edit-caller").disabled = !/^\+?\d{6,}$/.test(pop.number || "");
      const notes = s.notes[pop.call] || "";
      if (document.activeElement !== $("notes")) { $("notes").value = notes; limits.notes.show(); }
    }
    const talking = st === "on_call";
    $("b-answer").classList.toggle("hidden", st !== "reserved");
    for (const id of ["b-hold", "b-unhold", "b-rec", "b-hangup"]) {
      $(id).classList.toggle("hidden", st === "reserved" || st === "wrap_up");
      $(id).disabled = !talking;
    }
    $("b-hold").classList.toggle("hidden", s.held || !talking);
    $("b-unhold").classList.toggle("hidden", !s.held || !talking);
    $("b-rec").classList.toggle("hidden", !s.recording || !talking);
    $("b-rec").textContent = t(s.recPaused ? "resume_recording" : "pause_recording");
    $("notes-box").classList.toggle("hidden", !["reserved", "on_call"].includes(st));
    $("transfer").classList.toggle("hidden", !talking);
    renderHistory();
    renderWrap();
    $("broadcasts").classList.toggle("hidden", !s.broadcasts.length);
    $("broadcasts").replaceChildren(...s.broadcasts.slice(-3).map((b) =>
      el("div", { class: "broadcast", role: "alert" }, el("b", {}, t("broadcast")), ` (${t("from")} ${b.by}): `, b.text)));
    keep();
    // desktop-tell.js (results to tell citizens) follows the state and the call.
    document.dispatchEvent(new CustomEvent("cti:desk", { detail: { state: st, pop } }));
  }

  function renderWrap() {
    const on = s.state === "wrap_up";
    $("wrap").classList.toggle("hidden", !on);
    document.querySelector("main.desk").classList.toggle("wrapping", on);
    if (!on) { s.wrapFor = null; return; }
    prepareWrap();
    const existing = (s.pop && s.pop.open_cases) || [];
    const chosen = $("c-existing").value;
    $("c-existing").replaceChildren(new Option(t("choose"), ""),
      ...existing.map((c) => new Option(`${c.number} · ${topicName(c.topic)}`, c.id)));
    $("c-existing").value = chosen;
    const then = s.pending && s.pending.state === "not_ready" ? `${t("not_ready")} · ${reasonName(s.pending.reason)}` : t("ready");
    $("wrap-then").textContent = t("when_done", { what: then });
    const more = t("extend", { n: fmt.dur(EXTEND_S) });
    $("b-extend").textContent = more;
    $("b-extend").setAttribute("aria-label", `${more}: ${t("extend_key")}`);
    tick();
  }

  function renderHistory() {
    const pop = s.pop;
    const none = (n) => [el("tr", {}, el("td", { colspan: n, class: "muted" }, t("none")))];
    const cases = (pop && pop.open_cases) || [];
    $("cases").replaceChildren(...(cases.length ? cases.map((c) => el("tr", {},
      el("td", {}, c.number), el("td", {}, topicName(c.topic)), el("td", {}, named("case_status_", c.status), c.result ? el("div", { class: "case-result" }, `${t("tell_result")}: ${c.result}`) : null), el("td", {}, day(c.deadline))))
      : none(4)));
    const calls = (pop && pop.interactions) || [];
    $("calls").replaceChildren(...(calls.length ? calls.map((c) => el("tr", {},
      el("td", {}, when(c.arrived_at)), el("td", {}, c.topic ? topicName(c.topic) : "–"),
      el("td", {}, named("outcome_", c.outcome)), el("td", {}, dispName(c.disposition)),
      el("td", {}, c.cases || "–"), el("td", {}, agentName(c.agent))))
      : none(6)));
  }

  function tick() {
    const inState = (Date.now() - s.since) / 1000;
    $("timer").textContent = fmt.dur(inState);
    $("call-timer").textContent = fmt.dur(inState);
    if (s.state === "wrap_up" && s.wrapEnds !== null) {
      const left = Math.max(0, (s.wrapEnds - Date.now()) / 1000);
      $("wrap-left").textContent = t("wrap_ends_in", { left: fmt.dur(left) });
      $("wrap-left").classList.toggle("urgent", left < 15);
    } else {
      $("wrap-left").textContent = "";
    }
  }
  setInterval(tick, 500);

  // --- the websocket -------------------------------------------------------------------------
  function onFrame(f) {
    if (f.type === "screen_pop") {
      s.pop = f; s.held = false; s.recPaused = false;
    } else if (f.type === "broadcast") {
      s.broadcasts.push(f);
      // the toast is a glimpse (the banner holds the whole message)
      toast(`${t("broadcast")}: ${f.text.length > 160 ? `${f.text.slice(0, 160)}…` : f.text}`);
    } else if (f.type === "resume_failed") {
      loadProfile();
      return;
    } else if (f.type === "event") {
      const d = f.data;
      if (f.event === "acd.AgentStateChanged") {
        const was = s.state;
        s.state = d.new; s.reason = d.reason; s.since = Date.now();
        if ((was === "reserved" && d.new !== "on_call") || (was === "wrap_up" && d.new !== "wrap_up")) {
          if (was === "wrap_up" && !s.finishing) toast(t("wrap_timed_out"), "error");
          s.pop = null; s.held = false; s.recPaused = false;
        }
        if (!CALL_STATES.includes(d.new)) s.pending = null;
        if (d.new === "wrap_up") { s.wrapEnds = null; loadProfile().catch(() => {}); }
        if (d.new === "on_call") loadTargets();
      } else if (f.event === "acd.CallHeld") {
        s.held = true;
      } else if (f.event === "acd.CallResumed" || f.event === "acd.CallCompleted") {
        s.held = false;
      } else if (f.event.startsWith("notification.")) { // desktop-tell.js: a preview
        document.dispatchEvent(new CustomEvent("cti:notification", { detail: f }));
      }
    }
    render();
  }

  const REPLACED = 4001; // the server closed this socket for a newer desktop of the agent
  const conn = CTI.socket("/ws/agent", {
    onFrame,
    onStatus: (up, code) => {
      s.connected = up;
      if (up) s.elsewhere = false;
      else if (code === REPLACED) s.elsewhere = true;
      render();
      if (s.elsewhere) $("b-use-here").focus();
    },
    onOpen: () => loadProfile().catch(() => {}),
  });
  // Take the desktop back: this window connects again, and the other one is replaced.
  $("b-use-here").onclick = () => conn.reconnect();

  async function command(msg, done, failed) {
    try {
      const ack = await conn.send(msg);
      if (done) done(ack);
      render();
      return ack;
    } catch (e) {
      if (failed) failed(e); else toast(errText(e), "error");
      return null;
    }
  }

  // --- actions -------------------------------------------------------------------------------
  const act = {
    answer: () => s.state === "reserved" && command({ type: "answer" }),
    hangup: () => s.state === "on_call" && command({ type: "hangup" }),
    hold: () => s.state === "on_call" && command({ type: s.held ? "unhold" : "hold" }),
    ready: () => s.state === "not_ready" && command({ type: "ready" }),
    notReady: () => {
      if (s.state === "logged_out") return;
      const reason = $("reasons").value;
      command({ type: "not_ready", reason }, () => {
        if (["on_call", "wrap_up"].includes(s.state)) {
          s.pending = { state: "not_ready", reason };
          toast(t("after_call", { what: `${t("not_ready")} · ${reasonName(reason)}` }));
        }
      });
    },
    finish: () => finishWrap(),
    extend: () => s.state === "wrap_up" && command({ type: "extend_wrap_up", seconds: EXTEND_S }, () => loadProfile()),
  };
  $("b-login").onclick = () => command({ type: "login" });
  $("b-ready").onclick = act.ready;
  $("b-not-ready").onclick = act.notReady;
  $("b-cancel-pending").onclick = () => command({ type: "cancel_pending" }, () => { s.pending = null; });
  $("b-logout").onclick = () => command({ type: "logout" });
  $("b-answer").onclick = act.answer;
  $("b-hold").onclick = act.hold;
  $("b-unhold").onclick = act.hold;
  $("b-hangup").onclick = act.hangup;
  $("b-extend").onclick = act.extend;
  $("b-rec").onclick = () => command({ type: s.recPaused ? "resume_recording" : "pause_recording" },
    () => { s.recPaused = !s.recPaused; });
  /** A text box with a limit (its maxlength): a counter once it is nearly full, and a
   *  word when a paste was cut to fit, instead of losing the end without a sign. */
  function limited(box, status) {
    const max = box.maxLength;
    let cut = false;
    const show = () => {
      const n = box.value.length;
      const counted = n >= max * 0.9 ? t("chars_used", { n: fmt.num(n), max: fmt.num(max) }) : "";
      status.textContent = cut ? `${t("text_cut", { max: fmt.num(max) })} ${counted}`.trim() : counted;
      status.classList.toggle("full", cut || n >= max);
    };
    box.addEventListener("paste", (ev) => {
      const text = ev.clipboardData ? ev.clipboardData.getData("text") : "";
      const room = max - box.value.length + (box.selectionEnd - box.selectionStart);
      cut = text.length > room;
      setTimeout(show); // after the browser has put in what fits
    });
    box.addEventListener("input", (ev) => { if (ev.inputType !== "insertFromPaste") cut = false; show(); });
    return { show: () => { cut = false; show(); } };
  }
  const limits = { notes: limited($("notes"), $("notes-limit")), desc: limited($("c-desc"), $("c-desc-limit")) };
  $("notes").oninput = () => { if (s.pop) { s.notes[s.pop.call] = $("notes").value; keep(); } };
  $("c-desc").oninput = () => { if (s.wrapFor) { s.notes[s.wrapFor] = $("c-desc").value; keep(); } };

  const KEYS = { KeyA: "answer", KeyH: "hangup", KeyO: "hold", KeyR: "ready", KeyN: "notReady", KeyF: "finish", KeyE: "extend" };
  document.addEventListener("keydown", (ev) => {
    if (!ev.altKey || !ev.shiftKey || ev.ctrlKey || ev.metaKey) return;
    const name = KEYS[ev.code];
    if (!name) return;
    ev.preventDefault();
    act[name]();
  });

  // The caller's name and address, as the citizen gives them.
  $("b-edit-caller").onclick = () => {
    const c = (s.pop && s.pop.caller) || {};
    $("caller-name").value = c.name || "";
    $("caller-address").value = c.address || "";
    $("caller-form").classList.remove("hidden");
    $("caller-name").focus();
  };
  $("b-cancel-caller").onclick = () => $("caller-form").classList.add("hidden");
  $("caller-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const pop = s.pop;
    if (!pop) return;
    try {
      const caller = await api("PUT", `/api/v1/callers/${encodeURIComponent(pop.number)}/contact`,
        { name: $("caller-name").value, address: $("caller-address").value });
      pop.caller = caller;
      $("caller-form").classList.add("hidden");
      toast(t("saved"));
      render();
    } catch (e) { toast(errText(e), "error"); }
  };

  // Transfer: a ready agent (with skills), a queue, or a number (with the dial pad).
  function transferKind() {
    const kind = $("t-kind").value;
    $("t-agent").classList.toggle("hidden", kind !== "agent");
    $("t-queue").classList.toggle("hidden", kind !== "queue");
    $("t-number").classList.toggle("hidden", kind !== "number");
    $("t-dialpad").classList.toggle("hidden", kind !== "number");
    if (kind === "agent") loadTargets();
  }
  $("t-kind").onchange = transferKind;
  $("t-agent").onfocus = () => { if (!$("t-agent").value) loadTargets(); };
  $("b-transfer").onclick = () => {
    const kind = $("t-kind").value;
    const target = { agent: $("t-agent").value, queue: $("t-queue").value, number: $("t-number").value.trim() }[kind];
    if (!target) { toast(t(kind === "agent" ? "no_agent_ready" : "need_number"), "error"); return; }
    command({ type: "transfer", [kind]: target }, () => toast(t("transferred")));
  };

  // Click-to-call: the CTI rings her phone, then the number; the screen-pop follows.
  $("dial-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const number = $("d-number").value.trim();
    if (!number) { toast(t("need_number"), "error"); return; }
    try {
      const placed = await api("POST", "/api/v1/calls", { agent: me.agent_id, number });
      $("d-number").value = "";
      toast(t("calling", { number: placed.number }));
    } catch (e) { toast(errText(e), "error"); }
  };

  document.querySelectorAll(".dialpad").forEach((pad) => {
    const input = $(pad.dataset.for);
    for (const k of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#", "+", "⌫"]) {
      pad.append(el("button", { type: "button", class: "key", "aria-label": k === "⌫" ? t("backspace") : k, "data-i18n-aria-label": k === "⌫" ? "backspace" : null,
        onclick: () => { input.value = k === "⌫" ? input.value.slice(0, -1) : input.value + k; input.focus(); } }, k));
    }
  });

  // Sign out: out of the queues first (else calls would ring a phone with no desktop),
  // then the token. On a call the ACD logs the agent out when the call and its wrap-up
  // end; the login page says which happened.
  CTI.beforeSignOut(async () => {
    const path = `/api/v1/agents/${encodeURIComponent(me.agent_id)}`;
    try {
      await api("POST", `${path}/state`, { state: "logout" });
    } catch (e) {
      if (e.code !== "agent_logged_out") { toast(t("signout_failed", { error: errText(e) }), "error"); return false; }
      return "signed_out";
    }
    const p = await api("GET", path).catch(() => ({ state: "logged_out" }));
    return p.state === "logged_out" ? "signed_out_queues" : "signed_out_after_call";
  });

  $("c-topic").onchange = topicChanged;
  // A refused field is marked until it is given.
  $("wrap-form").addEventListener("input", (ev) => {
    if (ev.target.getAttribute("aria-invalid") === "true") showWrapError(null);
  });
  document.querySelectorAll("input[name=case]").forEach((r) => { r.onchange = caseKindChanged; });
  $("wrap-form").onsubmit = (ev) => { ev.preventDefault(); finishWrap(); };

  CTI.onLanguage(() => {
    [...$("reasons").options].forEach((o) => { o.text = reasonName(o.value); }); // at once, not after a reload
    renderTopics(); loadProfile().catch(() => {}); render();
  });
  transferKind();
  render();
  loadTopics();
})();
