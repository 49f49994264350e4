"""Which product answers: ``--profile auto`` recognises it from what preflight already saw.

Product behaviour (what a product can and cannot enforce: Go has no CRL for client
certificates and ignores keyUsage on client leaves) is true of every listener of that
product, whatever its site's expectations; so an external target's product is recognised
from its answers and its profile used (``--profile auto``), or its ``unsupported`` list
merged into the profile the user named. The signs, strongest first: a ``Server`` header
naming the product (the echo backend's own is ignored), nginx's 400 pages ("No required
SSL certificate was sent", "The SSL certificate error"), Go net/http's "404 page not
found" without a Server header for a Host it does not serve (Traefik), and older Go's alert
pattern (``bad_certificate`` for every refused certificate, also for a missing one over TLS
1.2, where OpenSSL-based servers send ``handshake_failure`` / ``unknown_ca``; Go 1.24
answers like OpenSSL). HAProxy, stunnel and hitch name themselves nowhere by default: what
matches nothing falls back to ``default`` and says so. Pure: the lifecycle makes the probes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..wire import Misdirected, Outcome, RejectedHTTP, RejectedTLS

#: ``Server`` header patterns -> product; the first match wins.
SERVER_SIGNS: tuple[tuple[str, str], ...] = (
    (r"^nginx\b|openresty", "nginx"),
    (r"ApacheTrafficServer|^ATS\b", "trafficserver"),
    (r"^Apache\b", "apache"),
    (r"^Caddy\b", "caddy"),
    (r"[Tt]raefik", "traefik"),
    (r"HAProxy", "haproxy"),
    (r"^lighttpd\b", "lighttpd"),
    (r"^squid\b", "squid"),
    (r"^envoy\b", "envoy"),
)
#: nginx's own 400 pages for a missing or refused client certificate.
NGINX_PAGES = ("No required SSL certificate was sent", "The SSL certificate error")
#: Go net/http's NotFound page: what Traefik answers for a Host no router matches.
GO_NOT_FOUND = "404 page not found"
#: The echo backend's Server header: not the LB's.
ECHO_SERVER = "mtlsgate-echo"


@dataclass(frozen=True)
class Detection:
    """What product the target is, which profile that means, and the evidence for it."""

    product: str | None  # "nginx", "caddy", "go" (a Go server, product unknown), ... or None
    profile: str  # the product profile used ("default" when none fits)
    source: str  # "detected" | "not recognised" | "known" (a local or reference target)
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"product": self.product, "profile": self.profile, "source": self.source, "why": self.why}


def detect(*, no_cert: Iterable[Outcome], valid: Iterable[Outcome | None], bad_cert: Iterable[Outcome | None],
           other_host: Iterable[Outcome | None] = (), available: Iterable[str]) -> Detection:
    """The product behind these answers, and its profile if one exists.

    ``no_cert``/``valid``: preflight's, per TLS version; ``bad_cert``: what a self-signed
    client certificate got; ``other_host``: what a valid client got for a Host the target
    does not serve (an answer the LB makes itself, so its own ``Server`` header and page).
    """
    no_cert, valid, bad_cert = list(no_cert), [o for o in valid if o], [o for o in bad_cert if o]
    other_host = [o for o in other_host if o]
    profiles = set(available)
    for outcome in (*other_host, *valid, *no_cert, *bad_cert):
        server = (outcome.evidence.server or "").strip()
        if not server or server.startswith(ECHO_SERVER):
            continue
        for pattern, product in SERVER_SIGNS:
            if re.search(pattern, server):
                return _found(product, f"Server: {server}", profiles)
    for outcome in no_cert:
        if isinstance(outcome, RejectedHTTP) and outcome.marker in NGINX_PAGES:
            return _found("nginx", f'a client without a certificate got nginx\'s HTTP {outcome.status} page '
                                   f'"{outcome.marker}"', profiles)
    for outcome in other_host:
        if isinstance(outcome, RejectedHTTP) and outcome.marker == GO_NOT_FOUND and not outcome.evidence.server:
            return _found("traefik", f'a Host it does not serve got Go net/http\'s HTTP {outcome.status} '
                                     f'"{GO_NOT_FOUND}" with no Server header (Traefik\'s answer when no router '
                                     "matches; Caddy would name itself)", profiles)
    go_signs = [f"{what} got TLS alert bad_certificate" for what, outcomes in
                (("a client without a certificate over TLS 1.2", [o for o in no_cert
                                                                   if o.evidence.requested_version == "1.2"]),
                 ("a self-signed client certificate", bad_cert))
                if outcomes and all(isinstance(o, RejectedTLS) and o.alert == "bad_certificate" for o in outcomes)]
    if go_signs:
        return _found("go", "Go crypto/tls's alert pattern (" + "; ".join(go_signs) + "; OpenSSL-based servers send "
                      "handshake_failure / unknown_ca); no Server header names the product", profiles)
    seen = sorted({_sign(o) for o in (*no_cert, *bad_cert, *other_host)})
    return Detection(None, "default", "not recognised",
                     "no Server header names the product and the alerts are not product-specific ("
                     + ", ".join(seen) + "): using the default profile")


def _sign(outcome: Outcome) -> str:
    if isinstance(outcome, RejectedTLS):
        return f"alert {outcome.alert}"
    if isinstance(outcome, (RejectedHTTP, Misdirected)):
        return f"HTTP {outcome.status}"
    return outcome.kind


def _found(product: str, why: str, profiles: set[str]) -> Detection:
    if product in profiles:
        return Detection(product, product, "detected", why)
    return Detection(product, "default", "detected", f"{why}; mtlsgate has no {product} profile: using default")


__all__ = ["Detection", "detect", "SERVER_SIGNS", "NGINX_PAGES", "GO_NOT_FOUND", "ECHO_SERVER"]
