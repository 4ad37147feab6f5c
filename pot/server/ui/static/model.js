// A model's log: its records page by page, its signed heads, the anchors of those heads (with links to the chain),
// and the proof to download (full, as the API serves it).
import { apiPath, getJson } from "./api.js";
import { downloadButton, fileName } from "./download.js";
import { h, pageUrl, replace } from "./dom.js";
import { receiptTime, receiptWhere } from "./anchors.js";
import { badge, jsonBlock, shortHash, timestamp } from "./fmt.js";
import { run, section, setTitle } from "./layout.js";
import { summary } from "./records.js";

const PAGE_SIZE = 100;

// Heads and receipts from a partial proof of the first record: a proof carries every head and every receipt, and
// disclosing one record keeps it small however long the log is.
async function headsAndAnchors(modelId, firstId) {
  const proof = await getJson(apiPath("models", modelId, "proof"), { record: firstId });
  return { heads: proof.tree_heads || [], anchors: proof.anchors || [] };
}

run(async (main) => {
  const params = new URLSearchParams(location.search);
  const modelId = params.get("id");
  if (!modelId) throw new Error("which model? (the page wants ?id=MODEL_ID)");
  setTitle("model", modelId);
  const wanted = Math.max(0, Number.parseInt(params.get("start") || "0", 10) || 0);
  const first = Math.floor(wanted / PAGE_SIZE) * PAGE_SIZE;
  const page = await getJson(apiPath("models", modelId, "log"), { start: first, limit: PAGE_SIZE });
  const heads = (await getJson(apiPath("models", modelId, "heads"))).heads;
  const signed = heads.length ? heads[heads.length - 1].head.tree_size : 0;
  let anchors = [];
  if (signed > 0) {
    const firstRecord = first === 0 && page.records.length ? page.records[0]
      : (await getJson(apiPath("models", modelId, "log"), { start: 0, limit: 1 })).records[0];
    anchors = (await headsAndAnchors(modelId, firstRecord.id)).anchors;
  }


  const pages = Math.max(1, Math.ceil(page.size / PAGE_SIZE));
  const at = first / PAGE_SIZE;
  const link = (n, text) => n >= 0 && n < pages && n !== at
    ? h("a", { href: pageUrl("model", { id: modelId, start: n * PAGE_SIZE }) }, text) : h("span", { class: "muted" }, text);
  const pager = h("nav", { class: "pager", "aria-label": "Pages" }, link(0, "« First"), " ", link(at - 1, "‹ Previous"),
    ` records ${page.records.length ? first : 0}–${first + page.records.length - 1} of ${page.size.toLocaleString("en")} `,
    link(at + 1, "Next ›"), " ", link(pages - 1, "Last »"));

  const anchorsByHead = new Map();
  for (const receipt of anchors) {
    if (!anchorsByHead.has(receipt.head_hash)) anchorsByHead.set(receipt.head_hash, []);
    anchorsByHead.get(receipt.head_hash).push(receipt);
  }

  replace(main,
    h("h1", {}, "Model ", h("span", { class: "id" }, modelId)),
    h("p", { class: "links" }, h("a", { href: pageUrl("", { model: modelId }) }, "Runs of this model"), " · ",
      h("a", { href: pageUrl("lineage", { id: modelId }) }, "Lineage graph")),
    h("p", {}, `${page.size.toLocaleString("en")} records, ${signed.toLocaleString("en")} under the latest signed head` +
      (page.size > signed ? ` (${page.size - signed} not signed yet)` : "") + ". "),
    h("p", { class: "proof" }, downloadButton("Download the proof", apiPath("models", modelId, "proof"),
      fileName(modelId, ".proof.json"), { id: "download-proof", verifyHint: true })),
    section("Records",
      h("table", { class: "records", id: "records" },
        h("thead", {}, h("tr", {}, ["seq", "type", "what", "run", "node", "lamport", "time", "id"]
          .map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, page.records.map((r) => h("tr", { id: `seq-${r.seq}`, class: r.seq === wanted && wanted ? "target" : null },
          h("td", {}, String(r.seq)), h("td", {}, r.type === "event" ? r.event : r.type),
          h("td", {}, h("details", {}, h("summary", {}, summary(r)), jsonBlock(r))),
          h("td", {}, r.run_id ? h("a", { href: pageUrl("run", { id: r.run_id }) }, r.run_id) : "—"),
          h("td", {}, r.node_id ?? "—"), h("td", {}, r.lamport ?? "—"), h("td", {}, timestamp(r.timestamp)),
          h("td", {}, shortHash(r.id, 10)))))),
      pager),
    section("Signed tree heads",
      heads.length === 0 ? h("p", { class: "muted" }, "No head signed yet.") :
        h("table", { id: "heads" }, h("thead", {}, h("tr", {}, ["tree size", "root hash", "head hash", "signed", "anchors"]
          .map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, heads.slice().reverse().map((signedHead) => {
          const receipts = anchorsByHead.get(signedHead.head_hash) || [];
          return h("tr", {}, h("td", {}, String(signedHead.head.tree_size)), h("td", {}, shortHash(signedHead.head.root_hash)),
            h("td", {}, shortHash(signedHead.head_hash)), h("td", {}, timestamp(signedHead.head.timestamp)),
            h("td", {}, receipts.length ? receipts.map((r) => badge(r.backend, "backend")) : "—"));
        })))),
    section("Anchors",
      anchors.length === 0 ? h("p", { class: "muted" }, signed ? "No head of this log is anchored yet." : "Nothing to anchor yet.") :
        h("table", { id: "anchors" }, h("thead", {}, h("tr", {}, ["backend", "head", "where", "when"]
          .map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, anchors.map((receipt) => {
          const head = heads.find((x) => x.head_hash === receipt.head_hash);
          return h("tr", { class: `anchor ${receipt.backend}` }, h("td", {}, badge(receipt.backend, "backend")),
            h("td", {}, head ? `tree size ${head.head.tree_size}` : shortHash(receipt.head_hash)),
            h("td", {}, receiptWhere(receipt)), h("td", {}, receiptTime(receipt)));
        })))));
  const target = wanted ? document.getElementById(`seq-${wanted}`) : null;
  if (target) target.scrollIntoView({ block: "center" });
});
