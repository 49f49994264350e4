"""Hypothesis strategies over client chains: every field a verifier may look at, one draw each.

A generated chain is a :class:`ChainSpec`: up to four intermediates below the client CA,
then a leaf, each a :class:`~mtlsgate.pki.CertSpec`. Each field keeps its valid value unless a
rare draw (``MUTATION_PERCENT``) departs from it, so an example differs from a valid
client (:data:`VALID_CHAIN`) in one or two fields, Hypothesis' simplest example is that
valid client, and :func:`shrink_moves` can walk any example back toward it
field by field.

A share of chains (``ROOT_PERCENT``) ends at another root than the client CA — an unrelated
rogue CA, a rogue CA with the client CA's exact name, or no CA at all (a self-signed leaf) —
with every other field valid, so that a verifier which trusts any issuer disagrees with the
oracle like any other bug (and nothing else could explain the rejection).

Intermediates take their subject name and key from their level and key type
(:func:`fuzz_ca_name`), never from the draw: a target that checks a CRL for every CA in
the chain (nginx, HAProxy, Apache, the reference) can then be given one CRL per such CA
in advance (:func:`published_fuzz_cas`). Keys come from the key pool, so an example costs
signatures, not key generations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from ..pki import CertSpec, Credential, Extension, KeyPool, NameConstraintsSpec, issue, unknown_critical_extension

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

    The credential's chain is what the client sends; a self-signed leaf sends none.
    """
    spec = chain.normalised()
    if spec.root == "self-signed":
        return issue(spec.leaf, None, pool=pool)
    issuer = root if spec.root == "client-ca" else (roots or other_roots(root, pool))[spec.root]
    for ca in spec.intermediates:
        issuer = issue(ca, issuer, pool=pool)
    return issue(spec.leaf, issuer, pool=pool)


def published_fuzz_cas(pool: KeyPool, root: Credential) -> list[Credential]:
    """One stand-in per (level, key type) intermediate, for the CRLs a lab target loads.

    A CRL is found by its issuer's name and verified with its key, so a CRL signed with
    these stand-ins is valid for every generated intermediate of that level and key type.
    """
    return [issue(valid_ca(level, key), root, pool=pool) for level in range(1, MAX_DEPTH + 1) for key in CA_KEYS]


# -- the dimensions ---------------------------------------------------------------------

def _validity(kind: str) -> st.SearchStrategy[tuple[dt.timedelta, dt.timedelta]]:
    secs = st.integers(min_value=5, max_value=90).map(lambda s: dt.timedelta(seconds=s))
    return st.one_of(  # departures only: the valid window is what _pick returns when it does not depart
        secs.map(lambda s: (-DAY, -s)),  # expired by seconds
        st.just((-60 * DAY, -DAY)),  # expired long ago
        secs.map(lambda s: (s, 30 * DAY)),  # not yet valid, by seconds
        st.just((DAY, 30 * DAY)),  # not yet valid
        st.just((-HOUR, 3650 * DAY)),  # outlives its CA (valid: each certificate is checked on its own)
        st.just((-3650 * DAY, 30 * DAY)),  # an old start
    )


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


def _extensions() -> st.SearchStrategy[tuple[Extension, ...]]:
    unknown = unknown_critical_extension()
    return st.sampled_from(((), (Extension(unknown.oid, unknown.value, critical=False),), (unknown,),
                            (Extension("2.999.1.8", b"\x04\x03abc", critical=False),)))


#: Per field, the chance (in percent) that a draw departs from the valid value: an example
#: then differs from a valid chain in one or two fields, which is where single-field bugs
#: (an LB that ignores EKU) show, while combinations still occur.
MUTATION_PERCENT = 6

# Strategies are built once: building them per draw (``flatmap``) cost more than a live probe.
_PERCENT = st.integers(min_value=0, max_value=99)
_HASH_RSA, _HASH_OTHER = st.sampled_from(HASHES), st.sampled_from(HASHES[:-1])
_VALIDITY = {"leaf": _validity("leaf"), "ca": _validity("ca")}
_EXTENSIONS = _extensions()
_SANS = st.just(()) | st.lists(st.sampled_from(SAN_ENTRIES), min_size=1, max_size=3, unique=True).map(tuple)
_ALTERNATIVES: dict[str, st.SearchStrategy[Any]] = {
    "ca_key": st.sampled_from(CA_KEYS[1:]), "ca": st.sampled_from((None, False)), "path_length": st.sampled_from((0, 1, 2)),
    "bool": st.just(False), "true": st.just(True), "ca_ku": st.sampled_from(CA_KUS[1:]),
    "ca_eku": st.sampled_from(CA_EKUS[1:]), "nc": st.sampled_from(NAME_CONSTRAINTS[1:]),
    "leaf_key": st.sampled_from(LEAF_KEYS[1:]), "subject": st.sampled_from(SUBJECTS[1:]),
    "leaf_ca": st.sampled_from((None, True)), "leaf_ku": st.sampled_from(LEAF_KUS[1:]),
    "leaf_ku_rsa": st.sampled_from(tuple(k for k in LEAF_KUS[1:] if k is None or "key_agreement" not in k)),
    "leaf_eku": st.sampled_from(LEAF_EKUS[1:]), "serial": st.sampled_from(SERIALS[1:]),
}


def _pick(draw: st.DrawFn, valid: Any, alternatives: st.SearchStrategy[Any]) -> Any:
    """The valid value, or (rarely) a draw from ``alternatives``; shrinks toward the valid value."""
    return draw(alternatives) if draw(_PERCENT) < MUTATION_PERCENT else valid


def _draw_ca(draw: st.DrawFn, level: int, issuer_key: str) -> CertSpec:
    a = _ALTERNATIVES
    key = _pick(draw, "p256", a["ca_key"])
    nb, na = _pick(draw, (-HOUR, 365 * DAY), _VALIDITY["ca"])
    return valid_ca(level, key).replace(
        hash=_pick(draw, "sha256", _HASH_RSA if issuer_key.startswith("rsa") else _HASH_OTHER),
        not_before=nb, not_after=na,
        ca=_pick(draw, True, a["ca"]),
        path_length=_pick(draw, None, a["path_length"]),
        bc_critical=_pick(draw, True, a["bool"]),
        key_usage=_pick(draw, CA_KUS[0], a["ca_ku"]),
        ku_critical=_pick(draw, True, a["bool"]),
        eku=_pick(draw, None, a["ca_eku"]),
        eku_critical=False,
        extensions=_pick(draw, (), _EXTENSIONS),
        name_constraints=_pick(draw, None, a["nc"]),
    )


def _draw_leaf(draw: st.DrawFn, issuer_key: str) -> CertSpec:
    a = _ALTERNATIVES
    nb, na = _pick(draw, (-HOUR, 30 * DAY), _VALIDITY["leaf"])
    key = _pick(draw, "p256", a["leaf_key"])
    return VALID_LEAF.replace(
        subject=_pick(draw, SUBJECTS[0], a["subject"]),
        key=key,
        hash=_pick(draw, "sha256", _HASH_RSA if issuer_key.startswith("rsa") else _HASH_OTHER),
        not_before=nb, not_after=na,
        ca=_pick(draw, False, a["leaf_ca"]),
        bc_critical=_pick(draw, True, a["bool"]),
        key_usage=_pick(draw, LEAF_KUS[0], a["leaf_ku_rsa"] if key.startswith("rsa") else a["leaf_ku"]),
        ku_critical=_pick(draw, True, a["bool"]),
        eku=_pick(draw, LEAF_EKUS[0], a["leaf_eku"]),
        eku_critical=_pick(draw, False, a["true"]),
        san=_pick(draw, VALID_LEAF.san, _SANS),
        san_critical=_pick(draw, False, a["true"]),
        extensions=_pick(draw, (), _EXTENSIONS),
        serial=_pick(draw, None, a["serial"]),
    )


@st.composite
def ca_specs(draw: st.DrawFn, level: int, issuer_key: str) -> CertSpec:
    """One intermediate at ``level`` below an issuer with an ``issuer_key`` key."""
    return _draw_ca(draw, level, issuer_key)


@st.composite
def leaf_specs(draw: st.DrawFn, issuer_key: str) -> CertSpec:
    """One leaf below an issuer with an ``issuer_key`` key."""
    return _draw_leaf(draw, issuer_key)


_DEPTHS = {d: st.integers(min_value=0, max_value=d) for d in range(MAX_DEPTH + 1)}
_OTHER_ROOTS = st.sampled_from(ROOTS[1:])


@st.composite
def chains(draw: st.DrawFn, root_key: str = "rsa2048", max_depth: int = MAX_DEPTH,
           depth_limit: int | None = None) -> ChainSpec:
    """A chain of 0..``max_depth`` intermediates and a leaf below a client CA with a ``root_key`` key.

    Depths beyond ``depth_limit`` (the target's verify depth, whose answer is configuration)
    are drawn only as rarely as any other departure from the valid chain.
    """
    max_depth = max(0, min(max_depth, MAX_DEPTH))
    limit = max_depth if depth_limit is None else max(0, min(depth_limit, max_depth))
    if draw(_PERCENT) < ROOT_PERCENT:  # another root, everything else valid: trust is the one question asked
        root = draw(_OTHER_ROOTS)
        if root == "self-signed":
            return ChainSpec((), VALID_LEAF, root)
        return ChainSpec(tuple(valid_ca(level) for level in range(1, draw(_DEPTHS[min(limit, 1)]) + 1)), VALID_LEAF,
                         root)
    if limit < max_depth and draw(_PERCENT) < MUTATION_PERCENT:
        depth = draw(st.integers(min_value=limit + 1, max_value=max_depth))
    else:
        depth = draw(_DEPTHS[limit])
    cas: list[CertSpec] = []
    issuer_key = root_key
    for level in range(1, depth + 1):
        ca = _draw_ca(draw, level, issuer_key)
        cas.append(ca)
        issuer_key = ca.key
    return ChainSpec(tuple(cas), _draw_leaf(draw, issuer_key))


# -- shrinking toward the valid chain ---------------------------------------------------

def shrink_moves(chain: ChainSpec) -> list[tuple[str, ChainSpec]]:
    """Every one-step simplification toward :data:`VALID_CHAIN`, largest first, each named.

    Dropping an intermediate re-levels the ones below it; resetting a field gives it the
    valid chain's value. A minimal reproducer is a chain none of whose moves keep the bug.
    """
    moves: list[tuple[str, ChainSpec]] = []
    if chain.root != "client-ca":
        moves.append(("root client-ca", dataclasses.replace(chain, root="client-ca")))
    cas = chain.intermediates
    for i in range(len(cas)):
        moves.append((f"drop intermediate {i + 1}", ChainSpec(cas[:i] + cas[i + 1:], chain.leaf, chain.root)))
    for i, ca in enumerate(cas):
        valid = valid_ca(i + 1)
        for f in ("key", *CA_FIELDS):
            if getattr(ca, f) != getattr(valid, f):
                fixed = ca.replace(**{f: getattr(valid, f)})
                moves.append((f"intermediate {i + 1} {f}",
                              ChainSpec(cas[:i] + (fixed,) + cas[i + 1:], chain.leaf, chain.root)))
    for f in LEAF_FIELDS:
        if getattr(chain.leaf, f) != getattr(VALID_LEAF, f):
            moves.append((f"leaf {f}", ChainSpec(cas, chain.leaf.replace(**{f: getattr(VALID_LEAF, f)}), chain.root)))
    return moves


def differences(chain: ChainSpec) -> list[str]:
    """How ``chain`` differs from the valid chain: ``depth=N`` if it has intermediates, then fields (``leaf.eku``)."""
    out = [f"root={chain.root}"] if chain.root != "client-ca" else []
    out += [f"depth={len(chain.intermediates)}"] if chain.intermediates else []
    for i, ca in enumerate(chain.intermediates):
        valid = valid_ca(i + 1)
        out += [f"ca{i + 1}.{f}" for f in ("key", *CA_FIELDS) if getattr(ca, f) != getattr(valid, f)]
    out += [f"leaf.{f}" for f in LEAF_FIELDS if getattr(chain.leaf, f) != getattr(VALID_LEAF, f)]
    return out


# -- spec.json ----------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, dt.timedelta):
        return {"seconds_from_now": value.total_seconds()}
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, int) and not isinstance(value, bool) and value > 2**53:
        return str(value)
    return value


def spec_to_dict(chain: ChainSpec) -> dict[str, Any]:
    """A JSON view of the chain spec (validity as seconds from the moment of issue)."""
    def cert(spec: CertSpec) -> dict[str, Any]:
        d = _plain(spec)
        d.pop("subject_name", None)
        return d
    return {"root": chain.root, "intermediates": [cert(c) for c in chain.normalised().intermediates],
            "leaf": cert(chain.normalised().leaf), "differs_from_valid_in": differences(chain)}


__all__ = ["ChainSpec", "VALID_CHAIN", "VALID_LEAF", "chains", "leaf_specs", "ca_specs", "build_chain", "other_roots",
           "ROOTS", "ROOT_PERCENT", "published_fuzz_cas", "shrink_moves", "differences", "spec_to_dict", "fuzz_ca_name", "valid_ca", "MAX_DEPTH", "LEAF_SLOT", "CA_SLOT_BASE", "LEAF_KEYS", "CA_KEYS", "HASHES", "DAY", "HOUR", "CA_FIELDS", "LEAF_FIELDS", "SUBJECTS", "SAN_ENTRIES", "LEAF_EKUS", "CA_EKUS", "LEAF_KUS", "CA_KUS", "SERIALS", "NAME_CONSTRAINTS", "MUTATION_PERCENT"]
