// The lineage graph of a run, model, dataset or artifact: its ancestors and descendants, drawn, and as a table.
import { apiPath, getJson } from "./api.js";
import { h, pageUrl, replace } from "./dom.js";
import { shortHash, timestamp } from "./fmt.js";
import { drawGraph } from "./graph.js";
import { run, section, setTitle } from "./layout.js";

const TABLE_ROWS = 1000;

function pageOf(node) {
  if (node.kind === "run") return pageUrl("run", { id: node.node_id });
  if (node.kind === "model") return pageUrl("model", { id: node.node_id });
  return null;
}

run(async (main) => {
  const nodeId = new URLSearchParams(location.search).get("id");
  if (!nodeId) throw new Error("which node? (the page wants ?id=RUN, MODEL, DATASET or artifact:SHA256)");
  setTitle("lineage", nodeId);
  const graph = await getJson(apiPath("lineage", nodeId));
  const edgesOf = new Map();
  for (const e of graph.edges) {
    if (!edgesOf.has(e.child)) edgesOf.set(e.child, []);
    edgesOf.get(e.child).push(e);
  }
  const focus = graph.nodes.find((n) => n.node_id === graph.focus);
  replace(main,
    h("h1", {}, "Lineage of ", h("span", { class: "id" }, nodeId)),
    h("p", {}, `${graph.nodes.length} nodes, ${graph.edges.length} edges: what it came from above it, what was ` +
      "derived from it below. Select a node to see its own lineage.",
      focus && pageOf(focus) ? [" ", h("a", { href: pageOf(focus) }, `Open the ${focus.kind}'s page`), "."] : null),
    drawGraph(graph),
    section("Nodes", h("table", { id: "lineage-nodes" },
      h("thead", {}, h("tr", {}, ["node", "kind", "label", "digest", "created", "derived from"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, graph.nodes.slice(0, TABLE_ROWS).map((n) => h("tr", { class: n.node_id === graph.focus ? "target" : null },
        h("td", {}, h("a", { href: pageUrl("lineage", { id: n.node_id }) }, n.node_id),
          pageOf(n) ? [" ", h("a", { href: pageOf(n), class: "muted" }, `(${n.kind} page)`)] : null),
        h("td", {}, n.kind), h("td", {}, n.label ?? "—"), h("td", {}, shortHash(n.digest, 16)),
        h("td", {}, timestamp(n.created)),
        h("td", {}, (edgesOf.get(n.node_id) || []).map((e, i) => [i ? ", " : "", `${e.relation} `, e.parent])))))),
      graph.nodes.length > TABLE_ROWS ? h("p", { class: "note" }, `The first ${TABLE_ROWS} of ${graph.nodes.length} nodes.`) : null));
});
