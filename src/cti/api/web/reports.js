// Reports for a manager: period totals; calls and service level per interval (15 min,
// hour, day, month; every interval of the period on the axis, so one day reads as 24
// bars and a year as 12 months); calls by hour of the day and by topic; tables per
// interval, agent, topic and queue, and agents' time per state; CSV of each (flat
// cells). Days and hours are the centre's (its time zone comes from the server).
"use strict";

(async () => {
  const { t, fmt, api, el } = CTI;
  const $ = (id) => document.getElementById(id);
  await CTI.session();
  const data = {};
  let settings = { timezone: "UTC", today: new Date().toISOString().slice(0, 10) };
  try { settings = await api("GET", "/api/v1/reports/settings"); } catch (e) { /* UTC */ }
  let agentNames = {};
  try {
    const agents = await api("GET", "/api/v1/agents");
    agentNames = Object.fromEntries(agents.items.map((a) => [a.id, a.name || a.id]));
  } catch (e) { /* an integrator: the names the reports give */ }

  // --- days as the centre counts them: "YYYY-MM-DD" strings, arithmetic in UTC --------
  const day = (s) => new Date(`${s}T00:00:00Z`);
  const iso = (d) => d.toISOString().slice(0, 10);
  const addDays = (s, n) => iso(new Date(day(s).getTime() + n * 86400000));
  const PERIODS = {
    today: (d) => [d, d],
    yesterday: (d) => [addDays(d, -1), addDays(d, -1)],
    "7d": (d) => [addDays(d, -6), d],
    month: (d) => [`${d.slice(0, 8)}01`, d],
    year: (d) => [`${d.slice(0, 5)}01-01`, d],
  };
  function period(name) {
    const [a, b] = PERIODS[name](settings.today);
    $("f-start").value = a;
    $("f-end").value = b;
  }
  period("7d");
  // The centre's zone by its name in the page's language ("Eastern European Time"), the
  // id after it; only the id where the browser does not know the language.
  const showZone = () => {
    let name = "";
    try {
      if (Intl.DateTimeFormat.supportedLocalesOf([CTI.lang]).length) {
        const parts = new Intl.DateTimeFormat(CTI.lang, { timeZone: settings.timezone, timeZoneName: "longGeneric" }).formatToParts(new Date());
        name = (parts.find((p) => p.type === "timeZoneName") || {}).value || "";
      }
    } catch (e) { /* an old browser: the id */ }
    $("zone").textContent = t("time_zone", { zone: name && name !== settings.timezone ? `${name} (${settings.timezone})` : settings.timezone });
  };
  showZone();

  try {
    const queues = await api("GET", "/api/v1/queues");
    queues.items.forEach((q) => { const o = new Option(CTI.name("queue", q.name), q.name); o.dataset.name = `queue:${q.name}`; $("f-queue").append(o); });
  } catch (e) { /* an integrator without the ACD: no queue filter */ }
  try {
    const topics = await api("GET", "/api/v1/topics");
    topics.items.filter((tp) => !tp.parent).forEach((tp) => { const o = new Option(CTI.name("topic", tp.code), tp.code); o.dataset.name = `topic:${tp.code}`; $("f-topic").append(o); });
  } catch (e) { /* no classifier */ }

  // --- intervals --------------------------------------------------------------------------
  const days = () => Math.round((day($("f-end").value) - day($("f-start").value)) / 86400000) + 1;
  const COARSER = { "15min": "hour", hour: "day", day: "month", month: "month" };
  function interval() {
    const chosen = $("f-interval").value;
    if (chosen) return chosen;
    return days() <= 2 ? "hour" : days() <= 62 ? "day" : "month";
  }
  /** Every interval key of the period, so that an empty hour is a zero, not a gap. */
  function keysOf(kind) {
    const out = [], last = $("f-end").value;
    if (kind === "month") {
      for (let m = $("f-start").value.slice(0, 7); m <= last.slice(0, 7);) {
        out.push(m);
        const [y, mo] = m.split("-").map(Number);
        m = mo === 12 ? `${y + 1}-01` : `${y}-${String(mo + 1).padStart(2, "0")}`;
      }
      return out;
    }
    for (let d = $("f-start").value; d <= last; d = addDays(d, 1)) {
      if (kind === "day") { out.push(d); continue; }
      for (let h = 0; h < 24; h++) {
        const hh = String(h).padStart(2, "0");
        if (kind === "hour") out.push(`${d}T${hh}:00`);
        else for (const mm of ["00", "15", "30", "45"]) out.push(`${d}T${hh}:${mm}`);
      }
    }
    return out;
  }
  function keyLabel(kind, key, short) {
    const date = (opts) => new Intl.DateTimeFormat(CTI.lang, { timeZone: "UTC", ...opts }).format(new Date(`${key.length === 7 ? `${key}-01` : key.slice(0, 10)}T12:00:00Z`));
    const oneYear = $("f-start").value.slice(0, 4) === $("f-end").value.slice(0, 4);
    if (kind === "month") return date(short && oneYear ? { month: "short" } : { month: short ? "short" : "long", year: "numeric" });
    if (kind === "day") return date(short ? { day: "numeric", month: "short" } : { dateStyle: "medium" });
    const time = key.slice(11, 16);
    return short && days() === 1 ? time : `${date({ day: "numeric", month: "short" })} ${time}`;
  }

  // --- drawing ------------------------------------------------------------------------------
  const COLORS = { offered: "#2f6fb0", answered: "#2e8b57", abandoned: "#c0392b", sl: "#2e8b57", asa: "#c98a00" };
  const empty = (box) => box.replaceChildren(el("p", { class: "muted" }, t("no_data")));
  const SERIES = ["offered", "answered", "abandoned"];
  const topicName = (r) => (r.key ? CTI.name("topic", r.key) : t("none"));
  const agentName = (r) => (r.key ? agentNames[r.key] || r.name || r.key : t("none"));
  const queueName = (r) => (r.key ? CTI.name("queue", r.key) : t("none"));
  const clip = (s) => (s.length > 24 ? `${s.slice(0, 23)}…` : s); // a chart's label column

  function drawTotals() {
    const tot = (data.total || [])[0] || {};
    const show = { offered: fmt.num, answered: fmt.num, abandoned: fmt.num, abandon_rate: fmt.pct, service_level: fmt.pct, asa_s: fmt.dur, aht_s: fmt.dur };
    for (const [k, f] of Object.entries(show)) document.querySelector(`[data-kpi="${k}"] b`).textContent = f(tot[k]);
  }

  function drawPeriod() {
    // A chart of at most ~200 intervals: a coarser one when the table's is finer.
    let kind = data.intervalKind;
    while (keysOf(kind).length > 200 && kind !== "month") kind = COARSER[kind];
    const rows = kind === data.intervalKind ? data.interval : data.chartRows;
    const keys = keysOf(kind), by = new Map((rows || []).map((r) => [r.key, r]));
    if (!(rows || []).length) { empty($("ch-period")); empty($("ch-day")); return; }
    const short = (k) => keyLabel(kind, k, true);
    CTI.barChart($("ch-period"), keys, SERIES.map((s) => ({ name: t(s), color: COLORS[s], values: keys.map((k) => (by.get(k) || {})[s] || 0) })), { short, title: t("calls_over_period") });
    CTI.lineChart($("ch-day"), keys, [
      { name: t("service_level"), color: COLORS.sl, max: 1, format: fmt.pct, values: keys.map((k) => (by.has(k) ? by.get(k).service_level : null)) },
      { name: t("asa"), color: COLORS.asa, format: fmt.dur, seconds: true, values: keys.map((k) => (by.has(k) ? by.get(k).asa_s : null)) },
    ], { short, title: t("sl_asa") });
  }

  function drawHourOfDay() {
    const byHour = Array.from({ length: 24 }, (_, h) => ({ key: `${String(h).padStart(2, "0")}:00`, offered: 0, answered: 0, abandoned: 0 }));
    (data.hour || []).forEach((r) => {
      const h = byHour[Number(r.key.slice(11, 13))];
      SERIES.forEach((s) => { h[s] += r[s]; });
    });
    if (!(data.hour || []).length) empty($("ch-hour"));
    else CTI.barChart($("ch-hour"), byHour.map((r) => r.key), SERIES.map((k) => ({ name: t(k), color: COLORS[k], values: byHour.map((r) => r[k]) })), { short: (k) => k.slice(0, 2), title: t("calls_by_hour_of_day") });
  }

  function drawTopicsAndOccupancy() {
    const topic = (data.topic || []).filter((r) => r.offered);
    if (!topic.length) empty($("ch-topic"));
    else CTI.hbarChart($("ch-topic"), topic.map((r) => clip(topicName(r))), topic.map((r) => r.offered), { title: t("calls_by_topic") });
    const occ = (data.occupancy || []).filter((r) => r.occupancy !== null);
    if (!occ.length) empty($("ch-occupancy"));
    else CTI.hbarChart($("ch-occupancy"), occ.map((r) => clip(agentNames[r.agent] || r.agent)), occ.map((r) => r.occupancy), { max: 1, format: fmt.pct, color: "#7b4fb3", title: t("occupancy") });
  }

  const KPI_COLUMNS = [
    ["offered", fmt.num], ["answered", fmt.num], ["abandoned", fmt.num], ["abandon_rate", fmt.pct],
    ["service_level", fmt.pct], ["asa", fmt.dur, "asa_s"], ["aht", fmt.dur, "aht_s"],
  ];
  function table(node, first, rows, label) {
    if (!rows.length) { node.replaceChildren(el("caption", { class: "muted" }, t("no_data"))); return; }
    node.replaceChildren(
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t(first)), KPI_COLUMNS.map(([k]) => el("th", { class: "num", scope: "col" }, t(k))))),
      el("tbody", {}, rows.map((r) => el("tr", { "data-key": r.key },
        el("th", { scope: "row" }, label(r)),
        KPI_COLUMNS.map(([k, f, field]) => el("td", { class: "num", "data-col": field || k }, f(r[field || k])))))));
  }

  function occupancyTable() {
    const rows = data.occupancy || [];
    const states = ["ready", "reserved", "on_call", "wrap_up", "not_ready"];
    if (!rows.length) { $("t-occupancy").replaceChildren(); return; }
    $("t-occupancy").replaceChildren(
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("agent")), states.map((s) => el("th", { class: "num", scope: "col" }, t(s))), el("th", { class: "num", scope: "col" }, t("occupancy")))),
      el("tbody", {}, rows.map((r) => el("tr", { "data-key": r.agent }, el("th", { scope: "row" }, agentNames[r.agent] || r.agent),
        states.map((s) => el("td", { class: "num" }, fmt.dur(r.seconds[s] || 0))), el("td", { class: "num" }, fmt.pct(r.occupancy))))));
  }

  // The calls owed to citizens opened in the period (results to tell, callbacks): how
  // many, where they stand, and the attempts they took.
  const OUTBOUND = ["tasks", "open_tasks", "informed", "refused", "wrong_number", "failed", "cancelled", "tell_attempts"];
  function outboundTable() {
    const rows = data.outbound || [];
    if (!rows.length) { $("t-outbound").replaceChildren(el("caption", { class: "muted" }, t("no_data"))); return; }
    const kinds = {};
    for (const r of rows) {
      const k = kinds[r.kind] || (kinds[r.kind] = { tasks: 0, open_tasks: 0, tell_attempts: 0 });
      k.tasks += r.tasks; k.tell_attempts += r.attempts;
      if (r.status === "pending" || r.status === "calling") k.open_tasks += r.tasks; else k[r.status] = (k[r.status] || 0) + r.tasks;
    }
    const label = (c) => t(["informed", "refused", "wrong_number"].includes(c) ? `out_${c}` : c === "failed" ? "tasks_failed" : c);
    $("t-outbound").replaceChildren(
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("kind")), OUTBOUND.map((c) => el("th", { class: "num", scope: "col" }, label(c))))),
      el("tbody", {}, Object.entries(kinds).map(([kind, k]) => el("tr", { "data-key": kind },
        el("th", { scope: "row" }, t(kind === "callback" ? "callback_task" : "kind_result")),
        OUTBOUND.map((c) => el("td", { class: "num" }, String(k[c] || 0)))))));
  }

  // Cases resolved in the period by their deadline, per organisation and topic.
  function deadlinesTable() {
    const rows = data.deadlines || [];
    if (!rows.length) { $("t-deadlines").replaceChildren(el("caption", { class: "muted" }, t("no_data"))); return; }
    const cols = [["resolved", fmt.num], ["on_time", fmt.num], ["rate", fmt.pct]];
    $("t-deadlines").replaceChildren(
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("organisation")), el("th", { scope: "col" }, t("topic")),
        cols.map(([c]) => el("th", { class: "num", scope: "col" }, t(`rp_${c}`))))),
      el("tbody", {}, rows.map((r) => el("tr", {}, el("td", {}, CTI.name("organisation", r.organisation)),
        el("th", { scope: "row" }, CTI.name("topic", r.topic)), cols.map(([c, f]) => el("td", { class: "num" }, f(r[c])))))));
  }

  function draw() {
    showZone();
    drawTotals(); drawPeriod(); drawHourOfDay(); drawTopicsAndOccupancy();
    table($("t-interval"), "interval", data.interval || [], (r) => keyLabel(data.intervalKind, r.key, false));
    table($("t-agent"), "agent", data.agent || [], agentName);
    table($("t-topic"), "topic", data.topic || [], topicName);
    table($("t-queue"), "queue", data.queue || [], queueName);
    occupancyTable();
    outboundTable();
    deadlinesTable();
  }

  // --- loading ------------------------------------------------------------------------------
  function query(group) {
    const q = new URLSearchParams({ group, first_day: $("f-start").value, last_day: $("f-end").value });
    if ($("f-queue").value) q.set("queue", $("f-queue").value);
    if ($("f-topic").value) q.set("topic", $("f-topic").value);
    return q;
  }

  async function load() {
    $("f-error").textContent = "";
    // From after To: say so, ask nothing.
    const reversed = $("f-start").value && $("f-end").value && $("f-start").value > $("f-end").value;
    ["f-start", "f-end"].forEach((id) => { if (reversed) $(id).setAttribute("aria-invalid", "true"); else $(id).removeAttribute("aria-invalid"); });
    if (reversed) { $("f-error").dataset.i18n = "period_reversed"; $("f-error").textContent = t("period_reversed"); return; }
    delete $("f-error").dataset.i18n;
    try {
      const kind = interval();
      let chart = kind;
      while (keysOf(chart).length > 200 && chart !== "month") chart = COARSER[chart];
      const groups = ["total", "hour", "topic", "agent", "queue", kind, chart];
      const got = await Promise.all(groups.map((g) => api("GET", `/api/v1/reports/kpis?${query(g)}`)));
      [data.total, data.hour, data.topic, data.agent, data.queue, data.interval, data.chartRows] = got.map((r) => r.items);
      data.intervalKind = kind;
      data.occupancy = (await api("GET", `/api/v1/reports/occupancy?${query("agent")}`).catch(() => ({ items: [] }))).items;
      data.outbound = (await api("GET", `/api/v1/reports/outbound?${query("total")}`).catch(() => ({ items: [] }))).items;
      data.deadlines = (await api("GET", `/api/v1/reports/deadlines?${query("total")}`).catch(() => ({ items: [] }))).items;
      draw();
      document.body.dataset.loaded = "1";
    } catch (e) {
      $("f-error").textContent = CTI.errorText ? CTI.errorText(e) : e.message;
    }
  }

  async function download(kind) {
    const group = kind === "interval" ? data.intervalKind || interval() : kind === "occupancy" ? "agent" : ["outbound", "deadlines"].includes(kind) ? "total" : kind;
    const path = ["occupancy", "outbound", "deadlines"].includes(kind) ? kind : "kpis";
    const q = query(group);
    q.set("format", "csv");
    const r = await fetch(`/api/v1/reports/${path}?${q}`, { headers: { Authorization: `Bearer ${CTI.token()}` } });
    const a = el("a", { href: URL.createObjectURL(new Blob([await r.text()], { type: "text/csv" })), download: `cti-${kind === "interval" ? group : kind}-${$("f-start").value}-${$("f-end").value}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
  }

  document.querySelectorAll("[data-csv]").forEach((b) => { b.onclick = () => download(b.dataset.csv); });
  document.querySelectorAll("[data-period]").forEach((b) => { b.onclick = () => { period(b.dataset.period); load(); }; });
  $("f-interval").onchange = load;
  $("filters").onsubmit = (ev) => { ev.preventDefault(); load(); };
  CTI.onLanguage(() => { if (data.total) draw(); });
  load();
})();
