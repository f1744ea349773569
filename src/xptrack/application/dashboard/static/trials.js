// An experiment's trials: paged, sorted and filtered on the server, live while trials run.
import { h, mount, formatValue, formatTime, formatDuration, statusBadge, errorBox } from "./dom.js";
import { get, experimentPath } from "./api.js";
import { poll } from "./poll.js";
import { go } from "./main.js";

const HIDDEN_BY_DEFAULT = ["started", "seed", "error", "note", "result_type"];
const FIXED = {
  id: ["Trial", (row) => row.id],
  status: ["Status", (row) => row.status],
  result: ["Result", (row) => row.result],
  result_type: ["Result type", (row) => row.result_type],
  error: ["Error", (row) => row.error],
  seed: ["Seed", (row) => row.seed],
  started: ["Started", (row) => row.started],
  finished: ["Finished", (row) => row.finished],
  process_time: ["Process time", (row) => row.process_time],
  tags: ["Tags", (row) => row.tags],
  note: ["Note", (row) => row.note],
};
const selections = new Map(); // experiment id -> Set of selected trial ids

export function selectionOf(experiment) {
  if (!selections.has(experiment)) selections.set(experiment, new Set());
  return selections.get(experiment);
}

function columnsFrom(answer) {
  const columns = [["id", ...FIXED.id], ["status", ...FIXED.status]];
  for (const name of answer.columns.parameters) columns.push([`parameters.${name}`, name, (row) => row.parameters[name]]);
  columns.push(["result", ...FIXED.result]);
  for (const key of answer.columns.metrics) columns.push([`metrics.${key}`, key, (row) => row.metrics[key]]);
  for (const key of ["finished", "process_time", "tags", "started", "seed", "error", "note", "result_type"]) columns.push([key, ...FIXED[key]]);
  return columns.map(([key, label, value]) => ({ key, label, value, kind: key.split(".")[0] }));
}

function stateFrom(params) {
  return {
    offset: Number(params.get("offset") || 0),
    limit: Number(params.get("limit") || 50),
    sort: params.get("sort") || "id",
    order: params.get("order") || "desc",
    where: params.get("where") || "",
    filters: Object.fromEntries(params.getAll("filter").map((f) => [f.slice(0, f.indexOf(":")), f.slice(f.indexOf(":") + 1)])),
  };
}

function paramsOf(state) {
  const params = new URLSearchParams();
  if (state.offset) params.set("offset", state.offset);
  if (state.limit !== 50) params.set("limit", state.limit);
  if (state.sort !== "id") params.set("sort", state.sort);
  if (state.order !== "desc") params.set("order", state.order);
  if (state.where) params.set("where", state.where);
  for (const [key, text] of Object.entries(state.filters)) if (text) params.append("filter", `${key}:${text}`);
  return params;
}

function query(state) {
  const params = paramsOf(state);
  params.set("offset", state.offset);
  params.set("sort", state.sort);
  params.set("order", state.order);
  params.set("limit", state.limit);
  return Object.fromEntries([...params.keys()].map((k) => [k, params.getAll(k)]));
}

export async function renderTrials(root, experiment, params) {
  const state = stateFrom(params);
  const selected = selectionOf(experiment);
  const hiddenKey = `xptrack.hidden.${experiment}`;
  const hidden = new Set(JSON.parse(localStorage.getItem(hiddenKey) || JSON.stringify(HIDDEN_BY_DEFAULT)));
  let columns = [];
  let signature = "";
  let lastBody = "";
  let answer = null;

  const whereInput = h("input", { id: "where", type: "search", placeholder: "pandas query, e.g. lr < 0.1 and Success", value: state.where, size: 40 });
  const problem = h("div", { class: "problem", role: "status" });
  const summary = h("span", { id: "summary", class: "muted" });
  const compareButton = h("button", { id: "compare", type: "button", onclick: () => openCompare(false) }, "Compare selected");
  const clearButton = h("button", { type: "button", onclick: () => { selected.clear(); draw(); } }, "Clear selection");
  const allButton = h("button", { id: "select-filtered", type: "button", onclick: () => openCompare(true) }, "Compare all filtered");
  const pager = h("span", { class: "pager" });
  const columnChoice = h("details", { class: "columns", id: "column-choice" }, h("summary", null, "Columns"));
  const thead = h("thead");
  const tbody = h("tbody");
  const table = h("table", { class: "grid trials", id: "trials" }, thead, tbody);

  mount(root,
    h("h1", null, `Trials of ${experiment}`),
    h("form", { class: "toolbar", onsubmit: (event) => { event.preventDefault(); update({ where: whereInput.value.trim(), offset: 0 }); } },
      h("label", null, "where ", whereInput), h("button", { type: "submit" }, "Apply"), columnChoice),
    problem,
    h("div", { class: "toolbar" }, summary, pager, compareButton, clearButton, allButton),
    h("div", { class: "scroll" }, table));

  function update(change) {
    Object.assign(state, change);
    history.replaceState(null, "", `#/e/${encodeURIComponent(experiment)}` + (paramsOf(state).toString() ? `?${paramsOf(state)}` : ""));
    return load();
  }

  function openCompare(all) {
    const params = new URLSearchParams();
    if (state.where) params.set("where", state.where);
    for (const [key, text] of Object.entries(state.filters)) if (text) params.append("filter", `${key}:${text}`);
    if (all) params.set("all", "1");
    else params.set("ids", [...selected].sort((a, b) => a - b).join(","));
    go(["e", experiment, "compare"], params);
  }

  function header() {
    const visible = columns.filter((c) => !hidden.has(c.key));
    const pageBox = h("input", { type: "checkbox", title: "select this page", onchange: (event) => {
      for (const row of answer.trials) event.target.checked ? selected.add(row.id) : selected.delete(row.id);
      draw();
    } });
    const names = h("tr", null, h("th", null, pageBox), visible.map((c) => {
      const arrow = state.sort === c.key ? (state.order === "asc" ? " ▲" : " ▼") : "";
      return h("th", { class: "sortable", dataset: { key: c.key }, title: `sort by ${c.label}`, onclick: () =>
        update({ sort: c.key, order: state.sort === c.key && state.order === "desc" ? "asc" : "desc", offset: 0 }) }, c.label + arrow);
    }));
    let timer = null;
    const filters = h("tr", { class: "filters" }, h("th"), visible.map((c) => h("th", null, h("input", {
      type: "search", size: 6, placeholder: c.kind === "metrics" || c.kind === "parameters" || c.key === "result" ? ">0.5" : "filter",
      "aria-label": `filter ${c.label}`, dataset: { filter: c.key }, value: state.filters[c.key] || "",
      oninput: (event) => { clearTimeout(timer); timer = setTimeout(() => update({ filters: { ...state.filters, [c.key]: event.target.value }, offset: 0 }), 350); },
    }))));
    mount(thead, names, filters);
    mount(columnChoice, h("summary", null, "Columns"), columns.filter((c) => c.key !== "id").map((c) => h("label", null,
      h("input", { type: "checkbox", checked: !hidden.has(c.key), dataset: { column: c.key }, onchange: (event) => {
        event.target.checked ? hidden.delete(c.key) : hidden.add(c.key);
        localStorage.setItem(hiddenKey, JSON.stringify([...hidden]));
        header(); draw();
      } }), " ", c.label)));
  }

  function cell(column, row) {
    const value = column.value(row);
    if (column.key === "id") return h("td", { class: "num" }, h("a", { href: `#/e/${encodeURIComponent(experiment)}/trial/${row.id}` }, String(row.id)));
    if (column.key === "status") return h("td", null, statusBadge(value));
    if (column.key === "started" || column.key === "finished") return h("td", null, formatTime(value));
    if (column.key === "process_time") return h("td", { class: "num" }, formatDuration(value));
    if (column.key === "tags") return h("td", null, value.map((tag) => h("span", { class: "tag" }, tag)));
    const numeric = typeof value === "number";
    return h("td", { class: numeric ? "num" : null, title: typeof value === "string" && value.length > 40 ? value : null }, formatValue(value));
  }

  function draw() {
    if (!answer) return;
    const visible = columns.filter((c) => !hidden.has(c.key));
    mount(tbody, answer.trials.length ? answer.trials.map((row) => h("tr", { dataset: { trial: row.id }, class: selected.has(row.id) ? "selected" : null },
      h("td", null, h("input", { type: "checkbox", "aria-label": `select trial ${row.id}`, checked: selected.has(row.id), onchange: (event) => {
        event.target.checked ? selected.add(row.id) : selected.delete(row.id);
        draw();
      } })),
      visible.map((c) => cell(c, row)))) : h("tr", null, h("td", { colspan: visible.length + 1, class: "muted" }, "No trial matches.")));
    const first = answer.total ? state.offset + 1 : 0;
    const last = Math.min(state.offset + state.limit, answer.total);
    summary.textContent = `${first.toLocaleString("en")}–${last.toLocaleString("en")} of ${answer.total.toLocaleString("en")}` +
      (answer.total !== answer.count ? ` (filtered from ${answer.count.toLocaleString("en")})` : "") +
      (answer.loading ? " · reading every trial (sorting and filtering wait for it)…" : "") +
      (answer.metrics_pending ? ` · reading metrics of ${answer.metrics_pending.toLocaleString("en")} trials…` : "");
    compareButton.textContent = `Compare selected (${selected.size})`;
    compareButton.disabled = selected.size === 0;
    const lastPage = Math.max(0, Math.floor((answer.total - 1) / state.limit) * state.limit);
    mount(pager,
      h("button", { type: "button", disabled: state.offset === 0, onclick: () => update({ offset: 0 }) }, "«"),
      h("button", { type: "button", id: "previous", disabled: state.offset === 0, onclick: () => update({ offset: Math.max(0, state.offset - state.limit) }) }, "‹ previous"),
      h("button", { type: "button", id: "next", disabled: last >= answer.total, onclick: () => update({ offset: state.offset + state.limit }) }, "next ›"),
      h("button", { type: "button", disabled: last >= answer.total, onclick: () => update({ offset: lastPage }) }, "»"),
      h("select", { "aria-label": "rows per page", onchange: (event) => update({ limit: Number(event.target.value), offset: 0 }) },
        [25, 50, 100, 250].map((n) => h("option", { value: n, selected: n === state.limit ? true : null }, `${n} rows`))));
  }

  async function load() {
    try {
      const fresh = await get(`${experimentPath(experiment)}/trials`, query(state));
      problem.replaceChildren();
      const body = JSON.stringify(fresh);
      if (body === lastBody) return;
      lastBody = body;
      answer = fresh;
      const next = columnsFrom(answer);
      const nextSignature = next.map((c) => c.key).join("\n") + state.sort + state.order;
      columns = next;
      if (nextSignature !== signature) { signature = nextSignature; header(); }
      draw();
    } catch (error) {
      mount(problem, errorBox(error));
    }
  }

  await load();
  return poll(load, 2000);
}
