// What every page shares: the token, the REST client, the websocket that reconnects and
// resumes from its last sequence number, the language, number/date formats, SVG charts.
"use strict";

const CTI = (() => {
  let lang = localStorage.getItem("cti.lang") || "en";
  const listeners = [];

  function t(key, vars) {
    let s = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
    for (const [k, v] of Object.entries(vars || {})) s = s.replace(`{${k}}`, v);
    return s;
  }

  function translate(root) {
    (root || document).querySelectorAll("[data-i18n]").forEach((el) => {
      el.textContent = t(el.dataset.i18n);
    });
    (root || document).querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    });
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
    picker.innerHTML = "";
    for (const [code, label] of Object.entries(LANGUAGES)) {
      picker.append(new Option(label, code, false, code === lang));
    }
    picker.addEventListener("change", async () => {
      applyLanguage(picker.value);
      if (token()) await api("PUT", "/api/v1/me/language", { language: picker.value }).catch(() => {});
    });
  }

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

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${token()}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
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
    const me = await api("GET", "/api/v1/me");
    applyLanguage(me.language || lang);
    document.querySelectorAll("[data-who]").forEach((el) => { el.textContent = me.username; });
    const out = document.getElementById("signout");
    if (out) out.addEventListener("click", () => { sessionStorage.removeItem("cti.token"); location.href = "/"; });
    return me;
  }

  // --- the websocket ---------------------------------------------------------------------
  /** A websocket that reconnects with backoff and asks for what it missed (`resume`). */
  function socket(path, { onFrame, onStatus, onOpen, resume = true }) {
    let ws = null, seq = null, delay = 500, n = 0;
    const pending = new Map();
    const seen = new Set(); // a replayed frame may also have come live: shown once
    function open() {
      const proto = location.protocol === "https:" ? "wss" : "ws";
      ws = new WebSocket(`${proto}://${location.host}${path}?token=${encodeURIComponent(token())}`);
      ws.onopen = () => {
        delay = 500;
        onStatus && onStatus(true);
        if (resume && seq !== null) send({ type: "resume", since: seq }).catch((e) => onFrame({ type: "resume_failed", code: e.code }));
        onOpen && onOpen();
      };
      ws.onmessage = (msg) => {
        const frame = JSON.parse(msg.data);
        if (frame.seq !== undefined && (frame.type === "hello" || frame.type === "snapshot")) {
          if (seq === null) seq = frame.seq;
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
    return { send, close: () => ws && ws.close(), get seq() { return seq; } };
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
    const item = el("div", { class: `toast ${kind || ""}`, role: "status" }, text);
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
      const max = s.max || niceMax(Math.max(1, ...s.values.filter((v) => v !== null)));
      const pts = s.values.map((v, i) => (v === null ? null : [x(i), T + plotH - (plotH * v) / max]));
      const d = pts.filter(Boolean).map((p, i) => `${i ? "L" : "M"}${p[0]},${p[1]}`).join(" ");
      root.append(svg("path", { d, stroke: s.color, fill: "none", "stroke-width": 2.5, class: "line" }));
      pts.forEach((p, i) => {
        if (!p) return;
        const dot = svg("circle", { cx: p[0], cy: p[1], r: 3.5, fill: s.color });
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

  return {
    t, translate, applyLanguage, onLanguage: (fn) => listeners.push(fn), get lang() { return lang; },
    fmt, token, api, session, socket, el, toast, barChart, hbarChart, lineChart,
  };
})();
