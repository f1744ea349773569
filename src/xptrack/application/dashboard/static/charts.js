// Charts drawn with uPlot (shipped in /static/vendor): metric lines, scatter; and a
// parallel-coordinates canvas of our own.
import { h, color } from "./dom.js";

const sync = uPlot.sync("metrics");

export function smooth(values, weight) {
  if (!weight) return values;
  let last = null;
  return values.map((v) => {
    if (v === null) return null;
    last = last === null ? v : last * weight + v * (1 - weight);
    return last;
  });
}

// Series of several trials on one epoch axis: the union of their epochs, gaps as null.
export function align(series) {
  const epochs = [...new Set(series.flatMap((s) => s.epochs))].sort((a, b) => a - b);
  const position = new Map(epochs.map((e, i) => [e, i]));
  const columns = series.map((s) => {
    const column = new Array(epochs.length).fill(null);
    s.epochs.forEach((epoch, i) => { column[position.get(epoch)] = s.values[i]; });
    return column;
  });
  return [epochs, ...columns];
}

function width(container) {
  return Math.max(320, Math.min(container.clientWidth || 900, 1400) - 8);
}

export function metricChart(container, key, series, { log = false, smoothing = 0 } = {}) {
  const aligned = align(series);
  const data = [aligned[0], ...aligned.slice(1).map((column) =>
    smooth(column, smoothing).map((v) => (log && v !== null && v <= 0 ? null : v)))];
  const options = {
    title: key,
    width: width(container),
    height: 280,
    cursor: { sync: { key: sync.key }, focus: { prox: 16 } },
    focus: { alpha: 0.3 },
    scales: { x: { time: false }, y: { distr: log ? 3 : 1 } },
    axes: [{ label: "epoch" }, { label: key, size: 70 }],
    series: [{ label: "epoch" }, ...series.map((s, i) => ({
      label: `trial ${s.trial}`, stroke: color(i), width: 1.5, spanGaps: true,
      points: { show: false },
    }))],
  };
  const holder = h("div", { class: "chart", dataset: { metric: key } });
  container.append(holder);
  return new uPlot(options, data, holder);
}

export function scatterChart(container, xLabel, yLabel, xs, ys, ids) {
  const points = xs.map((x, i) => [x, ys[i], ids[i]]).filter(([x, y]) => x !== null && y !== null).sort((a, b) => a[0] - b[0]);
  const holder = h("div", { class: "chart", id: "scatter" });
  container.append(holder);
  const options = {
    title: `${yLabel} vs ${xLabel}`,
    width: width(container),
    height: 300,
    scales: { x: { time: false } },
    axes: [{ label: xLabel }, { label: yLabel, size: 70 }],
    series: [{ label: xLabel }, {
      label: yLabel, stroke: color(0), fill: color(0), paths: () => null,
      points: { show: true, size: 6, stroke: color(0), fill: color(0) },
    }, { label: "trial", show: false }],
  };
  return new uPlot(options, [points.map((p) => p[0]), points.map((p) => p[1]), points.map((p) => p[2])], holder);
}

// Parallel coordinates: one vertical axis per column, one polyline per trial, coloured
// by the last column (blue low, red high).
export function parallelChart(container, labels, columns) {
  const canvas = h("canvas", { id: "parallel", class: "parallel", role: "img", "aria-label": `parallel coordinates of ${labels.join(", ")}` });
  container.append(canvas);
  const w = width(container), hgt = 320, ratio = window.devicePixelRatio || 1;
  canvas.width = w * ratio; canvas.height = hgt * ratio;
  canvas.style.width = `${w}px`; canvas.style.height = `${hgt}px`;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  const top = 44, bottom = hgt - 30, left = 50, right = w - 50;
  const step = labels.length > 1 ? (right - left) / (labels.length - 1) : 0;
  const ranges = columns.map((values) => {
    const finite = values.filter((v) => v !== null);
    const low = Math.min(...finite), high = Math.max(...finite);
    return finite.length ? [low, high === low ? low + 1 : high] : [0, 1];
  });
  const y = (k, v) => bottom - ((v - ranges[k][0]) / (ranges[k][1] - ranges[k][0])) * (bottom - top);
  const rows = columns.length ? columns[0].length : 0;
  const last = columns.length - 1;
  g.globalAlpha = rows > 2000 ? 0.15 : rows > 200 ? 0.35 : 0.8;
  for (let r = 0; r < rows; r++) {
    const colourValue = columns[last][r];
    const t = colourValue === null ? 0.5 : (colourValue - ranges[last][0]) / (ranges[last][1] - ranges[last][0]);
    g.strokeStyle = `rgb(${Math.round(40 + 200 * t)}, 80, ${Math.round(240 - 200 * t)})`;
    g.beginPath();
    let drawing = false;
    for (let k = 0; k < columns.length; k++) {
      const v = columns[k][r];
      if (v === null) { drawing = false; continue; }
      const x = left + k * step, py = y(k, v);
      drawing ? g.lineTo(x, py) : g.moveTo(x, py);
      drawing = true;
    }
    g.stroke();
  }
  g.globalAlpha = 1;
  g.fillStyle = "#222"; g.strokeStyle = "#555"; g.font = "12px sans-serif"; g.textAlign = "center";
  labels.forEach((label, k) => {
    const x = left + k * step;
    g.beginPath(); g.moveTo(x, top); g.lineTo(x, bottom); g.stroke();
    g.font = "bold 12px sans-serif";
    g.fillText(label, x, top - 24);
    g.font = "12px sans-serif";
    g.fillText(short(ranges[k][1]), x, top - 8);
    g.fillText(short(ranges[k][0]), x, bottom + 14);
  });
  return canvas;
}

function short(value) {
  return Math.abs(value) >= 1e4 || (Math.abs(value) < 1e-2 && value !== 0) ? value.toExponential(2) : String(Number(value.toPrecision(4)));
}
