// Building the page from data without ever parsing markup. Everything from the store (model ids, metric names,
// configs, error messages) is user input: it goes into the page as text nodes and attribute values only. Nothing in
// the UI parses a string as markup or code (tests/unit/test_server_ui.py lists the APIs that would, and checks that
// no module uses one), and links are checked by safeHref.

const SVG_NS = "http://www.w3.org/2000/svg";

// An element: h("a", {href: "/ui/run?id=" + ..., class: "run"}, "text", child, [more children]).
// Props: class, text attributes, on<event> handlers. null, undefined and false props and children are skipped.
export function h(tag, props = {}, ...children) {
  return fill(document.createElement(tag), props, children);
}

// The same for SVG elements.
export function s(tag, props = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), props, children);
}

function fill(el, props, children) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "href") {
      el.setAttribute("href", safeHref(value));
    } else if (key === "class" && !(el instanceof SVGElement)) {
      el.className = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  add(el, children);
  return el;
}

// Append children: nodes as they are, arrays flattened, anything else as text.
export function add(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) add(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  return el;
}

// Replace an element's children.
export function replace(el, ...children) {
  el.replaceChildren();
  return add(el, children);
}

// A link target the UI made: a path on this server, or an http(s) URL it built (a block explorer). Anything else
// (javascript:, data:, a protocol-relative //host) is refused rather than put in a page.
export function safeHref(value) {
  const text = String(value);
  if (/^\/(?!\/)/.test(text) || /^[?#]/.test(text) || /^https?:\/\/[A-Za-z0-9.-]+(\/|$)/.test(text) ||
      /^blob:/.test(text)) {
    return text;
  }
  throw new Error(`refusing to link to ${JSON.stringify(text).slice(0, 80)}`);
}

// A UI page's URL with its query parameters (any characters: they are encoded here).
export function pageUrl(page, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, String(value));
  }
  const text = query.toString();
  return `/ui/${page}${text ? "?" + text : ""}`;
}
