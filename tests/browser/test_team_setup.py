"""The team set-up end to end, as the README shows it: `pot serve` on PostgreSQL, two processes on "two nodes"
recording one run through it (each with its own spool and node id, the model id holding slashes as the example's
do), `pot --server URL proof` writing a proof that verifies with the server's key, and the web UI showing that run
and verifying the proof dropped on its verify page."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pot.log.keys import SigningKey
from tests.support.served import Served, clean_env, prepare

from .conftest import Page

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MODEL = "team/digits-mlp/20261130T120000Z"
RUN = "run-team-two-nodes"


def node(served: Served, token: str, spool: Path, name: str, first: int, run: str) -> subprocess.Popen[str]:
    env = clean_env(POT_SERVER_URL=served.url, POT_SERVER_TOKEN=token, POT_SPOOL_DIR=str(spool), POT_NODE_ID=name)
    return subprocess.Popen([sys.executable, "-m", "tests.support.remote_worker", MODEL, str(first), "20", "close",
                             run], cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def pot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pot", *args], capture_output=True, text=True, env=clean_env(),
                          timeout=120)


def test_two_nodes_record_one_run_through_the_server_and_the_ui_shows_and_verifies_it(
        postgres_url: str, tmp_path: Path, tab: Page) -> None:
    root = tmp_path / "server-store"
    token = prepare(root, postgres_url, scope="team/")
    key = SigningKey.load(root / "signing-key.pem").public  # pinned from the key file, not asked of the server
    with Served(root, postgres_url) as served:
        a = node(served, token, tmp_path / "spool-a", "node-a", 0, f"start:{RUN}")
        time.sleep(0.5)  # node b joins the run node a started
        b = node(served, token, tmp_path / "spool-b", "node-b", 100, f"join:{RUN}")
        out_b, err_b = b.communicate(timeout=120)
        out_a, err_a = a.communicate("end\n", timeout=120)  # node a ends the run once node b is done
        assert a.returncode == 0 and b.returncode == 0, err_a + err_b
        for out in (out_a, out_b):  # 20 records acknowledged on each node, none left in its spool at the end
            assert len(out.splitlines()) == 21 and out.splitlines()[-1] == "left 0", out

        proof = tmp_path / "team.proof.json"
        fetched = pot("--server", served.url, "proof", "--model-id", MODEL, "--output", str(proof))
        assert fetched.returncode == 0, fetched.stderr
        verified = pot("verify", str(proof), "--trusted-key", key.hex)
        assert verified.returncode == 0 and "VERIFIED" in verified.stdout, verified.stdout + verified.stderr
        assert "42 record(s)" in verified.stdout  # 20 checkpoints from each node, the run's start and its end

        page = tab.open(served.url + "/ui/run?id=" + RUN)
        page.wait_for_selector("main[data-ready=true]")
        tab.shot("run")
        text = page.inner_text("main")
        assert RUN in text and MODEL in text and "completed" in text

        page = tab.open(served.url + "/ui/model?id=" + MODEL.replace("/", "%2F"))
        page.wait_for_selector("main[data-ready=true]")
        tab.shot("model")
        nodes = {r.split("\t")[4] for r in page.locator("#records tbody tr").all_inner_texts()}
        assert nodes == {"node-a", "node-b"}

        page = tab.verify(served.url, key.hex, proof)
        assert "the proof verifies with the key you gave" in page.inner_text(".verdict")
        assert not tab.errors and not tab.dialogs
