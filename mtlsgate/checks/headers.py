"""The client-certificate header names LBs forward, and their spoofable aliases.

Backends trust these headers as proof of client identity, so a proxy must never pass a
client's own copy through. Many backends (CGI, PHP, some frameworks) fold ``_`` and ``.``
into ``-``, so the aliases are as dangerous as the canonical names (lb-behaviour.md §5).
"""

from __future__ import annotations

#: Canonical names from the conventions of nginx, HAProxy, Apache, Envoy, Traefik, Caddy,
#: AWS, GCP, Huawei ELB and RFC 9440.
CLIENT_CERT_HEADERS = (
    "X-SSL-Client-Verify",
    "X-SSL-Client-DN",
    "X-SSL-Client-S-DN",
    "X-SSL-Client-I-DN",
    "X-SSL-Client-CN",
    "X-SSL-Client-Cert",
    "X-SSL-Client-Serial",
    "X-SSL-Client-Fingerprint",
    "X-SSL-Client-SHA1",
    "X-SSL-Client-Used",
    "X-SSL-Issuer",
    "X-Client-Cert",
    "X-Client-Verify",
    "X-Client-Cert-Present",
    "SSL-Client-Verify",
    "SSL-Client-Subject-DN",
    "SSL-Client-Cert",
    "X-Forwarded-Client-Cert",
    "X-Forwarded-Tls-Client-Cert",
    "X-Forwarded-Tls-Client-Cert-Info",
    "X-Amzn-Mtls-Clientcert",
    "X-Amzn-Mtls-Clientcert-Subject",
    "CloudFront-Viewer-Cert-Present",
    "Client-Cert",
    "Client-Cert-Chain",
    "X-Forwarded-Clientcert",
    "X-Forwarded-Clientcert-Clientverify",
    "X-Forwarded-Clientcert-Subjectdn",
)

_PREFIXES = ("x-ssl-client", "x-ssl-issuer", "x-client-cert", "x-client-verify", "ssl-client-",
             "x-forwarded-client-cert", "x-forwarded-tls-client-cert", "x-amzn-mtls-", "cloudfront-viewer-cert",
             "client-cert", "x-forwarded-clientcert")


def normalise(name: str) -> str:
    """How a backend that folds ``_`` and ``.`` into ``-`` sees a header name."""
    return name.strip().lower().replace("_", "-").replace(".", "-")


def is_client_cert_header(name: str) -> bool:
    """True for any name, alias or case variant a backend could read as client identity."""
    folded = normalise(name)
    return any(folded.startswith(prefix) for prefix in _PREFIXES)


def aliases(name: str) -> tuple[str, ...]:
    """The canonical name plus its ``_``, ``.`` and lower-case forms."""
    return (name, name.replace("-", "_"), name.replace("-", "."), name.lower())


__all__ = ["CLIENT_CERT_HEADERS", "normalise", "is_client_cert_header", "aliases"]
