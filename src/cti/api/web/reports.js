// Reports: calls per hour, SL and ASA by day, calls by topic, agent occupancy; a period,
// queue and topic filter; CSV of the same figures.
"use strict";

(async () => {
  const { t, fmt, api, el } = CTI;
  const $ = (id) => document.getElementById(id);
  await CTI.session();
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const iso = (d) => d.toISOString().slice(0, 10);
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86400000);
  $("f-start").value = iso(weekAgo);
  $("f-end").value = iso(today);
  const data = {};

  try {
    const queues = await api("GET", "/api/v1/queues");
    queues.items.forEach((q) => $("f-queue").append(new Option(q.name, q.name)));
  } catch (e) { /* an integrator without the ACD: no queue filter */ }
  try {
    const topics = await api("GET", "/api/v1/topics");
    topics.items.filter((tp) => !tp.parent).forEach((tp) => $("f-topic").append(new Option(tp.name, tp.code)));
  } catch (e) { /* no classifier */ }

  function query(group) {
    const start = new Date(`${$("f-start").value}T00:00:00`);
    const end = new Date(`${$("f-end").value}T00:00:00`);
    end.setDate(end.getDate() + 1);
    const q = new URLSearchParams({ group, start: start.toISOString(), end: end.toISOString(), timezone: zone });
    if ($("f-queue").value) q.set("queue", $("f-queue").value);
    if ($("f-topic").value) q.set("topic", $("f-topic").value);
    return q;
  }

  const COLORS = { offered: "#2f6fb0", answered: "#2e8b57", abandoned: "#c0392b", sl: "#2e8b57", asa: "#c98a00" };
  const empty = (box) => box.replaceChildren(el("p", { class: "muted" }, t("no_data")));

  function draw() {
    // Calls per hour of the day over the period (a profile people can staff by).
    const byHour = Array.from({ length: 24 }, (_, h) => ({ key: `${String(h).padStart(2, "0")}:00`, offered: 0, answered: 0, abandoned: 0 }));
    (data.hour || []).forEach((r) => {
      const h = byHour[Number(r.key.slice(11, 13))];
      h.offered += r.offered; h.answered += r.answered; h.abandoned += r.abandoned;
    });
    if (!(data.hour || []).length) empty($("ch-hour"));
    else CTI.barChart($("ch-hour"), byHour.map((r) => r.key), ["offered", "answered", "abandoned"].map((k) => ({ name: t(k), color: COLORS[k], values: byHour.map((r) => r[k]) })), { short: (k) => k.slice(0, 2), title: t("calls_per_hour") });
    const day = data.day || [];
    if (!day.length) empty($("ch-day"));
    else CTI.lineChart($("ch-day"), day.map((r) => r.key), [
      { name: t("service_level"), color: COLORS.sl, max: 1, format: fmt.pct, values: day.map((r) => r.service_level) },
      { name: t("asa"), color: COLORS.asa, format: fmt.dur, values: day.map((r) => r.asa_s) },
    ], { short: (k) => fmt.date(`${k}T12:00:00`), title: t("sl_asa_by_day") });
    const topic = (data.topic || []).filter((r) => r.offered);
    if (!topic.length) empty($("ch-topic"));
    else CTI.hbarChart($("ch-topic"), topic.map((r) => r.key || "–"), topic.map((r) => r.offered), { title: t("calls_by_topic") });
    const occ = (data.occupancy || []).filter((r) => r.occupancy !== null);
    if (!occ.length) empty($("ch-occupancy"));
    else CTI.hbarChart($("ch-occupancy"), occ.map((r) => r.agent), occ.map((r) => r.occupancy), { max: 1, format: fmt.pct, color: "#7b4fb3", title: t("occupancy") });
  }

  async function load() {
    $("f-error").textContent = "";
    try {
      const [hour, day, topic] = await Promise.all(["hour", "day", "topic"].map((g) => api("GET", `/api/v1/reports/kpis?${query(g)}`)));
      data.hour = hour.items; data.day = day.items; data.topic = topic.items;
      data.occupancy = (await api("GET", `/api/v1/reports/occupancy?${query("agent")}`).catch(() => ({ items: [] }))).items;
      draw();
      document.body.dataset.loaded = "1";
    } catch (e) {
      $("f-error").textContent = e.fields ? e.fields.map((f) => `${f.path}: ${f.message}`).join("; ") : e.message;
    }
  }

  function csvOf(rows) {
    const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    const cell = (v) => (v !== null && typeof v === "object" ? JSON.stringify(v) : v === null || v === undefined ? "" : String(v));
    const quote = (v) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
    return [cols.join(","), ...rows.map((r) => cols.map((c) => quote(cell(r[c]))).join(","))].join("\n") + "\n";
  }

  async function download(kind) {
    let text;
    if (kind === "occupancy") text = csvOf(data.occupancy || []);
    else {
      const r = await fetch(`/api/v1/reports/kpis?${query(kind)}&format=csv`, { headers: { Authorization: `Bearer ${CTI.token()}` } });
      text = await r.text();
    }
    const a = el("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: `cti-${kind}-${$("f-start").value}-${$("f-end").value}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
  }

  document.querySelectorAll("[data-csv]").forEach((b) => { b.onclick = () => download(b.dataset.csv); });
  $("filters").onsubmit = (ev) => { ev.preventDefault(); load(); };
  CTI.onLanguage(draw);
  load();
})();
