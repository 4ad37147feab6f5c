// What every page shares: running its module with errors shown in the page, sections, and the token form a server
// started with --private needs before it answers reads.
import { ApiError, setToken, token } from "./api.js";
import { h, replace } from "./dom.js";

export function main() {
  return document.getElementById("main");
}

export function section(title, ...children) {
  return h("section", {}, h("h2", {}, title), ...children);
}

export function setTitle(...parts) {
  document.title = ["pot", ...parts].join(" · ");
}

// Run a page's render(main); an error becomes one line in the page (and a token form when reads need a token).
export async function run(render) {
  const where = main();
  try {
    await render(where);
    where.setAttribute("data-ready", "true");
    performance.mark("pot:ready"); // what benchmarks/bench_ui.py times: navigation start to the page filled
  } catch (exc) {
    showError(where, exc);
    where.setAttribute("data-ready", "error");
  }
}

export function showError(where, exc) {
  const message = exc instanceof Error ? exc.message : String(exc);
  const children = [h("p", { class: "error", role: "alert" }, message)];
  if (exc instanceof ApiError && exc.status === 401) children.push(tokenForm());
  replace(where, ...children);
}

function tokenForm() {
  const input = h("input", { type: "password", name: "token", autocomplete: "off", placeholder: "pot_…", size: 40 });
  const form = h("form", { class: "token" },
    h("label", {}, "This server's logs are private. Token: ", input),
    h("button", { type: "submit" }, "Use token"),
    token() ? h("button", { type: "button", onclick: () => { setToken(null); location.reload(); } }, "Forget token")
      : null,
    h("p", { class: "muted" }, "Kept in this browser tab only (session storage), sent as a bearer token."));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    location.reload();
  });
  return form;
}
