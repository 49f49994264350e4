"""The embedded default target: a strict mTLS terminating proxy in front of the echo backend.

Pure Python (pyOpenSSL for the TLS side, because the standard ``ssl`` module has no
verify callback and no verify depth), so ``pytest`` works on a machine with no load
balancer installed. It is also the suite's own control subject: :class:`ReferencePolicy`
can loosen exactly one thing (no verification, any CA, no CRL, ...) and the self-tests
assert that the suite then fails exactly the checks that name the mistake.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..checks import is_client_cert_header
from ..wire import run_echo
from .base import LAB_ALT_SERVER_NAME, LAB_SERVER_NAME, LabPKI

if TYPE_CHECKING:
    from OpenSSL import SSL, crypto

MAX_HEADER_BYTES = 32 * 1024
MAX_BODY_BYTES = 64 * 1024
MAX_REQUESTS_PER_CONNECTION = 100
MAX_CONNECTIONS = 64


@dataclass(frozen=True)
class ReferencePolicy:
    """How strict the reference target is. The defaults are the correct configuration."""

    verify: str = "require"  # "require" | "optional" | "none"
    trust_any_ca: bool = False  # any issuer is trusted; validity, purpose and the rest still checked
    ignore_verify_errors: bool = False  # any presented certificate passes
    extra_trust: tuple[bytes, ...] = ()  # additional trusted CA certificates (PEM)
    check_crl: bool = True
    reject_ca_leaf: bool = True
    min_rsa_bits: int = 2048
    max_intermediates: int = 3
    strict_sni_host: bool = True  # 421 when Host names another server than SNI
    strip_client_headers: bool = True
    ignore_errors: frozenset[int] = frozenset()  # X509_V_ERR_* codes waved through (one-field mutants)
    timeout: float = 10.0


@dataclass(frozen=True)
class RunningReference:
    host: str
    port: int
    server_name: str
    backend_port: int
    policy: ReferencePolicy


#: X509_V_ERR_* codes that only say "this issuer is not trusted / not found", and the CRL
#: lookup that fails for such an issuer: what a trust store holding any CA would not raise.
_ISSUER_ERRORS = frozenset({2, 3, 7, 18, 19, 20, 21})


def _leaf_problem(cert: x509.Certificate, policy: ReferencePolicy) -> str | None:
    """Leaf rules OpenSSL does not enforce by itself (it accepts a CA certificate as leaf)."""
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca and policy.reject_ca_leaf:
            return "CA certificate used as a client certificate"
    except x509.ExtensionNotFound:
        pass
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < policy.min_rsa_bits:
        return f"RSA key of {key.key_size} bits"
    return None


def build_context(pki: LabPKI, policy: ReferencePolicy, workdir: Path) -> SSL.Context:
    from OpenSSL import SSL, crypto

    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_max_proto_version(SSL.TLS1_3_VERSION)
    chain = [x509.load_pem_x509_certificate(b) for b in _split_pem(pki.server_cert_pem)]
    ctx.use_certificate(chain[0])
    for extra in chain[1:]:
        ctx.add_extra_chain_cert(extra)
    ctx.use_privatekey(serialization.load_pem_private_key(pki.server_key_pem, password=None))  # type: ignore[arg-type]
    ctx.check_privatekey()

    trusted = [pki.client_root.cert, pki.client_intermediate.cert]
    trusted += [x509.load_pem_x509_certificate(p) for p in policy.extra_trust]
    store = ctx.get_cert_store()
    assert store is not None
    for cert in trusted:
        store.add_cert(crypto.X509.from_cryptography(cert))  # the store still wants pyOpenSSL objects
    ca_file = workdir / "reference-client-ca.pem"
    ca_file.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in trusted))
    ctx.load_client_ca(str(ca_file).encode())
    if policy.check_crl:
        for crl in pki.crls:
            store.add_crl(crl)
        store.set_flags(crypto.X509StoreFlags.CRL_CHECK | crypto.X509StoreFlags.CRL_CHECK_ALL)
    ctx.set_verify_depth(policy.max_intermediates)

    def verify(conn: SSL.Connection, cert: crypto.X509, errnum: int, depth: int, ok: int) -> bool:
        if policy.ignore_verify_errors or (not ok and errnum in policy.ignore_errors):
            return True
        if not ok and not (policy.trust_any_ca and errnum in _ISSUER_ERRORS):
            return False
        if depth == 0:
            problem = _leaf_problem(cert.to_cryptography(), policy)
            if problem:
                conn.set_app_data(problem)
                return False
        return True

    modes = {
        "require": SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT,
        "optional": SSL.VERIFY_PEER,
        "none": SSL.VERIFY_NONE,
    }
    ctx.set_verify(modes[policy.verify], verify)
    # Without a session id context OpenSSL refuses to resume sessions that carry a client
    # certificate (internal_error); with it, resumption works and the SNI/Host check in
    # _http still guards a session resumed under another name.
    ctx.set_session_id(b"mtlsgate-reference")
    return ctx


def _split_pem(data: bytes) -> list[bytes]:
    end = b"-----END CERTIFICATE-----"
    return [part + end + b"\n" for part in data.split(end) if b"-----BEGIN" in part]


class _Closed(Exception):
    pass


class _Conn:
    """Blocking pyOpenSSL I/O with OS-level timeouts (SO_RCVTIMEO/SO_SNDTIMEO)."""

    def __init__(self, tls: SSL.Connection) -> None:
        self.tls = tls
        self.buffer = b""

    def recv_some(self) -> bytes:
        from OpenSSL import SSL
        try:
            data = self.tls.recv(16384)
        except (SSL.ZeroReturnError, SSL.SysCallError, SSL.WantReadError, SSL.WantWriteError, SSL.Error, OSError):
            raise _Closed() from None
        if not data:
            raise _Closed()
        return data

    def read_head(self) -> bytes:
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEADER_BYTES:
                raise _Closed()
            self.buffer += self.recv_some()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        return head

    def read_body(self, length: int) -> bytes:
        while len(self.buffer) < length:
            self.buffer += self.recv_some()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return body

    def send(self, data: bytes) -> None:
        from OpenSSL import SSL
        try:
            self.tls.sendall(data)
        except (SSL.Error, OSError):
            raise _Closed() from None


def _identity_headers(cert: x509.Certificate | None, verified: bool) -> list[tuple[str, str]]:
    """What the proxy tells the backend, nginx-style: verify result, subject, issuer, serial, fingerprint."""
    if cert is None:
        return [("X-SSL-Client-Verify", "NONE")]
    return [
        ("X-SSL-Client-Verify", "SUCCESS" if verified else "FAILED"),
        ("X-SSL-Client-S-DN", _latin1(cert.subject.rfc4514_string())),
        ("X-SSL-Client-I-DN", _latin1(cert.issuer.rfc4514_string())),
        ("X-SSL-Client-Serial", format(cert.serial_number, "X")),
        ("X-SSL-Client-Fingerprint", cert.fingerprint(hashes.SHA256()).hex()),
    ]


def _latin1(value: str) -> str:
    """A header value http.client can send: a non-ASCII DN (found by fuzzing) goes as its UTF-8 bytes."""
    return value.encode("utf-8").decode("latin-1")


class ReferenceServer:
    """The listener: one thread accepts, one thread per connection (bounded)."""

    def __init__(self, pki: LabPKI, policy: ReferencePolicy, backend: tuple[str, int], workdir: Path,
                 host: str = "127.0.0.1", server_name: str = LAB_SERVER_NAME,
                 alt_server_name: str = LAB_ALT_SERVER_NAME) -> None:
        self.pki = pki
        self.policy = policy
        self.backend = backend
        self.server_name = server_name
        self.alt_server_name = alt_server_name
        self.ctx = build_context(pki, policy, workdir)
        self.sock = socket.create_server((host, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._thread = threading.Thread(target=self._accept_loop, name="mtlsgate-reference", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._slots.acquire(timeout=self.policy.timeout):
                raw.close()
                continue
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        from OpenSSL import SSL
        try:
            raw.settimeout(None)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tv = struct.pack("ll", int(self.policy.timeout), int((self.policy.timeout % 1) * 1e6))
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
            hello_sni = peek_sni(raw)
            tls = SSL.Connection(self.ctx, raw)
            tls.set_accept_state()
            try:
                tls.do_handshake()
            except (SSL.Error, OSError):
                return
            self._http(_Conn(tls), hello_sni)
            with contextlib.suppress(SSL.Error, OSError):
                tls.shutdown()
        finally:
            raw.close()
            self._slots.release()

    def _http(self, conn: _Conn, hello_sni: str | None) -> None:
        tls = conn.tls
        peer = tls.get_peer_certificate()
        cert = peer.to_cryptography() if peer is not None else None
        verified = cert is not None and tls.get_app_data() is None
        session_sni = (tls.get_servername() or b"").decode("ascii", "replace").lower() or None
        # The SNI this ClientHello carried: on a TLS 1.2 resumption SSL_get_servername()
        # reports the name the *session* was made for (RFC 6066 asks to refuse such a
        # resumption; answering 421 when Host differs from the name actually sent does that).
        sni = hello_sni or session_sni
        for _ in range(MAX_REQUESTS_PER_CONNECTION):
            try:
                head = conn.read_head()
            except _Closed:
                return
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                conn.send(_response(400, b"bad request line", close=True))
                return
            method, target, _version = parts
            headers: list[tuple[str, str]] = []
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    conn.send(_response(400, b"bad header", close=True))
                    return
                headers.append((name.strip(), value.strip()))
            length = int(next((v for k, v in headers if k.lower() == "content-length"), "0") or 0)
            if length > MAX_BODY_BYTES:
                conn.send(_response(413, b"body too large", close=True))
                return
            try:
                body = conn.read_body(length)
            except _Closed:
                return
            host = next((v for k, v in headers if k.lower() == "host"), "")
            close = any(k.lower() == "connection" and v.lower() == "close" for k, v in headers)
            if self.policy.strict_sni_host and sni is not None and _host_name(host) != sni:
                conn.send(_response(421, b"Misdirected Request", close=True))
                return
            forwarded = [(k, v) for k, v in headers
                         if k.lower() not in ("connection", "keep-alive", "content-length")
                         and not (self.policy.strip_client_headers and is_client_cert_header(k))]
            forwarded += _identity_headers(cert, verified)
            conn.send(self._forward(method, target, forwarded, body, close))
            if close:
                return

    def _forward(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, close: bool) -> bytes:
        backend = http.client.HTTPConnection(*self.backend, timeout=self.policy.timeout)
        try:
            backend.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for k, v in headers:
                backend.putheader(k, v)
            backend.putheader("Content-Length", str(len(body)))
            backend.endheaders(body)
            reply = backend.getresponse()
            data = reply.read(MAX_BODY_BYTES)
            ctype = reply.getheader("Content-Type", "application/octet-stream")
            return _response(reply.status, data, close=close, content_type=ctype)
        except (OSError, http.client.HTTPException):
            return _response(502, b"backend unavailable", close=True)
        finally:
            backend.close()


def peek_sni(raw: socket.socket, tries: int = 8) -> str | None:
    """The server name of the ClientHello waiting on ``raw``, read without consuming it (MSG_PEEK)."""
    data = b""
    for _ in range(tries):
        try:
            data = raw.recv(MAX_HEADER_BYTES, socket.MSG_PEEK)
        except OSError:
            return None
        if not data:
            return None
        if len(data) >= 5 and (data[0] != 22 or len(data) >= 5 + int.from_bytes(data[3:5], "big")):
            break
        time.sleep(0.01)  # the rest of the ClientHello is still on its way
    return parse_sni(data)


def parse_sni(record: bytes) -> str | None:
    """The host_name in a TLS ClientHello record's server_name extension, or None."""
    try:
        if record[0] != 22 or record[5] != 1:
            return None
        pos = 5 + 4 + 2 + 32  # record header, handshake header, version, random
        pos += 1 + record[pos]  # session id
        pos += 2 + int.from_bytes(record[pos:pos + 2], "big")  # cipher suites
        pos += 1 + record[pos]  # compression methods
        end = pos + 2 + int.from_bytes(record[pos:pos + 2], "big")
        pos += 2
        while pos + 4 <= min(end, len(record)):
            kind, size = int.from_bytes(record[pos:pos + 2], "big"), int.from_bytes(record[pos + 2:pos + 4], "big")
            if kind == 0 and record[pos + 6] == 0:  # server_name, host_name
                length = int.from_bytes(record[pos + 7:pos + 9], "big")
                return record[pos + 9:pos + 9 + length].decode("ascii", "replace").lower() or None
            pos += 4 + size
    except IndexError:
        return None
    return None


def _host_name(host: str) -> str:
    """The Host header's name, without port; trailing dot and case kept (a mismatch is a mismatch)."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


_REASONS = {200: "OK", 400: "Bad Request", 413: "Payload Too Large", 421: "Misdirected Request",
            502: "Bad Gateway"}


def _response(status: int, body: bytes, *, close: bool, content_type: str = "text/plain") -> bytes:
    reason = _REASONS.get(status, "Status")
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: {'close' if close else 'keep-alive'}\r\n\r\n")
    return head.encode("latin-1") + body


@contextlib.contextmanager
def run_reference(pki: LabPKI, workdir: Path, policy: ReferencePolicy = ReferencePolicy()) -> Iterator[RunningReference]:
    """The reference proxy and its echo backend, on free loopback ports, for the ``with`` block."""
    with run_echo() as echo:
        server = ReferenceServer(pki, policy, (echo.host, echo.port), workdir)
        server.start()
        try:
            yield RunningReference("127.0.0.1", server.port, server.server_name, echo.port, policy)
        finally:
            server.stop()


__all__ = ["ReferencePolicy", "RunningReference", "ReferenceServer", "run_reference", "MAX_HEADER_BYTES", "MAX_BODY_BYTES", "MAX_REQUESTS_PER_CONNECTION", "MAX_CONNECTIONS", "MUTANTS"]


#: One deliberate mistake each, for self-tests and for users who want to see a failing run.
MUTANTS: dict[str, ReferencePolicy] = {
    "verify-optional": ReferencePolicy(verify="optional"),  # certificate requested, not required
    "verify-none": ReferencePolicy(verify="none"),  # no certificate requested at all
    "trust-any-ca": ReferencePolicy(trust_any_ca=True),  # any issuer trusted
    "ignore-verify-errors": ReferencePolicy(ignore_verify_errors=True),  # any presented certificate passes
    "no-crl": ReferencePolicy(check_crl=False),
    "accept-ca-leaf": ReferencePolicy(reject_ca_leaf=False),
    "ignore-eku": ReferencePolicy(ignore_errors=frozenset({26})),  # X509_V_ERR_INVALID_PURPOSE: EKU not enforced
    "accept-expired": ReferencePolicy(ignore_errors=frozenset({10})),  # X509_V_ERR_CERT_HAS_EXPIRED waved through
}
