"""One attempt against a target: connect, handshake, one HTTP request, read the answer.

The probe always sends a request and reads a response, because under TLS 1.3 the server
verifies the client certificate *after* the client considers the handshake complete: a
rejection arrives as an alert (or a bare EOF) on the first read, and a successful
``do_handshake()`` proves nothing. HTTP goes through httpx over our own ``ssl.SSLContext``
so that TLS version, SNI, Host and the client credential are exactly what the check says.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from .outcome import (
    Accepted,
    Evidence,
    Misdirected,
    Outcome,
    RejectedEOF,
    RejectedHTTP,
    RejectedTLS,
    Unreachable,
)
from .pki import Credential, CredentialFiles

TLS_VERSIONS = ("1.2", "1.3")
_SSL_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}

#: Bodies LBs use when they reject at the HTTP layer; the first match becomes the marker.
KNOWN_MARKERS = (
    "No required SSL certificate was sent",
    "The SSL certificate error",
    "SSL certificate error",
    "client certificate",
    "Forbidden",
    "Bad Request",
)
MAX_BODY = 64 * 1024
ECHO_MARKER = "mtlsgate_echo"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}{path}"


@dataclass(frozen=True)
class Transport:
    """How to reach the target for one attempt: version, names, request shape, timeout."""

    tls_version: str = "1.3"
    server_name: str | None = None  # SNI; None sends none (and skips the hostname check)
    host_header: str | None = None  # default: server_name, else the endpoint host
    path: str = "/"
    requests: int = 1
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.tls_version not in _SSL_VERSIONS:
            raise ValueError(f"TLS version must be one of {TLS_VERSIONS}, not {self.tls_version!r}")
        if not 1 <= self.requests <= 100:
            raise ValueError("requests must be between 1 and 100")


class Prober:
    """Makes probes; owns the client SSL contexts and the credential files they load.

    Contexts are cached per (credential, version, hostname check): building one costs a
    file read and a key parse, and a suite probes the same credential many times.
    """

    def __init__(self, workdir: Path, server_ca: Path | None = None) -> None:
        self.workdir = workdir
        self.server_ca = server_ca
        self._contexts: dict[tuple[int, str, bool], ssl.SSLContext] = {}
        self._files: dict[int, CredentialFiles] = {}
        self._keep: list[Credential] = []  # keeps id()s stable while cached
        self._lock = threading.Lock()

    def context(self, credential: Credential | None, tls_version: str, check_hostname: bool) -> ssl.SSLContext:
        key = (id(credential), tls_version, check_hostname)
        with self._lock:
            ctx = self._contexts.get(key)
            if ctx is None:
                ctx = self._build_context(credential, tls_version, check_hostname)
                self._contexts[key] = ctx
                if credential is not None:
                    self._keep.append(credential)
            return ctx

    def _build_context(self, credential: Credential | None, tls_version: str, check_hostname: bool) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ctx.maximum_version = _SSL_VERSIONS[tls_version]
        # Security level 0: a weak test certificate (SHA-1, RSA-1024) must reach the server,
        # or the client would refuse to send it and the server's policy would go untested.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.post_handshake_auth = True
        if self.server_ca is not None:
            ctx.load_verify_locations(cafile=str(self.server_ca))
        else:
            ctx.load_default_certs()
        ctx.check_hostname = check_hostname
        if credential is not None:
            files = self._files.get(id(credential))
            if files is None:
                files = credential.write(self.workdir / "client-credentials", f"c{len(self._files)}")
                self._files[id(credential)] = files
            ctx.load_cert_chain(str(files.cert), str(files.key))
        return ctx

    def probe(self, endpoint: Endpoint, credential: Credential | None, transport: Transport) -> Outcome:
        """One attempt; never raises for anything the target does."""
        ctx = self.context(credential, transport.tls_version, transport.server_name is not None)
        return run_probe(endpoint, ctx, transport)


def run_probe(endpoint: Endpoint, ctx: ssl.SSLContext, transport: Transport) -> Outcome:
    host_header = transport.host_header or transport.server_name or endpoint.host
    base = Evidence(requested_version=transport.tls_version, server_name=transport.server_name, host_header=host_header)
    started = time.monotonic()
    extensions = {"sni_hostname": transport.server_name} if transport.server_name else {}
    headers = [("Host", host_header), ("User-Agent", "mtlsgate"), *transport.headers]
    timeout = httpx.Timeout(transport.timeout)
    streams: list[int] = []
    last: Outcome | None = None
    phase = "handshake"
    try:
        with httpx.Client(verify=ctx, timeout=timeout, http2=False, trust_env=False, follow_redirects=False) as client:
            for n in range(transport.requests):
                request = client.build_request("GET", endpoint.url(transport.path), headers=headers,
                                               extensions=extensions)
                response = client.send(request, stream=True)
                try:
                    phase = "after-handshake"
                    body = _read_capped(response.iter_bytes(), started + transport.timeout * 2)
                finally:
                    response.close()
                stream = response.extensions.get("network_stream")
                streams.append(id(stream))
                ssl_obj = stream.get_extra_info("ssl_object") if stream is not None else None
                evidence = replace(
                    base,
                    tls_version=ssl_obj.version() if ssl_obj else None,
                    cipher=ssl_obj.cipher()[0] if ssl_obj else None,
                    elapsed_ms=_ms(started),
                    requests=n + 1,
                    detail=f"connections used: {len(set(streams))}" if n else "",
                )
                last = classify_response(response.status_code, body, evidence)
                if not isinstance(last, Accepted):
                    return last
    except httpx.TimeoutException as exc:
        return _timeout_outcome(endpoint, exc, replace(base, elapsed_ms=_ms(started)), phase, transport.timeout)
    except (httpx.TransportError, ssl.SSLError, OSError) as exc:
        return classify_error(exc, replace(base, elapsed_ms=_ms(started)), phase)
    except _BodyTooSlow:
        return Unreachable("the response body did not arrive in time", replace(base, elapsed_ms=_ms(started)))
    assert last is not None
    return last


class _BodyTooSlow(Exception):
    pass


def _read_capped(chunks: Iterator[bytes], deadline: float) -> bytes:
    """At most ``MAX_BODY`` bytes, and no later than ``deadline``: a slow drip cannot stall a run."""
    out = bytearray()
    for chunk in chunks:
        out += chunk
        if len(out) >= MAX_BODY:
            break
        if time.monotonic() > deadline:
            raise _BodyTooSlow()
    return bytes(out[:MAX_BODY])


def classify_response(status: int, body: bytes, evidence: Evidence) -> Outcome:
    echoed = parse_echo(body)
    if echoed is not None:
        return Accepted(status, echoed, evidence)
    if status == 421:
        return Misdirected(421, evidence)
    if 400 <= status < 500:
        return RejectedHTTP(status, body_marker(body), evidence)
    return Accepted(status, None, evidence)


def parse_echo(body: bytes) -> tuple[tuple[str, str], ...] | None:
    """The headers the echo backend saw, if this body is the echo backend's answer."""
    if not body.startswith(b"{"):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get(ECHO_MARKER) is not True:
        return None
    return tuple((str(k), str(v)) for k, v in data.get("headers", []))


def body_marker(body: bytes) -> str:
    text = body[:2048].decode("utf-8", errors="replace")
    for marker in KNOWN_MARKERS:
        if marker.lower() in text.lower():
            return marker
    return " ".join(text.split())[:80]


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def alert_name(reason: str) -> str | None:
    """``TLSV13_ALERT_CERTIFICATE_REQUIRED`` -> ``certificate_required``."""
    marker = "ALERT_"
    if marker not in reason:
        return None
    return reason.split(marker, 1)[1].lower()


def classify_error(exc: BaseException, evidence: Evidence, phase: str) -> Outcome:
    if isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)):
        phase = "after-handshake"
    evidence = replace(evidence, detail=_detail(exc))
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return Unreachable(f"the server certificate did not verify: {cause.verify_message}", evidence)
        if isinstance(cause, ssl.SSLError):
            reason = cause.reason or ""
            alert = alert_name(reason)
            if alert is not None:
                return RejectedTLS(alert, phase, evidence)
            if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG",
                          "UNEXPECTED_RECORD", "HTTP_REQUEST"):
                return Unreachable(f"the target does not speak TLS ({reason})", evidence)
            if reason in ("UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE", "TLSV1_ALERT_PROTOCOL_VERSION"):
                return RejectedTLS("protocol_version", phase, evidence)
            if isinstance(cause, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or "EOF" in str(cause):
                return RejectedEOF(phase, evidence)
            return Unreachable(f"TLS error {reason or cause}", evidence)
        if isinstance(cause, ConnectionRefusedError):
            return Unreachable("connection refused (nothing listens there)", evidence)
        if isinstance(cause, socket.gaierror):
            return Unreachable(f"cannot resolve the host name ({cause})", evidence)
        if isinstance(cause, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return RejectedEOF(phase, evidence)
    text = str(exc).lower()
    if isinstance(exc, httpx.RemoteProtocolError) and ("disconnected" in text or "closed" in text):
        return RejectedEOF(phase, evidence)
    if isinstance(exc, httpx.RemoteProtocolError):
        return Unreachable(f"the target does not speak HTTP over TLS ({exc})", evidence)
    if isinstance(exc, (httpx.ReadError, httpx.ConnectError)) and ("eof" in text or not text):
        return RejectedEOF(phase, evidence)
    return Unreachable(f"{type(exc).__name__}: {exc}", evidence)


def _timeout_outcome(endpoint: Endpoint, exc: BaseException, evidence: Evidence, phase: str,
                     timeout: float) -> Outcome:
    evidence = replace(evidence, detail=_detail(exc))
    if isinstance(exc, httpx.ConnectTimeout):
        if tcp_reachable(endpoint, min(timeout, 2.0)):
            return Unreachable(f"TCP connects but the TLS handshake did not finish within {timeout:g}s", evidence)
        return Unreachable(f"TCP connect timed out after {timeout:g}s", evidence)
    return Unreachable(f"no HTTP response within {timeout:g}s ({phase})", evidence)


def tcp_reachable(endpoint: Endpoint, timeout: float) -> bool:
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout):
            return True
    except OSError:
        return False


def _detail(exc: BaseException) -> str:
    parts = [f"{type(c).__name__}: {c}" for c in _causes(exc)]
    return " <- ".join(parts)[:400]


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 2)
