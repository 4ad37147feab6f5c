"""The web UI of ``pot serve``: static HTML, CSS and JavaScript modules that read the same JSON API as scripts do.

``mount(app)`` adds the pages under ``/ui/`` (and a redirect from ``/``). Nothing is built at install time: the
files in ``static/`` ship as package data and are served as they are. Every page is the same HTML shell
(``page.html``, with the page's title and module filled in); its module
fetches ``/v1/...`` and builds the page with DOM calls that set text, never markup, so nothing from the store (model
ids, metric names, configs: all user input) is ever parsed as HTML. The Content-Security-Policy on every UI
response allows scripts, styles and requests from this origin only, no inline script and no ``eval``, so even a
mistake in that rule could not run a script someone recorded.

Pages (each names what it shows by query string, so any id, whatever characters it holds, is one parameter):

- ``/ui/`` the runs table; ``/ui/run?id=RUN`` one run; ``/ui/models`` the models; ``/ui/model?id=MODEL`` a model's
  log, heads, anchors and proof download; ``/ui/lineage?id=NODE`` the lineage graph; ``/ui/verify`` the verify page.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from starlette.responses import RedirectResponse, Response

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["CONTENT_SECURITY_POLICY", "PAGES", "mount", "page_html"]

# Everything from this origin only; no inline script or style, no eval, no plugins, not framed, no <base>; forms
# post nowhere (the verify page reads the file in the browser and sends it with fetch).
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate: a server upgraded in place serves its new files at once
}

# URL path under /ui/ -> the page's name: its title, and its module static/NAME.js
PAGES = {"": "runs", "run": "run", "models": "models", "model": "model", "lineage": "lineage", "verify": "verify"}

_MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def _load_files() -> dict[str, tuple[bytes, str]]:
    """Every file of static/ by name, with its media type, read once: only these names are ever served."""
    folder = resources.files(__name__).joinpath("static")
    files = {}
    for entry in folder.iterdir():
        suffix = entry.name[entry.name.rfind("."):]
        if entry.is_file() and suffix in _MEDIA_TYPES:
            files[entry.name] = (entry.read_bytes(), _MEDIA_TYPES[suffix])
    return files


def page_html(name: str) -> str:
    """The HTML shell of page ``name``: page.html, one for every page, with the page's title and module."""
    return resources.files(__name__).joinpath("page.html").read_text(encoding="utf-8").replace("@PAGE@", name)


def mount(app: FastAPI) -> None:
    """Serve the UI from ``app``: the pages under ``/ui/``, their scripts and styles under ``/ui/static/``."""
    files = _load_files()
    missing = sorted(f"{name}.js" for name in PAGES.values() if f"{name}.js" not in files)
    if missing:
        raise RuntimeError(f"pot's web UI is incomplete: {', '.join(missing)} missing from the package")
    pages = {path: page_html(name).encode("utf-8") for path, name in PAGES.items()}

    def serve(name: str) -> Response:
        data, media_type = files[name]
        return Response(data, media_type=media_type, headers=_HEADERS)

    def serve_page(path: str) -> Response:
        return Response(pages[path], media_type=_MEDIA_TYPES[".html"], headers=_HEADERS)

    def not_found(what: str) -> Response:
        return Response(f"no such page: {what}\n", status_code=404, media_type="text/plain; charset=utf-8",
                        headers=_HEADERS)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    @app.get("/ui", include_in_schema=False)
    def ui_root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    @app.get("/ui/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        return serve(name) if name in files else not_found(f"/ui/static/{name}")

    @app.get("/ui/", include_in_schema=False)
    def runs_page() -> Response:
        return serve_page("")

    @app.get("/ui/{page}", include_in_schema=False)
    def page(page: str) -> Response:
        return serve_page(page) if page in PAGES and page else not_found(f"/ui/{page}")
