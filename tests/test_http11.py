"""The probe's own HTTP/1.1 client (wire/_http.py) does what httpx did for a probe.

A loopback HTTPS server records each request it gets and answers as the test asks:
compressed error pages, keep-alive or not, the request target and headers as sent.
"""

from __future__ import annotations

import gzip
import json
import ssl
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from loopback import tls_without_client_auth

from mtlsgate.wire.outcome import Accepted, RejectedHTTP
from mtlsgate.wire.probe import ECHO_MARKER, Endpoint, Prober, Transport

NGINX_400 = b"<html><head><title>400 No required SSL certificate was sent</title></head></html>"


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5
    seen: list[dict[str, object]]  # set per server

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append({"path": self.path, "headers": list(self.headers.items()),
                          "connection": self.client_address[1]})
        body, extra, status = b"", [], 200
        if self.path.startswith("/gzip"):
            body, extra, status = gzip.compress(NGINX_400), [("Content-Encoding", "gzip")], 400
        elif self.path.startswith("/deflate"):
            raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # raw deflate, no zlib header: httpx accepted it too
            body, extra, status = raw.compress(NGINX_400) + raw.flush(), [("Content-Encoding", "deflate")], 400
        elif self.path.startswith("/close"):
            body, extra = b"bye", [("Connection", "close")]
            self.close_connection = True
        else:
            body = json.dumps({ECHO_MARKER: True, "headers": list(self.headers.items())}).encode()
        self.send_response(status)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def recording_server(tls: ssl.SSLContext) -> Iterator[tuple[int, list[dict[str, object]]]]:
    seen: list[dict[str, object]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def server(tmp_path):
    tls, ca_file = tls_without_client_auth(tmp_path)
    with recording_server(tls) as (port, seen):
        yield Prober(tmp_path, ca_file), Endpoint("127.0.0.1", port), seen


@pytest.mark.parametrize("path", ["/gzip", "/deflate"])
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_a_compressed_error_page_is_read_decompressed(server, path, version):
    prober, endpoint, _ = server
    outcome = prober.probe(endpoint, None, Transport(version, "mtlsgate.test", path=path))
    assert isinstance(outcome, RejectedHTTP) and outcome.status == 400
    assert outcome.marker == "No required SSL certificate was sent"
    assert outcome.evidence.tls_version == f"TLSv{version}"  # the negotiated version, read before the close


def test_requests_share_one_kept_alive_connection_and_a_closing_server_gets_a_new_one(server):
    prober, endpoint, seen = server
    kept = prober.probe(endpoint, None, Transport("1.3", "mtlsgate.test", requests=3))
    assert isinstance(kept, Accepted) and kept.reached_backend and kept.evidence.requests == 3
    assert kept.evidence.detail == "connections used: 1" and len({r["connection"] for r in seen}) == 1
    seen.clear()
    closed = prober.probe(endpoint, None, Transport("1.2", "mtlsgate.test", path="/close", requests=3))
    assert isinstance(closed, Accepted) and closed.evidence.detail == "connections used: 3"
    assert len(seen) == 3 and len({r["connection"] for r in seen}) == 3


def test_the_request_is_what_httpx_sent(server):
    """Its default headers in httpx's order (one the probe names itself gives way), Host from the transport,
    and a target escaped as httpx escaped it (no fragment): what httpx 0.28 sent, byte for byte, in this test."""
    prober, endpoint, seen = server
    spoof = (("X-SSL-Client-Verify", "SUCCESS"), ("Accept", "text/plain"))
    outcome = prober.probe(endpoint, None, Transport("1.3", "mtlsgate.test", host_header="other.test",
                                                     path="/a b/é?x=1#frag", headers=spoof))
    assert isinstance(outcome, Accepted)
    (request,) = seen
    assert request["path"] == "/a%20b/%C3%A9?x=1"
    assert request["headers"] == [("Host", "other.test"),  # h11 writes Host first, under httpx too
                                  ("Accept-Encoding", "gzip, deflate"), ("Connection", "keep-alive"),
                                  ("User-Agent", "mtlsgate"), ("X-SSL-Client-Verify", "SUCCESS"),
                                  ("Accept", "text/plain")]


def test_one_context_serves_both_tls_versions_each_connection_pinned(server):
    """The prober builds one context per credential; each connection gets the version its transport asks for,
    also when probes of both versions run at once."""
    from concurrent.futures import ThreadPoolExecutor

    prober, endpoint, _ = server
    versions = ["1.2", "1.3"] * 20
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda v: prober.probe(endpoint, None, Transport(v, "mtlsgate.test")), versions))
    assert [o.evidence.tls_version for o in outcomes] == [f"TLSv{v}" for v in versions]
    assert len(prober._contexts) == 1
