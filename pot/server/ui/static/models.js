// Every model with a log, its size and how much of it is signed.
import { getJson } from "./api.js";
import { h, pageUrl, replace } from "./dom.js";
import { run, setTitle } from "./layout.js";

run(async (main) => {
  setTitle("models");
  const models = (await getJson("/v1/models")).models;
  const search = h("input", { type: "search", placeholder: "Filter models…", "aria-label": "Filter models", size: 40 });
  const tbody = h("tbody");
  const count = h("p", { class: "summary", "aria-live": "polite" });
  const draw = () => {
    const needle = search.value.trim().toLowerCase();
    const shown = models.filter((m) => !needle || m.model_id.toLowerCase().includes(needle));
    replace(tbody, shown.slice(0, 1000).map((m) => h("tr", {},
      h("td", {}, h("a", { href: pageUrl("model", { id: m.model_id }) }, m.model_id)),
      h("td", { class: "num" }, m.size.toLocaleString("en")), h("td", { class: "num" }, m.signed_size.toLocaleString("en")),
      h("td", {}, h("a", { href: pageUrl("", { model: m.model_id }) }, "runs"), " · ",
        h("a", { href: pageUrl("lineage", { id: m.model_id }) }, "lineage")))));
    replace(count, `${shown.length.toLocaleString("en")} of ${models.length.toLocaleString("en")} models` +
      (shown.length > 1000 ? " (the first 1,000 shown: filter to find the others)" : ""));
  };
  search.addEventListener("input", draw);
  replace(main, h("h1", {}, "Models"), h("div", { class: "controls" }, search), count,
    h("table", { id: "models" }, h("thead", {}, h("tr", {}, ["model", "records", "signed", ""]
      .map((t) => h("th", { scope: "col" }, t)))), tbody));
  draw();
});
