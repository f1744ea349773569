// The experiments of the store: trial counts, status counts, last activity.
import { h, mount, formatTime, statusBadge } from "./dom.js";
import { get } from "./api.js";
import { poll } from "./poll.js";

export async function renderExperiments(root) {
  const body = h("tbody");
  const table = h("table", { class: "grid", id: "experiments" },
    h("thead", null, h("tr", null, ["Experiment", "Trials", "Statuses", "Last activity"].map((t) => h("th", null, t)))),
    body);
  mount(root, h("h1", null, "Experiments"), table);
  let loading = false;
  const refresh = async () => {
    const { experiments } = await get("/api/experiments");
    loading = experiments.some((experiment) => experiment.loading);
    mount(body, experiments.length ? experiments.map(row) : h("tr", null, h("td", { colspan: 4, class: "muted" }, "No experiments in this store yet.")));
  };
  await refresh();
  return poll(refresh, () => (loading ? 1000 : 5000));
}

function row(experiment) {
  const statuses = Object.entries(experiment.statuses).map(([status, count]) =>
    h("span", { class: "count" }, statusBadge(status), ` ${count}`));
  return h("tr", { dataset: { experiment: experiment.id } },
    h("td", null, h("a", { href: `#/e/${encodeURIComponent(experiment.id)}` }, experiment.id)),
    h("td", { class: "num" }, experiment.trials.toLocaleString("en")),
    h("td", null, experiment.loading ? h("span", { class: "muted" }, "reading the trials…") : statuses),
    h("td", null, formatTime(experiment.last_activity)));
}
