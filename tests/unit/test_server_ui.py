"""The web UI's files as the server hands them out (no browser: tests/browser/ drives one), and the rule that keeps
recorded names from ever becoming markup, checked on the shipped JavaScript itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs the [server] extra")
pytest.importorskip("httpx", reason="needs the [server] extra")

from fastapi.testclient import TestClient

from pot.server.app import create_app
from pot.server.service import ServerSettings
from pot.server.ui import CONTENT_SECURITY_POLICY, PAGES, page_html

STATIC = Path(__file__).resolve().parents[2] / "pot" / "server" / "ui" / "static"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = ServerSettings(root=tmp_path / "store", database=None, key_file=tmp_path / "store" / "signing-key.pem")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_every_page_and_file_is_served_with_the_policy(client: TestClient) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"
    assert client.get("/ui", follow_redirects=False).headers["location"] == "/ui/"
    for page, name in PAGES.items():
        answer = client.get(f"/ui/{page}")
        assert answer.status_code == 200 and answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.text == page_html(name)
        assert f"<title>pot · {name}</title>" in answer.text and f'src="/ui/static/{name}.js"' in answer.text
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    for path in sorted(STATIC.iterdir()):
        answer = client.get(f"/ui/static/{path.name}")
        assert answer.status_code == 200 and answer.content == path.read_bytes()
        assert answer.headers["x-content-type-options"] == "nosniff"
    for missing in ("/ui/admin", "/ui/static/__init__.py", "/ui/static/..%2F__init__.py", "/ui/static/"):
        answer = client.get(missing)
        assert answer.status_code == 404, missing
        assert "__future__" not in answer.text
    assert not any(path.startswith("/ui") or path == "/" for path in client.get("/openapi.json").json()["paths"])


def test_pages_load_only_files_that_exist() -> None:
    for page in PAGES.values():
        html = page_html(page)
        for reference in re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', html):
            assert (STATIC / reference.removeprefix("/ui/static/")).is_file(), (page, reference)
        assert "<script>" not in html and " style=" not in html  # nothing inline: the policy would refuse it
    for module in STATIC.glob("*.js"):
        for imported in re.findall(r'from "\./([^"]+)"', module.read_text()):
            assert (STATIC / imported).is_file(), (module.name, imported)


# Every way a script can turn a string into markup or code. The pages build elements with createElement and text
# nodes (pot/server/ui/static/dom.js); none of these may appear in the shipped code, even on constant strings.
PARSERS = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
                     r"createContextualFragment|DOMParser|srcdoc|setAttribute\(\s*[\"']on")


def test_no_script_parses_markup_or_code() -> None:
    scripts = sorted(STATIC.glob("*.js"))
    assert len(scripts) >= 10
    for script in scripts:
        found = PARSERS.findall(script.read_text())
        assert not found, f"{script.name} uses {found}"
