// The API reference: /openapi.json rendered as a page (no CDN, no library). Every
// operation is a <details> (keyboard and screen readers get it for free); the spec's
// own texts are English and marked so (lang="en").
"use strict";

(async () => {
  const { el, t } = CTI;
  const $ = (id) => document.getElementById(id);
  CTI.languagePicker();
  CTI.applyLanguage(CTI.lang);
  const spec = await (await fetch("/openapi.json")).json();
  $("api-version").textContent = `${spec.info.title} ${spec.info.version} · OpenAPI ${spec.openapi}`;
  const en = (text) => el("span", { lang: "en" }, text || "");
  const refName = (ref) => ref.split("/").pop();
  const code = (text) => el("code", { translate: "no" }, text);

  function schemaText(schema) {
    if (!schema) return "";
    if (schema.$ref) return refName(schema.$ref);
    if (schema.type === "array") return `${schemaText(schema.items)}[]`;
    if (schema.anyOf) return schema.anyOf.map(schemaText).join(" | ");
    if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
    return schema.type || "object";
  }
  function schemaLink(schema) {
    const name = schemaText(schema);
    const ref = schema && (schema.$ref || (schema.items && schema.items.$ref));
    return ref ? el("a", { href: `#schema-${refName(ref)}` }, code(name)) : code(name);
  }
  const content = (c) => c && c["application/json"] && c["application/json"].schema;

  function operation(path, method, op) {
    const summary = el("summary", {},
      el("code", { class: `method m-${method}`, translate: "no" }, method.toUpperCase()), " ", code(path), " ", en(op.summary));
    const body = [];
    if ((op.parameters || []).length) {
      body.push(el("h3", { "data-i18n": "api_params" }, t("api_params")),
        el("ul", {}, op.parameters.map((p) => el("li", {}, code(p.name), " ", code(`in: ${p.in}`), " ", schemaLink(p.schema),
          p.required ? el("span", { class: "muted", "data-i18n": "api_required" }, ` ${t("api_required")}`) : null))));
    }
    if (op.requestBody) {
      body.push(el("h3", { "data-i18n": "api_body" }, t("api_body")), el("p", {}, schemaLink(content(op.requestBody.content))));
    }
    body.push(el("h3", { "data-i18n": "api_responses" }, t("api_responses")),
      el("ul", {}, Object.entries(op.responses || {}).map(([status, r]) => el("li", {},
        code(status), " ", en(r.description), content(r.content) ? [" · ", schemaLink(content(r.content))] : null))));
    return el("details", { class: "op", "data-search": `${method} ${path} ${op.summary || ""}`.toLowerCase() }, summary, el("div", { class: "op-body" }, body));
  }

  $("api-paths").replaceChildren(...Object.entries(spec.paths).sort(([a], [b]) => a.localeCompare(b)).flatMap(([path, ops]) =>
    Object.entries(ops).filter(([m]) => ["get", "post", "put", "patch", "delete"].includes(m)).map(([m, op]) => operation(path, m, op))));

  const schemas = (spec.components && spec.components.schemas) || {};
  $("api-schemas").replaceChildren(...Object.entries(schemas).map(([name, s]) => {
    const required = new Set(s.required || []);
    const rows = Object.entries(s.properties || {}).map(([prop, p]) => el("tr", {},
      el("td", {}, code(prop)), el("td", {}, schemaLink(p)),
      el("td", {}, required.has(prop) ? el("span", { "data-i18n": "api_required" }, t("api_required")) : ""),
      el("td", {}, en(p.description || p.title || ""))));
    return el("details", { class: "op", id: `schema-${name}`, "data-search": name.toLowerCase() },
      el("summary", {}, code(name), " ", en(s.description ? s.description.split("\n")[0] : "")),
      el("div", { class: "scroll" }, el("table", {},
        el("thead", {}, el("tr", {}, ["api_field", "api_type", "api_required", "api_description"].map((k) => el("th", { scope: "col", "data-i18n": k }, t(k))))),
        el("tbody", {}, rows))));
  }));
  // A link to a data type opens it.
  window.addEventListener("hashchange", () => {
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target.tagName === "DETAILS") { target.open = true; target.querySelector("summary").focus(); }
  });

  $("api-filter").addEventListener("input", () => {
    const q = $("api-filter").value.trim().toLowerCase();
    document.querySelectorAll("details.op").forEach((d) => { d.hidden = Boolean(q) && !d.dataset.search.includes(q); });
  });
  document.body.dataset.loaded = "1";
})();
