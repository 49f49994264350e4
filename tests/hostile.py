"""Loopback servers that misbehave on purpose: the suite must diagnose each in seconds, in one line.

Every server here runs on threads of the test process, on 127.0.0.1, with every socket
tracked and closed on exit; each connection handler is bounded (socket timeouts, a stop
event), so a fixture can never outlive its ``with`` block by more than a second.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from mtlsgate.targets.base import LabPKI

Handler = Callable[[socket.socket, threading.Event], None]


class _Server:
    """Accept loop plus one thread per connection; everything closed and joined on exit."""

    def __init__(self, handler: Handler, *, max_accepts: int | None = None) -> None:
        self.handler = handler
        self.max_accepts = max_accepts
        self.stop = threading.Event()
        self.listener: socket.socket | None = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept_loop, name="hostile-accept", daemon=True)

    def _accept_loop(self) -> None:
        while not self.stop.is_set():
            if self.max_accepts is not None and self.accepted >= self.max_accepts:
                self._close_listener()  # later connections are refused; the last ones may finish
                return
            try:
                conn, _ = self.listener.accept()  # type: ignore[union-attr]
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.settimeout(5)
            thread = threading.Thread(target=self._handle, args=(conn,), name="hostile-conn", daemon=True)
            with self._lock:
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.handler(conn, self.stop)
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _close_listener(self) -> None:
        with self._lock:
            if self.listener is not None:
                self.listener.close()
                self.listener = None

    def _crash(self) -> None:
        """The port closes (new connections are refused) and open connections drop."""
        self._close_listener()
        with self._lock:
            for conn in self._conns:
                _reset(conn)

    def __enter__(self) -> _Server:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._acceptor.join(2)
        self._crash()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(2)


def _reset(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()


def _wait(stop: threading.Event, seconds: float) -> None:
    stop.wait(seconds)


# --------------------------------------------------------------------------- raw TCP misbehaviour


@contextlib.contextmanager
def silent() -> Iterator[int]:
    """Accepts TCP and never says a word."""
    def hold(conn: socket.socket, stop: threading.Event) -> None:
        _wait(stop, 60)

    with _Server(hold) as server:
        yield server.port


@contextlib.contextmanager
def resetting() -> Iterator[int]:
    """Resets every connection as soon as it is accepted."""
    def reset(conn: socket.socket, stop: threading.Event) -> None:
        _reset(conn)

    with _Server(reset) as server:
        yield server.port


#: The first 9 bytes of a TLS 1.2 ServerHello record: the handshake has started, then stops.
TRUNCATED_SERVER_HELLO = bytes.fromhex("160303004a02000046" "0303")


@contextlib.contextmanager
def closing_mid_handshake() -> Iterator[int]:
    """Reads the ClientHello, sends the start of a ServerHello, and closes."""
    def half(conn: socket.socket, stop: threading.Event) -> None:
        conn.recv(16384)
        conn.sendall(TRUNCATED_SERVER_HELLO)

    with _Server(half) as server:
        yield server.port


# --------------------------------------------------------------------------- TLS servers


def mtls_context(lab: LabPKI, tmp: Path) -> ssl.SSLContext:
    """A server context that requires a client certificate from the lab's client CA."""
    tmp.mkdir(parents=True, exist_ok=True)
    files = lab.write(tmp / "server-pki")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(files.server_chain), str(files.server_key))
    ctx.load_verify_locations(cafile=str(files.client_ca))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _tls_then(ctx: ssl.SSLContext, after: Callable[[ssl.SSLSocket, threading.Event], None]) -> Handler:
    def handle(conn: socket.socket, stop: threading.Event) -> None:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(16384)  # the request (TLS 1.3: verifying the client certificate happens here)
            after(tls, stop)
    return handle


@contextlib.contextmanager
def garbage_after_handshake(ctx: ssl.SSLContext) -> Iterator[int]:
    """A correct mTLS handshake, then lines of bytes that are not HTTP."""
    def garbage(tls: ssl.SSLSocket, stop: threading.Event) -> None:
        tls.sendall(b"\x00\xff\x13garbage\x01\x02\r\n" * 64)

    with _Server(_tls_then(ctx, garbage)) as server:
        yield server.port


@contextlib.contextmanager
def dripping_response(ctx: ssl.SSLContext, interval: float = 1.0) -> Iterator[int]:
    """A correct mTLS handshake, then an HTTP answer at one byte per ``interval`` seconds."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"

    def drip(tls: ssl.SSLSocket, stop: threading.Event) -> None:
        for byte in answer:
            if stop.is_set():
                return
            tls.sendall(bytes([byte]))
            _wait(stop, interval)

    with _Server(_tls_then(ctx, drip)) as server:
        yield server.port


# --------------------------------------------------------------------------- proxies in front of a real target


def _pump(src: socket.socket, dst: socket.socket, stop: threading.Event, interval: float | None) -> None:
    """Copy ``src`` to ``dst``; with ``interval``, one byte at a time, ``interval`` seconds apart."""
    with contextlib.suppress(OSError):
        while not stop.is_set():
            try:
                data = src.recv(1 if interval else 65536)
            except TimeoutError:
                continue
            if not data:
                break
            dst.sendall(data)
            if interval:
                _wait(stop, interval)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def _proxy_handler(upstream: int, drip: float | None, delay: float = 0.0) -> Handler:
    def handle(conn: socket.socket, stop: threading.Event) -> None:
        _wait(stop, delay)
        with socket.create_connection(("127.0.0.1", upstream), timeout=5) as up:
            up.settimeout(0.5)
            conn.settimeout(0.5)
            back = threading.Thread(target=_pump, args=(up, conn, stop, drip), daemon=True)
            back.start()
            _pump(conn, up, stop, None)
            back.join(5)
            if back.is_alive():
                _reset(conn)
                back.join(2)
    return handle


@contextlib.contextmanager
def dripping_proxy(upstream: int, interval: float = 1.0) -> Iterator[int]:
    """Forwards to ``upstream``, but the server's bytes (from the first handshake byte on) drip."""
    with _Server(_proxy_handler(upstream, interval)) as server:
        yield server.port


@contextlib.contextmanager
def crashing_proxy(upstream: int, connections: int) -> Iterator[_Server]:
    """Forwards ``connections`` connections to ``upstream`` faithfully, then dies (port closed)."""
    with _Server(_proxy_handler(upstream, None), max_accepts=connections) as server:
        yield server


@contextlib.contextmanager
def slow_proxy(upstream: int, delay: float) -> Iterator[int]:
    """Forwards to ``upstream`` faithfully, after ``delay`` seconds per connection."""
    with _Server(_proxy_handler(upstream, None, delay)) as server:
        yield server.port
