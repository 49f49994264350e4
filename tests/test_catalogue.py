"""Every catalogue identity is wrong in exactly the way its check id says, and only that way."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from mtlsgate.checks import catalogue
from mtlsgate.checks.catalogue import Materials
from mtlsgate.pki.certs import UNKNOWN_EXTENSION_OID, signature_hash_name

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def materials(pool, lab):
    return Materials(pool=pool, client_ca=lab.client_root, identity=lab.identity, revoked=lab.revoked,
                     server_ca_key=lab.server_ca_credential, max_intermediates=3)


def build(materials, case_id):
    return catalogue.get(case_id).build(materials)


def ext(cert, cls):
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def spki(cert):
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def assert_valid_shape(cert):
    """The properties every identity keeps unless its name says otherwise."""
    assert cert.not_valid_before_utc < NOW < cert.not_valid_after_utc
    assert ExtendedKeyUsageOID.CLIENT_AUTH in ext(cert, x509.ExtendedKeyUsage)
    assert ext(cert, x509.KeyUsage).digital_signature
    assert not ext(cert, x509.BasicConstraints).ca


def issued_by(cert, issuer):
    cert.verify_directly_issued_by(issuer)
    return True


def test_every_case_has_a_unique_id_and_known_group():
    ids = [c.id for c in catalogue.CASES]
    assert len(ids) == len(set(ids))
    assert {c.group for c in catalogue.CASES} <= {"accept", "missing", "trust", "validity", "purpose", "algorithm",
                                                   "chain", "revocation"}


@pytest.mark.parametrize("case_id", ["accept.valid-direct", "accept.rsa-2048", "accept.ecdsa-p384", "accept.keep-alive"])
def test_valid_leaves_chain_directly_to_the_client_ca(materials, lab, case_id):
    cred = build(materials, case_id)
    assert_valid_shape(cred.cert)
    assert issued_by(cred.cert, lab.client_root.cert) and cred.chain == ()


def test_key_types_of_the_accept_cases(materials):
    assert build(materials, "accept.rsa-2048").cert.public_key().key_size == 2048
    assert isinstance(build(materials, "accept.rsa-2048").cert.public_key(), rsa.RSAPublicKey)
    p384 = build(materials, "accept.ecdsa-p384").cert.public_key()
    assert isinstance(p384, ec.EllipticCurvePublicKey) and p384.curve.name == "secp384r1"


def test_valid_intermediate_sends_its_chain(materials, lab):
    cred = build(materials, "accept.valid-intermediate")
    assert_valid_shape(cred.cert)
    (inter,) = cred.chain
    assert issued_by(cred.cert, inter) and issued_by(inter, lab.client_root.cert)
    assert ext(inter, x509.BasicConstraints).ca


def test_no_cert_presents_nothing(materials):
    assert build(materials, "reject.no-cert") is None


def test_rogue_ca_is_unrelated(materials, lab):
    cred = build(materials, "reject.rogue-ca")
    assert_valid_shape(cred.cert)
    assert cred.cert.issuer != lab.client_root.cert.subject
    with pytest.raises((ValueError, InvalidSignature)):
        cred.cert.verify_directly_issued_by(lab.client_root.cert)


def test_rogue_same_name_copies_the_trusted_subject_with_another_key(materials, lab):
    cred = build(materials, "reject.rogue-same-name")
    assert_valid_shape(cred.cert)
    trusted = lab.client_root.cert
    assert cred.cert.issuer.public_bytes() == trusted.subject.public_bytes()  # byte-identical name
    assert cred.root.subject.public_bytes() == trusted.subject.public_bytes()
    assert spki(cred.root) != spki(trusted)
    assert ext(cred.cert, x509.AuthorityKeyIdentifier) is None  # no key id to tell the roots apart
    with pytest.raises((ValueError, InvalidSignature)):
        cred.cert.verify_directly_issued_by(trusted)


def test_self_signed(materials):
    cert = build(materials, "reject.self-signed").cert
    assert_valid_shape(cert)
    assert cert.issuer == cert.subject and issued_by(cert, cert)


def test_server_ca_issued(materials, lab):
    cert = build(materials, "reject.server-ca-issued").cert
    assert_valid_shape(cert)
    assert issued_by(cert, lab.server_ca_credential.cert)


def test_expired_and_not_yet_valid(materials):
    assert build(materials, "reject.expired").cert.not_valid_after_utc < NOW
    assert build(materials, "reject.not-yet-valid").cert.not_valid_before_utc > NOW


def test_expired_intermediate_with_a_valid_leaf(materials):
    cred = build(materials, "reject.expired-intermediate")
    assert_valid_shape(cred.cert)
    (inter,) = cred.chain
    assert inter.not_valid_after_utc < NOW


def test_purpose_cases(materials):
    eku = ext(build(materials, "reject.eku-server-only").cert, x509.ExtendedKeyUsage)
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ku = ext(build(materials, "reject.ku-no-digital-signature").cert, x509.KeyUsage)
    assert ku.key_encipherment and not ku.digital_signature and not ku.key_agreement
    ca_leaf = build(materials, "reject.ca-as-leaf").cert
    assert ext(ca_leaf, x509.BasicConstraints).ca and ext(ca_leaf, x509.KeyUsage).key_cert_sign
    assert ExtendedKeyUsageOID.CLIENT_AUTH in ext(ca_leaf, x509.ExtendedKeyUsage)
    crit = build(materials, "reject.unknown-critical-extension").cert
    assert crit.extensions.get_extension_for_oid(x509.ObjectIdentifier(UNKNOWN_EXTENSION_OID)).critical


def test_pathlen_violation(materials):
    cred = build(materials, "reject.pathlen-violation")
    below, top = cred.chain
    assert ext(top, x509.BasicConstraints).path_length == 0
    assert ext(below, x509.BasicConstraints).ca and issued_by(below, top) and issued_by(cred.cert, below)


@pytest.mark.parametrize("case_id,digest", [("reject.sha1-signature", "sha1"), ("reject.md5-signature", "md5")])
def test_legacy_signatures_come_from_the_client_ca(materials, lab, case_id, digest):
    cred = build(materials, case_id)
    assert signature_hash_name(cred.cert) == digest
    assert cred.cert.issuer == lab.client_root.cert.subject and cred.chain == ()
    assert_valid_shape(cred.cert)


def test_rsa_1024(materials):
    assert build(materials, "reject.rsa-1024").cert.public_key().key_size == 1024


def test_missing_intermediate_sends_the_leaf_alone(materials, lab):
    cred = build(materials, "reject.missing-intermediate")
    assert cred.chain == () and cred.cert.issuer != lab.client_root.cert.subject
    assert cred.cert.issuer != lab.client_intermediate.cert.subject


def test_too_deep_is_one_deeper_than_the_profile_allows(materials):
    assert len(build(materials, "reject.too-deep").chain) == materials.max_intermediates + 1


def test_revoked_identity_is_on_the_crl(materials, lab):
    cred = build(materials, "reject.revoked")
    assert any(crl.get_revoked_certificate_by_serial_number(cred.cert.serial_number) for crl in lab.crls)


def test_cases_say_what_they_need(pool):
    bare = Materials(pool=pool)
    assert catalogue.get("reject.no-cert").missing(bare) == []
    assert catalogue.get("reject.expired").missing(bare)
    assert catalogue.get("reject.revoked").missing(bare)
