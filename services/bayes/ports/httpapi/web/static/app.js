// The live page of bayes: lists the models, follows one through
// Server-Sent Events (GET /models/{name}/events on bayes) and sends
// observations and model definitions to the api, whose URL bayes puts in
// the meta tag edb-api-url. No framework, no build step, nothing from a CDN.

const SVG = "http://www.w3.org/2000/svg";
const NAME_RULE = /^[A-Za-z0-9_-]{1,64}$/;
const LIST_EVERY_MS = 4000;
const REOPEN_AFTER_MS = 3000;

const apiURL = (document.querySelector('meta[name="edb-api-url"]')?.content ?? "").replace(/\/+$/, "");

const $ = (id) => document.getElementById(id);
const el = {
  select: $("model-select"),
  conn: $("conn"),
  modelName: $("model-name"),
  plot: $("plot"),
  n: $("n"),
  w: $("w"),
  mean: $("mean"),
  sd: $("sd"),
  map: $("map"),
  hpdi: $("hpdi"),
  hpdiLabel: $("hpdi-label"),
  legendHPDI: $("legend-hpdi"),
  priorSpec: $("prior-spec"),
  gridPoints: $("grid-points"),
  btnW: $("btn-w"),
  btnL: $("btn-l"),
  status: $("status"),
  models: $("models"),
  modelsStatus: $("models-status"),
  form: $("new-model"),
  newName: $("new-name"),
  newPrior: $("new-prior"),
  newGrid: $("new-grid"),
  newStatus: $("new-status"),
  apiURL: $("api-url"),
};

const state = {
  name: "",
  source: null, // the open EventSource
  reopen: 0, // timer that reopens a feed the server refused
  names: [], // the model names last listed
};

// ---- formatting -----------------------------------------------------------

const fix = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : "–");
const pct = (p) => `${Math.round(p * 100)}%`;

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function setStatus(node, text, kind = "") {
  node.textContent = text;
  node.dataset.kind = kind;
}

function setConn(text, kind) {
  el.conn.textContent = text;
  el.conn.dataset.state = kind;
}

async function readJSON(resp) {
  try {
    return await resp.json();
  } catch {
    return {};
  }
}

const modelPath = (name) => "/models/" + encodeURIComponent(name);

// ---- choosing a model ------------------------------------------------------

function hashName() {
  try {
    return decodeURIComponent(location.hash.slice(1));
  } catch {
    return location.hash.slice(1);
  }
}

function initialModel() {
  return new URLSearchParams(location.search).get("model") || hashName() || "default";
}

function choose(name, { updateURL = true } = {}) {
  if (!name || name === state.name) return;
  state.name = name;
  if (updateURL) history.replaceState(null, "", "?model=" + encodeURIComponent(name));
  ensureOption(name);
  el.select.value = name;
  setText(el.modelName, name);
  clearView();
  follow(name);
}

function ensureOption(name) {
  if (![...el.select.options].some((o) => o.value === name)) {
    el.select.append(new Option(name, name));
  }
}

// ---- the live feed --------------------------------------------------------

function follow(name) {
  clearTimeout(state.reopen);
  state.source?.close();
  if (!NAME_RULE.test(name)) {
    setConn("not a model name", "error");
    setStatus(el.status, `"${name}" is not a model name: use 1 to 64 letters, digits, '-' or '_'`, "error");
    return;
  }
  setConn("connecting…", "connecting");
  const es = new EventSource(modelPath(name) + "/events");
  state.source = es;
  es.addEventListener("open", () => {
    if (state.source === es) setConn("live", "live");
  });
  es.addEventListener("model", (e) => {
    if (state.source !== es) return;
    setConn("live", "live");
    render(JSON.parse(e.data));
  });
  // One listener for two things: an "error" event bayes sends (it has
  // data: Redis could not be read, the feed goes on) and the browser's
  // own error when the connection fails (no data).
  es.addEventListener("error", (e) => {
    if (state.source !== es) return;
    if (e.data) {
      let msg = e.data;
      try {
        msg = JSON.parse(e.data).error ?? msg;
      } catch {}
      setConn("bayes: " + msg, "error");
      return;
    }
    if (es.readyState === EventSource.CLOSED) {
      // bayes answered with an error instead of a stream (an unknown model,
      // perhaps one that is being created): say why and try again.
      explainRefusal(name);
      state.reopen = setTimeout(() => state.name === name && follow(name), REOPEN_AFTER_MS);
    } else {
      setConn("reconnecting…", "connecting");
    }
  });
}

async function explainRefusal(name) {
  let msg = "bayes is unreachable";
  try {
    const resp = await fetch(modelPath(name));
    const body = await readJSON(resp);
    msg = body.error ?? `bayes answered ${resp.status}`;
  } catch {}
  if (state.name === name) setConn(msg, "error");
}

// ---- drawing ----------------------------------------------------------------

function clearView() {
  for (const node of [el.n, el.w, el.mean, el.sd, el.map, el.hpdi, el.priorSpec, el.gridPoints]) setText(node, "–");
  draw(null);
}

function render(v) {
  setText(el.n, String(v.n));
  setText(el.w, String(v.w));
  setText(el.mean, fix(v.mean));
  setText(el.sd, fix(v.sd));
  setText(el.map, fix(v.map));
  setText(el.hpdi, `${fix(v.hpdi.lo)} – ${fix(v.hpdi.hi)}`);
  setText(el.hpdiLabel, `${pct(v.hpdi.prob)} HPDI`);
  setText(el.legendHPDI, `${pct(v.hpdi.prob)} HPDI`);
  setText(el.priorSpec, v.prior_spec);
  setText(el.gridPoints, String(v.grid_points));
  draw(v);
}

const box = { w: 640, h: 320, left: 52, right: 14, top: 14, bottom: 40 };

function node(tag, attrs, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, val] of Object.entries(attrs)) n.setAttribute(k, String(val));
  if (text !== undefined) n.textContent = text;
  return n;
}

// draw renders prior and posterior (probability masses on the grid) as
// SVG built node by node: no innerHTML, nothing the CSP has to allow.
function draw(v) {
  const svg = el.plot;
  for (const child of [...svg.children]) if (child.tagName !== "title") child.remove();
  svg.dataset.n = v ? String(v.n) : "";
  svg.dataset.mean = v ? String(v.mean) : "";
  const x0 = box.left,
    x1 = box.w - box.right,
    y0 = box.h - box.bottom,
    y1 = box.top;
  const X = (p) => x0 + p * (x1 - x0);
  const top = v ? Math.max(...v.prior, ...v.posterior) * 1.08 || 1 : 1;
  const Y = (m) => y0 - (m / top) * (y0 - y1);

  const axes = node("g", { class: "axes" });
  for (let i = 0; i <= 10; i++) {
    const p = i / 10;
    axes.append(node("line", { class: "gridline", x1: X(p), x2: X(p), y1: y0, y2: y1 }));
    if (i % 2 === 0) axes.append(node("text", { class: "tick", x: X(p), y: y0 + 16, "text-anchor": "middle" }, p.toFixed(1)));
  }
  for (let i = 0; i <= 4; i++) {
    const m = (top / 1.08) * (i / 4);
    axes.append(node("line", { class: "gridline", x1: x0, x2: x1, y1: Y(m), y2: Y(m) }));
    axes.append(node("text", { class: "tick", x: x0 - 6, y: Y(m) + 4, "text-anchor": "end" }, v ? fmtMass(m) : ""));
  }
  axes.append(node("line", { class: "axis", x1: x0, x2: x1, y1: y0, y2: y0 }));
  axes.append(node("line", { class: "axis", x1: x0, x2: x0, y1: y0, y2: y1 }));
  axes.append(node("text", { class: "label", x: (x0 + x1) / 2, y: box.h - 6, "text-anchor": "middle" }, "proportion of water p"));
  axes.append(node("text", { class: "label", x: 12, y: (y0 + y1) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(y0 + y1) / 2})` }, "probability mass"));
  svg.append(axes);
  if (!v) {
    svg.append(node("text", { class: "empty", x: (x0 + x1) / 2, y: (y0 + y1) / 2, "text-anchor": "middle" }, "waiting for the model…"));
    return;
  }

  const pts = (mass, from = 0, to = 1) =>
    v.grid.flatMap((p, i) => (p >= from && p <= to ? [`${X(p).toFixed(2)},${Y(mass[i]).toFixed(2)}`] : []));
  const area = (line) => (line.length ? `M${line[0].split(",")[0]},${y0} L${line.join(" L")} L${line[line.length - 1].split(",")[0]},${y0} Z` : "");

  const hp = pts(v.posterior, v.hpdi.lo, v.hpdi.hi);
  svg.append(node("path", { class: "hpdi", d: area(hp) }));
  const post = pts(v.posterior);
  svg.append(node("path", { class: "post-fill", d: area(post) }));
  svg.append(node("path", { id: "prior-line", class: "prior", d: "M" + pts(v.prior).join(" L") }));
  svg.append(node("path", { id: "posterior-line", class: "post", d: "M" + post.join(" L") }));
  svg.append(node("line", { class: "mean", x1: X(v.mean), x2: X(v.mean), y1: y0, y2: y1 }));
  svg.append(
    node("text", { class: "mean-label", x: Math.min(X(v.mean) + 6, x1 - 70), y: y1 + 12 }, `mean ${fix(v.mean)}`),
  );
}

// fmtMass writes an axis value with two significant digits and no
// exponent down to 1e-6, below which masses are not worth reading.
function fmtMass(m) {
  return Number(m.toPrecision(2)).toString();
}

// ---- the list of models -----------------------------------------------------

async function refreshList() {
  let list;
  try {
    const resp = await fetch("/models");
    if (!resp.ok) throw new Error((await readJSON(resp)).error ?? `status ${resp.status}`);
    list = (await resp.json()).models ?? [];
  } catch (err) {
    setStatus(el.modelsStatus, `listing the models failed: ${err.message}`, "error");
    return;
  }
  setStatus(el.modelsStatus, "", "");
  const names = list.map((m) => m.name);
  if (names.join("\n") !== state.names.join("\n")) {
    state.names = names;
    const keep = state.name;
    el.select.replaceChildren(...names.map((n) => new Option(n, n)));
    if (keep) ensureOption(keep);
    el.select.value = keep;
  }
  const rows = list.map((m) => {
    const tr = document.createElement("tr");
    if (m.name === state.name) tr.className = "current";
    const link = document.createElement("a");
    link.href = "?model=" + encodeURIComponent(m.name);
    link.textContent = m.name;
    link.addEventListener("click", (e) => {
      e.preventDefault();
      choose(m.name);
    });
    const cells = [link, String(m.n), String(m.w), fix(m.mean), m.prior_spec + " / " + m.grid_points];
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      if (i >= 1 && i <= 3) td.className = "num";
      td.append(c);
      tr.append(td);
    });
    return tr;
  });
  el.models.replaceChildren(...rows);
}

// ---- talking to the api -----------------------------------------------------

let sent = 0;

async function send(trial) {
  const name = state.name;
  const seq = ++sent;
  setStatus(el.status, `sending ${trial} to ${name}…`, "pending");
  try {
    const resp = await fetch(apiURL + modelPath(name) + "/observations", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ trial }),
    });
    const body = await readJSON(resp);
    if (resp.status !== 201) {
      setStatus(el.status, `the api refused ${trial}: ${resp.status} ${body.error ?? resp.statusText}`, "error");
      return;
    }
    if (seq === sent) setStatus(el.status, `recorded ${trial} for ${name} (event ${body.id})`, "ok");
    refreshList();
  } catch (err) {
    setStatus(el.status, `the api at ${apiURL || location.origin} is unreachable: ${err.message}`, "error");
  }
}

async function define(e) {
  e.preventDefault();
  const name = el.newName.value.trim();
  const prior = el.newPrior.value.trim();
  const gridPoints = Number(el.newGrid.value);
  if (!NAME_RULE.test(name)) {
    setStatus(el.newStatus, "name: 1 to 64 letters, digits, '-' or '_'", "error");
    el.newName.focus();
    return;
  }
  if (!Number.isInteger(gridPoints)) {
    setStatus(el.newStatus, "grid points: a whole number from 3 to 10000", "error");
    el.newGrid.focus();
    return;
  }
  setStatus(el.newStatus, `defining ${name}…`, "pending");
  try {
    const resp = await fetch(apiURL + modelPath(name), {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ prior, grid_points: gridPoints }),
    });
    const body = await readJSON(resp);
    switch (resp.status) {
      case 202:
        setStatus(el.newStatus, `202 accepted: bayes creates ${name} (${body.prior}, ${body.grid_points} points) in a moment`, "ok");
        break;
      case 200:
        setStatus(el.newStatus, `200: ${name} already exists with this prior and grid`, "ok");
        break;
      case 409:
        setStatus(el.newStatus, `409 conflict: ${body.error ?? "the model exists with another spec"}`, "error");
        return;
      default:
        setStatus(el.newStatus, `${resp.status}: ${body.error ?? resp.statusText}`, "error");
        return;
    }
    choose(name);
    refreshList();
  } catch (err) {
    setStatus(el.newStatus, `the api at ${apiURL || location.origin} is unreachable: ${err.message}`, "error");
  }
}

// ---- start ------------------------------------------------------------------

el.apiURL.textContent = apiURL || location.origin;
el.btnW.addEventListener("click", () => send("w"));
el.btnL.addEventListener("click", () => send("l"));
el.form.addEventListener("submit", define);
el.select.addEventListener("change", () => choose(el.select.value));
addEventListener("hashchange", () => {
  const h = hashName();
  if (h) choose(h, { updateURL: false });
});
choose(initialModel(), { updateURL: false });
refreshList();
setInterval(refreshList, LIST_EVERY_MS);
