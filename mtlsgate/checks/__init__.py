"""The named checks: what each one presents, what it expects, and how the multi-attempt ones run.

Where a new check goes: a client identity is a :class:`~mtlsgate.checks.catalogue.Case` in
``catalogue``; a check that makes several attempts (bypasses, headers, proof of
possession, CA names) is a function ``(CheckContext) -> Finding`` in its own module plus one
line in ``registry``. The suites in ``suites/`` name check ids and nothing else.

May import: :mod:`mtlsgate.judge`, :mod:`mtlsgate.wire`, :mod:`mtlsgate.pki`, :mod:`mtlsgate.errors`
(never :mod:`mtlsgate.fuzz` or :mod:`mtlsgate.kit`, its siblings).
"""

from __future__ import annotations

from .bypass import h2_coalescing, host_variants, no_sni, sni_host_mismatch
from .canames import NO_NAMES, ca_names, name_of
from .catalogue import (
    BY_ID,
    CASES,
    NEEDS_TEXT,
    SIBLING_CREDENTIALS,
    Case,
    Materials,
    allows_intermediates,
    below_pathlen_intermediate,
    build_sibling,
    check_intermediate,
    deep_intermediates,
    expired_intermediate,
    get,
    pathlen_zero_intermediate,
    published_intermediates,
    rsa_intermediate,
    sibling_presents,
    unknown_intermediate,
    valid_sibling,
)
from .finding import EXTRA_NEEDS, NO_CERT_ADMITTED, Attempt, CheckContext, Finding, ProbeCheck, alt_name, combine
from .h3 import TCP_VERSION, h3_parity, h3_sni_case, sni_spellings
from .headercheck import (
    BATCH,
    SPOOF_MARK,
    VALUE_LIMIT,
    declared_headers,
    forwarded_identity,
    identity_seen,
    lb_sets,
    spoof_batches,
    spoof_with_cert,
    spoof_without_cert,
    verify_distinguishes_none,
)
from .headers import CLIENT_CERT_HEADERS, aliases, is_client_cert_header, normalise
from .identity import DISCOVERABLE, KINDS, VERIFY_OK, cert_der, discover, matches, name_pairs, parse_dn, recognise
from .possession import WRONG_KEY_SLOT, forged_handshake, load_tlslite, no_proof_of_possession
from .registry import PROBE_CHECKS
from .resume import MAX_HEAD, Exchange, exchange, parse_echo, resumption_cross_host

__all__ = [
    "KINDS",
    "DISCOVERABLE",
    "VERIFY_OK",
    "name_pairs",
    "parse_dn",
    "recognise",
    "discover",
    "declared_headers",
    "lb_sets",
    "h3_parity",
    "h3_sni_case",
    "sni_spellings",
    "TCP_VERSION",
    "CLIENT_CERT_HEADERS",
    "normalise",
    "is_client_cert_header",
    "aliases",
    "NEEDS_TEXT",
    "allows_intermediates",
    "Materials",
    "Case",
    "check_intermediate",
    "expired_intermediate",
    "pathlen_zero_intermediate",
    "below_pathlen_intermediate",
    "deep_intermediates",
    "rsa_intermediate",
    "unknown_intermediate",
    "published_intermediates",
    "SIBLING_CREDENTIALS",
    "build_sibling",
    "sibling_presents",
    "valid_sibling",
    "CASES",
    "BY_ID",
    "get",
    "Attempt",
    "Finding",
    "CheckContext",
    "ProbeCheck",
    "combine",
    "alt_name",
    "EXTRA_NEEDS",
    "NO_CERT_ADMITTED",
    "ca_names",
    "name_of",
    "NO_NAMES",
    "no_proof_of_possession",
    "load_tlslite",
    "forged_handshake",
    "WRONG_KEY_SLOT",
    "exchange",
    "resumption_cross_host",
    "Exchange",
    "parse_echo",
    "MAX_HEAD",
    "sni_host_mismatch",
    "no_sni",
    "h2_coalescing",
    "host_variants",
    "spoof_without_cert",
    "spoof_with_cert",
    "forwarded_identity",
    "verify_distinguishes_none",
    "spoof_batches",
    "matches",
    "cert_der",
    "identity_seen",
    "SPOOF_MARK",
    "BATCH",
    "VALUE_LIMIT",
    "PROBE_CHECKS",
]
