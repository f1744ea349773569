// The single page: a hash router over the four views.
import { h, mount, errorBox } from "./dom.js";
import { get } from "./api.js";
import { renderExperiments } from "./experiments.js";
import { renderTrials } from "./trials.js";
import { renderCompare } from "./compare.js";
import { renderTrial } from "./trial.js";

const app = document.getElementById("app");
const crumbs = document.getElementById("crumbs");
let cleanup = null;

export function parseHash() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = (path || "/").split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query || "") };
}

export function go(parts, params) {
  const path = "#/" + parts.map(encodeURIComponent).join("/");
  const query = params ? params.toString() : "";
  location.hash = query ? `${path}?${query}` : path;
}

function setCrumbs(parts) {
  const items = [];
  if (parts[0] === "e" && parts[1]) {
    items.push(h("a", { href: `#/e/${encodeURIComponent(parts[1])}` }, parts[1]));
    if (parts[2] === "trial") items.push(h("span", null, `trial ${parts[3]}`));
    if (parts[2] === "compare") items.push(h("span", null, "compare"));
  }
  mount(crumbs, items.flatMap((item) => [h("span", { class: "sep" }, "›"), item]));
}

async function route() {
  if (cleanup) cleanup();
  cleanup = null;
  const { parts, params } = parseHash();
  if (!parts.length) {  // the start: the experiment the dashboard was opened on, or all of them
    const listing = await get("/api/experiments").catch(() => null);
    return go(listing && listing.default ? ["e", listing.default] : ["experiments"]);
  }
  setCrumbs(parts);
  try {
    if (parts[0] === "e" && parts[1] && parts[2] === "trial") cleanup = await renderTrial(app, parts[1], Number(parts[3]));
    else if (parts[0] === "e" && parts[1] && parts[2] === "compare") cleanup = await renderCompare(app, parts[1], params);
    else if (parts[0] === "e" && parts[1]) cleanup = await renderTrials(app, parts[1], params);
    else cleanup = await renderExperiments(app);
  } catch (error) {
    mount(app, errorBox(error));
  }
}

window.addEventListener("hashchange", route);
route();
