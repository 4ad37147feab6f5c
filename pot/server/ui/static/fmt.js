// Showing values: hashes shortened (the whole value in the tooltip and copyable), timestamps as recorded, metric
// values as numbers or the strings NaN / Infinity / -Infinity the format uses for them.
import { h } from "./dom.js";

export function shortHash(value, length = 12) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "—");
  const text = String(value);
  if (text.length <= length + 2) return h("code", {}, text);
  return h("code", { title: text, class: "hash" }, text.slice(0, length) + "…");
}

// "2026-11-30T21:39:08.123456Z" -> "2026-11-30 21:39:08Z" (the full text in the tooltip).
export function timestamp(value) {
  if (!value) return h("span", { class: "muted" }, "—");
  const text = String(value);
  const shown = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(text) ? text.slice(0, 10) + " " + text.slice(11, 19) + "Z" : text;
  return h("time", { datetime: text, title: text }, shown);
}

export function seconds(started, ended) {
  if (!started || !ended) return null;
  const ms = Date.parse(ended) - Date.parse(started);
  return Number.isFinite(ms) ? ms / 1000 : null;
}

export function duration(value) {
  if (value === null || value === undefined) return "—";
  if (value < 60) return `${value.toFixed(value < 10 ? 2 : 1)} s`;
  if (value < 3600) return `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
  return `${Math.floor(value / 3600)} h ${Math.round((value % 3600) / 60)} min`;
}

export function number(value) {
  if (typeof value !== "number") return value === null || value === undefined ? "—" : String(value);
  if (Number.isInteger(value)) return String(value);
  const text = Math.abs(value) >= 1e6 || (value !== 0 && Math.abs(value) < 1e-4)
    ? value.toExponential(4) : value.toPrecision(6);
  return text.includes("e") ? text : text.replace(/\.?0+$/, "");
}

// A metric's value: a number, or "NaN" / "Infinity" / "-Infinity" (JSON cannot carry those floats).
export function metric(value) {
  if (value === "NaN") return NaN;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  return typeof value === "number" ? value : null;
}

export function bytes(value) {
  if (typeof value !== "number") return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${size} B` : `${size.toFixed(1)} ${units[unit]}`;
}

// Any JSON value as indented text in a <pre> (as text: nothing in it is markup).
export function jsonBlock(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

// A free-form object (a run's config or environment) as a table of dotted keys and values.
export function objectTable(value, empty = "nothing recorded") {
  const rows = [];
  const walk = (prefix, item) => {
    if (item && typeof item === "object" && !Array.isArray(item) && Object.keys(item).length > 0) {
      for (const key of Object.keys(item).sort()) walk(prefix ? `${prefix}.${key}` : key, item[key]);
    } else {
      rows.push([prefix, typeof item === "string" ? item : JSON.stringify(item)]);
    }
  };
  walk("", value);
  if (rows.length === 0 || (rows.length === 1 && rows[0][0] === "")) return h("p", { class: "muted" }, empty);
  return h("table", { class: "kv" }, h("tbody", {}, rows.map(([key, text]) =>
    h("tr", {}, h("th", { scope: "row" }, key), h("td", {}, h("code", {}, text))))));
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind || String(text)}` }, String(text));
}
