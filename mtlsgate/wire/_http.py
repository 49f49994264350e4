"""A probe's HTTP/1.1 requests over the probe's own TLS context, under its deadline.

h11 speaks the protocol; this module does the little of httpx and httpcore a probe used:
one connection at a time, kept alive across requests while both sides allow it, content
decoding, and their exceptions. A fleet run makes thousands of probes, and httpx's client,
request, cookie and pool objects cost as much CPU per probe as the TLS handshake itself
(0.8 of 1.7 ms on the development VM).

Failures are raised as httpx raised them — the same classes, each caused by httpcore's
class of the same name, caused by the socket's error, in the same places (connect, TLS,
write, read) — so :func:`mtlsgate.wire.probe.classify_error` reads them as before. Like
httpcore, a failed write is ignored and the response read anyway: a server that refuses
the client certificate after the handshake (TLS 1.3) says so on the read.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import h11

from .deadline import Deadline

if TYPE_CHECKING:
    from .probe import _Progress

READ_BYTES = 64 * 1024  # what httpcore reads at a time
MAX_INCOMPLETE_EVENT = 100 * 1024  # httpcore's bound on a response head
#: what httpx's client sends before a request's own headers (its User-Agent is replaced by the probe's)
DEFAULT_HEADERS = (("Accept", "*/*"), ("Accept-Encoding", "gzip, deflate"), ("Connection", "keep-alive"))
#: held while a shared context's versions are set and a connection is made from it (not for the handshake)
_PINNING = threading.Lock()


def _fail(kind: str, cause: BaseException | None, message: str | None = None) -> NoReturn:
    """Raise httpx's ``kind`` from httpcore's ``kind`` from ``cause``, as their mapping of errors does."""
    import httpcore
    import httpx

    core = getattr(httpcore, kind)(message if message is not None else cause)
    core.__cause__ = cause
    outer = getattr(httpx, kind)(str(core))
    outer.__cause__ = core
    raise outer


@dataclass(frozen=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...]  # lower-case names, in the order received
    body: bytes  # decoded, at most ``max_body`` bytes
    tls_version: str | None  # of the connection that answered, read before it may be closed
    cipher: str | None
    connection: int  # which connection of this client answered (1, 2, ...)

    def header(self, name: str) -> str | None:
        """All values of ``name`` joined by ", " (as httpx does), None when absent."""
        values = [v for k, v in self.headers if k == name]
        return ", ".join(values) if values else None


class _Decoder:
    """Content-Encoding undone chunk by chunk (gzip, deflate; others are left as they are).

    A body that does not decompress is kept as it came (httpx raised ``DecodingError``,
    which no probe classified): only the echo JSON and the error-page markers are read
    from a body, and a broken encoding carries neither.
    """

    def __init__(self, encodings: str) -> None:
        names = [e.strip().lower() for e in encodings.split(",")]
        self._steps = [name for name in reversed(names) if name in ("gzip", "deflate")]
        self._objs: list[object] = [None] * len(self._steps)
        self._broken = False

    def feed(self, data: bytes) -> bytes:
        if self._broken:
            return data
        raw = data
        try:
            for i, name in enumerate(self._steps):
                if not data:
                    break
                first = self._objs[i] is None
                if first:
                    self._objs[i] = zlib.decompressobj(zlib.MAX_WBITS | 16 if name == "gzip" else zlib.MAX_WBITS)
                try:
                    data = self._objs[i].decompress(data)  # type: ignore[attr-defined]
                except zlib.error:
                    if name != "deflate" or not first:
                        raise
                    self._objs[i] = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as httpx allows
                    data = self._objs[i].decompress(data)  # type: ignore[attr-defined]
        except zlib.error:
            self._broken = True
            return raw
        return data


def _decode_headers(raw: list[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """httpx's choice: ascii if every header is, else utf-8 if every header is, else latin-1."""
    for encoding in ("ascii", "utf-8", "iso-8859-1"):
        try:
            return tuple((k.decode(encoding).lower(), v.decode(encoding)) for k, v in raw)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


class _Connection:
    def __init__(self, tls: ssl.SSLSocket, number: int) -> None:
        self.tls = tls
        self.number = number
        self.h11 = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=MAX_INCOMPLETE_EVENT)

    def reusable(self) -> bool:
        """Idle on both sides, and the server has not closed it meanwhile (httpcore's expiry test)."""
        if self.h11.our_state is not h11.IDLE or self.h11.their_state is not h11.IDLE:
            return False
        try:
            readable, _, _ = select.select([self.tls], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def close(self) -> None:
        self.tls.close()


class Client:
    """``with Client(...) as c: c.get(path, headers)`` — each call one GET, on a kept-alive connection if it can."""

    def __init__(self, host: str, port: int, ctx: ssl.SSLContext, version: ssl.TLSVersion, server_hostname: str,
                 timeout: float, deadline: Deadline, progress: _Progress, max_body: int) -> None:
        self._address = (host, port)
        self._ctx = ctx
        self._version = version
        self._server_hostname = server_hostname
        self._timeout = timeout
        self._deadline = deadline
        self._progress = progress
        self._max_body = max_body
        self._conn: _Connection | None = None
        self._opened = 0

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connect(self) -> _Connection:
        try:
            sock = socket.create_connection(self._address, self._timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except TimeoutError as exc:
            _fail("ConnectTimeout", exc)
        except OSError as exc:
            _fail("ConnectError", exc)
        self._deadline.watch(sock)
        try:
            sock.settimeout(self._timeout)  # the TLS socket keeps it for every handshake, write and read
            with _PINNING:  # OpenSSL copies the context's versions into each new connection
                self._ctx.minimum_version = self._ctx.maximum_version = self._version
                tls = self._ctx.wrap_socket(sock, server_hostname=self._server_hostname, do_handshake_on_connect=False)
            tls.do_handshake()
        except TimeoutError as exc:
            sock.close()
            _fail("ConnectTimeout", exc)
        except OSError as exc:
            sock.close()
            _fail("ConnectError", exc)
        self._progress.handshake_done = True
        self._opened += 1
        return _Connection(tls, self._opened)

    def get(self, target: str, headers: list[tuple[str, str]]) -> Response:
        conn = self._conn
        if conn is not None and not conn.reusable():
            self._drop()
            conn = None
        if conn is None:
            conn = self._conn = self._connect()
        try:
            response = self._exchange(conn, target, headers)
        except BaseException:
            self._drop()
            raise
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
        else:
            self._drop()  # the server closes it, or the body was cut short: the next request gets a new one
        return response

    def _exchange(self, conn: _Connection, target: str, headers: list[tuple[str, str]]) -> Response:
        try:
            data = conn.h11.send(h11.Request(method="GET", target=target, headers=headers))
            data = (data or b"") + (conn.h11.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:
            _fail("LocalProtocolError", exc)
        self._write(conn, data)
        while True:
            head = self._next_event(conn)
            if isinstance(head, h11.Response):
                break
        decoded = _decode_headers(list(head.headers.raw_items()))
        decoder = _Decoder(", ".join(v for k, v in decoded if k == "content-encoding"))
        body = bytearray()
        while len(body) < self._max_body:
            event = self._next_event(conn)
            if isinstance(event, h11.Data):
                body += decoder.feed(bytes(event.data))
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)) or event is h11.PAUSED:
                break
        cipher = conn.tls.cipher()
        return Response(head.status_code, decoded, bytes(body[:self._max_body]), conn.tls.version(),
                        cipher[0] if cipher else None, conn.number)

    def _write(self, conn: _Connection, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                sent = conn.tls.send(view)
                view = view[sent:]
        except TimeoutError as exc:
            _fail("WriteTimeout", exc)
        except OSError:
            pass  # httpcore ignores a failed write and reads the response (or the reason) anyway

    def _next_event(self, conn: _Connection) -> object:
        while True:
            try:
                event = conn.h11.next_event()
            except h11.RemoteProtocolError as exc:
                _fail("RemoteProtocolError", exc, str(exc))
            if event is not h11.NEED_DATA:
                return event
            try:
                data = conn.tls.recv(READ_BYTES)
            except TimeoutError as exc:
                _fail("ReadTimeout", exc)
            except OSError as exc:
                _fail("ReadError", exc)
            if data == b"" and conn.h11.their_state is h11.SEND_RESPONSE:
                _fail("RemoteProtocolError", None, "Server disconnected without sending a response.")
            conn.h11.receive_data(data)


__all__ = ["Client", "Response", "DEFAULT_HEADERS"]
