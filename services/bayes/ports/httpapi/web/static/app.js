// The live page of bayes: lists the models a page at a time (GET /models,
// with a search by prefix), follows one through Server-Sent Events (GET
// /models/{name}/events on bayes, which also says when it is deleted or
// reset) with the posterior predictive of its next tosses (GET
// /models/{name}/predictive), compares two or more side by side (GET
// /compare/events) and sends observations (single tosses and batches of
// counts) and model definitions to the api, whose URL bayes puts in the
// meta tag edb-api-url, with the api token the user gave when the api asked
// for one (401). No framework, no build step, nothing from a CDN.

const SVG = "http://www.w3.org/2000/svg";
const NAME_RULE = /^[A-Za-z0-9_-]{1,64}$/;
const NAME_RULE_TEXT = "1 to 64 letters, digits, '-' or '_'";
const LIST_PAGE = 50; // rows the list shows at first, and adds on "more"
const MAX_LIMIT = 1000; // bayes' largest page (GET /models?limit=)
const SEARCH_AFTER_MS = 200; // keys typed within this are one search
const TOKEN_KEY = "edb-api-token"; // sessionStorage: this tab only
const TOKEN_RULE = /^[\x21-\x7e]{16,256}$/; // the api's: printable ASCII, no spaces
const LIST_EVERY_MS = 4000;
const REOPEN_AFTER_MS = 3000;
const MAX_COMPARE = 10; // bayes compares at most ten models at once
const MAX_TRIALS = 1000; // bayes' bound on the predictive's tosses (model.MaxPredictiveTrials)
const PREDICT_AFTER_MS = 150; // model events within this are one predictive request

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
  piRow: $("pi-row"),
  pi: $("pi"),
  piLabel: $("pi-label"),
  csvLink: $("csv-link"),
  pngLink: $("png-link"),
  legendHPDI: $("legend-hpdi"),
  priorSpec: $("prior-spec"),
  gridPoints: $("grid-points"),
  btnW: $("btn-w"),
  btnL: $("btn-l"),
  status: $("status"),
  batch: $("batch"),
  batchW: $("batch-w"),
  batchL: $("batch-l"),
  predK: $("pred-k"),
  predKShown: $("pred-k-shown"),
  predPlot: $("pred-plot"),
  predMean: $("pred-mean"),
  predInterval: $("pred-interval"),
  predIntervalLabel: $("pred-interval-label"),
  predLegendInterval: $("pred-legend-interval"),
  predMode: $("pred-mode"),
  predStatus: $("pred-status"),
  models: $("models"),
  modelsStatus: $("models-status"),
  modelsSearch: $("models-search"),
  modelsCount: $("models-count"),
  modelsMore: $("models-more"),
  modelNotice: $("model-notice"),
  compareNotice: $("compare-notice"),
  tokenForm: $("token-form"),
  tokenWhy: $("token-why"),
  tokenInput: $("token-input"),
  tokenCancel: $("token-cancel"),
  tokenState: $("token-state"),
  tokenForget: $("token-forget"),
  form: $("new-model"),
  newName: $("new-name"),
  newPrior: $("new-prior"),
  newGrid: $("new-grid"),
  newStatus: $("new-status"),
  apiURL: $("api-url"),
  compareConn: $("compare-conn"),
  comparePicks: $("compare-picks"),
  compareTable: $("compare-table"),
  compareRows: $("compare-rows"),
  compareSwap: $("compare-swap"),
  compareClear: $("compare-clear"),
  compareDiff: $("compare-diff"),
  compareDiffNames: $("compare-diff-names"),
  compareDiffPlot: $("compare-diff-plot"),
  compareDiffMean: $("compare-diff-mean"),
  compareDiffHPDI: $("compare-diff-hpdi"),
  compareDiffHPDILabel: $("compare-diff-hpdi-label"),
  compareLegendHPDI: $("compare-legend-hpdi"),
  compareUpliftMean: $("compare-uplift-mean"),
  compareUpliftMedian: $("compare-uplift-median"),
  compareUpliftInterval: $("compare-uplift-interval"),
  compareUpliftIntervalLabel: $("compare-uplift-interval-label"),
  compareUpliftNote: $("compare-uplift-note"),
};

const state = {
  name: "",
  shown: false, // whether the view shows the model (an event arrived since it was chosen)
  source: null, // the open EventSource
  reopen: 0, // timer that reopens a feed the server refused
  names: [], // the model names last listed
  compare: [], // the models picked for comparison, in the order picked: the first is A
  compareSource: null, // the open comparison EventSource, null under two models
  compareReopen: 0, // timer that reopens a comparison feed the server refused
  picks: new Map(), // model name -> its checkbox in the picker
  rows: new Map(), // model name -> the cells of its row in the comparison table
  deleted: false, // the followed model was deleted and is not back yet
};

// The list of models as shown: the first want rows of the names starting
// with prefix, and the after of the page that follows them (null: none).
const list = {
  prefix: "",
  want: LIST_PAGE,
  rows: [],
  next: null,
  seq: 0, // the newest listing; an older one's answer is dropped
  search: 0, // timer of a search being typed
  bad: false, // the search box holds what no name starts with
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

// setConn changes a connection badge only when its text or state does, so
// a screen reader does not announce "live" again on every event.
function setConn(text, kind, node = el.conn) {
  setText(node, text);
  if (node.dataset.state !== kind) node.dataset.state = kind;
}

// signed writes a rounded number with a minus sign, not a hyphen, and a
// plus for a positive one: the sign of a difference is what the reader
// looks at first. A value that rounds to zero gets no sign.
function signed(s) {
  if (Number(s) === 0) return s.replace(/^-/, "");
  return s.startsWith("-") ? "\u2212" + s.slice(1) : "+" + s;
}
const fixSigned = (x, d = 3) => (Number.isFinite(x) ? signed(x.toFixed(d)) : "–");

// pctBest writes a probability as a percentage with one decimal, and says
// "<0.1%" or ">99.9%" rather than round a real chance to 0 or 100.
function pctBest(p) {
  if (!Number.isFinite(p)) return "–";
  if (p > 0 && p < 0.0005) return "<0.1%";
  if (p < 1 && p >= 0.9995) return ">99.9%";
  return (p * 100).toFixed(1) + "%";
}

// fmtLoss writes an expected loss, a proportion, to four decimals.
function fmtLoss(x) {
  if (!Number.isFinite(x)) return "–";
  if (x > 0 && x < 0.00005) return "<0.0001";
  return x.toFixed(4);
}

// fmtUplift writes a relative uplift as a signed percentage. bayes sends
// null for an infinite one (p_a = 0 has mass, and p_b − p_a ≥ −p_a makes
// every infinite uplift +∞); a missing value is "–".
function fmtUplift(u) {
  if (u === null) return "\u221e";
  if (!Number.isFinite(u)) return "–";
  const p = u * 100;
  return signed(p.toFixed(Math.abs(p) >= 1000 ? 0 : 1)) + "%";
}

async function readJSON(resp) {
  try {
    return await resp.json();
  } catch {
    return {};
  }
}

// problemText is the message of an error answer: the problem details'
// detail (RFC 9457), or the error member older answers carry alone.
function problemText(body, resp) {
  return body.detail ?? body.error ?? `${resp.status} ${resp.statusText}`;
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

// initialCompare reads ?compare=a,b from the address, keeping only names.
function initialCompare() {
  const raw = new URLSearchParams(location.search).get("compare") ?? "";
  return raw.split(",").filter((n) => NAME_RULE.test(n));
}

// writeURL puts the followed model and the comparison in the address, so
// that a reload or a shared link opens the same view.
function writeURL() {
  let q = "?model=" + encodeURIComponent(state.name);
  if (state.compare.length) q += "&compare=" + state.compare.map(encodeURIComponent).join(",");
  history.replaceState(null, "", q);
}

function choose(name, { updateURL = true } = {}) {
  if (!name || name === state.name) return;
  state.name = name;
  if (updateURL) writeURL();
  ensureOption(name);
  el.select.value = name;
  setText(el.modelName, name);
  setLinks(name);
  notice(el.modelNotice, "");
  state.deleted = false;
  clearView();
  follow(name);
}

// setLinks points the download links at the model's posterior as CSV and
// its plot, both served by bayes.
function setLinks(name) {
  el.csvLink.href = modelPath(name) + "/posterior.csv";
  el.csvLink.download = `${name}-posterior.csv`;
  el.pngLink.href = modelPath(name) + "/plot.png";
  el.pngLink.download = `${name}.png`;
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
  state.source = openFeed({
    url: modelPath(name) + "/events",
    event: "model",
    conn: el.conn,
    onData: render,
    onChange: (kind) => {
      if (kind === "deleted") {
        // The feed stays open: the model created again comes back on it.
        state.deleted = true;
        notice(el.modelNotice, `model deleted: ${name} no longer exists; the page shows it again if it is created again`, "deleted");
        clearView();
        setConn("model deleted", "idle");
      } else {
        notice(el.modelNotice, `model reset: ${name}'s counts went back to 0 (its prior and grid are kept)`, "reset");
      }
      refreshList();
    },
    isCurrent: (es) => state.source === es,
    reopen: () => {
      state.reopen = setTimeout(() => state.name === name && follow(name), REOPEN_AFTER_MS);
    },
  });
}

// openFeed follows one of bayes' Server-Sent Events feeds at url: the data
// of each event named event goes to onData, the model of a "deleted" or
// "reset" event to onChange, and conn shows the feed's state. isCurrent
// says whether the page still wants this EventSource (a newer one replaces
// it). One listener handles two errors: an "error" event bayes sends (it
// has data: Redis could not be read, the feed goes on) and the browser's
// own error when the connection fails (no data). When bayes answers with
// an error instead of a stream (an unknown model, perhaps one being
// created, or too many feeds open), the page asks url again for the
// reason, shows it, and calls reopen to try again later.
function openFeed({ url, event, conn, onData, onChange, isCurrent, reopen }) {
  setConn("connecting…", "connecting", conn);
  const es = new EventSource(url);
  es.addEventListener("open", () => {
    if (isCurrent(es)) setConn("live", "live", conn);
  });
  es.addEventListener(event, (e) => {
    if (!isCurrent(es)) return;
    setConn("live", "live", conn);
    onData(JSON.parse(e.data));
  });
  for (const kind of ["deleted", "reset"]) {
    es.addEventListener(kind, (e) => {
      if (!isCurrent(es)) return;
      let model = "";
      try {
        model = JSON.parse(e.data).model ?? "";
      } catch {}
      onChange?.(kind, model);
    });
  }
  es.addEventListener("error", (e) => {
    if (!isCurrent(es)) return;
    if (e.data) {
      let msg = e.data;
      try {
        msg = JSON.parse(e.data).error ?? msg;
      } catch {}
      setConn("bayes: " + msg, "error", conn);
      return;
    }
    if (es.readyState === EventSource.CLOSED) {
      explainRefusal(url, conn, () => isCurrent(es));
      reopen();
    } else {
      setConn("reconnecting…", "connecting", conn);
    }
  });
  return es;
}

// explainRefusal asks url, a feed bayes refused, again and shows the
// problem it answers (a 404 for a model not there yet, a 503 when too many
// feeds are open), while the feed is still wanted. A stream this time is
// closed at once: the EventSource that failed reopens by itself later.
async function explainRefusal(url, conn, wanted) {
  let msg = "bayes is unreachable";
  const ctrl = new AbortController();
  try {
    const resp = await fetch(url, { signal: ctrl.signal, headers: { Accept: "text/event-stream" } });
    if (resp.ok) {
      ctrl.abort();
      msg = "reconnecting…";
    } else {
      msg = problemText(await readJSON(resp), resp);
    }
  } catch {}
  if (wanted()) setConn(msg, "error", conn);
}

// notice shows what happened to a followed model (kind: deleted, reset,
// created), or hides the notice (text "").
function notice(node, text, kind = "") {
  node.hidden = text === "";
  setText(node, text);
  node.dataset.kind = kind;
}

// ---- drawing ----------------------------------------------------------------

function clearView() {
  state.shown = false;
  for (const node of [el.n, el.w, el.mean, el.sd, el.map, el.hpdi, el.pi, el.priorSpec, el.gridPoints]) setText(node, "–");
  draw(null);
  stopPredictive();
  clearPredictive();
}

function render(v) {
  state.shown = true;
  if (state.deleted) {
    state.deleted = false;
    notice(el.modelNotice, `${v.name} was created again`, "created");
  }
  setText(el.n, String(v.n));
  setText(el.w, String(v.w));
  setText(el.mean, fix(v.mean));
  setText(el.sd, fix(v.sd));
  setText(el.map, fix(v.map));
  setText(el.hpdi, `${fix(v.hpdi.lo)} – ${fix(v.hpdi.hi)}`);
  setText(el.hpdiLabel, `${pct(v.hpdi.prob)} HPDI`);
  setText(el.legendHPDI, `${pct(v.hpdi.prob)} HPDI`);
  // The percentile interval is newer than the HPDI: a bayes without it
  // leaves its row hidden.
  el.piRow.hidden = !v.pi;
  if (v.pi) {
    setText(el.pi, `${fix(v.pi.lo)} – ${fix(v.pi.hi)}`);
    setText(el.piLabel, `${pct(v.pi.prob)} PI`);
  }
  setText(el.priorSpec, v.prior_spec);
  setText(el.gridPoints, String(v.grid_points));
  draw(v);
  schedulePredictive();
}

const box = { w: 640, h: 320, left: 52, right: 14, top: 14, bottom: 40 };
const diffBox = { w: 640, h: 260, left: 62, right: 14, top: 14, bottom: 40 };
const predBox = { w: 640, h: 220, left: 52, right: 14, top: 14, bottom: 40 };

function node(tag, attrs, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, val] of Object.entries(attrs)) n.setAttribute(k, String(val));
  if (text !== undefined) n.textContent = text;
  return n;
}

// frame empties an SVG chart (keeping its title) and draws its axes: x
// from lo to hi with a gridline at each of xTicks (labelled when the tick
// has a label), probability mass from 0 to top. It returns the scales.
function frame(svg, b, { lo, hi, xTicks, top, labelled, xLabel }) {
  for (const child of [...svg.children]) if (child.tagName !== "title") child.remove();
  const x0 = b.left,
    x1 = b.w - b.right,
    y0 = b.h - b.bottom,
    y1 = b.top;
  const X = (p) => x0 + ((p - lo) / (hi - lo)) * (x1 - x0);
  const Y = (m) => y0 - (m / top) * (y0 - y1);

  const axes = node("g", { class: "axes" });
  for (const { x, label } of xTicks) {
    axes.append(node("line", { class: "gridline", x1: X(x), x2: X(x), y1: y0, y2: y1 }));
    if (label) axes.append(node("text", { class: "tick", x: X(x), y: y0 + 16, "text-anchor": "middle" }, label));
  }
  for (let i = 0; i <= 4; i++) {
    const m = (top / 1.08) * (i / 4);
    axes.append(node("line", { class: "gridline", x1: x0, x2: x1, y1: Y(m), y2: Y(m) }));
    axes.append(node("text", { class: "tick", x: x0 - 6, y: Y(m) + 4, "text-anchor": "end" }, labelled ? fmtMass(m) : ""));
  }
  axes.append(node("line", { class: "axis", x1: x0, x2: x1, y1: y0, y2: y0 }));
  axes.append(node("line", { class: "axis", x1: x0, x2: x0, y1: y0, y2: y1 }));
  axes.append(node("text", { class: "label", x: (x0 + x1) / 2, y: b.h - 6, "text-anchor": "middle" }, xLabel));
  axes.append(node("text", { class: "label", x: 12, y: (y0 + y1) / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${(y0 + y1) / 2})` }, "probability mass"));
  svg.append(axes);
  return { X, Y, x0, x1, y0, y1 };
}

function waiting(svg, f, text) {
  svg.append(node("text", { class: "empty", x: (f.x0 + f.x1) / 2, y: (f.y0 + f.y1) / 2, "text-anchor": "middle" }, text));
}

// points are the "x,y" of the masses on grid between from and to.
function points(f, grid, mass, from, to) {
  return grid.flatMap((p, i) => (p >= from && p <= to ? [`${f.X(p).toFixed(2)},${f.Y(mass[i]).toFixed(2)}`] : []));
}

// area closes a line of points down to the x axis.
function area(f, line) {
  return line.length ? `M${line[0].split(",")[0]},${f.y0} L${line.join(" L")} L${line[line.length - 1].split(",")[0]},${f.y0} Z` : "";
}

// draw renders prior and posterior (probability masses on the grid) as
// SVG built node by node: no innerHTML, nothing the CSP has to allow.
function draw(v) {
  const svg = el.plot;
  svg.dataset.n = v ? String(v.n) : "";
  svg.dataset.mean = v ? String(v.mean) : "";
  const xTicks = Array.from({ length: 11 }, (_, i) => ({ x: i / 10, label: i % 2 === 0 ? (i / 10).toFixed(1) : "" }));
  const top = v ? Math.max(...v.prior, ...v.posterior) * 1.08 || 1 : 1;
  const f = frame(svg, box, { lo: 0, hi: 1, xTicks, top, labelled: !!v, xLabel: "proportion of water p" });
  if (!v) {
    waiting(svg, f, "waiting for the model…");
    return;
  }

  const hp = points(f, v.grid, v.posterior, v.hpdi.lo, v.hpdi.hi);
  svg.append(node("path", { class: "hpdi", d: area(f, hp) }));
  const post = points(f, v.grid, v.posterior, 0, 1);
  svg.append(node("path", { class: "post-fill", d: area(f, post) }));
  svg.append(node("path", { id: "prior-line", class: "prior", d: "M" + points(f, v.grid, v.prior, 0, 1).join(" L") }));
  svg.append(node("path", { id: "posterior-line", class: "post", d: "M" + post.join(" L") }));
  svg.append(node("line", { class: "mean", x1: f.X(v.mean), x2: f.X(v.mean), y1: f.y0, y2: f.y1 }));
  svg.append(
    node("text", { class: "mean-label", x: Math.min(f.X(v.mean) + 6, f.x1 - 70), y: f.y1 + 12 }, `mean ${fix(v.mean)}`),
  );
}

// fmtMass writes an axis value with two significant digits and no
// exponent down to 1e-6, below which masses are not worth reading.
function fmtMass(m) {
  return Number(m.toPrecision(2)).toString();
}

// ---- the posterior predictive -------------------------------------------------

// The predictive of the next K tosses follows the model: every "model"
// event asks bayes again, but events that come close together are one
// request (the first starts a short timer, the request reads the state
// then), and a request under way is never cut off by a newer event, so a
// busy model still gets answers. A new K or another model does cut it off:
// its answer would be to another question.
const pred = { timer: 0, ctrl: null, again: false };

// readTrials is K from its input: a whole number from 1 to MAX_TRIALS, or
// null.
function readTrials() {
  const raw = el.predK.value.trim();
  const k = Number(raw);
  return /^\d+$/.test(raw) && k >= 1 && k <= MAX_TRIALS ? k : null;
}

function schedulePredictive() {
  if (pred.timer) return; // one is coming, and it reads the latest state
  pred.timer = setTimeout(() => {
    pred.timer = 0;
    predict();
  }, PREDICT_AFTER_MS);
}

function stopPredictive() {
  clearTimeout(pred.timer);
  pred.timer = 0;
  pred.ctrl?.abort();
  pred.ctrl = null;
  pred.again = false;
}

async function predict() {
  if (pred.ctrl) {
    pred.again = true; // ask again once the answer under way is in
    return;
  }
  if (!state.shown) return; // no model yet: its first event asks
  const trials = readTrials();
  if (trials === null) {
    setStatus(el.predStatus, `tosses: a whole number from 1 to ${MAX_TRIALS}`, "error");
    return;
  }
  const ctrl = new AbortController();
  pred.ctrl = ctrl;
  try {
    const resp = await fetch(`${modelPath(state.name)}/predictive?trials=${trials}`, { signal: ctrl.signal });
    const body = await readJSON(resp);
    if (pred.ctrl !== ctrl) return;
    if (!resp.ok) {
      setStatus(el.predStatus, `bayes refused the predictive: ${problemText(body, resp)}`, "error");
      return;
    }
    setStatus(el.predStatus, "", "");
    renderPredictive(body);
  } catch (err) {
    if (pred.ctrl === ctrl) setStatus(el.predStatus, `asking bayes for the predictive failed: ${err.message}`, "error");
  } finally {
    if (pred.ctrl === ctrl) {
      pred.ctrl = null;
      if (pred.again) {
        pred.again = false;
        schedulePredictive();
      }
    }
  }
}

function clearPredictive() {
  for (const node of [el.predMean, el.predInterval, el.predMode]) setText(node, "–");
  drawPredictive(null);
}

// renderPredictive shows one answer of GET /models/{name}/predictive.
function renderPredictive(v) {
  setText(el.predKShown, String(v.trials));
  setText(el.predMean, fix(v.mean, 2));
  setText(el.predInterval, `${v.interval.lo} – ${v.interval.hi}`);
  const label = `${pct(v.interval.prob)} interval`;
  setText(el.predIntervalLabel, label);
  setText(el.predLegendInterval, label);
  let mode = 0;
  v.pmf.forEach((p, k) => {
    if (p > v.pmf[mode]) mode = k;
  });
  setText(el.predMode, `${mode} (${pctBest(v.pmf[mode])})`);
  drawPredictive(v);
}

// drawPredictive draws the probability of each count of waters as a bar,
// the bars in the interval darker, and the mean.
function drawPredictive(v) {
  const svg = el.predPlot;
  svg.dataset.n = v ? String(v.n) : "";
  svg.dataset.w = v ? String(v.w) : "";
  svg.dataset.trials = v ? String(v.trials) : "";
  const K = v?.trials ?? readTrials() ?? 10;
  // Headroom over the tallest bar for the mean's label.
  const top = v ? Math.max(...v.pmf) * 1.2 || 1 : 1;
  const f = frame(svg, predBox, { lo: -0.5, hi: K + 0.5, xTicks: countTicks(K), top, labelled: !!v, xLabel: `waters in the next ${K} tosses` });
  if (!v) {
    waiting(svg, f, "waiting for the model…");
    return;
  }
  const band = (f.x1 - f.x0) / (K + 1);
  const width = band > 4 ? band * 0.78 : band;
  const bars = node("g", { class: "bars" });
  v.pmf.forEach((p, k) => {
    const inside = k >= v.interval.lo && k <= v.interval.hi;
    const bar = node("rect", {
      class: inside ? "bar-in" : "bar-out",
      x: (f.X(k) - width / 2).toFixed(2),
      y: f.Y(p).toFixed(2),
      width: width.toFixed(2),
      height: Math.max(f.y0 - f.Y(p), 0).toFixed(2),
      "data-k": k,
      "data-p": p,
    });
    bar.append(node("title", {}, `${k} of ${K}: ${pctBest(p)}`));
    bars.append(bar);
  });
  svg.append(bars);
  svg.append(node("line", { class: "mean", x1: f.X(v.mean), x2: f.X(v.mean), y1: f.y0, y2: f.y1 }));
  svg.append(node("text", { class: "mean-label", x: Math.min(f.X(v.mean) + 6, f.x1 - 80), y: f.y1 + 12 }, `mean ${fix(v.mean, 2)}`));
}

// countTicks are gridlines at a round step of counts from 0 to K, each
// labelled: six or so.
function countTicks(K) {
  const raw = K / 6;
  const mag = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  const step = [1, 2, 5, 10].map((s) => s * mag).find((s) => s >= raw) ?? mag;
  const out = [];
  for (let k = 0; k <= K; k += step) out.push({ x: k, label: String(k) });
  return out;
}

// ---- comparing models ---------------------------------------------------------

// letter names a picked model by its place: A is the baseline.
const letter = (i) => String.fromCharCode(65 + i);

const compareQuery = (names) => "models=" + names.map(encodeURIComponent).join(",");

// pick makes names (in this order, without repeats, at most MAX_COMPARE)
// the comparison, and follows it when it changed.
function pick(names, { updateURL = true } = {}) {
  const next = [...new Set(names)].slice(0, MAX_COMPARE);
  renderPicks();
  if (next.join("\n") === state.compare.join("\n")) return;
  state.compare = next;
  renderPicks();
  if (updateURL) writeURL();
  clearCompare();
  followCompare();
}

// renderPicks shows a checkbox for every listed model (and for any picked
// one not listed yet). A model seen before keeps its checkbox, so a new
// model in the list does not take the focus from the one in use.
function renderPicks() {
  const names = [...state.names];
  for (const n of state.compare) if (!names.includes(n)) names.push(n);
  const box = el.comparePicks;
  names.forEach((name, i) => {
    let p = state.picks.get(name);
    if (!p) {
      p = pickNode(name);
      state.picks.set(name, p);
    }
    if (box.children[i] !== p.label) box.insertBefore(p.label, box.children[i] ?? null);
  });
  for (const extra of [...box.children].slice(names.length)) {
    state.picks.delete(extra.dataset.name);
    extra.remove();
  }
  const full = state.compare.length >= MAX_COMPARE;
  for (const [name, p] of state.picks) {
    const at = state.compare.indexOf(name);
    p.input.checked = at >= 0;
    p.input.disabled = at < 0 && full;
    p.label.classList.toggle("on", at >= 0);
    setText(p.tag, at >= 0 ? letter(at) : "");
  }
  el.compareSwap.hidden = state.compare.length !== 2;
  el.compareClear.hidden = state.compare.length === 0;
}

function pickNode(name) {
  const label = document.createElement("label");
  label.className = "pick";
  label.dataset.name = name;
  label.htmlFor = "compare-pick-" + name;
  const input = document.createElement("input");
  input.type = "checkbox";
  input.id = "compare-pick-" + name;
  input.value = name;
  input.dataset.name = name;
  const text = document.createElement("span");
  text.textContent = name;
  const tag = document.createElement("span");
  tag.className = "tag";
  label.append(input, text, tag);
  return { label, input, tag };
}

function onPick(e) {
  const input = e.target;
  if (!(input instanceof HTMLInputElement) || input.type !== "checkbox") return;
  const name = input.value;
  pick(input.checked ? [...state.compare, name] : state.compare.filter((n) => n !== name));
}

// followCompare opens the comparison feed of the picked models, or closes
// it when fewer than two are picked: bayes compares two at least.
function followCompare() {
  clearTimeout(state.compareReopen);
  state.compareSource?.close();
  state.compareSource = null;
  const names = state.compare;
  if (names.length < 2) {
    setConn(names.length ? "pick one more model" : "pick two or more models", "idle", el.compareConn);
    return;
  }
  const query = compareQuery(names);
  notice(el.compareNotice, "");
  state.compareSource = openFeed({
    url: "/compare/events?" + query,
    event: "compare",
    conn: el.compareConn,
    onData: (v) => {
      if (el.compareNotice.dataset.kind === "deleted") notice(el.compareNotice, "every model compared exists again", "created");
      renderCompare(v);
    },
    onChange: (kind, model) => {
      if (kind === "deleted") {
        notice(el.compareNotice, `model deleted: ${model}; the comparison goes on once it exists again`, "deleted");
        setConn(`waiting for ${model}`, "idle", el.compareConn);
      } else {
        notice(el.compareNotice, `model reset: ${model}'s counts went back to 0`, "reset");
      }
      refreshList();
    },
    isCurrent: (es) => state.compareSource === es,
    reopen: () => {
      const es = state.compareSource;
      state.compareReopen = setTimeout(() => state.compareSource === es && followCompare(), REOPEN_AFTER_MS);
    },
  });
}

// clearCompare shows the picked models with no numbers yet.
function clearCompare() {
  compareRows(state.compare);
  for (const r of state.rows.values()) {
    for (const cell of [r.n, r.w, r.mean, r.best, r.loss]) setText(cell, "–");
    r.bar.setAttribute("width", "0");
    r.tr.classList.remove("best");
    r.tr.dataset.n = "";
  }
  renderDifference(null, null);
}

// compareRows makes the table's rows those of names, in this order,
// keeping the rows it has when the names are the same.
function compareRows(names) {
  el.compareTable.hidden = names.length === 0;
  if (names.join("\n") === [...state.rows.keys()].join("\n")) return;
  state.rows = new Map(names.map((name, i) => [name, compareRow(name, i)]));
  el.compareRows.replaceChildren(...[...state.rows.values()].map((r) => r.tr));
}

function compareRow(name, i) {
  const tr = document.createElement("tr");
  tr.dataset.name = name;
  const th = document.createElement("th");
  th.scope = "row";
  const tag = document.createElement("span");
  tag.className = "tag";
  tag.textContent = letter(i);
  tag.title = i === 0 ? "A, the baseline" : letter(i);
  const link = document.createElement("a");
  link.href = "?model=" + encodeURIComponent(name);
  link.textContent = name;
  link.addEventListener("click", (e) => {
    e.preventDefault();
    choose(name);
    el.plot.scrollIntoView({ block: "nearest" });
  });
  th.append(tag, link);
  tr.append(th);
  const cell = (field) => {
    const td = document.createElement("td");
    td.className = "num";
    td.dataset.field = field;
    td.textContent = "–";
    tr.append(td);
    return td;
  };
  const r = { tr, n: cell("n"), w: cell("w"), mean: cell("mean") };
  // The chance to be best: a bar (SVG, no inline style) and the number.
  const td = cell("prob_best");
  td.textContent = "";
  const svg = node("svg", { class: "bar", viewBox: "0 0 100 8", preserveAspectRatio: "none", "aria-hidden": "true" });
  svg.append(node("rect", { class: "bar-bg", width: 100, height: 8, rx: 2 }));
  r.bar = node("rect", { class: "bar-fill", width: 0, height: 8, rx: 2 });
  svg.append(r.bar);
  r.best = document.createElement("span");
  r.best.className = "value";
  r.best.textContent = "–";
  td.append(svg, r.best);
  r.loss = cell("expected_loss");
  return r;
}

// renderCompare shows one answer of GET /compare (the same JSON as the
// feed's "compare" event).
function renderCompare(v) {
  const models = v.models ?? [];
  compareRows(models.map((m) => m.name));
  const lead = Math.max(...models.map((m) => m.prob_best));
  for (const m of models) {
    const r = state.rows.get(m.name);
    setText(r.n, String(m.n));
    setText(r.w, String(m.w));
    setText(r.mean, fix(m.mean));
    setText(r.best, pctBest(m.prob_best));
    setText(r.loss, fmtLoss(m.expected_loss));
    r.bar.setAttribute("width", (Math.min(Math.max(m.prob_best, 0), 1) * 100).toFixed(2));
    r.tr.classList.toggle("best", m.prob_best === lead);
    r.tr.dataset.n = String(m.n);
  }
  const pair = models.length === 2 ? models : null;
  renderDifference(pair && v.difference ? v : null, pair);
}

// renderDifference shows the posterior of p_B − p_A and the uplift of two
// models, or hides them (v null).
function renderDifference(v, pair) {
  el.compareDiff.hidden = !v;
  const d = v?.difference;
  const u = v?.uplift;
  setText(el.compareDiffNames, pair ? `p(${pair[1].name}) \u2212 p(${pair[0].name})` : "B \u2212 A");
  setText(el.compareDiffMean, d ? fixSigned(d.mean) : "–");
  setText(el.compareDiffHPDI, d ? `${fixSigned(d.hpdi.lo)} to ${fixSigned(d.hpdi.hi)}` : "–");
  const hpdi = `${pct(d?.hpdi.prob ?? v?.prob ?? 0.89)} HPDI`;
  setText(el.compareDiffHPDILabel, hpdi);
  setText(el.compareLegendHPDI, hpdi);
  setText(el.compareUpliftMean, u ? fmtUplift(u.mean) : "–");
  setText(el.compareUpliftMedian, u ? fmtUplift(u.median) : "–");
  setText(el.compareUpliftInterval, u ? `${fmtUplift(u.interval.lo)} to ${fmtUplift(u.interval.hi)}` : "–");
  setText(el.compareUpliftIntervalLabel, `uplift, ${pct(u?.interval.prob ?? v?.prob ?? 0.89)} interval`);
  el.compareUpliftNote.hidden = !(u && [u.mean, u.median, u.interval.lo, u.interval.hi].includes(null));
  drawDifference(d ?? null);
}

// drawDifference draws the posterior mass of the difference over the part
// of its lattice that holds nearly all of it (the lattice spans −1 to 1,
// the mass rarely more than a few hundredths), with zero in view when it
// is near, so "no difference" is there to compare with.
function drawDifference(d) {
  const svg = el.compareDiffPlot;
  svg.dataset.mean = d ? String(d.mean) : "";
  if (!d || !d.grid?.length) {
    const f = frame(svg, diffBox, { lo: -1, hi: 1, xTicks: ticks(-1, 1), top: 1, labelled: false, xLabel: "difference B \u2212 A" });
    waiting(svg, f, "waiting for the comparison…");
    return;
  }
  const { grid, posterior: mass } = d;
  const tail = 1e-4;
  let i0 = 0,
    i1 = grid.length - 1;
  for (let c = 0; i0 < i1 && c + mass[i0] < tail; i0++) c += mass[i0];
  for (let c = 0; i1 > i0 && c + mass[i1] < tail; i1--) c += mass[i1];
  const step = grid.length > 1 ? grid[1] - grid[0] : 0.01;
  let lo = Math.min(grid[i0], d.hpdi.lo, d.mean),
    hi = Math.max(grid[i1], d.hpdi.hi, d.mean);
  const span = Math.max(hi - lo, 10 * step);
  if (lo > 0 && lo <= span) lo = 0;
  if (hi < 0 && -hi <= span) hi = 0;
  const pad = Math.max((hi - lo) * 0.06, 2 * step);
  lo = Math.max(-1, lo - pad);
  hi = Math.min(1, hi + pad);

  const top = Math.max(...mass.slice(i0, i1 + 1)) * 1.08 || 1;
  const f = frame(svg, diffBox, { lo, hi, xTicks: ticks(lo, hi), top, labelled: true, xLabel: "difference B \u2212 A" });
  const hp = points(f, grid, mass, d.hpdi.lo, d.hpdi.hi);
  svg.append(node("path", { class: "hpdi", d: area(f, hp) }));
  const line = points(f, grid, mass, lo, hi);
  svg.append(node("path", { class: "post-fill", d: area(f, line) }));
  svg.append(node("path", { id: "compare-diff-line", class: "post", d: "M" + line.join(" L") }));
  if (lo <= 0 && hi >= 0) svg.append(node("line", { class: "zero", x1: f.X(0), x2: f.X(0), y1: f.y0, y2: f.y1 }));
  svg.append(node("line", { class: "mean", x1: f.X(d.mean), x2: f.X(d.mean), y1: f.y0, y2: f.y1 }));
  svg.append(
    node("text", { class: "mean-label", x: Math.min(f.X(d.mean) + 6, f.x1 - 90), y: f.y1 + 12 }, `mean ${fixSigned(d.mean)}`),
  );
}

// ticks are gridlines between lo and hi at half a round step, the round
// ones labelled: five or so labels, as on the model's plot.
function ticks(lo, hi) {
  const raw = (hi - lo) / 6;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const label = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? raw;
  const digits = Math.max(0, -Math.floor(Math.log10(label) + 1e-9));
  const step = label / 2;
  const out = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + 1e-9; k++) {
    out.push({ x: k * step, label: k % 2 === 0 ? fixSigned(k * step, digits) : "" });
  }
  return out;
}

// ---- the list of models -----------------------------------------------------

// listPage reads one page of GET /models: rows of the names starting with
// prefix after the name after ("" for the first page), and the after of
// the next page (null on the last).
async function listPage(prefix, after, limit) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (prefix) q.set("prefix", prefix);
  if (after) q.set("after", after);
  const resp = await fetch("/models?" + q);
  const body = await readJSON(resp);
  if (!resp.ok) throw new Error(problemText(body, resp));
  return { models: body.models ?? [], next: body.next ?? null };
}

// refreshList reads the list as shown again, its first list.want rows in
// as few pages as bayes allows, so new counts and new models appear.
async function refreshList() {
  if (list.bad) return; // the error stays until the search is fixed
  const seq = ++list.seq;
  const { prefix, want } = list;
  const rows = [];
  let next = null;
  try {
    do {
      const page = await listPage(prefix, next ?? "", Math.min(want - rows.length, MAX_LIMIT));
      rows.push(...page.models);
      next = page.next;
    } while (next !== null && rows.length < want);
  } catch (err) {
    if (seq === list.seq) setStatus(el.modelsStatus, `listing the models failed: ${err.message}`, "error");
    return;
  }
  if (seq === list.seq) showList(rows, next);
}

// more shows the next page of the list after the rows shown.
async function more() {
  if (list.next === null) return;
  const seq = ++list.seq;
  const { prefix, next, rows } = list;
  // A refresh from now on reads the longer list.
  list.want = rows.length + LIST_PAGE;
  let page;
  try {
    page = await listPage(prefix, next, LIST_PAGE);
  } catch (err) {
    if (seq === list.seq) setStatus(el.modelsStatus, `listing more models failed: ${err.message}`, "error");
    return;
  }
  if (seq === list.seq) showList([...rows, ...page.models], page.next);
}

// search lists the models whose names start with what the search box
// holds, once typing pauses; the page refuses what is no name's start
// without asking bayes.
function search() {
  clearTimeout(list.search);
  list.search = setTimeout(() => {
    const prefix = el.modelsSearch.value.trim();
    list.bad = prefix !== "" && !NAME_RULE.test(prefix);
    if (list.bad) {
      list.seq++; // drop a listing under way
      setStatus(el.modelsStatus, `search "${prefix}": a name is ${NAME_RULE_TEXT}`, "error");
      return;
    }
    list.prefix = prefix;
    list.want = LIST_PAGE;
    refreshList();
  }, SEARCH_AFTER_MS);
}

// showList shows rows (what GET /models answered) in the table, the model
// chooser and the comparison's picker, and the "more" button when next
// says there are more.
function showList(shown, next) {
  list.rows = shown;
  list.next = next;
  el.modelsMore.hidden = next === null;
  const n = shown.length;
  const which = list.prefix ? ` starting with "${list.prefix}"` : "";
  setText(el.modelsCount, n === 0 ? `no model${which}` : `${n} model${n === 1 ? "" : "s"}${which}${next === null ? "" : ", more after these"}`);
  setStatus(el.modelsStatus, "", "");
  const names = shown.map((m) => m.name);
  if (names.join("\n") !== state.names.join("\n")) {
    state.names = names;
    const keep = state.name;
    el.select.replaceChildren(...names.map((n) => new Option(n, n)));
    if (keep) ensureOption(keep);
    el.select.value = keep;
    renderPicks();
  }
  const rows = shown.map((m) => {
    const tr = document.createElement("tr");
    tr.dataset.name = m.name;
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

// ---- the api's token ----------------------------------------------------------

// The token the user gave, for this tab only; "" when none (the api then
// gets no Authorization header, as before tokens existed).
function savedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return "";
  }
}

function saveToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {}
  el.tokenState.hidden = !token;
}

// apiHeaders are the headers of a write to the api: JSON, and the token
// when the user gave one.
function apiHeaders() {
  const h = { "Content-Type": "application/json" };
  const token = savedToken();
  if (token) h.Authorization = "Bearer " + token;
  return h;
}

let retryWithToken = null; // the write a 401 stopped, sent again with a token

// askToken shows the token form after the api answered 401 (why is its
// problem detail) to a write, which retry sends again once a token is
// given. A token the api refused is forgotten.
function askToken(why, retry) {
  const refused = savedToken() !== "";
  if (refused) saveToken("");
  retryWithToken = retry;
  setText(el.tokenWhy, `${refused ? "The api refused the token" : "The api asks for a token"}: ${why}`);
  el.tokenForm.hidden = false;
  el.tokenInput.value = "";
  el.tokenInput.focus();
}

function useToken(e) {
  e.preventDefault();
  const token = el.tokenInput.value.trim();
  if (!TOKEN_RULE.test(token)) {
    setText(el.tokenWhy, "a token is 16 to 256 printable characters, no spaces");
    el.tokenInput.focus();
    return;
  }
  saveToken(token);
  el.tokenInput.value = "";
  el.tokenForm.hidden = true;
  const retry = retryWithToken;
  retryWithToken = null;
  retry?.();
}

function cancelToken() {
  retryWithToken = null;
  el.tokenInput.value = "";
  el.tokenForm.hidden = true;
}

// ---- talking to the api -----------------------------------------------------

let sent = 0;

// record POSTs an observation, one toss or a batch of counts (observation
// is the JSON body, what says it in the status line), to the api. A 401
// asks for a token and records it again once given; a 403 shows why the
// token may not.
async function record(observation, what, name = state.name) {
  const seq = ++sent;
  setStatus(el.status, `sending ${what} to ${name}…`, "pending");
  try {
    const resp = await fetch(apiURL + modelPath(name) + "/observations", {
      method: "POST",
      headers: apiHeaders(),
      body: JSON.stringify(observation),
    });
    const body = await readJSON(resp);
    if (resp.status === 401) {
      setStatus(el.status, `the api needs a token to record ${what}: ${problemText(body, resp)}`, "error");
      askToken(problemText(body, resp), () => record(observation, what, name));
      return;
    }
    if (resp.status !== 201) {
      setStatus(el.status, `the api refused ${what}: ${resp.status} ${problemText(body, resp)}`, "error");
      return;
    }
    if (seq === sent) setStatus(el.status, `recorded ${what} for ${name} (event ${body.id})`, "ok");
    refreshList();
  } catch (err) {
    setStatus(el.status, `the api at ${apiURL || location.origin} is unreachable: ${err.message}`, "error");
  }
}

// readCount reads one count of a batch: empty is 0, else a whole number.
function readCount(input, field) {
  const raw = input.value.trim();
  if (raw === "" && !input.validity.badInput) return { n: 0 };
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n)) {
    return { error: `${field}${raw ? " = " + raw : ""}: want a whole number, 0 or more` };
  }
  return { n };
}

// batch records counts of waters and lands as one observation; the page
// refuses what the api would (a negative or fractional count, nothing at
// all) without sending it. The api judges the rest, e.g. its upper bound.
function batch(e) {
  e.preventDefault();
  const w = readCount(el.batchW, "w");
  const l = readCount(el.batchL, "l");
  const bad = w.error ?? l.error ?? (w.n + l.n === 0 ? "a batch needs at least one toss: w and l are both 0" : "");
  if (bad) {
    setStatus(el.status, bad, "error");
    (w.error || !l.error ? el.batchW : el.batchL).focus();
    return;
  }
  record({ w: w.n, l: l.n }, `w=${w.n} l=${l.n}`);
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
      headers: apiHeaders(),
      body: JSON.stringify({ prior, grid_points: gridPoints }),
    });
    const body = await readJSON(resp);
    switch (resp.status) {
      case 401:
        setStatus(el.newStatus, `401: the api needs a token to define ${name}: ${problemText(body, resp)}`, "error");
        askToken(problemText(body, resp), () => el.form.requestSubmit());
        return;
      case 202:
        setStatus(el.newStatus, `202 accepted: bayes creates ${name} (${body.prior}, ${body.grid_points} points) in a moment`, "ok");
        break;
      case 200:
        setStatus(el.newStatus, `200: ${name} already exists with this prior and grid`, "ok");
        break;
      case 409:
        setStatus(el.newStatus, `409 conflict: ${body.detail ?? body.error ?? "the model exists with another spec"}`, "error");
        return;
      default:
        setStatus(el.newStatus, `${resp.status}: ${problemText(body, resp)}`, "error");
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
el.tokenState.hidden = savedToken() === "";
el.btnW.addEventListener("click", () => record({ trial: "w" }, "w"));
el.btnL.addEventListener("click", () => record({ trial: "l" }, "l"));
el.batch.addEventListener("submit", batch);
// A new K is a new question: what is under way is dropped, and typing is
// one request once it pauses.
el.predK.addEventListener("input", () => {
  stopPredictive();
  schedulePredictive();
});
el.form.addEventListener("submit", define);
el.select.addEventListener("change", () => choose(el.select.value));
el.modelsSearch.addEventListener("input", search);
el.modelsMore.addEventListener("click", more);
el.tokenForm.addEventListener("submit", useToken);
el.tokenCancel.addEventListener("click", cancelToken);
el.tokenForget.addEventListener("click", () => saveToken(""));
addEventListener("hashchange", () => {
  const h = hashName();
  if (h) choose(h, { updateURL: false });
});
el.comparePicks.addEventListener("change", onPick);
el.compareSwap.addEventListener("click", () => pick([...state.compare].reverse()));
el.compareClear.addEventListener("click", () => pick([]));
// Feeds end before the page goes (a navigation would otherwise abort them
// mid-stream), and open again when the browser brings it back from its
// cache.
addEventListener("pagehide", () => {
  state.source?.close();
  state.compareSource?.close();
  stopPredictive();
});
addEventListener("pageshow", (e) => {
  if (!e.persisted) return;
  follow(state.name);
  followCompare();
});
choose(initialModel(), { updateURL: false });
pick(initialCompare(), { updateURL: false });
clearCompare();
refreshList();
setInterval(refreshList, LIST_EVERY_MS);
