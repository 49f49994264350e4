"""The echo backend: answers every request with what it received, as JSON.

Put behind a load balancer, it lets the suite see the request *as the backend saw it*:
whether a request reached the backend at all (an HTTP 200 from the LB itself proves
nothing), and which client-identity headers arrived, forwarded or spoofed.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .probe import ECHO_MARKER

MAX_REQUEST_BODY = 64 * 1024


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mtlsgate-echo"
    timeout = 10  # a silent client cannot pin a thread forever
    disable_nagle_algorithm = True  # header and body go out in two writes: no 40 ms delayed-ACK stall

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        payload = {
            ECHO_MARKER: True,
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_bytes": len(body),
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _echo

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    verbose = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A peer that resets or drops the connection (an LB giving up on a probe) is not an error of ours.

        socketserver's default prints a whole traceback to stderr for each one: 18 per run
        behind HAProxy's sni-host-bypass variant. Silent by default; one line when verbose.
        Anything else still gets its traceback.
        """
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            if self.verbose:
                print(f"echo backend: {client_address[0]}:{client_address[1]}: {type(exc).__name__}: {exc}",
                      file=sys.stderr)
            return
        super().handle_error(request, client_address)


@dataclass(frozen=True)
class RunningEcho:
    host: str
    port: int


@contextlib.contextmanager
def run_echo(host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningEcho]:
    """An echo backend on a thread for the duration of the ``with`` block."""
    server = EchoServer((host, port), EchoHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="mtlsgate-echo", daemon=True)
    thread.start()
    try:
        yield RunningEcho(host, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve_forever(host: str, port: int, *, verbose: bool = True) -> None:
    """``mtlsgate echo-backend``: run in the foreground until interrupted."""
    server = EchoServer((host, port), EchoHandler)
    server.verbose = verbose
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


__all__ = ["MAX_REQUEST_BODY", "EchoHandler", "EchoServer", "RunningEcho", "run_echo", "serve_forever"]
