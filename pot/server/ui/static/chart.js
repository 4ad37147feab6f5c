// Line charts of metrics over steps, drawn as SVG by hand: linear axes with round ticks, one line per series,
// gaps where a step did not report the metric or reported NaN or an infinity (counted under the chart, not drawn).
import { h, s } from "./dom.js";
import { number } from "./fmt.js";

const WIDTH = 640;
const HEIGHT = 240;
const MARGIN = { top: 12, right: 16, bottom: 36, left: 64 };
const MAX_MARKED = 60; // points get a dot (with its value in a tooltip) when a series has at most this many

// Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten.
export function ticks(low, high, count = 5) {
  if (!(high > low)) return [low];
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((m) => m >= raw) || 10 * power;
  const out = [];
  for (let value = Math.ceil(low / step) * step; value <= high + step * 1e-9; value += step) {
    out.push(Math.abs(value) < step * 1e-9 ? 0 : Number(value.toPrecision(12)));
  }
  return out;
}

// series: [{name, points: [[x, y], ...]}] with y a number (finite or not) or null; x ascending within a series.
export function lineChart({ title, xLabel, series }) {
  const finite = [];
  let skipped = 0;
  for (const one of series) {
    for (const [x, y] of one.points) {
      if (y === null) continue;
      if (Number.isFinite(y)) finite.push([x, y]);
      else skipped += 1;
    }
  }
  const figure = h("figure", { class: "chart", "data-metric": title });
  const caption = h("figcaption", {}, h("strong", {}, title), ` over ${xLabel}`);
  if (finite.length === 0) {
    return h("figure", { class: "chart", "data-metric": title }, caption,
      h("p", { class: "muted" }, `no finite value to plot (${skipped} NaN or infinite)`));
  }
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [x, y] of finite) {
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  }
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { const pad = Math.abs(y0) * 0.1 || 1; y0 -= pad; y1 += pad; }
  const yTicks = ticks(y0, y1);
  y0 = Math.min(y0, yTicks[0]);
  y1 = Math.max(y1, yTicks[yTicks.length - 1]);
  const xTicks = ticks(x0, x1, 6).filter((t) => t >= x0 && t <= x1);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x) => MARGIN.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y) => MARGIN.top + (1 - (y - y0) / (y1 - y0)) * plotH;

  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: WIDTH, height: HEIGHT, role: "img",
    "aria-label": `${title} over ${xLabel}` });
  const grid = s("g", { class: "axis" });
  for (const t of yTicks) {
    grid.append(s("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: sy(t), y2: sy(t), class: "grid" }),
      s("text", { x: MARGIN.left - 6, y: sy(t) + 4, "text-anchor": "end" }, number(t)));
  }
  for (const t of xTicks) {
    grid.append(s("line", { x1: sx(t), x2: sx(t), y1: HEIGHT - MARGIN.bottom, y2: HEIGHT - MARGIN.bottom + 4 }),
      s("text", { x: sx(t), y: HEIGHT - MARGIN.bottom + 16, "text-anchor": "middle" }, number(t)));
  }
  grid.append(
    s("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: HEIGHT - MARGIN.bottom, y2: HEIGHT - MARGIN.bottom }),
    s("line", { x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom }),
    s("text", { x: MARGIN.left + plotW / 2, y: HEIGHT - 4, "text-anchor": "middle", class: "label" }, xLabel));
  svg.append(grid);

  series.forEach((one, index) => {
    const group = s("g", { class: `series series-${index % 6}`, "data-series": one.name });
    group.append(s("path", { d: pathOf(one.points, sx, sy, plotW), fill: "none" }, s("title", {}, one.name)));
    const marked = one.points.filter(([, y]) => y !== null && Number.isFinite(y));
    if (marked.length <= MAX_MARKED) {
      for (const [x, y] of marked) {
        group.append(s("circle", { cx: sx(x), cy: sy(y), r: 2.5 }, s("title", {}, `${xLabel} ${x}: ${number(y)}`)));
      }
    }
    svg.append(group);
  });
  figure.append(caption, h("div", { class: "chart-scroll" }, svg));
  if (series.length > 1) {
    figure.append(h("ul", { class: "legend" }, series.map((one, index) =>
      h("li", { class: `series-${index % 6}` }, one.name))));
  }
  const last = finite[finite.length - 1];
  figure.append(h("p", { class: "muted" }, `${finite.length} values, ${xLabel} ${number(x0)}–${number(x1)}, ` +
    `last ${number(last[1])}` + (skipped ? `; ${skipped} NaN or infinite not plotted` : "")));
  return figure;
}

// The SVG path of a series: a move at every gap. A series with more points than pixels is drawn through each
// pixel column's lowest and highest value (what the eye would see anyway), so a 100,000-step run stays light.
function pathOf(points, sx, sy, plotW) {
  const parts = [];
  let pen = false;
  const dense = points.length > plotW * 2;
  let column = null;
  let low = null;
  let high = null;
  const flush = () => {
    if (column === null) return;
    parts.push(`${pen ? "L" : "M"}${column.toFixed(1)} ${sy(low).toFixed(1)}`);
    pen = true;
    if (high !== low) parts.push(`L${column.toFixed(1)} ${sy(high).toFixed(1)}`);
    column = null;
  };
  for (const [x, y] of points) {
    if (y === null || !Number.isFinite(y)) {
      flush();
      pen = false;
      continue;
    }
    if (!dense) {
      parts.push(`${pen ? "L" : "M"}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`);
      pen = true;
      continue;
    }
    const at = Math.round(sx(x));
    if (at !== column) {
      flush();
      column = at;
      low = y;
      high = y;
    } else {
      low = Math.min(low, y);
      high = Math.max(high, y);
    }
  }
  flush();
  return parts.join(" ");
}
