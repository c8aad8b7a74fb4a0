// The journal of a responsible organisation (issue 22): the cases of the user's
// organisations with the filters of every case list (one search box: a case number, a
// phone number or a part of the address), and one case with its history: take it, move
// it (resolving needs the result the citizen is told), internal notes, hand it over.
// Everything comes from /api/v1/journal, which keeps to the user's organisations.
"use strict";

(async () => {
  const { t, fmt, api, el } = CTI;
  const $ = (id) => document.getElementById(id);
  // The status machine of a case (cti.store.models.CASE_MOVES): the moves offered.
  const MOVES = {
    registered: ["forwarded", "in_progress", "closed"],
    forwarded: ["in_progress", "registered"],
    in_progress: ["resolved", "forwarded"],
    resolved: ["citizen_informed", "in_progress"],
    citizen_informed: ["closed", "in_progress"],
    closed: [],
  };
  const WORKING = ["registered", "forwarded", "in_progress"];
  const PAGE = 25;
  const me = await CTI.session();
  let offset = 0, total = 0, current = null;

  const statusName = (s) => t(`case_status_${s}`);
  const named = (node, kind, code) => { node.dataset.name = `${kind}:${code}`; node.textContent = CTI.name(kind, code); return node; };
  const option = (value, key) => { const o = new Option(t(key), value); o.dataset.i18n = key; return o; };
  Object.keys(MOVES).forEach((s) => $("f-status").append(option(s, `case_status_${s}`)));

  try {
    const topics = await api("GET", "/api/v1/topics");
    topics.items.forEach((tp) => {
      const o = new Option(CTI.name("topic", tp.code), tp.code);
      o.dataset.name = `topic:${tp.code}`;
      $("f-topic").append(o);
    });
  } catch (e) { /* no classifier: no topic filter */ }
  let organisations = [];
  try { organisations = (await api("GET", "/api/v1/journal/organisations")).items; } catch (e) { /* shown empty */ }
  $("orgs").replaceChildren(...organisations.filter((o) => o.mine).map((o) => named(el("span", { class: "chip" }), "organisation", o.code)));

  // --- the list ----------------------------------------------------------------------------
  /** What the search box holds: a case number, a phone number, else a part of an address. */
  function searchParam(text) {
    if (!text) return null;
    if (/^\d{4}-\d{1,6}$/.test(text)) return ["number", text];
    if (/^[+\d][\d\s()/-]{5,}$/.test(text) && (text.match(/\d/g) || []).length >= 6) return ["phone", text];
    return ["address", text];
  }

  function query() {
    const q = new URLSearchParams({ limit: PAGE, offset, sort: "deadline" });
    const found = searchParam($("f-q").value.trim());
    if (found) q.set(found[0], found[1]);
    if ($("f-status").value) q.set("status", $("f-status").value);
    if ($("f-topic").value) q.set("topic", $("f-topic").value);
    if ($("f-deadline").value === "overdue") q.set("overdue", "true");
    if ($("f-deadline").value === "due") q.set("due_within_days", $("f-days").value || "0");
    if ($("f-emergency").checked) q.set("emergency", "true");
    if ($("f-paid").checked) q.set("paid", "true");
    if ($("f-from").value) q.set("created_from", new Date(`${$("f-from").value}T00:00`).toISOString());
    if ($("f-to").value) q.set("created_to", new Date(new Date(`${$("f-to").value}T00:00`).getTime() + 86400000).toISOString());
    return q;
  }

  async function load() {
    $("f-error").textContent = "";
    let page;
    try {
      page = await api("GET", `/api/v1/journal/cases?${query()}`);
    } catch (e) {
      $("f-error").textContent = CTI.errorText(e);
      return;
    }
    total = page.total;
    $("count").textContent = t("j_count", { n: fmt.num(total) });
    $("prev").disabled = offset === 0;
    $("next").disabled = offset + PAGE >= total;
    const rows = page.items.map((c) => el("tr", { class: [c.emergency ? "emergency" : "", current && current.id === c.id ? "chosen" : ""].join(" ").trim() || null },
      el("td", {}, el("button", { type: "button", class: "link-button", onclick: () => open(c.id) }, c.number)),
      el("td", {}, statusName(c.status)),
      el("td", { class: overdue(c) ? "late" : null }, fmt.date(c.deadline)),
      named(el("td"), "topic", c.topic),
      el("td", {}, c.address || "–"),
      el("td", {}, [c.caller_name, c.phone].filter(Boolean).join(" · ") || "–"),
      el("td", {}, c.assignee || "–")));
    $("rows").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 7, class: "muted" }, t("j_no_cases")))]));
  }
  const overdue = (c) => WORKING.includes(c.status) && c.deadline && c.deadline < new Date().toISOString().slice(0, 10);

  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); offset = 0; load(); });
  $("f-deadline").addEventListener("change", () => $("f-days-label").classList.toggle("hidden", $("f-deadline").value !== "due"));
  $("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
  $("next").addEventListener("click", () => { offset += PAGE; load(); });

  // --- one case ----------------------------------------------------------------------------
  async function open(id, quiet) {
    $("c-error").textContent = "";
    try {
      current = await api("GET", `/api/v1/journal/cases/${id}`);
    } catch (e) {
      CTI.toast(CTI.errorText(e), "error");
      $("case").classList.add("hidden");
      current = null;
      return;
    }
    render();
    $("case").classList.remove("hidden");
    if (!quiet) {
      $("case").scrollIntoView({ block: "start" });
      $("case").focus({ preventScroll: true });
    }
  }

  function render() {
    const c = current;
    $("c-number").textContent = c.number;
    $("c-status").textContent = statusName(c.status);
    named($("c-topic"), "topic", c.topic);
    $("c-deadline").textContent = fmt.date(c.deadline);
    $("c-caller").textContent = [c.caller_name, c.phone].filter(Boolean).join(" · ") || "–";
    $("c-address").textContent = c.address || "–";
    $("c-description").textContent = c.description || "–";
    $("c-flags").textContent = [c.emergency ? t("emergency") : "", c.paid ? t("paid") : ""].filter(Boolean).join(" · ") || "–";
    $("c-assignee").textContent = c.assignee || t("j_nobody");
    $("c-result").textContent = c.result || "–";
    const working = WORKING.includes(c.status);
    $("take").disabled = !working || (c.assignee === me.username && c.status === "in_progress");
    const moves = MOVES[c.status] || [];
    $("m-status").replaceChildren(...moves.map((s) => option(s, `case_status_${s}`)));
    $("move").classList.toggle("hidden", !moves.length);
    $("handover").classList.toggle("hidden", !working);
    $("h-org").replaceChildren(...organisations.filter((o) => o.code !== c.organisation).map((o) => named(new Option("", o.code), "organisation", o.code)));
    showResult();
    $("c-history").replaceChildren(...c.history.map(historyItem));
  }

  function showResult() {
    const resolving = $("m-status").value === "resolved";
    $("m-result-label").classList.toggle("hidden", !resolving);
    $("m-result").required = resolving;
  }
  $("m-status").addEventListener("change", showResult);

  function historyItem(e) {
    const ch = e.changes || {};
    const what = [];
    if (ch.status) what.push(`${statusName(ch.status.old)} → ${statusName(ch.status.new)}`);
    if (ch.organisation && e.action === "handed_over") what.push(`${CTI.name("organisation", ch.organisation.old)} → ${CTI.name("organisation", ch.organisation.new)}`);
    if (ch.assignee && e.action === "taken") what.push(ch.assignee.new);
    if (ch.reason) what.push(`${t("j_reason")}: ${ch.reason}`);
    if (ch.result) what.push(`${t("tell_result")}: ${ch.result}`);
    if (ch.note) what.push(ch.note);
    const key = `j_act_${e.action}`;
    return el("li", {},
      el("span", { class: "muted" }, `${fmt.dateTime(e.at)} · ${e.actor} · `),
      el("strong", {}, CTI.has(key) ? t(key) : e.action),
      what.length ? el("div", { class: "text" }, what.join(" · ")) : null);
  }

  /** A change to the open case; on success the case and the list are read again. */
  async function act(path, body, done) {
    $("c-error").textContent = "";
    try {
      const reply = await api("POST", `/api/v1/journal/cases/${current.id}/${path}`, body);
      CTI.toast(done(reply));
    } catch (e) {
      $("c-error").textContent = CTI.errorText(e);
      return false;
    }
    const id = current.id;
    await load();
    if (path === "handover") {  // no longer ours: nothing to show
      $("case").classList.add("hidden");
      current = null;
    } else {
      await open(id, true);
    }
    return true;
  }

  $("take").addEventListener("click", () => act("take", undefined, (c) => t("j_taken", { number: c.number })));
  $("move").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const status = $("m-status").value;
    const body = { status, note: $("m-note").value };
    if (status === "resolved") body.result = $("m-result").value;
    if (await act("status", body, (c) => t("j_moved", { number: c.number, status: statusName(c.status) }))) {
      $("m-note").value = "";
      $("m-result").value = "";
    }
  });
  $("note").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (await act("notes", { note: $("n-text").value }, () => t("j_note_added"))) $("n-text").value = "";
  });
  $("handover").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { organisation: $("h-org").value, reason: $("h-reason").value };
    if (await act("handover", body, (c) => t("j_handed", { number: c.number, org: CTI.name("organisation", c.organisation) }))) $("h-reason").value = "";
  });

  // --- deadline alerts (the user's inbox) and the supervisors' messages, polled --------------
  async function alerts() {
    try {
      const box = await api("GET", "/api/v1/inbox?limit=20");
      $("inbox-count").textContent = fmt.num(box.unread);
      $("inbox-count").classList.toggle("unread", box.unread > 0);
      $("inbox-list").replaceChildren(...(box.items.length ? box.items.map((a) => el("li", { class: a.read ? "muted" : null },
        el("strong", {}, t(`j_alert_${a.kind}`)), " ",
        el("button", { type: "button", class: "link-button", onclick: () => open(a.case_id) }, a.case_number),
        ` · ${fmt.date(a.deadline)}`)) : [el("li", { class: "muted" }, t("j_inbox_none"))]));
    } catch (e) { /* tried again at the next poll */ }
    try {
      const said = (await api("GET", "/api/v1/broadcasts")).items.slice(0, 3);
      $("broadcasts").classList.toggle("hidden", !said.length);
      $("broadcasts").replaceChildren(...said.map((m) => el("div", { class: "broadcast", role: "status" },
        el("b", {}, t("broadcast")), ` (${t("from")} ${m.by}): `, m.text)));
    } catch (e) { /* tried again at the next poll */ }
  }
  $("inbox-read").addEventListener("click", async () => {
    try { await api("POST", "/api/v1/inbox/read"); } catch (e) { CTI.toast(CTI.errorText(e), "error"); }
    alerts();
  });
  setInterval(alerts, 30000);
  CTI.onLanguage(() => { load(); alerts(); if (current) render(); });
  await load();
  await alerts();
})();
