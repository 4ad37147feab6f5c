// Saving what an API route answers as a file: fetched with the page's token (a --private server wants one), then
// handed to the browser as a download under a name made safe for any file system.
import { getBlob } from "./api.js";
import { h, pageUrl, replace } from "./dom.js";

// An id as a file name: anything but letters, digits, dot, dash and underscore replaced (an id may hold characters
// no file system takes), no leading dot.
export function fileName(id, suffix) {
  return `${String(id).replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\.+/, "_").slice(0, 120)}${suffix}`;
}

// A button that saves `path` as `name`, saying in `status` what happened.
export function downloadButton(label, path, name, { id, verifyHint = false } = {}) {
  const status = h("span", { class: "status", "aria-live": "polite" });
  const button = h("button", { type: "button", id }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    replace(status, "Fetching…");
    try {
      const blob = await getBlob(path);
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      replace(status, `Saved ${name} (${blob.size.toLocaleString("en")} bytes).`,
        verifyHint ? [" ", h("a", { href: pageUrl("verify") }, "Verify it"), " by dropping it on the verify page."] : null);
    } catch (exc) {
      replace(status, h("span", { class: "error" }, exc.message));
    } finally {
      button.disabled = false;
    }
  });
  return h("span", { class: "download" }, button, " ", status);
}
