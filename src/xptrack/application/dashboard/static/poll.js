// Refreshing a view while it is shown (live updates while trials run).
const live = document.getElementById("live");

export function poll(refresh, interval) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        await refresh();
        live.hidden = false;
        live.classList.remove("stale");
      } catch (error) {
        live.classList.add("stale");
        live.title = String(error.message || error);
      }
    }
    if (!stopped) timer = setTimeout(tick, delay());
  };
  // ``interval``: milliseconds, or a function giving them (sooner while something loads).
  const delay = typeof interval === "function" ? interval : () => interval;
  timer = setTimeout(tick, delay());
  return () => {
    stopped = true;
    clearTimeout(timer);
    live.hidden = true;
  };
}
