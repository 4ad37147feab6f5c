// The lineage graph drawn as SVG: what a node came from above it, what was derived from it below (edges point from
// child to parent, as `pot lineage --json` gives them). Layers by longest path from the top, order within a layer
// by the barycentre of the neighbours above and below (a few sweeps), boxes linking to each node's own graph.
import { h, pageUrl, s } from "./dom.js";

export const MAX_DRAWN = 120; // more boxes than this are unreadable: draw the focus's neighbourhood instead

const BOX_W = 168;
const BOX_H = 42;
const GAP_X = 24;
const GAP_Y = 56;
const PAD = 16;

// The nodes to draw: all, or those within `depth` steps of the focus (up through parents, down through children)
// for the largest depth that keeps at most MAX_DRAWN; at depth 1 still too many, the first MAX_DRAWN of them.
export function neighbourhood(graph) {
  const ids = graph.nodes.map((n) => n.node_id);
  if (ids.length <= MAX_DRAWN) return { ids: new Set(ids), depth: null, truncated: false };
  const up = new Map();
  const down = new Map();
  for (const e of graph.edges) {
    if (!up.has(e.child)) up.set(e.child, []);
    up.get(e.child).push(e.parent);
    if (!down.has(e.parent)) down.set(e.parent, []);
    down.get(e.parent).push(e.child);
  }
  const within = (depth) => {
    const seen = new Set([graph.focus]);
    for (const links of [up, down]) {
      let frontier = [graph.focus];
      for (let d = 0; d < depth && frontier.length; d++) {
        const next = [];
        for (const id of frontier) for (const other of links.get(id) || []) {
          if (!seen.has(other)) { seen.add(other); next.push(other); }
        }
        frontier = next;
      }
    }
    return seen;
  };
  let depth = 1;
  let chosen = within(1);
  for (let d = 2; d < 64; d++) {
    const wider = within(d);
    if (wider.size > MAX_DRAWN || wider.size === chosen.size) break;
    chosen = wider;
    depth = d;
  }
  if (chosen.size <= MAX_DRAWN) return { ids: chosen, depth, truncated: false };
  const kept = [graph.focus, ...[...chosen].filter((id) => id !== graph.focus).sort().slice(0, MAX_DRAWN - 1)];
  return { ids: new Set(kept), depth: 1, truncated: true };
}

// Layer (row) of each node: 0 for nodes with no parent among those drawn, else one below its lowest parent.
function layers(ids, edges) {
  const parents = new Map([...ids].map((id) => [id, []]));
  const children = new Map([...ids].map((id) => [id, []]));
  for (const e of edges) {
    parents.get(e.child).push(e.parent);
    children.get(e.parent).push(e.child);
  }
  const layer = new Map();
  const waiting = new Map([...ids].map((id) => [id, parents.get(id).length]));
  let ready = [...ids].filter((id) => waiting.get(id) === 0);
  for (const id of ready) layer.set(id, 0);
  while (ready.length) {
    const next = [];
    for (const id of ready) for (const child of children.get(id)) {
      layer.set(child, Math.max(layer.get(child) ?? 0, layer.get(id) + 1));
      waiting.set(child, waiting.get(child) - 1);
      if (waiting.get(child) === 0) next.push(child);
    }
    ready = next;
  }
  for (const id of ids) if (!layer.has(id)) layer.set(id, 0); // a cycle cannot be stored; draw it anyway
  return { layer, parents, children };
}

export function drawGraph(graph) {
  const { ids, depth, truncated } = neighbourhood(graph);
  const byId = new Map(graph.nodes.map((n) => [n.node_id, n]));
  const edges = graph.edges.filter((e) => ids.has(e.child) && ids.has(e.parent) && e.child !== e.parent);
  const { layer, parents, children } = layers(ids, edges);
  const rows = [];
  for (const id of [...ids].sort()) {
    const row = layer.get(id);
    while (rows.length <= row) rows.push([]);
    rows[row].push(id);
  }
  // Barycentre sweeps: down using parents' positions, then up using children's.
  const position = new Map();
  const place = () => rows.forEach((row) => row.forEach((id, i) => position.set(id, i - (row.length - 1) / 2)));
  place();
  const mean = (list) => list.length ? list.reduce((a, id) => a + position.get(id), 0) / list.length : null;
  for (let sweep = 0; sweep < 4; sweep++) {
    const order = sweep % 2 === 0 ? rows.slice(1) : rows.slice(0, -1).reverse();
    for (const row of order) {
      const key = new Map(row.map((id) => [id, mean((sweep % 2 === 0 ? parents : children).get(id)) ?? position.get(id)]));
      row.sort((a, b) => key.get(a) - key.get(b) || (a < b ? -1 : 1));
      row.forEach((id, i) => position.set(id, i - (row.length - 1) / 2));
    }
  }
  const widest = Math.max(...rows.map((row) => row.length));
  const width = PAD * 2 + widest * BOX_W + (widest - 1) * GAP_X;
  const height = PAD * 2 + rows.length * BOX_H + (rows.length - 1) * GAP_Y;
  const centre = new Map();
  rows.forEach((row, r) => row.forEach((id) => {
    centre.set(id, [width / 2 + position.get(id) * (BOX_W + GAP_X), PAD + r * (BOX_H + GAP_Y) + BOX_H / 2]);
  }));

  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", class: "lineage",
    "aria-label": `lineage of ${graph.focus}` });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7,
    markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M0 0 L10 5 L0 10 z" }))));
  const labelled = edges.length <= 40;
  for (const e of edges) {
    const [cx, cy] = centre.get(e.child);
    const [px, py] = centre.get(e.parent);
    const [y1, y2] = cy > py ? [cy - BOX_H / 2, py + BOX_H / 2] : [cy + BOX_H / 2, py - BOX_H / 2];
    const bend = (y2 - y1) / 2;
    const group = s("g", { class: "edge", "data-child": e.child, "data-parent": e.parent },
      s("path", { d: `M${cx} ${y1} C${cx} ${y1 + bend} ${px} ${y2 - bend} ${px} ${y2}`, "marker-end": "url(#arrow)" }),
      s("title", {}, `${e.child} —${e.relation}→ ${e.parent}`));
    if (labelled) group.append(s("text", { x: (cx + px) / 2, y: (y1 + y2) / 2, "text-anchor": "middle" }, e.relation));
    svg.append(group);
  }
  for (const id of ids) {
    const node = byId.get(id) || { node_id: id, kind: "unknown", label: null };
    const [x, y] = centre.get(id);
    const name = node.kind === "artifact" && node.label ? node.label : id;
    const sub = node.kind === "artifact" ? id.slice(0, 21) + "…" : [node.kind, node.label].filter(Boolean).join(" · ");
    svg.append(s("a", { href: pageUrl("lineage", { id }), class: `node ${node.kind}${id === graph.focus ? " focus" : ""}`,
      "data-node": id },
      s("rect", { x: x - BOX_W / 2, y: y - BOX_H / 2, width: BOX_W, height: BOX_H, rx: 6 }),
      s("text", { x, y: y - 3, "text-anchor": "middle", class: "name" }, clip(name, 24)),
      s("text", { x, y: y + 13, "text-anchor": "middle", class: "kind" }, clip(sub, 28)),
      s("title", {}, `${node.kind} ${id}` + (node.label ? ` (${node.label})` : ""))));
  }
  const note = ids.size < graph.nodes.length
    ? h("p", { class: "note" }, `Drawn: ${ids.size} of ${graph.nodes.length} nodes` +
        (truncated ? ", some neighbours of the focus left out" : `, those within ${depth} ${depth === 1 ? "step" : "steps"} of the focus`) +
        "; every node is in the table below.")
    : null;
  return h("div", { class: "graph" }, note, h("div", { class: "graph-scroll" }, svg));
}

function clip(text, length) {
  const value = String(text);
  return value.length > length ? value.slice(0, length - 1) + "…" : value;
}
