"""Unit tests of the pieces the checks beyond the handshake are built from (no network)."""

from __future__ import annotations

import socket
import urllib.parse

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from mtlsgate.checks.canames import name_of
from mtlsgate.checks.headercheck import SPOOF_MARK, spoof_batches
from mtlsgate.checks.headers import CLIENT_CERT_HEADERS
from mtlsgate.checks.identity import cert_der, matches
from mtlsgate.checks.possession import (
    _client_class,
    _native_aesgcm,
    _native_chacha20,
    _parse_chain,
    _parse_key,
    _Parsed,
    load_tlslite,
)
from mtlsgate.errors import UsageError
from mtlsgate.judge.profiles import load
from mtlsgate.pki import key_pem, pem
from mtlsgate.targets.reference import parse_sni


def test_spoof_batches_send_every_name_in_every_spelling_with_unique_markers():
    sent = [h for batch in spoof_batches() for h in batch]
    names = {n for n, _ in sent}
    for canonical in CLIENT_CERT_HEADERS:
        assert {canonical, canonical.replace("-", "_"), canonical.replace("-", "."), canonical.lower()} <= names
        assert sum(1 for n, _ in sent if n == canonical) == 2  # the duplicate
    values = [v for _, v in sent]
    assert len(set(values)) == len(values) and all(v.startswith(SPOOF_MARK) for v in values)
    assert max(len(b) for b in spoof_batches()) <= 40  # Apache's LimitRequestFields is 100


def test_identity_values_are_recognised_in_each_products_format(lab):
    cert = lab.identity.cert
    der = cert.public_bytes(Encoding.DER)
    pem = cert.public_bytes(Encoding.PEM).decode()
    assert matches("subject-dn", cert.subject.rfc4514_string(), cert)[0]  # nginx, Apache, Caddy
    oneline = "/" + "/".join(f"{a.rfc4514_attribute_name}={a.value}" for a in cert.subject)
    assert matches("subject-dn", f'"{oneline}"', cert)[0]  # HAProxy %{+Q}[ssl_c_s_dn]
    assert not matches("subject-dn", "CN=someone else,O=mtlsgate", cert)[0]
    assert matches("serial-hex", format(cert.serial_number, "X"), cert)[0]
    assert matches("serial-decimal", str(cert.serial_number), cert)[0]
    assert not matches("serial-hex", "00", cert)[0]
    assert matches("sha1", cert.fingerprint(hashes.SHA1()).hex().upper(), cert)[0]  # noqa: S303 - what LBs send
    assert matches("sha256", cert.fingerprint(hashes.SHA256()).hex(), cert)[0]
    assert cert_der(urllib.parse.quote(pem)) == der  # nginx $ssl_client_escaped_cert
    assert cert_der(pem.replace("\n", "")) == der
    assert matches("cert", urllib.parse.quote(pem), cert)[0]
    assert not matches("cert", "MIIBogus", cert)[0]
    assert matches("verify", "SUCCESS", cert)[0] and not matches("verify", "NONE", cert)[0]


def test_ca_names_use_the_form_preflight_reports(lab):
    assert name_of(lab.client_root.cert) == "O=mtlsgate,CN=mtlsgate lab client root CA"


def test_spoof_batches_add_the_lbs_own_names_once():
    sent = {n for batch in spoof_batches(("X-Client-Subject", "x-ssl-client-dn")) for n, _ in batch}
    assert {"X-Client-Subject", "X_Client_Subject", "X.Client.Subject", "x-client-subject"} <= sent
    assert "x_ssl_client_dn" not in sent  # already in the catalogue as X-SSL-Client-DN


def test_profile_keys_for_the_new_checks_are_validated(tmp_path):
    assert not load("nginx").identity_headers  # product profiles hold product behaviour only
    assert load("default").ca_names == "exact"
    assert load("default").unowned_identity_headers == "warn" and load("strict").unowned_identity_headers == "fail"
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "default"\nunowned_identity_headers = "ignore"\n')
    with pytest.raises(UsageError, match="unowned_identity_headers"):
        load(str(bad))
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "default"\nca_names = "maybe"\n')
    with pytest.raises(UsageError, match="ca_names"):
        load(str(bad))
    bad.write_text('extends = "default"\n[identity_headers]\n"X-Foo" = "colour"\n')
    with pytest.raises(UsageError, match="identity_headers"):
        load(str(bad))
    ok = tmp_path / "ok.toml"
    ok.write_text('extends = "nginx"\nca_names = "exact-or-none"\n[identity_headers]\n"X-Client-DN" = "subject-dn"\n')
    assert load(str(ok)).ca_names == "exact-or-none" and load(str(ok)).identity_headers == {"X-Client-DN": "subject-dn"}


def _client_hello(name: bytes | None) -> bytes:
    ext = b""
    if name is not None:
        entry = b"\x00" + len(name).to_bytes(2, "big") + name
        body = len(entry).to_bytes(2, "big") + entry
        ext = b"\x00\x00" + len(body).to_bytes(2, "big") + body
    ext = b"\x00\x17\x00\x00" + ext  # another extension first
    hello = b"\x03\x03" + b"\x00" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" + len(ext).to_bytes(2, "big") + ext
    handshake = b"\x01" + len(hello).to_bytes(3, "big") + hello
    return b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake


def test_reference_reads_the_sni_the_client_actually_sent():
    assert parse_sni(_client_hello(b"Open.Mtlsgate.Test")) == "open.mtlsgate.test"
    assert parse_sni(_client_hello(None)) is None
    assert parse_sni(_client_hello(b"x")[:20]) is None  # truncated: no guess
    assert parse_sni(b"GET / HTTP/1.1\r\n") is None


def test_every_suite_line_names_a_known_check_and_the_registry_does_not_shadow_the_catalogue():
    import re
    from pathlib import Path

    from mtlsgate.checks import catalogue
    from mtlsgate.checks.registry import PROBE_CHECKS
    from mtlsgate.gate.runner import describe_check

    assert not set(PROBE_CHECKS) & {c.id for c in catalogue.CASES}
    suites = Path(__file__).resolve().parent.parent / "suites"
    named = {m for f in suites.glob("test_*.py") for m in re.findall(r'gate\.check\("([^"]+)"\)', f.read_text())}
    assert set(PROBE_CHECKS) <= named
    for check_id in named:
        describe_check(check_id)  # raises for an unknown id


def test_an_unknown_sni_refused_with_alert_112_is_a_rejection_not_an_unreachable_target():
    from mtlsgate.wire.probe import alert_name

    assert alert_name("TLSV1_UNRECOGNIZED_NAME") == "unrecognized_name"  # Traefik sniStrict, for example
    assert alert_name("TLSV13_ALERT_CERTIFICATE_REQUIRED") == "certificate_required"


def test_forging_client_parses_each_key_and_chain_once_and_keeps_a_bounded_number(lab):
    parsed = _Parsed(2)
    calls = []

    def counting(parse):
        return lambda text: calls.append(text) or parse(text)

    ident = lab.identity
    key = parsed.get("key", key_pem(ident.key), counting(_parse_key))
    assert key.hasPrivateKey() and parsed.get("key", key_pem(ident.key), counting(_parse_key)) is key
    chain = parsed.get("chain", pem(ident.cert, *ident.chain), counting(_parse_chain))
    assert chain.getNumCerts() == 1 + len(ident.chain)
    assert len(calls) == 2  # the second key lookup parsed nothing
    # the same bytes under another kind are another entry; the least recently used one goes
    parsed.get("chain", key_pem(ident.key), lambda text: "not a chain")
    assert parsed.get("chain", pem(ident.cert, *ident.chain), counting(_parse_chain)) is chain
    assert parsed.get("key", key_pem(ident.key), counting(_parse_key)) is not key and len(calls) == 3


@pytest.mark.parametrize("name", ["aes128gcm", "aes256gcm", "chacha20-poly1305"])
def test_forging_client_records_are_byte_for_byte_tlslites_own(name):
    load_tlslite()
    from tlslite.utils import python_aesgcm, python_chacha20_poly1305

    key = bytearray(range(16 if name == "aes128gcm" else 32))
    ours, theirs = ((_native_aesgcm(key), python_aesgcm.new(key)) if name.startswith("aes")
                    else (_native_chacha20(key), python_chacha20_poly1305.new(key)))
    assert (ours.name, ours.isAEAD, ours.isBlockCipher, ours.nonceLength, ours.tagLength) == \
        (theirs.name, theirs.isAEAD, theirs.isBlockCipher, theirs.nonceLength, theirs.tagLength)
    nonce, aad = bytearray(b"\x07" * 12), bytearray(b"\x17\x03\x03\x00\x30")
    for plaintext in (bytearray(), bytearray(b"GET / HTTP/1.1\r\n" * 50)):
        sealed = ours.seal(nonce, plaintext, aad)
        assert sealed == theirs.seal(nonce, plaintext, aad)
        assert ours.open(nonce, sealed, aad) == plaintext == theirs.open(nonce, sealed, aad)
        sealed[-1] ^= 1  # a forged tag: None, as tlslite's classes return, so the record layer sends bad_record_mac
        assert ours.open(nonce, sealed, aad) is None and theirs.open(nonce, sealed, aad) is None


def test_the_forging_connection_protects_gcm_and_chacha_records_natively_and_nothing_else():
    load_tlslite()
    from tlslite.constants import CipherSuite
    from tlslite.recordlayer import createAES

    a, b = socket.socketpair()
    with a, b:
        settings = _client_class()(a)._recordLayer._getCipherSettings
        assert settings(CipherSuite.TLS_AES_128_GCM_SHA256) == (16, 4, _native_aesgcm)
        assert settings(CipherSuite.TLS_AES_256_GCM_SHA384) == (32, 4, _native_aesgcm)
        assert settings(CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256) == (32, 12, _native_chacha20)
        assert settings(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA)[2] is createAES  # the rest: tlslite's own


def test_forging_client_computes_x25519_and_nist_key_exchanges_in_openssl_and_the_rest_as_tlslite():
    load_tlslite()
    from tlslite.constants import GroupName
    from tlslite.keyexchange import ECDHKeyExchange, FFDHKeyExchange

    forging = _client_class()
    for group in (GroupName.x25519, GroupName.secp256r1, GroupName.secp384r1):
        kex = forging._getKEX(group, (3, 4))
        assert isinstance(kex, ECDHKeyExchange) and type(kex) is not ECDHKeyExchange  # the OpenSSL subclass
    assert type(forging._getKEX(GroupName.ffdhe2048, (3, 4))) is FFDHKeyExchange  # tlslite's own
    assert _client_class() is forging  # made once per process


@pytest.mark.parametrize("kind", ["p256", "p384", "rsa2048"])
def test_forging_client_keys_verify_in_openssl_exactly_as_in_python(pool, kind):
    load_tlslite()
    import hashlib

    ours = _parse_key(key_pem(pool.get(kind, 97)).decode())
    theirs = type(ours).__new__(type(ours))
    theirs.__dict__ = {k: v for k, v in ours.__dict__.items() if k != "_verify"}  # the same key, tlslite's verify
    assert ("_verify" in ours.__dict__) == (kind != "rsa2048")  # RSA (gmpy2) stays tlslite's own
    if kind == "rsa2048":
        return
    for hash_name in ("sha256", "sha384", "sha512", "sha1"):  # cut to the curve's size, as tlslite does
        digest = bytearray(getattr(hashlib, hash_name)(b"transcript").digest()[:ours.private_key.curve.baselen])
        signature = ours.sign(digest, None, hash_name, None)
        assert ours.verify(signature, digest, None, hash_name, None) and theirs.verify(signature, digest, None, hash_name, None)
        wrong_digest = bytearray(digest)
        wrong_digest[0] ^= 1
        assert not ours.verify(signature, wrong_digest, None, hash_name, None)
        assert not theirs.verify(signature, wrong_digest, None, hash_name, None)
        assert not ours.verify(bytearray(b"\x30\x00"), digest, None, hash_name, None)  # not a signature at all
