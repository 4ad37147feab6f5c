// Drop a proof file: the page sends it to POST /v1/verify and shows every check of the report, as
// `pot verify --json` gives it. The file is read in the browser; nothing is stored on the server.
import { postBytes } from "./api.js";
import { h, replace } from "./dom.js";
import { badge, jsonBlock, shortHash, timestamp } from "./fmt.js";
import { run, section, setTitle } from "./layout.js";

const HEX_KEY = /^[0-9a-f]{64}$/;

function report(result, fileName) {
  const checks = result.checks || [];
  const failed = checks.filter((c) => !c.passed);
  const verdict = result.ok
    ? h("p", { class: "verdict ok", role: "status" }, `✓ ${fileName}: the proof verifies` +
        (result.signer_pinned ? " with the key you gave." : " (signer not pinned: give the signer's public key to check who signed it)."))
    : h("p", { class: "verdict failed", role: "status" }, `✗ ${fileName}: the proof does not verify` +
        (failed.length ? ` (${failed.map((c) => c.name).join(", ")} failed)` : "") + ".");
  const facts = [
    ["Model", result.model_id], ["Disclosure", result.disclosure],
    ["Records", result.record_count === undefined ? null : `${result.record_count} disclosed of ${result.log_size}`],
    ["Signer key id", result.signer_key_id ? shortHash(result.signer_key_id, 16) : null],
    ["Signer public key", result.signer_public_key ? h("code", {}, result.signer_public_key) : null],
    ["Signer pinned", result.signer_pinned === undefined ? null : result.signer_pinned ? "yes" : "no"],
  ].filter(([, value]) => value !== null && value !== undefined);
  return h("div", { class: "report" }, verdict,
    facts.length ? h("table", { class: "kv" }, h("tbody", {}, facts.map(([k, v]) =>
      h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v))))) : null,
    section("Checks", h("table", { id: "checks" },
      h("thead", {}, h("tr", {}, ["", "check", "detail"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, checks.map((c) => h("tr", { class: c.passed ? "passed" : "failed", "data-check": c.name },
        h("td", {}, c.passed ? "✓" : "✗"), h("td", {}, c.name), h("td", {}, c.detail ?? "")))))),
    (result.heads || []).length ? section("Heads: when the records existed", h("table", { id: "report-heads" },
      h("thead", {}, h("tr", {}, ["tree size", "signed", "anchors", "strength", "dated by"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, result.heads.map((x) => h("tr", {}, h("td", {}, String(x.tree_size)), h("td", {}, timestamp(x.timestamp)),
        h("td", {}, (x.anchors || []).join(", ") || "—"), h("td", {}, badge(x.strength ?? "—", "backend")),
        h("td", {}, x.dated_by ?? "—")))))) : null,
    (result.notes || []).length ? section("Notes", h("ul", {}, result.notes.map((n) => h("li", {}, n)))) : null,
    h("details", {}, h("summary", {}, "The whole report (JSON)"), jsonBlock(result)));
}

run(async (where) => {
  setTitle("verify");
  const input = h("input", { type: "file", id: "proof-file", accept: ".json,application/json" });
  const key = h("input", { type: "text", id: "trusted-key", name: "trusted_key", size: 70, autocomplete: "off",
    spellcheck: "false", placeholder: "the signer's Ed25519 public key, 64 hex digits (optional)" });
  const zone = h("label", { class: "dropzone", for: "proof-file", tabindex: "0" },
    h("strong", {}, "Drop a proof file here"), " or choose one: ", input);
  const out = h("div", { id: "result", "aria-live": "polite" });

  const check = async (file) => {
    const trusted = key.value.trim().toLowerCase();
    if (trusted && !HEX_KEY.test(trusted)) {
      replace(out, h("p", { class: "error", role: "alert" }, "The public key must be 64 hex digits (pot key public prints it)."));
      return;
    }
    replace(out, h("p", {}, `Verifying ${file.name}…`));
    out.removeAttribute("data-done");
    try {
      const result = await postBytes("/v1/verify", await file.arrayBuffer(), { trusted_key: trusted || null });
      replace(out, report(result, file.name));
    } catch (exc) {
      replace(out, h("p", { class: "error", role: "alert" }, `${file.name}: ${exc.message}`));
    }
    out.setAttribute("data-done", "true");
  };

  input.addEventListener("change", () => { if (input.files.length) check(input.files[0]); });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.add("over"); });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) check(event.dataTransfer.files[0]);
  });
  // A file dropped beside the zone would make the browser open it instead: take it too.
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) check(event.dataTransfer.files[0]);
  });

  replace(where, h("h1", {}, "Verify a proof"),
    h("p", {}, "Anyone can check a pot proof here: the server runs the same verifier as ",
      h("code", {}, "pot verify --json"), " and shows every check. Without the signer's public key the report says the ",
      "proof is self-consistent, not who signed it."),
    h("p", {}, h("label", { for: "trusted-key" }, "Signer's public key: "), key),
    zone, out);
});

