"""Hypothesis strategies over client chains: every field a verifier may look at, one draw each.

Hypothesis itself loads only when a strategy is asked for (``_draw`` holds the draws): a run
without the fuzz check never imports it.

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

A share of chains (``ROOT_PERCENT``) ends at another root than the client CA — an unrelated
rogue CA, a rogue CA with the client CA's exact name, or no CA at all (a self-signed leaf) —
with every other field valid, so that a verifier which trusts any issuer disagrees with the
oracle like any other bug (and nothing else could explain the rejection).

Intermediates take their subject name and key from their level and key type
(:func:`fuzz_ca_name`), never from the draw: a target that checks a CRL for every CA in
the chain (nginx, HAProxy, Apache, the reference) can then be given one CRL per such CA
in advance (:func:`published_fuzz_cas`). Their keys and serials are derived from the client
CA's key (:func:`~mtlsgate.pki.issue_derived`), so those CRLs (``mtlsgate crls``) hold on
every machine; leaf keys come from the key pool. An example costs signatures, not key
generations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from ..pki import CertSpec
from ._dimensions import (
    CA_EKUS,
    CA_FIELDS,
    CA_KEYS,
    CA_KUS,
    CA_SLOT_BASE,
    DAY,
    HASHES,
    HOUR,
    LEAF_EKUS,
    LEAF_FIELDS,
    LEAF_KEYS,
    LEAF_KUS,
    LEAF_SLOT,
    MAX_DEPTH,
    MUTATION_PERCENT,
    NAME_CONSTRAINTS,
    ROOT_PERCENT,
    ROOTS,
    SAN_ENTRIES,
    SERIALS,
    SUBJECTS,
    VALID_CHAIN,
    VALID_LEAF,
    ChainSpec,
    build_chain,
    fuzz_ca_name,
    other_roots,
    published_fuzz_cas,
    valid_ca,
)


def chains(root_key: str = "rsa2048", max_depth: int = MAX_DEPTH, depth_limit: int | None = None) -> Any:
    """A strategy of chains of 0..``max_depth`` intermediates and a leaf below a client CA with a ``root_key`` key.

    Depths beyond ``depth_limit`` (the target's verify depth, whose answer is configuration)
    are drawn only as rarely as any other departure from the valid chain.
    """
    from ._draw import chains as draw_chains

    return draw_chains(root_key=root_key, max_depth=max_depth, depth_limit=depth_limit)


def ca_specs(level: int, issuer_key: str) -> Any:
    """A strategy of one intermediate at ``level`` below an issuer with an ``issuer_key`` key."""
    from ._draw import ca_specs as draw_ca_specs

    return draw_ca_specs(level, issuer_key)


def leaf_specs(issuer_key: str) -> Any:
    """A strategy of one leaf below an issuer with an ``issuer_key`` key."""
    from ._draw import leaf_specs as draw_leaf_specs

    return draw_leaf_specs(issuer_key)


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
