"""One attempt on the wire, bounded in time, and what it amounted to.

``probe`` connects, handshakes, sends one HTTP request and classifies the answer into an
:class:`Outcome` (``outcome``); ``deadline`` shuts sockets whose time is up; ``handshake``
looks at the CertificateRequest; ``echo`` is the backend that shows what reached it.
Nothing here judges: an outcome is a fact, the verdict is :mod:`mtlsgate.judge`'s.

May import: :mod:`mtlsgate.pki`, :mod:`mtlsgate.errors`.
"""

from __future__ import annotations

from .deadline import Deadline
from .echo import MAX_REQUEST_BODY, EchoHandler, EchoServer, RunningEcho, run_echo, serve_forever
from .handshake import HandshakeFacts, inspect_handshake
from .outcome import (
    REJECTIONS,
    Accepted,
    Evidence,
    Misdirected,
    Outcome,
    RejectedEOF,
    RejectedHTTP,
    RejectedTLS,
    SentCertificate,
    Unreachable,
    describe,
    to_dict,
)
from .probe import (
    DEFAULT_RETRIES,
    ECHO_MARKER,
    KNOWN_MARKERS,
    MAX_BODY,
    RETRY_BACKOFF,
    SIGNATURE_SCHEMES,
    TLS_VERSIONS,
    TRANSPORTS,
    Endpoint,
    Prober,
    Transport,
    alert_name,
    body_marker,
    classify_error,
    classify_response,
    is_ip_address,
    parse_certificate_message,
    parse_certificate_request,
    parse_echo,
    run_probe,
    tcp_reachable,
)
from .quic import (
    ALERTS,
    CRYPTO_ERROR_BASE,
    QUIC,
    QuicExchange,
    classify_close,
    crypto_error_alert,
    quic_exchange,
    run_quic_probe,
)

__all__ = [
    "Evidence",
    "parse_certificate_message",
    "parse_certificate_request",
    "SIGNATURE_SCHEMES",
    "SentCertificate",
    "Accepted",
    "RejectedTLS",
    "RejectedEOF",
    "RejectedHTTP",
    "Misdirected",
    "Unreachable",
    "Outcome",
    "REJECTIONS",
    "describe",
    "to_dict",
    "Deadline",
    "TLS_VERSIONS",
    "TRANSPORTS",
    "KNOWN_MARKERS",
    "MAX_BODY",
    "ECHO_MARKER",
    "DEFAULT_RETRIES",
    "RETRY_BACKOFF",
    "Endpoint",
    "Transport",
    "Prober",
    "run_probe",
    "classify_response",
    "parse_echo",
    "body_marker",
    "alert_name",
    "classify_error",
    "tcp_reachable",
    "is_ip_address",
    "QUIC",
    "CRYPTO_ERROR_BASE",
    "ALERTS",
    "crypto_error_alert",
    "classify_close",
    "run_quic_probe",
    "quic_exchange",
    "QuicExchange",
    "HandshakeFacts",
    "inspect_handshake",
    "MAX_REQUEST_BODY",
    "EchoHandler",
    "EchoServer",
    "RunningEcho",
    "run_echo",
    "serve_forever",
]
