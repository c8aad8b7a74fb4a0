// Survey campaigns (issue 21): each campaign's state, how far its list has got (numbers
// with a final status of all), its outcomes, and start / pause / resume, the results as
// CSV. Refreshed every few seconds; everything comes from /api/v1/campaigns.
"use strict";

(async () => {
  const { t, api, el } = CTI;
  const $ = (id) => document.getElementById(id);
  const OUTCOMES = ["completed", "partial", "no_answer", "busy", "machine", "refused", "opted_out", "failed"];
  const OPEN = ["pending", "calling", "surveying"];
  const ACTIONS = { draft: ["start", "discard"], running: ["pause"], paused: ["resume"], done: [] };
  await CTI.session();

  const label = (key) => el("span", { "data-i18n": key }, t(key));

  async function act(campaign, action) {
    $("error").textContent = "";
    if (action === "discard" && !confirm(t("cp_discard_confirm", { name: campaign.name }))) return;
    try {
      if (action === "discard") await api("DELETE", `/api/v1/campaigns/${campaign.id}`);
      else await api("POST", `/api/v1/campaigns/${campaign.id}/${action}`);
      await load();
    } catch (e) {
      $("error").textContent = CTI.errorText(e);
    }
  }

  async function csv(campaign) {
    const r = await fetch(`/api/v1/campaigns/${campaign.id}/results.csv`, {
      headers: { Authorization: `Bearer ${CTI.token()}` },
    });
    const link = el("a", { href: URL.createObjectURL(await r.blob()), download: `campaign-${campaign.id}.csv` });
    link.click();
  }

  function row(c) {
    const statuses = c.statuses || {};
    const open = OPEN.reduce((n, s) => n + (statuses[s] || 0), 0);
    const finished = c.numbers - open;
    const share = c.numbers ? Math.round((100 * finished) / c.numbers) : 0;
    const outcomes = OUTCOMES.filter((o) => (c.outcomes || {})[o]).map((o) =>
      el("span", { class: "chip", "data-testid": `outcome-${o}` }, label(`cp_outcome_${o}`), `: ${c.outcomes[o]}`));
    const buttons = ACTIONS[c.state].map((a) =>
      el("button", { type: "button", "data-i18n": `cp_${a}`, onclick: () => act(c, a) }, t(`cp_${a}`)));
    buttons.push(el("button", { type: "button", "data-i18n": "cp_csv", onclick: () => csv(c) }, t("cp_csv")));
    return el("tr", { "data-testid": `campaign-${c.id}` },
      el("td", { class: "cp-name" }, c.name),
      el("td", { "data-testid": "state" }, label(`cp_state_${c.state}`)),
      el("td", { "data-testid": "progress" },
        el("span", { class: "cp-bar", role: "img", "aria-label": `${share} %` }, el("span", { style: `width:${share}%` })),
        ` ${finished} / ${c.numbers}`),
      el("td", { class: "chips" }, outcomes),
      el("td", {}, buttons));
  }

  async function load() {
    try {
      const { items } = await api("GET", "/api/v1/campaigns");
      $("rows").replaceChildren(...items.map(row));
      $("none").classList.toggle("hidden", items.length > 0);
      $("count").textContent = String(items.length);
    } catch (e) {
      $("error").textContent = CTI.errorText(e);
    }
  }

  await CampaignForm.init(load);
  await load();
  setInterval(load, 3000);
})();
