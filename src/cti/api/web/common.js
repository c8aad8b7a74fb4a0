// What every page shares: the token, the REST client, the websocket that reconnects and
// resumes from its last sequence number, the language, number/date formats, SVG charts.
"use strict";

const CTI = (() => {
  let lang = localStorage.getItem("cti.lang") || "en";
  const listeners = [];

  function t(key, vars) {
    let s = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replace(`{${k}}`, () => String(v)); // "$&" in v is text
    return s;
  }

  /** Is there a string for `key` (in English, the language every key has)? */
  const has = (key) => Object.prototype.hasOwnProperty.call(STRINGS.en, key);

  // Names from the server's files (classifier topics and organisations, queues), per
  // language: {kind: {code: {lang: name}}}, loaded with the session.
  let names = {};
  /** The name of a queue, topic or organisation in the page's language (else English,
   *  else the code itself). */
  function name(kind, code) {
    if (code === null || code === undefined || code === "") return "–";
    const byLang = (names[kind] || {})[code];
    return (byLang && (byLang[lang] || byLang.en)) || String(code);
  }

  /** A server refusal (REST or websocket `{code, message, fields}`) in the page's
   *  language, from its stable code; the English message is for logs, not people. */
  function errorText(e) {
    const code = (e && e.code) || "";
    let text = has(`err_${code}`) ? t(`err_${code}`) : t("err_unknown", { code: code || "?" });
    const fields = (e && e.fields) || [];
    if (fields.length) {
      const which = fields.map((f) => (has(`field_${f.path}`) ? t(`field_${f.path}`) : f.path));
      text += ` · ${t("err_field", { field: which.join(", ") })}`;
    }
    return text;
  }

  /** Every element of `root` that says which string or name it shows gets it in the
   *  current language: text (`data-i18n`), placeholder, aria-label and title, and names
   *  (`data-name="queue:employment"`). A page that sets a key on an element instead of
   *  its text is re-translated by a language switch without doing anything itself. */
  function translate(root) {
    const all = (sel) => (root || document).querySelectorAll(sel);
    all("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    all("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
    // an aria-label may be several keys: "on_call amber" -> "On call · amber"
    all("[data-i18n-aria-label]").forEach((el) => {
      el.setAttribute("aria-label", el.dataset.i18nAriaLabel.split(" ").map((k) => t(k)).join(" · "));
    });
    all("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
    all("[data-name]").forEach((el) => {
      const [kind, ...code] = el.dataset.name.split(":");
      el.textContent = name(kind, code.join(":"));
    });
    const title = document.documentElement.dataset.title;
    if (title) document.title = `${t(title)} · CTI`;
  }

  /** Show `key` in `node` now and after every language switch. */
  function say(node, key) {
    node.dataset.i18n = key;
    node.textContent = t(key);
    return node;
  }

  function applyLanguage(next) {
    lang = STRINGS[next] ? next : "en";
    localStorage.setItem("cti.lang", lang);
    document.documentElement.lang = lang;
    translate();
    const picker = document.getElementById("lang");
    if (picker) picker.value = lang;
    listeners.forEach((fn) => fn(lang));
  }

  /** The language select in the header: the choice is stored with the user. */
  function languagePicker() {
    const picker = document.getElementById("lang");
    if (!picker) return;
    picker.dataset.i18nAriaLabel = "language";
    picker.innerHTML = "";
    for (const [code, label] of Object.entries(LANGUAGES)) {
      const option = new Option(label, code, false, code === lang);
      option.lang = code; // each language names itself (read out in its own voice)
      picker.append(option);
    }
    picker.addEventListener("change", () => {
      chosen = true;
      const choice = picker.value;
      applyLanguage(choice);
      // One save at a time, in order: quick switches store the last choice, not the
      // one whose request happened to finish last.
      if (token()) saving = saving.then(() => api("PUT", "/api/v1/me/language", { language: choice }).catch(() => {}));
    });
  }
  let chosen = false; // the person picked a language on this page: the stored one waits
  let saving = Promise.resolve();

  // --- formats ---------------------------------------------------------------------------
  const fmt = {
    num: (n, digits = 0) =>
      n === null || n === undefined ? "–" :
        new Intl.NumberFormat(lang, { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(n),
    pct: (x) => (x === null || x === undefined ? "–" :
      new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 0 }).format(x)),
    dur: (s) => {
      if (s === null || s === undefined) return "–";
      s = Math.max(0, Math.round(s));
      const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
      const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(sec).padStart(2, "0");
      return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
    },
    date: (v) => (v ? new Intl.DateTimeFormat(lang, { dateStyle: "medium" }).format(new Date(v)) : "–"),
    dateTime: (v) => (v ? new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "short" }).format(new Date(v)) : "–"),
  };

  // --- auth and REST ---------------------------------------------------------------------
  function token() {
    const m = location.hash.match(/token=([^&]+)/);
    if (m) {
      sessionStorage.setItem("cti.token", decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem("cti.token");
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(body.message || `HTTP ${status}`);
      this.status = status;
      this.code = body.code;
      this.fields = body.fields;
    }
  }

  /** A REST call: `body` goes as JSON, or as it is when `type` names its content type
   *  (a CSV list). A refusal throws ApiError with the server's code and fields. */
  async function api(method, path, body, contentType) {
    const headers = { Authorization: `Bearer ${token()}` };
    if (body !== undefined) headers["Content-Type"] = contentType || "application/json";
    const sent = body === undefined || contentType ? body : JSON.stringify(body);
    const r = await fetch(path, { method, headers, body: sent });
    if (r.status === 401) {
      sessionStorage.removeItem("cti.token");
      location.href = "/?next=" + encodeURIComponent(location.pathname);
      throw new ApiError(401, { code: "unauthenticated" });
    }
    const type = r.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await r.json() : await r.text();
    if (!r.ok) throw new ApiError(r.status, typeof data === "object" ? data : { message: data });
    return data;
  }

  /** Who is logged in; the page speaks the user's language. No token: the login page. */
  async function session() {
    if (!token()) {
      location.href = "/?next=" + encodeURIComponent(location.pathname);
      return new Promise(() => {});
    }
    languagePicker();
    const [me, known] = await Promise.all([
      api("GET", "/api/v1/me"),
      api("GET", "/api/v1/names").catch(() => ({})),
    ]);
    names = known || {};
    if (!chosen) applyLanguage(me.language || lang);
    document.querySelectorAll("[data-who]").forEach((el) => { el.textContent = me.username; });
    const out = document.getElementById("signout");
    if (out) out.addEventListener("click", signOut);
    return me;
  }

  /** Sign out: the page's own step first (the desktop leaves the queues; it may stop
   *  the sign-out with false, or name a notice for the login page), then the token is
   *  revoked on the server, then the login page. */
  async function signOut() {
    if (token()) {
      const notice = leaving ? await leaving().catch(() => null) : null;
      if (notice === false) return;
      if (notice) sessionStorage.setItem("cti.notice", notice);
      await fetch("/api/v1/logout", { method: "POST", headers: { Authorization: `Bearer ${token()}` } }).catch(() => {});
    }
    sessionStorage.removeItem("cti.token");
    location.href = "/";
  }
  let leaving = null;

  // --- the websocket ---------------------------------------------------------------------
  /** The header's connection badge (#conn): its key, not only its text, so a language
   *  switch shows the state it is in now. */
  function badge(up, code) {
    const node = document.getElementById("conn");
    if (!node) return;
    node.classList.toggle("up", up);
    say(node, up ? "connected" : code === 4001 ? "conn_replaced" : "reconnecting");
  }

  /** A websocket that reconnects with backoff and asks for what it missed (`resume`). */
  function socket(path, { onFrame, onStatus, onOpen, resume = true }) {
    let ws = null, seq = null, stream = null, delay = 500, n = 0;
    const pending = new Map();
    const seen = new Set(); // a replayed frame may also have come live: shown once
    function open() {
      const proto = location.protocol === "https:" ? "wss" : "ws";
      ws = new WebSocket(`${proto}://${location.host}${path}?token=${encodeURIComponent(token())}`);
      ws.onopen = () => {
        delay = 500;
        badge(true);
        onStatus && onStatus(true);
        onOpen && onOpen();
      };
      ws.onmessage = (msg) => {
        const frame = JSON.parse(msg.data);
        if (frame.seq !== undefined && (frame.type === "hello" || frame.type === "snapshot")) {
          if (seq !== null && frame.stream !== stream) {
            // Another process numbers the events now (a restart, or another CTI took
            // over): what was missed cannot be asked for, and its numbers are not ours.
            seen.clear();
            seq = frame.seq;
            if (frame.type === "hello") onFrame({ type: "resume_failed", code: "resume_gap" });
          } else if (seq === null) {
            seq = frame.seq;
          } else if (resume) {
            send({ type: "resume", since: seq, stream }).catch((e) => onFrame({ type: "resume_failed", code: e.code }));
          }
          stream = frame.stream;
        } else if (frame.seq !== undefined) {
          if (seen.has(frame.seq)) return;
          seen.add(frame.seq);
          if (seen.size > 5000) seen.delete(seen.values().next().value);
          seq = Math.max(seq || 0, frame.seq);
        }
        if ((frame.type === "ack" || frame.type === "error") && pending.has(frame.id)) {
          const { resolve, reject } = pending.get(frame.id);
          pending.delete(frame.id);
          frame.type === "ack" ? resolve(frame) : reject(frame);
          return;
        }
        onFrame(frame);
      };
      ws.onclose = (ev) => {
        badge(false, ev.code);
        onStatus && onStatus(false, ev.code);
        for (const { reject } of pending.values()) reject({ code: "disconnected", message: "disconnected" });
        pending.clear();
        if (ev.code === 4001) return; // replaced by a newer desktop of the same agent
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    function send(msg) {
      const id = `r${++n}`;
      return new Promise((resolve, reject) => {
        if (!ws || ws.readyState !== WebSocket.OPEN) {
          reject({ code: "disconnected", message: "not connected" });
          return;
        }
        pending.set(id, { resolve, reject });
        ws.send(JSON.stringify({ ...msg, id }));
      });
    }
    open();
    /** Connect again after a close that does not retry (4001: another desktop took over). */
    function reconnect() {
      if (ws && ws.readyState !== WebSocket.CLOSED) return;
      delay = 500;
      open();
    }
    return { send, reconnect, close: () => ws && ws.close(), get seq() { return seq; } };
  }

  // --- small DOM helpers -------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  function toast(text, kind) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.setAttribute("aria-live", "polite"); // a live region before its content: read out
    const item = el("div", { class: `toast ${kind || ""}`, role: kind === "error" ? "alert" : null }, text);
    box.append(item);
    setTimeout(() => item.remove(), 6000);
  }

  // --- charts (SVG, no library) ------------------------------------------------------------
  const SVGNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children.flat()) if (c) node.append(c);
    return node;
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
  }

  /** A top of a seconds axis of 4 steps whose labels (m:ss) are all different: a step
   *  of 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, 1 h, ... */
  function niceSeconds(v) {
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
    const step = steps.find((st) => st * 4 >= v) || Math.ceil(v / 4 / 3600) * 3600;
    return step * 4;
  }

  /** Grouped vertical bars: labels along x, one bar per series. */
  function barChart(container, labels, series, opts = {}) {
    const W = 720, H = 260, L = 44, B = 48, T = 12;
    const max = niceMax(Math.max(1, ...series.flatMap((s) => s.values)));
    const plotW = W - L - 8, plotH = H - B - T;
    const groupW = plotW / Math.max(1, labels.length), barW = Math.max(2, (groupW * 0.8) / series.length);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": opts.title || "" });
    for (let i = 0; i <= 4; i++) {
      const y = T + plotH - (plotH * i) / 4;
      root.append(svg("line", { x1: L, x2: W - 8, y1: y, y2: y, class: "grid" }),
        svg("text", { x: L - 6, y: y + 4, class: "axis", "text-anchor": "end" }, document.createTextNode(fmt.num((max * i) / 4))));
    }
    labels.forEach((label, i) => {
      series.forEach((s, j) => {
        const v = s.values[i] || 0, h = (plotH * v) / max;
        const bar = svg("rect", { x: L + i * groupW + groupW * 0.1 + j * barW, y: T + plotH - h, width: barW - 1, height: h, fill: s.color, class: "bar" });
        bar.append(svg("title", {}, document.createTextNode(`${label} · ${s.name}: ${fmt.num(v)}`)));
        root.append(bar);
      });
      const every = Math.ceil(labels.length / 12);
      if (i % every === 0) {
        root.append(svg("text", { x: L + i * groupW + groupW / 2, y: H - B + 16, class: "axis", "text-anchor": "middle" }, document.createTextNode(opts.short ? opts.short(label) : label)));
      }
    });
    container.replaceChildren(root, legend(series));
  }

  /** Horizontal bars for named categories (topics, agents). */
  function hbarChart(container, labels, values, opts = {}) {
    const rowH = 22, L = 170, W = 720, H = Math.max(40, labels.length * rowH + 10);
    const max = niceMax(Math.max(opts.max || 0, ...values, 0.0001));
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": opts.title || "" });
    labels.forEach((label, i) => {
      const v = values[i] || 0, w = ((W - L - 70) * v) / max, y = 5 + i * rowH;
      root.append(
        svg("text", { x: L - 8, y: y + 14, class: "axis", "text-anchor": "end" }, document.createTextNode(label)),
        svg("rect", { x: L, y, width: Math.max(1, w), height: rowH - 6, fill: opts.color || "#2f6fb0", class: "bar" }),
        svg("text", { x: L + w + 6, y: y + 14, class: "value" }, document.createTextNode(opts.format ? opts.format(v) : fmt.num(v))),
      );
    });
    container.replaceChildren(root);
  }

  /** Lines over shared x labels; each series may have its own axis side (left/right). */
  function lineChart(container, labels, series, opts = {}) {
    const W = 720, H = 260, L = 50, R = 50, B = 40, T = 12, plotW = W - L - R, plotH = H - B - T;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": opts.title || "" });
    const x = (i) => L + (labels.length < 2 ? plotW / 2 : (plotW * i) / (labels.length - 1));
    for (let i = 0; i <= 4; i++) {
      const y = T + plotH - (plotH * i) / 4;
      root.append(svg("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }));
    }
    series.forEach((s, j) => {
      const top = Math.max(1, ...s.values.filter((v) => v !== null));
      const max = s.max || (s.seconds ? niceSeconds(top) : niceMax(top));
      const pts = s.values.map((v, i) => (v === null ? null : [x(i), T + plotH - (plotH * v) / max]));
      const d = pts.filter(Boolean).map((p, i) => `${i ? "L" : "M"}${p[0]},${p[1]}`).join(" ");
      root.append(svg("path", { d, stroke: s.color, fill: "none", "stroke-width": 2.5, class: "line" }));
      pts.forEach((p, i) => {
        if (!p) return;
        // The first series' points are dots, the others' hollow squares: a point of each
        // at the same place shows both.
        const dot = j === 0 ? svg("circle", { cx: p[0], cy: p[1], r: 3.5, fill: s.color, class: "marker" })
          : svg("rect", { x: p[0] - 5, y: p[1] - 5, width: 10, height: 10, fill: "none", stroke: s.color, "stroke-width": 2, class: "marker" });
        dot.append(svg("title", {}, document.createTextNode(`${labels[i]} · ${s.name}: ${s.format(s.values[i])}`)));
        root.append(dot);
      });
      const side = j === 0 ? L - 6 : W - R + 6;
      for (let i = 0; i <= 4; i++) {
        root.append(svg("text", { x: side, y: T + plotH - (plotH * i) / 4 + 4, class: "axis", "text-anchor": j === 0 ? "end" : "start", fill: s.color }, document.createTextNode(s.format((max * i) / 4))));
      }
    });
    const every = Math.ceil(labels.length / 10);
    labels.forEach((label, i) => {
      if (i % every === 0) root.append(svg("text", { x: x(i), y: H - B + 18, class: "axis", "text-anchor": "middle" }, document.createTextNode(opts.short ? opts.short(label) : label)));
    });
    container.replaceChildren(root, legend(series));
  }

  function legend(series) {
    return el("div", { class: "legend" }, series.map((s) => el("span", {}, el("i", { style: `background:${s.color}` }), s.name)));
  }

  /** A `.scroll` box (a wide table that scrolls sideways on a phone) must be reachable
   *  by keyboard to be scrolled: focusable, a region named by its section's heading. */
  function scrollRegions(root) {
    (root || document).querySelectorAll(".scroll:not([tabindex])").forEach((box, i) => {
      box.tabIndex = 0;
      box.setAttribute("role", "region");
      const heading = box.closest("section") && box.closest("section").querySelector("h2, h3");
      if (heading) {
        if (!heading.id) heading.id = `scroll-h-${i}`;
        box.setAttribute("aria-labelledby", heading.id);
      }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => scrollRegions());
  else scrollRegions();

  return {
    scrollRegions, t, has, name, say, errorText, signOut, beforeSignOut: (fn) => { leaving = fn; }, languagePicker, translate, applyLanguage, onLanguage: (fn) => listeners.push(fn), get lang() { return lang; },
    fmt, token, api, session, socket, el, toast, barChart, hbarChart, lineChart,
  };
})();
