"""The space the fuzz strategies draw from: the valid chain and, per field, its departures.

Plain data (no Hypothesis): :mod:`mtlsgate.fuzz.strategies` re-exports it, and
:mod:`mtlsgate.fuzz._draw` builds the Hypothesis draws over it on first use.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..pki import CertSpec, Credential, KeyPool, NameConstraintsSpec, issue, issue_derived

MAX_DEPTH = 4
LEAF_SLOT = 50
CA_SLOT_BASE = 40

LEAF_KEYS = ("p256", "rsa2048", "p384", "p521", "ed25519", "rsa1024")
CA_KEYS = ("p256", "rsa2048", "p384", "p521", "ed25519", "rsa1024")
HASHES = ("sha256", "sha384", "sha512", "sha224", "sha1", "md5")

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)

VALID_LEAF = CertSpec(subject=(("O", "mtlsgate"), ("CN", "mtlsgate fuzz client")), key="p256", key_slot=LEAF_SLOT,
                      san=("email:client@mtlsgate.test",))


def fuzz_ca_name(level: int, key: str) -> str:
    return f"mtlsgate fuzz CA L{level} {key}"


def valid_ca(level: int, key: str = "p256") -> CertSpec:
    """The valid intermediate at ``level`` (1 = directly below the client CA)."""
    return CertSpec.ca_spec(fuzz_ca_name(level, key), key=key, key_slot=CA_SLOT_BASE + level)


#: Where a chain ends: the client CA (valid), an unrelated CA, a CA with the client CA's exact
#: name but another key, or nowhere (the leaf signs itself; no intermediates).
ROOTS = ("client-ca", "rogue", "rogue-same-name", "self-signed")
#: The chance (percent) that a chain ends at another root than the client CA.
ROOT_PERCENT = 12


@dataclass(frozen=True)
class ChainSpec:
    """Intermediates from the one below the root down, then the leaf; ``root`` says which root (:data:`ROOTS`)."""

    intermediates: tuple[CertSpec, ...] = ()
    leaf: CertSpec = VALID_LEAF
    root: str = "client-ca"

    def normalised(self) -> ChainSpec:
        """Intermediates named and keyed by level and key type (what the lab publishes CRLs for)."""
        if self.root == "self-signed":
            return ChainSpec((), self.leaf.replace(key_slot=LEAF_SLOT), self.root)
        cas = tuple(valid_ca(i + 1, c.key).replace(**_ca_fields(c)) for i, c in enumerate(self.intermediates))
        return ChainSpec(cas, self.leaf.replace(key_slot=LEAF_SLOT), self.root)


VALID_CHAIN = ChainSpec()

#: The CertSpec fields a CA draw may change (the rest is fixed by level and key type).
CA_FIELDS = ("hash", "not_before", "not_after", "ca", "path_length", "bc_critical", "key_usage", "ku_critical", "eku",
             "eku_critical", "extensions", "name_constraints")
LEAF_FIELDS = ("subject", "key", "hash", "not_before", "not_after", "ca", "bc_critical", "key_usage", "ku_critical",
               "eku", "eku_critical", "san", "san_critical", "extensions", "serial")


def _ca_fields(spec: CertSpec) -> dict[str, Any]:
    return {f: getattr(spec, f) for f in CA_FIELDS}


def other_roots(root: Credential, pool: KeyPool) -> dict[str, Credential]:
    """The roots a chain may end at instead of the client CA ``root`` (keys of their own, from the pool)."""
    return {
        "rogue": issue(CertSpec.ca_spec("mtlsgate fuzz rogue CA", key_slot=CA_SLOT_BASE + 9), pool=pool),
        "rogue-same-name": issue(CertSpec.ca_spec("x", key_slot=CA_SLOT_BASE + 8, subject_name=root.cert.subject),
                                 pool=pool),
    }


def build_chain(chain: ChainSpec, root: Credential, pool: KeyPool,
                roots: dict[str, Credential] | None = None) -> Credential:
    """Issue ``chain`` below its root (``root``, the client CA, or one of :func:`other_roots`).

    The credential's chain is what the client sends; a self-signed leaf sends none. Below the
    client CA, intermediates are derived from its key (the ``mtlsgate crls`` bundle covers
    them); below another root they are plain pool keys (no CRL could ever cover them).
    """
    spec = chain.normalised()
    if spec.root == "self-signed":
        return issue(spec.leaf, None, pool=pool)
    if spec.root == "client-ca":
        issuer = root
        for ca in spec.intermediates:
            issuer = issue_derived(ca, issuer, root=root, pool=pool)
        return issue(spec.leaf, issuer, pool=pool)
    issuer = (roots or other_roots(root, pool))[spec.root]
    for ca in spec.intermediates:
        issuer = issue(ca, issuer, pool=pool)
    return issue(spec.leaf, issuer, pool=pool)


def published_fuzz_cas(pool: KeyPool, root: Credential) -> list[Credential]:
    """One stand-in per (level, key type) intermediate, for the CRLs a lab target loads.

    A CRL is found by its issuer's name and verified with its key, so a CRL signed with
    these stand-ins is valid for every generated intermediate of that level and key type.
    """
    return [issue_derived(valid_ca(level, key), root, root=root, pool=pool)
            for level in range(1, MAX_DEPTH + 1) for key in CA_KEYS]


# -- the dimensions ---------------------------------------------------------------------

SUBJECTS: tuple[tuple[tuple[str, str], ...], ...] = (
    VALID_LEAF.subject,
    (("CN", "mtlsgate fuzz client"),),  # CN only
    (),  # empty
    (("CN", "Zoë Müller 客户端 ✓"),),  # non-ASCII
    (("O", "mtlsgate"), ("CN", "long " + "x" * 59)),  # at the 64-character bound
    (("O", "mtlsgate"), ("CN", "first client"), ("CN", "second client")),  # duplicate attribute
    (("OU", "a"), ("OU", "b"), ("O", "mtlsgate " + "ö" * 50), ("CN", "mtlsgate fuzz client")),
    (("C", "DE"), ("ST", "Berlin"), ("L", "Berlin"), ("O", "mtlsgate"), ("CN", "mtlsgate fuzz client")),
)

SAN_ENTRIES = ("email:client@mtlsgate.test", "dns:client.mtlsgate.test", "email:client@example.org",
               "dns:client.example.org", "ip:127.0.0.1", "uri:spiffe://mtlsgate.test/client")

LEAF_EKUS: tuple[tuple[str, ...] | None, ...] = (
    ("clientAuth",), None, ("serverAuth",), ("anyExtendedKeyUsage",), ("emailProtection",),
    ("serverAuth", "clientAuth"), ("clientAuth", "emailProtection"), ("serverAuth", "emailProtection"),
    ("anyExtendedKeyUsage", "clientAuth"), ("codeSigning", "anyExtendedKeyUsage"),
)
CA_EKUS: tuple[tuple[str, ...] | None, ...] = (
    None, ("clientAuth",), ("serverAuth",), ("anyExtendedKeyUsage",), ("serverAuth", "clientAuth"),
    ("emailProtection",),
)

LEAF_KUS: tuple[frozenset[str] | None, ...] = (
    frozenset({"digital_signature"}), None, frozenset({"digital_signature", "key_encipherment"}),
    frozenset({"key_encipherment"}), frozenset({"key_agreement"}), frozenset({"digital_signature", "key_cert_sign"}),
    frozenset({"content_commitment"}),
)
CA_KUS: tuple[frozenset[str] | None, ...] = (
    frozenset({"digital_signature", "key_cert_sign", "crl_sign"}), None, frozenset({"key_cert_sign", "crl_sign"}),
    frozenset({"key_cert_sign"}), frozenset({"digital_signature", "crl_sign"}),
)

SERIALS = (None, 1, 127, 128, 255, 256, 2**63, 2**64 + 1, 2**159 - 1)

NAME_CONSTRAINTS: tuple[NameConstraintsSpec | None, ...] = (
    None,
    NameConstraintsSpec(permitted=("dns:mtlsgate.test", "email:mtlsgate.test")),
    NameConstraintsSpec(excluded=("dns:example.org", "email:example.org")),
    NameConstraintsSpec(permitted=("dns:mtlsgate.test",), critical=False),
    NameConstraintsSpec(permitted=("email:example.org",)),
    NameConstraintsSpec(excluded=("dns:mtlsgate.test", "email:mtlsgate.test")),
)


#: Per field, the chance (in percent) that a draw departs from the valid value: an example
#: then differs from a valid chain in one or two fields, which is where single-field bugs
#: (an LB that ignores EKU) show, while combinations still occur.
MUTATION_PERCENT = 6


__all__ = ["MAX_DEPTH", "LEAF_SLOT", "CA_SLOT_BASE", "LEAF_KEYS", "CA_KEYS", "HASHES", "DAY", "HOUR", "VALID_LEAF", "fuzz_ca_name", "valid_ca", "ChainSpec", "VALID_CHAIN", "CA_FIELDS", "LEAF_FIELDS", "build_chain", "other_roots", "ROOTS", "ROOT_PERCENT", "published_fuzz_cas", "SUBJECTS", "SAN_ENTRIES", "LEAF_EKUS", "CA_EKUS", "LEAF_KUS", "CA_KUS", "SERIALS", "NAME_CONSTRAINTS", "MUTATION_PERCENT"]
