// One trial: status, result, error and traceback, output, steps, parameters, metrics,
// persisted outputs, code, environment, packages; tags and note editable.
import { h, mount, section, formatValue, formatTime, formatDuration, statusBadge, errorBox } from "./dom.js";
import { get, post, experimentPath } from "./api.js";
import { poll } from "./poll.js";

export async function renderTrial(root, experiment, trialId) {
  const base = `${experimentPath(experiment)}/trials/${trialId}`;
  let trial = await get(base);
  const draw = () => mount(root, page(experiment, trial, async (change) => {
    trial = await post(`${base}/labels`, change);
    draw();
  }));
  draw();
  if (trial.status !== "running") return null;
  return poll(async () => {
    const fresh = await get(base);
    if (JSON.stringify(fresh) !== JSON.stringify(trial)) { trial = fresh; draw(); }
  }, 2000);
}

function facts(trial) {
  const rows = [
    ["Status", statusBadge(trial.status)],
    ["Result", trial.result_type ? [formatValue(trial.result), h("span", { class: "muted" }, ` (${trial.result_type})`)] : formatValue(trial.result)],
    ["Seed", formatValue(trial.seed)],
    ["Started", formatTime(trial.started)],
    ["Finished", formatTime(trial.finished)],
    ["Process time", formatDuration(trial.process_time)],
  ];
  if (trial.heartbeat) rows.push(["Heartbeat", formatTime(trial.heartbeat)]);
  return h("dl", { class: "facts" }, rows.flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
}

function page(experiment, trial, change) {
  return [
    h("h1", null, `Trial ${trial.id} of ${experiment} `, statusBadge(trial.status)),
    h("div", { class: "columns-2" }, section("Summary", facts(trial)), labels(trial, change)),
    trial.error || trial.traceback ? section("Error", h("p", { class: "error-line" }, trial.error || ""),
      trial.traceback ? h("pre", { class: "traceback", id: "traceback" }, trial.traceback) : null) : null,
    section("Parameters", keyValues(trial.parameters)),
    section("Steps", timeline(trial)),
    section("Metrics", metrics(experiment, trial)),
    section("Persisted outputs", persisted(experiment, trial)),
    section("Captured output", trial.output ? h("pre", { id: "output" }, trial.output) : h("p", { class: "muted" }, "Nothing printed or logged.")),
    section("Code", trial.code ? h("pre", { class: "code" }, trial.code) : h("p", { class: "muted" }, "Not recorded.")),
    section("Environment", environment(trial.environment)),
    section("Packages", packages(trial.packages)),
  ];
}

function keyValues(values) {
  const entries = Object.entries(values || {});
  if (!entries.length) return h("p", { class: "muted" }, "None.");
  return h("table", { class: "grid kv" }, h("tbody", null, entries.map(([k, v]) => h("tr", null, h("th", null, k), h("td", null, formatValue(v))))));
}

function labels(trial, change) {
  const problem = h("div", { role: "status" });
  const act = (body) => change(body).catch((error) => mount(problem, errorBox(error)));
  const input = h("input", { id: "new-tag", type: "text", placeholder: "new tag", size: 14 });
  const note = h("textarea", { id: "note", rows: 3, cols: 40, value: trial.note, "aria-label": "note" });
  return section("Tags and note",
    h("div", { id: "tags" }, trial.tags.length ? trial.tags.map((tag) => h("span", { class: "tag" }, tag,
      h("button", { type: "button", class: "untag", title: `remove tag ${tag}`, "aria-label": `remove tag ${tag}`, onclick: () => act({ remove_tags: [tag] }) }, "×"))) : h("span", { class: "muted" }, "No tags.")),
    h("form", { class: "toolbar", onsubmit: (event) => { event.preventDefault(); if (input.value.trim()) act({ add_tags: [input.value.trim()] }); } },
      input, h("button", { id: "add-tag", type: "submit" }, "Add tag")),
    h("form", { onsubmit: (event) => { event.preventDefault(); act({ note: note.value }); } },
      note, h("div", null, h("button", { id: "save-note", type: "submit" }, "Save note"))),
    problem);
}

function timeline(trial) {
  if (!trial.steps.length) return h("p", { class: "muted" }, "No steps recorded.");
  const start = Math.min(...trial.steps.map((s) => Date.parse(s.started)));
  const end = Math.max(...trial.steps.map((s) => Date.parse(s.finished || s.started)));
  const span = Math.max(end - start, 1);
  return h("table", { class: "grid timeline" }, h("tbody", null, trial.steps.map((step) => {
    const left = ((Date.parse(step.started) - start) / span) * 100;
    const width = Math.max(((Date.parse(step.finished || step.started) - Date.parse(step.started)) / span) * 100, 0.5);
    const cached = step.cached_from !== null && step.cached_from !== undefined;
    return h("tr", { class: cached ? "cached" : null },
      h("th", null, step.name),
      h("td", { class: "num" }, formatDuration(step.duration)),
      h("td", null, cached ? h("span", { class: "tag" }, `cached from trial ${step.cached_from}`) : ""),
      h("td", { class: "bar-cell" }, bar(left, width)));
  })));
}

function bar(left, width) {
  const element = h("div", { class: "bar" });
  element.style.marginLeft = `${left}%`;  // through the CSSOM: allowed by the page's CSP
  element.style.width = `${width}%`;
  return element;
}

function metrics(experiment, trial) {
  if (!trial.metrics.length) return h("p", { class: "muted" }, "No metrics saved.");
  const chart = `#/e/${encodeURIComponent(experiment)}/compare?ids=${trial.id}`;
  return [h("table", { class: "grid" }, h("thead", null, h("tr", null, ["Metric", "Points", "Last epoch", "Last value"].map((t) => h("th", null, t)))),
    h("tbody", null, trial.metrics.map((m) => h("tr", null, h("td", null, m.key), h("td", { class: "num" }, m.points.toLocaleString("en")), h("td", { class: "num" }, m.last_epoch), h("td", { class: "num" }, formatValue(m.last)))))),
  h("p", null, h("a", { href: chart }, "Chart these metrics"))];
}

function persisted(experiment, trial) {
  if (!trial.persisted.length) return h("p", { class: "muted" }, "None.");
  return h("table", { class: "grid" }, h("tbody", null, trial.persisted.map((p) => h("tr", null,
    h("th", null, p.step), h("td", null, h("code", null, p.repr)),
    h("td", null, h("a", { href: `${experimentPath(experiment)}/trials/${trial.id}/persisted/${encodeURIComponent(p.step)}`, download: "" }, "download"))))));
}

function environment(categories) {
  if (!categories) return h("p", { class: "muted" }, "Not recorded.");
  return Object.entries(categories).map(([name, text]) => h("details", { class: "env", open: ["device", "python", "git"].includes(name) ? true : null },
    h("summary", null, name), h("pre", null, text || "(empty)")));
}

function packages(info) {
  if (!info) return h("p", { class: "muted" }, "Not recorded.");
  const changes = [];
  if (info.compared) {
    for (const line of info.added) changes.push(h("li", { class: "add" }, `+ ${line}`));
    for (const line of info.removed) changes.push(h("li", { class: "del" }, `− ${line}`));
    for (const c of info.changed) changes.push(h("li", { class: "changed" }, `${c.name}: ${c.before} → ${c.after}`));
  }
  return [
    h("h3", null, "Changes since the previous trial"),
    info.compared ? (changes.length ? h("ul", { id: "package-changes" }, changes) : h("p", { class: "muted" }, "None.")) : h("p", { class: "muted" }, "No earlier trial to compare with."),
    h("details", null, h("summary", null, `${info.list.length} installed distributions`), h("pre", null, info.list.join("\n"))),
  ];
}
