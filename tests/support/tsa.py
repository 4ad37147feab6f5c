"""A real RFC 3161 time-stamping authority for tests: OpenSSL's ``openssl ts -reply`` behind a small HTTP server.

:func:`make_authority` makes a test CA and a TSA certificate with the ``openssl`` command (extended key usage
``timeStamping``, critical, unless a test asks otherwise); :class:`LocalTsa` answers ``application/timestamp-query``
POSTs with what ``openssl ts -reply`` signs. Nothing here is a stand-in: every token is OpenSSL's.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

OPENSSL = shutil.which("openssl")

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = {serial}
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.55555.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = {ess}
"""


def _run(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL or "openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class Authority:
    """A test CA and the TSA certificate it issued, in ``directory``."""

    directory: Path
    ca_cert: Path  # the certificate a verifier pins
    tsa_cert: Path
    tsa_key: Path
    config: Path
    name: str

    def reply(self, query: bytes) -> bytes:
        """``openssl ts -reply`` for one DER time-stamp query: the DER response. The token carries the TSA's own
        certificate only (certReq): OpenSSL writes a SET OF several certificates in the order given, not in DER's
        sorted order, and rfc3161-client's strict DER reader refuses that."""
        with tempfile.TemporaryDirectory(dir=self.directory) as scratch:
            work = Path(scratch)
            (work / "query.tsq").write_bytes(query)
            _run("ts", "-reply", "-config", str(self.config), "-queryfile", "query.tsq", "-signer",
                 str(self.tsa_cert), "-inkey", str(self.tsa_key), "-out", "reply.tsr", cwd=work)
            return (work / "reply.tsr").read_bytes()


def make_authority(directory: Path, name: str = "pot test TSA", *, days: int = 3650, eku_critical: bool = True,
                   eku: str = "timeStamping", ess: str = "sha256") -> Authority:
    """A CA (``CN=<name> root``) and its TSA certificate (``CN=<name>``). ``days=-1`` makes a TSA certificate that
    is never valid (it expired before it began); ``eku_critical``/``eku`` make certificates a verifier must refuse;
    ``ess`` is the hash of the ESS signing-certificate attribute (``sha1`` gives the v1 attribute)."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", f"/CN={name} root",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         cwd=directory)
    _run("req", "-new", *ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", f"/CN={name}", cwd=directory)
    (directory / "tsa.ext").write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                                       f"extendedKeyUsage={'critical,' if eku_critical else ''}{eku}\n")
    _run("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tsa.pem",
         "-days", str(days), "-extfile", "tsa.ext", cwd=directory)
    (directory / "serial").write_text("01\n")
    config = directory / "tsa.cnf"
    config.write_text(_CONFIG.format(serial=directory / "serial", ess=ess))
    return Authority(directory, directory / "ca.pem", directory / "tsa.pem", directory / "tsa.key", config, name)


class LocalTsa:
    """An HTTP TSA on 127.0.0.1 (a free port) answering with ``authority``'s tokens; a context manager that stops
    it. ``stop()`` takes it down for good (a later request finds nobody listening)."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self.requests = 0
        lock = threading.Lock()  # openssl's serial file is read and rewritten by each reply
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                query = self.rfile.read(length)
                if self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_error(415)
                    return
                try:
                    with lock:
                        outer.requests += 1
                        answer = outer.authority.reply(query)
                except subprocess.CalledProcessError:
                    self.send_error(400)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/tsa"
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-tsa", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> LocalTsa:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stamp(authority: Authority, head: Any) -> dict[str, Any]:
    """The ``tsa`` receipt details for ``head`` from ``authority``, asked directly (no HTTP): for proofs a test
    forges around a real token."""
    import base64

    import rfc3161_client

    from pot.anchors.tsa_receipt import statement
    from pot.log.records import format_timestamp

    request = (rfc3161_client.TimestampRequestBuilder().data(statement(head))
               .hash_algorithm(rfc3161_client.HashAlgorithm.SHA256).nonce(nonce=True).cert_request(cert_request=True)
               .build())
    response = rfc3161_client.decode_timestamp_response(authority.reply(request.as_bytes()))
    token = response.time_stamp_token()
    gen_time = format_timestamp(response.tst_info.gen_time)  # OpenSSL writes whole seconds
    return {"token": base64.b64encode(token).decode("ascii"), "gen_time": gen_time}


def receipt_maker(authority: Authority) -> Any:
    """A :func:`tests.support.forge.forge` receipt maker: a real token of ``authority`` over the forged head."""
    def make(index: int, head: Any) -> tuple[str, dict[str, Any]]:
        return "tsa", stamp(authority, head)
    return make
