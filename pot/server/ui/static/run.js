// One run: what it was started with (config, environment, git, parents), its metrics over steps, checkpoints,
// validations, artifacts, and the promotion decisions taken on the weights it produced.
import { apiPath, getJson } from "./api.js";
import { h, pageUrl, replace } from "./dom.js";
import { lineChart } from "./chart.js";
import { downloadButton, fileName } from "./download.js";
import { badge, bytes, duration, jsonBlock, metric, number, objectTable, seconds, shortHash, timestamp } from "./fmt.js";
import { run, section, setTitle } from "./layout.js";
import { readLog } from "./records.js";

const PROMOTIONS_READ = 20000; // records read after a run's end looking for decisions on its weights

// Metric series by (name, axis): steps blocks and MetricLogged events over steps, checkpoints over their step
// (or epoch when they have none); one series per node when several nodes report a metric.
export function metricSeries(records) {
  const charts = new Map();
  const put = (name, axis, seriesName, x, y) => {
    const key = JSON.stringify([name, axis]);
    if (!charts.has(key)) charts.set(key, { title: name, xLabel: axis, series: new Map() });
    const series = charts.get(key).series;
    if (!series.has(seriesName)) series.set(seriesName, []);
    series.get(seriesName).push([x, y]);
  };
  const nodes = new Set(records.map((r) => r.node_id ?? ""));
  const label = (source, r) => nodes.size > 1 ? `${source} · ${r.node_id ?? "no node"}` : source;
  for (const r of records) {
    if (r.type === "steps") {
      for (const [name, values] of Object.entries(r.metrics || {})) {
        values.forEach((v, i) => put(name, "step", label("steps", r), r.steps[i], v === null ? null : metric(v)));
      }
    } else if (r.type === "event" && r.event === "MetricLogged" && r.data.step !== null) {
      put(r.data.name, "step", label("logged", r), r.data.step, metric(r.data.value));
    } else if (r.type === "checkpoint") {
      const axis = r.step !== undefined ? "step" : "epoch";
      for (const [name, v] of Object.entries(r.metrics || {})) {
        put(name, axis, label("checkpoints", r), axis === "step" ? r.step : r.epoch, metric(v));
      }
    }
  }
  return [...charts.values()]
    .sort((a, b) => (a.title < b.title ? -1 : a.title > b.title ? 1 : a.xLabel < b.xLabel ? 1 : -1))
    .map((c) => ({ ...c, series: [...c.series.entries()].map(([name, points]) =>
      ({ name, points: points.sort((p, q) => p[0] - q[0]) })) }));
}

function table(headers, rows, empty) {
  if (rows.length === 0) return h("p", { class: "muted" }, empty);
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))));
}

function metricsCell(metrics) {
  const names = Object.keys(metrics || {}).sort();
  if (names.length === 0) return "—";
  return h("span", {}, names.map((n, i) => [i ? ", " : "", `${n} = `,
    h("code", {}, typeof metrics[n] === "number" ? number(metrics[n]) : String(metrics[n]))]));
}

function decisionCell(decision) {
  if (!decision) return "—";
  const checks = (decision.checks || []).map((c) =>
    `${c.metric} ${c.op} ${c.threshold}: ${c.value === null ? "missing" : c.value} ${c.passed ? "✓" : "✗"}`);
  if (decision.score !== null && decision.score !== undefined) checks.push(`score ${number(decision.score)}`);
  if ((decision.missing || []).length) checks.push(`missing ${decision.missing.join(", ")}`);
  return h("span", {}, badge(decision.passed ? "passed" : "refused", decision.passed ? "completed" : "failed"), " ",
    checks.join("; "));
}

run(async (main) => {
  const runId = new URLSearchParams(location.search).get("id");
  if (!runId) throw new Error("which run? (the page wants ?id=RUN_ID)");
  setTitle("run", runId);
  const info = await getJson(apiPath("runs", runId));
  const end = info.end_seq === null ? null : info.end_seq + 1;
  // The run's span of its model's log: the records not of this run in it (another node's validation of its
  // weights, say) matter too.
  const span = await readLog(info.model_id, info.start_seq, end);
  const records = span.records.filter((r) => r.run_id === runId);
  const started = records.find((r) => r.type === "event" && r.event === "RunStarted");
  const data = started ? started.data : info.started_data || {};
  const checkpoints = records.filter((r) => r.type === "checkpoint");
  const hashes = new Set(checkpoints.map((r) => r.model_hash));

  // Decisions on this run's weights come after it, as model events of the same log.
  let after = { records: [], size: span.size, next: span.next };
  if (end !== null && hashes.size > 0) after = await readLog(info.model_id, end, null, PROMOTIONS_READ);
  const later = [...span.records, ...after.records];
  const validations = later.filter((r) => r.type === "validation" && (r.run_id === runId || hashes.has(r.model_hash)));
  const decisions = later.filter((r) => r.type === "event" && !r.run_id &&
    ((["ModelPromoted", "PromotionRefused"].includes(r.event) && hashes.has(r.data.model_hash)) ||
     (r.event === "ModelRolledBack" && (hashes.has(r.data.to_model_hash) || hashes.has(r.data.from_model_hash)))));
  const unread = end !== null && hashes.size > 0 && after.size !== null && after.next < after.size;
  const artifacts = records.filter((r) => r.type === "event" && r.event === "ArtifactSaved");
  const epochOf = new Map(checkpoints.map((r) => [r.model_hash, r.epoch]));
  const hashCell = (hash) => [shortHash(hash), epochOf.has(hash) ? ` (epoch ${epochOf.get(hash)})` : ""];

  const charts = metricSeries(records);
  const git = data.git || {};
  replace(main,
    h("h1", {}, "Run ", h("span", { class: "id" }, runId), " ", badge(info.status ?? "unknown")),
    h("p", { class: "links" },
      h("a", { href: pageUrl("model", { id: info.model_id, start: info.start_seq }) }, "Records in the model log"),
      " · ", h("a", { href: pageUrl("lineage", { id: runId }) }, "Lineage graph"),
      " · ", h("a", { href: pageUrl("", { model: info.model_id }) }, "Other runs of this model")),
    objectTableOf([
      ["Model", h("a", { href: pageUrl("model", { id: info.model_id }) }, info.model_id)],
      ["Kind", info.kind ?? "—"],
      ["Status", info.status ?? "—"],
      ["Started", timestamp(info.started)],
      ["Ended", timestamp(info.ended)],
      ["Duration", duration(seconds(info.started, info.ended))],
      ["User", info.user || "—"],
      ["Rerun of", info.rerun_of ? h("a", { href: pageUrl("run", { id: info.rerun_of }) }, info.rerun_of) : "—"],
      ["Error", info.error ? h("span", { class: "error" }, info.error) : "—"],
      ["Records", `${records.length} (log seq ${info.start_seq}–${info.end_seq ?? "…"})`],
    ]),
    section("Metrics", charts.length ? h("div", { class: "charts" }, charts.map(lineChart))
      : h("p", { class: "muted" }, "No metrics recorded.")),
    section("Checkpoints", table(["seq", "epoch", "step", "model hash", "metrics", "file", "time"],
      checkpoints.map((r) => [String(r.seq), String(r.epoch), r.step ?? "—", shortHash(r.model_hash),
        metricsCell(r.metrics), r.file_name ? [r.file_name, " ", shortHash(r.file_sha256, 8)] : "—",
        timestamp(r.timestamp)]), "No checkpoints.")),
    section("Validations", table(["seq", "validator", "model hash", "results", "confidence", "time"],
      validations.map((r) => [String(r.seq), r.validator_id, hashCell(r.model_hash), metricsCell(r.validation_result),
        r.confidence_score === null ? "—" : number(r.confidence_score), timestamp(r.timestamp)]), "No validations.")),
    section("Artifacts", table(["name", "sha256", "size", "lineage", "time"],
      artifacts.map((r) => [r.data.name, shortHash(r.data.sha256, 16), bytes(r.data.size),
        h("a", { href: pageUrl("lineage", { id: `artifact:${r.data.sha256}` }) }, "graph"), timestamp(r.timestamp)]),
      "No artifacts.")),
    section("Promotion decisions",
      table(["seq", "event", "stage", "model hash", "decision", "time"], decisions.map((r) => [String(r.seq), r.event,
        r.data.stage, r.event === "ModelRolledBack" ? ["to ", hashCell(r.data.to_model_hash)] : hashCell(r.data.model_hash),
        r.event === "ModelRolledBack" ? `reason: ${r.data.reason}` : decisionCell(r.data.decision),
        timestamp(r.timestamp)]), "No promotion decision on this run's weights."),
      unread ? h("p", { class: "note" }, `Read the ${PROMOTIONS_READ.toLocaleString("en")} records after the run; ` +
        "later decisions are in the model log.") : null),
    section("Configuration", h("p", {}, "config hash ", shortHash(data.config_hash, 16), " · ",
      downloadButton("Export the config", apiPath("runs", runId, "config"), fileName(runId, ".run-config.json"),
        { id: "export-config" }), " (what ", h("code", {}, "pot runs export-config"), " writes)"),
      objectTable(data.config)),
    section("Git", objectTableOf([["Commit", git.commit ? h("code", {}, git.commit) : "—"],
      ["Dirty", git.dirty === null || git.dirty === undefined ? "—" : git.dirty ? "yes" : "no"],
      ["Branch", git.branch ?? "—"]])),
    section("Parents", table(["kind", "id", "relation", "digest"], (data.parents || []).map((p) => [p.kind,
      h("a", { href: p.kind === "run" ? pageUrl("run", { id: p.id }) : p.kind === "model" ? pageUrl("model", { id: p.id })
        : pageUrl("lineage", { id: p.id }) }, p.id), p.relation, shortHash(p.digest, 16)]), "No parents.")),
    section("Environment", h("p", {}, "environment hash ", shortHash(data.environment_hash, 16)),
      h("details", {}, h("summary", {}, "Everything recorded"), objectTable(data.environment))),
    started ? null : h("p", { class: "error" }, "This run's RunStarted record was not found in its span of the log."),
    h("details", {}, h("summary", {}, "The run's registry entry"), jsonBlock(Object.fromEntries(
      Object.entries(info).filter(([key]) => key !== "records" && key !== "started_data")))));
});

function objectTableOf(rows) {
  return h("table", { class: "kv" }, h("tbody", {}, rows.map(([key, value]) =>
    h("tr", {}, h("th", { scope: "row" }, key), h("td", {}, value)))));
}
