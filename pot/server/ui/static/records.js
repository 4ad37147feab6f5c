// Reading a model's log page by page (GET /v1/models/{id}/log), and one-line summaries of records.
import { apiPath, getJson } from "./api.js";
import { number } from "./fmt.js";

export const PAGE = 1000; // the server's largest page

// Records start .. end-1 of a model's log (end null: to the log's end, at most `cap` records), in log order.
export async function readLog(modelId, start, end, cap = Infinity) {
  const records = [];
  let at = start;
  let size = null;
  while (end === null || at < end) {
    const want = Math.min(PAGE, end === null ? PAGE : end - at, cap - records.length);
    if (want <= 0) break;
    const page = await getJson(apiPath("models", modelId, "log"), { start: at, limit: want });
    size = page.size;
    records.push(...page.records);
    if (page.next === null || page.records.length === 0) break;
    at = page.next;
  }
  return { records, size, next: records.length ? records[records.length - 1].seq + 1 : start };
}

function metricsText(metrics) {
  const names = Object.keys(metrics || {}).sort();
  const shown = names.slice(0, 4).map((name) => `${name}=${typeof metrics[name] === "number" ? number(metrics[name]) : metrics[name]}`);
  return shown.join(", ") + (names.length > 4 ? `, … (${names.length})` : "");
}

// What a record says, in a line (its kind's main fields).
export function summary(record) {
  switch (record.type) {
    case "checkpoint":
      return `epoch ${record.epoch}${record.step !== undefined ? `, step ${record.step}` : ""}` +
        (Object.keys(record.metrics || {}).length ? `: ${metricsText(record.metrics)}` : "") +
        (record.file_name ? ` · ${record.file_name}` : "");
    case "validation":
      return `by ${record.validator_id}: ${metricsText(record.validation_result)}`;
    case "steps": {
      const steps = record.steps || [];
      return `steps ${steps[0]}–${steps[steps.length - 1]} (${steps.length}): ${Object.keys(record.metrics || {}).sort().join(", ")}`;
    }
    case "event": {
      const d = record.data || {};
      switch (record.event) {
        case "RunStarted": return `RunStarted: ${d.kind}` + (d.parents && d.parents.length ? `, ${d.parents.length} parent(s)` : "");
        case "RunCompleted": return `RunCompleted: ${d.status}` + (d.error ? ` (${d.error})` : "");
        case "MetricLogged": return `MetricLogged: ${d.name}=${typeof d.value === "number" ? number(d.value) : d.value}` +
          (d.step !== null && d.step !== undefined ? ` at step ${d.step}` : "");
        case "ArtifactSaved": return `ArtifactSaved: ${d.name}`;
        case "ModelPromoted": return `ModelPromoted to ${d.stage}`;
        case "PromotionRefused": return `PromotionRefused for ${d.stage}`;
        case "ModelRolledBack": return `ModelRolledBack ${d.stage}: ${d.reason}`;
        default: return String(record.event);
      }
    }
    default:
      return String(record.type);
  }
}
