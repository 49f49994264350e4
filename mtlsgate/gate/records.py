"""What a check leaves behind: one :class:`CheckRecord` per check, target and TLS version.

Records are the only thing reports are made from, so they hold public facts only — the
outcome, what a valid client got, a summary of the certificate presented — never a key.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ..checks import PROBE_CHECKS, catalogue
from ..fuzz import FUZZ_CHECK
from ..pki import Credential, key_description, signature_hash_name

MODE_CHECK = "mode.client-auth-required"


@dataclass(frozen=True)
class CheckRecord:
    """One row of the report: a check on one target over one TLS version, with its evidence."""

    id: str
    tls_version: str
    target: str
    group: str
    verdict: str
    expected: str
    observed: str
    reason: str
    presents: str
    profile: str = "default"
    outcome: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    certificate: dict[str, Any] | None = None
    duration_ms: float = 0.0
    log_excerpt: str | None = None  # a local LB's log lines from a failed check (bounded, scrubbed)
    fuzz: dict[str, Any] | None = None  # fuzz.oracle-agreement: counts, disagreements, reproducer paths
    repro: str | None = None  # a reproducer directory (relative to the reports directory)
    attempts: list[dict[str, Any]] | None = None  # probe checks: every variant tried, with its outcome
    backend_headers: list[list[str]] | None = None  # header checks: identity headers the backend received

    def to_dict(self) -> dict[str, Any]:
        """The row as the reports hold it. Shallow: the evidence dicts are already plain data, made
        once and shared (a target's baseline appears in every row), and nothing edits them later;
        ``dataclasses.asdict`` deep-copied them into every row of a fleet run."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def certificate_summary(cred: Credential | None) -> dict[str, Any] | None:
    """Public facts about the presented certificate, for the report (never the key)."""
    if cred is None:
        return None
    cert = cred.cert
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        ca: bool | None = bc.ca
    except x509.ExtensionNotFound:
        ca = None
    try:
        eku = [o._name for o in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value]
    except x509.ExtensionNotFound:
        eku = None
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "X"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "key": key_description(cert.public_key()),
        "signature_hash": signature_hash_name(cert),
        "ca": ca,
        "eku": eku,
        "chain_sent": [c.subject.rfc4514_string() for c in cred.chain],
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }


def describe_check(check_id: str) -> tuple[str, str]:
    """(group, expected) of any known check id; an unknown id raises KeyError (a bug in the suite)."""
    if check_id == MODE_CHECK:
        return "mode", "reject"
    if check_id == FUZZ_CHECK:
        return "fuzz", "oracle"
    if check_id in PROBE_CHECKS:
        entry = PROBE_CHECKS[check_id]
        return entry.group, entry.expect
    case = catalogue.get(check_id)
    return case.group, case.expect


__all__ = ["MODE_CHECK", "CheckRecord", "certificate_summary", "describe_check"]
