"""The Hypothesis side of :mod:`mtlsgate.fuzz.strategies`: the draws, built once, on first use.

Kept apart so that importing the fuzz layer (every pytest session does, for its options)
does not import Hypothesis: only a fuzz campaign, or a test of the strategies, loads this.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from ..pki import CertSpec, Extension, unknown_critical_extension
from ._dimensions import (
    CA_EKUS,
    CA_KEYS,
    CA_KUS,
    DAY,
    HASHES,
    HOUR,
    LEAF_EKUS,
    LEAF_KEYS,
    LEAF_KUS,
    MAX_DEPTH,
    MUTATION_PERCENT,
    NAME_CONSTRAINTS,
    ROOT_PERCENT,
    ROOTS,
    SAN_ENTRIES,
    SERIALS,
    SUBJECTS,
    VALID_LEAF,
    ChainSpec,
    valid_ca,
)


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



def _extensions() -> st.SearchStrategy[tuple[Extension, ...]]:
    unknown = unknown_critical_extension()
    return st.sampled_from(((), (Extension(unknown.oid, unknown.value, critical=False),), (unknown,),
                            (Extension("2.999.1.8", b"\x04\x03abc", critical=False),)))



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



__all__ = ["chains", "ca_specs", "leaf_specs"]
