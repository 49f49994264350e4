"""The named client identities: one per check id, each wrong in exactly one way.

Every case is a small function from the target's trust material to the credential a
client presents. Cases state what they need (the CA key, a ready identity, a revoked
identity, the server CA key); a target that does not give it gets the check skipped with
that reason, never a silent pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..pki import CertSpec, Credential, KeyPool, issue, issue_derived, unknown_critical_extension

NEEDS_TEXT = {
    "client_ca": "the client CA's certificate and key (--client-ca-cert/--client-ca-key)",
    "identity": "a valid client identity (--client-cert/--client-key) or the client CA key",
    "revoked": "an identity the target's CRL revokes (--revoked-cert/--revoked-key)",
    "server_ca_key": "the key of the CA that issued the server certificate",
    "intermediates": "a client CA that may issue intermediates (this one has pathLen 0)",
    "md5_signer": "an RSA client CA, or one that may issue an RSA intermediate (MD5 needs an RSA signer; "
                  "this CA has pathLen 0)",
}


def allows_intermediates(ca: Credential) -> bool:
    """False for a CA whose basicConstraints say pathLen 0: no intermediate below it can be valid."""
    try:
        bc = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return True
    return bc.path_length != 0


@dataclass(frozen=True, eq=False)
class Materials:
    """What the catalogue can build from for one target."""

    pool: KeyPool
    client_ca: Credential | None = None
    identity: Credential | None = None
    revoked: Credential | None = None
    server_ca_key: Credential | None = None
    max_intermediates: int = 3

    def has(self, need: str) -> bool:
        if need == "identity":
            return self.identity is not None or self.client_ca is not None
        # Without a client CA the "client_ca" need already names what is missing.
        if need == "intermediates":
            return self.client_ca is None or allows_intermediates(self.client_ca)
        if need == "md5_signer":
            return self.client_ca is None or isinstance(self.client_ca.key, rsa.RSAPrivateKey) \
                or allows_intermediates(self.client_ca)
        return getattr(self, need) is not None

    @property
    def ca(self) -> Credential:
        assert self.client_ca is not None
        return self.client_ca


@dataclass(frozen=True)
class Case:
    """One check of the conformance table: the client it builds and the answer it demands."""

    id: str
    group: str
    presents: str  # what the client presents, in one line
    expect: str  # "accept" | "reject"
    build: Callable[[Materials], Credential | None]
    needs: tuple[str, ...] = ("client_ca",)
    requests: int = 1
    #: A rejection's valid sibling: the check whose client differs from this one only in the
    #: property under test. If the target refuses the sibling too, a rejection here proves
    #: nothing (see :func:`valid_sibling`, ``judge.against_sibling``).
    sibling: str | None = None

    def missing(self, materials: Materials) -> list[str]:
        return [NEEDS_TEXT[n] for n in self.needs if not materials.has(n)]


def _leaf(case_id: str, **changes: object) -> CertSpec:
    base = CertSpec(subject=(("O", "mtlsgate"), ("CN", f"mtlsgate {case_id}")), key_slot=20,
                    san=("email:client@mtlsgate.test",))
    return replace(base, **changes)  # type: ignore[arg-type]


def _intermediate(m: Materials, cn: str, slot: int, issuer: Credential | None = None, **changes: object) -> Credential:
    # Name, serial and key derived from the client CA's key (not the pool's per-machine keys):
    # the CRLs ``mtlsgate crls`` makes for these on one machine hold on every other.
    return issue_derived(CertSpec.ca_spec(cn, key_slot=slot, **changes), issuer or m.ca, root=m.ca, pool=m.pool)


# The intermediates the catalogue mints. A target that checks CRLs for every CA in the
# chain (nginx, HAProxy, Apache, stunnel, lighttpd: CRL_CHECK_ALL) needs a CRL for each:
# the operator loads the bundle ``mtlsgate crls`` writes (the local targets do it too),
# so that these checks fail or pass for the reason they name, not for a missing CRL.
def check_intermediate(m: Materials) -> Credential:
    return _intermediate(m, "mtlsgate check intermediate", 21, path_length=0)


def expired_intermediate(m: Materials) -> Credential:
    return _intermediate(m, "mtlsgate expired intermediate", 24,
                         not_before=dt.timedelta(days=-60), not_after=dt.timedelta(days=-1))


def pathlen_zero_intermediate(m: Materials) -> Credential:
    return _intermediate(m, "mtlsgate pathlen-0 intermediate", 25, path_length=0)


def below_pathlen_intermediate(m: Materials) -> Credential:
    return _intermediate(m, "mtlsgate intermediate below pathlen 0", 26, issuer=pathlen_zero_intermediate(m))


def deep_intermediates(m: Materials, count: int) -> list[Credential]:
    chain: list[Credential] = []
    for level in range(count):
        chain.append(_intermediate(m, f"mtlsgate deep intermediate {level + 1}", 30 + level,
                                   issuer=chain[-1] if chain else None))
    return chain


def rsa_intermediate(m: Materials) -> Credential:
    return _intermediate(m, "mtlsgate RSA intermediate", 0, key="rsa2048")


def unknown_intermediate(m: Materials) -> Credential:
    return _intermediate(m, "mtlsgate unknown intermediate", 27)


def published_intermediates(m: Materials, max_depth: int = 16) -> list[Credential]:
    """Every intermediate a check mints that a target may know a CRL for (not the unknown one)."""
    return [check_intermediate(m), expired_intermediate(m), pathlen_zero_intermediate(m),
            below_pathlen_intermediate(m), rsa_intermediate(m), *deep_intermediates(m, max_depth)]


def _under_ca(case_id: str, **changes: object) -> Callable[[Materials], Credential]:
    return lambda m: issue(_leaf(case_id, **changes), m.ca, pool=m.pool)


def _valid_direct(m: Materials) -> Credential:
    if m.client_ca is None:
        assert m.identity is not None
        return m.identity
    return issue(_leaf("accept.valid-direct"), m.ca, pool=m.pool)


def _valid_intermediate(m: Materials) -> Credential:
    return issue(_leaf("accept.valid-intermediate"), check_intermediate(m), pool=m.pool)


def _rogue(m: Materials) -> Credential:
    rogue = issue(CertSpec.ca_spec("mtlsgate rogue CA", key_slot=6), pool=m.pool)
    return issue(_leaf("reject.rogue-ca"), rogue, pool=m.pool)


def _rogue_same_name(m: Materials) -> Credential:
    # Same subject as the trusted root, another key; no AKID on the leaf, so the verifier
    # cannot pick the root by key id and must check the signature.
    rogue = issue(CertSpec.ca_spec("x", key_slot=7, subject_name=m.ca.cert.subject), pool=m.pool)
    return issue(_leaf("reject.rogue-same-name", authority_key_id=False), rogue, pool=m.pool)


def _self_signed(m: Materials) -> Credential:
    return issue(_leaf("reject.self-signed", key_slot=23), pool=m.pool)


def _server_ca_issued(m: Materials) -> Credential:
    assert m.server_ca_key is not None
    return issue(_leaf("reject.server-ca-issued"), m.server_ca_key, pool=m.pool)


def _expired_intermediate(m: Materials) -> Credential:
    return issue(_leaf("reject.expired-intermediate"), expired_intermediate(m), pool=m.pool)


def _pathlen_violation(m: Materials) -> Credential:
    return issue(_leaf("reject.pathlen-violation"), below_pathlen_intermediate(m), pool=m.pool)


def _legacy_direct(m: Materials, digest: str) -> bool:
    return isinstance(m.ca.key, rsa.RSAPrivateKey) or (digest == "sha1" and isinstance(m.ca.key, ec.EllipticCurvePrivateKey))


def _legacy_signed(case_id: str, digest: str) -> Callable[[Materials], Credential]:
    # Signed by the client CA itself where its key can make that signature (RSA: both,
    # ECDSA: SHA-1), so the signature is the only fault; otherwise (MD5 under an EC CA)
    # by a SHA-256-signed RSA intermediate, sent in the chain.
    def build(m: Materials) -> Credential:
        issuer = m.ca if _legacy_direct(m, digest) else rsa_intermediate(m)
        return issue(_leaf(case_id, key="rsa2048", hash=digest), issuer, pool=m.pool)
    return build


def _sha256_under_rsa_intermediate(m: Materials) -> Credential:
    """The MD5 check's sibling under an EC client CA: same key type and chain shape, SHA-256."""
    return issue(_leaf("valid RSA-2048 leaf under the RSA intermediate", key="rsa2048"), rsa_intermediate(m), pool=m.pool)


#: Siblings that are no check of their own: name -> (what it is, how to build it, what it needs).
SIBLING_CREDENTIALS: dict[str, tuple[str, Callable[[Materials], Credential], tuple[str, ...]]] = {
    "sibling.sha256-under-rsa-intermediate": (
        "a valid SHA-256-signed RSA-2048 leaf under the suite's RSA intermediate, chain sent",
        _sha256_under_rsa_intermediate, ("client_ca", "intermediates")),
}


def _missing_intermediate(m: Materials) -> Credential:
    leaf = issue(_leaf("reject.missing-intermediate"), unknown_intermediate(m), pool=m.pool)
    return replace(leaf, chain=())  # the leaf alone: the target cannot know the intermediate


def _too_deep(m: Materials) -> Credential:
    deepest = deep_intermediates(m, m.max_intermediates + 1)[-1]
    return issue(_leaf("reject.too-deep"), deepest, pool=m.pool)


def valid_sibling(case: Case, m: Materials) -> str | None:
    """The id of ``case``'s valid sibling for these materials (a check id or a :data:`SIBLING_CREDENTIALS` key).

    The SHA-1/MD5 checks sign an RSA-2048 leaf directly under the client CA when its key
    can make that signature (sibling: accept.rsa-2048), else under the RSA intermediate
    (sibling: the same leaf there, SHA-256-signed). None when the sibling cannot be built
    from these materials: the check is then judged on its own.
    """
    sibling = case.sibling
    if case.id in ("reject.sha1-signature", "reject.md5-signature") and m.client_ca is not None:
        digest = "sha1" if case.id == "reject.sha1-signature" else "md5"
        sibling = "accept.rsa-2048" if _legacy_direct(m, digest) else "sibling.sha256-under-rsa-intermediate"
    if sibling is None:
        return None
    needs = SIBLING_CREDENTIALS[sibling][2] if sibling in SIBLING_CREDENTIALS else BY_ID[sibling].needs
    return sibling if all(m.has(n) for n in needs) else None


def sibling_presents(sibling: str) -> str:
    return SIBLING_CREDENTIALS[sibling][0] if sibling in SIBLING_CREDENTIALS else BY_ID[sibling].presents


def build_sibling(sibling: str, m: Materials) -> Credential | None:
    return SIBLING_CREDENTIALS[sibling][1](m) if sibling in SIBLING_CREDENTIALS else BY_ID[sibling].build(m)


def _revoked(m: Materials) -> Credential:
    assert m.revoked is not None
    return m.revoked


CASES: tuple[Case, ...] = (
    # accept
    Case("accept.valid-direct", "accept", "a valid leaf issued directly by the client CA", "accept",
         _valid_direct, needs=("identity",)),
    Case("accept.valid-intermediate", "accept", "a valid leaf under an intermediate, chain sent", "accept",
         _valid_intermediate, needs=("client_ca", "intermediates")),
    Case("accept.rsa-2048", "accept", "a valid RSA-2048 leaf", "accept", _under_ca("accept.rsa-2048", key="rsa2048")),
    Case("accept.ecdsa-p384", "accept", "a valid ECDSA P-384 leaf", "accept",
         _under_ca("accept.ecdsa-p384", key="p384")),
    Case("accept.keep-alive", "accept", "a valid leaf sending three requests on one connection", "accept",
         _valid_direct, needs=("identity",), requests=3),
    # missing
    Case("reject.no-cert", "missing", "no certificate at all", "reject", lambda m: None, needs=(), sibling='accept.valid-direct'),
    # trust
    Case("reject.rogue-ca", "trust", "a leaf from an unrelated CA", "reject", _rogue, needs=(), sibling='accept.valid-direct'),
    Case("reject.rogue-same-name", "trust", "a leaf from a rogue CA with the trusted CA's exact subject", "reject",
         _rogue_same_name, sibling='accept.valid-direct'),
    Case("reject.self-signed", "trust", "a self-signed leaf", "reject", _self_signed, needs=(), sibling='accept.valid-direct'),
    Case("reject.server-ca-issued", "trust", "a leaf issued by the CA of the server certificate", "reject",
         _server_ca_issued, needs=("server_ca_key",), sibling='accept.valid-direct'),
    # validity
    Case("reject.expired", "validity", "a leaf that expired yesterday", "reject",
         _under_ca("reject.expired", not_before=dt.timedelta(days=-30), not_after=dt.timedelta(days=-1)), sibling='accept.valid-direct'),
    Case("reject.not-yet-valid", "validity", "a leaf valid from tomorrow", "reject",
         _under_ca("reject.not-yet-valid", not_before=dt.timedelta(days=1), not_after=dt.timedelta(days=30)), sibling='accept.valid-direct'),
    Case("reject.expired-intermediate", "validity", "a valid leaf under an expired intermediate, chain sent",
         "reject", _expired_intermediate, needs=("client_ca", "intermediates"), sibling='accept.valid-intermediate'),
    # purpose
    Case("reject.eku-server-only", "purpose", "a leaf whose EKU is serverAuth only", "reject",
         _under_ca("reject.eku-server-only", eku=("serverAuth",)), sibling='accept.valid-direct'),
    Case("reject.ku-no-digital-signature", "purpose", "an RSA leaf whose keyUsage is keyEncipherment only",
         "reject", _under_ca("reject.ku-no-digital-signature", key="rsa2048",
                             key_usage=frozenset({"key_encipherment"})), sibling='accept.rsa-2048'),
    Case("reject.ca-as-leaf", "purpose", "a CA certificate (CA:TRUE, keyCertSign, clientAuth) as the leaf",
         "reject", _under_ca("reject.ca-as-leaf", ca=True,
                             key_usage=frozenset({"digital_signature", "key_cert_sign"})), sibling='accept.valid-direct'),
    Case("reject.pathlen-violation", "purpose", "a leaf two CAs below an intermediate with pathLen 0", "reject",
         _pathlen_violation, needs=("client_ca", "intermediates"), sibling='accept.valid-intermediate'),
    Case("reject.unknown-critical-extension", "purpose", "a leaf with an unknown critical extension", "reject",
         _under_ca("reject.unknown-critical-extension", extensions=(unknown_critical_extension(),)), sibling='accept.valid-direct'),
    # algorithm
    Case("reject.sha1-signature", "algorithm", "a leaf signed with SHA-1", "reject",
         _legacy_signed("reject.sha1-signature", "sha1"), sibling='accept.rsa-2048'),
    Case("reject.md5-signature", "algorithm", "a leaf signed with MD5", "reject",
         _legacy_signed("reject.md5-signature", "md5"), needs=("client_ca", "md5_signer"), sibling='accept.rsa-2048'),
    Case("reject.rsa-1024", "algorithm", "a leaf with an RSA-1024 key", "reject",
         _under_ca("reject.rsa-1024", key="rsa1024"), sibling='accept.rsa-2048'),
    # chain
    Case("reject.missing-intermediate", "chain", "a leaf sent alone, its intermediate unknown to the target",
         "reject", _missing_intermediate, sibling='accept.valid-intermediate'),
    Case("reject.too-deep", "chain", "a leaf below more intermediates than the profile allows, chain sent",
         "reject", _too_deep, needs=("client_ca", "intermediates"), sibling='accept.valid-intermediate'),
    # revocation
    Case("reject.revoked", "revocation", "an identity the target's CRL revokes", "reject", _revoked,
         needs=("revoked",), sibling='accept.valid-direct'),
)

BY_ID = {case.id: case for case in CASES}


def get(case_id: str) -> Case:
    try:
        return BY_ID[case_id]
    except KeyError:
        raise KeyError(f"unknown check id {case_id!r}") from None


__all__ = ["NEEDS_TEXT", "allows_intermediates", "Materials", "Case", "check_intermediate", "expired_intermediate", "pathlen_zero_intermediate", "below_pathlen_intermediate", "deep_intermediates", "rsa_intermediate", "unknown_intermediate", "published_intermediates", "valid_sibling", "sibling_presents", "build_sibling", "SIBLING_CREDENTIALS", "CASES", "BY_ID", "get"]
