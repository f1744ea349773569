// Compare trials: metric charts overlaid, parameter-vs-result scatter, parallel
// coordinates over the filtered trials, and the diff of two trials side by side.
import { h, mount, section, formatValue, formatTime, formatDuration, statusBadge, errorBox } from "./dom.js";
import { get, experimentPath } from "./api.js";
import { metricChart, scatterChart, parallelChart } from "./charts.js";

const MAX_SERIES = 20;

function filterParams(params) {
  return { where: params.get("where") || "", filter: params.getAll("filter") };
}

export async function renderCompare(root, experiment, params) {
  const base = experimentPath(experiment);
  const filters = filterParams(params);
  const listing = await get(`${base}/trials`, { limit: 1, ...filters });
  let ids = (params.get("ids") || "").split(",").filter(Boolean).map(Number);
  if (params.get("all")) ids = (await get(`${base}/columns`, { keys: "id", ...filters })).ids;
  const shown = ids.slice(0, MAX_SERIES);
  const charts = [];
  const state = { log: false, smoothing: 0, metrics: new Set(listing.columns.metrics.slice(0, 6)) };

  const chartArea = h("div", { id: "metric-charts" });
  const metricChoice = h("span", { class: "choice" }, listing.columns.metrics.map((key) => h("label", null,
    h("input", { type: "checkbox", checked: state.metrics.has(key), onchange: (event) => {
      event.target.checked ? state.metrics.add(key) : state.metrics.delete(key);
      drawMetrics();
    } }), " ", key)));
  const controls = h("div", { class: "toolbar" },
    h("label", null, h("input", { id: "log-scale", type: "checkbox", onchange: (event) => { state.log = event.target.checked; drawMetrics(); } }), " log scale"),
    h("label", null, "smoothing ", h("input", { id: "smoothing", type: "range", min: 0, max: 0.99, step: 0.01, value: 0,
      oninput: (event) => { state.smoothing = Number(event.target.value); drawMetrics(); } })),
    metricChoice);
  const note = ids.length > MAX_SERIES ? h("p", { class: "muted" }, `Showing the series of the first ${MAX_SERIES} of ${ids.length.toLocaleString("en")} selected trials.`) : null;

  const seriesCache = new Map();
  async function drawMetrics() {
    charts.splice(0).forEach((chart) => chart.destroy());
    chartArea.replaceChildren();
    if (!shown.length) return chartArea.append(h("p", { class: "muted" }, "Select trials in the trials table to overlay their metrics."));
    for (const key of listing.columns.metrics.filter((k) => state.metrics.has(k))) {
      if (!seriesCache.has(key)) seriesCache.set(key, await get(`${base}/metrics/${encodeURIComponent(key)}`, { trials: shown.join(",") }));
      const answer = seriesCache.get(key);
      if (!answer.series.length) {
        chartArea.append(h("p", { class: "muted" }, `No selected trial saved ${key}.`));
        continue;
      }
      charts.push(metricChart(chartArea, key, answer.series, state));
      if (answer.missing.length) chartArea.append(h("p", { class: "muted small" }, `${key}: not saved by trial ${answer.missing.join(", ")}.`));
    }
  }

  const candidates = [...listing.columns.parameters.map((n) => [`parameters.${n}`, n]), ["result", "Result"], ...listing.columns.metrics.map((k) => [`metrics.${k}`, k])];
  const xSelect = h("select", { id: "scatter-x", onchange: drawScatter }, candidates.map(([key, label]) => h("option", { value: key }, label)));
  const ySelect = h("select", { id: "scatter-y", onchange: drawScatter }, candidates.map(([key, label]) => h("option", { value: key, selected: key === "result" ? true : null }, label)));
  const scatterArea = h("div");
  async function drawScatter() {
    const answer = await get(`${base}/columns`, { keys: `${xSelect.value},${ySelect.value}`, ...filters });
    scatterArea.replaceChildren(h("p", { class: "muted small" }, `${answer.shown.toLocaleString("en")} of ${answer.total.toLocaleString("en")} filtered trials`));
    const label = (key) => candidates.find(([k]) => k === key)[1];
    scatterChart(scatterArea, label(xSelect.value), label(ySelect.value), answer.columns[xSelect.value], answer.columns[ySelect.value], answer.ids);
  }

  const parallelArea = h("div");
  async function drawParallel() {
    const keys = [...listing.columns.parameters.map((n) => `parameters.${n}`), "result"];
    const answer = await get(`${base}/columns`, { keys: keys.join(","), ...filters });
    const usable = keys.filter((key) => answer.columns[key].some((v) => v !== null));
    const labels = usable.map((key) => key.replace(/^parameters\./, ""));
    parallelArea.replaceChildren();
    if (usable.length < 2) return parallelArea.append(h("p", { class: "muted" }, "Parallel coordinates need two numeric columns."));
    parallelChart(parallelArea, labels, usable.map((key) => answer.columns[key]));
  }

  const diffArea = h("div", { id: "diff" });
  const pick = (name, value) => h("select", { id: `diff-${name}`, onchange: drawDiff }, ids.slice(0, 500).map((id) => h("option", { value: id, selected: id === value ? true : null }, `trial ${id}`)));
  const aSelect = pick("a", ids[0]);
  const bSelect = pick("b", ids[1]);
  async function drawDiff() {
    if (ids.length < 2) return mount(diffArea, h("p", { class: "muted" }, "Select two trials to see their diff."));
    const answer = await get(`${base}/diff`, { a: aSelect.value, b: bSelect.value });
    mount(diffArea, sideBySide(answer), diffParts(answer.diff));
  }

  mount(root,
    h("h1", null, `Compare ${ids.length.toLocaleString("en")} trials of ${experiment}`),
    section("Metrics", controls, note, chartArea),
    section("Parameters and result (filtered trials)", h("div", { class: "toolbar" }, h("label", null, "x ", xSelect), h("label", null, "y ", ySelect)), scatterArea, parallelArea),
    section("Diff", ids.length >= 2 ? h("div", { class: "toolbar" }, aSelect, " vs ", bSelect) : null, diffArea));
  const safely = (draw, area) => draw().catch((error) => area.append(errorBox(error)));
  await Promise.all([safely(drawMetrics, chartArea), safely(drawScatter, scatterArea), safely(drawParallel, parallelArea), safely(drawDiff, diffArea)]);
  return () => charts.forEach((chart) => chart.destroy());
}

function sideBySide(answer) {
  const [a, b] = [answer.trials[answer.a], answer.trials[answer.b]];
  const names = [...new Set([...Object.keys(a.parameters), ...Object.keys(b.parameters)])];
  const rows = [
    ["Status", statusBadge(a.status), statusBadge(b.status), a.status !== b.status],
    ["Result", formatValue(a.result), formatValue(b.result), formatValue(a.result) !== formatValue(b.result)],
    ["Error", a.error || "—", b.error || "—", a.error !== b.error],
    ["Seed", formatValue(a.seed), formatValue(b.seed), a.seed !== b.seed],
    ...names.map((n) => [n, formatValue(a.parameters[n]), formatValue(b.parameters[n]), formatValue(a.parameters[n]) !== formatValue(b.parameters[n])]),
    ["Started", formatTime(a.started), formatTime(b.started), false],
    ["Process time", formatDuration(a.process_time), formatDuration(b.process_time), false],
    ["Tags", a.tags.join(", ") || "—", b.tags.join(", ") || "—", a.tags.join() !== b.tags.join()],
  ];
  return h("table", { class: "grid diff-table" },
    h("thead", null, h("tr", null, h("th"), h("th", null, `trial ${answer.a}`), h("th", null, `trial ${answer.b}`))),
    h("tbody", null, rows.map(([label, left, right, differs]) => h("tr", { class: differs ? "differs" : null }, h("th", null, label), h("td", null, left), h("td", null, right)))));
}

// Shown in the side-by-side table already, or bookkeeping.
const SHOWN_ABOVE = new Set(["experiment", "a", "b", "identical", "parameters", "seed", "result", "status", "error"]);

function hasContent(value) {
  if (!value) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === "object") return Object.values(value).some(hasContent);
  return true;
}

function diffParts(diff) {
  const parts = Object.entries(diff || {}).filter(([name, value]) => !SHOWN_ABOVE.has(name) && hasContent(value));
  if (!parts.length) return h("p", { class: "muted" }, "No other difference.");
  return parts.map(([name, value]) => h("div", { class: "diff-part" }, h("h3", null, name), rendered(value)));
}

function rendered(value) {
  if (typeof value === "string") return h("pre", { class: value.startsWith("---") || value.includes("\n@@") ? "unified" : null }, colouredDiff(value));
  if (Array.isArray(value)) return h("ul", null, value.map((item) => h("li", null, rendered(item))));
  if (value && typeof value === "object") return h("dl", null, Object.entries(value).flatMap(([k, v]) => [h("dt", null, k), h("dd", null, rendered(v))]));
  return document.createTextNode(formatValue(value));
}

function colouredDiff(text) {
  return text.split("\n").map((line) => h("span", { class: line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : null }, line + "\n"));
}
