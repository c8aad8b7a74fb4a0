// Telling citizens the result of their request (docs/outbound.md): the tasks due now,
// each with its case and the result to read out. "Call" places the agent's own call
// (her phone, then the citizen's); while and after it she records what came of it:
// informed, no answer, busy, wrong number, refused. A citizen who calls in while a
// result waits for them is told it in that call ("Informed" on the same card). The
// server offers a due task to her while she is ready (a preview): the card counts down
// and dials unless she calls at once or skips; a call to her first cancels it. Follows the desktop's state through
// its "cti:desk" events; the task being worked survives a reload (sessionStorage).
"use strict";

(async () => {
  const { t, api, el, toast } = CTI;
  const $ = (id) => document.getElementById(id);
  const me = await CTI.session();
  let desk = { state: "logged_out", pop: null };
  let due = [];
  let listed = ""; // what the list on screen shows
  let mine = JSON.parse(sessionStorage.getItem("cti.tell") || "null"); // the task she calls
  let preview = null; // a due task offered to her: { task, dialAt } (dials when it runs out)
  const keep = () => sessionStorage.setItem("cti.tell", JSON.stringify(mine));
  const told = new Set(); // results told in a citizen's own call, recorded already
  const free = () => ["ready", "not_ready"].includes(desk.state);
  // The citizen called in while a result waits for them: told in this call.
  const waiting = () => (!mine && desk.pop && !desk.pop.outbound && desk.state === "on_call"
    ? (desk.pop.results_to_tell || []).find((r) => !told.has(r.id)) : null) || null;
  const topic = (code) => CTI.name("topic", code);

  async function load() {
    if (desk.state === "logged_out") due = [];
    else {
      try { due = (await api("GET", "/api/v1/notifications?due=true&limit=20")).items; }
      catch (e) { due = []; } // the list is a convenience: the next load tries again
    }
    render();
  }

  function render() {
    if (preview && (mine || desk.state !== "ready")) preview = null; // a call came first
    const inCall = waiting();
    const task = mine || inCall || (preview && preview.task);
    $("tell").classList.toggle("hidden", !task && !(free() && due.length));
    $("tell-current").classList.toggle("hidden", !task);
    $("tell-preview").classList.toggle("hidden", !preview);
    $("tell-outcomes").classList.toggle("hidden", !!preview);
    if (preview) countdown();
    // A callback she (or a colleague) promised at a time, while on a call or after it.
    const number = desk.pop && /^\+\d{6,}$/.test(desk.pop.number || "") ? desk.pop.number : null;
    $("callback-form").classList.toggle("hidden", !number || !["on_call", "wrap_up"].includes(desk.state));
    if (task) {
      const callback = task.kind === "callback";
      $("tell-case").textContent = callback ? t("callback_task") : `${t("case")} ${task.case_number}`;
      $("tell-topic-part").classList.toggle("hidden", callback);
      $("tell-topic").textContent = callback ? "" : topic(task.topic);
      $("tell-phone").textContent = task.phone || (desk.pop && desk.pop.number) || "";
      $("tell-result").textContent = task.result || "–";
      for (const b of document.querySelectorAll("#tell-current [data-outcome]")) {
        // While her phone or the citizen's rings nothing came of it yet; in the
        // citizen's own call there is only "told".
        b.disabled = desk.state === "reserved";
        b.classList.toggle("hidden", !!inCall && b.dataset.outcome !== "informed");
      }
    }
    $("tell-due").classList.toggle("hidden", !!mine || !!preview || !free());
    // Rebuilt only when the list (or the language) changed: a focused button stays.
    const shown = CTI.lang + JSON.stringify(due.map((task) => [task.id, task.attempts]));
    if (shown === listed) return;
    listed = shown;
    $("tell-list").replaceChildren(...due.map((task) => el("tr", {},
      el("td", {}, task.kind === "callback" ? t("callback_task") : task.case_number),
      el("td", {}, task.kind === "callback" ? "–" : topic(task.topic)), el("td", {}, task.phone),
      el("td", {}, task.result || "–"), el("td", {}, String(task.attempts)),
      el("td", {}, el("button", { type: "button", class: "primary", onclick: () => call(task),
        "aria-label": `${t("call")} ${task.phone}` }, t("call"))))));
  }

  function countdown() {
    const left = Math.ceil((preview.dialAt - Date.now()) / 1000);
    if (left > 0) { $("tell-countdown").textContent = t("tell_dials_in", { n: left }); return; }
    const task = preview.task;
    preview = null;
    call(task);
  }
  setInterval(() => {
    if (!preview) return;
    if (mine || desk.state !== "ready") { preview = null; render(); } else countdown();
  }, 250);
  $("b-tell-call").onclick = () => { if (preview) { const task = preview.task; preview = null; call(task); } };
  $("b-tell-skip").onclick = async () => {
    if (!preview) return;
    const task = preview.task;
    preview = null;
    render();
    await api("POST", `/api/v1/notifications/${task.id}/skip`).catch(() => {});
  };
  document.addEventListener("cti:notification", (ev) => {
    const f = ev.detail;
    if (f.event !== "notification.preview" || mine || desk.state !== "ready") return;
    preview = { task: f.data.task, dialAt: Date.now() + f.data.dial_in_s * 1000 };
    render();
    const kind = f.data.task.kind === "callback" ? "callback_preview" : "tell_preview";
    toast(t(kind, { number: f.data.task.phone }));
  });

  async function call(task) {
    try {
      mine = await api("POST", `/api/v1/notifications/${task.id}/call`, { agent: me.agent_id });
      keep();
      toast(t("calling", { number: mine.phone }));
    } catch (e) { toast(CTI.errorText(e), "error"); }
    load();
  }

  async function record(outcome) {
    const task = mine || waiting();
    if (!task) return;
    try {
      await api("POST", `/api/v1/notifications/${task.id}/outcome`, { outcome });
      if (mine) mine = null; else told.add(task.id);
      keep();
      toast(t("tell_recorded"));
    } catch (e) {
      toast(CTI.errorText(e), "error");
      if (e.code === "notification_not_calling") { // recorded elsewhere already
        if (mine) mine = null; else told.add(task.id);
        keep();
      }
    }
    load();
  }

  for (const b of document.querySelectorAll("#tell-current [data-outcome]")) b.onclick = () => record(b.dataset.outcome);
  $("callback-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const at = $("cb-at").value; // her browser's local time: the centre's, where she sits
    if (!at || !desk.pop) { toast(t("need_time"), "error"); return; }
    try {
      const task = await api("POST", "/api/v1/callbacks", {
        number: desk.pop.number, at: new Date(at).toISOString(), note: $("notes").value.slice(0, 2000),
      });
      $("cb-at").value = "";
      const when = new Date(task.next_at).toLocaleString(CTI.lang, { dateStyle: "short", timeStyle: "short" });
      toast(task.merged ? t("callback_merged", { when }) : t("callback_scheduled", { when }));
    } catch (e) { toast(CTI.errorText(e), "error"); }
  };
  document.addEventListener("cti:desk", (ev) => {
    const before = desk.state;
    desk = ev.detail;
    if (before !== desk.state) load(); else render();
  });
  setInterval(load, 30000);
  CTI.onLanguage(render);
  load();
})();
