"""The checks beyond "present one credential and judge the answer": check id -> the function that runs it.

Catalogue checks (:mod:`mtlsgate.catalogue`) are data; these make several attempts each
(Host spellings, resumed sessions, HTTP/2 streams, forged handshakes, forged headers) and
judge every attempt with :func:`mtlsgate.expect.judge`. ``Gate.run_check`` dispatches here.
"""

from __future__ import annotations

from . import bypass, canames, h3, headercheck, possession, resume
from .finding import ProbeCheck

_ENTRIES = (
    ProbeCheck("reject.no-proof-of-possession", "missing",
               "a valid certificate with a CertificateVerify signed by another key, or none (tlslite-ng)", "reject",
               possession.no_proof_of_possession, needs=("identity",),
               not_over_quic="the forged CertificateVerify is made by tlslite-ng, a TLS-over-TCP client",
               prepare=possession.load_tlslite),
    ProbeCheck("trust.ca-names", "trust", "no certificate; reads the CA names of the CertificateRequest", "accept",
               canames.ca_names, needs=("client_ca_cert",),
               not_over_quic="the CertificateRequest is read with pyOpenSSL over TCP (the LB's one certificate "
                             "configuration serves both)"),
    ProbeCheck("bypass.sni-host-mismatch", "bypass",
               "no certificate, SNI of another name, Host of the protected name (exact, trailing dot, upper case, :port)",
               "reject", bypass.sni_host_mismatch),
    ProbeCheck("bypass.no-sni", "bypass", "no certificate and no SNI, Host of the protected name", "reject",
               bypass.no_sni, not_over_quic="the SNI-less attempt is a raw TLS-over-TCP exchange"),
    ProbeCheck("bypass.resumption-cross-host", "bypass",
               "a TLS session made for one name resumed under another (with and without a certificate)", "reject",
               resume.resumption_cross_host, needs=("identity",)),
    ProbeCheck("bypass.h2-coalescing", "bypass",
               "HTTP/2: a stream for the protected name on a connection opened for another name, no certificate",
               "reject", bypass.h2_coalescing, needs=("identity",),
               not_over_quic="HTTP/2 runs over TCP; bypass.h3-sni-case covers names over QUIC"),
    ProbeCheck("bypass.h3-parity", "bypass",
               "each client the target rejects over TCP (no certificate and every reject.* certificate), again over "
               "QUIC", "reject", h3.h3_parity, quic_only=True),
    ProbeCheck("bypass.h3-sni-case", "bypass",
               "QUIC, no certificate, the protected name's SNI in upper, mixed case and with a trailing dot",
               "reject", h3.h3_sni_case, quic_only=True),
    ProbeCheck("headers.forwarded-identity", "headers",
               "a valid client; the backend must see its identity in the headers the profile names", "accept",
               headercheck.forwarded_identity, needs=("identity", "echo_backend")),
    ProbeCheck("headers.spoof-without-cert", "headers",
               "no certificate, forged identity headers (canonical, _ and . aliases, lower case, duplicates)",
               "reject", headercheck.spoof_without_cert, needs=("echo_backend",)),
    ProbeCheck("headers.spoof-with-cert", "headers",
               "a valid client sending forged identity headers (canonical, _ and . aliases, lower case, duplicates)",
               "reject", headercheck.spoof_with_cert, needs=("identity", "echo_backend")),
    ProbeCheck("headers.verify-distinguishes-none", "headers",
               "no certificate vs a valid one: the verify header the backend gets must differ", "reject",
               headercheck.verify_distinguishes_none, needs=("echo_backend",)),
)

PROBE_CHECKS: dict[str, ProbeCheck] = {entry.id: entry for entry in _ENTRIES}

__all__ = ["PROBE_CHECKS"]
