"""CertSpec -> Credential: the certificate says exactly what the spec asked for."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from mtlsgate.pki.certs import CertSpec, Extension, issue, make_crl, signature_hash_name
from mtlsgate.pki.keys import KeyPool


@pytest.fixture(scope="module")
def root(pool):
    return issue(CertSpec.ca_spec("test root"), pool=pool)


@pytest.mark.parametrize("key,kind,size", [
    ("rsa2048", rsa.RSAPublicKey, 2048), ("rsa3072", rsa.RSAPublicKey, 3072), ("p256", ec.EllipticCurvePublicKey, 256),
    ("p384", ec.EllipticCurvePublicKey, 384), ("ed25519", ed25519.Ed25519PublicKey, None)])
def test_key_types(pool, root, key, kind, size):
    cred = issue(CertSpec(key=key), root, pool=pool)
    pub = cred.cert.public_key()
    assert isinstance(pub, kind)
    if size:
        assert pub.key_size == size


@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512", "sha1", "md5"])
def test_signature_hashes_including_legacy_ones(pool, digest):
    rsa_root = issue(CertSpec.ca_spec("rsa root", key="rsa2048"), pool=pool)
    cred = issue(CertSpec(key="p256", hash=digest), rsa_root, pool=pool)
    assert signature_hash_name(cred.cert) == digest
    assert cred.cert.issuer == rsa_root.cert.subject
    cred.cert.verify_directly_issued_by(rsa_root.cert) if digest not in ("sha1", "md5") else None
    assert cred.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


@pytest.mark.parametrize("issuer_key,digest", [("rsa2048", "sha1"), ("rsa2048", "md5"), ("p256", "sha1"), (None, "sha1")])
def test_legacy_signatures_verify_with_the_openssl_command_line_and_carry_its_extensions(pool, tmp_path, issuer_key,
                                                                                          digest):
    """SHA-1/MD5 certificates are signed in-process (decrepit.legacy_sign): OpenSSL must find the signature good,
    and the extensions must be the ones ``openssl x509 -CA`` re-signing gave (its key id appended, last)."""
    import subprocess

    from mtlsgate.pki.certs import pem

    root = issue(CertSpec.ca_spec("legacy root", key=issuer_key), pool=pool) if issuer_key else None
    spec = CertSpec(key="rsa2048" if root is None else "p256", hash=digest, serial=4242)
    cert = issue(spec, root, pool=pool).cert
    assert signature_hash_name(cert) == digest and cert.serial_number == 4242
    names = [e.oid for e in cert.extensions]
    assert names[:4] == [x509.ExtensionOID.BASIC_CONSTRAINTS, x509.ExtensionOID.KEY_USAGE,
                         x509.ExtensionOID.EXTENDED_KEY_USAGE, x509.ExtensionOID.SUBJECT_KEY_IDENTIFIER]
    if root is None:
        assert len(names) == 4 and cert.issuer == cert.subject
    else:
        akid = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = root.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        assert names[4:] == [x509.ExtensionOID.AUTHORITY_KEY_IDENTIFIER] and akid.key_identifier == ski.digest
        assert akid.authority_cert_issuer is None and cert.issuer == root.cert.subject
    ca = root.cert if root is not None else cert
    (tmp_path / "ca.pem").write_bytes(pem(ca))
    der = bytearray(cert.public_bytes(Encoding.DER))
    der[-3] ^= 0x01  # the same certificate with one bit of its signature flipped: the control
    tampered = x509.load_der_x509_certificate(bytes(der))
    env = dict(os.environ, OPENSSL_CONF="/dev/null")
    for name, candidate, good in (("good.pem", cert, True), ("tampered.pem", tampered, False)):
        (tmp_path / name).write_bytes(pem(candidate))
        result = subprocess.run(["openssl", "verify", "-auth_level", "0", "-CAfile", str(tmp_path / "ca.pem"),
                                 str(tmp_path / name)], capture_output=True, text=True, timeout=30, env=env)
        assert (result.returncode == 0) is good, (name, result.stdout, result.stderr)


def test_validity_is_relative_to_now(pool, root):
    cred = issue(CertSpec(not_before=dt.timedelta(days=-3), not_after=dt.timedelta(days=-1)), root, pool=pool)
    now = dt.datetime.now(dt.UTC)
    assert cred.cert.not_valid_after_utc < now
    assert now - cred.cert.not_valid_before_utc > dt.timedelta(days=2)


def test_extensions_as_specified(pool, root):
    spec = CertSpec(ca=True, path_length=2, key_usage=frozenset({"key_cert_sign", "digital_signature"}),
                    eku=("clientAuth", "serverAuth"), eku_critical=True, san=("dns:a.test", "ip:127.0.0.1", "email:x@y.test"),
                    extensions=(Extension("2.999.5", b"\x05\x00", critical=True),))
    cert = issue(spec, root, pool=pool).cert
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 2
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.digital_signature and not ku.key_encipherment
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH, x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]
    assert len(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == 3
    unknown = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier("2.999.5"))
    assert unknown.critical


def test_chain_of_any_depth_sends_everything_but_the_root(pool, root):
    issuer = root
    for n in range(4):
        issuer = issue(CertSpec.ca_spec(f"level {n}", key_slot=40 + n), issuer, pool=pool)
    leaf = issue(CertSpec(), issuer, pool=pool)
    assert len(leaf.chain) == 4 and leaf.root is root.cert
    assert leaf.chain[0].subject == issuer.cert.subject
    assert leaf.chain_pem.count(b"BEGIN CERTIFICATE") == 5


def test_crl_lists_the_revoked_serial(pool, root):
    leaf = issue(CertSpec(), root, pool=pool)
    crl = make_crl(root, [leaf.cert.serial_number])
    assert crl.get_revoked_certificate_by_serial_number(leaf.cert.serial_number) is not None
    assert crl.is_signature_valid(root.cert.public_key())


def test_exports(pool, root, tmp_path):
    leaf = issue(CertSpec(), root, pool=pool)
    key, cert, extra = pkcs12.load_key_and_certificates(leaf.pkcs12(b"s3cret"), b"s3cret")
    assert cert == leaf.cert
    assert x509.load_der_x509_certificate(leaf.cert_der) == leaf.cert
    files = leaf.write(tmp_path / "out", "leaf")
    assert stat.S_IMODE(os.stat(files.key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "out").st_mode) == 0o700


def test_key_pool_generates_once_and_caches_0600(tmp_path):
    pool = KeyPool(tmp_path / "cache")
    first = pool.get("rsa2048", 3)
    assert pool.get("rsa2048", 3) is first
    cached = tmp_path / "cache" / "rsa2048-3.pem"
    assert stat.S_IMODE(os.stat(cached).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "cache").st_mode) == 0o700
    again = KeyPool(tmp_path / "cache").get("rsa2048", 3)
    assert again.private_numbers() == first.private_numbers()
    assert pool.get("rsa2048", 4).private_numbers() != first.private_numbers()


def _broken_rsa_pem(pool: KeyPool) -> bytes:
    """An RSA key file whose private exponent does not belong to its modulus (it loads; it cannot sign)."""
    from cryptography.hazmat.primitives import serialization

    good = pool.get("rsa2048", 3).private_numbers()
    other = pool.get("rsa2048", 4).private_numbers()
    broken = rsa.RSAPrivateNumbers(good.p, good.q, other.d, other.dmp1, other.dmq1, good.iqmp, good.public_numbers)
    return broken.private_key(unsafe_skip_rsa_key_validation=True).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def test_a_broken_rsa_key_is_one_line_and_a_broken_cache_entry_is_made_again(tmp_path):
    """Keys load without OpenSSL's slow prime check (fleets load many); one signature still catches a broken one."""
    from mtlsgate.errors import UsageError
    from mtlsgate.pki.loading import load_private_key

    pool = KeyPool(tmp_path / "cache")
    broken = tmp_path / "client.key"
    broken.write_bytes(_broken_rsa_pem(pool))
    with pytest.raises(UsageError, match=r"client\.key: a broken RSA key"):
        load_private_key(broken)
    good = tmp_path / "good.key"
    good.write_bytes((tmp_path / "cache" / "rsa2048-3.pem").read_bytes())
    assert load_private_key(good).private_numbers() == pool.get("rsa2048", 3).private_numbers()
    (tmp_path / "cache" / "rsa2048-5.pem").write_bytes(broken.read_bytes())
    from mtlsgate.pki.keys import _rsa_key_signs

    remade = KeyPool(tmp_path / "cache").get("rsa2048", 5)
    assert _rsa_key_signs(remade)
    assert _rsa_key_signs(load_private_key(tmp_path / "cache" / "rsa2048-5.pem"))  # the entry was rewritten


@pytest.mark.parametrize(("seed", "key_type", "modulus_sha256"), [
    (b"\x01" * 32, "rsa1024", "73e6c3dde8354b45db3ca90ed9b0641d6dd6480672d0f40f0402745a8017799f"),
    (b"\x02" * 32, "rsa2048", "75ec1e34afd593ce4af69db19e7a7fe0e9ec8b473e4a0a973166d28ab7291fc0"),
])
def test_a_derived_rsa_key_is_the_same_with_and_without_gmpy2(monkeypatch, seed, key_type, modulus_sha256):
    """Operators publish CRLs for the suite's derived intermediates: a faster prime search must find the same
    primes (pinned: the moduli of derivation v1), and Python's own pow must find them too."""
    import hashlib

    from mtlsgate.pki import keys

    def modulus_digest() -> str:
        n = keys.key_from_seed(seed, key_type).private_numbers().public_numbers.n
        return hashlib.sha256(str(n).encode()).hexdigest()

    assert modulus_digest() == modulus_sha256
    keys._powmod.cache_clear()
    monkeypatch.setattr(keys, "_powmod", lambda: pow)
    assert modulus_digest() == modulus_sha256
