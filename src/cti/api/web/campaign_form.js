// The "New campaign" form of the campaigns page (issue 21): a supervisor writes the
// questionnaire, the calling rules and whom to call, and saves it as a draft; the list
// is checked line by line and what was refused is shown with its line and reason. The
// campaign is created first (POST /api/v1/campaigns), then its numbers are added; when
// they cannot be (a list too long, a period too long), the new draft is discarded
// again, so a second try does not leave a first, empty one behind.
"use strict";

window.CampaignForm = (() => {
  const { t, api, el } = CTI;
  const KINDS = ["scale", "yes_no", "digits", "comment"];
  const LANGS = ["bg", "en", "ru", "hu"];
  const MAX_QUESTIONS = 30; // as the server's questionnaire
  const MAX_PERIOD_DAYS = 400;
  const SHOWN_LINES = 50; // refused lines listed; the rest counted
  const MAX_LIST_BYTES = 4 * 1024 * 1024; // as the server's
  let form, questions, onCreated;
  let said = null; // the last report or refusal, said again in a newly chosen language

  const option = (value, key, text) =>
    el("option", { value, "data-i18n": key || null }, key ? t(key) : text);

  function questionRow(seed) {
    const n = questions.children.length + 1;
    const row = el("div", { class: "cp-q", "data-testid": "question" },
      el("span", { class: "n", "aria-hidden": "true" }, `${n}.`),
      el("label", {}, el("span", { "data-i18n": "cp_f_qid" }, t("cp_f_qid")),
        el("input", { name: "qid", required: true, pattern: "[a-z0-9_]{1,40}", maxlength: 40,
          value: seed.id || `q${n}`, autocomplete: "off" })),
      el("label", {}, el("span", { "data-i18n": "cp_f_kind" }, t("cp_f_kind")),
        el("select", { name: "kind" }, KINDS.map((k) => option(k, `cp_kind_${k}`)))),
      el("label", {}, el("span", { "data-i18n": "cp_f_prompt" }, t("cp_f_prompt")),
        el("input", { name: "prompt", required: true, maxlength: 120, value: seed.prompt || "",
          placeholder: "cti/survey-service", autocomplete: "off" })),
      el("button", { type: "button", "data-i18n": "cp_f_remove", onclick: () => remove(row) }, t("cp_f_remove")));
    row.querySelector("select").value = seed.kind || "scale";
    questions.append(row);
    countQuestions();
    return row;
  }

  function countQuestions() {
    document.getElementById("cp-add-q").disabled = questions.children.length >= MAX_QUESTIONS;
  }

  function remove(row) {
    if (questions.children.length === 1) return; // a questionnaire has a question
    row.remove();
    countQuestions();
    [...questions.children].forEach((r, i) => { r.querySelector(".n").textContent = `${i + 1}.`; });
    questions.querySelector("input")?.focus();
  }

  function showSource() {
    const source = form.elements.source.value;
    form.querySelector('[data-source="file"]').classList.toggle("hidden", source !== "file");
    form.querySelector('[data-source="query"]').classList.toggle("hidden", !["cases", "calls"].includes(source));
  }

  // The input a server's field path names: "questionnaire.questions.1.prompt" -> the
  // second question's prompt; a refusal of the questions as a whole -> the first one.
  function inputOf(path) {
    const q = /^questionnaire\.questions\.(\d+)\.(\w+)/.exec(path);
    if (q) {
      const name = { id: "qid", kind: "kind", prompt: "prompt" }[q[2]] || "prompt";
      return questions.children[Number(q[1])]?.querySelector(`[name="${name}"]`) || null;
    }
    if (path === "questionnaire" || path.startsWith("questionnaire.questions")) {
      return questions.querySelector("input"); // unique columns, how many questions
    }
    const top = path.split(".")[0];
    const name = { retry_after_s: "retry_min", end: "to", start: "from", questionnaire: "language" }[top] || top;
    return form.elements[name] || null;
  }

  // What a person calls a field: its label, or "question 2" for a question's.
  function labelOf(input) {
    const row = input.closest(".cp-q");
    if (row) return t("cp_f_question_n", { n: [...questions.children].indexOf(row) + 1 });
    return input.closest("label").querySelector("span").textContent;
  }

  // The form's one way to say what is wrong: `why` first, then the fields to check
  // (marked; the first focused when `focus`). A field given as a path without an input
  // on the page is named by its path.
  function show(fields, why, focus) {
    fields.forEach((f) => { if (typeof f !== "string") f.setAttribute("aria-invalid", "true"); });
    const names = [...new Set(fields.map((f) => (typeof f === "string" ? f : labelOf(f))))];
    const parts = [...new Set(why)];
    if (names.length) parts.push(t("err_field", { field: names.join(", ") }));
    form.querySelector("#cp-form-error").textContent = parts.join(" · ");
    if (focus) form.querySelector('[aria-invalid="true"]')?.focus();
  }

  function refused(e, first = true) {
    if (first) said = () => refused(e, false);
    const paths = ((e && e.fields) || (e && e.code === "unknown_calendar" ? [{ path: "calendar" }] : []))
      .map((f) => f.path);
    show(paths.map((p) => inputOf(p) || p), [CTI.errorText({ code: e && e.code })], first);
  }

  function spec() {
    const f = form.elements;
    const body = {
      name: f.name.value.trim(),
      questionnaire: {
        language: f.language.value,
        questions: [...questions.children].map((row) => ({
          id: row.querySelector('[name="qid"]').value.trim(),
          kind: row.querySelector('[name="kind"]').value,
          prompt: row.querySelector('[name="prompt"]').value.trim(),
        })),
      },
      max_attempts: Number(f.max_attempts.value),
      retry_after_s: Number(f.retry_min.value) * 60,
      lines: Number(f.lines.value),
    };
    if (f.organisation.value) body.organisation = f.organisation.value;
    if (f.calendar.value.trim()) body.calendar = f.calendar.value.trim();
    return body;
  }

  // The period's days in the browser's time zone, the last one whole.
  function period() {
    const f = form.elements;
    const start = new Date(`${f.from.value}T00:00`);
    const end = new Date(`${f.to.value}T00:00`);
    end.setDate(end.getDate() + 1);
    return { start: start.toISOString(), end: end.toISOString() };
  }

  async function addNumbers(id) {
    const f = form.elements;
    const source = f.source.value;
    if (source === "file") {
      return api("POST", `/api/v1/campaigns/${id}/numbers`, await f.file.files[0].text(), "text/csv");
    }
    if (source === "none") return null;
    const query = { source, ...period() };
    if (f.topic.value) query.topic = f.topic.value;
    if (f.organisation.value) query.organisation = f.organisation.value;
    return api("POST", `/api/v1/campaigns/${id}/numbers/query`, query);
  }

  // What the browser can tell before asking the server: the fields it has rules for,
  // a file when the list is a file, both days (in order) when it is a period.
  function checkHere() {
    const f = form.elements;
    const missing = [...form.querySelectorAll("input, select")].filter((i) => !i.checkValidity());
    const why = []; // what is wrong beyond a field to check
    if (f.source.value === "file" && !f.file.files.length) missing.push(f.file);
    if (f.source.value === "file" && f.file.files.length && f.file.files[0].size > MAX_LIST_BYTES) {
      missing.push(f.file);
      why.push(t("err_list_too_large"));
    }
    if (["cases", "calls"].includes(f.source.value)) {
      if (!f.from.value) missing.push(f.from);
      if (!f.to.value) missing.push(f.to);
      if (f.from.value && f.to.value && f.to.value < f.from.value) missing.push(f.to);
      const { start, end } = f.from.value && f.to.value ? period() : {};
      if (start && Date.parse(end) - Date.parse(start) > MAX_PERIOD_DAYS * 86400e3 + 3600e3) {
        missing.push(f.to); // a day with a summer-time change is an hour longer
        why.push(t("err_period_too_long"));
      }
    }
    const seen = new Set();
    for (const input of questions.querySelectorAll('[name="qid"]')) {
      if (seen.has(input.value.trim())) {
        missing.push(input);
        why.push(t("cp_f_same_column"));
      }
      seen.add(input.value.trim());
    }
    if (!missing.length) return true;
    show(missing, why, true);
    return false;
  }

  function report(campaign, numbers) {
    said = () => report(campaign, numbers);
    const box = form.querySelector("#cp-report");
    const parts = [t("cp_f_saved", { name: campaign.name })];
    if (!numbers) {
      parts.push(t("cp_f_numbers_later"));
    } else if (numbers.added + numbers.merged + refusedCount(numbers) === 0) {
      parts.push(t("cp_f_numbers_none"));
    } else {
      parts.push(t("cp_f_numbers_added", { added: numbers.added, merged: numbers.merged, bad: refusedCount(numbers) }));
    }
    const bad = numbers ? numbers.bad : [];
    const more = numbers ? refusedCount(numbers) - Math.min(bad.length, SHOWN_LINES) : 0;
    const lines = bad.slice(0, SHOWN_LINES).map((b) =>
      el("li", {}, t("cp_f_bad_line", { line: b.line, text: b.text || "–" }), " ",
        CTI.has(`err_${b.code}`) ? t(`err_${b.code}`) : b.reason));
    if (more > 0) lines.push(el("li", {}, t("cp_f_more_lines", { n: more })));
    box.replaceChildren(el("p", { "data-testid": "created" }, parts.join(" ")),
      lines.length ? el("ul", { "data-testid": "refused-lines" }, lines) : "");
  }

  // The reply lists the first refused lines; `bad_total` counts them all.
  const refusedCount = (numbers) => numbers.bad_total ?? numbers.bad.length;

  async function submit(event) {
    event.preventDefault();
    form.querySelectorAll('[aria-invalid="true"]').forEach((i) => i.removeAttribute("aria-invalid"));
    form.querySelector("#cp-form-error").textContent = "";
    if (!checkHere()) return; // what was said of the last save stays
    form.querySelector("#cp-report").replaceChildren();
    said = null;
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    let campaign = null;
    try {
      campaign = await api("POST", "/api/v1/campaigns", spec());
      const numbers = await addNumbers(campaign.id);
      report(campaign, numbers);
      form.reset();
      form.elements.language.value = LANGS.includes(CTI.lang) ? CTI.lang : "bg";
      questions.replaceChildren();
      questionRow({});
      showSource();
    } catch (e) {
      // The numbers were refused: the new draft goes again, the form keeps everything.
      const kept = campaign && !(await discard(campaign.id)) ? campaign : null;
      if (kept) report(kept, null);
      refused(e);
      if (kept) said = () => { report(kept, null); refused(e, false); };
    } finally {
      button.disabled = false;
      await onCreated();
    }
  }

  async function discard(id) {
    try {
      await api("DELETE", `/api/v1/campaigns/${id}`);
      return true;
    } catch (_) {
      return false; // it stays a draft, and is said to be
    }
  }

  async function fill() {
    const names = await api("GET", "/api/v1/names").catch(() => ({}));
    const pick = (select, kind) => {
      const codes = Object.keys(names[kind] || {}).sort((a, b) =>
        CTI.name(kind, a).localeCompare(CTI.name(kind, b)));
      select.replaceChildren(option("", "cp_f_any"),
        ...codes.map((c) => el("option", { value: c, "data-name": `${kind}:${c}` }, CTI.name(kind, c))));
    };
    pick(form.elements.organisation, "organisation");
    pick(form.elements.topic, "topic");
    form.elements.language.replaceChildren(...LANGS.map((l) => option(l, `cp_lang_${l}`)));
    form.elements.language.value = LANGS.includes(CTI.lang) ? CTI.lang : "bg";
  }

  async function init(created) {
    onCreated = created;
    form = document.getElementById("cp-form");
    questions = document.getElementById("cp-questions");
    questionRow({});
    form.elements.source.addEventListener("change", showSource);
    document.getElementById("cp-add-q").addEventListener("click", () =>
      questionRow({}).querySelector("input").focus());
    form.addEventListener("input", (e) => e.target.removeAttribute("aria-invalid"));
    form.addEventListener("submit", submit);
    showSource();
    CTI.onLanguage(() => { if (said) said(); });
    await fill();
  }

  return { init };
})();
