"""TLS session resumption across names (lb-behaviour.md V07: nginx CVE-2025-23419, Apache CVE-2025-23048).

A resumed handshake carries the first handshake's client identity without a certificate
being presented again. If a session made for one name (or a name without client auth) is
resumed under another, the target must refuse the resumption, re-verify with a full
handshake, or answer 421 — never serve the protected name on the carried-over identity.

httpx cannot hand an ``ssl.SSLSession`` to a connection, so this check has its own small
probe: a socket, ``SSLContext.wrap_socket(session=...)``, one HTTP/1.1 request, bounded
reads. Python ties a session to the context that made it, so each scenario uses one
fresh context for both connections. Over QUIC the same scenarios run with aioquic session
tickets (:meth:`mtlsgate.wire.Prober.quic_exchange`), where the target issues them.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..judge import FAIL, PASS, SKIP
from ..pki import Credential
from ..wire import (
    MAX_BODY,
    Accepted,
    Evidence,
    Outcome,
    Unreachable,
    classify_error,
    classify_response,
    describe,
    parse_echo,
)
from .finding import NO_CERT_ADMITTED, Attempt, CheckContext, Finding, alt_name, combine

MAX_HEAD = 32 * 1024


@dataclass(frozen=True)
class Exchange:
    outcome: Outcome
    session: ssl.SSLSession | Any | None  # an ssl.SSLSession over TCP, an aioquic SessionTicket over QUIC
    reused: bool


def exchange(ctx: CheckContext, tls: ssl.SSLContext, sni: str | None, host: str,
             session: ssl.SSLSession | None = None) -> Exchange:
    """One connection: handshake (offering ``session``), one request, the response, the new session."""
    endpoint = ctx.target.endpoint
    base = Evidence(requested_version=ctx.tls_version, server_name=sni, host_header=host)
    started = time.monotonic()
    deadline = started + ctx.timeout * 2
    phase = "handshake"
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=ctx.timeout) as raw:
            with tls.wrap_socket(raw, server_hostname=sni, session=session) as conn:
                phase = "after-handshake"
                request = (f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mtlsgate\r\n"
                           "Connection: close\r\n\r\n").encode("latin-1")
                conn.sendall(request)
                status, body = _read_response(conn, deadline)
                reused = conn.session_reused
                evidence = Evidence(tls_version=conn.version(), requested_version=ctx.tls_version,
                                    cipher=(conn.cipher() or ("",))[0], server_name=sni, host_header=host,
                                    elapsed_ms=_ms(started), detail=f"session resumed: {'yes' if reused else 'no'}")
                outcome = classify_response(status, body, evidence)
                return Exchange(outcome, conn.session, reused)
    except TimeoutError:
        return Exchange(Unreachable(f"no answer within {ctx.timeout:g}s ({phase})", base), None, False)
    except (ssl.SSLError, OSError, ValueError) as exc:
        return Exchange(classify_error(exc, Evidence(requested_version=ctx.tls_version, server_name=sni,
                                                     host_header=host, elapsed_ms=_ms(started)), phase),
                        None, False)


def _read_response(conn: ssl.SSLSocket, deadline: float) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response (Content-Length or until close), bounded in size and time."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD or time.monotonic() > deadline:
            raise TimeoutError("response head too slow or too large")
        chunk = conn.recv(16384)
        if not chunk:
            raise ConnectionResetError("connection closed before a response")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {lines[0][:60]!r}")
    length = next((int(v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])
                   if k.strip().lower() == "content-length" and v.strip().isdigit()), None)
    while (length is None or len(body) < length) and len(body) < MAX_BODY:
        if time.monotonic() > deadline:
            break
        try:
            chunk = conn.recv(16384)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionResetError):
            break
        if not chunk:
            break
        body += chunk
    return int(parts[1]), body[:length] if length is not None else body


def resumption_cross_host(ctx: CheckContext) -> Finding:
    """A session must not carry an identity into the protected name that its policy did not verify.

    Decisive: a session made *without* a certificate under another name the listener
    serves, resumed under the protected name — the CVE-2025-23419 / CVE-2025-23048 class.
    Recorded as evidence: a session made with a valid certificate for the protected name,
    resumed under another SNI. OpenSSL keeps a TLS 1.2 session's original name (RFC 6066
    asks servers to refuse such a resumption), so being served there is reported, not
    failed: the identity was verified under the protected name's own policy.
    """
    protected, other = ctx.protected_name, alt_name(ctx)
    attempts: list[Attempt] = []
    connect = _connector(ctx)
    if ctx.valid is not None:
        first = connect(ctx.valid, protected, protected)
        if ctx.tls_version == "quic" and isinstance(first.outcome, Accepted) and first.session is None:
            attempts.append(Attempt(f"valid certificate, SNI {protected} (evidence)", SKIP,
                                    "the target issued no session ticket to a valid client over QUIC: nothing to "
                                    f"resume ({describe(first.outcome)})", first.outcome))
        elif not (isinstance(first.outcome, Accepted) and first.session is not None):
            attempts.append(Attempt(f"valid certificate, SNI {protected}", FAIL,
                                    f"no session to resume: a valid client got {describe(first.outcome)}",
                                    first.outcome))
        else:
            same = connect(ctx.valid, protected, protected, first.session)
            attempts.append(Attempt(f"valid session resumed under the same name {protected} (evidence)", SKIP,
                                    f"the target {'resumes' if same.reused else 'does not resume'} sessions: "
                                    f"{describe(same.outcome)}", same.outcome))
            cross = connect(ctx.valid, other, protected, first.session)
            how = ("resumed" if cross.reused else "not resumed (full handshake)") + f": {describe(cross.outcome)}"
            attempts.append(Attempt(f"valid session resumed under SNI {other}, Host {protected} (evidence)", SKIP,
                                    how + ("; the identity was verified for this name" if cross.reused else ""),
                                    cross.outcome))
    if ctx.no_cert_admitted:
        attempts.append(Attempt(f"session without a certificate under SNI {other}", SKIP, NO_CERT_ADMITTED))
        return combine(ctx, attempts)
    opener = connect(None, other, other)
    if opener.session is None or not isinstance(opener.outcome, Accepted):
        attempts.append(Attempt(f"session without a certificate under SNI {other}", SKIP,
                                f"the listener serves no other name without a client certificate, so there is no "
                                f"unauthenticated session to carry over ({describe(opener.outcome)})", opener.outcome))
        decisive = [a for a in attempts if a.verdict == FAIL]
        if not decisive:
            # Nothing to carry over is itself the safe answer; say so rather than skip.
            return combine(ctx, [*attempts, Attempt("cross-name resumption", PASS,
                                                    f"no session without a certificate can be made under {other}",
                                                    opener.outcome)])
        return combine(ctx, attempts)
    carried = connect(None, protected, protected, opener.session)
    attempts.append(_judge_resumed(ctx, f"session without a certificate from {other} resumed under {protected}",
                                   carried))
    return combine(ctx, attempts)


def _connector(ctx: CheckContext) -> Callable[..., Exchange]:
    """``connect(credential, sni, host, session=None) -> Exchange`` over the check's transport.

    TCP: one fresh ``SSLContext`` per credential (Python ties a session to the context that
    made it). QUIC: aioquic session tickets; a ticket offered under any SNI, ``reused`` when
    the server accepted it (a PSK handshake without a certificate).
    """
    if ctx.tls_version == "quic":
        def quic(credential: Credential | None, sni: str, host: str, session: object = None) -> Exchange:
            got = ctx.prober.quic_exchange(ctx.target.endpoint, credential,
                                           ctx.transport(server_name=sni, host_header=host, check_hostname=False),
                                           session)
            return Exchange(got.outcome, got.ticket, got.resumed)
        return quic
    contexts: dict[int, ssl.SSLContext] = {}

    def tcp(credential: Credential | None, sni: str, host: str, session: ssl.SSLSession | None = None) -> Exchange:
        tls = contexts.get(id(credential))
        if tls is None:
            tls = contexts[id(credential)] = ctx.prober.fresh_context(credential, ctx.tls_version,
                                                                      check_hostname=False)
        return exchange(ctx, tls, sni, host, session)
    return tcp


def _judge_resumed(ctx: CheckContext, label: str, ex: Exchange) -> Attempt:
    outcome = ex.outcome
    reached = isinstance(outcome, Accepted) and outcome.reached_backend
    if isinstance(outcome, Unreachable):
        return Attempt(label, FAIL, f"no verdict possible: {outcome.reason}", outcome)
    if not reached:
        how = "resumed, then refused" if ex.reused else "resumption refused or re-verified"
        return Attempt(label, PASS, f"{how}: {describe(outcome)}", outcome)
    if not ex.reused:
        return Attempt(label, SKIP, "not resumed: a full handshake without a certificate was let in, which is "
                                    f"reject.no-cert's finding, not a resumption one ({describe(outcome)})", outcome)
    return Attempt(label, FAIL, "the protected backend was reached on a resumed session that never presented a "
                                f"certificate: {describe(outcome)}", outcome, backend_headers=_identity(outcome))


def _identity(outcome: Outcome) -> tuple[tuple[str, str], ...] | None:
    from .headers import is_client_cert_header

    if not isinstance(outcome, Accepted) or outcome.echoed_headers is None:
        return None
    return tuple((k, v[:120]) for k, v in outcome.echoed_headers if is_client_cert_header(k))


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 2)


__all__ = ["exchange", "resumption_cross_host", "Exchange", "parse_echo", "MAX_HEAD"]
