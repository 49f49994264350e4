"""What a correct verifier must do with a client chain: accept, reject, or either.

The oracle is independent of every target: it never looks at a load balancer, only at the
certificates. Three sources, in this order:

1. **Hard rules** (``REJECT_RULES``): faults every mTLS verifier we know rejects — OpenSSL
   (nginx, HAProxy, Apache, the reference), Go (Caddy, Traefik) and pyca — including the
   ones ``cryptography``'s verifier has no rule for (revocation against the CRLs we know,
   SHA-1/MD5 signatures). Any one of them makes the chain *must-reject*.
2. **Documented differences** (``UNDEFINED_RULES``): where OpenSSL, Go and pyca's web-PKI
   profile answer differently (a CA:TRUE leaf, RSA-1024, SHA-224, Ed25519 CAs, a critical
   EKU, anyExtendedKeyUsage, ...). Each carries its one-line reason; any one of them makes
   the chain *implementation-defined* (unless a hard rule already rejects it).
3. **pyca/cryptography's** ``ClientVerifier`` under :data:`POLICY_VERSION`: the client CA as
   the only trust anchor, the time of the probe, max chain depth 8, and extension policies
   relaxed to ``permit_all`` (CAs: basicConstraints required, which pyca insists on) (every extension rule we want is a hard rule or a documented
   difference above). What it still decides — path building to the anchor, signatures,
   validity, name constraints — makes the rest *must-reject* or *must-accept*.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError

from ..pki import signature_hash_name

#: Bump when any rule or the pyca policy changes: reproducers record the version that judged them.
POLICY_VERSION = ("mtlsgate-oracle/1 (pyca ClientVerifier; EE permit_all, CA permit_all + basicConstraints "
                  "required; max depth 8)")

MUST_ACCEPT = "must-accept"
MUST_REJECT = "must-reject"
UNDEFINED = "implementation-defined"

#: Clock skew between the oracle and the target: a boundary this close decides nothing.
CLOCK_GUARD = dt.timedelta(seconds=2)

REJECT_RULES = {
    "untrusted-root": "the chain does not end at a configured client CA (an unrelated CA, a CA with the same name "
                      "but another key, or a self-signed leaf): no other finding can make it acceptable",
    "untrusted-or-invalid": "pyca's path validation failed (no path to the client CA, a bad signature, name constraints, ...)",
    "expired": "a certificate in the chain has expired",
    "not-yet-valid": "a certificate in the chain is not yet valid",
    "weak-signature": "a certificate is signed with SHA-1 or MD5 (OpenSSL security level >= 1, Go and pyca refuse)",
    "unknown-critical-extension": "a certificate carries a critical extension no verifier understands (RFC 5280 4.2)",
    "leaf-eku": "the leaf's EKU allows neither clientAuth nor anyExtendedKeyUsage",
    "ca-not-ca": "an intermediate without basicConstraints CA:TRUE signs a certificate",
    "ca-ku-no-certsign": "an intermediate's keyUsage lacks keyCertSign",
    "ca-eku": "an intermediate's EKU allows neither clientAuth nor anyExtendedKeyUsage",
    "pathlen": "an intermediate's pathLenConstraint is exceeded",
    "revoked": "a certificate in the chain is on its issuer's CRL",
}

UNDEFINED_RULES = {
    "clock": "a validity boundary lies within 2 s of the probe: clock skew decides",
    "ca-as-leaf": "OpenSSL and Go accept a CA:TRUE leaf; pyca (and the reference) reject it (profile policy)",
    "weak-rsa": "an RSA key below 2048 bits passes or fails with the target's OpenSSL security level; Go accepts it",
    "sha224": "OpenSSL accepts SHA-224 signatures; Go and pyca do not implement them",
    "ed25519-ca": "pyca's web-PKI profile forbids Ed25519 issuers; OpenSSL and Go accept them",
    "leaf-any-eku": "OpenSSL and pyca reject anyExtendedKeyUsage without clientAuth on the leaf; Go accepts it",
    "leaf-eku-critical": "pyca rejects a critical EKU on the leaf; OpenSSL and Go accept it",
    "leaf-ku": "OpenSSL wants digitalSignature (or keyAgreement) on a client leaf; Go does not check keyUsage",
    "leaf-ku-certsign": "pyca forbids keyCertSign on an end entity; OpenSSL and Go accept it",
    "ca-bc-noncritical": "pyca requires a critical basicConstraints on CAs; OpenSSL and Go accept a non-critical one",
    "ca-ku-no-crlsign": "a target checking every CA's CRL (OpenSSL CRL_CHECK_ALL) needs cRLSign; Go never looks",
    "ca-any-eku": "OpenSSL rejects an intermediate EKU without clientAuth even with anyEKU (openssl#20090); Go, pyca accept",
    "san-criticality": "RFC 5280 ties SAN criticality to an empty subject; pyca enforces it, OpenSSL and Go do not",
    "no-identity": "the leaf has an empty subject and no SAN: pyca rejects it, OpenSSL and Go accept it",
    "depth": "more intermediates than the verify depth the profile assumes: depth limits are configuration",
}

_KNOWN_EXTENSIONS = frozenset({
    ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.NAME_CONSTRAINTS, ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ExtensionOID.SUBJECT_KEY_IDENTIFIER,
})


# pyca insists that a CA policy requires basicConstraints; everything else is left to the rules above.
_CA_POLICY = ExtensionPolicy.permit_all().require_present(x509.BasicConstraints, Criticality.AGNOSTIC, None)
_EE_POLICY = ExtensionPolicy.permit_all()


@dataclass(frozen=True)
class Finding:
    rule: str
    where: str  # "leaf", "intermediate 1" (the leaf's issuer), ...
    reason: str

    def line(self) -> str:
        return f"{self.rule} ({self.where}): {self.reason}"


@dataclass(frozen=True)
class OracleVerdict:
    verdict: str  # MUST_ACCEPT | MUST_REJECT | UNDEFINED
    reject: tuple[Finding, ...] = ()
    undefined: tuple[Finding, ...] = ()
    pyca: str = ""  # "verified", or pyca's error
    policy: str = POLICY_VERSION
    at: str = ""

    @property
    def rules(self) -> tuple[str, ...]:
        """The rules that decided, sorted: disagreements with the same rules are the same bug."""
        deciding = self.reject if self.verdict == MUST_REJECT else self.undefined
        return tuple(sorted({f.rule for f in deciding}))

    def summary(self) -> str:
        if self.verdict == MUST_ACCEPT:
            return "must-accept (pyca verified the chain; no rule objects)"
        deciding = self.reject if self.verdict == MUST_REJECT else self.undefined
        return f"{self.verdict}: " + "; ".join(f.line() for f in deciding)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "policy": self.policy, "at": self.at, "pyca": self.pyca,
                "reject": [f.__dict__ for f in self.reject], "undefined": [f.__dict__ for f in self.undefined]}


@dataclass(frozen=True, eq=False)
class Oracle:
    """Judges chains presented to a target that trusts ``anchors`` and loaded ``crls``."""

    anchors: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    max_intermediates: int = 3
    clock_guard: dt.timedelta = CLOCK_GUARD

    def judge(self, leaf: x509.Certificate, chain: Sequence[x509.Certificate] = (),
              at: dt.datetime | None = None) -> OracleVerdict:
        """The verdict for ``leaf`` presented with ``chain`` (issuers, leaf's issuer first) at ``at``."""
        at = at or dt.datetime.now(dt.UTC)
        certs = [leaf, *chain]
        issuers = [*chain, *self._anchor_for(certs[-1])]
        reject: list[Finding] = []
        undefined: list[Finding] = []
        for pos, cert in enumerate(certs):
            where = "leaf" if pos == 0 else f"intermediate {pos}"
            issuer = issuers[pos] if pos < len(issuers) else None
            _common_rules(cert, where, at, self.clock_guard, reject, undefined)
            self._revocation(cert, issuer, where, reject)
            if pos == 0:
                _leaf_rules(cert, reject, undefined)
            else:
                _ca_rules(cert, where, below=_intermediates_below(certs, pos), reject=reject, undefined=undefined)
        if len(chain) > self.max_intermediates:
            undefined.append(Finding("depth", "chain", f"{len(chain)} intermediates, the profile assumes at most "
                                                       f"{self.max_intermediates}; {UNDEFINED_RULES['depth']}"))
        untrusted = self._untrusted_root(certs[-1])
        if untrusted is not None:
            reject.append(untrusted)
        pyca = self._pyca(leaf, chain, at)
        stamp = at.isoformat()
        if reject:
            return OracleVerdict(MUST_REJECT, tuple(reject), tuple(undefined), pyca, at=stamp)
        if undefined:
            return OracleVerdict(UNDEFINED, (), tuple(undefined), pyca, at=stamp)
        if pyca != "verified":
            finding = Finding("untrusted-or-invalid", "chain", f"pyca: {pyca}")
            return OracleVerdict(MUST_REJECT, (finding,), (), pyca, at=stamp)
        return OracleVerdict(MUST_ACCEPT, (), (), pyca, at=stamp)

    def _untrusted_root(self, top: x509.Certificate) -> Finding | None:
        """A finding when the top of the chain is not issued (name *and* signature) by an anchor."""
        for anchor in self._anchor_for(top):
            try:
                top.verify_directly_issued_by(anchor)
                return None
            except UnsupportedAlgorithm:  # e.g. MD5: weak-signature says why; the name matched an anchor
                return None
            except (ValueError, TypeError, InvalidSignature):
                pass
        where = "leaf" if top.issuer == top.subject else "chain"
        return Finding("untrusted-root", where, f"{top.issuer.rfc4514_string()} is not a configured client CA "
                                                f"(or its signature is not the client CA's)")

    def _anchor_for(self, top: x509.Certificate) -> list[x509.Certificate]:
        return [a for a in self.anchors if a.subject == top.issuer][:1]

    def _revocation(self, cert: x509.Certificate, issuer: x509.Certificate | None, where: str,
                    reject: list[Finding]) -> None:
        for crl in self.crls:
            if crl.issuer != cert.issuer:
                continue
            if issuer is not None and not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                continue  # another CA of the same name: its CRL says nothing about this certificate
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                reject.append(Finding("revoked", where, f"serial {cert.serial_number:X} is on the CRL of "
                                                        f"{cert.issuer.rfc4514_string()}"))

    def _pyca(self, leaf: x509.Certificate, chain: Sequence[x509.Certificate], at: dt.datetime) -> str:
        verifier = (PolicyBuilder().store(Store(list(self.anchors))).time(at).max_chain_depth(8)
                    .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY).build_client_verifier())
        try:
            verifier.verify(leaf, list(chain))
        except VerificationError as exc:
            return str(exc)
        except ValueError as exc:  # e.g. a certificate pyca cannot parse at all
            return f"unparseable: {exc}"
        return "verified"


def _ext(cert: x509.Certificate, kind: type) -> x509.Extension[Any] | None:
    try:
        return cert.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return None


def _common_rules(cert: x509.Certificate, where: str, at: dt.datetime, guard: dt.timedelta,
                  reject: list[Finding], undefined: list[Finding]) -> None:
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    if abs(nb - at) <= guard or abs(na - at) <= guard:
        undefined.append(Finding("clock", where, UNDEFINED_RULES["clock"]))
    elif at > na:
        reject.append(Finding("expired", where, f"not after {na.isoformat()}"))
    elif at < nb:
        reject.append(Finding("not-yet-valid", where, f"not before {nb.isoformat()}"))
    digest = signature_hash_name(cert)
    if digest in ("sha1", "md5"):
        reject.append(Finding("weak-signature", where, f"signed with {digest.upper()}"))
    elif digest == "sha224":
        undefined.append(Finding("sha224", where, UNDEFINED_RULES["sha224"]))
    for ext in cert.extensions:
        if ext.critical and ext.oid not in _KNOWN_EXTENSIONS:
            reject.append(Finding("unknown-critical-extension", where, f"critical {ext.oid.dotted_string}"))
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        undefined.append(Finding("weak-rsa", where, f"RSA-{key.key_size}: {UNDEFINED_RULES['weak-rsa']}"))


def _leaf_rules(cert: x509.Certificate, reject: list[Finding], undefined: list[Finding]) -> None:
    bc = _ext(cert, x509.BasicConstraints)
    if bc is not None and bc.value.ca:
        undefined.append(Finding("ca-as-leaf", "leaf", UNDEFINED_RULES["ca-as-leaf"]))
    eku = _ext(cert, x509.ExtendedKeyUsage)
    if eku is not None:
        usages = set(eku.value)
        if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
            if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages:
                undefined.append(Finding("leaf-any-eku", "leaf", UNDEFINED_RULES["leaf-any-eku"]))
            else:
                names = ", ".join(sorted(u._name for u in usages))
                reject.append(Finding("leaf-eku", "leaf", f"EKU is {names}"))
        if eku.critical:
            undefined.append(Finding("leaf-eku-critical", "leaf", UNDEFINED_RULES["leaf-eku-critical"]))
    ku = _ext(cert, x509.KeyUsage)
    if ku is not None:
        if not ku.value.digital_signature:
            undefined.append(Finding("leaf-ku", "leaf", UNDEFINED_RULES["leaf-ku"]))
        if ku.value.key_cert_sign and not (bc is not None and bc.value.ca):
            undefined.append(Finding("leaf-ku-certsign", "leaf", UNDEFINED_RULES["leaf-ku-certsign"]))
    san = _ext(cert, x509.SubjectAlternativeName)
    empty_subject = len(cert.subject) == 0
    if san is None and empty_subject:
        undefined.append(Finding("no-identity", "leaf", UNDEFINED_RULES["no-identity"]))
    elif san is not None and san.critical != empty_subject:
        undefined.append(Finding("san-criticality", "leaf", UNDEFINED_RULES["san-criticality"]))


def _intermediates_below(certs: list[x509.Certificate], pos: int) -> int:
    """Non-self-issued intermediates between ``certs[pos]`` and the leaf (what pathLen counts)."""
    return sum(1 for c in certs[1:pos] if c.subject != c.issuer)


def _ca_rules(cert: x509.Certificate, where: str, *, below: int, reject: list[Finding],
              undefined: list[Finding]) -> None:
    bc = _ext(cert, x509.BasicConstraints)
    if bc is None or not bc.value.ca:
        reject.append(Finding("ca-not-ca", where, "no basicConstraints" if bc is None else "CA:FALSE"))
    else:
        if not bc.critical:
            undefined.append(Finding("ca-bc-noncritical", where, UNDEFINED_RULES["ca-bc-noncritical"]))
        if bc.value.path_length is not None and below > bc.value.path_length:
            reject.append(Finding("pathlen", where, f"pathLen {bc.value.path_length}, {below} intermediates below"))
    ku = _ext(cert, x509.KeyUsage)
    if ku is not None:
        if not ku.value.key_cert_sign:
            reject.append(Finding("ca-ku-no-certsign", where, "keyUsage without keyCertSign"))
        elif not ku.value.crl_sign:
            undefined.append(Finding("ca-ku-no-crlsign", where, UNDEFINED_RULES["ca-ku-no-crlsign"]))
    eku = _ext(cert, x509.ExtendedKeyUsage)
    if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in set(eku.value):
        if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in set(eku.value):
            undefined.append(Finding("ca-any-eku", where, UNDEFINED_RULES["ca-any-eku"]))
        else:
            reject.append(Finding("ca-eku", where, "EKU is " + ", ".join(sorted(u._name for u in eku.value))))
    if isinstance(cert.public_key(), ed25519.Ed25519PublicKey):
        undefined.append(Finding("ed25519-ca", where, UNDEFINED_RULES["ed25519-ca"]))


__all__ = ["Oracle", "OracleVerdict", "Finding", "POLICY_VERSION", "MUST_ACCEPT", "MUST_REJECT", "UNDEFINED", "REJECT_RULES", "UNDEFINED_RULES", "CLOCK_GUARD"]
