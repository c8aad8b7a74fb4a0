// The knowledge panel (docs/knowledge.md): the call script and up to three articles the
// screen-pop suggests for the call's topic and language, a search of the knowledge base
// (articles valid now) and of the directory of services, and her word on the article she
// reads: helpful or outdated (it goes to the article's owner; her latest word counts).
// Follows the call through the desktop's "cti:desk" events; whether the script and the
// suggestions are unfolded is remembered (localStorage), the rest is the current call's.
"use strict";

(async () => {
  const { t, api, el, toast } = CTI;
  const $ = (id) => document.getElementById(id);
  await CTI.session();
  let shownFor = null; // the call whose suggestions are on screen
  let article = null; // the article open in the panel

  // Folded, the content is hidden outright as well (a closed <details> may still lay it out).
  const folds = { "kb-script-box": "kb-script", "kb-suggested-box": "kb-suggested" };
  for (const [id, inside] of Object.entries(folds)) {
    const box = $(id);
    box.open = localStorage.getItem(`cti.${id}`) === "open";
    $(inside).classList.toggle("hidden", !box.open);
    box.addEventListener("toggle", () => {
      localStorage.setItem(`cti.${id}`, box.open ? "open" : "closed");
      $(inside).classList.toggle("hidden", !box.open);
    });
  }

  function renderCall(pop) {
    const call = pop && pop.call;
    if (call === shownFor) return;
    shownFor = call || null;
    const kb = (pop && pop.knowledge) || { articles: [], script: null };
    $("kb-script-box").classList.toggle("hidden", !kb.script);
    $("kb-script").replaceChildren(...(kb.script ? [el("b", {}, kb.script.title), "\n", kb.script.text] : []));
    $("kb-suggested-box").classList.toggle("hidden", !kb.articles.length);
    $("kb-suggested-n").textContent = String(kb.articles.length);
    $("kb-suggested").replaceChildren(...kb.articles.map((a) => el("li", {},
      el("button", { type: "button", class: "link-button", onclick: () => open(a.id) }, a.title))));
  }

  async function open(id) {
    try {
      article = await api("GET", `/api/v1/knowledge/${id}`);
    } catch (e) { toast(CTI.errorText(e), "error"); return; }
    $("kb-article").classList.remove("hidden");
    $("kb-article-title").textContent = article.title;
    $("kb-article-body").textContent = article.body;
    counts();
  }

  function counts() {
    $("kb-counts").textContent = article
      ? t("kb_counts", { helpful: article.helpful, outdated: article.outdated }) : "";
  }

  async function feedback(verdict) {
    if (!article) return;
    try {
      const got = await api("POST", `/api/v1/knowledge/${article.id}/feedback`, { verdict });
      Object.assign(article, { helpful: got.helpful, outdated: got.outdated });
      counts();
      toast(t(verdict === "helpful" ? "kb_thanks_helpful" : "kb_thanks_outdated"));
    } catch (e) { toast(CTI.errorText(e), "error"); }
  }
  $("b-kb-helpful").onclick = () => feedback("helpful");
  $("b-kb-outdated").onclick = () => feedback("outdated");

  function entry(e) {
    const bits = [e.handles, e.phones.join(", "), e.email, e.web, e.address, e.hours].filter((x) => x);
    return el("li", { class: "entry" }, el("b", {}, e.name), bits.length ? el("div", {}, bits.join(" · ")) : null);
  }

  $("kb-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const q = $("kb-q").value.trim();
    const where = $("kb-where").value;
    if (!q) return;
    let found;
    try {
      found = (await api("GET", `/api/v1/${where}?limit=10&q=${encodeURIComponent(q)}`)).items;
    } catch (e) { toast(CTI.errorText(e), "error"); return; }
    $("kb-none").classList.toggle("hidden", found.length > 0);
    $("kb-results").replaceChildren(...found.map((a) => (where === "directory" ? entry(a) : el("li", {},
      el("button", { type: "button", class: "link-button", onclick: () => open(a.id) }, a.title),
      a.kind === "script" ? el("span", { class: "muted" }, ` · ${t("kb_script")}`) : null))));
  };

  document.addEventListener("cti:desk", (ev) => renderCall(ev.detail.pop));
  renderCall((JSON.parse(sessionStorage.getItem("cti.desk") || "{}")).pop); // a reload mid-call
  CTI.onLanguage(counts);
})();
