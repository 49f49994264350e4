"""One attempt against a target: connect, handshake, one HTTP request, read the answer.

The probe always sends a request and reads a response, because under TLS 1.3 the server
verifies the client certificate *after* the client considers the handshake complete: a
rejection arrives as an alert (or a bare EOF) on the first read, and a successful
``do_handshake()`` proves nothing. HTTP/1.1 goes through h11 over our own ``ssl.SSLContext``
(wire/_http.py) so that TLS version, SNI, Host and the client credential are exactly what
the check says.
"""

from __future__ import annotations

import _ssl
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ..pki import Credential, CredentialFiles
from .deadline import Deadline
from .outcome import (
    Accepted,
    Evidence,
    Misdirected,
    Outcome,
    RejectedEOF,
    RejectedHTTP,
    RejectedTLS,
    SentCertificate,
    Unreachable,
)
from .quic import QuicExchange, quic_exchange, run_quic_probe

TLS_VERSIONS = ("1.2", "1.3")
#: Every transport a check can run over: the TLS versions over TCP, and QUIC (HTTP/3, TLS 1.3).
TRANSPORTS = (*TLS_VERSIONS, "quic")
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
#: Transient connection errors (see :attr:`Unreachable.transient`) are retried this often.
DEFAULT_RETRIES = 2
RETRY_BACKOFF = 0.1  # seconds, times the attempt number


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

    tls_version: str = "1.3"  # "1.2", "1.3", or "quic" (HTTP/3 over QUIC, see wire/quic.py)
    server_name: str | None = None  # SNI; None sends none (and skips the hostname check)
    host_header: str | None = None  # default: server_name, else the endpoint host
    path: str = "/"
    requests: int = 1
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 5.0
    check_hostname: bool | None = None  # default: when SNI is sent; off to probe names the cert may not carry

    @property
    def deadline(self) -> float:
        """The whole attempt's bound: ``timeout`` for the handshake plus ``timeout`` per request."""
        return self.timeout * (1 + self.requests)

    def __post_init__(self) -> None:
        if self.tls_version not in TRANSPORTS:
            raise ValueError(f"TLS version must be one of {TRANSPORTS}, not {self.tls_version!r}")
        if not 1 <= self.requests <= 100:
            raise ValueError("requests must be between 1 and 100")


class Prober:
    """Makes probes; owns the client SSL contexts and the credential files they load.

    Contexts are cached per (credential, hostname check), one for both TLS versions:
    building one costs a file read and a key parse (~1 ms, about what a probe costs), and a
    suite probes the same credential many times. :func:`run_probe` pins each connection's
    version as it creates it.
    """

    def __init__(self, workdir: Path, server_ca: Path | None = None, *, retries: int = DEFAULT_RETRIES) -> None:
        self.workdir = workdir
        self.server_ca = server_ca
        self.retries = retries
        self._contexts: dict[tuple[int, bool], ssl.SSLContext] = {}
        self._files: dict[int, CredentialFiles] = {}
        self._keep: list[Credential] = []  # keeps id()s stable while cached
        self._lock = threading.Lock()

    def context(self, credential: Credential | None, check_hostname: bool) -> ssl.SSLContext:
        """The cached context of ``credential``; its TLS version is set per connection (``run_probe``)."""
        key = (id(credential), check_hostname)
        with self._lock:
            ctx = self._contexts.get(key)
            if ctx is None:
                ctx = self._build_context(credential, None, check_hostname)
                self._contexts[key] = ctx
                if credential is not None:
                    self._keep.append(credential)
            return ctx

    def credential_files(self, credential: Credential | None) -> tuple[Path, Path] | None:
        """The credential's PEM files (certificate chain, 0600 key), written once per credential."""
        if credential is None:
            return None
        with self._lock:
            files = self._credential_files(credential)
        return files.cert, files.key

    def release(self) -> None:
        """Forget every cached TLS context and delete the credential files written so far.

        A context costs ~40 KB of OpenSSL memory and a target has ~80 of them: a fleet run
        releases each target's once its checks are reported, instead of holding them all.
        The prober still works afterwards (it builds and writes again on demand).
        """
        with self._lock:
            files = list(self._files.values())
            self._contexts.clear()
            self._files.clear()
            self._keep.clear()
        for written in files:
            for path in (written.cert, written.key):
                path.unlink(missing_ok=True)

    def _credential_files(self, credential: Credential) -> CredentialFiles:
        files = self._files.get(id(credential))
        if files is None:
            files = credential.write(self.workdir / "client-credentials", f"c{len(self._files)}")
            self._files[id(credential)] = files
            self._keep.append(credential)  # keeps id() stable while cached
        return files

    def _build_context(self, credential: Credential | None, tls_version: str | None,
                       check_hostname: bool) -> ssl.SSLContext:
        if tls_version is not None and tls_version not in _SSL_VERSIONS:
            raise ValueError(f"no TCP TLS context for {tls_version!r}: QUIC attempts go through Prober.probe")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if tls_version is not None:
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
            files = self._credential_files(credential)
            ctx.load_cert_chain(str(files.cert), str(files.key))
        return ctx

    def probe(self, endpoint: Endpoint, credential: Credential | None, transport: Transport) -> Outcome:
        """One attempt (plus bounded retries of transient errors); never raises for anything the target does.

        Only an ``Unreachable`` marked ``transient`` is retried: nothing of the TLS exchange
        had happened, so the target cannot have judged the credential. A rejection (alert,
        EOF after the server spoke, HTTP answer) is never retried.
        """
        check = transport.check_hostname if transport.check_hostname is not None else transport.server_name is not None
        check = check and transport.server_name is not None
        if transport.tls_version == "quic":
            files = self.credential_files(credential)  # aioquic itself is imported only inside run_quic_probe

            def attempt() -> Outcome:
                return run_quic_probe(endpoint, files, self.server_ca, transport, check, classify_response)
        else:
            ctx = self.context(credential, check)

            def attempt() -> Outcome:
                return run_probe(endpoint, ctx, transport)
        outcome = attempt()
        retries = 0
        while isinstance(outcome, Unreachable) and outcome.transient and retries < self.retries:
            retries += 1
            time.sleep(RETRY_BACKOFF * retries)
            outcome = attempt()
        if retries:
            outcome = replace(outcome, evidence=replace(outcome.evidence, retries=retries))
        return outcome

    def quic_exchange(self, endpoint: Endpoint, credential: Credential | None, transport: Transport,
                      session_ticket: object = None) -> QuicExchange:
        """One QUIC attempt offering ``session_ticket``, keeping the ticket the server issues (no retries)."""
        check = transport.check_hostname if transport.check_hostname is not None else transport.server_name is not None
        return quic_exchange(endpoint, self.credential_files(credential), self.server_ca, transport,
                             check and transport.server_name is not None, classify_response,
                             session_ticket=session_ticket)

    def fresh_context(self, credential: Credential | None, tls_version: str, check_hostname: bool) -> ssl.SSLContext:
        """An uncached context, for probes that change it (ALPN) or tie sessions to it (resumption)."""
        with self._lock:
            ctx = self._build_context(credential, tls_version, check_hostname)
            if credential is not None:
                self._keep.append(credential)
            return ctx


_SPOKE = threading.local()


def _watch_server_bytes(ctx: ssl.SSLContext) -> None:
    """Note, per thread, what went over the wire on the current attempt.

    Whether the server sent any TLS record: a reset before the server's first byte cannot
    be a judgement of the client certificate (it is only sent after the server's first
    flight), so it is a transient connection error; after it, the same reset is a
    rejection. Which certificate the client actually sent (:func:`_note_message`): OpenSSL
    silently withholds one whose signature the server's CertificateRequest does not allow.
    ``_msg_callback`` is CPython's (private) message hook; without it every reset counts as
    a rejection and what was sent is unknown. It is set on ``_ssl._SSLContext`` underneath
    ``ssl.SSLContext``'s property: the property wraps the hook in a function that turns
    every integer into an enum, some 30 calls per handshake, and a fleet makes thousands of
    handshakes (~13% of a probe's CPU, and each call holds the GIL).
    """
    if _RAW_MSG_CALLBACK is not None:
        if _RAW_MSG_CALLBACK.__get__(ctx) is None:
            _RAW_MSG_CALLBACK.__set__(ctx, _note_message)
    elif _HAS_MSG_CALLBACK and getattr(ctx, "_msg_callback", None) is None:
        ctx._msg_callback = _note_message  # type: ignore[attr-defined]


_HANDSHAKE = 22  # TLS content type
_CERTIFICATE = 11  # handshake message types
_CERTIFICATE_REQUEST = 13


def _note_message(conn: object, direction: str, version: object = None, content_type: object = None,
                  msg_type: object = None, data: object = b"") -> None:
    if direction == "read":
        _SPOKE.value = True
    if int(content_type or 0) != _HANDSHAKE or not isinstance(data, bytes):  # type: ignore[call-overload]
        return
    tls13 = int(version or 0) == 0x0304  # type: ignore[call-overload]
    if direction == "write" and int(msg_type or 0) == _CERTIFICATE:  # type: ignore[call-overload]
        _SPOKE.sent = parse_certificate_message(data, tls13=tls13)
    elif direction == "read" and int(msg_type or 0) == _CERTIFICATE_REQUEST:  # type: ignore[call-overload]
        _SPOKE.sigalgs = parse_certificate_request(data, tls13=tls13)


def parse_certificate_message(data: bytes, *, tls13: bool) -> SentCertificate | bool | None:
    """The leaf in a client's Certificate handshake message (header included), False for an empty list.

    TLS 1.2: a 3-byte list length, then 3-byte-length certificates. TLS 1.3: first a
    certificate_request_context (1-byte length), and each certificate is followed by a
    2-byte-length block of extensions. None when the message cannot be read.
    """
    try:
        pos = 4  # msg_type (1) + length (3)
        if tls13:
            pos += 1 + data[pos]
        total = int.from_bytes(data[pos:pos + 3], "big")
        pos += 3
        if total == 0:
            return False
        end = pos + total
        count, leaf = 0, b""
        while pos < end:
            length = int.from_bytes(data[pos:pos + 3], "big")
            der = data[pos + 3:pos + 3 + length]
            if len(der) != length or length == 0:
                return None
            leaf = leaf or der
            count += 1
            pos += 3 + length
            if tls13:
                pos += 2 + int.from_bytes(data[pos:pos + 2], "big")
        cert = x509.load_der_x509_certificate(leaf)
        return SentCertificate(subject=cert.subject.rfc4514_string(), sha256=cert.fingerprint(hashes.SHA256()).hex(),
                               chain_length=count)
    except (IndexError, ValueError):
        return None


#: TLS SignatureScheme code points (RFC 8446 §4.2.3, and TLS 1.2's hash/signature pairs).
SIGNATURE_SCHEMES = {
    0x0101: "rsa_pkcs1_md5", 0x0201: "rsa_pkcs1_sha1", 0x0203: "ecdsa_sha1", 0x0202: "dsa_sha1",
    0x0301: "rsa_pkcs1_sha224", 0x0303: "ecdsa_sha224",
    0x0401: "rsa_pkcs1_sha256", 0x0501: "rsa_pkcs1_sha384", 0x0601: "rsa_pkcs1_sha512",
    0x0403: "ecdsa_secp256r1_sha256", 0x0503: "ecdsa_secp384r1_sha384", 0x0603: "ecdsa_secp521r1_sha512",
    0x0804: "rsa_pss_rsae_sha256", 0x0805: "rsa_pss_rsae_sha384", 0x0806: "rsa_pss_rsae_sha512",
    0x0807: "ed25519", 0x0808: "ed448",
    0x0809: "rsa_pss_pss_sha256", 0x080A: "rsa_pss_pss_sha384", 0x080B: "rsa_pss_pss_sha512",
}


def _schemes(block: bytes) -> tuple[str, ...]:
    codes = [int.from_bytes(block[i:i + 2], "big") for i in range(0, len(block) - 1, 2)]
    return tuple(SIGNATURE_SCHEMES.get(c, f"0x{c:04x}") for c in codes)


def parse_certificate_request(data: bytes, *, tls13: bool) -> tuple[str, ...] | None:
    """The signature schemes a server's CertificateRequest allows for the client's certificates.

    TLS 1.3: signature_algorithms_cert (50) if present, else signature_algorithms (13),
    from the request's extensions. TLS 1.2: supported_signature_algorithms. None when the
    message cannot be read.
    """
    try:
        pos = 4
        if not tls13:
            pos += 1 + data[pos]  # certificate_types
            length = int.from_bytes(data[pos:pos + 2], "big")
            return _schemes(data[pos + 2:pos + 2 + length])
        pos += 1 + data[pos]  # certificate_request_context
        end = pos + 2 + int.from_bytes(data[pos:pos + 2], "big")
        pos += 2
        found: dict[int, tuple[str, ...]] = {}
        while pos + 4 <= end:
            ext_type = int.from_bytes(data[pos:pos + 2], "big")
            ext_len = int.from_bytes(data[pos + 2:pos + 4], "big")
            body = data[pos + 4:pos + 4 + ext_len]
            if ext_type in (13, 50) and len(body) >= 2:
                found[ext_type] = _schemes(body[2:2 + int.from_bytes(body[:2], "big")])
            pos += 4 + ext_len
        return found.get(50, found.get(13))
    except IndexError:
        return None


_HAS_MSG_CALLBACK = hasattr(ssl.SSLContext, "_msg_callback")
#: the C-level hook under ``ssl.SSLContext._msg_callback`` (integers in, no enum conversion)
_RAW_MSG_CALLBACK = _ssl._SSLContext.__dict__.get("_msg_callback") if _HAS_MSG_CALLBACK else None


def _server_spoke() -> bool:
    return bool(getattr(_SPOKE, "value", True)) if _HAS_MSG_CALLBACK else True


def _wire_facts(handshake_done: bool) -> dict[str, object]:
    """``certificate_sent`` and ``certificate_request_sigalgs`` for this attempt's Evidence.

    A completed handshake with no Certificate message written means none was sent (the
    server asked for none); before that, nothing is known.
    """
    if not _HAS_MSG_CALLBACK:
        return {}
    sent = getattr(_SPOKE, "sent", None)
    if sent is None and handshake_done:
        sent = False
    # The server's list only matters (and only goes into the report) when nothing was sent.
    return {"certificate_sent": sent, "certificate_request_sigalgs": getattr(_SPOKE, "sigalgs", None)
            if sent is False else None}


class _Progress:
    """How far the current attempt got: decides the phase named in its outcome."""

    def __init__(self) -> None:
        self.handshake_done = False

    @property
    def phase(self) -> str:
        return "after-handshake" if self.handshake_done else "handshake"



def run_probe(endpoint: Endpoint, ctx: ssl.SSLContext, transport: Transport) -> Outcome:
    """One attempt over TCP: connect, TLS at ``transport.tls_version`` (set on ``ctx`` for each connection), requests."""
    import httpx  # its exception classes, which classify_error reads; loaded with the first probe

    from ._http import DEFAULT_HEADERS, Client

    version = _SSL_VERSIONS.get(transport.tls_version)
    if version is None:
        raise ValueError(f"no TCP TLS for {transport.tls_version!r}: QUIC attempts go through Prober.probe")
    host_header = transport.host_header or transport.server_name or endpoint.host
    base = Evidence(requested_version=transport.tls_version, server_name=transport.server_name, host_header=host_header)
    started = time.monotonic()
    own = [("Host", host_header), ("User-Agent", "mtlsgate"), *transport.headers]
    named = {name.lower() for name, _ in own}  # as httpx merged them: a default the probe names itself gives way
    headers = [*(h for h in DEFAULT_HEADERS if h[0].lower() not in named), *own]
    target = transport.path if _PLAIN_TARGET.fullmatch(transport.path) else \
        httpx.URL(endpoint.url(transport.path)).raw_path.decode("ascii")  # escaped and without #fragment, as httpx sent it
    connections: set[int] = set()
    last: Outcome | None = None
    progress = _Progress()
    _watch_server_bytes(ctx)
    _SPOKE.value = False
    _SPOKE.sent = None
    _SPOKE.sigalgs = None
    deadline = Deadline(transport.deadline)
    try:
        with deadline, Client(endpoint.host, endpoint.port, ctx, version,
                              transport.server_name or endpoint.host, transport.timeout, deadline, progress,
                              MAX_BODY) as client:
            for n in range(transport.requests):
                response = client.get(target, headers)
                connections.add(response.connection)
                evidence = replace(
                    base,
                    tls_version=response.tls_version,
                    cipher=response.cipher,
                    elapsed_ms=_ms(started),
                    requests=n + 1,
                    detail=f"connections used: {len(connections)}" if n else "",
                    **_wire_facts(True),  # type: ignore[arg-type]
                    server=response.header("server"),
                    alt_svc=response.header("alt-svc"),
                )
                last = classify_response(response.status, response.body, evidence)
                if not isinstance(last, Accepted):
                    return last
    except (httpx.TransportError, ssl.SSLError, OSError) as exc:
        phase = progress.phase
        evidence = replace(base, elapsed_ms=_ms(started), detail=_detail(exc),
                           **_wire_facts(progress.handshake_done))  # type: ignore[arg-type]
        if deadline.expired:
            return Unreachable(f"the target did not finish answering within {transport.deadline:g}s "
                               f"(probe deadline, {phase}): it answers too slowly", evidence)
        if isinstance(exc, httpx.TimeoutException):
            return _timeout_outcome(endpoint, exc, evidence, phase, transport.timeout)
        return classify_error(exc, evidence, phase, server_spoke=_server_spoke())
    assert last is not None
    return last


#: a request target sent as it is; any other (a user's URL path with spaces, non-ASCII, a #fragment) is escaped by httpx
_PLAIN_TARGET = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@/?%-]*")


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
    if reason == "TLSV1_UNRECOGNIZED_NAME":  # OpenSSL's name for a received alert 112 (an unknown SNI refused)
        return "unrecognized_name"
    marker = "ALERT_"
    if marker not in reason:
        return None
    return reason.split(marker, 1)[1].lower()


def classify_error(exc: BaseException, evidence: Evidence, phase: str, *, server_spoke: bool = True) -> Outcome:
    """What a failed attempt means; ``server_spoke``: did any TLS record arrive from the server?"""
    import httpx

    if isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)):
        phase = "after-handshake"
    evidence = replace(evidence, detail=evidence.detail or _detail(exc))
    if phase == "handshake" and not server_spoke and _is_disconnect(exc):
        return Unreachable("the target closed or reset the connection before answering the TLS handshake",
                           evidence, transient=True)
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
            return Unreachable("connection refused (nothing listens there)", evidence, transient=True)
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


def _is_disconnect(exc: BaseException) -> bool:
    """A reset or a bare EOF (not an alert, not a certificate error, not garbage)."""
    import httpx

    for cause in _causes(exc):
        if isinstance(cause, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, ssl.SSLEOFError,
                              ssl.SSLZeroReturnError)):
            return True
        if isinstance(cause, ssl.SSLError):
            return False
    text = str(exc).lower()
    return isinstance(exc, (httpx.ConnectError, httpx.ReadError)) and ("eof" in text or not text)


def _timeout_outcome(endpoint: Endpoint, exc: BaseException, evidence: Evidence, phase: str,
                     timeout: float) -> Outcome:
    import httpx

    if isinstance(exc, httpx.ConnectTimeout):
        if tcp_reachable(endpoint, min(timeout, 2.0)):
            return Unreachable(f"TCP connects but the TLS handshake did not finish within {timeout:g}s", evidence)
        return Unreachable(f"TCP connect timed out after {timeout:g}s", evidence, transient=True)
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


def is_ip_address(name: str) -> bool:
    """True for an IP literal: TLS clients send no SNI for those (RFC 6066 §3)."""
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


__all__ = ["TLS_VERSIONS", "TRANSPORTS", "KNOWN_MARKERS", "MAX_BODY", "ECHO_MARKER", "DEFAULT_RETRIES", "RETRY_BACKOFF", "Endpoint", "Transport", "Prober", "run_probe", "parse_certificate_message", "parse_certificate_request", "SIGNATURE_SCHEMES", "classify_response", "parse_echo", "body_marker", "alert_name", "classify_error", "tcp_reachable", "is_ip_address"]
