"""Tiny loopback servers that are *not* correct mTLS targets, for the suite to diagnose."""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5

    def do_GET(self) -> None:  # noqa: N802
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def http_server(tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """Plain HTTP (``tls=None``) or HTTPS with the given server context; yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def tls_without_client_auth(tmp: Path, name: str = "mtlsgate.test") -> tuple[ssl.SSLContext, Path]:
    """A server context that never asks for a client certificate, and the CA file that trusts it."""
    ca = trustme.CA()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(name, "127.0.0.1").configure_cert(ctx)
    ca_file = tmp / "server-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return ctx, ca_file
