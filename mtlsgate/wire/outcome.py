"""What happened on one attempt, with the evidence a reviewer needs to believe it.

Outcomes are facts about the wire, not judgements: whether an ``Accepted`` answer is a
failure depends on the check (see :mod:`mtlsgate.expect`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any


@dataclass(frozen=True)
class SentCertificate:
    """The leaf the client actually put in its Certificate message (public facts only)."""

    subject: str
    sha256: str
    chain_length: int = 1  # certificates in the message, the leaf included


@dataclass(frozen=True)
class Evidence:
    """Diagnostics that travel with every outcome into the report."""

    tls_version: str | None = None  # negotiated ("TLSv1.3"), or None when no handshake completed
    requested_version: str | None = None  # what the client forced ("1.2" / "1.3" / "quic")
    cipher: str | None = None
    elapsed_ms: float = 0.0
    server_name: str | None = None  # SNI sent (None: no SNI)
    host_header: str | None = None
    detail: str = ""  # the library's own words (exception text), trimmed
    requests: int = 1  # HTTP requests sent on the connection
    retries: int = 0  # transient connection errors retried before this outcome
    #: Did the client send a certificate? The leaf it sent; False: an empty Certificate
    #: message (or none after a completed handshake); None: the handshake never got that far.
    certificate_sent: SentCertificate | bool | None = None
    #: What the server's CertificateRequest allowed for certificate signatures
    #: (signature_algorithms_cert, else signature_algorithms); None: no request seen.
    certificate_request_sigalgs: tuple[str, ...] | None = None
    server: str | None = None  # the answer's Server header, if any (--profile auto recognises products by it)
    #: The ``Alt-Svc`` header of an HTTP answer over TCP (``h3=":443"`` announces HTTP/3), if any.
    alt_svc: str | None = None


@dataclass(frozen=True)
class Accepted:
    """The target answered over HTTP as it answers an authenticated client."""

    status: int
    echoed_headers: tuple[tuple[str, str], ...] | None = None  # what the echo backend received
    evidence: Evidence = field(default_factory=Evidence)
    kind = "accepted"

    @property
    def reached_backend(self) -> bool:
        return self.echoed_headers is not None


@dataclass(frozen=True)
class RejectedTLS:
    """A TLS alert, during the handshake or on the first read after it (TLS 1.3)."""

    alert: str
    phase: str  # "handshake" | "after-handshake"
    evidence: Evidence = field(default_factory=Evidence)
    kind = "rejected-tls"


@dataclass(frozen=True)
class RejectedEOF:
    """The connection closed (FIN or RST) without an alert or an HTTP answer."""

    phase: str
    evidence: Evidence = field(default_factory=Evidence)
    kind = "rejected-eof"


@dataclass(frozen=True)
class RejectedHTTP:
    """An HTTP error over a completed handshake (nginx 400, Azure 400, Apache 403)."""

    status: int
    marker: str = ""  # the recognisable part of the body, e.g. "No required SSL certificate was sent"
    evidence: Evidence = field(default_factory=Evidence)
    kind = "rejected-http"


@dataclass(frozen=True)
class Misdirected:
    """HTTP 421: the target refused to serve this Host on this connection."""

    status: int = 421
    evidence: Evidence = field(default_factory=Evidence)
    kind = "misdirected"


@dataclass(frozen=True)
class Unreachable:
    """No verdict is possible: refused, timed out, not TLS, server certificate invalid..."""

    reason: str
    evidence: Evidence = field(default_factory=Evidence)
    #: Nothing of the TLS exchange happened yet (refused, TCP connect timed out, closed or
    #: reset before the server's first byte): the target cannot have judged the client, so
    #: the attempt may be retried without turning a rejection into an acceptance.
    transient: bool = False
    kind = "unreachable"


Outcome = Accepted | RejectedTLS | RejectedEOF | RejectedHTTP | Misdirected | Unreachable

REJECTIONS = (RejectedTLS, RejectedEOF, RejectedHTTP, Misdirected)


def describe(outcome: Outcome) -> str:
    """One line for humans: ``rejected-tls certificate_required (after-handshake, TLSv1.3)``."""
    ev = outcome.evidence
    version = ev.tls_version or (f"TLS {ev.requested_version}" if ev.requested_version else "")
    if isinstance(outcome, Accepted):
        where = ", reached backend" if outcome.reached_backend else ""
        return f"accepted: HTTP {outcome.status}{where} ({version})"
    if isinstance(outcome, RejectedTLS):
        return f"rejected by TLS alert {outcome.alert} ({outcome.phase}, {version})"
    if isinstance(outcome, RejectedEOF):
        return f"rejected by EOF ({outcome.phase}, {version})"
    if isinstance(outcome, RejectedHTTP):
        marker = f' "{outcome.marker}"' if outcome.marker else ""
        return f"rejected by HTTP {outcome.status}{marker} ({version})"
    if isinstance(outcome, Misdirected):
        return f"misdirected: HTTP 421 ({version})"
    return f"unreachable: {outcome.reason}"


def to_dict(outcome: Outcome) -> dict[str, Any]:
    """JSON-ready form: ``kind`` plus the outcome's fields and evidence."""
    data = _plain(outcome)
    data["kind"] = outcome.kind
    data["summary"] = describe(outcome)
    if isinstance(outcome, Accepted) and outcome.echoed_headers is not None:
        data["echoed_headers"] = [list(pair) for pair in outcome.echoed_headers]
    return data


def _plain(value: Any) -> Any:
    """What ``dataclasses.asdict`` gives for an outcome: nested dataclasses as dicts, the rest as it is.

    ``asdict`` rebuilds every tuple and deep-copies every leaf; an outcome's other values are
    immutable (str, int, float, bool, None, tuples of those), and a fleet converts ~10 000.
    """
    if is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _field_names(type(value))}
    return value


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


__all__ = ["SentCertificate", "Evidence", "Accepted", "RejectedTLS", "RejectedEOF", "RejectedHTTP", "Misdirected", "Unreachable", "Outcome", "REJECTIONS", "describe", "to_dict"]
