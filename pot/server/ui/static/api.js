// The JSON API the pages read: the same /v1 routes scripts use (docs/SERVER.md). A server started with --private
// wants a token for reads too; the page asks for one and keeps it in this tab's session storage only.

const TOKEN_KEY = "pot.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// "/v1/models/ID/log" from ["models", ID, "log"]: each segment percent-encoded. "." and ".." cannot be a path
// segment (a browser folds them away before sending), so they are refused here with a clear message.
export function apiPath(...segments) {
  for (const part of segments) {
    if (part === "." || part === "..") throw new ApiError(0, `the id ${JSON.stringify(part)} cannot be put in a URL`);
  }
  return "/v1/" + segments.map(encodeURIComponent).join("/");
}

function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === null || value === undefined || value === "") continue;
    for (const one of Array.isArray(value) ? value : [value]) query.append(key, String(one));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

function headers(extra = {}) {
  const value = token();
  return value ? { ...extra, Authorization: `Bearer ${value}` } : extra;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// fetch, waiting and trying again (up to 5 times) when the server says 429 (the page read too fast).
async function request(url, init) {
  for (let attempt = 0; ; attempt++) {
    let response;
    try {
      response = await fetch(url, init);
    } catch (exc) {
      throw new ApiError(0, `the server did not answer (${exc.message})`);
    }
    if (response.status === 429 && attempt < 5) {
      const wait = Number(response.headers.get("Retry-After")) || 1;
      await sleep(Math.min(wait, 10) * 1000);
      continue;
    }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try {
        const body = await response.json();
        if (body && typeof body.error === "string") message = body.error;
      } catch {
        // not JSON (a proxy's page): the status line says enough
      }
      throw new ApiError(response.status, message);
    }
    return response;
  }
}

export async function getJson(path, params) {
  const response = await request(withQuery(path, params), { headers: headers() });
  return response.json();
}

export async function getBlob(path, params) {
  const response = await request(withQuery(path, params), { headers: headers() });
  return response.blob();
}

export async function postBytes(path, bytes, params) {
  const response = await request(withQuery(path, params), {
    method: "POST", body: bytes, headers: headers({ "Content-Type": "application/json" }),
  });
  return response.json();
}
