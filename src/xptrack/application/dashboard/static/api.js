// The dashboard's client of its JSON API (same origin only).

export class ApiError extends Error {}

async function answer(response) {
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new ApiError(body.error || `HTTP ${response.status}`);
  return body;
}

export function url(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) query.append(key, item);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

export async function get(path, params) {
  const target = url(path, params);
  const early = window.xptrackEarly;
  if (early && early.url === target) {  // started by early.js while the modules loaded
    window.xptrackEarly = null;
    return answer(await early.response);
  }
  return answer(await fetch(target, { headers: { Accept: "application/json" } }));
}

export async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  return answer(response);
}

export const experimentPath = (id) => `/api/experiments/${encodeURIComponent(id)}`;
