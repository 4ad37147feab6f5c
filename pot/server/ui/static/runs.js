// The runs table: every run the server lists, filtered and sorted in the page. Only one page of rows is in the DOM
// at a time, so filtering or sorting 10,000 runs redraws a hundred rows, not ten thousand.
import { getJson } from "./api.js";
import { h, pageUrl, replace } from "./dom.js";
import { badge, duration, seconds, shortHash, timestamp } from "./fmt.js";
import { run, setTitle } from "./layout.js";

const PAGE_SIZES = [50, 100, 500];

const COLUMNS = [
  { key: "run_id", label: "Run", cell: (r) => h("a", { href: pageUrl("run", { id: r.run_id }) }, r.run_id) },
  { key: "model_id", label: "Model", cell: (r) => h("a", { href: pageUrl("model", { id: r.model_id }) }, r.model_id) },
  { key: "kind", label: "Kind", cell: (r) => r.kind ?? "—" },
  { key: "status", label: "Status", cell: (r) => badge(r.status ?? "—") },
  { key: "started", label: "Started", cell: (r) => timestamp(r.started) },
  { key: "duration", label: "Duration", cell: (r) => duration(r.duration), numeric: true },
  { key: "user", label: "User", cell: (r) => r.user || "—" },
  { key: "git_commit", label: "Commit", cell: (r) => r.git_commit ? [shortHash(r.git_commit, 8), r.git_dirty ? " (dirty)" : ""] : "—" },
];

const PAGE = 1000; // the most runs the server lists in one answer
const AHEAD = 3; // pages asked for at once after the first

// Every run the server has (with the model filter of the page's URL, if any), newest first, in pages of
// /v1/runs?offset=; a page shorter than PAGE is the last one. `more(batch)` gets each page as it arrives, so the
// table shows the newest runs while the older ones are still on their way.
async function loadRuns(model, more) {
  const page = (offset) => getJson("/v1/runs", { limit: PAGE, offset: offset || null, model }).then((a) => a.runs);
  const first = await page(0);
  const seen = new Set(first.map((r) => r.run_id));
  let loaded = first.length;
  let full = loaded === PAGE;
  more(first, !full);
  while (full) {
    const batch = await Promise.all(Array.from({ length: AHEAD }, (_, i) => page(loaded + i * PAGE)));
    const fresh = [];
    for (const next of batch) {
      // a server that does not page answers the first page again: stop rather than list runs twice
      if (!full || next.length === 0 || seen.has(next[0].run_id)) { full = false; break; }
      for (const r of next) seen.add(r.run_id);
      fresh.push(...next);
      loaded += next.length;
      full = next.length === PAGE;
    }
    more(fresh, !full);
  }
}

function compare(key, direction) {
  return (a, b) => {
    const x = a[key];
    const y = b[key];
    if (x === y) return 0;
    if (x === null || x === undefined) return 1; // missing values last, either direction
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * direction;
  };
}

function options(values, label) {
  return [h("option", { value: "" }, label), ...values.map((v) => h("option", { value: v }, v))];
}

run(async (main) => {
  const params = new URLSearchParams(location.search);
  const model = params.get("model") || null;
  setTitle("runs", ...(model ? [model] : []));
  const runs = [];
  let complete = false;
  const distinct = (key) => [...new Set(runs.map((r) => r[key]).filter((v) => v !== null && v !== undefined))].sort();

  const state = {
    q: params.get("q") || "", status: params.get("status") || "", kind: params.get("kind") || "",
    sort: COLUMNS.some((c) => c.key === params.get("sort")) ? params.get("sort") : "started",
    dir: params.get("dir") === "asc" ? 1 : -1,
    size: PAGE_SIZES.includes(Number(params.get("size"))) ? Number(params.get("size")) : 100,
    page: Math.max(0, (Number(params.get("page")) || 1) - 1),
  };

  const search = h("input", { type: "search", name: "q", placeholder: "Filter: run, model, kind, user, commit…",
    value: state.q, "aria-label": "Filter runs", size: 40 });
  const status = h("select", { name: "status", "aria-label": "Status" });
  const kind = h("select", { name: "kind", "aria-label": "Kind" });
  const choices = () => { // the statuses and kinds of the runs loaded, keeping what is selected
    replace(status, options([...new Set([...distinct("status"), state.status].filter(Boolean))].sort(), "any status"));
    replace(kind, options([...new Set([...distinct("kind"), state.kind].filter(Boolean))].sort(), "any kind"));
    status.value = state.status;
    kind.value = state.kind;
  };
  const size = h("select", { name: "size", "aria-label": "Rows per page" },
    PAGE_SIZES.map((n) => h("option", { value: n }, `${n} rows`)));
  size.value = String(state.size);
  const summary = h("p", { class: "summary", id: "runs-summary", "aria-live": "polite" });
  const headRow = h("tr");
  const tbody = h("tbody");
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const table = h("table", { class: "runs", id: "runs" }, h("thead", {}, headRow), tbody);

  let view = runs;
  const filter = () => {
    const needle = state.q.trim().toLowerCase();
    view = runs.filter((r) => (!needle || r.haystack.includes(needle)) &&
      (!state.status || r.status === state.status) && (!state.kind || r.kind === state.kind));
    view.sort(compare(state.sort, state.dir));
  };

  const drawHead = () => {
    replace(headRow, COLUMNS.map((c) => {
      const sorted = c.key === state.sort;
      const arrow = sorted ? (state.dir > 0 ? " ▲" : " ▼") : "";
      return h("th", { scope: "col", "aria-sort": sorted ? (state.dir > 0 ? "ascending" : "descending") : "none" },
        h("button", { type: "button", class: "sort", "data-key": c.key, onclick: () => {
          state.dir = sorted ? -state.dir : (c.key === "started" || c.numeric ? -1 : 1);
          state.sort = c.key;
          state.page = 0;
          filter();
          draw();
        } }, c.label + arrow));
    }));
  };

  const draw = () => {
    const pages = Math.max(1, Math.ceil(view.length / state.size));
    const at = Math.min(state.page, pages - 1);
    if (complete) state.page = at; // while older runs load, a page asked for in the URL may not exist yet
    const first = at * state.size;
    const shown = view.slice(first, first + state.size);
    const rows = document.createDocumentFragment();
    for (const r of shown) rows.appendChild(h("tr", {}, COLUMNS.map((c) => h("td", { class: c.key }, c.cell(r)))));
    tbody.replaceChildren(rows);
    tbody.setAttribute("data-rows", String(shown.length));
    drawHead();
    replace(summary, view.length === 0
      ? (runs.length === 0 ? "No runs recorded yet." : `No run of ${runs.length.toLocaleString("en")} matches.`)
      : `${view.length.toLocaleString("en")} ${view.length === 1 ? "run" : "runs"}` +
        (view.length < runs.length ? ` matching, of ${runs.length.toLocaleString("en")}` : "") +
        ` · showing ${(first + 1).toLocaleString("en")}–${(first + shown.length).toLocaleString("en")}`,
      complete ? null : " · loading older runs…");
    const go = (page) => () => { state.page = page; draw(); };
    replace(pager,
      h("button", { type: "button", disabled: at === 0, onclick: go(0) }, "« First"),
      h("button", { type: "button", disabled: at === 0, onclick: go(at - 1) }, "‹ Previous"),
      h("span", {}, ` page ${at + 1} of ${pages} `),
      h("button", { type: "button", disabled: at >= pages - 1, onclick: go(at + 1) }, "Next ›"),
      h("button", { type: "button", disabled: at >= pages - 1, onclick: go(pages - 1) }, "Last »"));
    history.replaceState(null, "", pageUrl("", {
      model, q: state.q, status: state.status, kind: state.kind,
      sort: state.sort === "started" ? null : state.sort, dir: state.dir > 0 ? "asc" : null,
      size: state.size === 100 ? null : state.size, page: state.page > 0 ? state.page + 1 : null,
    }));
  };

  search.addEventListener("input", () => { state.q = search.value; state.page = 0; filter(); draw(); });
  status.addEventListener("change", () => { state.status = status.value; state.page = 0; filter(); draw(); });
  kind.addEventListener("change", () => { state.kind = kind.value; state.page = 0; filter(); draw(); });
  size.addEventListener("change", () => { state.size = Number(size.value); state.page = 0; draw(); });

  let drawn = false;
  const arrived = (batch, last) => {
    for (const r of batch) {
      r.duration = seconds(r.started, r.ended);
      r.haystack = [r.run_id, r.model_id, r.kind, r.status, r.user, r.git_commit].join("\u0000").toLowerCase();
      runs.push(r);
    }
    complete = last;
    choices();
    filter();
    if (drawn) draw();
  };
  let firstArrived;
  const first = new Promise((resolve) => { firstArrived = resolve; });
  const loading = loadRuns(model, (batch, last) => { arrived(batch, last); firstArrived(); });
  await Promise.race([first, loading]); // the first page, or the error that kept it from coming
  replace(main,
    h("h1", {}, model ? ["Runs of ", h("a", { href: pageUrl("model", { id: model }) }, model)] : "Runs"),
    model ? h("p", {}, h("a", { href: pageUrl("") }, "All runs")) : null,
    h("div", { class: "controls" }, search, status, kind, size),
    summary, table, pager);
  drawn = true;
  draw();
  performance.mark("pot:first-rows"); // the newest runs are on screen; older pages may still be loading
  await loading;
});
