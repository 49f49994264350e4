"""The oracle on its own: an independent cross-check of the named catalogue, and its documented differences."""

from __future__ import annotations

import datetime as dt

import pytest

from mtlsgate.checks import catalogue
from mtlsgate.fuzz.oracle import MUST_ACCEPT, MUST_REJECT, REJECT_RULES, UNDEFINED, UNDEFINED_RULES, Oracle
from mtlsgate.pki.certs import CertSpec, NameConstraintsSpec, issue

#: What the oracle says about every catalogue identity. Where it differs from the
#: catalogue's "reject", the profile (not the X.509 rules) decides: those are exactly the
#: checks with a policy entry or an "unsupported" entry in some profile.
EXPECTED = {
    "accept.valid-direct": MUST_ACCEPT,
    "accept.valid-intermediate": MUST_ACCEPT,
    "accept.rsa-2048": MUST_ACCEPT,
    "accept.ecdsa-p384": MUST_ACCEPT,
    "accept.keep-alive": MUST_ACCEPT,
    "reject.rogue-ca": MUST_REJECT,
    "reject.rogue-same-name": MUST_REJECT,
    "reject.self-signed": MUST_REJECT,
    "reject.server-ca-issued": MUST_REJECT,
    "reject.expired": MUST_REJECT,
    "reject.not-yet-valid": MUST_REJECT,
    "reject.expired-intermediate": MUST_REJECT,
    "reject.eku-server-only": MUST_REJECT,
    "reject.ku-no-digital-signature": UNDEFINED,  # Go does not check keyUsage (caddy/traefik: unsupported)
    "reject.ca-as-leaf": UNDEFINED,  # profile policy: warn
    "reject.pathlen-violation": MUST_REJECT,
    "reject.unknown-critical-extension": MUST_REJECT,
    "reject.sha1-signature": MUST_REJECT,
    "reject.md5-signature": MUST_REJECT,
    "reject.rsa-1024": UNDEFINED,  # profile policy: warn
    "reject.missing-intermediate": MUST_REJECT,
    "reject.too-deep": UNDEFINED,  # profile policy: warn
    "reject.revoked": MUST_REJECT,
}


@pytest.fixture(scope="module")
def materials(pool, lab):
    return catalogue.Materials(pool=pool, client_ca=lab.client_root, identity=lab.identity, revoked=lab.revoked,
                               server_ca_key=lab.server_ca_credential)


@pytest.fixture(scope="module")
def oracle(lab):
    return Oracle((lab.client_root.cert, lab.client_intermediate.cert), lab.crls)


def test_every_catalogue_case_with_a_certificate_is_covered():
    with_cert = {c.id for c in catalogue.CASES if c.id != "reject.no-cert"}
    assert with_cert == set(EXPECTED)


@pytest.mark.parametrize("case_id", sorted(EXPECTED))
def test_oracle_agrees_with_the_catalogue(case_id, materials, oracle):
    cred = catalogue.get(case_id).build(materials)
    verdict = oracle.judge(cred.cert, cred.chain)
    assert verdict.verdict == EXPECTED[case_id], verdict.summary()
    if verdict.verdict == UNDEFINED:
        assert verdict.undefined and all(f.reason and "\n" not in f.reason for f in verdict.undefined)
    if verdict.verdict == MUST_REJECT:
        assert verdict.reject


def test_every_rule_has_a_one_line_reason():
    for table in (REJECT_RULES, UNDEFINED_RULES):
        for rule, reason in table.items():
            assert reason.strip() and "\n" not in reason, rule


def _leaf(pool, issuer, **changes):
    spec = CertSpec(subject=(("CN", "oracle test"),), key_slot=60, san=("email:t@mtlsgate.test",)).replace(**changes)
    return issue(spec, issuer, pool=pool)


@pytest.mark.parametrize("changes,verdict,rule", [
    (dict(eku_critical=True), UNDEFINED, "leaf-eku-critical"),
    (dict(eku=("anyExtendedKeyUsage",)), UNDEFINED, "leaf-any-eku"),
    (dict(eku=("emailProtection",)), MUST_REJECT, "leaf-eku"),
    (dict(eku=None), MUST_ACCEPT, None),
    (dict(san=()), MUST_ACCEPT, None),  # CN-only: OpenSSL and Go accept; pyca's web-PKI profile would not
    (dict(san_critical=True), UNDEFINED, "san-criticality"),
    (dict(subject=(), san=()), UNDEFINED, "no-identity"),
    (dict(key="ed25519"), MUST_ACCEPT, None),
    (dict(key="p521"), MUST_ACCEPT, None),
    (dict(hash="sha224"), UNDEFINED, "sha224"),
    (dict(key_usage=frozenset({"digital_signature", "key_cert_sign"})), UNDEFINED, "leaf-ku-certsign"),
    (dict(not_before=dt.timedelta(days=-2), not_after=dt.timedelta(seconds=1)), UNDEFINED, "clock"),
    (dict(not_before=dt.timedelta(days=-2), not_after=dt.timedelta(seconds=-30)), MUST_REJECT, "expired"),
    (dict(serial=2**159 - 1), MUST_ACCEPT, None),
])
def test_leaf_rules(pool, lab, changes, verdict, rule):
    cred = _leaf(pool, lab.client_root, **changes)
    got = Oracle((lab.client_root.cert,)).judge(cred.cert, cred.chain)
    assert got.verdict == verdict, got.summary()
    if rule:
        assert rule in got.rules


@pytest.mark.parametrize("ca_changes,leaf_changes,verdict,rule", [
    (dict(), dict(), MUST_ACCEPT, None),
    (dict(ca=None), dict(), MUST_REJECT, "ca-not-ca"),
    (dict(bc_critical=False), dict(), UNDEFINED, "ca-bc-noncritical"),
    (dict(key="ed25519"), dict(), UNDEFINED, "ed25519-ca"),
    (dict(key="rsa1024"), dict(), UNDEFINED, "weak-rsa"),
    (dict(eku=("serverAuth",)), dict(), MUST_REJECT, "ca-eku"),
    (dict(eku=("anyExtendedKeyUsage",)), dict(), UNDEFINED, "ca-any-eku"),
    (dict(key_usage=frozenset({"digital_signature", "crl_sign"})), dict(), MUST_REJECT, "ca-ku-no-certsign"),
    (dict(key_usage=frozenset({"key_cert_sign"})), dict(), UNDEFINED, "ca-ku-no-crlsign"),
    (dict(name_constraints=NameConstraintsSpec(permitted=("email:mtlsgate.test",))), dict(), MUST_ACCEPT, None),
    (dict(name_constraints=NameConstraintsSpec(excluded=("email:mtlsgate.test",))), dict(), MUST_REJECT,
     "untrusted-or-invalid"),
    (dict(name_constraints=NameConstraintsSpec(permitted=("dns:mtlsgate.test",))),
     dict(san=("dns:client.example.org",)), MUST_REJECT, "untrusted-or-invalid"),
    (dict(hash="sha1"), dict(), MUST_REJECT, "weak-signature"),
    (dict(not_before=dt.timedelta(days=-3), not_after=dt.timedelta(days=-1)), dict(), MUST_REJECT, "expired"),
])
def test_intermediate_rules(pool, lab, ca_changes, leaf_changes, verdict, rule):
    ca = issue(CertSpec.ca_spec("oracle test CA", key_slot=61).replace(**{"key_slot": 61, **ca_changes}),
               lab.client_root, pool=pool)
    cred = _leaf(pool, ca, **leaf_changes)
    got = Oracle((lab.client_root.cert,)).judge(cred.cert, cred.chain)
    assert got.verdict == verdict, got.summary()
    if rule:
        assert rule in got.rules


def test_pathlen_counts_intermediates_below(pool, lab):
    top = issue(CertSpec.ca_spec("oracle pathlen 0", key_slot=62, path_length=0), lab.client_root, pool=pool)
    below = issue(CertSpec.ca_spec("oracle below pathlen", key_slot=63), top, pool=pool)
    cred = _leaf(pool, below)
    got = Oracle((lab.client_root.cert,)).judge(cred.cert, cred.chain)
    assert got.verdict == MUST_REJECT and "pathlen" in got.rules
    ok = Oracle((lab.client_root.cert,)).judge(*(lambda c: (c.cert, c.chain))(_leaf(pool, top)))
    assert ok.verdict == MUST_ACCEPT, ok.summary()


def test_depth_beyond_the_profile_is_implementation_defined(pool, lab):
    ca = issue(CertSpec.ca_spec("oracle depth", key_slot=64), lab.client_root, pool=pool)
    cred = _leaf(pool, ca)
    assert Oracle((lab.client_root.cert,), max_intermediates=0).judge(cred.cert, cred.chain).rules == ("depth",)
    assert Oracle((lab.client_root.cert,), max_intermediates=1).judge(cred.cert, cred.chain).verdict == MUST_ACCEPT


def test_a_chain_to_another_anchor_must_be_rejected(pool, lab):
    cred = _leaf(pool, lab.rogue_root)
    got = Oracle((lab.client_root.cert,)).judge(cred.cert, cred.chain)
    assert got.verdict == MUST_REJECT and got.pyca != "verified"
